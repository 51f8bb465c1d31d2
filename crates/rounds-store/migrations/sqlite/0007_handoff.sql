-- Hand-offs and urgent communication: tasks per patient, urgent notes with
-- their addressees, re-notification schedule and acknowledgement, and each
-- team's rule for them. Twin: ../postgres/0004_handoff.sql.

CREATE TABLE patient_tasks (
    id         TEXT PRIMARY KEY,
    team_id    TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    body       TEXT NOT NULL,
    owner_id   TEXT REFERENCES users (id),
    due_at     INTEGER,
    done_at    INTEGER,
    done_by    TEXT REFERENCES users (id),
    version    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT,
    updated_at INTEGER NOT NULL,
    deleted_at INTEGER
);
CREATE INDEX patient_tasks_patient ON patient_tasks (patient_id);
CREATE INDEX patient_tasks_owner ON patient_tasks (team_id, owner_id);

-- A note marked urgent. next_notify_at is when it alerts again (NULL once
-- acknowledged): every instance's clock reads it, and the one whose
-- conditional update moves it on is the one that re-notifies.
CREATE TABLE urgent_notes (
    note_id        TEXT PRIMARY KEY REFERENCES notes (id) ON DELETE CASCADE,
    team_id        TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    audience       TEXT NOT NULL,             -- team | owners | members
    sent_at        INTEGER NOT NULL,
    repeats        INTEGER NOT NULL DEFAULT 0,
    next_notify_at INTEGER,
    escalated_at   INTEGER,
    acked_at       INTEGER,
    acked_by       TEXT REFERENCES users (id)
);
CREATE INDEX urgent_notes_due ON urgent_notes (next_notify_at);
CREATE INDEX urgent_notes_team ON urgent_notes (team_id, acked_at);

-- The named addressees of an urgent note (audience members).
CREATE TABLE urgent_recipients (
    note_id TEXT NOT NULL REFERENCES urgent_notes (note_id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id),
    PRIMARY KEY (note_id, user_id)
);

ALTER TABLE teams ADD COLUMN urgent_interval_secs INTEGER NOT NULL DEFAULT 300;
ALTER TABLE teams ADD COLUMN urgent_escalate_after INTEGER NOT NULL DEFAULT 3;

-- Read receipts: a note whose author asked for one, and who has seen it
-- (shown on their screen), once per person.
CREATE TABLE receipt_requests (
    note_id  TEXT PRIMARY KEY REFERENCES notes (id) ON DELETE CASCADE,
    asked_at INTEGER NOT NULL
);
CREATE TABLE note_receipts (
    note_id TEXT NOT NULL REFERENCES receipt_requests (note_id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id),
    seen_at INTEGER NOT NULL,
    PRIMARY KEY (note_id, user_id)
);

-- I-PASS hand-off per patient (the action list is the patient's tasks).
CREATE TABLE patient_ipass (
    patient_id  TEXT PRIMARY KEY REFERENCES patients (id) ON DELETE CASCADE,
    severity    TEXT,                         -- stable | watcher | unstable
    summary     TEXT NOT NULL,
    contingency TEXT NOT NULL,
    synthesis   TEXT NOT NULL,
    version     INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    updated_by  TEXT REFERENCES users (id)
);
