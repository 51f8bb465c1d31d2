//! The change feed behind live screens: numbered events per list, written
//! in the same transaction as the change they announce.
//!
//! On PostgreSQL the same transaction also sends a `NOTIFY` on
//! [`CHANNEL`] (delivered when it commits), so that other instances can read
//! the new events at once instead of at their next poll. The notification
//! is only a wake-up: the table stays the truth, and a missed one costs at
//! most a polling interval.

use rounds_core::{ListId, TeamId, Timestamp};
use sqlx::any::AnyRow;
use sqlx::postgres::PgListener;
use sqlx::{AnyConnection, Executor, Row};

use crate::{Backend, Db, StoreError, WriteTx};

/// The PostgreSQL notification channel announcing new change-feed events.
pub const CHANNEL: &str = "rounds_list_events";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub seq: i64,
    pub team_id: String,
    pub list_id: String,
    pub kind: String,
    pub payload: String,
    pub at: Timestamp,
}

/// Appends one event for each list in `lists` (under the writer lock, so
/// numbers follow commit order).
pub async fn append(
    tx: &mut WriteTx<'_>,
    team: TeamId,
    lists: &[ListId],
    kind: &str,
    payload: &str,
    at: Timestamp,
) -> Result<(), StoreError> {
    let conn = tx.conn();
    let mut seq: i64 = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS s FROM list_events")
        .fetch_one(&mut *conn)
        .await?
        .try_get("s")?;
    for list in lists {
        seq += 1;
        sqlx::query("INSERT INTO list_events (seq, team_id, list_id, kind, payload, at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(seq)
            .bind(team.to_string())
            .bind(list.to_string())
            .bind(kind)
            .bind(payload)
            .bind(at.millis())
            .execute(&mut *conn)
            .await?;
        // The list's own mark of its newest event, never pruned: getList's
        // cached rows are valid while it stays what they were built at.
        sqlx::query("UPDATE patient_lists SET feed_seq = $1 WHERE id = $2")
            .bind(seq)
            .bind(list.to_string())
            .execute(&mut *conn)
            .await?;
    }
    if tx.backend() == Backend::Postgres && !lists.is_empty() {
        // Sent at commit, and not at all on rollback. The payload (the last
        // number) is a number, so it is safe in the statement's text.
        tx.conn()
            .execute(format!("NOTIFY {CHANNEL}, '{seq}'").as_str())
            .await?;
    }
    Ok(())
}

/// Wake-ups for new change-feed events committed by any instance
/// (PostgreSQL `LISTEN`), on a connection of its own outside the pool.
pub struct FeedListener {
    listener: PgListener,
}

impl FeedListener {
    /// Listens on [`CHANNEL`]; `None` for SQLite, where every writer is in
    /// this process and wakes its poller itself.
    pub async fn connect(db: &Db) -> Result<Option<Self>, StoreError> {
        if db.backend() != Backend::Postgres {
            return Ok(None);
        }
        let mut listener = PgListener::connect(db.url())
            .await
            .map_err(StoreError::Unavailable)?;
        listener
            .listen(CHANNEL)
            .await
            .map_err(StoreError::Unavailable)?;
        Ok(Some(Self { listener }))
    }

    /// Waits until there may be new events: `true` when a notification
    /// arrived, `false` when the connection was lost (notifications sent
    /// meanwhile are gone, so the caller should read the feed; the next call
    /// connects again). An error means connecting again failed.
    pub async fn next(&mut self) -> Result<bool, StoreError> {
        match self.listener.try_recv().await {
            Ok(got) => Ok(got.is_some()),
            Err(err) => Err(StoreError::Unavailable(err)),
        }
    }
}

fn from_row(row: &AnyRow) -> Result<StoredEvent, StoreError> {
    Ok(StoredEvent {
        seq: row.try_get("seq")?,
        team_id: row.try_get("team_id")?,
        list_id: row.try_get("list_id")?,
        kind: row.try_get("kind")?,
        payload: row.try_get("payload")?,
        at: Timestamp::from_millis(row.try_get("at")?),
    })
}

/// Events of every list after `after`, oldest first.
pub async fn after(
    conn: &mut AnyConnection,
    after: i64,
    limit: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let sql = format!("SELECT seq, team_id, list_id, kind, payload, at FROM list_events WHERE seq > $1 ORDER BY seq LIMIT {}", limit.max(1));
    sqlx::query(&sql)
        .bind(after)
        .fetch_all(conn)
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// Events of any of `lists` (a list's feed, or a team's channels) after
/// `after`, oldest first.
pub async fn for_lists_after(
    conn: &mut AnyConnection,
    lists: &[ListId],
    after: i64,
    limit: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    if lists.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<String> = (0..lists.len()).map(|i| format!("${}", i + 2)).collect();
    let sql = format!(
        "SELECT seq, team_id, list_id, kind, payload, at FROM list_events WHERE seq > $1 AND list_id IN ({}) ORDER BY seq LIMIT {}",
        keys.join(", "),
        limit.max(1)
    );
    let mut query = sqlx::query(&sql).bind(after);
    for list in lists {
        query = query.bind(list.to_string());
    }
    query.fetch_all(conn).await?.iter().map(from_row).collect()
}

/// The newest event number (0 when there is none).
/// The number of the newest event of `list` (0 before its first; set in
/// the transaction of each change, and kept when the feed is pruned).
pub async fn list_feed_seq(conn: &mut AnyConnection, list: ListId) -> Result<i64, StoreError> {
    let row = sqlx::query("SELECT feed_seq FROM patient_lists WHERE id = $1")
        .bind(list.to_string())
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|r| r.try_get("feed_seq")).transpose()?.unwrap_or(0))
}

pub async fn last_seq(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(
        sqlx::query("SELECT COALESCE(MAX(seq), 0) AS s FROM list_events")
            .fetch_one(conn)
            .await?
            .try_get("s")?,
    )
}

/// The oldest event number still kept (0 when there is none).
pub async fn first_seq(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(
        sqlx::query("SELECT COALESCE(MIN(seq), 0) AS s FROM list_events")
            .fetch_one(conn)
            .await?
            .try_get("s")?,
    )
}

/// Forgets events older than `before`, keeping the newest one so numbering
/// continues.
pub async fn prune(conn: &mut AnyConnection, before: Timestamp) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "DELETE FROM list_events WHERE at < $1 AND seq < (SELECT MAX(seq) FROM list_events)",
    )
    .bind(before.millis())
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}
