//! Reading EHR data for lists and pages: from memory at once (what is due
//! is read again in the background, and the screens are told when it is
//! in), from the EHR only for what memory lacks, waiting at most the list
//! wait.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use rounds_core::lists::BuiltinColumn;
use rounds_core::{ListId, PatientId, TeamId, Timestamp};
use rounds_store::ehr::{EhrRef, StoredConnection};

use super::cache::CacheEntry;
use super::cells::ehr_builtin_value;
use super::client::generation;
use super::data::{today, EhrPatientData, EhrRowState, ListEhrStatus, Rendered};
use super::health::{Health, HealthState};
use super::tally::Tally;
use super::{lock, EhrSettings};
use crate::live::EHR_REFRESHED;
use crate::{App, AppError};

impl App {
    /// EHR data for these patients, answered from memory at once (stale
    /// while revalidate): data due for a re-read is shown as it is, with
    /// its read time, and read again in the background; when that read is
    /// done, the open screens of `lists` hear `ehrRefreshed`. Only patients
    /// with nothing in memory are waited for, at most the list wait (the
    /// read goes on after). `refresh` (asked for on demand) reads
    /// everything again and waits like a cold read.
    pub(crate) async fn ehr_data(
        &self,
        team: TeamId,
        refs: &[(PatientId, EhrRef)],
        refresh: bool,
        lists: &[ListId],
    ) -> Result<(ListEhrStatus, HashMap<PatientId, EhrPatientData>), AppError> {
        let Some(c) = self.stored_connection(team).await? else {
            return Ok(unconnected(refs));
        };
        let mut out = HashMap::new();
        let settings = self.ehr_settings().clone();
        let gen = generation(&c);
        let (missing, due) = self.to_read(team, &c, &gen, refs, refresh, &settings, &mut out);
        if !missing.is_empty() || !due.is_empty() {
            let wait = !missing.is_empty() || refresh;
            let ids: Vec<String> = missing.into_iter().chain(due).collect();
            let app = self.clone();
            let conn = c.clone();
            let asked = Instant::now();
            let lists = lists.to_vec();
            // Marked before the task starts, so that the next list to find
            // them due does not start a read of its own.
            let marked = Reading::mark(self.clone(), team, &ids);
            let mut task = tokio::spawn(async move {
                let _marked = marked;
                let read = app.fetch(&conn, ids, refresh.then_some(asked)).await;
                if let Some(read) = read {
                    let data = serde_json::json!({ "ehrIds": read });
                    app.notify_lists(&lists, EHR_REFRESHED, &data);
                }
            });
            if wait
                && tokio::time::timeout(settings.list_wait, &mut task)
                    .await
                    .is_err()
                && !task.is_finished()
            {
                self.note_slow(team, settings.list_wait);
            }
        }
        let pending = self.cached_data(team, &gen, refs, &settings, &mut out);
        let ranges = self.reference_ranges(team).await?;
        for data in out.values_mut() {
            if data.rendered.as_ref().is_some_and(|r| *r.ranges != *ranges) {
                data.rendered = None;
            }
            data.ranges = ranges.clone();
        }
        Ok((
            ListEhrStatus {
                connected: true,
                name: Some(c.name.clone()),
                health: self.health_of(team),
                pending,
            },
            out,
        ))
    }

    /// Which of `refs` to read from the EHR: those with nothing in memory,
    /// and those due for a re-read (all with `refresh`) that no read is
    /// busy with already; patients of another server go into `out`.
    #[allow(clippy::too_many_arguments)]
    fn to_read(
        &self,
        team: TeamId,
        c: &StoredConnection,
        gen: &str,
        refs: &[(PatientId, EhrRef)],
        refresh: bool,
        settings: &EhrSettings,
        out: &mut HashMap<PatientId, EhrPatientData>,
    ) -> (Vec<String>, Vec<String>) {
        let (mut missing, mut due) = (Vec::new(), Vec::new());
        let mut cache = lock(&self.ehr.cache);
        cache.sweep(settings.cache_ttl);
        for (p, r) in refs {
            if r.server != c.base_url {
                out.insert(
                    *p,
                    EhrPatientData {
                        ehr_id: r.id.clone(),
                        state: EhrRowState::OtherServer,
                        fetched_at: None,
                        reason: Some(
                            "added from another EHR server than the one the team's connection names now"
                                .into(),
                        ),
                        summary: None,
                        rendered: None,
                        ranges: Arc::default(),
                    },
                );
                continue;
            }
            let cached = cache.get(&(team, gen.to_owned(), r.id.clone()), settings.cache_ttl);
            self.metrics()
                .ehr_cache_lookup(!refresh && cached.as_ref().is_some_and(|e| !e.due(settings)));
            match cached {
                None => missing.push(r.id.clone()),
                Some(e) if refresh || e.due(settings) => due.push(r.id.clone()),
                Some(_) => {}
            }
        }
        drop(cache);
        missing.sort();
        missing.dedup();
        due.sort();
        due.dedup();
        if !refresh {
            // A re-read already under way (or waiting its turn) brings them.
            let busy = lock(&self.ehr.reading);
            due.retain(|id| !busy.contains_key(&(team, id.clone())));
        }
        (missing, due)
    }

