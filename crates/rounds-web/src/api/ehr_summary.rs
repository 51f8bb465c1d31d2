//! The patient page's EHR summary, typed for the OpenAPI document: each
//! section with its read status and items; vital signs carry the display
//! text and flag the server made (the browser writes no value itself).

use rounds_app::ehr::summary::{
    Allergy, Condition, Coverage, Encounter, Medication, Patient, PatientSummary, Section,
    SectionStatus, VitalSign,
};
use rounds_app::ehr::vital_reading;
use rounds_core::vitals::ReferenceRanges;
use serde::Serialize;
use utoipa::ToSchema;

use super::vitals::FlagDto;

/// How a section was read.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SectionStatusDto {
    /// missing (not offered), empty, complete, partial or failed.
    pub status: &'static str,
    /// Why it is missing or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Failed: whether trying again later may help.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
    /// Partial: how many are shown …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shown: Option<usize>,
    /// … of how many the EHR has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Resources of other patients the EHR sent anyway (left out).
    pub foreign_dropped: usize,
}

impl SectionStatusDto {
    fn of<T>(s: &Section<T>) -> Self {
        let mut dto = Self {
            status: "complete",
            reason: None,
            retryable: None,
            shown: None,
            total: None,
            foreign_dropped: s.foreign_dropped,
        };
        match &s.status {
            SectionStatus::Missing { reason } => {
                dto.status = "missing";
                dto.reason = Some(reason.clone());
            }
            SectionStatus::Empty => dto.status = "empty",
            SectionStatus::Complete => {}
            SectionStatus::Partial { shown, total } => {
                dto.status = "partial";
                dto.shown = Some(*shown);
                dto.total = Some(*total);
            }
            SectionStatus::Failed { reason, retryable } => {
                dto.status = "failed";
                dto.reason = Some(reason.clone());
                dto.retryable = Some(*retryable);
            }
        }
        dto
    }
}

/// One section: its status and what was read.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SectionDto<T: ToSchema> {
    #[serde(flatten)]
    pub status: SectionStatusDto,
    pub items: Vec<T>,
}

impl<T: ToSchema> SectionDto<T> {
    fn of<S>(s: &Section<S>, item: impl Fn(&S) -> T) -> Self {
        Self {
            status: SectionStatusDto::of(s),
            items: s.items.iter().map(item).collect(),
        }
    }
}

/// The patient as the EHR names them.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PatientDto {
    /// The FHIR Patient id.
    pub id: String,
    /// "DOE, Jane", as every view writes a name.
    pub display_name: String,
    pub family: Option<String>,
    pub given: Vec<String>,
    pub name_text: Option<String>,
    /// female, male, other or unknown.
    pub gender: Option<String>,
    pub birth_date: Option<String>,
    pub mrn: Option<String>,
    pub general_practitioner: Option<String>,
}

impl From<&Patient> for PatientDto {
    fn from(p: &Patient) -> Self {
        Self {
            id: p.id.clone(),
            display_name: rounds_app::ehr::display_name(p),
            family: p.family.clone(),
            given: p.given.clone(),
            name_text: p.name_text.clone(),
            gender: p.gender.clone(),
            birth_date: p.birth_date.clone(),
            mrn: p.mrn.clone(),
            general_practitioner: p.general_practitioner.clone(),
        }
    }
}

/// The latest value of one vital sign, written by the server.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VitalDto {
    /// The LOINC code.
    pub code: String,
    /// The catalog's key (heartRate, spo2, ...; bloodPressure for a panel).
    pub key: Option<&'static str>,
    /// "Heart rate", "Blood pressure".
    pub name: String,
    /// "88 bpm", "120/80 mmHg", "120/– mmHg".
    pub text: String,
    /// When it was measured.
    pub effective: Option<String>,
    /// Outside the team's reference range.
    pub flag: Option<FlagDto>,
}

fn vital(v: &VitalSign, ranges: &ReferenceRanges) -> VitalDto {
    use rounds_core::vitals::VitalCode;
    let r = vital_reading(v, ranges);
    VitalDto {
        code: v.measurement.code.clone(),
        key: r.code.map(|c| match c {
            VitalCode::Sign(s) => s.key(),
            VitalCode::BloodPressure => "bloodPressure",
        }),
        name: r.name,
        text: r.text,
        effective: v.effective.clone(),
        flag: r.flag.as_ref().map(FlagDto::of_vital),
    }
}

/// A problem.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConditionDto {
    pub display: Option<String>,
    pub severity: Option<String>,
    pub clinical_status: Option<String>,
    pub verification_status: Option<String>,
    pub recorded: Option<String>,
}

impl From<&Condition> for ConditionDto {
    fn from(c: &Condition) -> Self {
        Self {
            display: c.display.clone(),
            severity: c.severity.clone(),
            clinical_status: c.clinical_status.clone(),
            verification_status: c.verification_status.clone(),
            recorded: c.recorded.clone(),
        }
    }
}

/// Where the patient was before (the encounter names no place now).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PastLocationDto {
    pub display: String,
    pub until: Option<String>,
}

/// The last encounter.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EncounterDto {
    pub status: Option<String>,
    pub kind: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub location: Option<String>,
    pub last_location: Option<PastLocationDto>,
}

