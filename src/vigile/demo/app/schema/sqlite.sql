-- The reference practice application's database (SQLite).
-- Every table that holds patient data carries its practice (`tenant`): every
-- query filters on it, which is how practices are kept apart.
CREATE TABLE IF NOT EXISTS practices (
    tenant TEXT PRIMARY KEY,
    name   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    actor         TEXT PRIMARY KEY,
    tenant        TEXT NOT NULL REFERENCES practices (tenant),
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created       TEXT,
    disabled      INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sessions (
    id         TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    actor      TEXT NOT NULL REFERENCES users (actor),
    tenant     TEXT NOT NULL,
    created    REAL NOT NULL,
    expires    REAL NOT NULL,
    src_ip     TEXT,
    revoked    REAL
);
CREATE TABLE IF NOT EXISTS counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS patients (
    patient_id TEXT PRIMARY KEY,
    tenant     TEXT NOT NULL,
    last_name  TEXT NOT NULL,
    birth_name TEXT,
    first_name TEXT,
    sex        TEXT,
    birth_date TEXT,
    phone      TEXT,
    email      TEXT,
    address    TEXT,
    postcode   TEXT,
    city       TEXT,
    vip        INTEGER NOT NULL DEFAULT 0,
    deleted    INTEGER NOT NULL DEFAULT 0,
    last_name_key TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS patients_tenant ON patients (tenant, patient_id);
CREATE INDEX IF NOT EXISTS patients_name ON patients (tenant, last_name_key);
CREATE TABLE IF NOT EXISTS annotations (
    annotation_id TEXT PRIMARY KEY,
    patient_id    TEXT NOT NULL,
    tenant        TEXT NOT NULL,
    author        TEXT NOT NULL,
    created       TEXT NOT NULL,
    ciphertext    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS annotations_patient ON annotations (tenant, patient_id);
CREATE TABLE IF NOT EXISTS appointments (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant     TEXT NOT NULL,
    actor      TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    start      TEXT NOT NULL,
    day        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS appointments_day ON appointments (tenant, day);
CREATE TABLE IF NOT EXISTS documents (
    document_id TEXT PRIMARY KEY,
    patient_id  TEXT NOT NULL,
    tenant      TEXT NOT NULL,
    title       TEXT NOT NULL,
    created     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_patient ON documents (tenant, patient_id);
CREATE TABLE IF NOT EXISTS prescriptions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    patient_id TEXT NOT NULL,
    tenant     TEXT NOT NULL,
    author     TEXT NOT NULL,
    created    TEXT NOT NULL,
    lines      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS prescriptions_patient ON prescriptions (tenant, patient_id);
