//! [`AuditSync::Async`](super::AuditSync::Async): the answer does not wait
//! for the database. Each record takes its place in the hash chain in
//! memory, in the order records are accepted (the place is taken and the
//! record queued under one lock, so the queue's order is the chain's), and
//! one background writer commits the queue in batches, each synced to disk
//! before the next.
//!
//! Bounds, so that what a crash can lose is stated:
//! - at most [`AsyncLimits::queue`] records wait in the queue; a caller
//!   finding it full waits for room (back-pressure), no record is dropped;
//! - once the oldest record not yet committed is older than
//!   [`AsyncLimits::max_lag`] (the database is slow or down), every caller
//!   waits for its own record's commit, as in `commit` mode.
//!
//! So at any moment the records answered but not yet committed were all
//! accepted within `max_lag` of each other, and there are at most `queue`
//! plus one batch ([`MAX_BATCH`]) of them. After a first record the writer
//! waits [`GATHER`] for more, so a light load costs a commit per few
//! requests. A write that fails is retried
//! (after 50 ms, doubling up to 2 s) with the same records in the same
//! order; meanwhile [`WriterState::failing`] is set (`/readyz` answers 503,
//! `/metrics` shows it).
//!
//! Several instances on one PostgreSQL: each chains in memory after the
//! head it last wrote; when another instance wrote in between, the batch's
//! insert fails on the seq (the primary key) and the batch is chained anew
//! after the database's head, under the writer lock
//! ([`super::write_records`]), so the stored chain stays one chain.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::{chain_to, stored_head, unchained, write_records, AuditEntry, AuditRecord};
use crate::db::{now_millis, Db};
use crate::error::{GatewayError, Result};

/// How long the writer waits after a first record for more to join its
/// batch.
pub const GATHER: Duration = Duration::from_millis(5);

/// Records one batch commits at most.
pub const MAX_BATCH: usize = 512;

/// The bounds of [`AuditSync::Async`](super::AuditSync::Async).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AsyncLimits {
    /// Records waiting for the writer at most (callers wait beyond).
    pub queue: usize,
    /// The oldest uncommitted record's age beyond which callers wait for
    /// their own record's commit.
    pub max_lag: Duration,
}

impl Default for AsyncLimits {
    fn default() -> Self {
        Self {
            queue: Self::DEFAULT_QUEUE,
            max_lag: Duration::from_millis(Self::DEFAULT_MAX_LAG_MS),
        }
    }
}

impl AsyncLimits {
    /// Records waiting for the writer at most, unless configured.
    pub const DEFAULT_QUEUE: usize = 1000;
    /// Milliseconds the oldest uncommitted record may wait before callers
    /// wait too, unless configured.
    pub const DEFAULT_MAX_LAG_MS: u64 = 500;
}

/// What the async writer is doing, for `/readyz` and `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterState {
    /// The last write failed (it is being retried).
    pub failing: bool,
    /// Records accepted and not yet committed.
    pub pending: u64,
    /// Failed writes since start.
    pub write_errors: u64,
    /// The queue's capacity (0 when not in async mode).
    pub capacity: u64,
}

struct Queued {
    ticket: u64,
    record: AuditRecord,
}

/// The in-memory end of the chain.
#[derive(Default)]
struct Chain {
    /// The last record given a place (seq, hash); `None` until the writer
    /// has written once (records get their place from the writer then).
    head: Option<(i64, String)>,
    /// Records accepted so far (a ticket each, in order).
    accepted: u64,
}

/// What the writer and the callers share.
struct Shared {
    chain: Mutex<Chain>,
    /// The last ticket committed.
    committed: watch::Sender<u64>,
    /// Unix ms when the oldest record the writer holds was accepted;
    /// `i64::MAX` when it holds none.
    oldest_pending: AtomicI64,
    failing: AtomicBool,
    write_errors: AtomicU64,
    limits: AsyncLimits,
}

/// The queue's sending end and the shared state; the writer ends (after
/// committing what is queued) when this is dropped.
pub(super) struct Background {
    queue: mpsc::Sender<Queued>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Background {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Background")
            .field("state", &self.state())
            .finish()
    }
}

impl Background {
    /// Starts the writer on the current Tokio runtime.
    pub(super) fn start(db: Db, limits: AsyncLimits) -> Arc<Self> {
        let limits = AsyncLimits {
            queue: limits.queue.max(1),
            ..limits
        };
        let (queue, receiver) = mpsc::channel(limits.queue);
        let shared = Arc::new(Shared {
            chain: Mutex::default(),
            committed: watch::channel(0).0,
            oldest_pending: AtomicI64::new(i64::MAX),
            failing: AtomicBool::new(false),
            write_errors: AtomicU64::new(0),
            limits,
        });
        tokio::spawn(write_loop(db, receiver, shared.clone()));
        Arc::new(Self { queue, shared })
    }

