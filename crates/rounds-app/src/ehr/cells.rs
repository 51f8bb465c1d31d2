//! The cells of EHR-derived columns: what a read summary shows, and why a
//! cell is empty when it is; vital signs with their flags and NEWS2.
//! (About 530 lines before its tests: every EHR column's cell is here, so
//! that a column's look is decided in one file.)

use std::collections::BTreeMap;

use rounds_core::lists::{BuiltinColumn, EhrColumn};
use rounds_core::vitals::{
    blood_pressure_text, news2, News2, News2Inputs, ReferenceRanges, Vital, VitalCode, VitalFlag,
};
use rounds_core::Timestamp;
use rounds_fhir::model::{Allergy, Condition, VitalSign};
use rounds_fhir::{PatientSummary, SectionStatus};

use super::{EhrPatientData, EhrRowState};

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

/// One vital-sign reading as every view shows it: what it is, its text
/// ("88 bpm", "120/80 mmHg", "120/– mmHg"), the number it sorts by (a
/// blood pressure by its systolic) and its flag against the team's ranges.
/// The one place a vital-sign value becomes display text.
#[derive(Debug, Clone, PartialEq)]
pub struct VitalReading {
    pub code: Option<VitalCode>,
    /// "Heart rate", "Blood pressure"; the EHR's words for a code the
    /// catalog does not know.
    pub name: String,
    pub text: String,
    pub number: Option<f64>,
    pub flag: Option<VitalFlag>,
}

/// A component's value (systolic, diastolic) of a panel.
fn component(v: &VitalSign, part: Vital) -> Option<(f64, Option<&str>)> {
    v.components
        .iter()
        .find(|c| part.loinc().contains(&c.code.as_str()))
        .and_then(|c| c.value.map(|x| (x, c.unit.as_deref())))
}

