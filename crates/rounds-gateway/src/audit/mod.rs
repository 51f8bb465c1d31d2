//! The gateway's audit log: one record per request on the FHIR routes and
//! per token request (client, tenant, method, resource type, path, status,
//! duration, outcome), hash-chained as Rounds' own log is: each record's
//! hash is SHA-256 over a canonical JSON rendering of its fields, the
//! previous record's hash among them, starting from
//! [`rounds_core::audit::GENESIS_HASH`]. An edited, inserted or deleted
//! record breaks the chain; `verify` finds the first break
//! ([`rounds_core::audit::ChainBreak`]).
//!
//! (Over 500 lines: one job, appending to the chain, in its three
//! durability modes that share the chaining and the writing; reading and
//! export are in `read.rs`, the background writer in `writer.rs`.)

mod read;
mod writer;

pub use read::{export, AuditFilter, ExportFormat};
pub use writer::{AsyncLimits, WriterState};

use rounds_core::audit::{content_hash, ChainBreak, GENESIS_HASH};
use serde::Serialize;
use sqlx::Row;

use crate::db::{now_millis, Db};
use crate::error::{GatewayError, Result};

/// What is recorded about one request.
#[derive(Debug, Clone, Default)]
pub struct AuditEntry {
    /// The client, when known (a valid token or client authentication).
    pub client_id: Option<String>,
    /// The tenant, when known.
    pub tenant_id: Option<String>,
    /// `GET`, `POST`, ...
    pub method: String,
    /// The resource type the request is about, if any.
    pub resource_type: Option<String>,
    /// The path, without the query string.
    pub path: String,
    /// The HTTP status answered.
    pub status: u16,
    /// Milliseconds from receipt to answer.
    pub duration_ms: i64,
    /// `ok`, `upstream_error`, or why the gateway refused (`invalid_token`, ...).
    pub outcome: String,
    /// The caller's address.
    pub client_addr: Option<String>,
}

/// A stored, sealed record.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AuditRecord {
    /// Sequence number from 1.
    pub seq: i64,
    /// Unix milliseconds.
    pub at: i64,
    /// The client.
    pub client_id: Option<String>,
    /// The tenant.
    pub tenant_id: Option<String>,
    /// The method.
    pub method: String,
    /// The resource type.
    pub resource_type: Option<String>,
    /// The path without query.
    pub path: String,
    /// The status.
    pub status: i64,
    /// Milliseconds.
    pub duration_ms: i64,
    /// The outcome.
    pub outcome: String,
    /// The caller's address.
    pub client_addr: Option<String>,
    /// The previous record's hash.
    pub prev_hash: String,
    /// This record's hash.
    pub hash: String,
}

#[derive(Serialize)]
struct Hashed<'a> {
    seq: i64,
    at: i64,
    client_id: Option<&'a str>,
    tenant_id: Option<&'a str>,
    method: &'a str,
    resource_type: Option<&'a str>,
    path: &'a str,
    status: i64,
    duration_ms: i64,
    outcome: &'a str,
    client_addr: Option<&'a str>,
    prev_hash: &'a str,
}

impl AuditRecord {
    /// The hash of the record's content (all fields but `hash`).
    pub fn computed_hash(&self) -> String {
        let hashed = Hashed {
            seq: self.seq,
            at: self.at,
            client_id: self.client_id.as_deref(),
            tenant_id: self.tenant_id.as_deref(),
            method: &self.method,
            resource_type: self.resource_type.as_deref(),
            path: &self.path,
            status: self.status,
            duration_ms: self.duration_ms,
            outcome: &self.outcome,
            client_addr: self.client_addr.as_deref(),
            prev_hash: &self.prev_hash,
        };
        content_hash(&hashed)
    }
}

type Pending = (
    AuditEntry,
    tokio::sync::oneshot::Sender<Result<AuditRecord, String>>,
);

/// When an appended record is on disk. The default is
/// [`AuditSync::EveryCommit`]: a hospital must be able to show every access
/// to patient data, so no answer goes out before its record would survive
/// a power loss. [`AuditSync::Batched`] is for sites that accept a short,
/// stated window of loss for lower latency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum AuditSync {
    /// Committed before the answer (atomic, in the chain, safe from the
    /// gateway's process ending) and on disk within about a second after:
    /// on SQLite the write-ahead log is synced every [`SYNC_EVERY`]; on
    /// PostgreSQL (`synchronous_commit = off` for these batches) its WAL
    /// writer syncs within 3 × `wal_writer_delay` (0.6 s by default). What
    /// that window can lose is the newest records whose answers were
    /// already sent: on SQLite through a power loss or OS crash, on
    /// PostgreSQL also through a crash of the database server. It never
    /// breaks the chain (`verify` stays clean).
    #[value(name = "batched")]
    Batched,
    /// On disk before the answer: one sync per batch (group commit: one
    /// batch serves all callers waiting at once) in the request's path.
    #[default]
    #[value(name = "commit")]
    EveryCommit,
    /// The answer does not wait for the database: each record takes its
    /// place in the hash chain in memory, in order, and a background
    /// writer commits (and syncs) them in batches. Bounded
    /// ([`AsyncLimits`]): at most `audit_queue` records wait for the
    /// writer (callers wait when it is full; no record is ever dropped),
    /// and once the oldest waiting record is older than `audit_max_lag`
    /// every caller waits for its own record's commit, as in `commit`
    /// mode. Flushed on a graceful shutdown. What a crash of the gateway
    /// process (or a power loss) can lose: the records of requests
    /// answered in the last `audit_max_lag` before it, never more than
    /// `audit_queue` plus one batch; never the chain's integrity.
    #[value(name = "async")]
    Async,
}