    pub(super) async fn append(&self, entry: &AuditEntry) -> Result<AuditRecord> {
        let stopped = || GatewayError::Corrupt("the audit writer has stopped".into());
        // Room in the queue first (waiting here is the back-pressure),
        // then the place in the chain and the queue under one lock.
        let permit = self.queue.reserve().await.map_err(|_| stopped())?;
        let mut record = unchained(entry);
        let ticket = {
            let mut chain = self
                .shared
                .chain
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some((seq, hash)) = &chain.head {
                chain_to(&mut record, *seq, hash);
                chain.head = Some((record.seq, record.hash.clone()));
            }
            chain.accepted += 1;
            let ticket = chain.accepted;
            permit.send(Queued {
                ticket,
                record: record.clone(),
            });
            ticket
        };
        let oldest = self.shared.oldest_pending.load(Ordering::Acquire);
        let lag_ms = i64::try_from(self.shared.limits.max_lag.as_millis()).unwrap_or(i64::MAX);
        if oldest != i64::MAX && now_millis().saturating_sub(oldest) > lag_ms {
            // The writer lags: this caller waits for its own record.
            let mut committed = self.shared.committed.subscribe();
            committed
                .wait_for(|c| *c >= ticket)
                .await
                .map_err(|_| stopped())?;
        }
        Ok(record)
    }

    pub(super) fn state(&self) -> WriterState {
        let accepted = self
            .shared
            .chain
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .accepted;
        let committed = *self.shared.committed.borrow();
        WriterState {
            failing: self.shared.failing.load(Ordering::Acquire),
            pending: accepted.saturating_sub(committed),
            write_errors: self.shared.write_errors.load(Ordering::Acquire),
            capacity: self.shared.limits.queue as u64,
        }
    }

    pub(super) async fn flush(&self, timeout: Duration) -> u64 {
        let last = self
            .shared
            .chain
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .accepted;
        let mut committed = self.shared.committed.subscribe();
        let _ = tokio::time::timeout(timeout, committed.wait_for(|c| *c >= last)).await;
        let done = *committed.borrow();
        last.saturating_sub(done)
    }
}

async fn write_loop(db: Db, mut receiver: mpsc::Receiver<Queued>, shared: Arc<Shared>) {
    // The chain's last record as this writer last committed it.
    let mut head: Option<(i64, String)> = None;
    let mut batch: Vec<Queued> = Vec::new();
    let mut backoff = Duration::from_millis(50);
    // The stored chain's end, so that records get their final place in
    // memory from the first one on (without it the first batches are
    // chained here instead).
    match stored_head(&db).await {
        Ok(stored) => {
            let mut chain = shared.chain.lock().unwrap_or_else(PoisonError::into_inner);
            if chain.accepted == 0 {
                chain.head = Some(stored.clone());
            }
            head = Some(stored);
        }
        Err(e) => tracing::warn!(error = %e, "cannot read the audit log's last record"),
    }
    loop {
        if batch.is_empty() {
            match receiver.recv().await {
                Some(q) => {
                    shared.oldest_pending.store(q.record.at, Ordering::Release);
                    batch.push(q);
                }
                None => return,
            }
            // A moment for the records of requests answered meanwhile, so
            // that a light load costs a commit (and a disk sync) per few
            // requests rather than one each, on cores the requests need.
            if !receiver.is_closed() {
                tokio::time::sleep(GATHER).await;
            }
        }
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(q) => batch.push(q),
                Err(_) => break,
            }
        }
        shared
            .oldest_pending
            .store(batch[0].record.at, Ordering::Release);
        let mut records: Vec<AuditRecord> = batch.iter().map(|q| q.record.clone()).collect();
        match write_records(&db, true, &mut records, head.take()).await {
            Ok(()) => {
                let last_ticket = batch.last().map_or(0, |q| q.ticket);
                if let Some(last) = records.last() {
                    head = Some((last.seq, last.hash.clone()));
                    let mut chain = shared.chain.lock().unwrap_or_else(PoisonError::into_inner);
                    // Nothing accepted since: the in-memory chain goes on
                    // from what was stored (the records got their place
                    // here, or were moved after another instance's).
                    if chain.accepted == last_ticket {
                        chain.head = head.clone();
                    }
                }
                batch.clear();
                shared.oldest_pending.store(i64::MAX, Ordering::Release);
                shared.failing.store(false, Ordering::Release);
                shared.committed.send_replace(last_ticket);
                backoff = Duration::from_millis(50);
            }
            Err(e) => {
                shared.failing.store(true, Ordering::Release);
                shared.write_errors.fetch_add(1, Ordering::AcqRel);
                tracing::error!(error = %e, records = batch.len(), "cannot write the audit log; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}
