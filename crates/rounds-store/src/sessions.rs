//! Server-side sessions, keyed by the SHA-256 of the cookie's token.

use rounds_core::{Timestamp, UserId};
use sqlx::{AnyConnection, Row};

use crate::users::parse;
use crate::StoreError;

#[derive(Debug, Clone)]
pub struct SessionRow {
    pub user_id: UserId,
    pub csrf_token: String,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub expires_at: Timestamp,
}

pub struct NewSession<'a> {
    pub token_hash: &'a str,
    pub user_id: UserId,
    pub csrf_token: &'a str,
    pub at: Timestamp,
    pub expires_at: Timestamp,
    pub client_addr: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

pub async fn insert(conn: &mut AnyConnection, new: &NewSession<'_>) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, last_seen_at, \
         expires_at, client_addr, user_agent) VALUES ($1, $2, $3, $4, $4, $5, $6, $7)",
    )
    .bind(new.token_hash)
    .bind(new.user_id.to_string())
    .bind(new.csrf_token)
    .bind(new.at.millis())
    .bind(new.expires_at.millis())
    .bind(new.client_addr)
    .bind(new.user_agent)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn find(
    conn: &mut AnyConnection,
    token_hash: &str,
) -> Result<Option<SessionRow>, StoreError> {
    let Some(row) = sqlx::query(
        "SELECT user_id, csrf_token, created_at, last_seen_at, expires_at \
         FROM sessions WHERE token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(conn)
    .await?
    else {
        return Ok(None);
    };
    let user_id: String = row.try_get("user_id")?;
    Ok(Some(SessionRow {
        user_id: parse(&user_id, "session user id")?,
        csrf_token: row.try_get("csrf_token")?,
        created_at: Timestamp::from_millis(row.try_get("created_at")?),
        last_seen_at: Timestamp::from_millis(row.try_get("last_seen_at")?),
        expires_at: Timestamp::from_millis(row.try_get("expires_at")?),
    }))
}

pub async fn touch(
    conn: &mut AnyConnection,
    token_hash: &str,
    at: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2")
        .bind(at.millis())
        .bind(token_hash)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn delete(conn: &mut AnyConnection, token_hash: &str) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token_hash)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delete_for_user(conn: &mut AnyConnection, user_id: UserId) -> Result<u64, StoreError> {
    let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id.to_string())
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// Removes sessions past their absolute expiry or idle since before `idle_cutoff`.
pub async fn delete_expired(
    conn: &mut AnyConnection,
    now: Timestamp,
    idle_cutoff: Timestamp,
) -> Result<u64, StoreError> {
    let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2")
        .bind(now.millis())
        .bind(idle_cutoff.millis())
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}
