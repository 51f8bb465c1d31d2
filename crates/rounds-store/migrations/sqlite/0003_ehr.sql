-- EHR mode: a team's connection to its FHIR server, and the EHR reference
-- of a patient. Nothing read from the EHR is stored: only the server and
-- the Patient id, beside what the team typed. The connection's secret
-- (client secret or private key) is sealed with the site's secret key
-- (AES-256-GCM) before it reaches this table. Twin: ../postgres/0003_ehr.sql.

CREATE TABLE ehr_connections (
    team_id       TEXT PRIMARY KEY REFERENCES teams (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    base_url      TEXT NOT NULL,
    auth_kind     TEXT NOT NULL,              -- none | clientCredentials | backendServices
    client_id     TEXT,
    auth_method   TEXT,                       -- basic | post (client credentials)
    scope         TEXT,
    token_url     TEXT,
    secret_sealed TEXT,                       -- sealed client secret or private key PEM
    key_id        TEXT,
    public_jwk    TEXT,                       -- JSON, backend services
    batch_mode    TEXT NOT NULL,              -- auto | always | never
    updated_at    INTEGER NOT NULL,
    updated_by    TEXT
);

ALTER TABLE patients ADD COLUMN ehr_server TEXT;
ALTER TABLE patients ADD COLUMN ehr_id TEXT;
CREATE UNIQUE INDEX patients_ehr ON patients (team_id, ehr_server, ehr_id);
