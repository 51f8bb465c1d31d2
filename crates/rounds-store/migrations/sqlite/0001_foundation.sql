-- Rounds foundation: accounts, sessions, care teams, sign-in throttling and
-- the audit log. Times are Unix milliseconds (INTEGER); ids are UUID text.
-- The PostgreSQL twin of this file is ../postgres/0001_foundation.sql: keep
-- both in step (same tables, columns, constraints and index names).

CREATE TABLE users (
    id                   TEXT PRIMARY KEY,
    username             TEXT NOT NULL UNIQUE,          -- lower case
    display_name         TEXT NOT NULL,
    password_hash        TEXT NOT NULL,                 -- argon2id PHC string
    site_role            TEXT NOT NULL CHECK (site_role IN ('admin', 'user')),
    must_change_password INTEGER NOT NULL DEFAULT 0 CHECK (must_change_password IN (0, 1)),
    disabled_at          INTEGER,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
);

-- Server-side sessions. The cookie holds a random token; only its SHA-256
-- is kept here, so a copy of the database does not hand out sessions.
CREATE TABLE sessions (
    token_hash   TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,                      -- absolute expiry
    client_addr  TEXT,
    user_agent   TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE teams (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    name_key   TEXT NOT NULL UNIQUE,                    -- lower-cased name
    created_by TEXT REFERENCES users (id),
    created_at INTEGER NOT NULL
);

CREATE TABLE team_members (
    team_id  TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role     TEXT NOT NULL CHECK (role IN ('owner', 'member')),
    added_at INTEGER NOT NULL,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members (user_id);

-- Failed sign-ins per key ('user:<name>' or 'addr:<ip>') within a window.
CREATE TABLE signin_throttle (
    throttle_key  TEXT PRIMARY KEY,
    failures      INTEGER NOT NULL,
    window_start  INTEGER NOT NULL,
    locked_until  INTEGER NOT NULL
);

-- Facts about the installation itself, such as "the first administrator
-- was created", each written once.
CREATE TABLE site_state (
    state_key   TEXT PRIMARY KEY,
    state_value TEXT NOT NULL,
    set_at      INTEGER NOT NULL
);
-- The row every write transaction touches first (see rounds-store's Db::write).
INSERT INTO site_state (state_key, state_value, set_at) VALUES ('writer', '', 0);

-- The audit log: append-only, each record chained to the one before by
-- hash (see rounds-core's audit module for what is hashed).
CREATE TABLE audit_log (
    seq            INTEGER PRIMARY KEY,
    at             INTEGER NOT NULL,
    operation      TEXT NOT NULL,
    outcome        TEXT NOT NULL,
    reason         TEXT,
    actor_id       TEXT,
    actor_username TEXT,
    team_id        TEXT,
    list_id        TEXT,
    patient_ref    TEXT,
    detail         TEXT NOT NULL,
    client_addr    TEXT,
    user_agent     TEXT,
    prev_hash      TEXT NOT NULL,
    hash           TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor ON audit_log (actor_id, at);
CREATE INDEX audit_log_team ON audit_log (team_id, at);
CREATE INDEX audit_log_patient ON audit_log (patient_ref, at);
CREATE INDEX audit_log_operation ON audit_log (operation, at);

-- Refuse edits and deletions through SQL. (Someone with the database file
-- can drop these; the hash chain still shows what they did.)
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
