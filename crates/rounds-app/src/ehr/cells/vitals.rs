//! Vital-sign cells: one reading as every view writes it, the latest of a
//! column's sign, and NEWS2.

use rounds_core::lists::EhrColumn;
use rounds_core::vitals::{
    blood_pressure_text, news2, News2Inputs, ReferenceRanges, Vital, VitalCode, VitalFlag,
};
use rounds_fhir::model::VitalSign;
use rounds_fhir::PatientSummary;

use super::{section_cell, CellState, EhrCell};

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
pub(super) fn vital_value(
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
pub(super) fn news2_value(s: &PatientSummary) -> (String, EhrCell) {
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