    /// Fills `out` with what memory holds for `refs` (those not in it yet);
    /// true when some are still being read.
    fn cached_data(
        &self,
        team: TeamId,
        gen: &str,
        refs: &[(PatientId, EhrRef)],
        settings: &EhrSettings,
        out: &mut HashMap<PatientId, EhrPatientData>,
    ) -> bool {
        let mut pending = false;
        let day = today();
        let mut cache = lock(&self.ehr.cache);
        for (p, r) in refs {
            if out.contains_key(p) {
                continue;
            }
            let data = match cache.get(&(team, gen.to_owned(), r.id.clone()), settings.cache_ttl) {
                Some(CacheEntry {
                    result: Ok(summary),
                    fetched_at,
                    rendered,
                    ..
                }) => EhrPatientData {
                    ehr_id: r.id.clone(),
                    state: EhrRowState::Ok,
                    fetched_at: Some(fetched_at),
                    reason: None,
                    summary: Some(summary),
                    rendered: rendered.filter(|r| r.day == day),
                    ranges: Arc::default(),
                },
                Some(CacheEntry {
                    result: Err(reason),
                    fetched_at,
                    ..
                }) => EhrPatientData {
                    ehr_id: r.id.clone(),
                    state: EhrRowState::Failed,
                    fetched_at: Some(fetched_at),
                    reason: Some(reason),
                    summary: None,
                    rendered: None,
                    ranges: Arc::default(),
                },
                None => {
                    let health = self.health_of(team);
                    let (state, reason) = if health.state == HealthState::Down {
                        (
                            EhrRowState::Failed,
                            health
                                .message
                                .unwrap_or_else(|| "the EHR is not answering".into()),
                        )
                    } else {
                        pending = true;
                        (
                            EhrRowState::Pending,
                            "still being read from the EHR".to_owned(),
                        )
                    };
                    EhrPatientData {
                        ehr_id: r.id.clone(),
                        state,
                        fetched_at: None,
                        reason: Some(reason),
                        summary: None,
                        rendered: None,
                        ranges: Arc::default(),
                    }
                }
            };
            out.insert(*p, data);
        }
        pending
    }

    /// Reads these patients from the EHR into the cache; the ids read, or
    /// None when nothing was asked of the EHR. With `refresh_since`, data
    /// read before that instant is read again.
    async fn fetch(
        &self,
        c: &StoredConnection,
        ids: Vec<String>,
        refresh_since: Option<Instant>,
    ) -> Option<Vec<String>> {
        let guard = {
            let mut locks = lock(&self.ehr.fetch_locks);
            locks.entry(c.team_id).or_default().clone()
        };
        let _one_at_a_time = guard.lock().await;
        let settings = self.ehr_settings();
        let gen = generation(c);
        // After a failure, the EHR is asked again only after a pause.
        let health = self.health_of(c.team_id);
        if health.state == HealthState::Down
            && health
                .last_attempt
                .is_some_and(|at| at.elapsed() < settings.retry_after_failure)
        {
            return None;
        }
        // Another read may have brought them meanwhile.
        let ids: Vec<String> = {
            let mut cache = lock(&self.ehr.cache);
            ids.into_iter()
                .filter(|id| {
                    cache
                        .get(&(c.team_id, gen.clone(), id.clone()), settings.cache_ttl)
                        .is_none_or(|e| {
                            e.due(settings) || refresh_since.is_some_and(|since| e.fetched < since)
                        })
                })
                .collect()
        };
        if ids.is_empty() {
            return None;
        }
        let client = self.client_for(c).await.ok()?;
        let started = Instant::now();
        let results = client.summaries(&ids).await;
        let read_at = (Timestamp::now(), Instant::now());
        // Rendered here, once, outside the cache's lock, against the team's
        // ranges as they are now.
        let day = today();
        let ranges = self.reference_ranges(c.team_id).await.unwrap_or_default();
        let results: Vec<_> = ids
            .iter()
            .zip(results)
            .map(|(id, r)| {
                r.map(|summary| {
                    let summary = Arc::new(summary);
                    let rendered = Arc::new(Rendered::of(id, &summary, day.clone(), &ranges));
                    (summary, rendered)
                })
            })
            .collect();
        let mut tally = Tally::default();
        let mut cache = lock(&self.ehr.cache);
        for (id, result) in ids.iter().zip(results) {
            let key = (c.team_id, gen.clone(), id.clone());
            tally.store(&mut cache, key, id, result, read_at, settings);
        }
        drop(cache);
        let Tally {
            ok,
            failed,
            problem,
        } = tally;
        if failed > 0 {
            tracing::warn!(team = %c.team_id, read = ok, failed, "EHR reads failed");
        }
        self.metrics()
            .ehr_read(c.team_id, ok, failed, started.elapsed());
        self.note_health(c.team_id, ok, failed, problem);
        if self.shape_due(c.team_id, &client, failed > ok) {
            // After the read (its screens are not kept waiting), on a few
            // of the patients it read well.
            let app = self.clone();
            let conn = c.clone();
            let sample: Vec<String> = ids
                .iter()
                .filter(|id| {
                    lock(&self.ehr.cache)
                        .get(&(c.team_id, gen.clone(), (*id).clone()), settings.cache_ttl)
                        .is_some_and(|e| e.result.is_ok())
                })
                .take(rounds_fhir::SAMPLE_PATIENTS)
                .cloned()
                .collect();
            tokio::spawn(async move { app.measure_shape(&conn, &client, &sample).await });
        }
        Some(ids)
    }
    /// The EHR data of one patient of the team, if it is an EHR patient.
    /// A re-read in the background is told to the open screens of `lists`
    /// (the lists holding the patient).
    pub(crate) async fn ehr_patient(
        &self,
        team: TeamId,
        patient: PatientId,
        refresh: bool,
        lists: &[ListId],
    ) -> Result<Option<EhrPatientData>, AppError> {
        let r = {
            let mut conn = self.db.read().await?;
            rounds_store::ehr::ref_of(&mut conn, patient).await?
        };
        let Some(r) = r else { return Ok(None) };
        let (_, mut data) = self.ehr_data(team, &[(patient, r)], refresh, lists).await?;
        Ok(data.remove(&patient))
    }