impl From<&Encounter> for EncounterDto {
    fn from(e: &Encounter) -> Self {
        Self {
            status: e.status.clone(),
            kind: e.kind.clone(),
            start: e.start.clone(),
            end: e.end.clone(),
            location: e.location.clone(),
            last_location: e.last_location.as_ref().map(|l| PastLocationDto {
                display: l.display.clone(),
                until: l.until.clone(),
            }),
        }
    }
}

/// An allergy or intolerance.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AllergyDto {
    pub substance: Option<String>,
    pub clinical_status: Option<String>,
    pub verification_status: Option<String>,
    pub recorded: Option<String>,
    pub note: Option<String>,
    pub reactions: Vec<String>,
}

impl From<&Allergy> for AllergyDto {
    fn from(a: &Allergy) -> Self {
        Self {
            substance: a.substance.clone(),
            clinical_status: a.clinical_status.clone(),
            verification_status: a.verification_status.clone(),
            recorded: a.recorded.clone(),
            note: a.note.clone(),
            reactions: a.reactions.clone(),
        }
    }
}

/// A medication order or statement.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MedicationDto {
    pub medication: Option<String>,
    pub status: Option<String>,
    pub written: Option<String>,
    pub ended: Option<String>,
    pub prescriber: Option<String>,
    pub dosage: Vec<String>,
    /// The resource it came from (MedicationRequest, MedicationStatement, ...).
    pub source: String,
}

impl From<&Medication> for MedicationDto {
    fn from(m: &Medication) -> Self {
        Self {
            medication: m.medication.clone(),
            status: m.status.clone(),
            written: m.written.clone(),
            ended: m.ended.clone(),
            prescriber: m.prescriber.clone(),
            dosage: m.dosage.clone(),
            source: m.source.clone(),
        }
    }
}

/// An insurance coverage.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CoverageDto {
    pub plan: Option<String>,
    pub group: Option<String>,
    pub payor: Option<String>,
    pub subscriber_id: Option<String>,
    pub period_start: Option<String>,
    pub period_end: Option<String>,
    pub status: Option<String>,
}

impl From<&Coverage> for CoverageDto {
    fn from(c: &Coverage) -> Self {
        Self {
            plan: c.plan.clone(),
            group: c.group.clone(),
            payor: c.payor.clone(),
            subscriber_id: c.subscriber_id.clone(),
            period_start: c.period_start.clone(),
            period_end: c.period_end.clone(),
            status: c.status.clone(),
        }
    }
}

/// One parameter's points in NEWS2.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct News2PointsDto {
    /// respiratoryRate, spo2, systolic, pulse, temperature, ...
    pub part: &'static str,
    pub points: u32,
}

/// The early-warning score from the vital signs read.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct News2Dto {
    /// "6 (partial)", as the list's NEWS2 column shows it.
    pub text: String,
    pub score: u32,
    /// low, lowMedium, medium or high.
    pub risk: &'static str,
    /// "medium risk (NEWS2 5–6); partial: no air or oxygen, consciousness …".
    pub risk_text: String,
    pub parts: Vec<News2PointsDto>,
    /// The parameters it lacks (it is partial).
    pub missing: Vec<&'static str>,
    /// Its oldest input's time.
    pub at: Option<String>,
    /// Above low risk.
    pub flag: Option<FlagDto>,
}

fn news2(s: &PatientSummary) -> Option<News2Dto> {
    let (text, cell) = rounds_app::ehr::news2_cell(s);
    let n = cell.news2?;
    Some(News2Dto {
        text,
        score: n.score,
        risk: n.risk.as_str(),
        risk_text: n.risk_text(),
        parts: n
            .parts
            .iter()
            .map(|(p, points)| News2PointsDto {
                part: p.key(),
                points: *points,
            })
            .collect(),
        missing: n.missing.iter().map(|p| p.key()).collect(),
        at: cell.at,
        flag: FlagDto::of_news2(&n),
    })
}

/// Everything the patient page shows from the EHR.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SummaryDto {
    pub patient: PatientDto,
    /// Whole years.
    pub age: Option<u32>,
    /// From the last encounter.
    pub location: Option<String>,
    pub vitals: SectionDto<VitalDto>,
    /// NEWS2 from the vital signs (none when none it is scored from was read).
    pub news2: Option<News2Dto>,
    pub conditions: SectionDto<ConditionDto>,
    pub encounter: SectionDto<EncounterDto>,
    pub allergies: SectionDto<AllergyDto>,
    pub medications: SectionDto<MedicationDto>,
    pub coverage: SectionDto<CoverageDto>,
}

impl SummaryDto {
    pub fn new(s: &PatientSummary, ranges: &ReferenceRanges) -> Self {
        Self {
            patient: PatientDto::from(&s.patient),
            age: s.age,
            location: s.location.clone(),
            vitals: SectionDto::of(&s.vitals, |v| vital(v, ranges)),
            news2: news2(s),
            conditions: SectionDto::of(&s.conditions, |x| ConditionDto::from(x)),
            encounter: SectionDto::of(&s.encounter, |x| EncounterDto::from(x)),
            allergies: SectionDto::of(&s.allergies, |x| AllergyDto::from(x)),
            medications: SectionDto::of(&s.medications, |x| MedicationDto::from(x)),
            coverage: SectionDto::of(&s.coverage, |x| CoverageDto::from(x)),
        }
    }
}