/// Reads one vital sign as the catalog writes it.
pub fn vital_reading(v: &VitalSign, ranges: &ReferenceRanges) -> VitalReading {
    let m = &v.measurement;
    let code = VitalCode::of(&m.code);
    let name = code.map_or_else(
        || m.display.clone().unwrap_or_else(|| m.code.clone()),
        |c| c.name().to_owned(),
    );
    let (text, number, flag) = match code {
        Some(VitalCode::BloodPressure) => {
            let (sys, dia) = (
                component(v, Vital::Systolic),
                component(v, Vital::Diastolic),
            );
            let unit = sys.or(dia).and_then(|(_, u)| u);
            let flag = sys
                .and_then(|(x, u)| ranges.check(Vital::Systolic, x, u))
                .or_else(|| dia.and_then(|(x, u)| ranges.check(Vital::Diastolic, x, u)));
            (
                blood_pressure_text(sys.map(|s| s.0), dia.map(|d| d.0), unit),
                sys.map(|s| s.0),
                flag,
            )
        }
        Some(VitalCode::Sign(sign)) => match m.value {
            Some(x) => (
                sign.value_text(x, m.unit.as_deref()),
                Some(x),
                ranges.check(sign, x, m.unit.as_deref()),
            ),
            None => (String::new(), None, None),
        },
        None => (
            m.value
                .map(|x| {
                    format!(
                        "{} {}",
                        rounds_core::vitals::number_text(x),
                        m.unit.as_deref().unwrap_or_default()
                    )
                    .trim()
                    .to_owned()
                })
                .unwrap_or_default(),
            m.value,
            None,
        ),
    };
    VitalReading {
        code,
        name,
        text,
        number,
        flag,
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

/// The latest reading of a column's sign among those read (a blood
/// pressure from a panel, else a systolic measured alone).
fn latest_of(s: &PatientSummary, column: EhrColumn) -> Option<&VitalSign> {
    let of = |codes: &[&str]| {
        s.vitals
            .items
            .iter()
            .find(|v| codes.contains(&v.measurement.code.as_str()))
    };
    of(column.loinc()).or_else(|| {
        (column == EhrColumn::BloodPressure)
            .then(|| of(Vital::Systolic.loinc()))
            .flatten()
    })
}

/// Why a vital-derived cell is empty when the section was read.
fn not_among(cell: &mut EhrCell, what: &str) {
    if matches!(cell.state, CellState::Ok) {
        cell.state = CellState::Empty;
        cell.reason = Some(match (cell.shown, cell.total) {
            (Some(shown), Some(total)) => {
                format!("no {what} among the {shown} latest vital signs read ({total} in the EHR)")
            }
            _ => format!("no {what} recorded in the EHR"),
        });
    }
    cell.shown = None;
    cell.total = None;
}

/// A vital-sign column: the latest of its kind among those read.
fn vital_value(
    s: &PatientSummary,
    vital: EhrColumn,
    ranges: &ReferenceRanges,
) -> (String, EhrCell) {
    let mut cell = section_cell(&s.vitals.status);
    match latest_of(s, vital) {
        Some(v) => {
            let reading = vital_reading(v, ranges);
            cell.at = v.effective.clone();
            cell.number = reading.number;
            cell.raw = reading.number.map(rounds_core::vitals::number_text);
            cell.flag = reading.flag;
            cell.total = None;
            cell.shown = None;
            (reading.text, cell)
        }
        None => {
            not_among(&mut cell, vital.label());
            (String::new(), cell)
        }
    }
}

/// The NEWS2 of a read summary as the list's column shows it (the
/// patient page shows the same).
pub fn news2_cell(s: &PatientSummary) -> (String, EhrCell) {
    news2_value(s)
}

/// The NEWS2 column: scored from the latest respiration rate, SpO₂,
/// systolic pressure, pulse and temperature (each only in the catalog's
/// unit); consciousness and air or oxygen are not read, so the score says
/// it is partial. Its time is its oldest input's.
fn news2_value(s: &PatientSummary) -> (String, EhrCell) {
    let mut cell = section_cell(&s.vitals.status);
    let mut times: Vec<&str> = Vec::new();
    let mut value = |column: EhrColumn, part: Vital| -> Option<f64> {
        let v = latest_of(s, column)?;
        let (x, unit) = if column == EhrColumn::BloodPressure
            && VitalCode::of(&v.measurement.code) == Some(VitalCode::BloodPressure)
        {
            component(v, part)?
        } else {
            (v.measurement.value?, v.measurement.unit.as_deref())
        };
        if !part.in_catalog_unit(unit) {
            return None;
        }
        if let Some(at) = v.effective.as_deref() {
            times.push(at);
        }
        Some(x)
    };
    let inputs = News2Inputs {
        respiratory_rate: value(EhrColumn::RespiratoryRate, Vital::RespiratoryRate),
        spo2: value(EhrColumn::Spo2, Vital::Spo2),
        systolic: value(EhrColumn::BloodPressure, Vital::Systolic),
        pulse: value(EhrColumn::HeartRate, Vital::HeartRate),
        temperature: value(EhrColumn::Temperature, Vital::Temperature),
        ..News2Inputs::default()
    };
    let Some(score) = news2(&inputs) else {
        not_among(&mut cell, "vital sign NEWS2 is scored from");
        return (String::new(), cell);
    };
    // The same zone form compares as text (as the latest value does).
    cell.at = times.into_iter().min().map(str::to_owned);
    cell.number = Some(f64::from(score.score));
    cell.raw = Some(score.score.to_string());
    cell.total = None;
    cell.shown = None;
    let text = score.short_text();
    cell.news2 = Some(score);
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
        let (text, cell) = ehr_column_value(&s, EhrColumn::HeartRate, &ReferenceRanges::default());
        assert_eq!(text, "88 bpm", "the short unit for the EHR's /min");
        assert_eq!(cell.number, Some(88.0));
        assert_eq!(cell.at.as_deref(), Some("2026-11-21T08:00:00Z"));
        let (text, cell) =
            ehr_column_value(&s, EhrColumn::BloodPressure, &ReferenceRanges::default());
        assert_eq!(text, "131.6/84 mmHg");
        assert_eq!(cell.number, Some(131.6), "sorted by systolic");
        // Not among the latest read: says so rather than "none recorded".
        let (text, cell) = ehr_column_value(&s, EhrColumn::Height, &ReferenceRanges::default());
        assert_eq!((text.as_str(), cell.state), ("", CellState::Empty));
        assert!(cell
            .reason
            .unwrap_or_default()
            .contains("among the 50 latest"));
        // Three shown, the rest counted from the server's total.
        let (text, cell) = ehr_column_value(&s, EhrColumn::Conditions, &ReferenceRanges::default());
        assert_eq!(text, "A; B; C (+6)");
        assert_eq!((cell.shown, cell.total), (Some(4), Some(9)));
        let (_, cell) = ehr_column_value(&s, EhrColumn::Allergies, &ReferenceRanges::default());
        assert_eq!(cell.state, CellState::Failed);
        // The EHR's own words are for owners, not in the cell.
        let reason = cell.reason.unwrap_or_default();
        assert!(reason.starts_with("the EHR read failed"), "{reason}");
        assert!(!reason.contains("HTTP 500"), "{reason}");
        let (_, cell) = ehr_column_value(&s, EhrColumn::Medications, &ReferenceRanges::default());
        assert_eq!(cell.state, CellState::Missing);
        let (_, cell) =
            ehr_column_value(&s, EhrColumn::EncounterStatus, &ReferenceRanges::default());
        assert_eq!(cell.state, CellState::Empty);
        let (text, _) = ehr_builtin_value(&s, BuiltinColumn::Name).unwrap();
        assert_eq!(text, "DOE, Jane");
        let (text, cell) = ehr_builtin_value(&s, BuiltinColumn::AgeSex).unwrap();
        assert_eq!((text.as_str(), cell.number), ("56 F", Some(56.0)));
        assert!(ehr_builtin_value(&s, BuiltinColumn::Added).is_none());
    }

    fn vital(code: &str, value: f64, unit: &str, at: &str) -> VitalSign {
        VitalSign {
            measurement: measurement(code, value, unit),
            effective: Some(at.into()),
            components: vec![],
        }
    }

    #[test]
    fn vital_cells_are_flagged_against_the_teams_ranges() {
        let mut s = summary();
        s.vitals.items = vec![
            vital("8867-4", 118.0, "/min", "2026-11-21T08:00:00Z"),
            vital("9279-1", 26.0, "/min", "2026-11-21T07:00:00Z"),
            vital("59408-5", 93.0, "%", "2026-11-21T08:00:00Z"),
            vital("8310-5", 101.0, "[degF]", "2026-11-21T08:00:00Z"),
            VitalSign {
                measurement: Measurement {
                    code: "85354-9".into(),
                    display: None,
                    value: None,
                    unit: None,
                },
                effective: Some("2026-11-21T06:30:00Z".into()),
                components: vec![
                    measurement("8480-6", 98.0, "mm[Hg]"),
                    measurement("8462-4", 95.0, "mm[Hg]"),
                ],
            },
        ];
        let ranges = ReferenceRanges::default();
        let (text, cell) = ehr_column_value(&s, EhrColumn::HeartRate, &ranges);
        assert_eq!(text, "118 bpm");
        assert_eq!(
            cell.flag.map(|f| f.text()).as_deref(),
            Some("high (60–100 bpm)")
        );
        let (text, cell) = ehr_column_value(&s, EhrColumn::Spo2, &ranges);
        assert_eq!(
            (text.as_str(), cell.flag.map(|f| f.flag)),
            ("93 %", Some(rounds_core::vitals::Flag::Low))
        );
        // °F: shown as the EHR wrote it, neither flagged nor scored.
        let (text, cell) = ehr_column_value(&s, EhrColumn::Temperature, &ranges);
        assert_eq!((text.as_str(), cell.flag), ("101 [degF]", None));
        // Blood pressure: the systolic is in range, the diastolic is not.
        let (text, cell) = ehr_column_value(&s, EhrColumn::BloodPressure, &ranges);
        assert_eq!(text, "98/95 mmHg");
        assert_eq!(
            cell.flag.map(|f| f.text()).as_deref(),
            Some("high (diastolic 60–90 mmHg)")
        );
        // A team's wider heart rate range: not flagged any more.
        let wide = ReferenceRanges::with_team([(
            Vital::HeartRate,
            rounds_core::vitals::Range::between(50.0, 120.0),
        )]);
        assert!(ehr_column_value(&s, EhrColumn::HeartRate, &wide)
            .1
            .flag
            .is_none());

        // NEWS2: RR 26 (3) + SpO₂ 93 (2) + SBP 98 (2) + HR 118 (2) = 9,
        // temperature not scored (°F): partial, high; its time the oldest
        // input's (the blood pressure's).
        let (text, cell) = ehr_column_value(&s, EhrColumn::News2, &ranges);
        assert_eq!(text, "9 (partial)");
        let n = cell.news2.unwrap();
        assert_eq!((n.score, n.risk), (9, rounds_core::vitals::News2Risk::High));
        assert_eq!(
            n.missing.iter().map(|p| p.key()).collect::<Vec<_>>(),
            ["supplementalOxygen", "consciousness", "temperature"]
        );
        assert_eq!(cell.at.as_deref(), Some("2026-11-21T06:30:00Z"));
        assert_eq!(cell.number, Some(9.0));
        // Nothing it is scored from: empty, saying why.
        s.vitals.items.clear();
        s.vitals.status = SectionStatus::Complete;
        let (text, cell) = ehr_column_value(&s, EhrColumn::News2, &ranges);
        assert_eq!((text.as_str(), cell.state), ("", CellState::Empty));
        assert!(cell.news2.is_none());
    }
}
