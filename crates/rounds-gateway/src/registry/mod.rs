//! The client registry: clients, their secrets (at most two live at once,
//! each with an optional expiry), and the tenants each may ask for.
//!
//! A client secret is 32 bytes from the system's random source, shown once
//! as `rgw_` + base64url. Only its SHA-256 is stored. A slow password hash
//! (argon2) protects low-entropy passwords against guessing after a database
//! leak; a 256-bit random secret cannot be guessed whatever the hash costs,
//! so a fast hash loses nothing and keeps the token endpoint cheap (tokens
//! per second are part of the benchmark).

mod admin_tokens;
mod secrets;

pub use admin_tokens::AdminToken;
pub use secrets::random_id;

use serde::Serialize;
use sqlx::Row;

use crate::db::{now_millis, Db};
use crate::error::{GatewayError, Result};

use secrets::{hash_secret, insert_secret, same_bytes, secrets_of};

/// Live secrets a client may hold at once (rotation without downtime).
pub const MAX_LIVE_SECRETS: usize = 2;
pub(super) const SECRET_PREFIX: &str = "rgw_";

/// A secret as the registry shows it: never the secret itself.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SecretInfo {
    /// Names the secret in `rotate`/`revoke` and in the tokens issued under it.
    pub id: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds; absent: no expiry.
    pub expires_at: Option<i64>,
    /// Unix milliseconds; set once revoked.
    pub revoked_at: Option<i64>,
}

impl SecretInfo {
    /// Not revoked and not expired at `now`.
    pub fn is_live(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }
}

/// A registered client.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Client {
    /// The `client_id`.
    pub id: String,
    /// A name for people.
    pub name: String,
    /// Tenants the client may ask for.
    pub tenants: Vec<String>,
    /// Whether the client is disabled (no tokens, its tokens refused).
    pub disabled: bool,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Its secrets, newest first (revoked ones too).
    pub secrets: Vec<SecretInfo>,
    /// Whether a JWKS is registered (private_key_jwt).
    pub has_jwks: bool,
}

/// A secret just made: the only time it is seen.
#[derive(Debug, Clone, Serialize)]
pub struct NewSecret {
    /// The secret's id.
    pub secret_id: String,
    /// The secret itself (`rgw_...`).
    pub client_secret: String,
    /// Unix milliseconds, if it expires.
    pub expires_at: Option<i64>,
}

/// Why client authentication failed (all are `invalid_client` outside).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No such client.
    UnknownClient,
    /// The client is disabled.
    Disabled,
    /// No live secret matches.
    WrongSecret,
}

impl AuthFailure {
    /// For the audit log and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownClient => "unknown_client",
            Self::Disabled => "client_disabled",
            Self::WrongSecret => "wrong_secret",
        }
    }
}

/// Checks a tenant id: 1 to 128 characters of letters, digits, `.`, `_`,
/// `-` (a directory GUID fits; spaces would split the scope).
pub fn check_tenant_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(GatewayError::invalid(
            "tenant",
            format!(
                "tenant id {:?} must be 1 to 128 letters, digits, '.', '_' or '-'",
                id.chars().take(40).collect::<String>()
            ),
        ))
    }
}

pub(super) fn check_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(GatewayError::invalid(
            "name",
            "a client name is 1 to 200 characters without control characters",
        ));
    }
    Ok(name.to_owned())
}

fn tenants_json(tenants: &[String]) -> Result<String> {
    for t in tenants {
        check_tenant_id(t)?;
    }
    let mut list: Vec<&String> = tenants.iter().collect();
    list.sort();
    list.dedup();
    serde_json::to_string(&list).map_err(|e| GatewayError::Corrupt(e.to_string()))
}

fn parse_tenants(text: &str) -> Result<Vec<String>> {
    serde_json::from_str(text).map_err(|_| GatewayError::Corrupt("a client's tenant list".into()))
}