/// How often [`AuditSync::Batched`] puts the newest records on disk.
pub const SYNC_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The audit log over the database.
#[derive(Debug, Clone)]
pub struct Audit {
    db: Db,
    sync: AuditSync,
    /// Records were committed since the last background sync.
    unsynced: std::sync::Arc<std::sync::atomic::AtomicBool>,
    queue: std::sync::Arc<std::sync::Mutex<Vec<Pending>>>,
    flush: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// The chain's last record as this process wrote it (seq, hash): the
    /// next batch follows it without reading it back. Another writer (an
    /// instance on the same PostgreSQL) taking that seq first makes the
    /// batch's insert fail on the primary key; the batch is then written
    /// again after the head read from the database.
    head: std::sync::Arc<std::sync::Mutex<Option<(i64, String)>>>,
    /// [`AuditSync::Async`]: the in-memory chain and the writer's queue.
    background: Option<std::sync::Arc<writer::Background>>,
}

/// Records per INSERT statement (13 parameters each; SQLite allows 32766).
const ROWS_PER_INSERT: usize = 64;

pub(super) const COLUMNS: &str = "seq, at, client_id, tenant_id, method, resource_type, path, status, duration_ms, outcome, client_addr, prev_hash, hash";

impl Audit {
    /// The log in `db`, for reading (and appends synced at each commit).
    pub fn new(db: Db) -> Self {
        Self {
            db,
            sync: AuditSync::EveryCommit,
            unsynced: std::sync::Arc::default(),
            queue: std::sync::Arc::default(),
            flush: std::sync::Arc::default(),
            head: std::sync::Arc::default(),
            background: None,
        }
    }

    /// The log in `db`, appends as `sync` says; [`AuditSync::Async`] with
    /// `limits` (its writer runs on the current Tokio runtime until the
    /// last clone of the log is dropped, then commits what is queued).
    pub fn with_options(db: Db, sync: AuditSync, limits: AsyncLimits) -> Self {
        if sync != AuditSync::Async {
            return Self::with_sync(db, sync);
        }
        Self {
            background: Some(writer::Background::start(db.clone(), limits)),
            sync,
            ..Self::new(db)
        }
    }

    /// The async writer's state (always healthy and empty in the other
    /// modes): for `/readyz` and `/metrics`.
    pub fn writer_state(&self) -> WriterState {
        self.background
            .as_ref()
            .map(|b| b.state())
            .unwrap_or_default()
    }

    /// Waits until every record accepted so far is committed (in
    /// [`AuditSync::Async`] mode; at once in the others), at most
    /// `timeout`. Answers how many records are still not committed (0:
    /// all are). Called on a graceful shutdown.
    pub async fn flush(&self, timeout: std::time::Duration) -> u64 {
        match &self.background {
            Some(b) => b.flush(timeout).await,
            None => 0,
        }
    }

