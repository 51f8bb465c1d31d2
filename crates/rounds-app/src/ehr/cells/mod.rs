//! The cells of EHR-derived columns: what a read summary shows, and why a
//! cell is empty when it is. Vital signs, their flags and NEWS2 are in
//! [`vitals`]; every EHR column's cell is decided in this folder.

#[cfg(test)]
mod tests;
mod vitals;

use std::collections::BTreeMap;

use rounds_core::lists::{BuiltinColumn, EhrColumn};
use rounds_core::vitals::{News2, ReferenceRanges, VitalFlag};
use rounds_core::Timestamp;
use rounds_fhir::model::{Allergy, Condition};
use rounds_fhir::{PatientSummary, SectionStatus};

use super::{EhrPatientData, EhrRowState};
pub use vitals::{news2_cell, vital_reading, VitalReading};
use vitals::{news2_value, vital_value};

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
    /// A vital sign outside the team's reference range.
    pub flag: Option<VitalFlag>,
    /// The early-warning score column: the score with its band and the
    /// parts it lacks.
    pub news2: Option<News2>,
}

pub(super) fn section_cell(status: &SectionStatus) -> EhrCell {
    let mut cell = EhrCell {
        state: CellState::Ok,
        at: None,
        reason: None,
        shown: None,
        total: None,
        number: None,
        raw: None,
        flag: None,
        news2: None,
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
pub(crate) fn ehr_column_value(
    s: &PatientSummary,
    column: EhrColumn,
    ranges: &ReferenceRanges,
) -> (String, EhrCell) {
    use EhrColumn as C;
    match column {
        C::EncounterStatus | C::EncounterType | C::EncounterStart => encounter_value(s, column),
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
        C::News2 => news2_value(s),
        vital => vital_value(s, vital, ranges),
    }
}

/// An encounter column: from the latest encounter.
fn encounter_value(s: &PatientSummary, column: EhrColumn) -> (String, EhrCell) {
    use EhrColumn as C;
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

/// An EHR patient's name as every view writes it: "DOE, Jane".
pub fn display_name(p: &rounds_fhir::model::Patient) -> String {
    let family = p.family.clone().unwrap_or_default().to_uppercase();
    let given = p.given.join(" ");
    match (family.is_empty(), given.is_empty()) {
        (false, false) => format!("{family}, {given}"),
        (false, true) => family,
        (true, false) => given,
        _ => p.name_text.clone().unwrap_or_default(),
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
        BuiltinColumn::Name => display_name(p),
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
        BuiltinColumn::Added | BuiltinColumn::Tasks => return None,
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
        flag: None,
        news2: None,
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
                    out.insert(e.key().to_owned(), ehr_column_value(s, e, &data.ranges));
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
