-- vigile decision state, version 1 (PostgreSQL).
-- Times are seconds since the Unix epoch (double precision); `seq` orders every change of a
-- decision, so that enforcers can poll "what changed since N".
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('decision_seq', 0);

CREATE TABLE decisions (
    id            TEXT PRIMARY KEY,
    seq           BIGINT NOT NULL UNIQUE,
    decision      TEXT NOT NULL,
    scope         TEXT NOT NULL,
    value         TEXT NOT NULL,
    created       DOUBLE PRECISION NOT NULL,
    until         DOUBLE PRECISION,
    reason        TEXT NOT NULL,
    alert_id      TEXT,
    simulated     INTEGER NOT NULL DEFAULT 0,
    origin        TEXT NOT NULL,
    tenant        TEXT,
    actor         TEXT,
    rate_count    INTEGER,
    rate_per      DOUBLE PRECISION,
    revoked       DOUBLE PRECISION,
    revoked_by    TEXT,
    revoke_reason TEXT
);
CREATE INDEX decisions_scope_value ON decisions (scope, value);
CREATE INDEX decisions_origin_account ON decisions (origin, tenant, actor, created);
CREATE INDEX decisions_until ON decisions (until);

CREATE TABLE alerts (
    alert_id  TEXT PRIMARY KEY,
    ts        TEXT NOT NULL,
    t         DOUBLE PRECISION NOT NULL,
    tenant    TEXT NOT NULL,
    actor     TEXT NOT NULL,
    severity  TEXT NOT NULL,
    detector  TEXT NOT NULL,
    incident  TEXT,
    received  DOUBLE PRECISION NOT NULL,
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
    until      DOUBLE PRECISION NOT NULL,
    reason     TEXT NOT NULL,
    created    DOUBLE PRECISION NOT NULL,
    created_by TEXT NOT NULL,
    revoked    DOUBLE PRECISION
);

CREATE TABLE tokens (
    id        TEXT PRIMARY KEY,
    name      TEXT NOT NULL,
    scopes    TEXT NOT NULL,
    digest    TEXT NOT NULL UNIQUE,
    pepper_id TEXT NOT NULL,
    created   DOUBLE PRECISION NOT NULL,
    expires   DOUBLE PRECISION,
    revoked   DOUBLE PRECISION,
    last_used DOUBLE PRECISION
);

CREATE TABLE audit (
    id     BIGSERIAL PRIMARY KEY,
    t      DOUBLE PRECISION NOT NULL,
    who    TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX audit_t ON audit (t);
