-- Rounds foundation: accounts, sessions, care teams, sign-in throttling and
-- the audit log. Times are Unix milliseconds (BIGINT); ids are UUID text.
-- The SQLite twin of this file is ../sqlite/0001_foundation.sql: keep both
-- in step (same tables, columns, constraints and index names).

CREATE TABLE users (
    id                   TEXT PRIMARY KEY,
    username             TEXT NOT NULL UNIQUE,
    display_name         TEXT NOT NULL,
    password_hash        TEXT NOT NULL,
    site_role            TEXT NOT NULL CHECK (site_role IN ('admin', 'user')),
    must_change_password BIGINT NOT NULL DEFAULT 0 CHECK (must_change_password IN (0, 1)),
    disabled_at          BIGINT,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);

CREATE TABLE sessions (
    token_hash   TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    client_addr  TEXT,
    user_agent   TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE teams (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    name_key   TEXT NOT NULL UNIQUE,
    created_by TEXT REFERENCES users (id),
    created_at BIGINT NOT NULL
);

CREATE TABLE team_members (
    team_id  TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role     TEXT NOT NULL CHECK (role IN ('owner', 'member')),
    added_at BIGINT NOT NULL,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members (user_id);

CREATE TABLE signin_throttle (
    throttle_key  TEXT PRIMARY KEY,
    failures      BIGINT NOT NULL,
    window_start  BIGINT NOT NULL,
    locked_until  BIGINT NOT NULL
);

CREATE TABLE site_state (
    state_key   TEXT PRIMARY KEY,
    state_value TEXT NOT NULL,
    set_at      BIGINT NOT NULL
);
-- The row every write transaction touches first (see rounds-store's Db::write).
INSERT INTO site_state (state_key, state_value, set_at) VALUES ('writer', '', 0);

CREATE TABLE audit_log (
    seq            BIGINT PRIMARY KEY,
    at             BIGINT NOT NULL,
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

CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
