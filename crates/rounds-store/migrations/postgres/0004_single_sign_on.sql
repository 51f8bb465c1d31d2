-- Single sign-on: OpenID Connect and SMART App Launch identity providers,
-- the identities people sign in with, the directory groups that give site
-- administration and team membership, and sign-ins under way.
-- Twin: ../sqlite/0004_single_sign_on.sql (same tables, columns, indexes).

-- An identity provider. `issuer` is the OpenID issuer (kind oidc) or the
-- FHIR server's base URL whose .well-known/smart-configuration names the
-- authorization server (kind smart). The client secret is sealed with the
-- site's secret key (AES-256-GCM, context `sso-provider:<id>`).
CREATE TABLE sso_providers (
    id                 TEXT PRIMARY KEY,              -- short name, in addresses
    kind               TEXT NOT NULL CHECK (kind IN ('oidc', 'smart')),
    label              TEXT NOT NULL,                 -- the sign-in button
    issuer             TEXT NOT NULL,
    client_id          TEXT NOT NULL,
    secret_sealed      TEXT,
    scopes             TEXT NOT NULL,                 -- space-separated
    username_claim     TEXT NOT NULL,
    display_name_claim TEXT NOT NULL,
    groups_claim       TEXT,
    create_accounts    BIGINT NOT NULL CHECK (create_accounts IN (0, 1)),
    from_file          BIGINT NOT NULL CHECK (from_file IN (0, 1)),
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);

-- A directory group that makes its members site administrators (team_id
-- NULL, role 'admin') or members of a team with a role.
CREATE TABLE sso_group_mappings (
    id          TEXT PRIMARY KEY,
    provider_id TEXT NOT NULL REFERENCES sso_providers (id) ON DELETE CASCADE,
    group_name  TEXT NOT NULL,
    team_id     TEXT REFERENCES teams (id) ON DELETE CASCADE,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'owner', 'member')),
    created_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX sso_group_mappings_target ON sso_group_mappings (provider_id, group_name, team_id);

-- Who signs in: the provider's subject with its issuer, tied to an account.
-- The identity is (issuer, subject); `provider_id` is the provider it was
-- last used through. Removing a provider keeps the links, so that the same
-- issuer configured again finds its people again.
CREATE TABLE sso_identities (
    issuer          TEXT NOT NULL,
    subject         TEXT NOT NULL,
    provider_id     TEXT REFERENCES sso_providers (id) ON DELETE SET NULL,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    fhir_user       TEXT,                             -- SMART: the Practitioner reference
    admin_by_groups BIGINT NOT NULL DEFAULT 0 CHECK (admin_by_groups IN (0, 1)),
    linked_at       BIGINT NOT NULL,
    last_sign_in_at BIGINT,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX sso_identities_user ON sso_identities (user_id);

-- Team memberships the directory gave (and may take away again); other
-- memberships are made by hand and left alone.
CREATE TABLE sso_memberships (
    team_id     TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider_id TEXT NOT NULL REFERENCES sso_providers (id) ON DELETE CASCADE,
    added_at    BIGINT NOT NULL,
    PRIMARY KEY (team_id, user_id)
);

-- A sign-in sent to a provider and not back yet. Keyed by the SHA-256 of
-- `state`; `browser_hash` is the SHA-256 of the cookie the sign-in was
-- started with. Each row is used once.
CREATE TABLE sso_pending (
    state_hash    TEXT PRIMARY KEY,
    browser_hash  TEXT NOT NULL,
    provider_id   TEXT NOT NULL REFERENCES sso_providers (id) ON DELETE CASCADE,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    next_path     TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);

-- Which provider a session came from (for RP-initiated sign-out).
CREATE TABLE sso_sessions (
    token_hash  TEXT PRIMARY KEY REFERENCES sessions (token_hash) ON DELETE CASCADE,
    provider_id TEXT NOT NULL REFERENCES sso_providers (id) ON DELETE CASCADE
);
