-- Indexes only where a query uses them (issue 18). Twin:
-- ../postgres/0008_lean_list_indexes.sql.
--
-- patient_values becomes a WITHOUT ROWID table: its primary key
-- (patient_id, field) is the table itself instead of a second b-tree
-- holding every key again. The index on (field, value) over every field
-- goes: the only queries by value look for MRNs, which get a partial index
-- of their own. list_entries gets (list_id, position) for the end of a
-- list (adding, moving) and its hand order.

CREATE TABLE patient_values_lean (
    patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    field      TEXT NOT NULL,                 -- a patient field key or a team column id
    value      TEXT,
    version    INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    updated_by TEXT,
    PRIMARY KEY (patient_id, field)
) WITHOUT ROWID;
INSERT INTO patient_values_lean (patient_id, field, value, version, updated_at, updated_by)
    SELECT patient_id, field, value, version, updated_at, updated_by FROM patient_values;
DROP TABLE patient_values;
ALTER TABLE patient_values_lean RENAME TO patient_values;

CREATE INDEX patient_values_mrn ON patient_values (value) WHERE field = 'mrn';
CREATE INDEX list_entries_position ON list_entries (list_id, position);
