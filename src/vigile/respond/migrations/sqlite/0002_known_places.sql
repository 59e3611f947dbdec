-- A decision may spare the account's established places (its office network):
-- "block this account everywhere except where it has worked for days".
ALTER TABLE decisions ADD COLUMN except_places INTEGER NOT NULL DEFAULT 0;
