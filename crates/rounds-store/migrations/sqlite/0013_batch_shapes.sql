-- How a team's EHR connection sends several FHIR queries at once (one
-- batch Bundle, a few Bundles at once, or concurrent GETs): the shape
-- measured on that server, remembered so that another instance or a
-- restart uses it without measuring again, and the admin's fixed shape
-- (batch_shape on the connection; NULL: measure). The measured row names
-- the server it was measured on (base URL and a fingerprint of its
-- CapabilityStatement): on another server it is measured again.
-- Twin: ../postgres/0013_batch_shapes.sql.

ALTER TABLE ehr_connections ADD COLUMN batch_shape TEXT;

CREATE TABLE ehr_batch_shapes (
    team_id     TEXT PRIMARY KEY REFERENCES teams (id) ON DELETE CASCADE,
    base_url    TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    shape       TEXT NOT NULL,     -- bundle | bundles:N | chunks:SIZExN | gets:N
    trials      TEXT NOT NULL,     -- JSON: each candidate's time on the sample
    measured_at INTEGER NOT NULL
);
