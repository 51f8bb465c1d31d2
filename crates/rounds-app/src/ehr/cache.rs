//! The in-memory cache EHR data lives in: bounded in entries and age.

use crate::ehr::HealthState;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rounds_core::{TeamId, Timestamp};
use rounds_fhir::PatientSummary;

use super::{lock, EhrSettings};
use crate::App;

/// Per team, server and Patient id: teams reaching one server with
/// different credentials (a gateway's tenants) never share what they read.
/// The middle part is the connection's generation.
pub(super) type CacheKey = (TeamId, String, String);

#[derive(Debug, Clone)]
pub(super) struct CacheEntry {
    pub(super) result: Result<Arc<PatientSummary>, String>,
    pub(super) fetched_at: Timestamp,
    pub(super) fetched: Instant,
    /// The cells of a good read, rendered when it was read.
    pub(super) rendered: Option<Arc<super::data::Rendered>>,
}

impl CacheEntry {
    /// Whether it is time to read the EHR again: a good read after
    /// `refresh_after`, a failed one after `retry_after_failure`.
    pub(super) fn due(&self, settings: &EhrSettings) -> bool {
        self.fetched.elapsed()
            >= if self.result.is_ok() {
                settings.refresh_after
            } else {
                settings.retry_after_failure
            }
    }
}

/// EHR data in memory only: bounded in entries and age.
#[derive(Debug, Default)]
pub(crate) struct EhrCache {
    pub(super) entries: HashMap<CacheKey, CacheEntry>,
}

impl EhrCache {
    pub(super) fn get(&mut self, key: &CacheKey, ttl: Duration) -> Option<CacheEntry> {
        let entry = self.entries.get(key)?;
        if entry.fetched.elapsed() > ttl {
            self.entries.remove(key);
            return None;
        }
        Some(entry.clone())
    }

    pub(super) fn put(&mut self, key: CacheKey, entry: CacheEntry, max: usize) {
        self.entries.insert(key, entry);
        if self.entries.len() > max {
            let mut ages: Vec<(Instant, CacheKey)> = self
                .entries
                .iter()
                .map(|(k, e)| (e.fetched, k.clone()))
                .collect();
            ages.sort_by_key(|(at, _)| *at);
            let excess = self.entries.len() - max;
            for (_, k) in ages.into_iter().take(excess) {
                self.entries.remove(&k);
            }
        }
    }

    pub(super) fn clear(&mut self) {
        self.entries.clear();
    }

    /// Drops everything older than `ttl`.
    pub(super) fn sweep(&mut self, ttl: Duration) {
        self.entries.retain(|_, e| e.fetched.elapsed() <= ttl);
    }
}

impl App {
    pub(super) fn forget_connection(&self, team: TeamId) {
        lock(&self.ehr.health).remove(&team);
        lock(&self.ehr.cache)
            .entries
            .retain(|(t, _, _), _| *t != team);
    }

    /// For the metrics: patients in the cache, and each connection's health.
    pub(crate) fn ehr_gauges(&self) -> (usize, Vec<(TeamId, HealthState)>) {
        let health = lock(&self.ehr.health)
            .iter()
            .map(|(t, h)| (*t, h.state))
            .collect();
        (lock(&self.ehr.cache).entries.len(), health)
    }

    /// Drops every patient's EHR data from memory (a benchmark's cold start).
    pub fn clear_ehr_cache(&self) {
        lock(&self.ehr.cache).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_is_bounded_and_ages_out() {
        let mut cache = EhrCache::default();
        let team = TeamId::new_random();
        let entry = || CacheEntry {
            result: Err("x".into()),
            fetched_at: Timestamp::now(),
            fetched: Instant::now(),
            rendered: None,
        };
        for i in 0..10 {
            cache.put((team, "s".into(), format!("p{i}")), entry(), 4);
        }
        assert_eq!(cache.entries.len(), 4);
        assert!(cache
            .get(&(team, "s".into(), "p9".into()), Duration::from_secs(60))
            .is_some());
        assert!(cache
            .get(&(team, "s".into(), "p0".into()), Duration::from_secs(60))
            .is_none());
        // Another team never sees the entry.
        let other = TeamId::new_random();
        assert!(cache
            .get(&(other, "s".into(), "p9".into()), Duration::from_secs(60))
            .is_none());
        std::thread::sleep(Duration::from_millis(5));
        assert!(cache
            .get(&(team, "s".into(), "p9".into()), Duration::from_millis(1))
            .is_none());
        assert_eq!(cache.entries.len(), 3, "an aged entry is dropped");
    }
}