/// The client registry over the database.
#[derive(Debug, Clone)]
pub struct Registry {
    db: Db,
}

impl Registry {
    /// The registry in `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Registers a client allowed `tenants`, with its first secret.
    pub async fn create_client(
        &self,
        name: &str,
        tenants: &[String],
        secret_expires_at: Option<i64>,
    ) -> Result<(Client, NewSecret)> {
        let name = check_name(name)?;
        let tenants_text = tenants_json(tenants)?;
        let id = random_id()?;
        let now = now_millis();
        let mut tx = self.db.write().await?;
        sqlx::query(
            "INSERT INTO clients (id, name, tenants, jwks, disabled_at, created_at, updated_at) \
             VALUES ($1, $2, $3, NULL, NULL, $4, $4)",
        )
        .bind(&id)
        .bind(&name)
        .bind(&tenants_text)
        .bind(now)
        .execute(tx.conn())
        .await?;
        let secret = insert_secret(tx.conn(), &id, secret_expires_at, now).await?;
        tx.commit().await?;
        let client = self
            .client(&id)
            .await?
            .ok_or_else(|| GatewayError::NotFound(format!("client {id}")))?;
        Ok((client, secret))
    }

    /// One client, with its secrets.
    pub async fn client(&self, id: &str) -> Result<Option<Client>> {
        let mut conn = self.db.read().await?;
        let row = sqlx::query(
            "SELECT id, name, tenants, jwks, disabled_at, created_at FROM clients WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let secrets = secrets_of(&mut conn, id).await?;
        Ok(Some(client_from_row(&row, secrets)?))
    }

    /// Every client, by name.
    pub async fn clients(&self) -> Result<Vec<Client>> {
        let mut conn = self.db.read().await?;
        let rows = sqlx::query(
            "SELECT id, name, tenants, jwks, disabled_at, created_at FROM clients ORDER BY name, id",
        )
        .fetch_all(&mut *conn)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let id: String = row.try_get("id")?;
            let secrets = secrets_of(&mut conn, &id).await?;
            out.push(client_from_row(&row, secrets)?);
        }
        Ok(out)
    }

    /// Adds a secret (rotation's first step); refused while the client
    /// holds two live secrets already.
    pub async fn add_secret(&self, client_id: &str, expires_at: Option<i64>) -> Result<NewSecret> {
        let now = now_millis();
        let mut tx = self.db.write().await?;
        let exists = sqlx::query("SELECT id FROM clients WHERE id = $1")
            .bind(client_id)
            .fetch_optional(tx.conn())
            .await?;
        if exists.is_none() {
            return Err(GatewayError::NotFound(format!("client {client_id}")));
        }
        let live = secrets_of(tx.conn(), client_id)
            .await?
            .into_iter()
            .filter(|s| s.is_live(now))
            .count();
        if live >= MAX_LIVE_SECRETS {
            return Err(GatewayError::Conflict(format!(
                "client {client_id} holds {MAX_LIVE_SECRETS} live secrets already: revoke one first"
            )));
        }
        let secret = insert_secret(tx.conn(), client_id, expires_at, now).await?;
        tx.commit().await?;
        Ok(secret)
    }

    /// Revokes one secret; tokens issued under it are refused from now on
    /// (within the validation cache's few seconds on other instances).
    pub async fn revoke_secret(&self, client_id: &str, secret_id: &str) -> Result<()> {
        let mut tx = self.db.write().await?;
        let done = sqlx::query(
            "UPDATE client_secrets SET revoked_at = $1 \
             WHERE client_id = $2 AND id = $3 AND revoked_at IS NULL",
        )
        .bind(now_millis())
        .bind(client_id)
        .bind(secret_id)
        .execute(tx.conn())
        .await?;
        if done.rows_affected() == 0 {
            let exists =
                sqlx::query("SELECT id FROM client_secrets WHERE client_id = $1 AND id = $2")
                    .bind(client_id)
                    .bind(secret_id)
                    .fetch_optional(tx.conn())
                    .await?;
            if exists.is_none() {
                return Err(GatewayError::NotFound(format!(
                    "secret {secret_id} of client {client_id}"
                )));
            }
        }
        tx.commit().await
    }

