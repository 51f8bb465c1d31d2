-- Shift hand-off of a list from one person (the giver) to another (the
-- receiver): the patients it covers, each marked ready by the giver and
-- acknowledged by the receiver. It is open until every patient is
-- acknowledged (closed_at set then) or the giver or an owner cancels it.
-- Twin: ../postgres/0010_shift_handoff.sql.

CREATE TABLE shift_handoffs (
    id           TEXT PRIMARY KEY,
    team_id      TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    list_id      TEXT NOT NULL REFERENCES patient_lists (id) ON DELETE CASCADE,
    giver_id     TEXT NOT NULL REFERENCES users (id),
    receiver_id  TEXT NOT NULL REFERENCES users (id),
    started_at   INTEGER NOT NULL,
    closed_at    INTEGER,
    cancelled    INTEGER NOT NULL DEFAULT 0,
    version      INTEGER NOT NULL
);
CREATE INDEX shift_handoffs_list ON shift_handoffs (list_id, closed_at);
CREATE INDEX shift_handoffs_team ON shift_handoffs (team_id, closed_at);
-- One open hand-off of a list per giver.
CREATE UNIQUE INDEX shift_handoffs_one_open ON shift_handoffs (list_id, giver_id) WHERE closed_at IS NULL;

CREATE TABLE shift_handoff_patients (
    handoff_id TEXT NOT NULL REFERENCES shift_handoffs (id) ON DELETE CASCADE,
    patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    ready_at   INTEGER,
    acked_at   INTEGER,
    PRIMARY KEY (handoff_id, patient_id)
);
