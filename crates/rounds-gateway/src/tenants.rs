//! The tenant registry: tenant id → upstream FHIR base URL, its FHIR
//! version, how the gateway authenticates to it (none, HTTP Basic, client
//! credentials, SMART Backend Services) and whether writes pass.
//!
//! The upstream's secret (password, client secret or private key) is sealed
//! with the gateway's site key ([`rounds_secrets::SecretBox`]), bound to the
//! tenant id, and never leaves the gateway.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::db::{now_millis, Db};
use crate::error::{GatewayError, Result};
use crate::registry::check_tenant_id;

/// How the gateway authenticates to an upstream, without the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum UpstreamAuth {
    /// No authentication.
    None,
    /// HTTP Basic; the password is the sealed secret.
    Basic {
        /// The user name.
        username: String,
    },
    /// OAuth 2.0 client credentials; the client secret is the sealed secret.
    ClientCredentials {
        /// Our client id at the upstream's token endpoint.
        client_id: String,
        /// The token endpoint; else the one the upstream publishes.
        #[serde(default)]
        token_url: Option<String>,
        /// `scope` to ask for.
        #[serde(default)]
        scope: Option<String>,
        /// Send the secret in the body instead of HTTP Basic.
        #[serde(default)]
        secret_in_body: bool,
    },
    /// SMART Backend Services; the PKCS#8 PEM private key is the sealed secret.
    BackendServices {
        /// Our client id (the assertion's `iss` and `sub`).
        client_id: String,
        /// `RS384` or `ES384`.
        algorithm: String,
        /// The `kid` of our published key.
        #[serde(default)]
        key_id: Option<String>,
        /// The token endpoint; else the one the upstream publishes.
        #[serde(default)]
        token_url: Option<String>,
        /// `scope` to ask for.
        #[serde(default)]
        scope: Option<String>,
    },
}

impl UpstreamAuth {
    /// The `auth_kind` column.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Basic { .. } => "basic",
            Self::ClientCredentials { .. } => "client_credentials",
            Self::BackendServices { .. } => "backend_services",
        }
    }

    /// Whether the kind needs a secret.
    pub fn needs_secret(&self) -> bool {
        !matches!(self, Self::None)
    }
}

/// A tenant as the registry shows it (no secret).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Tenant {
    /// The tenant id (e.g. a directory tenant GUID).
    pub id: String,
    /// The upstream's FHIR base URL, without a trailing slash.
    pub base_url: String,
    /// The upstream's `fhirVersion`, e.g. `4.0.1`.
    pub fhir_version: String,
    /// How the gateway authenticates to it.
    pub auth: UpstreamAuth,
    /// Whether the upstream holds a sealed secret.
    pub has_secret: bool,
    /// Whether writes (and transactions) pass; reads only otherwise.
    pub allow_writes: bool,
    /// `config` (from the configuration file) or `admin`.
    pub origin: String,
    /// Unix milliseconds of the last change.
    pub updated_at: i64,
}

/// What an administrator gives to add or change a tenant.
#[derive(Debug, Clone)]
pub struct TenantInput {
    /// The tenant id.
    pub id: String,
    /// The upstream's FHIR base URL.
    pub base_url: String,
    /// Its FHIR version.
    pub fhir_version: String,
    /// How to authenticate to it.
    pub auth: UpstreamAuth,
    /// The secret for `auth`, if it needs one.
    pub secret: Option<String>,
    /// Whether writes pass.
    pub allow_writes: bool,
}

fn seal_context(tenant: &str) -> String {
    format!("gateway-tenant:{tenant}")
}

