//! Counting failed sign-ins per account and per client address, in the
//! database so that several Rounds instances share one count.

use rounds_core::Timestamp;
use sqlx::{AnyConnection, Row};

use crate::StoreError;

/// Until when `key` is locked out, if it is.
pub async fn locked_until(
    conn: &mut AnyConnection,
    key: &str,
    now: Timestamp,
) -> Result<Option<Timestamp>, StoreError> {
    let row = sqlx::query("SELECT locked_until FROM signin_throttle WHERE throttle_key = $1")
        .bind(key)
        .fetch_optional(conn)
        .await?;
    Ok(match row {
        Some(row) => {
            let until = Timestamp::from_millis(row.try_get("locked_until")?);
            (until > now).then_some(until)
        }
        None => None,
    })
}

/// Counts one failure for `key` in a window of `window_secs`; once the count
/// reaches `max_failures` the key is locked until `lockout_secs` from now.
/// Returns the lock's end when this failure set it.
pub async fn record_failure(
    conn: &mut AnyConnection,
    key: &str,
    now: Timestamp,
    window_secs: u64,
    max_failures: u32,
    lockout_secs: u64,
) -> Result<Option<Timestamp>, StoreError> {
    let row =
        sqlx::query("SELECT failures, window_start FROM signin_throttle WHERE throttle_key = $1")
            .bind(key)
            .fetch_optional(&mut *conn)
            .await?;
    let (failures, window_start) = match row {
        Some(row) => {
            let start = Timestamp::from_millis(row.try_get("window_start")?);
            if start <= now.minus_secs(window_secs) {
                (1, now)
            } else {
                (row.try_get::<i64, _>("failures")? + 1, start)
            }
        }
        None => (1, now),
    };
    let lock = (failures >= i64::from(max_failures)).then(|| now.plus_secs(lockout_secs));
    sqlx::query(
        "INSERT INTO signin_throttle (throttle_key, failures, window_start, locked_until) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (throttle_key) DO UPDATE SET \
         failures = excluded.failures, window_start = excluded.window_start, \
         locked_until = excluded.locked_until",
    )
    .bind(key)
    .bind(failures)
    .bind(window_start.millis())
    .bind(lock.unwrap_or(Timestamp::from_millis(0)).millis())
    .execute(conn)
    .await?;
    Ok(lock)
}

/// Forgets the failures of `key` (after a successful sign-in).
pub async fn clear(conn: &mut AnyConnection, key: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM signin_throttle WHERE throttle_key = $1")
        .bind(key)
        .execute(conn)
        .await?;
    Ok(())
}
