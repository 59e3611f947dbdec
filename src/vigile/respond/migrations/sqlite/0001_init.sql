-- vigile decision state, version 1 (SQLite).
-- Times are seconds since the Unix epoch (REAL); `seq` orders every change of a
-- decision, so that enforcers can poll "what changed since N".
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO counters (name, value) VALUES ('decision_seq', 0);

CREATE TABLE decisions (
    id            TEXT PRIMARY KEY,
    seq           INTEGER NOT NULL UNIQUE,
    decision      TEXT NOT NULL,
    scope         TEXT NOT NULL,
    value         TEXT NOT NULL,
    created       REAL NOT NULL,
    until         REAL,
    reason        TEXT NOT NULL,
    alert_id      TEXT,
    simulated     INTEGER NOT NULL DEFAULT 0,
    origin        TEXT NOT NULL,
    tenant        TEXT,
    actor         TEXT,
    rate_count    INTEGER,
    rate_per      REAL,
    revoked       REAL,
    revoked_by    TEXT,
    revoke_reason TEXT
);
CREATE INDEX decisions_scope_value ON decisions (scope, value);
CREATE INDEX decisions_origin_account ON decisions (origin, tenant, actor, created);
CREATE INDEX decisions_until ON decisions (until);

CREATE TABLE alerts (
    alert_id  TEXT PRIMARY KEY,
    ts        TEXT NOT NULL,
    t         REAL NOT NULL,
    tenant    TEXT NOT NULL,
    actor     TEXT NOT NULL,
    severity  TEXT NOT NULL,
    detector  TEXT NOT NULL,
    incident  TEXT,
    received  REAL NOT NULL,
    outcome   TEXT NOT NULL,
    body      TEXT NOT NULL
);
CREATE INDEX alerts_t ON alerts (t);
CREATE INDEX alerts_incident ON alerts (incident);
CREATE INDEX alerts_account ON alerts (tenant, actor);

CREATE TABLE allowlist (
    id         TEXT PRIMARY KEY,
    scope      TEXT NOT NULL,
    value      TEXT NOT NULL,
    until      REAL NOT NULL,
    reason     TEXT NOT NULL,
    created    REAL NOT NULL,
    created_by TEXT NOT NULL,
    revoked    REAL
);

CREATE TABLE tokens (
    id        TEXT PRIMARY KEY,
    name      TEXT NOT NULL,
    scopes    TEXT NOT NULL,
    digest    TEXT NOT NULL UNIQUE,
    pepper_id TEXT NOT NULL,
    created   REAL NOT NULL,
    expires   REAL,
    revoked   REAL,
    last_used REAL
);

CREATE TABLE audit (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    t      REAL NOT NULL,
    who    TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX audit_t ON audit (t);