/// Checks and normalises a base URL: http(s), a host, no query or
/// fragment, no trailing slash.
pub fn normalise_base_url(value: &str) -> Result<String> {
    let url = rounds_fhir::parse_base_url(value.trim())
        .map_err(|e| GatewayError::invalid("base_url", e.to_string()))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(GatewayError::invalid(
            "base_url",
            "a FHIR base URL has no query or fragment",
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

fn check_version(v: &str) -> Result<()> {
    rounds_fhir::FhirVersion::from_fhir_version(v)
        .map(|_| ())
        .map_err(|e| GatewayError::invalid("fhir_version", e.to_string()))
}

/// The tenant registry over the database.
#[derive(Debug, Clone)]
pub struct Tenants {
    db: Db,
}

impl Tenants {
    /// The tenant registry in `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Adds or replaces a tenant; its secret is sealed with `sealer`.
    pub async fn put(
        &self,
        input: &TenantInput,
        origin: &str,
        sealer: &rounds_secrets::SecretBox,
    ) -> Result<Tenant> {
        check_tenant_id(&input.id)?;
        let base_url = normalise_base_url(&input.base_url)?;
        check_version(&input.fhir_version)?;
        if let UpstreamAuth::BackendServices { algorithm, .. } = &input.auth {
            if !matches!(algorithm.as_str(), "RS384" | "ES384") {
                return Err(GatewayError::invalid(
                    "auth",
                    "algorithm must be RS384 or ES384",
                ));
            }
        }
        let sealed = match (&input.secret, input.auth.needs_secret()) {
            (Some(s), true) => Some(sealer.seal(s.as_bytes(), &seal_context(&input.id))?),
            (None, true) => {
                return Err(GatewayError::invalid(
                    "secret",
                    format!(
                        "upstream authentication {} needs a secret",
                        input.auth.kind()
                    ),
                ))
            }
            (_, false) => None,
        };
        let settings =
            serde_json::to_string(&input.auth).map_err(|e| GatewayError::Corrupt(e.to_string()))?;
        let now = now_millis();
        let mut tx = self.db.write().await?;
        sqlx::query("DELETE FROM tenants WHERE id = $1")
            .bind(&input.id)
            .execute(tx.conn())
            .await?;
        sqlx::query(
            "INSERT INTO tenants (id, base_url, fhir_version, auth_kind, auth_settings, auth_secret, \
             allow_writes, origin, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
        )
        .bind(&input.id)
        .bind(&base_url)
        .bind(&input.fhir_version)
        .bind(input.auth.kind())
        .bind(&settings)
        .bind(&sealed)
        .bind(i64::from(input.allow_writes))
        .bind(origin)
        .bind(now)
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        self.get(&input.id)
            .await?
            .ok_or_else(|| GatewayError::NotFound(format!("tenant {}", input.id)))
    }

    /// One tenant (no secret).
    pub async fn get(&self, id: &str) -> Result<Option<Tenant>> {
        Ok(self.get_sealed(id).await?.map(|(t, _)| t))
    }

    /// One tenant and its secret, opened with `sealer`.
    pub async fn get_with_secret(
        &self,
        id: &str,
        sealer: &rounds_secrets::SecretBox,
    ) -> Result<Option<(Tenant, Option<String>)>> {
        let Some((tenant, sealed)) = self.get_sealed(id).await? else {
            return Ok(None);
        };
        let secret = match sealed {
            Some(s) => {
                let bytes = sealer.open(&s, &seal_context(id))?;
                Some(String::from_utf8(bytes).map_err(|_| {
                    GatewayError::Corrupt(format!("the upstream secret of tenant {id}"))
                })?)
            }
            None => None,
        };
        Ok(Some((tenant, secret)))
    }

    async fn get_sealed(&self, id: &str) -> Result<Option<(Tenant, Option<String>)>> {
        let mut conn = self.db.read().await?;
        let row = sqlx::query(
            "SELECT id, base_url, fhir_version, auth_settings, auth_secret, allow_writes, origin, updated_at \
             FROM tenants WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        row.map(|r| tenant_from_row(&r)).transpose()
    }

    /// Every tenant, by id.
    pub async fn list(&self) -> Result<Vec<Tenant>> {
        let mut conn = self.db.read().await?;
        let rows = sqlx::query(
            "SELECT id, base_url, fhir_version, auth_settings, auth_secret, allow_writes, origin, updated_at \
             FROM tenants ORDER BY id",
        )
        .fetch_all(&mut *conn)
        .await?;
        rows.iter()
            .map(|r| tenant_from_row(r).map(|(t, _)| t))
            .collect()
    }

    /// Removes a tenant.
    pub async fn delete(&self, id: &str) -> Result<()> {
        let mut tx = self.db.write().await?;
        let done = sqlx::query("DELETE FROM tenants WHERE id = $1")
            .bind(id)
            .execute(tx.conn())
            .await?;
        if done.rows_affected() == 0 {
            return Err(GatewayError::NotFound(format!("tenant {id}")));
        }
        tx.commit().await
    }
}

fn tenant_from_row(r: &sqlx::any::AnyRow) -> Result<(Tenant, Option<String>)> {
    let id: String = r.try_get("id")?;
    let settings: String = r.try_get("auth_settings")?;
    let auth: UpstreamAuth = serde_json::from_str(&settings)
        .map_err(|_| GatewayError::Corrupt(format!("the upstream settings of tenant {id}")))?;
    let sealed: Option<String> = r.try_get("auth_secret")?;
    let allow: i64 = r.try_get("allow_writes")?;
    Ok((
        Tenant {
            id,
            base_url: r.try_get("base_url")?,
            fhir_version: r.try_get("fhir_version")?,
            auth,
            has_secret: sealed.is_some(),
            allow_writes: allow == 1,
            origin: r.try_get("origin")?,
            updated_at: r.try_get("updated_at")?,
        },
        sealed,
    ))
}
