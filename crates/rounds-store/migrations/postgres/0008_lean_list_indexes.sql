-- Indexes only where a query uses them (issue 18). Twin:
-- ../sqlite/0008_lean_list_indexes.sql (which also rebuilds patient_values
-- without a rowid; PostgreSQL tables have no rowid b-tree to save).
--
-- The index on (field, value) over every field goes: the only queries by
-- value look for MRNs, which get a partial index of their own.
-- list_entries gets (list_id, position) for the end of a list (adding,
-- moving) and its hand order.

DROP INDEX patient_values_field;
CREATE INDEX patient_values_mrn ON patient_values (value) WHERE field = 'mrn';
CREATE INDEX list_entries_position ON list_entries (list_id, position);
