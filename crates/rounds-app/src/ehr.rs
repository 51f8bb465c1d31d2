//! EHR mode: a team's connection to its FHIR server (owners set it; its
//! secret is sealed at rest), searching the EHR, EHR patients on lists,
//! and the in-memory cache their EHR data lives in.
//!
//! What the EHR says about a patient is never written to the database or
//! the log: the database holds the server and Patient id; the data stays
//! in [`EhrCache`], bounded in size and age, and is gone at restart.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rounds_core::audit::Operation;
use rounds_core::lists::{BuiltinColumn, EhrColumn};
use rounds_core::validate::{InvalidInput, TextKind};
use rounds_core::{ListId, PatientId, TeamId, Timestamp};
use rounds_fhir::check::{CheckReport, Outcome as CheckOutcome};
use rounds_fhir::model::{Allergy, Condition, VitalSign};
use rounds_fhir::{
    AuthConfig, BatchMode, ClientAuthMethod, ClientConfig, FhirClient, FhirError, JwtAlgorithm,
    OutboundPolicy, PatientQuery, PatientSummary, SectionStatus,
};
use rounds_store::ehr::{EhrRef, StoredConnection};
use serde_json::{json, Value};

pub use rounds_fhir::Secret;

use crate::access::{Need, Subject};
use crate::live::Change;
use crate::secret_box::SecretBox;
use crate::{Actor, App, AppError};

/// Limits of EHR mode; the defaults suit a hospital network.
#[derive(Debug, Clone)]
pub struct EhrSettings {
    /// A list re-reads a patient's EHR data older than this.
    pub refresh_after: Duration,
    /// EHR data is dropped from memory this long after it was read (it is
    /// shown, with its age, while the EHR does not answer).
    pub cache_ttl: Duration,
    /// At most this many patients' EHR data in memory (oldest dropped).
    pub cache_max_patients: usize,
    /// How long a list waits for EHR data before it shows what it has
    /// (the read goes on; the next look shows the rest).
    pub list_wait: Duration,
    /// After the EHR failed, wait this long before trying again.
    pub retry_after_failure: Duration,
    /// Whole-request limit for one FHIR request.
    pub request_timeout: Duration,
    /// Where connections may go.
    pub outbound: Arc<OutboundPolicy>,
    /// Extra CA certificates for hospital servers with a private CA.
    pub extra_ca_file: Option<PathBuf>,
}

impl Default for EhrSettings {
    fn default() -> Self {
        Self {
            refresh_after: Duration::from_secs(60),
            cache_ttl: Duration::from_secs(300),
            cache_max_patients: 5000,
            list_wait: Duration::from_secs(5),
            retry_after_failure: Duration::from_secs(15),
            request_timeout: Duration::from_secs(15),
            outbound: Arc::new(OutboundPolicy::default()),
            extra_ca_file: None,
        }
    }
}

/// How a connection authenticates, as an owner sets it.
#[derive(Debug, Clone)]
pub enum EhrAuthSpec {
    None,
    ClientCredentials {
        client_id: String,
        /// None keeps the saved secret (prints as `[redacted]`).
        client_secret: Option<Secret>,
        /// `basic` or `post`.
        method: Option<String>,
        scope: Option<String>,
        token_url: Option<String>,
    },
    BackendServices {
        client_id: String,
        scope: Option<String>,
        token_url: Option<String>,
        /// Make a new key pair (one is made when there is none).
        new_key: bool,
    },
}

/// A team's connection as an owner sets it.
#[derive(Debug, Clone)]
pub struct EhrConnectionSpec {
    pub name: String,
    pub base_url: String,
    pub auth: EhrAuthSpec,
    /// `auto`, `always` or `never`.
    pub batch_mode: Option<String>,
}

/// The state of a team's EHR as the last reads found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthState {
    /// Not read yet.
    Unknown,
    Ok,
    /// Answering, but some reads failed.
    Degraded,
    /// Not answering.
    Down,
}

impl HealthState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Ok => "ok",
            Self::Degraded => "degraded",
            Self::Down => "down",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Health {
    pub state: HealthState,
    /// What went wrong, in general terms: shown to every member.
    pub message: Option<String>,
    /// The same with the EHR's own words (error texts, status details,
    /// OperationOutcome diagnostics): for the team's owners only, who
    /// configure the connection.
    pub detail: Option<String>,
    pub last_good_read: Option<Timestamp>,
    /// Since when the EHR has been failing.
    pub since: Option<Timestamp>,
    last_attempt: Option<Instant>,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            state: HealthState::Unknown,
            message: None,
            detail: None,
            last_good_read: None,
            since: None,
            last_attempt: None,
        }
    }
}

/// What an owner sees of the connection (never the secret itself).
#[derive(Debug, Clone)]
pub struct OwnerView {
    pub base_url: String,
    pub auth_kind: String,
    pub client_id: Option<String>,
    pub method: Option<String>,
    pub scope: Option<String>,
    pub token_url: Option<String>,
    pub has_secret: bool,
    pub key_id: Option<String>,
    pub public_jwks: Option<Value>,
    pub batch_mode: String,
    pub updated_at: Timestamp,
    pub updated_by: Option<String>,
}

/// A team's connection as a member sees it; `owner` only for owners.
#[derive(Debug, Clone)]
pub struct EhrConnectionView {
    pub connected: bool,
    pub name: Option<String>,
    pub health: Option<Health>,
    pub owner: Option<OwnerView>,
}

/// What "Test connection" found.
#[derive(Debug, Clone)]
pub struct EhrTestReport {
    pub ok: bool,
    pub version: Option<String>,
    pub fhir_version: Option<String>,
    pub auth: String,
    pub token_obtained: Option<bool>,
    pub batch: bool,
    pub resources: Vec<String>,
    pub patient_search: bool,
    pub checks: Vec<EhrCheck>,
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct EhrCheck {
    pub section: String,
    pub title: String,
    pub outcome: &'static str,
    pub detail: String,
}

/// One match of an EHR search.
#[derive(Debug, Clone)]
pub struct EhrSearchHit {
    pub ehr_id: String,
    pub name: String,
    pub mrn: Option<String>,
    pub birth_date: Option<String>,
    pub gender: Option<String>,
    pub on_list: bool,
    /// The team's patient with this EHR record, if it has one.
    pub patient_id: Option<PatientId>,
}

#[derive(Debug, Clone)]
pub struct EhrSearchResult {
    pub total: Option<u64>,
    pub hits: Vec<EhrSearchHit>,
}

/// Search criteria, as typed.
#[derive(Debug, Clone, Default)]
pub struct EhrSearch {
    pub name: Option<String>,
    pub family: Option<String>,
    pub given: Option<String>,
    pub mrn: Option<String>,
    pub birth_date: Option<String>,
    pub gender: Option<String>,
    pub id: Option<String>,
    pub count: Option<u32>,
}

/// The state of one EHR-derived cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellState {
    Ok,
    Empty,
    Missing,
    Failed,
    Pending,
}

impl CellState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Empty => "empty",
            Self::Missing => "missing",
            Self::Failed => "failed",
            Self::Pending => "pending",
        }
    }
}

/// One EHR-derived cell of a row: its state, when its value was measured
/// or recorded, and why it is empty when it is (when it was read is the
/// row's [`EhrPatientData::fetched_at`]).
#[derive(Debug, Clone)]
pub struct EhrCell {
    pub state: CellState,
    pub at: Option<String>,
    pub reason: Option<String>,
    pub shown: Option<usize>,
    pub total: Option<u64>,
    /// For sorting and filtering: a number (vitals, age) …
    pub number: Option<f64>,
    /// … or the raw form (dates).
    pub raw: Option<String>,
}

/// How an EHR patient's data stands on a row or page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EhrRowState {
    Ok,
    Pending,
    Failed,
    /// Added from another server than the team's connection now names.
    OtherServer,
}

impl EhrRowState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Pending => "pending",
            Self::Failed => "failed",
            Self::OtherServer => "otherServer",
        }
    }
}

/// An EHR patient's data for one row or page.
#[derive(Debug, Clone)]
pub struct EhrPatientData {
    pub ehr_id: String,
    pub state: EhrRowState,
    pub fetched_at: Option<Timestamp>,
    pub reason: Option<String>,
    pub summary: Option<Arc<PatientSummary>>,
}

