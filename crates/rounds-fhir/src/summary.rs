//! The version-neutral patient summary and the status of each of its sections.

use serde::Serialize;

use crate::model::{Allergy, Condition, Coverage, Encounter, Medication, Patient, VitalSign};

/// The sections of a summary besides the Patient itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SectionKind {
    Vitals,
    Conditions,
    Encounter,
    Allergies,
    Medications,
    Coverage,
}

impl SectionKind {
    pub const ALL: [SectionKind; 6] = [
        SectionKind::Vitals,
        SectionKind::Conditions,
        SectionKind::Encounter,
        SectionKind::Allergies,
        SectionKind::Medications,
        SectionKind::Coverage,
    ];

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
    Missing { reason: String },
    /// Searched; nothing there.
    Empty,
    /// Everything the server has.
    Complete,
    /// Only part: `shown` of `total` (e.g. "10 of 23").
    Partial { shown: usize, total: u64 },
    /// The query failed; the rest of the summary stands.
    Failed { reason: String, retryable: bool },
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
pub struct Section<T> {
    #[serde(flatten)]
    pub status: SectionStatus,
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
pub struct PatientSummary {
    pub patient: Patient,
    /// Whole years, from `birthDate` and today's date (UTC).
    pub age: Option<u32>,
    /// From the last encounter's first location.
    pub location: Option<String>,
    pub vitals: Section<VitalSign>,
    pub conditions: Section<Condition>,
    pub encounter: Section<Encounter>,
    pub allergies: Section<Allergy>,
    pub medications: Section<Medication>,
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
