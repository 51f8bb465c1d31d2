-- Issue 18: a list's place in the change feed, and indexes only where a
-- query uses them. Twin: ../postgres/0012_list_feed_seq.sql.
--
-- patient_lists.feed_seq is the number of the newest change-feed event of
-- the list (rounds-store events::append sets it in the transaction of the
-- change). It is never pruned with the feed, so getList compares it, read
-- first by primary key, to the one its cached rows were built at: any
-- change to the list on any instance makes the cached rows miss.
ALTER TABLE patient_lists ADD COLUMN feed_seq INTEGER NOT NULL DEFAULT 0;

-- patients_team (team_id) repeats the leading column of patients_ehr
-- (team_id, ehr_server, ehr_id), which serves every query by team:
-- patients::TEAM_PATIENT_IDS, DUPLICATE_MRNS, VALUES_OF_TEAM,
-- MEMBERSHIPS_OF_TEAM, ehr::refs_of_team and the cascade from teams.
DROP INDEX patients_team;

-- The audit search (rounds-store audit::search) filters by actor_username,
-- team_id, patient_ref, operation and at, newest first by seq. No query
-- reads by actor_id: audit_log_actor goes, and the person filter gets an
-- index on the column it reads. The filters on one column need no `at` in
-- the index: an entry carries seq (the rowid), so the matches come in seq
-- order, newest first without a sort; a time range is audit_log_at's.
DROP INDEX audit_log_actor;
CREATE INDEX audit_log_username ON audit_log (actor_username);
DROP INDEX audit_log_team;
CREATE INDEX audit_log_team ON audit_log (team_id);
DROP INDEX audit_log_patient;
CREATE INDEX audit_log_patient ON audit_log (patient_ref);
DROP INDEX audit_log_operation;
CREATE INDEX audit_log_operation ON audit_log (operation);
