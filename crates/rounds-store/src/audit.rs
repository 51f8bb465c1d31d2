//! The audit log: append under the writer lock, search, and read in order
//! for verification and export.

use rounds_core::audit::{AuditEntry, AuditRecord, GENESIS_HASH};
use rounds_core::Timestamp;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::{StoreError, WriteTx};

const COLUMNS: &str = "seq, at, operation, outcome, reason, actor_id, actor_username, team_id, \
                       list_id, patient_ref, detail, client_addr, user_agent, prev_hash, hash";

/// Appends `entry` as the next record of the chain, inside the caller's
/// write transaction, so the record commits or rolls back with the change
/// it describes.
pub async fn append(tx: &mut WriteTx<'_>, entry: &AuditEntry) -> Result<AuditRecord, StoreError> {
    let conn = tx.conn();
    let last = sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?;
    let (seq, prev_hash) = match last {
        Some(row) => (
            row.try_get::<i64, _>("seq")? + 1,
            row.try_get::<String, _>("hash")?,
        ),
        None => (1, GENESIS_HASH.to_owned()),
    };
    let record = AuditRecord::seal(entry, seq, &prev_hash);
    let sql = format!(
        "INSERT INTO audit_log ({COLUMNS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
    );
    sqlx::query(&sql)
        .bind(record.seq)
        .bind(record.at)
        .bind(&record.operation)
        .bind(&record.outcome)
        .bind(&record.reason)
        .bind(&record.actor_id)
        .bind(&record.actor_username)
        .bind(&record.team_id)
        .bind(&record.list_id)
        .bind(&record.patient_ref)
        .bind(&record.detail)
        .bind(&record.client_addr)
        .bind(&record.user_agent)
        .bind(&record.prev_hash)
        .bind(&record.hash)
        .execute(conn)
        .await?;
    Ok(record)
}

pub(crate) fn from_row(row: &AnyRow) -> Result<AuditRecord, StoreError> {
    Ok(AuditRecord {
        seq: row.try_get("seq")?,
        at: row.try_get("at")?,
        operation: row.try_get("operation")?,
        outcome: row.try_get("outcome")?,
        reason: row.try_get("reason")?,
        actor_id: row.try_get("actor_id")?,
        actor_username: row.try_get("actor_username")?,
        team_id: row.try_get("team_id")?,
        list_id: row.try_get("list_id")?,
        patient_ref: row.try_get("patient_ref")?,
        detail: row.try_get("detail")?,
        client_addr: row.try_get("client_addr")?,
        user_agent: row.try_get("user_agent")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

/// What to look for; every set field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// The actor's username (lower case), or the name typed at a refused sign-in.
    pub username: Option<String>,
    pub team_id: Option<String>,
    pub patient_ref: Option<String>,
    pub operation: Option<String>,
    pub outcome: Option<String>,
    /// Inclusive lower bound.
    pub from: Option<Timestamp>,
    /// Exclusive upper bound.
    pub to: Option<Timestamp>,
}

/// Direction of a page of results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Newest first, records with `seq` below the cursor.
    NewestFirst { before_seq: Option<i64> },
    /// Oldest first, records with `seq` above the cursor.
    OldestFirst { after_seq: i64 },
}

enum Bind {
    Text(String),
    Int(i64),
}

/// One page of records matching `filter`.
pub async fn search(
    conn: &mut AnyConnection,
    filter: &AuditFilter,
    order: Order,
    limit: i64,
) -> Result<Vec<AuditRecord>, StoreError> {
    let mut clauses: Vec<String> = Vec::new();
    let mut binds: Vec<Bind> = Vec::new();
    let mut add = |clause: &str, bind: Bind| {
        binds.push(bind);
        clauses.push(clause.replace('?', &format!("${}", binds.len())));
    };
    if let Some(v) = &filter.username {
        add("actor_username = ?", Bind::Text(v.clone()));
    }
    if let Some(v) = &filter.team_id {
        add("team_id = ?", Bind::Text(v.clone()));
    }
    if let Some(v) = &filter.patient_ref {
        add("patient_ref = ?", Bind::Text(v.clone()));
    }
    if let Some(v) = &filter.operation {
        add("operation = ?", Bind::Text(v.clone()));
    }
    if let Some(v) = &filter.outcome {
        add("outcome = ?", Bind::Text(v.clone()));
    }
    if let Some(v) = filter.from {
        add("at >= ?", Bind::Int(v.millis()));
    }
    if let Some(v) = filter.to {
        add("at < ?", Bind::Int(v.millis()));
    }
    let order_sql = match order {
        Order::NewestFirst { before_seq } => {
            if let Some(seq) = before_seq {
                add("seq < ?", Bind::Int(seq));
            }
            "seq DESC"
        }
        Order::OldestFirst { after_seq } => {
            add("seq > ?", Bind::Int(after_seq));
            "seq ASC"
        }
    };
    let where_sql = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM audit_log {where_sql} ORDER BY {order_sql} LIMIT {}",
        limit.max(0)
    );
    let mut query = sqlx::query(&sql);
    for bind in binds {
        query = match bind {
            Bind::Text(v) => query.bind(v),
            Bind::Int(v) => query.bind(v),
        };
    }
    query.fetch_all(conn).await?.iter().map(from_row).collect()
}

/// Records in chain order after `after_seq` (0 for the start).
pub async fn scan(
    conn: &mut AnyConnection,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<AuditRecord>, StoreError> {
    search(
        conn,
        &AuditFilter::default(),
        Order::OldestFirst { after_seq },
        limit,
    )
    .await
}
