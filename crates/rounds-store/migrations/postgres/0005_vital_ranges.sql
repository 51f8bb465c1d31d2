-- Abnormal values: the reference ranges a team sets for its vital signs,
-- one row per sign it changed (the others keep the adult defaults of
-- rounds-core's vitals catalog). Bounds are shortest decimals as text,
-- NULL for an open end. Twin: ../sqlite/0004_vital_ranges.sql.

CREATE TABLE team_vital_ranges (
    team_id    TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    vital      TEXT NOT NULL,                 -- heartRate | respiratoryRate | temperature | spo2 | systolic | ...
    low        TEXT,
    high       TEXT,
    updated_at BIGINT NOT NULL,
    updated_by TEXT,
    PRIMARY KEY (team_id, vital)
);
