-- Patient lists in manual mode: lists, the team's patients and their field
-- values (each with its own version, so concurrent edits of different
-- fields both survive and a stale edit of the same field is caught),
-- columns, saved column sets, notes with their history, and the change
-- feed that live screens follow. Twin: ../sqlite/0002_patient_lists.sql.

ALTER TABLE teams ADD COLUMN default_list_id TEXT;

CREATE TABLE patient_lists (
    id         TEXT PRIMARY KEY,
    team_id    TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    name_key   TEXT NOT NULL,                 -- lower-cased, unique per team
    position   BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT,
    UNIQUE (team_id, name_key)
);
CREATE INDEX patient_lists_team ON patient_lists (team_id, position);

-- A team's own columns; lists show them through list_columns.
CREATE TABLE team_columns (
    id         TEXT PRIMARY KEY,
    team_id    TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    label      TEXT NOT NULL,
    kind       TEXT NOT NULL,
    unit       TEXT,
    options    TEXT NOT NULL,                 -- JSON array of choice options
    created_at BIGINT NOT NULL
);
CREATE INDEX team_columns_team ON team_columns (team_id);

CREATE TABLE list_columns (
    list_id    TEXT NOT NULL REFERENCES patient_lists (id) ON DELETE CASCADE,
    column_key TEXT NOT NULL,                 -- a built-in key or a team column id
    position   BIGINT NOT NULL,
    hidden     BIGINT NOT NULL DEFAULT 0 CHECK (hidden IN (0, 1)),
    width      BIGINT,
    PRIMARY KEY (list_id, column_key)
);

CREATE TABLE column_schemas (
    id         TEXT PRIMARY KEY,
    team_id    TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    name_key   TEXT NOT NULL,
    columns    TEXT NOT NULL,                 -- JSON array of {key, hidden, width}
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (team_id, name_key)
);

CREATE TABLE patients (
    id         TEXT PRIMARY KEY,
    team_id    TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    created_by TEXT
);
CREATE INDEX patients_team ON patients (team_id);

-- One row per patient and field; a cleared value keeps its row (value NULL)
-- so that its version still counts.
CREATE TABLE patient_values (
    patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    field      TEXT NOT NULL,                 -- a patient field key or a team column id
    value      TEXT,
    version    BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT,
    PRIMARY KEY (patient_id, field)
);
CREATE INDEX patient_values_field ON patient_values (field, value);

CREATE TABLE list_entries (
    list_id    TEXT NOT NULL REFERENCES patient_lists (id) ON DELETE CASCADE,
    patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    position   BIGINT NOT NULL,
    added_at   BIGINT NOT NULL,
    added_by   TEXT,
    PRIMARY KEY (list_id, patient_id)
);
CREATE INDEX list_entries_patient ON list_entries (patient_id);

CREATE TABLE notes (
    id         TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    author_id  TEXT NOT NULL REFERENCES users (id),
    body       TEXT NOT NULL,
    version    BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE INDEX notes_patient ON notes (patient_id, created_at);

-- The text a note had before each edit or deletion.
CREATE TABLE note_revisions (
    note_id   TEXT NOT NULL REFERENCES notes (id) ON DELETE CASCADE,
    version   BIGINT NOT NULL,
    body      TEXT NOT NULL,
    edited_at BIGINT NOT NULL,
    PRIMARY KEY (note_id, version)
);

-- The change feed: one row per change per list it concerns, numbered in
-- commit order under the writer lock. Old rows are pruned.
CREATE TABLE list_events (
    seq        BIGINT PRIMARY KEY,
    team_id    TEXT NOT NULL,
    list_id    TEXT NOT NULL,
    kind       TEXT NOT NULL,
    payload    TEXT NOT NULL,
    at         BIGINT NOT NULL
);
CREATE INDEX list_events_list ON list_events (list_id, seq);