    /// Disables (or enables again) a client.
    pub async fn set_disabled(&self, client_id: &str, disabled: bool) -> Result<()> {
        let now = now_millis();
        let mut tx = self.db.write().await?;
        let done =
            sqlx::query("UPDATE clients SET disabled_at = $1, updated_at = $2 WHERE id = $3")
                .bind(disabled.then_some(now))
                .bind(now)
                .bind(client_id)
                .execute(tx.conn())
                .await?;
        if done.rows_affected() == 0 {
            return Err(GatewayError::NotFound(format!("client {client_id}")));
        }
        tx.commit().await
    }

    /// Replaces the tenants a client may ask for.
    pub async fn set_tenants(&self, client_id: &str, tenants: &[String]) -> Result<()> {
        let text = tenants_json(tenants)?;
        let mut tx = self.db.write().await?;
        let done = sqlx::query("UPDATE clients SET tenants = $1, updated_at = $2 WHERE id = $3")
            .bind(&text)
            .bind(now_millis())
            .bind(client_id)
            .execute(tx.conn())
            .await?;
        if done.rows_affected() == 0 {
            return Err(GatewayError::NotFound(format!("client {client_id}")));
        }
        tx.commit().await
    }

    /// Deletes a client and its secrets.
    pub async fn delete_client(&self, client_id: &str) -> Result<()> {
        let mut tx = self.db.write().await?;
        sqlx::query("DELETE FROM client_secrets WHERE client_id = $1")
            .bind(client_id)
            .execute(tx.conn())
            .await?;
        let done = sqlx::query("DELETE FROM clients WHERE id = $1")
            .bind(client_id)
            .execute(tx.conn())
            .await?;
        if done.rows_affected() == 0 {
            return Err(GatewayError::NotFound(format!("client {client_id}")));
        }
        tx.commit().await
    }

    /// Checks a client id and secret: the client and the id of the secret
    /// that matched, or why not.
    pub async fn authenticate(
        &self,
        client_id: &str,
        secret: &str,
    ) -> Result<Result<(Client, String), AuthFailure>> {
        let Some(client) = self.client(client_id).await? else {
            return Ok(Err(AuthFailure::UnknownClient));
        };
        if client.disabled {
            return Ok(Err(AuthFailure::Disabled));
        }
        let presented = hash_secret(secret);
        let now = now_millis();
        let mut conn = self.db.read().await?;
        let rows = sqlx::query(
            "SELECT id, secret_hash, expires_at, revoked_at FROM client_secrets WHERE client_id = $1",
        )
        .bind(client_id)
        .fetch_all(&mut *conn)
        .await?;
        let mut matched = None;
        for row in rows {
            let hash: String = row.try_get("secret_hash")?;
            let revoked: Option<i64> = row.try_get("revoked_at")?;
            let expires: Option<i64> = row.try_get("expires_at")?;
            let live = revoked.is_none() && expires.is_none_or(|e| e > now);
            if same_bytes(hash.as_bytes(), presented.as_bytes()) && live {
                matched = Some(row.try_get::<String, _>("id")?);
            }
        }
        Ok(match matched {
            Some(secret_id) => Ok((client, secret_id)),
            None => Err(AuthFailure::WrongSecret),
        })
    }

