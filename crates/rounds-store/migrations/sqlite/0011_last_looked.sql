-- "What changed since I last looked": when each person last marked a list
-- (scope 'list') or a patient (scope 'patient') as seen. What changed since
-- is read from what is stored already (list entries, field values, notes,
-- urgent notes, tasks) and from the EHR values' own times.
-- Twin: ../postgres/0011_last_looked.sql.

CREATE TABLE last_looked (
    user_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope    TEXT NOT NULL,
    scope_id TEXT NOT NULL,
    seen_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, scope, scope_id)
);
