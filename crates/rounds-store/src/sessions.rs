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

/// Ends every session of `user_id` but the one whose hash is `keep`.
pub async fn delete_for_user_except(
    conn: &mut AnyConnection,
    user_id: UserId,
    keep: &str,
) -> Result<u64, StoreError> {
    let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2")
        .bind(user_id.to_string())
        .bind(keep)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// Where a session stands, for the watch over open live feeds.
#[derive(Debug, Clone)]
pub struct SessionState {
    pub token_hash: String,
    pub last_seen_at: Timestamp,
    pub expires_at: Timestamp,
    pub user_disabled: bool,
}

/// How many values one `IN (…)` list binds at most (well under the
/// parameter limits of SQLite and PostgreSQL).
pub const IN_CHUNK: usize = 1000;

/// `$first, $first+1, …` for `n` values.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The sessions among `token_hashes` that still exist, with their limits
/// and whether their account is disabled; missing ones have ended. One
/// query per `IN_CHUNK` hashes.
pub async fn states(
    conn: &mut AnyConnection,
    token_hashes: &[&str],
) -> Result<Vec<SessionState>, StoreError> {
    let mut out = Vec::with_capacity(token_hashes.len());
    for chunk in token_hashes.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT s.token_hash, s.last_seen_at, s.expires_at, u.disabled_at \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash IN ({})",
            placeholders(1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for hash in chunk {
            query = query.bind(*hash);
        }
        for row in query.fetch_all(&mut *conn).await? {
            out.push(SessionState {
                token_hash: row.try_get("token_hash")?,
                last_seen_at: Timestamp::from_millis(row.try_get("last_seen_at")?),
                expires_at: Timestamp::from_millis(row.try_get("expires_at")?),
                user_disabled: row.try_get::<Option<i64>, _>("disabled_at")?.is_some(),
            });
        }
    }
    Ok(out)
}
