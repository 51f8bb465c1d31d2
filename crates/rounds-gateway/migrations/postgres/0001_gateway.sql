-- The gateway's registry: clients and their secrets, tenants and their
-- upstreams, token signing keys, and the audit log. Times are Unix
-- milliseconds (BIGINT). The SQLite twin is ../sqlite/0001_gateway.sql:
-- keep both in step (same tables, columns, constraints and index names).

CREATE TABLE gateway_state (
    state_key   TEXT PRIMARY KEY,
    state_value TEXT NOT NULL
);
-- The writer row (SQLite's lock; PostgreSQL uses an advisory lock).
INSERT INTO gateway_state (state_key, state_value) VALUES ('writer', '');

CREATE TABLE clients (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    -- JSON array of the tenant ids the client may ask for.
    tenants     TEXT NOT NULL,
    -- JWKS of the client's public keys (private_key_jwt), if registered.
    jwks        TEXT,
    disabled_at BIGINT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE client_secrets (
    id          TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    -- hex SHA-256 of the secret (a 256-bit random value).
    secret_hash TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT,
    revoked_at  BIGINT
);
CREATE INDEX client_secrets_client ON client_secrets (client_id);

CREATE TABLE tenants (
    id            TEXT PRIMARY KEY,
    base_url      TEXT NOT NULL,
    fhir_version  TEXT NOT NULL,
    auth_kind     TEXT NOT NULL CHECK (auth_kind IN ('none', 'basic', 'client_credentials', 'backend_services')),
    -- JSON of the upstream's authentication settings, without the secret.
    auth_settings TEXT NOT NULL,
    -- The upstream's secret (password, client secret, private key), sealed.
    auth_secret   TEXT,
    allow_writes  BIGINT NOT NULL DEFAULT 0 CHECK (allow_writes IN (0, 1)),
    -- 'config' for tenants from the configuration file, 'admin' otherwise.
    origin        TEXT NOT NULL CHECK (origin IN ('config', 'admin')),
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    alg         TEXT NOT NULL,
    -- PKCS#8 DER of the private key, base64, sealed.
    private_key TEXT NOT NULL,
    public_jwk  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT
);

CREATE TABLE gateway_audit (
    seq           BIGINT PRIMARY KEY,
    at            BIGINT NOT NULL,
    client_id     TEXT,
    tenant_id     TEXT,
    method        TEXT NOT NULL,
    resource_type TEXT,
    path          TEXT NOT NULL,
    status        BIGINT NOT NULL,
    duration_ms   BIGINT NOT NULL,
    outcome       TEXT NOT NULL,
    client_addr   TEXT,
    prev_hash     TEXT NOT NULL,
    hash          TEXT NOT NULL
);
CREATE INDEX gateway_audit_at ON gateway_audit (at);
CREATE INDEX gateway_audit_client ON gateway_audit (client_id, at);
CREATE INDEX gateway_audit_tenant ON gateway_audit (tenant_id, at);

-- Keys of the administration API (shown once; only the SHA-256 is kept).
CREATE TABLE admin_tokens (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
