//! What one round of EHR reads puts in the cache, and what it tells the
//! team's health.

use std::sync::Arc;
use std::time::Instant;

use rounds_core::Timestamp;
use rounds_fhir::{FhirError, PatientSummary, SectionStatus};

use super::cache::{CacheEntry, CacheKey, EhrCache};
use super::data::Rendered;
use super::health::Problem;
use super::EhrSettings;

/// What one round of reads found, for the team's health.
#[derive(Default)]
pub(super) struct Tally {
    pub(super) ok: usize,
    pub(super) failed: usize,
    pub(super) problem: Option<Problem>,
}

impl Tally {
    /// Puts one read in the cache and counts it; while the EHR fails, the
    /// last good read (with its time) stays.
    pub(super) fn store(
        &mut self,
        cache: &mut EhrCache,
        key: CacheKey,
        id: &str,
        result: Result<(Arc<PatientSummary>, Arc<Rendered>), FhirError>,
        read_at: (Timestamp, Instant),
        settings: &EhrSettings,
    ) {
        match result {
            Ok((summary, rendered)) => {
                let section_failed = summary.statuses().iter().find_map(|(kind, s)| match s {
                    SectionStatus::Failed { reason, .. } => Some((kind.name(), reason)),
                    _ => None,
                });
                self.ok += 1;
                if let Some((kind, reason)) = section_failed {
                    self.failed += 1;
                    self.problem.get_or_insert_with(|| Problem {
                    general: format!("some EHR reads failed ({kind}); a team owner sees the details on the team's EHR page"),
                    detail: format!("some EHR reads failed ({kind}: {reason})"),
                });
                    // The last good read (with its time) stays shown.
                    if cache
                        .get(&key, settings.cache_ttl)
                        .is_some_and(|old| old.result.is_ok())
                    {
                        return;
                    }
                }
                cache.put(
                    key,
                    CacheEntry {
                        result: Ok(summary),
                        fetched_at: read_at.0,
                        fetched: read_at.1,
                        rendered: Some(rendered),
                    },
                    settings.cache_max_patients,
                );
            }
            Err(e) => {
                let told = match &e {
                    FhirError::Status {
                        status: 404 | 410, ..
                    } => Problem::same(format!("the EHR has no patient {id} (any more)")),
                    other => Problem::of(other),
                };
                let text = told.general.clone();
                // Only "no such patient" is an answer about the patient;
                // anything else (network, refused credentials, TLS, a
                // malformed answer) is the EHR failing.
                let gone = matches!(
                    e,
                    FhirError::Status {
                        status: 404 | 410,
                        ..
                    }
                );
                if !gone {
                    self.failed += 1;
                    self.problem.get_or_insert(told);
                    // Keep the last good read to show during the outage.
                    if cache
                        .get(&key, settings.cache_ttl)
                        .is_some_and(|old| old.result.is_ok())
                    {
                        return;
                    }
                } else {
                    self.ok += 1;
                }
                cache.put(
                    key,
                    CacheEntry {
                        result: Err(text),
                        fetched_at: read_at.0,
                        fetched: read_at.1,
                        rendered: None,
                    },
                    settings.cache_max_patients,
                );
            }
        }
    }
}