    /// Name, MRN and birth date of the team's EHR patients whose EHR data
    /// is in memory now (nothing is read from the EHR for this).
    pub(crate) async fn remembered_demographics(
        &self,
        team: TeamId,
    ) -> Result<HashMap<PatientId, (String, String, String)>, AppError> {
        let (c, refs) = {
            let mut conn = self.db.read().await?;
            (
                rounds_store::ehr::connection(&mut conn, team).await?,
                rounds_store::ehr::refs_of_team(&mut conn, team).await?,
            )
        };
        let Some(c) = c else {
            return Ok(HashMap::new());
        };
        let gen = generation(&c);
        let ttl = self.ehr_settings().cache_ttl;
        let mut cache = lock(&self.ehr.cache);
        let mut out = HashMap::new();
        for (patient, r) in refs {
            if r.server != c.base_url {
                continue;
            }
            if let Some(CacheEntry { result: Ok(s), .. }) =
                cache.get(&(team, gen.clone(), r.id.clone()), ttl)
            {
                let name = ehr_builtin_value(&s, BuiltinColumn::Name)
                    .map(|(t, _)| t)
                    .unwrap_or_default();
                out.insert(
                    patient,
                    (
                        name,
                        s.patient.mrn.clone().unwrap_or_default(),
                        s.patient.birth_date.clone().unwrap_or_default(),
                    ),
                );
            }
        }
        Ok(out)
    }
}

/// Marks a team's patients as being read while it lives.
struct Reading {
    app: App,
    keys: Vec<(TeamId, String)>,
}

impl Reading {
    fn mark(app: App, team: TeamId, ids: &[String]) -> Self {
        let keys: Vec<(TeamId, String)> = ids.iter().map(|id| (team, id.clone())).collect();
        let mut busy = lock(&app.ehr.reading);
        for key in &keys {
            *busy.entry(key.clone()).or_default() += 1;
        }
        drop(busy);
        Self { app, keys }
    }
}

impl Drop for Reading {
    fn drop(&mut self) {
        let mut busy = lock(&self.app.ehr.reading);
        for key in &self.keys {
            // Another read may have marked it too: counted, not a set.
            if let Some(n) = busy.get_mut(key) {
                *n -= 1;
                if *n == 0 {
                    busy.remove(key);
                }
            }
        }
    }
}

/// Every patient failed: the team has no connection.
fn unconnected(
    refs: &[(PatientId, EhrRef)],
) -> (ListEhrStatus, HashMap<PatientId, EhrPatientData>) {
    let mut out = HashMap::new();
    for (p, r) in refs {
        out.insert(
            *p,
            EhrPatientData {
                ehr_id: r.id.clone(),
                state: EhrRowState::Failed,
                fetched_at: None,
                reason: Some("the team has no EHR connection any more".into()),
                summary: None,
                rendered: None,
                ranges: Arc::default(),
            },
        );
    }
    (
        ListEhrStatus {
            connected: false,
            name: None,
            health: Health::default(),
            pending: false,
        },
        out,
    )
}
