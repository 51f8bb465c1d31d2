//! A team's EHR health as the last reads found it, and how problems are
//! told: in general terms to members, in the EHR's words to owners.

use std::time::{Duration, Instant};

use rounds_core::{TeamId, Timestamp};
use rounds_fhir::FhirError;

use super::lock;
use crate::App;

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
    pub(super) last_attempt: Option<Instant>,
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

/// A problem with the EHR, told twice: in general terms for every member,
/// and in detail for owners and the log.
#[derive(Debug, Clone)]
pub(super) struct Problem {
    pub(super) general: String,
    pub(super) detail: String,
}

impl Problem {
    pub(super) fn of(e: &FhirError) -> Self {
        Self {
            general: fhir_general(e),
            detail: fhir_message(e),
        }
    }

    pub(super) fn same(text: String) -> Self {
        Self {
            general: text.clone(),
            detail: text,
        }
    }
}

/// What kind of failure `e` is, without anything the server said or where
/// it is (no address, port, connection error text or diagnostics): what
/// members see. Owners see [`fhir_message`].
pub(super) fn fhir_general(e: &FhirError) -> String {
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

impl App {
    pub(super) fn health_of(&self, team: TeamId) -> Health {
        lock(&self.ehr.health)
            .get(&team)
            .cloned()
            .unwrap_or_default()
    }

    pub(super) fn note_health(
        &self,
        team: TeamId,
        ok: usize,
        failed: usize,
        problem: Option<Problem>,
    ) {
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
    pub(super) fn note_slow(&self, team: TeamId, waited: Duration) {
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
}
