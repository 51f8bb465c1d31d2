//! [`FhirClient`]: discovery once, then the contract's reads.
//!
//! (Over 500 lines: the client's reads and the per-patient read state they
//! fill, which only this file touches; each function stays short.)

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use reqwest::Method;
use rounds_core::vitals::LIST_SIGNS;
use serde::Serialize;
use serde_json::Value;

use crate::auth::{AuthConfig, TokenSource};
use crate::config::ClientConfig;
use crate::discovery::{parse_capabilities, parse_smart_configuration, Capabilities};
use crate::error::FhirError;
use crate::exec::{Executor, Path};
use crate::http::{build_client, Body, Http};
use crate::model::{self, Patient};
use crate::parse::{self, SearchSet};
use crate::query::{
    check_id, latest_vital_query, relative, section_query, PatientQuery, SectionQuery,
};
use crate::summary::{PatientSummary, Section, SectionKind, SectionStatus};
use crate::version::FhirVersion;

/// The answer to a patient search.
#[derive(Clone, Debug, Serialize)]
pub struct PatientSearch {
    /// The Bundle's `total`, when the server gives it.
    pub total: Option<u64>,
    /// The matches on the first page.
    pub patients: Vec<Patient>,
    /// Whether `POST Patient/_search` answered (else the GET fallback did).
    pub via_post: bool,
}

/// A client for one FHIR server. Cheap to clone; clones share the token
/// cache and the connection pool.
#[derive(Clone, Debug)]
pub struct FhirClient {
    http: Http,
    caps: Arc<Capabilities>,
    config: Arc<ClientConfig>,
    pub(crate) exec: Executor,
    post_search_refused: Arc<AtomicBool>,
}

/// Reads `metadata` (and `.well-known/smart-configuration`), without a token.
pub async fn discover(config: &ClientConfig) -> Result<Capabilities, FhirError> {
    let http = Http::new(build_client(config)?, config);
    discover_with(&http).await
}

async fn discover_with(http: &Http) -> Result<Capabilities, FhirError> {
    let url = http.url("metadata")?;
    let request = crate::http::label(&Method::GET, &url, &http.base);
    let body = http.get_public(url).await?;
    let mut caps = parse_capabilities(&body, &request)?;
    // Optional: absent or broken SMART configuration is not an error.
    if let Ok(url) = http.url(".well-known/smart-configuration") {
        match http.get_public(url).await {
            Ok(v) => caps.smart = Some(parse_smart_configuration(&v)),
            Err(e) => tracing::debug!(error = %e, "no SMART configuration"),
        }
    }
    Ok(caps)
}

impl FhirClient {
    /// Discovers the server and sets up authentication. The token endpoint
    /// is the configured one, else the SMART configuration's, else the
    /// `oauth-uris` extension's.
    pub async fn connect(config: ClientConfig) -> Result<Self, FhirError> {
        let client = build_client(&config)?;
        let mut http = Http::new(client, &config);
        let caps = discover_with(&http).await?;
        if !matches!(config.auth, AuthConfig::None) {
            let token_url = match config.auth.configured_token_url() {
                Some(u) => u.clone(),
                None => {
                    let found = caps.token_endpoint().ok_or_else(|| {
                        FhirError::Config(
                            "no token URL configured and the server publishes none".into(),
                        )
                    })?;
                    url::Url::parse(found).map_err(|e| {
                        FhirError::Config(format!("the server's token URL is not a URL: {e}"))
                    })?
                }
            };
            http.tokens = Some(Arc::new(TokenSource::new(
                config.auth.clone(),
                token_url,
                config.request_timeout,
                config.max_response_bytes,
            )?));
        }
        let exec = Executor::new(http.clone(), &config, caps.batch, caps.max_batch_entries);
        Ok(FhirClient {
            http,
            caps: Arc::new(caps),
            config: Arc::new(config),
            exec,
            post_search_refused: Arc::new(AtomicBool::new(false)),
        })
    }

    /// What discovery found.
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// The server's FHIR version.
    pub fn version(&self) -> FhirVersion {
        self.caps.version
    }