    /// The log in `db`, appends synced as `sync` says. In
    /// [`AuditSync::Batched`] mode this starts the background sync (on the
    /// current Tokio runtime), which ends once the log is dropped.
    pub fn with_sync(db: Db, sync: AuditSync) -> Self {
        let audit = Self {
            sync,
            ..Self::new(db)
        };
        if sync == AuditSync::Batched {
            let unsynced = std::sync::Arc::downgrade(&audit.unsynced);
            let db = audit.db.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(SYNC_EVERY).await;
                    let Some(flag) = unsynced.upgrade() else {
                        return;
                    };
                    if flag.swap(false, std::sync::atomic::Ordering::AcqRel) {
                        if let Err(e) = db.sync_audit().await {
                            flag.store(true, std::sync::atomic::Ordering::Release);
                            tracing::warn!(error = %e, "cannot sync the audit log to disk");
                        }
                    }
                }
            });
        }
        audit
    }

    /// Appends a record, chained to the last one, and answers once it is
    /// committed. Concurrent appends are written together (group commit):
    /// whoever holds the flush lock writes everything queued so far in one
    /// transaction, so under load one commit serves many requests, and
    /// still no caller goes on before its record is stored. A caller whose
    /// record another one wrote leaves at once instead of queueing for the
    /// lock itself (waiting for the lock behind every other caller turned
    /// one batch per commit into one batch per caller).
    ///
    /// In [`AuditSync::Async`] mode it answers once the record has its
    /// place in the chain in memory (waiting only when the queue is full
    /// or the writer lags); the record answered is then provisional: with
    /// several instances on one database, the writer moves it after
    /// another instance's records (a new seq and hashes) if one took its
    /// place.
    pub async fn append(&self, entry: &AuditEntry) -> Result<AuditRecord> {
        if let Some(background) = &self.background {
            return background.append(entry).await;
        }
        let (done, mut wait) = tokio::sync::oneshot::channel();
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((entry.clone(), done));
        let written = loop {
            tokio::select! {
                biased;
                written = &mut wait => break written,
                _flushing = self.flush.lock() => {
                    let batch = std::mem::take(
                        &mut *self
                            .queue
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner),
                    );
                    if batch.is_empty() {
                        continue;
                    }
                    let entries: Vec<&AuditEntry> = batch.iter().map(|(e, _)| e).collect();
                    match self.write_batch(&entries).await {
                        Ok(records) => {
                            for ((_, done), record) in batch.into_iter().zip(records) {
                                let _ = done.send(Ok(record));
                            }
                        }
                        Err(e) => {
                            let message = e.to_string();
                            for (_, done) in batch {
                                let _ = done.send(Err(message.clone()));
                            }
                        }
                    }
                }
            }
        };
        match written {
            Ok(Ok(record)) => Ok(record),
            Ok(Err(message)) => Err(GatewayError::Corrupt(format!(
                "the audit record was not written: {message}"
            ))),
            Err(_) => Err(GatewayError::Corrupt(
                "the audit record was not written".into(),
            )),
        }
    }

    async fn write_batch(&self, entries: &[&AuditEntry]) -> Result<Vec<AuditRecord>> {
        let head = self
            .head
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let mut records: Vec<AuditRecord> = entries.iter().map(|e| unchained(e)).collect();
        let written = write_records(
            &self.db,
            self.sync == AuditSync::EveryCommit,
            &mut records,
            head,
        )
        .await;
        if written.is_ok() {
            if let Some(last) = records.last() {
                *self
                    .head
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) =
                    Some((last.seq, last.hash.clone()));
            }
            if self.sync == AuditSync::Batched {
                self.unsynced
                    .store(true, std::sync::atomic::Ordering::Release);
            }
        }
        written.map(|()| records)
    }
}

/// The record of `entry` as it will be stored (fields bounded, the time
/// now), not yet in the chain: seq 0 and no hashes.
pub(super) fn unchained(entry: &AuditEntry) -> AuditRecord {
    AuditRecord {
        seq: 0,
        at: now_millis(),
        client_id: entry.client_id.clone(),
        tenant_id: entry.tenant_id.clone(),
        method: entry.method.chars().take(16).collect(),
        resource_type: entry
            .resource_type
            .as_ref()
            .map(|t| t.chars().take(64).collect()),
        path: entry.path.chars().take(512).collect(),
        status: i64::from(entry.status),
        duration_ms: entry.duration_ms,
        outcome: entry.outcome.chars().take(64).collect(),
        client_addr: entry.client_addr.clone(),
        prev_hash: String::new(),
        hash: String::new(),
    }
}

