//! getList's rows, kept as their answer (JSON) per list for the whole
//! list in hand order, so that the screens reading a list again and again
//! do not rebuild and serialise a thousand rows each time.
//!
//! Only rows that depend on nothing but what the database holds are kept:
//! no EHR patient on the list (their cells come from memory and its
//! re-reads), no note asking for a read receipt (the count is per viewer).
//! The rows are valid while everything they were built from is unchanged:
//!
//! - the list's own place in the change feed (`patient_lists.feed_seq`,
//!   set in the transaction of every change to the list's patients,
//!   values, notes, tasks, urgent notes and entries, on any instance:
//!   it is read from the database on every request, first, so a change
//!   committed anywhere is seen at once);
//! - the team's columns and members (the texts shown), which of the
//!   list's MRNs another patient of the team has too, and today's date
//!   (ages), compared on each request;
//! - the next due time of an open task (the overdue counts).
//!
//! Per viewer, per request, and never kept: membership (checked before the
//! cache is looked at), the audit record, the list, its columns, the feed
//! position and the EHR status around the rows. The rows stay in memory only.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rounds_core::lists::TeamColumn;
use rounds_core::model::TeamMember;
use rounds_core::{ListId, PatientId, Timestamp};

/// Lists kept at most (the least recently read goes first).
const MAX_LISTS: usize = 32;

/// What a list's rows were built from, besides the list's own feed mark.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RowsKey {
    pub feed_seq: i64,
    pub team_columns: Vec<TeamColumn>,
    pub members: Vec<TeamMember>,
    pub today: time::Date,
    /// The list's MRNs that another patient of the team has, sorted.
    pub duplicates: Vec<String>,
}

/// A list's rows as answered.
#[derive(Debug)]
pub(crate) struct CachedRows {
    pub key: RowsKey,
    /// The rows as the web layer serialised them (a JSON array).
    pub json: Arc<str>,
    /// The patients, in order (for the audit record).
    pub patients: Vec<PatientId>,
    pub ids: HashSet<PatientId>,
    /// Valid before this time only (an open task falls due).
    pub until: Option<Timestamp>,
}

#[derive(Default)]
pub(crate) struct ListRowsCache(Mutex<HashMap<ListId, (Arc<CachedRows>, Instant)>>);

impl ListRowsCache {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<ListId, (Arc<CachedRows>, Instant)>) -> T) -> T {
        // A poisoned lock still holds whole entries (each is replaced at once).
        match self.0.lock() {
            Ok(mut m) => f(&mut m),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// The rows of `list` when they were built from exactly `key` and are
    /// still within their time.
    pub fn get(&self, list: ListId, key: &RowsKey, now: Timestamp) -> Option<Arc<CachedRows>> {
        self.with(|m| {
            let (rows, used) = m.get_mut(&list)?;
            if rows.key != *key || rows.until.is_some_and(|u| now >= u) {
                return None;
            }
            *used = Instant::now();
            Some(Arc::clone(rows))
        })
    }

    /// The feed mark the rows kept for `list` were built at, if any (a
    /// cheap first check before what the full key needs is read).
    pub fn kept_at(&self, list: ListId) -> Option<i64> {
        self.with(|m| m.get(&list).map(|(rows, _)| rows.key.feed_seq))
    }

    /// Keeps `rows` for `list`, unless rows built at a later feed mark are
    /// there already.
    pub fn put(&self, list: ListId, rows: CachedRows) {
        self.with(|m| {
            if m.get(&list)
                .is_some_and(|(old, _)| old.key.feed_seq > rows.key.feed_seq)
            {
                return;
            }
            if m.len() >= MAX_LISTS && !m.contains_key(&list) {
                if let Some(oldest) = m.iter().min_by_key(|(_, (_, used))| *used).map(|(l, _)| *l) {
                    m.remove(&oldest);
                }
            }
            m.insert(list, (Arc::new(rows), Instant::now()));
        });
    }
}
