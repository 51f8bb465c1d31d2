//! The contract checker behind `rounds ehr check`: each requirement of the
//! Rounds FHIR contract (fhir-interface.md) as pass / fail / not offered,
//! with the reason and the request that showed it.

mod metadata;
mod patient;
mod protocol;
mod sections;

pub use patient::PATIENT_PARAMS;

use serde::Serialize;

use crate::client::FhirClient;
use crate::config::ClientConfig;
use crate::error::FhirError;
use crate::summary::SectionKind;
use crate::version::FhirVersion;

/// The verdict on one requirement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The server does what the contract asks.
    Pass,
    /// It does not (see the reason).
    Fail,
    /// The server does not offer this (optional) part.
    NotOffered,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "FAIL",
            Outcome::NotOffered => "not offered",
        })
    }
}

/// Which requirement of the contract an item is about. Callers tell items
/// apart by this, never by their wording (which may change).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Requirement {
    /// 1: `metadata` answers without authentication with a known FHIR version.
    MetadataAnswers,
    /// 1: `metadata` is the version's capability resource.
    MetadataResourceType,
    /// 1: `rest[mode=server]` declares the Patient resource.
    PatientDeclared,
    /// 1: the batch interaction is declared.
    BatchDeclared,
    /// 1: the security oauth-uris extension.
    OauthUris,
    /// 1: `.well-known/smart-configuration`.
    SmartConfiguration,
    /// 1: with authentication configured, a token is issued.
    TokenIssued,
    /// 2: the Patient search parameters are declared.
    PatientSearchParams,
    /// 2: Patient search answers.
    PatientSearch,
    /// 2: a search Bundle carries its total.
    SearchTotal,
    /// 2: Patient read answers.
    PatientRead,
    /// 2: the Patient's name.
    PatientName,
    /// 2: the Patient's gender and birth date.
    PatientGenderBirthDate,
    /// 2: the Patient's MRN.
    PatientMrn,
    /// 2: the Patient's GP (generalPractitioner or careProvider).
    PatientGp,
    /// 2: a search by one of the Patient's values finds it again.
    SearchFindsPatient,
    /// 3-8: a section's search.
    SectionSearch(SectionKind),
    /// 3-8: what a section's search finds belongs to the patient.
    SectionBelongs(SectionKind),
    /// 3-8: a section's fields are readable.
    SectionFields(SectionKind),
    /// 9: a batch Bundle is answered by a batch-response.
    Batch,
    /// 10: an error is an HTTP status with an OperationOutcome.
    ErrorOutcome,
}

impl Requirement {
    /// The contract's section, e.g. `2` (Patient).
    pub fn section(self) -> &'static str {
        use Requirement as R;
        match self {
            R::MetadataAnswers
            | R::MetadataResourceType
            | R::PatientDeclared
            | R::BatchDeclared
            | R::OauthUris
            | R::SmartConfiguration
            | R::TokenIssued => "1",
            R::PatientSearchParams
            | R::PatientSearch
            | R::SearchTotal
            | R::PatientRead
            | R::PatientName
            | R::PatientGenderBirthDate
            | R::PatientMrn
            | R::PatientGp
            | R::SearchFindsPatient => "2",
            R::SectionSearch(kind) | R::SectionBelongs(kind) | R::SectionFields(kind) => match kind
            {
                SectionKind::Vitals => "3",
                SectionKind::Conditions => "4",
                SectionKind::Encounter => "5",
                SectionKind::Allergies => "6",
                SectionKind::Medications => "7",
                SectionKind::Coverage => "8",
            },
            R::Batch => "9",
            R::ErrorOutcome => "10",
        }
    }
}

/// One requirement and what the server did.
#[derive(Clone, Debug, Serialize)]
pub struct CheckItem {
    /// Which requirement (for callers; not in the JSON report).
    #[serde(skip)]
    pub id: Requirement,
    /// The contract's section, e.g. `2` (Patient).
    pub section: &'static str,
    /// What the contract asks, in a line.
    pub requirement: String,
    /// A failed mandatory requirement fails the whole check.
    pub mandatory: bool,
    /// The verdict.
    pub outcome: Outcome,
    /// Why: what the server answered.
    pub reason: String,
    /// The request that showed it (method and path with query).
    pub request: Option<String>,
}

/// All verdicts for one server.
#[derive(Clone, Debug, Serialize)]
pub struct CheckReport {
    /// The FHIR base URL checked.
    pub base: String,
    /// The version `metadata` named, if it answered.
    pub version: Option<FhirVersion>,
    /// The verdicts, in the contract's order.
    pub items: Vec<CheckItem>,
    /// What `metadata` declared, if it answered (not in the JSON report:
    /// the verdicts say it).
    #[serde(skip)]
    pub capabilities: Option<crate::Capabilities>,
}

impl CheckReport {
    /// Whether a mandatory requirement failed.
    pub fn mandatory_failed(&self) -> bool {
        self.items
            .iter()
            .any(|i| i.mandatory && i.outcome == Outcome::Fail)
    }

    /// How many requirements got `outcome`.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.items.iter().filter(|i| i.outcome == outcome).count()
    }

    fn add(
        &mut self,
        id: Requirement,
        requirement: impl Into<String>,
        mandatory: bool,
        outcome: Outcome,
        reason: impl Into<String>,
        request: Option<String>,
    ) {
        self.items.push(CheckItem {
            id,
            section: id.section(),
            requirement: requirement.into(),
            mandatory,
            outcome,
            reason: reason.into(),
            request,
        });
    }
}

/// Checks the server at `config.base_url` against the contract. `patient`
/// names the Patient to read sections of; without it, the first one a
/// search finds is used.
pub async fn check(config: ClientConfig, patient: Option<String>) -> CheckReport {
    let mut report = CheckReport {
        base: config.base_url.to_string(),
        version: None,
        items: Vec::new(),
        capabilities: None,
    };
    let auth_configured = !matches!(config.auth, crate::auth::AuthConfig::None);
    let client = match FhirClient::connect(config).await {
        Ok(c) => c,
        Err(e) => {
            let mandatory = !matches!(e, FhirError::Config(_)) || !auth_configured;
            report.add(
                Requirement::MetadataAnswers,
                "metadata answers without authentication with a known FHIR version",
                mandatory,
                Outcome::Fail,
                e.to_string(),
                Some("GET metadata".into()),
            );
            return report;
        }
    };
    let caps = client.capabilities().clone();
    report.version = Some(caps.version);
    report.capabilities = Some(caps.clone());
    metadata::check(&mut report, &client, &caps, auth_configured).await;
    let first_patient = patient::search(&mut report, &client, &caps).await;
    let Some(pid) = patient.or(first_patient) else {
        report.add(
            Requirement::PatientRead,
            "Patient read",
            true,
            Outcome::Fail,
            "no patient to read: the search found none and none was given (--patient)",
            None,
        );
        return report;
    };
    let Some(p) = patient::read(&mut report, &client, &pid).await else {
        return report;
    };
    patient::fields(&mut report, &caps, &p, &pid);
    patient::searches_by(&mut report, &client, &caps, &p, &pid).await;
    sections::check(&mut report, &client, &caps, &pid).await;
    protocol::batch(&mut report, &client, &caps, &pid).await;
    protocol::errors(&mut report, &client).await;
    report
}