    /// The token source, when the client authenticates.
    pub fn token_source(&self) -> Option<&TokenSource> {
        self.http.tokens.as_deref()
    }

    /// Asks the token endpoint for a token now (or uses the cached one):
    /// whether the credentials work, without reading any data. `Ok` also
    /// when the client does not authenticate.
    pub async fn obtain_token(&self) -> Result<(), FhirError> {
        match &self.http.tokens {
            Some(tokens) => tokens
                .token(&self.http.client, self.http.outbound())
                .await
                .map(|_| ()),
            None => Ok(()),
        }
    }

    /// Which path several queries take next (batch or concurrent GETs).
    pub fn next_path(&self) -> Path {
        self.exec.choose()
    }

    /// `GET {base}/{relative}` with the token; the raw JSON (for the checker).
    pub async fn get(&self, relative: &str) -> Result<Value, FhirError> {
        let url = self.http.url(relative)?;
        self.http.send(Method::GET, url, &Body::None).await
    }

    /// Posts one batch Bundle of relative GET queries, whatever the batch
    /// mode (for the checker); one answer per query, in order.
    pub async fn post_batch(
        &self,
        queries: Vec<String>,
    ) -> Result<Vec<Result<Value, FhirError>>, FhirError> {
        crate::exec::post_batch(&self.http, &queries).await
    }

