//! Limiting password guesses per account and per client address, in the
//! database so that several Rounds instances share one count.
//!
//! An attempt is counted *before* its password is checked (`begin_attempt`,
//! inside a write transaction, which Rounds serialises across instances),
//! so however many arrive at once, at most the limit are ever checked in a
//! window. Once checked, a wrong password stays counted (`fail_attempt`,
//! which locks the key when the count reached the limit); a right one is
//! taken back (`cancel_attempt`) or clears the key (`clear`).

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

/// Counts one attempt for `key` in a window of `window_secs`, unless the key
/// is locked or already has `max_attempts` counted in the window (failed,
/// or still being checked). `Err(until)`: refused, try again after `until`.
/// Run it inside a write transaction so that concurrent attempts count one
/// after the other.
pub async fn begin_attempt(
    conn: &mut AnyConnection,
    key: &str,
    now: Timestamp,
    window_secs: u64,
    max_attempts: u32,
) -> Result<Result<(), Timestamp>, StoreError> {
    let row = sqlx::query(
        "SELECT failures, window_start, locked_until FROM signin_throttle WHERE throttle_key = $1",
    )
    .bind(key)
    .fetch_optional(&mut *conn)
    .await?;
    let (count, window_start) = match row {
        Some(row) => {
            let locked = Timestamp::from_millis(row.try_get("locked_until")?);
            if locked > now {
                return Ok(Err(locked));
            }
            let start = Timestamp::from_millis(row.try_get("window_start")?);
            let counted: i64 = row.try_get("failures")?;
            if start <= now.minus_secs(window_secs) {
                (1, now)
            } else if counted >= i64::from(max_attempts) {
                // Full with attempts still being checked: the window's end
                // is when room is sure to come back.
                return Ok(Err(start.plus_secs(window_secs)));
            } else {
                (counted + 1, start)
            }
        }
        None => (1, now),
    };
    sqlx::query(
        "INSERT INTO signin_throttle (throttle_key, failures, window_start, locked_until) \
         VALUES ($1, $2, $3, 0) ON CONFLICT (throttle_key) DO UPDATE SET \
         failures = excluded.failures, window_start = excluded.window_start, \
         locked_until = excluded.locked_until",
    )
    .bind(key)
    .bind(count)
    .bind(window_start.millis())
    .execute(conn)
    .await?;
    Ok(Ok(()))
}

/// An attempt counted by `begin_attempt` failed: it stays counted, and when
/// the count has reached `max_attempts` the key is locked until
/// `lockout_secs` from now. Returns the lock's end when this set it.
pub async fn fail_attempt(
    conn: &mut AnyConnection,
    key: &str,
    now: Timestamp,
    max_attempts: u32,
    lockout_secs: u64,
) -> Result<Option<Timestamp>, StoreError> {
    let until = now.plus_secs(lockout_secs);
    let done = sqlx::query(
        "UPDATE signin_throttle SET locked_until = $1 \
         WHERE throttle_key = $2 AND failures >= $3 AND locked_until < $1",
    )
    .bind(until.millis())
    .bind(key)
    .bind(i64::from(max_attempts))
    .execute(conn)
    .await?;
    Ok((done.rows_affected() > 0).then_some(until))
}

/// An attempt counted by `begin_attempt` did not fail (the password was
/// right, or it could not be checked): it no longer counts.
pub async fn cancel_attempt(conn: &mut AnyConnection, key: &str) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE signin_throttle SET failures = failures - 1 \
         WHERE throttle_key = $1 AND failures > 0",
    )
    .bind(key)
    .execute(conn)
    .await?;
    Ok(())
}

/// Forgets the attempts of `key` (after a successful sign-in).
pub async fn clear(conn: &mut AnyConnection, key: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM signin_throttle WHERE throttle_key = $1")
        .bind(key)
        .execute(conn)
        .await?;
    Ok(())
}
