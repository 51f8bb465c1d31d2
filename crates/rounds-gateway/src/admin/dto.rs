//! What the API takes and answers (the OpenAPI document's schemas).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::now_millis;
use crate::registry::{Client, SecretInfo};
use crate::tenants::{Tenant, UpstreamAuth};

/// A client as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientDto {
    pub(super) client_id: String,
    pub(super) name: String,
    pub(super) tenants: Vec<String>,
    pub(super) disabled: bool,
    pub(super) created_at: i64,
    pub(super) has_jwks: bool,
    pub(super) secrets: Vec<SecretDto>,
}

/// A secret (never the secret itself).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretDto {
    pub(super) secret_id: String,
    pub(super) created_at: i64,
    pub(super) expires_at: Option<i64>,
    pub(super) revoked_at: Option<i64>,
    pub(super) live: bool,
}

impl From<&SecretInfo> for SecretDto {
    fn from(s: &SecretInfo) -> Self {
        Self {
            secret_id: s.id.clone(),
            created_at: s.created_at,
            expires_at: s.expires_at,
            revoked_at: s.revoked_at,
            live: s.is_live(now_millis()),
        }
    }
}

impl From<Client> for ClientDto {
    fn from(c: Client) -> Self {
        Self {
            secrets: c.secrets.iter().map(SecretDto::from).collect(),
            client_id: c.id,
            name: c.name,
            tenants: c.tenants,
            disabled: c.disabled,
            created_at: c.created_at,
            has_jwks: c.has_jwks,
        }
    }
}

/// A new secret: shown in this answer only.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewSecretDto {
    pub(super) client_id: String,
    pub(super) secret_id: String,
    pub(super) client_secret: String,
    pub(super) expires_at: Option<i64>,
}

/// Registering a client.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateClientRequest {
    pub(super) name: String,
    #[serde(default)]
    pub(super) tenants: Vec<String>,
    /// Seconds until the first secret expires; never when absent.
    #[serde(default)]
    pub(super) secret_expires_in: Option<u64>,
}

/// A new client and its first secret.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedClientDto {
    pub(super) client: ClientDto,
    pub(super) secret: NewSecretDto,
}

/// Changing a client.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateClientRequest {
    #[serde(default)]
    pub(super) disabled: Option<bool>,
    #[serde(default)]
    pub(super) tenants: Option<Vec<String>>,
    /// The client's JWKS for private_key_jwt; `null` removes it.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub(super) jwks: Option<serde_json::Value>,
}

/// Adding a secret (rotation).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddSecretRequest {
    #[serde(default)]
    pub(super) expires_in: Option<u64>,
}

/// A tenant as the API shows it (never the upstream secret).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantDto {
    pub(super) tenant_id: String,
    pub(super) base_url: String,
    pub(super) fhir_version: String,
    #[schema(value_type = Object)]
    pub(super) auth: UpstreamAuth,
    pub(super) has_secret: bool,
    pub(super) allow_writes: bool,
    pub(super) origin: String,
    pub(super) updated_at: i64,
}

impl From<Tenant> for TenantDto {
    fn from(t: Tenant) -> Self {
        Self {
            tenant_id: t.id,
            base_url: t.base_url,
            fhir_version: t.fhir_version,
            auth: t.auth,
            has_secret: t.has_secret,
            allow_writes: t.allow_writes,
            origin: t.origin,
            updated_at: t.updated_at,
        }
    }
}

/// Adding or replacing a tenant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PutTenantRequest {
    pub(super) base_url: String,
    #[serde(default = "default_version")]
    pub(super) fhir_version: String,
    /// `{"kind": "none"}`, `{"kind": "basic", "username"}`,
    /// `{"kind": "client_credentials", "client_id", "token_url"?, "scope"?, "secret_in_body"?}`,
    /// `{"kind": "backend_services", "client_id", "algorithm", "key_id"?, "token_url"?, "scope"?}`.
    #[serde(default = "no_auth")]
    #[schema(value_type = Object)]
    pub(super) auth: UpstreamAuth,
    /// The password, client secret or private key (PEM); write-only.
    #[serde(default)]
    pub(super) secret: Option<String>,
    #[serde(default)]
    pub(super) allow_writes: bool,
}

fn default_version() -> String {
    "4.0.1".into()
}

fn no_auth() -> UpstreamAuth {
    UpstreamAuth::None
}

/// Audit filters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct AuditQuery {
    pub(super) client: Option<String>,
    pub(super) tenant: Option<String>,
    pub(super) since: Option<i64>,
    pub(super) until: Option<i64>,
    pub(super) limit: Option<i64>,
    /// `json` (default), `jsonl`, `csv` or `fhir`.
    pub(super) format: Option<String>,
}
