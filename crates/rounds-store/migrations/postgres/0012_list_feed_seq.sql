-- Issue 18: a list's place in the change feed, and indexes only where a
-- query uses them. Twin: ../sqlite/0012_list_feed_seq.sql (which says why).
ALTER TABLE patient_lists ADD COLUMN feed_seq BIGINT NOT NULL DEFAULT 0;

-- patients_ehr (team_id, ehr_server, ehr_id) serves every query by team.
DROP INDEX patients_team;

-- The audit search filters by actor_username, team_id, patient_ref,
-- operation and at, newest first by seq (here seq is a column of its own,
-- so it ends each index); nothing reads by actor_id.
DROP INDEX audit_log_actor;
CREATE INDEX audit_log_username ON audit_log (actor_username, seq);
DROP INDEX audit_log_team;
CREATE INDEX audit_log_team ON audit_log (team_id, seq);
DROP INDEX audit_log_patient;
CREATE INDEX audit_log_patient ON audit_log (patient_ref, seq);
DROP INDEX audit_log_operation;
CREATE INDEX audit_log_operation ON audit_log (operation, seq);
