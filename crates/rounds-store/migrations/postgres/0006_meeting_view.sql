-- The meeting view of a list: the columns it shows (a JSON array of column
-- keys in order; NULL: the default set chosen from the list's columns) and
-- the patient the presenter has highlighted, which every open meeting view
-- of the list follows. Twin: ../sqlite/0004_meeting_view.sql.

CREATE TABLE list_meetings (
    list_id          TEXT PRIMARY KEY REFERENCES patient_lists (id) ON DELETE CASCADE,
    columns          TEXT,                    -- JSON array of column keys, NULL: the default
    focus_patient_id TEXT,
    updated_at       BIGINT NOT NULL,
    updated_by       TEXT
);