/// The EHR's state as a list shows it (the banner).
#[derive(Debug, Clone)]
pub struct ListEhrStatus {
    pub connected: bool,
    pub name: Option<String>,
    pub health: Health,
    /// Some cells are still being read: look again shortly.
    pub pending: bool,
}

/// Per team, server and Patient id: teams reaching one server with
/// different credentials (a gateway's tenants) never share what they read.
/// The middle part is the connection's generation.
type CacheKey = (TeamId, String, String);

#[derive(Debug, Clone)]
struct CacheEntry {
    result: Result<Arc<PatientSummary>, String>,
    fetched_at: Timestamp,
    fetched: Instant,
}

impl CacheEntry {
    /// Whether it is time to read the EHR again: a good read after
    /// `refresh_after`, a failed one after `retry_after_failure`.
    fn due(&self, settings: &EhrSettings) -> bool {
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
    entries: HashMap<CacheKey, CacheEntry>,
}

impl EhrCache {
    fn get(&mut self, key: &CacheKey, ttl: Duration) -> Option<CacheEntry> {
        let entry = self.entries.get(key)?;
        if entry.fetched.elapsed() > ttl {
            self.entries.remove(key);
            return None;
        }
        Some(entry.clone())
    }

    fn put(&mut self, key: CacheKey, entry: CacheEntry, max: usize) {
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

    fn clear(&mut self) {
        self.entries.clear();
    }

    /// Drops everything older than `ttl`.
    fn sweep(&mut self, ttl: Duration) {
        self.entries.retain(|_, e| e.fetched.elapsed() <= ttl);
    }
}

struct ClientSlot {
    generation: String,
    client: FhirClient,
}

/// A fingerprint of everything that decides which server Rounds reads and
/// as whom. It changes with any change of the connection (a sealed secret
/// changes with every save) and never comes back after a delete, so a
/// client or a cached read of an earlier connection is never used for a
/// later one, on this instance or another.
fn generation(c: &StoredConnection) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in [
        Some(c.team_id.to_string()),
        Some(c.base_url.clone()),
        Some(c.auth_kind.clone()),
        c.client_id.clone(),
        c.auth_method.clone(),
        c.scope.clone(),
        c.token_url.clone(),
        c.secret_sealed.clone(),
        c.key_id.clone(),
        Some(c.batch_mode.clone()),
        Some(c.updated_at.millis().to_string()),
    ] {
        h.update(part.unwrap_or_default().as_bytes());
        h.update([0u8]);
    }
    hex::encode(&h.finalize()[..12])
}

/// Per-process EHR state: clients, health, cache.
#[derive(Default)]
pub(crate) struct EhrState {
    settings: EhrSettings,
    secret_box: std::sync::RwLock<Option<Arc<SecretBox>>>,
    clients: Mutex<HashMap<TeamId, ClientSlot>>,
    /// One connect (reading `metadata`) per team at a time; other teams
    /// never wait for it.
    connect_locks: Mutex<HashMap<TeamId, Arc<tokio::sync::Mutex<()>>>>,
    health: Mutex<HashMap<TeamId, Health>>,
    cache: Mutex<EhrCache>,
    /// One read of a team's patients at a time; a second waits and then
    /// finds the first one's results in the cache.
    fetch_locks: Mutex<HashMap<TeamId, Arc<tokio::sync::Mutex<()>>>>,
}

impl EhrState {
    pub(crate) fn new(settings: EhrSettings) -> Self {
        Self {
            settings,
            ..Self::default()
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn trimmed(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A one-line value typed by a person (see [`TextKind::Line`]); None when empty.
fn line(field: &str, v: Option<&str>) -> Result<Option<String>, InvalidInput> {
    v.map(|v| rounds_core::validate::text(field, v, TextKind::Line, usize::MAX))
        .transpose()
        .map(Option::flatten)
}

const NAME_MAX: usize = 100;
const SECRET_KEY_CHECK: &str = "secret_key_check";

fn secret_context(team: TeamId) -> String {
    format!("ehr-connection:{team}")
}

/// A problem with the EHR, told twice: in general terms for every member,
/// and in detail for owners and the log.
#[derive(Debug, Clone)]
struct Problem {
    general: String,
    detail: String,
}

impl Problem {
    fn of(e: &FhirError) -> Self {
        Self {
            general: fhir_general(e),
            detail: fhir_message(e),
        }
    }

    fn same(text: String) -> Self {
        Self {
            general: text.clone(),
            detail: text,
        }
    }
}

/// What kind of failure `e` is, without anything the server said or where
/// it is (no address, port, connection error text or diagnostics): what
/// members see. Owners see [`fhir_message`].
fn fhir_general(e: &FhirError) -> String {
    let what = match e {
        FhirError::Network { .. } => "the EHR could not be reached".to_owned(),
        FhirError::Timeout { .. } => "the EHR did not answer in time".to_owned(),
        FhirError::Tls { .. } => "the EHR's secure connection could not be set up".to_owned(),
        FhirError::Status { status, .. } => {
            format!("the EHR answered with an error (HTTP {status})")
        }
        FhirError::Malformed { .. } => "the EHR's answer could not be read".to_owned(),
        FhirError::UnsupportedVersion { .. } | FhirError::NotOffered { .. } => {
            "the EHR does not offer what Rounds needs".to_owned()
        }
        FhirError::AuthRefused { .. } => {
            "the EHR's authorization server refused Rounds' credentials".to_owned()
        }
        FhirError::Config(_) => "the EHR connection's settings cannot work".to_owned(),
        _ => "the EHR could not be read".to_owned(),
    };
    format!("{what}; a team owner sees the details on the team's EHR page")
}

fn fhir_message(e: &FhirError) -> String {
    match e {
        FhirError::Network { .. } => format!("the EHR could not be reached ({e})"),
        FhirError::Timeout { .. } => format!("the EHR did not answer in time ({e})"),
        FhirError::AuthRefused { .. } => format!(
            "the EHR's authorization server refused Rounds' credentials ({e}); check the client id, secret or registered key"
        ),
        _ => e.to_string(),
    }
}

/// Number text without needless decimals.
fn num(v: f64) -> String {
    rounds_core::lists::format_number((v * 10.0).round() / 10.0)
}

fn vital_text(v: &VitalSign, column: EhrColumn) -> (String, Option<f64>) {
    let unit = v.measurement.unit.as_deref().unwrap_or("");
    if column == EhrColumn::BloodPressure {
        let part = |code: &str| {
            v.components
                .iter()
                .find(|c| c.code == code)
                .and_then(|c| c.value)
        };
        let (sys, dia) = (part("8480-6"), part("8462-4"));
        let unit = v
            .components
            .iter()
            .find_map(|c| c.unit.clone())
            .unwrap_or_else(|| "mmHg".into());
        return match (sys, dia) {
            (Some(s), Some(d)) => (format!("{}/{} {unit}", num(s), num(d)), Some(s)),
            (Some(s), None) => (format!("{}/– {unit}", num(s)), Some(s)),
            _ => (String::new(), None),
        };
    }
    match v.measurement.value {
        Some(value) => (
            format!("{} {unit}", num(value)).trim().to_owned(),
            Some(value),
        ),
        None => (String::new(), None),
    }
}

fn section_cell(status: &SectionStatus) -> EhrCell {
    let mut cell = EhrCell {
        state: CellState::Ok,
        at: None,
        reason: None,
        shown: None,
        total: None,
        number: None,
        raw: None,
    };
    match status {
        SectionStatus::Missing { reason } => {
            cell.state = CellState::Missing;
            cell.reason = Some(reason.clone());
        }
        SectionStatus::Empty => {
            cell.state = CellState::Empty;
            cell.reason = Some("none recorded in the EHR".into());
        }
        SectionStatus::Complete => {}
        SectionStatus::Partial { shown, total } => {
            cell.shown = Some(*shown);
            cell.total = Some(*total);
        }
        // The reason holds the EHR's own words: owners find it on the
        // team's EHR page.
        SectionStatus::Failed { retryable, .. } => {
            cell.state = CellState::Failed;
            cell.reason = Some(if *retryable {
                "the EHR read failed; it is tried again".into()
            } else {
                "the EHR read failed".into()
            });
        }
    }
    cell
}

fn joined(items: impl Iterator<Item = String>, total: Option<u64>) -> String {
    let items: Vec<String> = items.filter(|s| !s.is_empty()).collect();
    let shown = items.len();
    let mut text = items.into_iter().take(3).collect::<Vec<_>>().join("; ");
    let all = total.map_or(shown as u64, |t| t.max(shown as u64));
    if all > 3 {
        text.push_str(&format!(" (+{})", all - 3));
    }
    text
}

/// The text and cell of one EHR-derived column for a read summary.
pub(crate) fn ehr_column_value(s: &PatientSummary, column: EhrColumn) -> (String, EhrCell) {
    use EhrColumn as C;
    match column {
        C::EncounterStatus | C::EncounterType | C::EncounterStart => {
            let mut cell = section_cell(&s.encounter.status);
            let Some(e) = s.encounter.items.first() else {
                return (String::new(), cell);
            };
            cell.at = e.start.clone();
            let text = match column {
                C::EncounterStatus => e.status.clone(),
                C::EncounterType => e.kind.clone(),
                _ => e.start.clone(),
            }
            .unwrap_or_default();
            if column == C::EncounterStart {
                cell.raw = e.start.clone();
            }
            if text.is_empty() && cell.state == CellState::Ok {
                cell.state = CellState::Empty;
                cell.reason = Some("the last encounter does not say".into());
            }
            (text, cell)
        }
        C::Conditions => {
            let cell = section_cell(&s.conditions.status);
            let total = cell.total;
            let text = joined(
                s.conditions.items.iter().filter_map(Condition::label),
                total,
            );
            let mut cell = cell;
            cell.at = s
                .conditions
                .items
                .iter()
                .filter_map(|c| c.recorded.clone())
                .max();
            (text, cell)
        }
        C::Allergies => {
            let mut cell = section_cell(&s.allergies.status);
            let total = cell.total;
            let text = joined(s.allergies.items.iter().filter_map(Allergy::label), total);
            cell.at = s
                .allergies
                .items
                .iter()
                .filter_map(|a| a.recorded.clone())
                .max();
            (text, cell)
        }
        C::Medications => {
            let mut cell = section_cell(&s.medications.status);
            let total = cell.total;
            let text = joined(
                s.medications
                    .items
                    .iter()
                    .filter_map(|m| m.medication.clone()),
                total,
            );
            cell.at = s
                .medications
                .items
                .iter()
                .filter_map(|m| m.written.clone())
                .max();
            (text, cell)
        }
        C::Coverage => {
            let mut cell = section_cell(&s.coverage.status);
            let total = cell.total;
            let today = Timestamp::now().to_rfc3339();
            let today = today.get(..10).unwrap_or_default();
            let text = joined(
                s.coverage.items.iter().filter_map(|c| c.label(today)),
                total,
            );
            cell.at = s
                .coverage
                .items
                .iter()
                .filter_map(|c| c.period_start.clone())
                .max();
            (text, cell)
        }
        C::Gp => {
            let mut cell = section_cell(&SectionStatus::Complete);
            let text = s.patient.general_practitioner.clone().unwrap_or_default();
            if text.is_empty() {
                cell.state = CellState::Empty;
                cell.reason = Some("the EHR names no GP".into());
            }
            (text, cell)
        }
        vital => {
            let mut cell = section_cell(&s.vitals.status);
            let found = s
                .vitals
                .items
                .iter()
                .find(|v| vital.loinc().contains(&v.measurement.code.as_str()));
            match found {
                Some(v) => {
                    let (text, number) = vital_text(v, vital);
                    cell.at = v.effective.clone();
                    cell.number = number;
                    cell.raw = number.map(num);
                    cell.total = None;
                    cell.shown = None;
                    (text, cell)
                }
                None => {
                    if matches!(cell.state, CellState::Ok) {
                        cell.state = CellState::Empty;
                        cell.reason = Some(match (cell.shown, cell.total) {
                            (Some(shown), Some(total)) => format!(
                                "no {} among the {shown} latest vital signs read ({total} in the EHR)",
                                vital.label()
                            ),
                            _ => format!("no {} recorded in the EHR", vital.label()),
                        });
                    }
                    cell.shown = None;
                    cell.total = None;
                    (String::new(), cell)
                }
            }
        }
    }
}

/// The text and cell of a built-in column for an EHR patient.
pub(crate) fn ehr_builtin_value(
    s: &PatientSummary,
    column: BuiltinColumn,
) -> Option<(String, EhrCell)> {
    let mut cell = section_cell(&SectionStatus::Complete);
    let p = &s.patient;
    let text = match column {
        BuiltinColumn::Name => {
            let family = p.family.clone().unwrap_or_default().to_uppercase();
            let given = p.given.join(" ");
            match (family.is_empty(), given.is_empty()) {
                (false, false) => format!("{family}, {given}"),
                (false, true) => family,
                (true, false) => given,
                _ => p.name_text.clone().unwrap_or_default(),
            }
        }
        BuiltinColumn::Mrn => p.mrn.clone().unwrap_or_default(),
        BuiltinColumn::AgeSex => {
            cell.number = s.age.map(f64::from);
            let sex = match p.gender.as_deref() {
                Some("female") => "F",
                Some("male") => "M",
                Some("other") => "X",
                Some("unknown") => "?",
                _ => "",
            };
            format!("{} {sex}", s.age.map(|a| a.to_string()).unwrap_or_default())
                .trim()
                .to_owned()
        }
        BuiltinColumn::BirthDate => {
            cell.raw = p.birth_date.clone();
            p.birth_date.clone().unwrap_or_default()
        }
        BuiltinColumn::Location => {
            let mut c = section_cell(&s.encounter.status);
            // Since when the patient is there; for a past place, when they left.
            c.at = s.encounter.items.first().and_then(|e| match &e.location {
                Some(_) => e.start.clone(),
                None => e.last_location.as_ref().and_then(|l| l.until.clone()),
            });
            cell = c;
            s.location.clone().unwrap_or_default()
        }
        BuiltinColumn::Added => return None,
    };
    if text.is_empty() && cell.state == CellState::Ok {
        cell.state = CellState::Empty;
        cell.reason = Some("not in the EHR record".into());
    }
    Some((text, cell))
}

/// A cell for a patient whose EHR data could not be had.
pub(crate) fn unavailable_cell(state: CellState, reason: &str) -> EhrCell {
    EhrCell {
        state,
        at: None,
        reason: Some(reason.to_owned()),
        shown: None,
        total: None,
        number: None,
        raw: None,
    }
}

impl App {
    fn ehr_settings(&self) -> &EhrSettings {
        &self.ehr.settings
    }

    /// The fingerprint of the key this database's secrets are sealed
    /// with, and how many teams' connections hold a sealed secret.
    pub async fn secret_key_check(&self) -> Result<(Option<String>, usize), AppError> {
        let mut conn = self.db.read().await?;
        let fingerprint = rounds_store::site::get(&mut conn, SECRET_KEY_CHECK).await?;
        let sealed = rounds_store::ehr::sealed_secrets(&mut conn).await?;
        Ok((fingerprint, sealed))
    }

    /// Installs the key that seals connection secrets. The database records
    /// the fingerprint of the first key it is given; a key with another
    /// fingerprint is refused (`Conflict`, naming both fingerprints), sealed
    /// secrets or not, so that every instance on one database uses one key.
    pub async fn install_secret_key(&self, key: SecretBox) -> Result<(), AppError> {
        let fingerprint = key.fingerprint();
        let mut tx = self.db.write().await?;
        match rounds_store::site::get(tx.conn(), SECRET_KEY_CHECK).await? {
            Some(recorded) if recorded == fingerprint => {}
            Some(recorded) => {
                let sealed = rounds_store::ehr::sealed_secrets(tx.conn()).await?;
                return Err(AppError::Conflict {
                    message: format!(
                        "this database expects the secret key with fingerprint {recorded}, but was given the key with \
                         fingerprint {fingerprint} ({sealed} team(s) hold EHR secrets sealed with the expected key)"
                    ),
                });
            }
            None => {
                rounds_store::site::set(
                    tx.conn(),
                    SECRET_KEY_CHECK,
                    &fingerprint,
                    Timestamp::now(),
                )
                .await?;
            }
        }
        tx.commit().await?;
        self.set_secret_box(key);
        Ok(())
    }

    /// Makes `key` the database's secret key in place of the recorded one,
    /// which is only possible while nothing is sealed with the old one.
    pub async fn replace_secret_key(&self, key: SecretBox) -> Result<(), AppError> {
        let fingerprint = key.fingerprint();
        let mut tx = self.db.write().await?;
        let sealed = rounds_store::ehr::sealed_secrets(tx.conn()).await?;
        if sealed > 0 {
            return Err(AppError::Conflict {
                message: format!(
                    "{sealed} team(s) hold EHR secrets sealed with the recorded key: replacing it would make them unreadable; \
                     give Rounds the recorded key instead"
                ),
            });
        }
        rounds_store::site::set(tx.conn(), SECRET_KEY_CHECK, &fingerprint, Timestamp::now())
            .await?;
        tx.commit().await?;
        self.set_secret_box(key);
        Ok(())
    }

    fn set_secret_box(&self, key: SecretBox) {
        let mut slot = self
            .ehr
            .secret_box
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *slot = Some(Arc::new(key));
    }

    fn secret_box(&self) -> Result<Arc<SecretBox>, AppError> {
        self.ehr
            .secret_box
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .ok_or_else(|| {
                AppError::Internal("no secret key installed for EHR connection secrets".into())
            })
    }

    fn health_of(&self, team: TeamId) -> Health {
        lock(&self.ehr.health)
            .get(&team)
            .cloned()
            .unwrap_or_default()
    }

    fn note_health(&self, team: TeamId, ok: usize, failed: usize, problem: Option<Problem>) {
        let mut all = lock(&self.ehr.health);
        let h = all.entry(team).or_default();
        h.last_attempt = Some(Instant::now());
        let now = Timestamp::now();
        if ok > 0 {
            h.last_good_read = Some(now);
        }
        if failed == 0 {
            h.state = HealthState::Ok;
            h.message = None;
            h.detail = None;
            h.since = None;
        } else {
            let state = if ok == 0 {
                HealthState::Down
            } else {
                HealthState::Degraded
            };
            if h.since.is_none() || matches!(h.state, HealthState::Ok | HealthState::Unknown) {
                h.since = Some(now);
            }
            h.state = state;
            h.message = problem.as_ref().map(|p| p.general.clone());
            h.detail = problem.map(|p| p.detail);
        }
    }

    /// The EHR has not answered within the list's wait: the banner says so
    /// until the read finishes.
    fn note_slow(&self, team: TeamId, waited: Duration) {
        let mut all = lock(&self.ehr.health);
        let h = all.entry(team).or_default();
        if h.state != HealthState::Down {
            if h.state != HealthState::Degraded {
                h.since = Some(Timestamp::now());
            }
            h.state = HealthState::Degraded;
            h.message = Some(format!(
                "the EHR has not answered within {} s; its data follows when it does",
                waited.as_secs()
            ));
            h.detail = h.message.clone();
        }
    }

    fn forget_connection(&self, team: TeamId) {
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

    async fn stored_connection(&self, team: TeamId) -> Result<Option<StoredConnection>, AppError> {
        let mut conn = self.db.read().await?;
        Ok(rounds_store::ehr::connection(&mut conn, team).await?)
    }

    /// The client settings of a stored connection, its secret opened.
    fn client_config(&self, c: &StoredConnection) -> Result<ClientConfig, AppError> {
        let s = self.ehr_settings();
        let mut config = ClientConfig::new(&c.base_url)
            .map_err(|e| InvalidInput::new("baseUrl", e.to_string()))?;
        config.request_timeout = s.request_timeout;
        config.extra_ca_file = s.extra_ca_file.clone();
        config.outbound = s.outbound.clone();
        config.batch_mode = match c.batch_mode.as_str() {
            "always" => BatchMode::Always,
            "never" => BatchMode::Never,
            _ => BatchMode::Auto,
        };
        let token_url = c
            .token_url
            .as_deref()
            .map(url::Url::parse)
            .transpose()
            .map_err(|e| InvalidInput::new("auth.tokenUrl", e.to_string()))?;
        let secret = || -> Result<Secret, AppError> {
            let sealed = c.secret_sealed.as_deref().ok_or_else(|| {
                InvalidInput::new("auth", "the connection has no saved secret: set it again")
            })?;
            let plain = self
                .secret_box()?
                .open(sealed, &secret_context(c.team_id))
                .map_err(|e| {
                    AppError::Internal(format!("cannot open the connection secret: {e}"))
                })?;
            let text = String::from_utf8(plain)
                .map_err(|_| AppError::Internal("the connection secret is not text".into()))?;
            Ok(Secret::new(text))
        };
        config.auth = match c.auth_kind.as_str() {
            "clientCredentials" => AuthConfig::ClientCredentials {
                client_id: c.client_id.clone().unwrap_or_default(),
                client_secret: secret()?,
                method: if c.auth_method.as_deref() == Some("post") {
                    ClientAuthMethod::ClientSecretPost
                } else {
                    ClientAuthMethod::ClientSecretBasic
                },
                scope: c.scope.clone(),
                token_url,
            },
            "backendServices" => AuthConfig::BackendServices {
                client_id: c.client_id.clone().unwrap_or_default(),
                private_key_pem: secret()?,
                algorithm: JwtAlgorithm::Es384,
                key_id: c.key_id.clone(),
                scope: c.scope.clone(),
                token_url,
            },
            _ => AuthConfig::None,
        };
        Ok(config)
    }

    /// The team's FHIR client, connecting (reading `metadata`) when needed.
    async fn client_for(&self, c: &StoredConnection) -> Result<FhirClient, Problem> {
        let gen = generation(c);
        let cached = |app: &Self| {
            lock(&app.ehr.clients)
                .get(&c.team_id)
                .filter(|slot| slot.generation == gen)
                .map(|slot| slot.client.clone())
        };
        if let Some(client) = cached(self) {
            return Ok(client);
        }
        let team_lock = lock(&self.ehr.connect_locks)
            .entry(c.team_id)
            .or_default()
            .clone();
        let _one_connect = team_lock.lock().await;
        if let Some(client) = cached(self) {
            return Ok(client);
        }
        let health = self.health_of(c.team_id);
        if health.state == HealthState::Down {
            if let Some(at) = health.last_attempt {
                if at.elapsed() < self.ehr_settings().retry_after_failure {
                    let general = health
                        .message
                        .unwrap_or_else(|| "the EHR is not answering".into());
                    return Err(Problem {
                        detail: health.detail.unwrap_or_else(|| general.clone()),
                        general,
                    });
                }
            }
        }
        let config = self.client_config(c).map_err(|e| Problem {
            general: "the EHR connection's settings cannot work; a team owner sees the details on the team's EHR page".into(),
            detail: e.to_string(),
        })?;
        match FhirClient::connect(config).await {
            Ok(client) => {
                lock(&self.ehr.clients).insert(
                    c.team_id,
                    ClientSlot {
                        generation: gen,
                        client: client.clone(),
                    },
                );
                Ok(client)
            }
            Err(e) => {
                let problem = Problem::of(&e);
                tracing::warn!(team = %c.team_id, error = %e, "EHR connection failed");
                self.note_health(c.team_id, 0, 1, Some(problem.clone()));
                Err(problem)
            }
        }
    }

    // ---- the connection ------------------------------------------------

    /// The team's connection: its name and health for members, the
    /// settings (never the secret) for owners.
    pub async fn ehr_connection(
        &self,
        actor: &Actor,
        team: TeamId,
    ) -> Result<EhrConnectionView, AppError> {
        let role = self
            .team_access(actor, team, Need::Member, "getEhrConnection")
            .await?;
        let Some(c) = self.stored_connection(team).await? else {
            return Ok(EhrConnectionView {
                connected: false,
                name: None,
                health: None,
                owner: None,
            });
        };
        let owner = if role == rounds_core::model::TeamRole::Owner {
            let updated_by = match c.updated_by {
                Some(u) => {
                    let mut conn = self.db.read().await?;
                    rounds_store::users::by_id(&mut conn, u)
                        .await?
                        .map(|u| u.display_name)
                }
                None => None,
            };
            Some(OwnerView {
                base_url: c.base_url.clone(),
                auth_kind: c.auth_kind.clone(),
                client_id: c.client_id.clone(),
                method: c.auth_method.clone(),
                scope: c.scope.clone(),
                token_url: c.token_url.clone(),
                has_secret: c.secret_sealed.is_some(),
                key_id: c.key_id.clone(),
                public_jwks: c
                    .public_jwk
                    .as_deref()
                    .and_then(|j| serde_json::from_str::<Value>(j).ok())
                    .map(|jwk| json!({ "keys": [jwk] })),
                batch_mode: c.batch_mode.clone(),
                updated_at: c.updated_at,
                updated_by,
            })
        } else {
            None
        };
        let mut health = self.health_of(team);
        if owner.is_some() {
            // Owners configure the connection: they see the EHR's own words.
            health.message = health.detail.clone().or(health.message);
        }
        Ok(EhrConnectionView {
            connected: true,
            name: Some(c.name.clone()),
            health: Some(health),
            owner,
        })
    }

    /// Checks a spec and makes the row to store, merging the saved secret
    /// and key when the spec keeps them.
    fn connection_row(
        &self,
        actor: &Actor,
        team: TeamId,
        spec: &EhrConnectionSpec,
        saved: Option<&StoredConnection>,
    ) -> Result<(StoredConnection, bool), AppError> {
        let name = rounds_core::validate::text("name", &spec.name, TextKind::Name, NAME_MAX)?
            .ok_or_else(|| {
                InvalidInput::new("name", "give the connection a name of 1 to 100 characters")
            })?;
        // An address Rounds may reach, or why not (named by its field).
        let reachable = |field: &'static str, text: &str| -> Result<url::Url, InvalidInput> {
            let url = rounds_fhir::parse_base_url(text)
                .map_err(|e| InvalidInput::new(field, fhir_config_text(&e)))?;
            self.ehr_settings()
                .outbound
                .check_url(&url)
                .map_err(|e| InvalidInput::new(field, fhir_config_text(&e)))?;
            Ok(url)
        };
        let base = reachable("baseUrl", &spec.base_url)?;
        let batch_mode = match spec.batch_mode.as_deref().map(str::trim) {
            None | Some("") | Some("auto") => "auto",
            Some("always") => "always",
            Some("never") => "never",
            Some(other) => {
                return Err(InvalidInput::new(
                    "batchMode",
                    format!("{other:?} is not one of auto, always, never"),
                )
                .into())
            }
        };
        let check_token_url = |t: &Option<String>| -> Result<Option<String>, InvalidInput> {
            trimmed(t)
                .map(|t| reachable("auth.tokenUrl", &t).map(|u| u.to_string()))
                .transpose()
        };
        let context = secret_context(team);
        let mut row = StoredConnection {
            team_id: team,
            name,
            // One spelling per server: `…/fhir` and `…/fhir/` are the same.
            base_url: base.as_str().trim_end_matches('/').to_owned(),
            auth_kind: "none".into(),
            client_id: None,
            auth_method: None,
            scope: None,
            token_url: None,
            secret_sealed: None,
            key_id: None,
            public_jwk: None,
            batch_mode: batch_mode.into(),
            updated_at: Timestamp::now(),
            updated_by: Some(actor.user.id),
        };
        let mut new_key = false;
        match &spec.auth {
            EhrAuthSpec::None => {}
            EhrAuthSpec::ClientCredentials {
                client_id,
                client_secret,
                method,
                scope,
                token_url,
            } => {
                row.auth_kind = "clientCredentials".into();
                row.client_id = Some(line("auth.clientId", Some(client_id))?.ok_or_else(|| {
                    InvalidInput::new(
                        "auth.clientId",
                        "give the client id registered with the EHR",
                    )
                })?);
                row.auth_method = Some(match method.as_deref().map(str::trim) {
                    None | Some("") | Some("basic") => "basic".into(),
                    Some("post") => "post".into(),
                    Some(other) => {
                        return Err(InvalidInput::new(
                            "auth.method",
                            format!("{other:?} is not one of basic, post"),
                        )
                        .into())
                    }
                });
                row.scope = line("auth.scope", scope.as_deref())?;
                row.token_url = check_token_url(token_url)?;
                row.secret_sealed = match client_secret.as_ref().map(Secret::expose).filter(|s| !s.is_empty()) {
                    Some(secret) => Some(
                        self.secret_box()?
                            .seal(secret.as_bytes(), &context)
                            .map_err(|e| {
                                AppError::Internal(format!("cannot seal the secret: {e}"))
                            })?,
                    ),
                    None => match saved {
                        // A saved secret only ever goes where it went before.
                        Some(s)
                            if s.auth_kind == "clientCredentials"
                                && s.base_url == row.base_url
                                && s.token_url == row.token_url =>
                        {
                            s.secret_sealed.clone()
                        }
                        Some(s) if s.auth_kind == "clientCredentials" => {
                            return Err(InvalidInput::new(
                                "auth.clientSecret",
                                "give the client secret again: the address changed, and Rounds never sends a saved secret to a new address",
                            )
                            .into())
                        }
                        _ => None,
                    },
                };
                if row.secret_sealed.is_none() {
                    return Err(InvalidInput::new(
                        "auth.clientSecret",
                        "give the client secret registered with the EHR",
                    )
                    .into());
                }
            }
            EhrAuthSpec::BackendServices {
                client_id,
                scope,
                token_url,
                new_key: rotate,
            } => {
                row.auth_kind = "backendServices".into();
                row.client_id = Some(line("auth.clientId", Some(client_id))?.ok_or_else(|| {
                    InvalidInput::new(
                        "auth.clientId",
                        "give the client id registered with the EHR",
                    )
                })?);
                row.scope = line("auth.scope", scope.as_deref())?;
                row.token_url = check_token_url(token_url)?;
                let keep = saved.filter(|s| {
                    !rotate && s.auth_kind == "backendServices" && s.secret_sealed.is_some()
                });
                match keep {
                    Some(s) => {
                        row.secret_sealed = s.secret_sealed.clone();
                        row.key_id = s.key_id.clone();
                        row.public_jwk = s.public_jwk.clone();
                    }
                    None => {
                        let key = crate::smart_keys::generate_es384().map_err(|e| {
                            AppError::Internal(format!("cannot make a key pair: {e}"))
                        })?;
                        row.secret_sealed = Some(
                            self.secret_box()?
                                .seal(key.private_key_pem.as_bytes(), &context)
                                .map_err(|e| {
                                    AppError::Internal(format!("cannot seal the key: {e}"))
                                })?,
                        );
                        row.key_id = Some(key.kid.clone());
                        row.public_jwk = Some(key.public_jwk.to_string());
                        new_key = true;
                    }
                }
            }
        }
        Ok((row, new_key))
    }

    /// Sets or changes the team's connection (owners only); recorded as
    /// EHRConnectionSet.
    pub async fn set_ehr_connection(
        &self,
        actor: &Actor,
        team: TeamId,
        spec: &EhrConnectionSpec,
    ) -> Result<EhrConnectionView, AppError> {
        self.team_access(actor, team, Need::Owner, "setEhrConnection")
            .await?;
        let mut tx = self.db.write().await?;
        let saved = rounds_store::ehr::connection(tx.conn(), team).await?;
        let (row, new_key) = self.connection_row(actor, team, spec, saved.as_ref())?;
        rounds_store::ehr::put_connection(tx.conn(), &row).await?;
        self.audit_done(
            &mut tx,
            actor,
            Operation::EhrConnectionSet,
            Subject::team(team),
            json!({
                "action": if saved.is_some() { "changed" } else { "set" },
                "name": row.name,
                "baseUrl": row.base_url,
                "auth": row.auth_kind,
                "clientId": row.client_id,
                "newKey": new_key,
                "keyId": row.key_id,
                "secretChanged": saved.as_ref().map_or(row.secret_sealed.is_some(), |s| s.secret_sealed != row.secret_sealed),
            }),
        )
        .await?;
        tx.commit().await?;
        lock(&self.ehr.clients).remove(&team);
        self.forget_connection(team);
        self.ehr_connection(actor, team).await
    }

    /// Removes the team's connection (owners only); its EHR patients stay
    /// on their lists with what the team typed. Recorded as EHRConnectionSet.
    pub async fn delete_ehr_connection(&self, actor: &Actor, team: TeamId) -> Result<(), AppError> {
        self.team_access(actor, team, Need::Owner, "deleteEhrConnection")
            .await?;
        let mut tx = self.db.write().await?;
        let Some(saved) = rounds_store::ehr::connection(tx.conn(), team).await? else {
            return Err(AppError::NotFound {
                what: "EHR connection",
            });
        };
        rounds_store::ehr::delete_connection(tx.conn(), team).await?;
        self.audit_done(
            &mut tx,
            actor,
            Operation::EhrConnectionSet,
            Subject::team(team),
            json!({ "action": "removed", "name": saved.name, "baseUrl": saved.base_url }),
        )
        .await?;
        tx.commit().await?;
        lock(&self.ehr.clients).remove(&team);
        self.forget_connection(team);
        Ok(())
    }

    /// "Test connection" (owners only): the saved connection, or `spec`
    /// (not saved; its omitted secrets taken from the saved one).
    pub async fn test_ehr_connection(
        &self,
        actor: &Actor,
        team: TeamId,
        spec: Option<&EhrConnectionSpec>,
    ) -> Result<EhrTestReport, AppError> {
        self.team_access(actor, team, Need::Owner, "testEhrConnection")
            .await?;
        let saved = self.stored_connection(team).await?;
        let (row, throwaway_key) = match (spec, &saved) {
            (Some(spec), saved) => self.connection_row(actor, team, spec, saved.as_ref())?,
            (None, Some(saved)) => (saved.clone(), false),
            (None, None) => {
                return Err(InvalidInput::new(
                    "baseUrl",
                    "the team has no EHR connection yet: give one to test",
                )
                .into())
            }
        };
        let config = self.client_config(&row)?;
        let auth = config.auth.method_name().to_owned();
        let has_auth = !matches!(config.auth, AuthConfig::None);
        let report: CheckReport = rounds_fhir::check::check(config, None).await;
        let checks: Vec<EhrCheck> = report
            .items
            .iter()
            .map(|i| EhrCheck {
                section: i.section.to_owned(),
                title: i.requirement.clone(),
                outcome: match i.outcome {
                    CheckOutcome::Pass => "pass",
                    CheckOutcome::Fail => "fail",
                    CheckOutcome::NotOffered => "notOffered",
                },
                detail: i.reason.clone(),
            })
            .collect();
        let mut out = EhrTestReport {
            ok: !report.mandatory_failed(),
            version: report.version.map(|v| v.to_string()),
            fhir_version: None,
            auth,
            token_obtained: None,
            batch: false,
            resources: Vec::new(),
            patient_search: report.items.iter().any(|i| {
                i.mandatory
                    && i.requirement.starts_with("Patient search")
                    && i.outcome == CheckOutcome::Pass
            }),
            checks,
            error: None,
        };
        match &report.capabilities {
            Some(caps) => {
                out.fhir_version = Some(caps.fhir_version.clone());
                out.batch = caps.batch;
                out.resources = caps.resources.keys().cloned().collect();
                out.resources.sort();
                if has_auth {
                    out.token_obtained = Some(report.items.iter().any(|i| {
                        i.requirement.starts_with("authentication: a token")
                            && i.outcome == CheckOutcome::Pass
                    }));
                }
            }
            None => {
                out.ok = false;
                out.error = report.items.first().map(|i| {
                    format!(
                        "Rounds could not read the EHR's metadata: {} (check the base URL, and that the server answers from where Rounds runs)",
                        i.reason
                    )
                });
            }
        }
        if out.error.is_none() && !out.ok {
            out.error = report
                .items
                .iter()
                .find(|i| i.mandatory && i.outcome == CheckOutcome::Fail)
                .map(|i| format!("{}: {}", i.requirement, i.reason));
        }
        if throwaway_key && !out.ok {
            out.error = Some(format!(
                "this test signed with a key pair made just for it, which the EHR cannot know: save the connection, register the public key it shows with the EHR, then test again ({})",
                out.error.unwrap_or_default()
            ));
        }
        Ok(out)
    }

    // ---- searching and adding -------------------------------------------

    async fn connected(&self, team: TeamId) -> Result<(StoredConnection, FhirClient), AppError> {
        let Some(c) = self.stored_connection(team).await? else {
            return Err(AppError::Conflict {
                message:
                    "the team has no EHR connection: a team owner sets one on the team's EHR page"
                        .into(),
            });
        };
        let client = self
            .client_for(&c)
            .await
            .map_err(|problem| AppError::EhrUnavailable {
                message: problem.general,
            })?;
        Ok((c, client))
    }

    /// Searches the team's EHR from a list; recorded as PatientSearch with
    /// the query.
    pub async fn search_ehr(
        &self,
        actor: &Actor,
        team: TeamId,
        list: ListId,
        search: &EhrSearch,
    ) -> Result<EhrSearchResult, AppError> {
        self.team_access(actor, team, Need::Member, "searchEhr")
            .await?;
        {
            let mut conn = self.db.read().await?;
            self.list_in_team(&mut conn, actor, team, list).await?;
        }
        let query = PatientQuery {
            id: line("id", search.id.as_deref())?,
            family: line("family", search.family.as_deref())?,
            given: line("given", search.given.as_deref())?,
            name: line("name", search.name.as_deref())?,
            birthdate: line("birthDate", search.birth_date.as_deref())?,
            gender: line("gender", search.gender.as_deref())?,
            identifier: line("mrn", search.mrn.as_deref())?,
            count: Some(search.count.unwrap_or(20).clamp(1, 50)),
        };
        if query.id.is_none()
            && query.family.is_none()
            && query.given.is_none()
            && query.name.is_none()
            && query.birthdate.is_none()
            && query.gender.is_none()
            && query.identifier.is_none()
        {
            return Err(InvalidInput::new(
                "name",
                "give at least one of name, family, given, MRN, birth date, gender or id",
            )
            .into());
        }
        if let Some(b) = &query.birthdate {
            if time::Date::parse(b, time::macros::format_description!("[year]-[month]-[day]"))
                .is_err()
            {
                return Err(InvalidInput::new("birthDate", "give the date as YYYY-MM-DD").into());
            }
        }
        if let Some(g) = &query.gender {
            if !matches!(g.as_str(), "female" | "male" | "other" | "unknown") {
                return Err(InvalidInput::new(
                    "gender",
                    format!("{g:?} is not one of female, male, other, unknown"),
                )
                .into());
            }
        }
        if let Some(id) = &query.id {
            rounds_fhir::check_id(id).map_err(|e| InvalidInput::new("id", fhir_config_text(&e)))?;
        }
        let (c, client) = self.connected(team).await?;
        let found = client.search_patients(&query).await;
        let mut entry = self.entry_for(
            actor,
            Operation::PatientSearch,
            match &found {
                Ok(_) => rounds_core::audit::Outcome::Success,
                Err(_) => rounds_core::audit::Outcome::Refused("the EHR search failed".into()),
            },
        );
        entry.team_id = Some(team);
        entry.list_id = Some(list.to_string());
        entry.detail = json!({
            "source": "ehr",
            "server": c.base_url,
            "query": {
                "name": query.name, "family": query.family, "given": query.given,
                "mrn": query.identifier, "birthDate": query.birthdate,
                "gender": query.gender, "id": query.id,
            },
            "results": found.as_ref().map(|f| f.patients.len()).ok(),
            "total": found.as_ref().ok().and_then(|f| f.total),
        });
        self.record(entry).await?;
        let found = found.map_err(|e| {
            tracing::warn!(team = %team, error = %e, "EHR search failed");
            AppError::EhrUnavailable {
                message: fhir_general(&e),
            }
        })?;
        let mut conn = self.db.read().await?;
        let refs = rounds_store::ehr::refs_of_team(&mut conn, team).await?;
        let on_list: std::collections::HashSet<PatientId> =
            rounds_store::patients::entries(&mut conn, list)
                .await?
                .into_iter()
                .map(|e| e.patient_id)
                .collect();
        drop(conn);
        let by_ehr: HashMap<&str, PatientId> = refs
            .iter()
            .filter(|(_, r)| r.server == c.base_url)
            .map(|(p, r)| (r.id.as_str(), *p))
            .collect();
        let hits = found
            .patients
            .iter()
            .map(|p| {
                let patient_id = by_ehr.get(p.id.as_str()).copied();
                EhrSearchHit {
                    ehr_id: p.id.clone(),
                    name: p.display_name(),
                    mrn: p.mrn.clone(),
                    birth_date: p.birth_date.clone(),
                    gender: p.gender.clone(),
                    on_list: patient_id.is_some_and(|id| on_list.contains(&id)),
                    patient_id,
                }
            })
            .collect();
        Ok(EhrSearchResult {
            total: found.total,
            hits,
        })
    }

    /// Checks that the team's EHR has this patient; returns the reference.
    pub(crate) async fn ehr_ref_for(
        &self,
        team: TeamId,
        ehr_id: &str,
        field: &'static str,
    ) -> Result<EhrRef, AppError> {
        let id = rounds_fhir::check_id(ehr_id.trim())
            .map_err(|e| InvalidInput::new(field, fhir_config_text(&e)))?
            .to_owned();
        let (c, client) = self.connected(team).await?;
        match client.read_patient(&id).await {
            Ok(_) => Ok(EhrRef {
                server: c.base_url,
                id,
            }),
            Err(FhirError::Status {
                status: 404 | 410, ..
            }) => {
                Err(InvalidInput::new(field, format!("the team's EHR has no patient {id}")).into())
            }
            Err(e) => {
                tracing::warn!(team = %team, error = %e, "EHR patient read failed");
                Err(AppError::EhrUnavailable {
                    message: fhir_general(&e),
                })
            }
        }
    }

    /// Links a manual patient to its EHR record, keeping what the team
    /// typed and wrote; recorded as PatientDetailsEdit.
    pub async fn link_patient(
        &self,
        actor: &Actor,
        team: TeamId,
        patient: PatientId,
        ehr_id: &str,
    ) -> Result<(), AppError> {
        self.team_access(actor, team, Need::Member, "linkPatient")
            .await?;
        {
            let mut conn = self.db.read().await?;
            self.patient_in_team(&mut conn, actor, team, patient)
                .await?;
        }
        let r = self.ehr_ref_for(team, ehr_id, "ehrId").await?;
        let mut tx = self.db.write().await?;
        self.patient_in_team(tx.conn(), actor, team, patient)
            .await?;
        if let Some(existing) = rounds_store::ehr::ref_of(tx.conn(), patient).await? {
            if existing == r {
                return Ok(());
            }
            return Err(AppError::Conflict {
                message: format!(
                    "the patient is already linked to EHR patient {}: unlink first",
                    existing.id
                ),
            });
        }
        if let Some(other) = rounds_store::ehr::patient_with_ref(tx.conn(), team, &r).await? {
            return Err(AppError::Duplicate {
                field: "ehrId",
                message: format!("another patient of the team ({other}) is this EHR patient"),
            });
        }
        self.set_link(tx, actor, team, patient, Some(&r)).await
    }

    /// Stores a patient's EHR link (or its removal), records it as
    /// PatientDetailsEdit and tells the lists holding the patient.
    async fn set_link(
        &self,
        mut tx: rounds_store::WriteTx<'_>,
        actor: &Actor,
        team: TeamId,
        patient: PatientId,
        link: Option<&EhrRef>,
    ) -> Result<(), AppError> {
        let before = rounds_store::ehr::ref_of(tx.conn(), patient).await?;
        rounds_store::ehr::set_ref(tx.conn(), patient, link).await?;
        if let (None, Some(b)) = (link, &before) {
            // What was read for the link goes with it.
            lock(&self.ehr.cache)
                .entries
                .retain(|(t, _, id), _| !(*t == team && *id == b.id));
        }
        let detail = match (link, &before) {
            (Some(r), _) => json!({ "ehrLink": { "server": r.server, "id": r.id } }),
            (None, Some(b)) => json!({ "ehrUnlink": { "server": b.server, "id": b.id } }),
            (None, None) => Value::Null,
        };
        self.audit_done(
            &mut tx,
            actor,
            Operation::PatientDetailsEdit,
            Subject::patient(team, patient),
            detail,
        )
        .await?;
        let lists = rounds_store::patients::lists_of(tx.conn(), patient).await?;
        self.announce(
            &mut tx,
            team,
            &lists,
            &Change::PatientUpdated {
                patient_id: patient,
                fields: json!({ "ehrId": link.map(|r| r.id.clone()) }),
            },
            actor,
        )
        .await?;
        self.commit(tx).await?;
        Ok(())
    }

    /// Unlinks a patient from its EHR record; the team's data stays.
    pub async fn unlink_patient(
        &self,
        actor: &Actor,
        team: TeamId,
        patient: PatientId,
    ) -> Result<(), AppError> {
        self.team_access(actor, team, Need::Member, "unlinkPatient")
            .await?;
        let mut tx = self.db.write().await?;
        self.patient_in_team(tx.conn(), actor, team, patient)
            .await?;
        if rounds_store::ehr::ref_of(tx.conn(), patient)
            .await?
            .is_none()
        {
            return Err(AppError::Conflict {
                message: "the patient is not linked to an EHR record".into(),
            });
        }
        self.set_link(tx, actor, team, patient, None).await
    }

    // ---- reading EHR data for lists and pages -------------------------------

    /// EHR data for these patients: from memory when fresh, else read
    /// (waiting at most the list wait; the read goes on in the background).
    pub(crate) async fn ehr_data(
        &self,
        team: TeamId,
        refs: &[(PatientId, EhrRef)],
        refresh: bool,
    ) -> Result<(ListEhrStatus, HashMap<PatientId, EhrPatientData>), AppError> {
        let mut out = HashMap::new();
        let connection = self.stored_connection(team).await?;
        let Some(c) = connection else {
            for (p, r) in refs {
                out.insert(
                    *p,
                    EhrPatientData {
                        ehr_id: r.id.clone(),
                        state: EhrRowState::Failed,
                        fetched_at: None,
                        reason: Some("the team has no EHR connection any more".into()),
                        summary: None,
                    },
                );
            }
            return Ok((
                ListEhrStatus {
                    connected: false,
                    name: None,
                    health: Health::default(),
                    pending: false,
                },
                out,
            ));
        };
        let settings = self.ehr_settings().clone();
        let gen = generation(&c);
        lock(&self.ehr.cache).sweep(settings.cache_ttl);
        let mut wanted: Vec<String> = Vec::new();
        {
            let mut cache = lock(&self.ehr.cache);
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
                        },
                    );
                    continue;
                }
                let cached = cache.get(&(team, gen.clone(), r.id.clone()), settings.cache_ttl);
                self.metrics().ehr_cache_lookup(
                    !refresh && cached.as_ref().is_some_and(|e| !e.due(&settings)),
                );
                if refresh || cached.is_none_or(|e| e.due(&settings)) {
                    wanted.push(r.id.clone());
                }
            }
        }
        wanted.sort();
        wanted.dedup();
        if !wanted.is_empty() {
            let app = self.clone();
            let conn = c.clone();
            let ids = wanted.clone();
            let asked = Instant::now();
            let mut task =
                tokio::spawn(async move { app.fetch(&conn, ids, refresh.then_some(asked)).await });
            if tokio::time::timeout(settings.list_wait, &mut task)
                .await
                .is_err()
                && !task.is_finished()
            {
                self.note_slow(team, settings.list_wait);
            }
        }
        let mut pending = false;
        {
            let mut cache = lock(&self.ehr.cache);
            for (p, r) in refs {
                if out.contains_key(p) {
                    continue;
                }
                let data = match cache.get(&(team, gen.clone(), r.id.clone()), settings.cache_ttl) {
                    Some(CacheEntry {
                        result: Ok(summary),
                        fetched_at,
                        ..
                    }) => EhrPatientData {
                        ehr_id: r.id.clone(),
                        state: EhrRowState::Ok,
                        fetched_at: Some(fetched_at),
                        reason: None,
                        summary: Some(summary),
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
                        }
                    }
                };
                out.insert(*p, data);
            }
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

    /// Reads these patients from the EHR into the cache.
    /// With `refresh_since`, data read before that instant is read again.
    async fn fetch(&self, c: &StoredConnection, ids: Vec<String>, refresh_since: Option<Instant>) {
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
            return;
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
            return;
        }
        let client = match self.client_for(c).await {
            Ok(client) => client,
            Err(_) => return,
        };
        let started = Instant::now();
        let results = client.summaries(&ids).await;
        let now = Timestamp::now();
        let fetched = Instant::now();
        let (mut ok, mut failed, mut problem) = (0usize, 0usize, None::<Problem>);
        let mut cache = lock(&self.ehr.cache);
        for (id, result) in ids.iter().zip(results) {
            let key = (c.team_id, gen.clone(), id.clone());
            match result {
                Ok(summary) => {
                    let section_failed = summary.statuses().iter().find_map(|(kind, s)| match s {
                        SectionStatus::Failed { reason, .. } => Some((kind.name(), reason)),
                        _ => None,
                    });
                    ok += 1;
                    if let Some((kind, reason)) = section_failed {
                        failed += 1;
                        problem.get_or_insert_with(|| Problem {
                            general: format!("some EHR reads failed ({kind}); a team owner sees the details on the team's EHR page"),
                            detail: format!("some EHR reads failed ({kind}: {reason})"),
                        });
                        // The last good read (with its time) stays shown.
                        if cache
                            .get(&key, settings.cache_ttl)
                            .is_some_and(|old| old.result.is_ok())
                        {
                            continue;
                        }
                    }
                    cache.put(
                        key,
                        CacheEntry {
                            result: Ok(Arc::new(summary)),
                            fetched_at: now,
                            fetched,
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
                        failed += 1;
                        problem.get_or_insert(told);
                        // Keep the last good read to show during the outage.
                        if cache
                            .get(&key, settings.cache_ttl)
                            .is_some_and(|old| old.result.is_ok())
                        {
                            continue;
                        }
                    } else {
                        ok += 1;
                    }
                    cache.put(
                        key,
                        CacheEntry {
                            result: Err(text),
                            fetched_at: now,
                            fetched,
                        },
                        settings.cache_max_patients,
                    );
                }
            }
        }
        drop(cache);
        if failed > 0 {
            tracing::warn!(team = %c.team_id, read = ok, failed, "EHR reads failed");
        }
        self.metrics()
            .ehr_read(c.team_id, ok, failed, started.elapsed());
        self.note_health(c.team_id, ok, failed, problem);
    }

    /// The EHR data of one patient of the team, if it is an EHR patient.
    pub(crate) async fn ehr_patient(
        &self,
        team: TeamId,
        patient: PatientId,
        refresh: bool,
    ) -> Result<Option<EhrPatientData>, AppError> {
        let r = {
            let mut conn = self.db.read().await?;
            rounds_store::ehr::ref_of(&mut conn, patient).await?
        };
        let Some(r) = r else { return Ok(None) };
        let (_, mut data) = self.ehr_data(team, &[(patient, r)], refresh).await?;
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

/// The message of a configuration error without its prefix.
fn fhir_config_text(e: &FhirError) -> String {
    match e {
        FhirError::Config(m) => m.clone(),
        other => other.to_string(),
    }
}

/// The EHR-derived cells and texts of one row.
/// `wanted`: the column keys to fill (all when None).
pub(crate) fn row_cells(
    data: &EhrPatientData,
    wanted: Option<&std::collections::HashSet<String>>,
) -> BTreeMap<String, (String, EhrCell)> {
    let mut out = BTreeMap::new();
    let want = |key: &str| wanted.is_none_or(|w| w.contains(key));
    match &data.summary {
        Some(s) => {
            for b in BuiltinColumn::ALL {
                if !want(b.key()) {
                    continue;
                }
                if let Some(v) = ehr_builtin_value(s, b) {
                    out.insert(b.key().to_owned(), v);
                }
            }
            for e in EhrColumn::ALL {
                if want(e.key()) {
                    out.insert(e.key().to_owned(), ehr_column_value(s, e));
                }
            }
        }
        _ => {
            let state = match data.state {
                EhrRowState::Pending => CellState::Pending,
                _ => CellState::Failed,
            };
            let reason = data.reason.clone().unwrap_or_default();
            for key in BuiltinColumn::ALL
                .iter()
                .filter(|b| **b != BuiltinColumn::Added)
                .map(|b| b.key())
                .chain(EhrColumn::ALL.iter().map(|e| e.key()))
                .filter(|k| want(k))
            {
                out.insert(
                    key.to_owned(),
                    (String::new(), unavailable_cell(state, &reason)),
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rounds_fhir::model::{Condition, Measurement, Patient};
    use rounds_fhir::Section;

    fn section<T>(status: SectionStatus, items: Vec<T>) -> Section<T> {
        Section {
            status,
            items,
            foreign_dropped: 0,
        }
    }

    fn measurement(code: &str, value: f64, unit: &str) -> Measurement {
        Measurement {
            code: code.into(),
            display: None,
            value: Some(value),
            unit: Some(unit.into()),
        }
    }

    fn summary() -> PatientSummary {
        PatientSummary {
            patient: Patient {
                id: "p1".into(),
                family: Some("Doe".into()),
                given: vec!["Jane".into()],
                gender: Some("female".into()),
                birth_date: Some("1970-01-01".into()),
                ..Patient::default()
            },
            age: Some(56),
            location: Some("Ward 1, Bed 2".into()),
            vitals: section(
                SectionStatus::Partial {
                    shown: 50,
                    total: 80,
                },
                vec![
                    VitalSign {
                        measurement: measurement("8867-4", 88.0, "/min"),
                        effective: Some("2026-11-21T08:00:00Z".into()),
                        components: vec![],
                    },
                    VitalSign {
                        measurement: Measurement {
                            code: "85354-9".into(),
                            display: None,
                            value: None,
                            unit: None,
                        },
                        effective: Some("2026-11-21T08:00:00Z".into()),
                        components: vec![
                            measurement("8480-6", 131.6, "mmHg"),
                            measurement("8462-4", 84.0, "mmHg"),
                        ],
                    },
                ],
            ),
            conditions: section(
                SectionStatus::Partial { shown: 4, total: 9 },
                ["A", "B", "C", "D"]
                    .iter()
                    .map(|d| Condition {
                        display: Some((*d).into()),
                        severity: None,
                        clinical_status: None,
                        verification_status: None,
                        recorded: Some("2026-01-01".into()),
                    })
                    .collect(),
            ),
            encounter: section(SectionStatus::Empty, vec![]),
            allergies: section(
                SectionStatus::Failed {
                    reason: "GET AllergyIntolerance: HTTP 500".into(),
                    retryable: true,
                },
                vec![],
            ),
            medications: section(
                SectionStatus::Missing {
                    reason: "the server does not offer MedicationRequest".into(),
                },
                vec![],
            ),
            coverage: section(SectionStatus::Empty, vec![]),
        }
    }

    #[test]
    fn cells_say_what_they_show_and_why_not() {
        let s = summary();
        let (text, cell) = ehr_column_value(&s, EhrColumn::HeartRate);
        assert_eq!(text, "88 /min");
        assert_eq!(cell.number, Some(88.0));
        assert_eq!(cell.at.as_deref(), Some("2026-11-21T08:00:00Z"));
        let (text, cell) = ehr_column_value(&s, EhrColumn::BloodPressure);
        assert_eq!(text, "131.6/84 mmHg");
        assert_eq!(cell.number, Some(131.6), "sorted by systolic");
        // Not among the latest read: says so rather than "none recorded".
        let (text, cell) = ehr_column_value(&s, EhrColumn::Height);
        assert_eq!((text.as_str(), cell.state), ("", CellState::Empty));
        assert!(cell
            .reason
            .unwrap_or_default()
            .contains("among the 50 latest"));
        // Three shown, the rest counted from the server's total.
        let (text, cell) = ehr_column_value(&s, EhrColumn::Conditions);
        assert_eq!(text, "A; B; C (+6)");
        assert_eq!((cell.shown, cell.total), (Some(4), Some(9)));
        let (_, cell) = ehr_column_value(&s, EhrColumn::Allergies);
        assert_eq!(cell.state, CellState::Failed);
        // The EHR's own words are for owners, not in the cell.
        let reason = cell.reason.unwrap_or_default();
        assert!(reason.starts_with("the EHR read failed"), "{reason}");
        assert!(!reason.contains("HTTP 500"), "{reason}");
        let (_, cell) = ehr_column_value(&s, EhrColumn::Medications);
        assert_eq!(cell.state, CellState::Missing);
        let (_, cell) = ehr_column_value(&s, EhrColumn::EncounterStatus);
        assert_eq!(cell.state, CellState::Empty);
        let (text, _) = ehr_builtin_value(&s, BuiltinColumn::Name).unwrap();
        assert_eq!(text, "DOE, Jane");
        let (text, cell) = ehr_builtin_value(&s, BuiltinColumn::AgeSex).unwrap();
        assert_eq!((text.as_str(), cell.number), ("56 F", Some(56.0)));
        assert!(ehr_builtin_value(&s, BuiltinColumn::Added).is_none());
    }

    #[test]
    fn the_cache_is_bounded_and_ages_out() {
        let mut cache = EhrCache::default();
        let team = TeamId::new_random();
        let entry = || CacheEntry {
            result: Err("x".into()),
            fetched_at: Timestamp::now(),
            fetched: Instant::now(),
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
