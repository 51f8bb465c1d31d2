//! Installation-wide facts, each written at most once.

use rounds_core::Timestamp;
use sqlx::AnyConnection;

use crate::StoreError;

/// Records `key` if it is not recorded yet; false if it already was.
pub async fn set_once(
    conn: &mut AnyConnection,
    key: &str,
    value: &str,
    at: Timestamp,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO site_state (state_key, state_value, set_at) VALUES ($1, $2, $3) \
         ON CONFLICT (state_key) DO NOTHING",
    )
    .bind(key)
    .bind(value)
    .bind(at.millis())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The value recorded under `key`, if any.
pub async fn get(conn: &mut AnyConnection, key: &str) -> Result<Option<String>, StoreError> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT state_value FROM site_state WHERE state_key = $1")
            .bind(key)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|r| r.0))
}

/// Records `value` under `key`, replacing what was there.
pub async fn set(
    conn: &mut AnyConnection,
    key: &str,
    value: &str,
    at: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO site_state (state_key, state_value, set_at) VALUES ($1, $2, $3) \
         ON CONFLICT (state_key) DO UPDATE SET state_value = $2, set_at = $3",
    )
    .bind(key)
    .bind(value)
    .bind(at.millis())
    .execute(conn)
    .await?;
    Ok(())
}

/// Every key starting with `prefix` and its value, by key.
pub async fn with_prefix(
    conn: &mut AnyConnection,
    prefix: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    let pattern = format!(
        "{}%",
        prefix
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT state_key, state_value FROM site_state WHERE state_key LIKE $1 ESCAPE '\\' \
         ORDER BY state_key",
    )
    .bind(pattern)
    .fetch_all(conn)
    .await?;
    // SQLite's LIKE ignores ASCII case: keep the exact prefix only.
    Ok(rows
        .into_iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .collect())
}

/// Forgets `key`; false if it was not recorded.
pub async fn remove(conn: &mut AnyConnection, key: &str) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM site_state WHERE state_key = $1")
        .bind(key)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}
