//! The version-neutral patient summary and the status of each of its sections.

use serde::Serialize;

use crate::model::{Allergy, Condition, Coverage, Encounter, Medication, Patient, VitalSign};

/// The sections of a summary besides the Patient itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SectionKind {
    /// Latest vital signs (Observation).
    Vitals,
    /// Problems (Condition).
    Conditions,
    /// The last encounter and its location.
    Encounter,
    /// AllergyIntolerance.
    Allergies,
    /// MedicationOrder / MedicationRequest / MedicationStatement.
    Medications,
    /// Coverage.
    Coverage,
}

impl SectionKind {
    /// Every section, in display order.
    pub const ALL: [SectionKind; 6] = [
        SectionKind::Vitals,
        SectionKind::Conditions,
        SectionKind::Encounter,
        SectionKind::Allergies,
        SectionKind::Medications,
        SectionKind::Coverage,
    ];

    /// A name for people.
    pub fn name(self) -> &'static str {
        match self {
            SectionKind::Vitals => "vital signs",
            SectionKind::Conditions => "conditions",
            SectionKind::Encounter => "last encounter",
            SectionKind::Allergies => "allergies",
            SectionKind::Medications => "medications",
            SectionKind::Coverage => "coverage",
        }
    }
}

/// What became of one section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SectionStatus {
    /// The server does not offer this data: missing, not an error.
    Missing {
        /// Why (e.g. "the server does not offer Coverage").
        reason: String,
    },
    /// Searched; nothing there.
    Empty,
    /// Everything the server has.
    Complete,
    /// Only part: `shown` of `total` (e.g. "10 of 23").
    Partial {
        /// How many are shown.
        shown: usize,
        /// How many the server has.
        total: u64,
    },
    /// The query failed; the rest of the summary stands.
    Failed {
        /// The error, safe to show.
        reason: String,
        /// Whether trying again later may help.
        retryable: bool,
    },
}

impl std::fmt::Display for SectionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SectionStatus::Missing { reason } => write!(f, "missing ({reason})"),
            SectionStatus::Empty => f.write_str("empty"),
            SectionStatus::Complete => f.write_str("complete"),
            SectionStatus::Partial { shown, total } => write!(f, "partial ({shown} of {total})"),
            SectionStatus::Failed { reason, .. } => write!(f, "failed: {reason}"),
        }
    }
}

/// One section: its status, what was read, and how many resources were
/// dropped because they named another patient.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Section<T> {
    #[serde(flatten)]
    /// What became of the section.
    pub status: SectionStatus,
    /// What was read (empty unless complete or partial).
    pub items: Vec<T>,
    /// Resources of other patients the server sent anyway (dropped).
    pub foreign_dropped: usize,
}

impl<T> Section<T> {
    pub(crate) fn with_status(status: SectionStatus) -> Self {
        Section {
            status,
            items: Vec::new(),
            foreign_dropped: 0,
        }
    }
}

/// Everything Rounds shows about one patient, whatever the FHIR version.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PatientSummary {
    /// Demographics, MRN, GP.
    pub patient: Patient,
    /// Whole years, from `birthDate` and today's date (UTC).
    pub age: Option<u32>,
    /// From the last encounter's first location.
    pub location: Option<String>,
    /// The latest value of each vital sign.
    pub vitals: Section<VitalSign>,
    /// Problems.
    pub conditions: Section<Condition>,
    /// The last encounter (at most one).
    pub encounter: Section<Encounter>,
    /// Allergies and intolerances.
    pub allergies: Section<Allergy>,
    /// Medication orders or statements.
    pub medications: Section<Medication>,
    /// Insurance.
    pub coverage: Section<Coverage>,
}

impl PatientSummary {
    /// Each section's kind and status, in display order.
    pub fn statuses(&self) -> [(SectionKind, &SectionStatus); 6] {
        [
            (SectionKind::Vitals, &self.vitals.status),
            (SectionKind::Conditions, &self.conditions.status),
            (SectionKind::Encounter, &self.encounter.status),
            (SectionKind::Allergies, &self.allergies.status),
            (SectionKind::Medications, &self.medications.status),
            (SectionKind::Coverage, &self.coverage.status),
        ]
    }
}
