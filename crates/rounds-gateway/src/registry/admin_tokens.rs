//! Keys of the administration API (`rga_...`): made, listed, revoked,
//! checked; stored as their hash like client secrets.

use serde::Serialize;
use sqlx::Row;

use crate::db::now_millis;
use crate::error::{GatewayError, Result};

use super::secrets::{hash_secret, random_bytes, random_id};
use super::{check_name, Registry};

/// A key of the administration API, as listed (never the key itself).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AdminToken {
    /// Its id.
    pub id: String,
    /// A name for people.
    pub name: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds, once revoked.
    pub revoked_at: Option<i64>,
}

const ADMIN_PREFIX: &str = "rga_";

impl Registry {
    /// Makes an administration key; answers it and the key itself (shown once).
    pub async fn create_admin_token(&self, name: &str) -> Result<(AdminToken, String)> {
        use base64::Engine;
        let name = check_name(name)?;
        let id = random_id()?;
        let value = format!(
            "{ADMIN_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>()?)
        );
        let now = now_millis();
        let mut tx = self.db.write().await?;
        sqlx::query(
            "INSERT INTO admin_tokens (id, name, token_hash, created_at, revoked_at) VALUES ($1, $2, $3, $4, NULL)",
        )
        .bind(&id)
        .bind(&name)
        .bind(hash_secret(&value))
        .bind(now)
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        Ok((
            AdminToken {
                id,
                name,
                created_at: now,
                revoked_at: None,
            },
            value,
        ))
    }

    /// Every administration key.
    pub async fn admin_tokens(&self) -> Result<Vec<AdminToken>> {
        let mut conn = self.db.read().await?;
        let rows = sqlx::query(
            "SELECT id, name, created_at, revoked_at FROM admin_tokens ORDER BY created_at, id",
        )
        .fetch_all(&mut *conn)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AdminToken {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    created_at: r.try_get("created_at")?,
                    revoked_at: r.try_get("revoked_at")?,
                })
            })
            .collect()
    }

    /// Revokes an administration key.
    pub async fn revoke_admin_token(&self, id: &str) -> Result<()> {
        let mut tx = self.db.write().await?;
        let done = sqlx::query(
            "UPDATE admin_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(now_millis())
        .bind(id)
        .execute(tx.conn())
        .await?;
        if done.rows_affected() == 0 {
            return Err(GatewayError::NotFound(format!(
                "live administration key {id}"
            )));
        }
        tx.commit().await
    }

    /// The live administration key `value` is, if it is one.
    pub async fn check_admin_token(&self, value: &str) -> Result<Option<AdminToken>> {
        if !value.starts_with(ADMIN_PREFIX) {
            return Ok(None);
        }
        let mut conn = self.db.read().await?;
        let row = sqlx::query(
            "SELECT id, name, created_at, revoked_at FROM admin_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(hash_secret(value))
        .fetch_optional(&mut *conn)
        .await?;
        row.map(|r| {
            Ok(AdminToken {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                created_at: r.try_get("created_at")?,
                revoked_at: r.try_get("revoked_at")?,
            })
        })
        .transpose()
    }
}