    /// Patient search: `POST Patient/_search` (form), or the same as a GET
    /// when the server refuses POST search.
    pub async fn search_patients(&self, query: &PatientQuery) -> Result<PatientSearch, FhirError> {
        let params = query.params(self.caps.version);
        let mut via_post = false;
        let mut answer = None;
        if !self.post_search_refused.load(Ordering::Relaxed) {
            let url = self.http.url("Patient/_search")?;
            match self
                .http
                .send(Method::POST, url, &Body::Form(params.clone()))
                .await
            {
                Ok(v) => {
                    via_post = true;
                    answer = Some(v);
                }
                Err(e) if refuses_post(&e) => {
                    tracing::debug!(error = %e, "POST search refused; using GET");
                    self.post_search_refused.store(true, Ordering::Relaxed);
                }
                Err(e) => return Err(e),
            }
        }
        let body = match answer {
            Some(v) => v,
            None => {
                let pairs: Vec<(&str, String)> = params
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.clone()))
                    .collect();
                let url = self.http.url(&relative("Patient", &pairs))?;
                self.http.send(Method::GET, url, &Body::None).await?
            }
        };
        let request = crate::error::RequestLabel("search Patient".into());
        let set = parse::search_set(body, &request)?;
        let patients = set
            .resources
            .iter()
            .filter(|r| parse::resource_type(r) == Some("Patient"))
            .map(|r| model::patient(r, self.caps.version))
            .collect();
        Ok(PatientSearch {
            total: set.total,
            patients,
            via_post,
        })
    }

    /// `GET Patient/{id}`.
    pub async fn read_patient(&self, id: &str) -> Result<Patient, FhirError> {
        let id = check_id(id)?;
        let url = self.http.url(&format!("Patient/{id}"))?;
        let request = crate::http::label(&Method::GET, &url, &self.http.base);
        let v = self.http.send(Method::GET, url, &Body::None).await?;
        patient_from(&v, id, &request, self.caps.version)
    }

    /// The summary of one patient (all sections).
    pub async fn summary(&self, id: &str) -> Result<PatientSummary, FhirError> {
        let mut all = self.summaries(&[id.to_owned()]).await;
        all.pop()
            .unwrap_or_else(|| Err(FhirError::Config("no summary produced".into())))
    }

    /// The queries a summary of each of `ids` starts with (the patient and
    /// its sections; follow-ups such as next pages come after), in order;
    /// ids that are not valid are left out.
    pub fn summary_queries(&self, ids: &[String]) -> Vec<String> {
        self.plan(ids).0
    }

    fn plan(&self, ids: &[String]) -> (Vec<String>, Vec<Result<Plan, FhirError>>) {
        let mut requests: Vec<String> = Vec::new();
        let mut plans: Vec<Result<Plan, FhirError>> = Vec::new();
        for id in ids {
            let id = match check_id(id) {
                Ok(id) => id.to_owned(),
                Err(e) => {
                    plans.push(Err(e));
                    continue;
                }
            };
            let patient_slot = requests.len();
            requests.push(format!("Patient/{id}"));
            let sections = SectionKind::ALL
                .iter()
                .map(|&kind| {
                    let planned =
                        section_query(kind, &self.caps, &id, self.config.page_size).map(|q| {
                            requests.push(q.url.clone());
                            (q, requests.len() - 1)
                        });
                    (kind, planned)
                })
                .collect();
            plans.push(Ok(Plan {
                id,
                patient_slot,
                sections,
            }));
        }
        (requests, plans)
    }

    /// Summaries of many patients, in order. The queries go out together
    /// (batch Bundles or bounded concurrent GETs). A patient that cannot be
    /// read is an error for that patient; a failed section fails only itself.
    pub async fn summaries(&self, ids: &[String]) -> Vec<Result<PatientSummary, FhirError>> {
        let (requests, plans) = self.plan(ids);
        let mut answers: Vec<Option<Result<Value, FhirError>>> = self
            .exec
            .run(requests)
            .await
            .into_iter()
            .map(Some)
            .collect();
        let mut take = |slot: usize| {
            answers
                .get_mut(slot)
                .and_then(Option::take)
                .unwrap_or_else(|| Err(FhirError::Config("lost an answer".into())))
        };

        // First pass: assemble, and note sections with a next page.
        let mut out = Vec::with_capacity(plans.len());
        for plan in plans {
            let plan = match plan {
                Ok(p) => p,
                Err(e) => {
                    out.push(Err(e));
                    continue;
                }
            };
            let request = crate::error::RequestLabel("GET Patient".into());
            let patient = match take(plan.patient_slot)
                .and_then(|v| patient_from(&v, &plan.id, &request, self.caps.version))
            {
                Ok(p) => p,
                Err(e) => {
                    out.push(Err(e));
                    continue;
                }
            };
            let mut raw = Vec::new();
            for (kind, planned) in plan.sections {
                let section = match planned {
                    Err(reason) => RawSection::missing(kind, reason),
                    Ok((query, slot)) => RawSection::from_answer(kind, query, take(slot)),
                };
                raw.push(section);
            }
            out.push(Ok((plan.id, patient, raw)));
        }

        // A vital sign a list shows that the latest readings did not hold
        // is asked for on its own, all such queries at once, beside paging.
        let mut direct: Vec<(usize, String)> = Vec::new();
        for (pi, item) in out.iter().enumerate() {
            let Ok((id, _, raw)) = item else { continue };
            // Only where the readings may go on past the page read (a full
            // page without `next` or `total`, as some servers' batch answers
            // are, may too): a first page that held them all says what is
            // not recorded.
            let full_page = self.config.page_size as usize;
            let Some(vitals) = raw.iter().find(|s| {
                s.kind == SectionKind::Vitals
                    && s.outcome.is_ok()
                    && (s.next.is_some()
                        || s.total.is_some_and(|t| t > s.resources.len() as u64)
                        || s.resources.len() >= full_page)
            }) else {
                continue;
            };
            for codes in missing_vitals(&vitals.resources) {
                direct.push((pi, latest_vital_query(&self.caps, id, codes)));
            }
        }
        let direct_answers = self
            .exec
            .run(direct.iter().map(|(_, q)| q.clone()).collect());
        let (direct_answers, ()) = tokio::join!(direct_answers, self.follow_pages(&mut out));
        for ((pi, _), answer) in direct.into_iter().zip(direct_answers) {
            if let Some(Ok((_, _, raw))) = out.get_mut(pi) {
                if let Some(vitals) = raw.iter_mut().find(|s| s.kind == SectionKind::Vitals) {
                    vitals.add_direct(answer);
                }
            }
        }

        self.name_payors(&mut out).await;

        let today = time::OffsetDateTime::now_utc().date();
        out.into_iter()
            .map(|item| {
                let (id, patient, raw) = item?;
                Ok(assemble(&id, patient, raw, self.caps.version, today))
            })
            .collect()
    }

    /// Reads the Organizations that coverages name as payor by reference
    /// only (and no `_include` brought), each once, all at once.
    async fn name_payors(&self, out: &mut [PatientRead]) {
        let mut wanted: Vec<String> = Vec::new();
        for item in out.iter() {
            let Ok((_, _, raw)) = item else { continue };
            for s in raw.iter().filter(|s| s.kind == SectionKind::Coverage) {
                for key in unnamed_payors(s, self.caps.version) {
                    if !s.names.contains_key(&key) && !wanted.contains(&key) {
                        wanted.push(key);
                    }
                }
            }
        }
        if wanted.is_empty() || !self.caps.supports("Organization") {
            return;
        }
        let answers = self.exec.run(wanted.clone()).await;
        let mut names = std::collections::HashMap::new();
        for (key, answer) in wanted.into_iter().zip(answers) {
            match answer {
                Ok(v) => {
                    if let Some((read, name)) = organization_name(&v) {
                        if read == key {
                            names.insert(key, name);
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot read a payor Organization"),
            }
        }
        for item in out.iter_mut() {
            let Ok((_, _, raw)) = item else { continue };
            for s in raw.iter_mut().filter(|s| s.kind == SectionKind::Coverage) {
                s.names
                    .extend(names.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
    }

    /// Follows `next` links of list sections, all pending pages at once,
    /// up to `max_pages` in all.
    async fn follow_pages(&self, out: &mut [PatientRead]) {
        for _ in 1..self.config.max_pages.max(1) {
            let mut pending = Vec::new();
            for (pi, item) in out.iter().enumerate() {
                let Ok((_, _, raw)) = item else { continue };
                for (si, s) in raw.iter().enumerate() {
                    if let (Some(next), true) = (&s.next, s.kind.pages()) {
                        pending.push((pi, si, next.clone()));
                    }
                }
            }
            if pending.is_empty() {
                break;
            }
            let links: Vec<String> = pending.iter().map(|(_, _, l)| l.clone()).collect();
            let pages = self.exec.get_links(links).await;
            for ((pi, si, _), page) in pending.into_iter().zip(pages) {
                if let Some(Ok((_, _, raw))) = out.get_mut(pi) {
                    if let Some(s) = raw.get_mut(si) {
                        s.add_page(page);
                    }
                }
            }
        }
    }
}

/// One patient's planned queries.
struct Plan {
    id: String,
    patient_slot: usize,
    /// Per section: its query and answer slot, or why it is missing.
    sections: Vec<(SectionKind, Planned)>,
}

/// One patient's answers before they are read into a summary.
type PatientRead = Result<(String, Patient, Vec<RawSection>), FhirError>;

/// A planned section query and the slot of its answer, or why the section
/// is missing.
type Planned = Result<(SectionQuery, usize), String>;

/// Whether an error to `POST _search` means "not this way" (then GET).
fn refuses_post(e: &FhirError) -> bool {
    match e.status() {
        Some(s) => matches!(s, 400 | 403 | 404 | 405 | 406 | 415 | 422 | 501),
        None => false,
    }
}

fn patient_from(
    v: &Value,
    id: &str,
    request: &crate::error::RequestLabel,
    version: FhirVersion,
) -> Result<Patient, FhirError> {
    if parse::resource_type(v) != Some("Patient") {
        return Err(FhirError::malformed(request, "the answer is not a Patient"));
    }
    let p = model::patient(v, version);
    if p.id != id {
        return Err(FhirError::malformed(
            request,
            "the server answered with another Patient than the one asked for",
        ));
    }
    Ok(p)
}

/// The signs of [`LIST_SIGNS`] that none of `resources` holds.
fn missing_vitals(resources: &[Value]) -> Vec<&'static [&'static str]> {
    let seen: std::collections::HashSet<String> = resources
        .iter()
        .filter_map(model::vital_sign)
        .map(|v| v.measurement.code)
        .collect();
    LIST_SIGNS
        .iter()
        .copied()
        .filter(|alternatives| !alternatives.iter().any(|c| seen.contains(*c)))
        .collect()
}

impl SectionKind {
    /// Whether more than the first page is worth reading.
    fn pages(self) -> bool {
        !matches!(self, SectionKind::Vitals | SectionKind::Encounter)
    }
}

/// `("Organization/{id}", name)` of an Organization resource.
fn organization_name(v: &Value) -> Option<(String, String)> {
    if parse::resource_type(v) != Some("Organization") {
        return None;
    }
    let id = parse::text(parse::str_of(v, "id"))?;
    let name = parse::text(parse::str_of(v, "name"))?;
    Some((format!("Organization/{id}"), name))
}

/// `Organization/{id}` of a reference (relative or absolute), if it is one
/// with a valid id.
fn organization_key(reference: &str) -> Option<String> {
    let mut parts = reference.trim_end_matches('/').rsplit('/');
    let id = parts.next()?;
    let kind = parts.next()?;
    (kind == "Organization" && check_id(id).is_ok()).then(|| format!("Organization/{id}"))
}

/// The payors a section's coverages name by reference only.
fn unnamed_payors(s: &RawSection, version: FhirVersion) -> Vec<String> {
    s.resources
        .iter()
        .filter_map(|r| model::coverage(r, version))
        .filter_map(|c| c.payor_reference.as_deref().and_then(organization_key))
        .collect()
}

/// A section's answers before they are read into records.
struct RawSection {
    kind: SectionKind,
    resource_type: String,
    outcome: Result<(), SectionStatus>,
    resources: Vec<Value>,
    total: Option<u64>,
    next: Option<String>,
    /// Vital signs: a query for one sign the latest readings lacked failed,
    /// so a sign not seen may still be recorded.
    direct_failed: bool,
    /// Names of referenced Organizations (`Organization/1` → name), from
    /// `_include` or read on their own: payors given without a display.
    names: std::collections::HashMap<String, String>,
}

impl RawSection {
    fn missing(kind: SectionKind, reason: String) -> Self {
        RawSection {
            kind,
            resource_type: String::new(),
            outcome: Err(SectionStatus::Missing { reason }),
            resources: Vec::new(),
            total: None,
            next: None,
            direct_failed: false,
            names: Default::default(),
        }
    }

    fn from_answer(
        kind: SectionKind,
        query: SectionQuery,
        answer: Result<Value, FhirError>,
    ) -> Self {
        let request = crate::error::RequestLabel(format!("GET {}", query.resource_type));
        let mut s = RawSection {
            kind,
            resource_type: query.resource_type,
            outcome: Ok(()),
            resources: Vec::new(),
            total: None,
            next: None,
            direct_failed: false,
            names: Default::default(),
        };
        match answer.and_then(|v| parse::search_set(v, &request)) {
            Ok(set) => s.take_set(set),
            Err(e) if e.status() == Some(404) => {
                s.outcome = Err(SectionStatus::Missing {
                    reason: format!("the server has no {} (HTTP 404)", s.resource_type),
                });
            }
            Err(e) => s.outcome = Err(failed(&e)),
        }
        s
    }

    fn take_set(&mut self, set: SearchSet) {
        if self.total.is_none() {
            self.total = set.total;
        }
        for r in &set.included {
            if let Some((key, name)) = organization_name(r) {
                self.names.insert(key, name);
            }
        }
        self.resources.extend(set.resources);
        self.next = set.next;
    }

    /// The answer to a query for one vital sign: its reading joins the
    /// latest ones. A failed one leaves the section partial.
    fn add_direct(&mut self, answer: Result<Value, FhirError>) {
        let request = crate::error::RequestLabel("GET Observation (one vital sign)".into());
        match answer.and_then(|v| parse::search_set(v, &request)) {
            Ok(set) => self.resources.extend(set.resources),
            Err(e) => {
                tracing::warn!(error = %e, "a query for one vital sign failed");
                self.direct_failed = true;
            }
        }
    }

    fn add_page(&mut self, page: Result<Value, FhirError>) {
        let request = crate::error::RequestLabel(format!("GET {} (next page)", self.resource_type));
        match page.and_then(|v| parse::search_set(v, &request)) {
            Ok(set) => self.take_set(set),
            Err(e) => {
                // What we have stands; the total will show it as partial.
                tracing::warn!(error = %e, "a next page failed");
                self.next = None;
            }
        }
    }
}

fn failed(e: &FhirError) -> SectionStatus {
    SectionStatus::Failed {
        reason: e.to_string(),
        retryable: e.should_retry(),
    }
}

/// Reads a section's resources into records, dropping other patients' ones.
fn read_section<T>(raw: &RawSection, pid: &str, read: impl Fn(&Value) -> Option<T>) -> Section<T> {
    if let Err(status) = &raw.outcome {
        return Section::with_status(status.clone());
    }
    let mut section = Section::with_status(SectionStatus::Empty);
    let mut of_type = 0usize;
    for r in &raw.resources {
        if parse::resource_type(r) != Some(raw.resource_type.as_str()) {
            continue;
        }
        of_type += 1;
        if !parse::belongs_to(r, pid) {
            section.foreign_dropped += 1;
            continue;
        }
        if let Some(item) = read(r) {
            section.items.push(item);
        }
    }
    if section.foreign_dropped > 0 {
        tracing::warn!(
            section = raw.kind.name(),
            dropped = section.foreign_dropped,
            "the server returned resources of other patients; dropped"
        );
    }
    section.status = match raw.total {
        _ if of_type == 0 => SectionStatus::Empty,
        Some(total)
            if (raw.kind.pages()
                || (raw.kind == SectionKind::Vitals
                    && raw.direct_failed
                    && !missing_vitals(&raw.resources).is_empty()))
                && total > of_type as u64 =>
        {
            SectionStatus::Partial {
                shown: section.items.len(),
                total,
            }
        }
        _ if section.items.is_empty() => SectionStatus::Empty,
        _ => SectionStatus::Complete,
    };
    section
}

fn assemble(
    pid: &str,
    patient: Patient,
    raw: Vec<RawSection>,
    version: FhirVersion,
    today: time::Date,
) -> PatientSummary {
    let find = |kind: SectionKind| raw.iter().find(|r| r.kind == kind);
    // Every kind is planned; the fallback only keeps this total.
    let fallback = RawSection::missing(SectionKind::Vitals, "not planned".into());
    let get = |kind: SectionKind| find(kind).unwrap_or(&fallback);
    let mut vitals = read_section(get(SectionKind::Vitals), pid, model::vital_sign);
    vitals.items = model::latest_vitals(std::mem::take(&mut vitals.items));
    let encounter = read_section(get(SectionKind::Encounter), pid, |v| {
        model::encounter(v, version)
    });
    let location = encounter
        .items
        .first()
        .and_then(model::Encounter::location_text);
    PatientSummary {
        age: patient
            .birth_date
            .as_deref()
            .and_then(|b| model::age_years(b, today)),
        location,
        vitals,
        conditions: read_section(get(SectionKind::Conditions), pid, |v| {
            model::condition(v, version)
        }),
        encounter,
        allergies: read_section(get(SectionKind::Allergies), pid, |v| {
            model::allergy(v, version)
        }),
        medications: read_section(get(SectionKind::Medications), pid, |v| {
            Some(model::medication(v, version))
        }),
        coverage: {
            let raw = get(SectionKind::Coverage);
            read_section(raw, pid, |v| {
                let mut c = model::coverage(v, version)?;
                if c.payor.is_none() {
                    c.payor = c
                        .payor_reference
                        .as_deref()
                        .and_then(organization_key)
                        .and_then(|k| raw.names.get(&k).cloned());
                }
                Some(c)
            })
        },
        patient,
    }
}