/// The stored chain's last record (seq, hash), or the genesis (0, its hash).
pub(super) async fn stored_head(db: &Db) -> Result<(i64, String)> {
    let mut conn = db.read().await?;
    let last = sqlx::query("SELECT seq, hash FROM gateway_audit ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?;
    Ok(match last {
        Some(r) => (r.try_get::<i64, _>("seq")?, r.try_get::<String, _>("hash")?),
        None => (0, GENESIS_HASH.to_owned()),
    })
}

/// Puts `record` in the chain right after (`seq`, `prev_hash`).
pub(super) fn chain_to(record: &mut AuditRecord, seq: i64, prev_hash: &str) {
    record.seq = seq + 1;
    record.prev_hash = prev_hash.to_owned();
    record.hash = record.computed_hash();
}

/// Writes `records` in one transaction after `head` (the chain's last
/// record as the writer last wrote it), or after the last record in the
/// database: each record that does not follow its predecessor already
/// (a record chained in memory after a head another instance has since
/// moved past, or one not chained yet) is chained anew (seq, prev_hash,
/// hash). When the write after a given `head` fails (most likely another
/// writer's record took that seq), it is tried once more after the head
/// read from the database.
pub(super) async fn write_records(
    db: &Db,
    sync_each: bool,
    records: &mut [AuditRecord],
    head: Option<(i64, String)>,
) -> Result<()> {
    match head {
        Some(head) => match write_after(db, sync_each, records, Some(head)).await {
            Ok(()) => Ok(()),
            Err(_) => write_after(db, sync_each, records, None).await,
        },
        None => write_after(db, sync_each, records, None).await,
    }
}

async fn write_after(
    db: &Db,
    sync_each: bool,
    records: &mut [AuditRecord],
    head: Option<(i64, String)>,
) -> Result<()> {
    let mut tx = db.write_audit(sync_each).await?;
    let (mut seq, mut prev_hash) = match head {
        Some(head) => head,
        None => {
            let last = sqlx::query("SELECT seq, hash FROM gateway_audit ORDER BY seq DESC LIMIT 1")
                .fetch_optional(tx.conn())
                .await?;
            match last {
                Some(r) => (r.try_get::<i64, _>("seq")?, r.try_get::<String, _>("hash")?),
                None => (0, GENESIS_HASH.to_owned()),
            }
        }
    };
    for record in records.iter_mut() {
        if record.seq != seq + 1 || record.prev_hash != prev_hash || record.hash.is_empty() {
            chain_to(record, seq, &prev_hash);
        }
        seq = record.seq;
        prev_hash.clone_from(&record.hash);
    }
    // One statement per (up to) ROWS_PER_INSERT records: a batch costs
    // a few round trips to the database, not one per record. SQLite gets
    // anonymous `?` parameters: finding a numbered one (`$N`) by its name
    // is a linear search in SQLite, so binding 832 of them cost more than
    // the insert itself.
    let anonymous = db.backend() == crate::db::Backend::Sqlite;
    for chunk in records.chunks(ROWS_PER_INSERT) {
        let mut sql = format!("INSERT INTO gateway_audit ({COLUMNS}) VALUES ");
        for i in 0..chunk.len() {
            let n = i * 13;
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for k in 1..=13 {
                if k > 1 {
                    sql.push_str(", ");
                }
                if anonymous {
                    sql.push('?');
                } else {
                    sql.push_str(&format!("${}", n + k));
                }
            }
            sql.push(')');
        }
        let mut query = sqlx::query(&sql);
        for record in chunk {
            query = query
                .bind(record.seq)
                .bind(record.at)
                .bind(record.client_id.clone())
                .bind(record.tenant_id.clone())
                .bind(record.method.clone())
                .bind(record.resource_type.clone())
                .bind(record.path.clone())
                .bind(record.status)
                .bind(record.duration_ms)
                .bind(record.outcome.clone())
                .bind(record.client_addr.clone())
                .bind(record.prev_hash.clone())
                .bind(record.hash.clone());
        }
        query.execute(tx.conn()).await?;
    }
    tx.commit().await?;
    Ok(())
}

impl Audit {
    /// Checks the whole chain in order; answers how many records it holds.
    pub async fn verify(&self) -> Result<Result<i64, ChainBreak>> {
        let mut conn = self.db.read().await?;
        let mut expected_prev = GENESIS_HASH.to_owned();
        let mut last_seq: Option<i64> = None;
        let mut count = 0;
        let page = 5000;
        loop {
            let rows = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM gateway_audit WHERE seq > $1 ORDER BY seq LIMIT {page}"
            ))
            .bind(last_seq.unwrap_or(0))
            .fetch_all(&mut *conn)
            .await?;
            if rows.is_empty() {
                return Ok(Ok(count));
            }
            for row in &rows {
                let r = record_from_row(row)?;
                let after = last_seq.unwrap_or(0);
                if r.seq != after + 1 {
                    return Ok(Err(ChainBreak::Gap { after, next: r.seq }));
                }
                if r.computed_hash() != r.hash {
                    return Ok(Err(ChainBreak::ContentChanged { seq: r.seq }));
                }
                if r.prev_hash != expected_prev {
                    return Ok(Err(ChainBreak::LinkBroken {
                        seq: r.seq,
                        expected_prev,
                    }));
                }
                expected_prev = r.hash.clone();
                last_seq = Some(r.seq);
                count += 1;
            }
        }
    }
}

pub(super) fn record_from_row(r: &sqlx::any::AnyRow) -> Result<AuditRecord> {
    Ok(AuditRecord {
        seq: r.try_get("seq")?,
        at: r.try_get("at")?,
        client_id: r.try_get("client_id")?,
        tenant_id: r.try_get("tenant_id")?,
        method: r.try_get("method")?,
        resource_type: r.try_get("resource_type")?,
        path: r.try_get("path")?,
        status: r.try_get("status")?,
        duration_ms: r.try_get("duration_ms")?,
        outcome: r.try_get("outcome")?,
        client_addr: r.try_get("client_addr")?,
        prev_hash: r.try_get("prev_hash")?,
        hash: r.try_get("hash")?,
    })
}