    /// What token validation needs to know now about a client and the
    /// secret its token was issued under: `None` when the client is gone or
    /// disabled or the secret revoked; else the tenants it may use.
    pub async fn grant_state(
        &self,
        client_id: &str,
        secret_id: &str,
    ) -> Result<Option<Vec<String>>> {
        let mut conn = self.db.read().await?;
        let row = sqlx::query(
            "SELECT c.tenants, c.disabled_at, s.revoked_at FROM clients c \
             JOIN client_secrets s ON s.client_id = c.id WHERE c.id = $1 AND s.id = $2",
        )
        .bind(client_id)
        .bind(secret_id)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let disabled: Option<i64> = row.try_get("disabled_at")?;
        let revoked: Option<i64> = row.try_get("revoked_at")?;
        if disabled.is_some() || revoked.is_some() {
            return Ok(None);
        }
        Ok(Some(parse_tenants(&row.try_get::<String, _>("tenants")?)?))
    }

    /// Registers (or, with `None`, removes) the client's JWKS for
    /// `private_key_jwt`.
    pub async fn set_jwks(&self, client_id: &str, jwks: Option<&serde_json::Value>) -> Result<()> {
        let text = match jwks {
            Some(v) => {
                if !v.get("keys").is_some_and(serde_json::Value::is_array) {
                    return Err(GatewayError::invalid(
                        "jwks",
                        "a JWKS is an object with a \"keys\" array",
                    ));
                }
                Some(v.to_string())
            }
            None => None,
        };
        let mut tx = self.db.write().await?;
        let done = sqlx::query("UPDATE clients SET jwks = $1, updated_at = $2 WHERE id = $3")
            .bind(text)
            .bind(now_millis())
            .bind(client_id)
            .execute(tx.conn())
            .await?;
        if done.rows_affected() == 0 {
            return Err(GatewayError::NotFound(format!("client {client_id}")));
        }
        tx.commit().await
    }

    /// Records that `client_id` used the private_key_jwt assertion `jti`
    /// (valid until `expires_at`, Unix seconds); answers `false` when it was
    /// used before, on this instance or any other sharing the database.
    pub async fn first_use_of_assertion(
        &self,
        client_id: &str,
        jti: &str,
        expires_at: i64,
    ) -> Result<bool> {
        let now = now_millis();
        let mut tx = self.db.write_unordered().await?;
        // Expired assertions are refused anyway (with a few seconds' leeway):
        // their ids need not be kept.
        sqlx::query("DELETE FROM gateway_assertions WHERE expires_at < $1")
            .bind(now - 60_000)
            .execute(tx.conn())
            .await?;
        let done = sqlx::query(
            "INSERT INTO gateway_assertions (client_id, jti, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (client_id, jti) DO NOTHING",
        )
        .bind(client_id)
        .bind(jti)
        .bind(expires_at.saturating_mul(1000))
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// The client's registered JWKS, if any.
    pub async fn jwks(&self, client_id: &str) -> Result<Option<serde_json::Value>> {
        let mut conn = self.db.read().await?;
        let row = sqlx::query("SELECT jwks FROM clients WHERE id = $1")
            .bind(client_id)
            .fetch_optional(&mut *conn)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let text: Option<String> = row.try_get("jwks")?;
        text.map(|t| {
            serde_json::from_str(&t).map_err(|_| GatewayError::Corrupt("a client's JWKS".into()))
        })
        .transpose()
    }
}
fn client_from_row(row: &sqlx::any::AnyRow, secrets: Vec<SecretInfo>) -> Result<Client> {
    let jwks: Option<String> = row.try_get("jwks")?;
    let disabled: Option<i64> = row.try_get("disabled_at")?;
    Ok(Client {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        tenants: parse_tenants(&row.try_get::<String, _>("tenants")?)?,
        disabled: disabled.is_some(),
        created_at: row.try_get("created_at")?,
        secrets,
        has_jwks: jwks.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids() {
        assert!(check_tenant_id("3f2b8c1e-9a7d-4e5f-b6c1-0d2e3f4a5b6c").is_ok());
        assert!(check_tenant_id("hospital.a_1").is_ok());
        for bad in ["", "a b", "a/b", "ä", &"x".repeat(129)] {
            assert!(check_tenant_id(bad).is_err(), "{bad}");
        }
    }
}
