//! The vital-sign catalog, in one place for every layer: each sign's LOINC
//! codes, names, abbreviation and short unit, and how a value is written
//! ("88 bpm", "120/80 mmHg"); adult reference ranges with the flag a value
//! outside them gets (a team may set its own); and the National Early
//! Warning Score 2 (NEWS2, Royal College of Physicians 2017) from the signs
//! Rounds reads. Pure functions, no I/O.
//!
//! Over 500 lines on purpose (about 740 before its tests): it is the one
//! place every layer takes vital signs from; split it into catalog,
//! ranges and NEWS2 files when it grows further.

use serde::Serialize;

use crate::validate::InvalidInput;

/// A vital sign Rounds reads from the EHR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Vital {
    HeartRate,
    RespiratoryRate,
    Temperature,
    Spo2,
    Systolic,
    Diastolic,
    Weight,
    Height,
    Bmi,
    HeadCircumference,
}

/// The LOINC codes of a blood-pressure panel (systolic and diastolic as
/// components).
pub const BLOOD_PRESSURE_PANEL: &[&str] = &["85354-9", "55284-4"];

impl Vital {
    pub const ALL: [Vital; 10] = [
        Self::HeartRate,
        Self::RespiratoryRate,
        Self::Temperature,
        Self::Spo2,
        Self::Systolic,
        Self::Diastolic,
        Self::Weight,
        Self::Height,
        Self::Bmi,
        Self::HeadCircumference,
    ];

    /// The key in the API (`heartRate`, `spo2`, ...).
    pub const fn key(self) -> &'static str {
        match self {
            Self::HeartRate => "heartRate",
            Self::RespiratoryRate => "respiratoryRate",
            Self::Temperature => "temperature",
            Self::Spo2 => "spo2",
            Self::Systolic => "systolic",
            Self::Diastolic => "diastolic",
            Self::Weight => "weight",
            Self::Height => "height",
            Self::Bmi => "bmi",
            Self::HeadCircumference => "headCircumference",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.key() == key)
    }

    /// LOINC codes that carry this sign, the preferred one first.
    pub const fn loinc(self) -> &'static [&'static str] {
        match self {
            Self::HeartRate => &["8867-4"],
            Self::RespiratoryRate => &["9279-1"],
            Self::Temperature => &["8310-5"],
            Self::Spo2 => &["59408-5", "2708-6"],
            Self::Systolic => &["8480-6"],
            Self::Diastolic => &["8462-4"],
            Self::Weight => &["29463-7"],
            Self::Height => &["8302-2"],
            Self::Bmi => &["39156-5"],
            Self::HeadCircumference => &["8287-5"],
        }
    }

    /// The sign a LOINC code carries.
    pub fn from_loinc(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.loinc().contains(&code))
    }

    /// What the abbreviation means, for headers' tooltips.
    pub const fn name(self) -> &'static str {
        match self {
            Self::HeartRate => "Heart rate",
            Self::RespiratoryRate => "Respiratory rate",
            Self::Temperature => "Body temperature",
            Self::Spo2 => "Oxygen saturation",
            Self::Systolic => "Systolic blood pressure",
            Self::Diastolic => "Diastolic blood pressure",
            Self::Weight => "Body weight",
            Self::Height => "Body height",
            Self::Bmi => "Body mass index",
            Self::HeadCircumference => "Head circumference",
        }
    }

    /// The short label of a column header.
    pub const fn abbreviation(self) -> &'static str {
        match self {
            Self::HeartRate => "HR",
            Self::RespiratoryRate => "RR",
            Self::Temperature => "Temp",
            Self::Spo2 => "SpO₂",
            Self::Systolic => "Systolic",
            Self::Diastolic => "Diastolic",
            Self::Weight => "Weight",
            Self::Height => "Height",
            Self::Bmi => "BMI",
            Self::HeadCircumference => "Head circ.",
        }
    }

    /// The unit as a ward writes it.
    pub const fn short_unit(self) -> &'static str {
        match self {
            Self::HeartRate => "bpm",
            Self::RespiratoryRate => "/min",
            Self::Temperature => "°C",
            Self::Spo2 => "%",
            Self::Systolic | Self::Diastolic => "mmHg",
            Self::Weight => "kg",
            Self::Height | Self::HeadCircumference => "cm",
            Self::Bmi => "kg/m²",
        }
    }

    /// How EHRs spell the catalog's unit (UCUM codes and the usual words);
    /// compared without regard to case.
    const fn spellings(self) -> &'static [&'static str] {
        match self {
            Self::HeartRate => &[
                "bpm",
                "/min",
                "{beats}/min",
                "beats/min",
                "beats/minute",
                "beats per minute",
            ],
            Self::RespiratoryRate => &[
                "/min",
                "{breaths}/min",
                "breaths/min",
                "breaths/minute",
                "breaths per minute",
            ],
            Self::Temperature => &["°C", "Cel", "degC", "deg C", "C", "℃"],
            Self::Spo2 => &["%", "percent"],
            Self::Systolic | Self::Diastolic => &["mmHg", "mm[Hg]", "mm Hg"],
            Self::Weight => &["kg"],
            Self::Height | Self::HeadCircumference => &["cm"],
            Self::Bmi => &["kg/m²", "kg/m2"],
        }
    }

    /// Whether `unit` (as the EHR gave it; none is taken as the catalog's)
    /// is the catalog's unit: only then is a value compared with ranges.
    pub fn in_catalog_unit(self, unit: Option<&str>) -> bool {
        unit.map(str::trim).is_none_or(|u| {
            u.is_empty() || self.spellings().iter().any(|s| s.eq_ignore_ascii_case(u))
        })
    }

    /// The unit as shown: the short unit when the EHR's is the catalog's,
    /// else the EHR's own (a temperature in °F stays in °F).
    pub fn shown_unit(self, unit: Option<&str>) -> String {
        if self.in_catalog_unit(unit) {
            self.short_unit().to_owned()
        } else {
            unit.unwrap_or_default().trim().to_owned()
        }
    }

    /// "88 bpm", "37.2 °C", "96 %".
    pub fn value_text(self, value: f64, unit: Option<&str>) -> String {
        format!("{} {}", number_text(value), self.shown_unit(unit))
            .trim()
            .to_owned()
    }
}

/// The signs a list reads, each as the codes that carry it: one page of
/// the latest vital signs is read, and a sign not among them is asked for
/// on its own. A blood pressure comes as a panel or as a systolic alone.
pub const LIST_SIGNS: [&[&str]; 8] = [
    Vital::HeartRate.loinc(),
    Vital::RespiratoryRate.loinc(),
    Vital::Temperature.loinc(),
    Vital::Spo2.loinc(),
    &["85354-9", "55284-4", "8480-6"],
    Vital::Weight.loinc(),
    Vital::Height.loinc(),
    Vital::Bmi.loinc(),
];

/// What a vital-sign code is: one sign, or a blood-pressure panel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VitalCode {
    Sign(Vital),
    BloodPressure,
}

impl VitalCode {
    /// The catalog's meaning of a LOINC code; `None` for a code the
    /// contract does not list.
    pub fn of(code: &str) -> Option<Self> {
        if BLOOD_PRESSURE_PANEL.contains(&code) {
            return Some(Self::BloodPressure);
        }
        Vital::from_loinc(code).map(Self::Sign)
    }

    /// Every LOINC code the catalog knows, in the contract's order (the
    /// panel after its parts).
    pub fn all_codes() -> impl Iterator<Item = &'static str> {
        Vital::ALL.into_iter().flat_map(|v| {
            let panel: &[&str] = if v == Vital::Diastolic {
                BLOOD_PRESSURE_PANEL
            } else {
                &[]
            };
            v.loinc().iter().chain(panel).copied()
        })
    }

    /// Where a code stands in [`VitalCode::all_codes`] (others last).
    pub fn position(code: &str) -> usize {
        Self::all_codes()
            .position(|c| c == code)
            .unwrap_or(usize::MAX)
    }

    /// The name on the patient page ("Heart rate", "Blood pressure").
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sign(v) => v.name(),
            Self::BloodPressure => "Blood pressure",
        }
    }
}

/// A number as shown: at most one decimal, none needless ("88", "37.2").
pub fn number_text(value: f64) -> String {
    crate::lists::format_number((value * 10.0).round() / 10.0)
}

/// A blood pressure as shown: "120/80 mmHg", "120/– mmHg" when only one
/// part is known; empty when neither is.
pub fn blood_pressure_text(
    systolic: Option<f64>,
    diastolic: Option<f64>,
    unit: Option<&str>,
) -> String {
    if systolic.is_none() && diastolic.is_none() {
        return String::new();
    }
    let part = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), number_text);
    format!(
        "{}/{} {}",
        part(systolic),
        part(diastolic),
        Vital::Systolic.shown_unit(unit)
    )
    .trim()
    .to_owned()
}

/// Which side of its range a value lies on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Flag {
    Low,
    High,
}

impl Flag {
    /// A symbol beside the colour, so the flag does not rest on colour alone.
    pub const fn symbol(self) -> &'static str {
        match self {
            Self::Low => "▼",
            Self::High => "▲",
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::High => "high",
        }
    }
}

/// A closed range; either end may be open.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Range {
    pub low: Option<f64>,
    pub high: Option<f64>,
}

/// The widest range a team may set for a sign: beyond it a bound is a typo.
const fn plausible(vital: Vital) -> (f64, f64) {
    match vital {
        Vital::HeartRate => (0.0, 300.0),
        Vital::RespiratoryRate => (0.0, 80.0),
        Vital::Temperature => (25.0, 45.0),
        Vital::Spo2 => (0.0, 100.0),
        Vital::Systolic | Vital::Diastolic => (0.0, 300.0),
        Vital::Weight => (0.0, 500.0),
        Vital::Height => (0.0, 300.0),
        Vital::Bmi => (5.0, 100.0),
        Vital::HeadCircumference => (10.0, 100.0),
    }
}

impl Range {
    pub const fn between(low: f64, high: f64) -> Self {
        Self {
            low: Some(low),
            high: Some(high),
        }
    }

    /// A range a team sets for `vital`: finite bounds within what the sign
    /// can measure, the low below the high. Errors name the field `field`.
    pub fn checked(
        vital: Vital,
        low: Option<f64>,
        high: Option<f64>,
        field: &str,
    ) -> Result<Self, InvalidInput> {
        let field = field.to_owned();
        let (min, max) = plausible(vital);
        for (end, v) in [("low", low), ("high", high)] {
            if let Some(v) = v {
                if !v.is_finite() || v < min || v > max {
                    return Err(InvalidInput::new(
                        field.clone(),
                        format!(
                            "the {end} end of the {} range must lie between {} and {} {}",
                            vital.name().to_lowercase(),
                            number_text(min),
                            number_text(max),
                            vital.short_unit()
                        ),
                    ));
                }
            }
        }
        if let (Some(l), Some(h)) = (low, high) {
            if l >= h {
                return Err(InvalidInput::new(
                    field,
                    format!(
                        "the {} range's low end ({}) must be below its high end ({})",
                        vital.name().to_lowercase(),
                        number_text(l),
                        number_text(h)
                    ),
                ));
            }
        }
        Ok(Self { low, high })
    }

    pub fn flag(&self, value: f64) -> Option<Flag> {
        match (self.low, self.high) {
            (Some(low), _) if value < low => Some(Flag::Low),
            (_, Some(high)) if value > high => Some(Flag::High),
            _ => None,
        }
    }

    /// "60–100 bpm", "≥ 95 %", "≤ 140 mmHg"; empty when open at both ends.
    pub fn text(&self, unit: &str) -> String {
        let t = match (self.low, self.high) {
            (Some(l), Some(h)) => format!("{}–{}", number_text(l), number_text(h)),
            (Some(l), None) => format!("≥ {}", number_text(l)),
            (None, Some(h)) => format!("≤ {}", number_text(h)),
            (None, None) => return String::new(),
        };
        format!("{t} {unit}")
    }
}

/// A value outside its range: which side, and the range it was read
/// against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VitalFlag {
    pub flag: Flag,
    pub vital: Vital,
    pub range: Range,
}

impl VitalFlag {
    /// "high (60–100 bpm)"; a blood pressure part names itself:
    /// "high (systolic 90–140 mmHg)".
    pub fn text(&self) -> String {
        let range = self.range.text(self.vital.short_unit());
        match self.vital {
            Vital::Systolic | Vital::Diastolic => format!(
                "{} ({} {range})",
                self.flag.as_str(),
                self.vital.abbreviation().to_lowercase()
            ),
            _ => format!("{} ({range})", self.flag.as_str()),
        }
    }
}

/// Reference ranges per sign; a team may set its own.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReferenceRanges {
    pub ranges: Vec<(Vital, Range)>,
}

impl Default for ReferenceRanges {
    /// Common adult ranges at rest. Weight, height and head circumference
    /// have none; BMI flags under- and overweight.
    fn default() -> Self {
        Self {
            ranges: vec![
                (Vital::HeartRate, Range::between(60.0, 100.0)),
                (Vital::RespiratoryRate, Range::between(12.0, 20.0)),
                (Vital::Temperature, Range::between(36.1, 38.0)),
                (Vital::Spo2, Range::between(95.0, 100.0)),
                (Vital::Systolic, Range::between(90.0, 140.0)),
                (Vital::Diastolic, Range::between(60.0, 90.0)),
                (Vital::Bmi, Range::between(18.5, 30.0)),
            ],
        }
    }
}

impl ReferenceRanges {
    /// The defaults with a team's own ranges in place of theirs.
    pub fn with_team(team: impl IntoIterator<Item = (Vital, Range)>) -> Self {
        let mut r = Self::default();
        for (vital, range) in team {
            r.ranges.retain(|(v, _)| *v != vital);
            r.ranges.push((vital, range));
        }
        r
    }

    /// The range of a sign, if it has one.
    pub fn get(&self, vital: Vital) -> Option<Range> {
        self.ranges
            .iter()
            .find(|(v, _)| *v == vital)
            .map(|(_, r)| *r)
    }

    /// The flag of `value` for `vital`; `None` when in range or unranged.
    pub fn flag(&self, vital: Vital, value: f64) -> Option<Flag> {
        self.get(vital).and_then(|r| r.flag(value))
    }

    /// The flag of a value as the EHR gave it: compared only when its unit
    /// is the catalog's (a temperature in °F is not read against °C).
    pub fn check(&self, vital: Vital, value: f64, unit: Option<&str>) -> Option<VitalFlag> {
        if !vital.in_catalog_unit(unit) {
            return None;
        }
        let range = self.get(vital)?;
        range
            .flag(value)
            .map(|flag| VitalFlag { flag, vital, range })
    }
}

/// The NEWS2 parameters. Consciousness and supplemental oxygen are not in
/// the contract's FHIR queries, so a score from the EHR is always partial
/// unless they are given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum News2Part {
    RespiratoryRate,
    Spo2,
    SupplementalOxygen,
    Systolic,
    Pulse,
    Consciousness,
    Temperature,
}

impl News2Part {
    pub const ALL: [News2Part; 7] = [
        Self::RespiratoryRate,
        Self::Spo2,
        Self::SupplementalOxygen,
        Self::Systolic,
        Self::Pulse,
        Self::Consciousness,
        Self::Temperature,
    ];

    /// The key in the API.
    pub const fn key(self) -> &'static str {
        match self {
            Self::RespiratoryRate => "respiratoryRate",
            Self::Spo2 => "spo2",
            Self::SupplementalOxygen => "supplementalOxygen",
            Self::Systolic => "systolic",
            Self::Pulse => "pulse",
            Self::Consciousness => "consciousness",
            Self::Temperature => "temperature",
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Self::RespiratoryRate => "respiration rate",
            Self::Spo2 => "SpO₂ (scale 1)",
            Self::SupplementalOxygen => "air or oxygen",
            Self::Systolic => "systolic blood pressure",
            Self::Pulse => "pulse",
            Self::Consciousness => "consciousness",
            Self::Temperature => "temperature",
        }
    }
}

/// What NEWS2 is computed from; `None` is a parameter not known.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct News2Inputs {
    pub respiratory_rate: Option<f64>,
    pub spo2: Option<f64>,
    /// Supplemental oxygen given (true) or air (false).
    pub on_oxygen: Option<bool>,
    pub systolic: Option<f64>,
    pub pulse: Option<f64>,
    /// Alert (true) or new confusion, voice, pain, unresponsive (false).
    pub alert: Option<bool>,
    pub temperature: Option<f64>,
}

/// The clinical response NEWS2 calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum News2Risk {
    /// 0–4, no single parameter scoring 3.
    Low,
    /// 0–4 with a single parameter scoring 3.
    LowMedium,
    /// 5–6.
    Medium,
    /// 7 or more.
    High,
}

impl News2Risk {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::LowMedium => "lowMedium",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }

    /// The band as people say it.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::LowMedium => "low–medium",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }

    /// A symbol beside the colour; none for low (not flagged).
    pub const fn symbol(self) -> &'static str {
        match self {
            Self::Low => "",
            Self::LowMedium => "▲",
            Self::Medium => "▲▲",
            Self::High => "▲▲▲",
        }
    }

    /// Whether the band calls for more than routine monitoring.
    pub const fn is_flagged(self) -> bool {
        !matches!(self, Self::Low)
    }
}

/// A NEWS2 score: the sum of the parameters known, which of them scored
/// what, and which are missing (then the score is partial: the true score
/// is at least this).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct News2 {
    pub score: u32,
    pub risk: News2Risk,
    pub parts: Vec<(News2Part, u32)>,
    pub missing: Vec<News2Part>,
}

impl News2 {
    pub fn is_partial(&self) -> bool {
        !self.missing.is_empty()
    }

    /// "5 (partial: no air or oxygen, consciousness)" or "3".
    pub fn text(&self) -> String {
        if self.missing.is_empty() {
            return self.score.to_string();
        }
        let missing: Vec<&str> = self.missing.iter().map(|p| p.name()).collect();
        format!("{} (partial: no {})", self.score, missing.join(", "))
    }

    /// The score as a cell shows it: "6", or "6 (partial)" when parts are
    /// missing (the true score is at least this).
    pub fn short_text(&self) -> String {
        if self.missing.is_empty() {
            self.score.to_string()
        } else {
            format!("{} (partial)", self.score)
        }
    }

    /// The band in words with what it rests on: "medium risk (NEWS2 5–6;
    /// partial: no air or oxygen, consciousness)".
    pub fn risk_text(&self) -> String {
        let band = match self.risk {
            News2Risk::Low => "low risk (NEWS2 0–4)",
            News2Risk::LowMedium => "low–medium risk (a single parameter scores 3)",
            News2Risk::Medium => "medium risk (NEWS2 5–6)",
            News2Risk::High => "high risk (NEWS2 7 or more)",
        };
        if self.missing.is_empty() {
            return band.to_owned();
        }
        let missing: Vec<&str> = self.missing.iter().map(|p| p.name()).collect();
        format!(
            "{band}; partial: no {} (the score is at least {})",
            missing.join(", "),
            self.score
        )
    }
}

/// Scores one value against NEWS2's bands: `(upper bound, points)` in
/// ascending order, the last band open-ended.
fn band(value: f64, bands: &[(f64, u32)], above: u32) -> u32 {
    bands
        .iter()
        .find(|(upper, _)| value <= *upper)
        .map_or(above, |(_, points)| *points)
}

/// NEWS2 from what is known. `None` when none of the measured parameters
/// (respiration, SpO₂, systolic, pulse, temperature) is known.
pub fn news2(inputs: &News2Inputs) -> Option<News2> {
    let scored: [(News2Part, Option<u32>); 7] = [
        (
            News2Part::RespiratoryRate,
            inputs
                .respiratory_rate
                .map(|v| band(v, &[(8.0, 3), (11.0, 1), (20.0, 0), (24.0, 2)], 3)),
        ),
        (
            News2Part::Spo2,
            inputs
                .spo2
                .map(|v| band(v, &[(91.0, 3), (93.0, 2), (95.0, 1)], 0)),
        ),
        (
            News2Part::SupplementalOxygen,
            inputs.on_oxygen.map(|o| if o { 2 } else { 0 }),
        ),
        (
            News2Part::Systolic,
            inputs
                .systolic
                .map(|v| band(v, &[(90.0, 3), (100.0, 2), (110.0, 1), (219.0, 0)], 3)),
        ),
        (
            News2Part::Pulse,
            inputs.pulse.map(|v| {
                band(
                    v,
                    &[(40.0, 3), (50.0, 1), (90.0, 0), (110.0, 1), (130.0, 2)],
                    3,
                )
            }),
        ),
        (
            News2Part::Consciousness,
            inputs.alert.map(|a| if a { 0 } else { 3 }),
        ),
        (
            News2Part::Temperature,
            inputs
                .temperature
                .map(|v| band(v, &[(35.0, 3), (36.0, 1), (38.0, 0), (39.0, 1)], 2)),
        ),
    ];
    let measured = [
        inputs.respiratory_rate,
        inputs.spo2,
        inputs.systolic,
        inputs.pulse,
        inputs.temperature,
    ];
    if measured.iter().all(Option::is_none) {
        return None;
    }
    let parts: Vec<(News2Part, u32)> = scored
        .iter()
        .filter_map(|(p, s)| s.map(|s| (*p, s)))
        .collect();
    let missing = scored
        .iter()
        .filter(|(_, s)| s.is_none())
        .map(|(p, _)| *p)
        .collect();
    let score: u32 = parts.iter().map(|(_, s)| s).sum();
    let risk = match score {
        7.. => News2Risk::High,
        5..=6 => News2Risk::Medium,
        _ if parts.iter().any(|(_, s)| *s == 3) => News2Risk::LowMedium,
        _ => News2Risk::Low,
    };
    Some(News2 {
        score,
        risk,
        parts,
        missing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_outside_the_range() {
        let r = ReferenceRanges::default();
        assert_eq!(r.flag(Vital::HeartRate, 118.0), Some(Flag::High));
        assert_eq!(r.flag(Vital::HeartRate, 72.0), None);
        assert_eq!(r.flag(Vital::Spo2, 86.0), Some(Flag::Low));
        assert_eq!(r.flag(Vital::RespiratoryRate, 26.0), Some(Flag::High));
        assert_eq!(
            r.flag(Vital::Temperature, 38.0),
            None,
            "the ends are in range"
        );
        assert_eq!(r.flag(Vital::Weight, 300.0), None, "weight has no range");
        assert_eq!(Flag::High.symbol(), "▲");
        assert_eq!(Vital::from_loinc("2708-6"), Some(Vital::Spo2));
        assert_eq!(Vital::from_loinc("1234-5"), None);
    }

    #[test]
    fn news2_by_hand() {
        // A well patient, everything known: 0, low.
        let well = News2Inputs {
            respiratory_rate: Some(16.0),
            spo2: Some(97.0),
            on_oxygen: Some(false),
            systolic: Some(125.0),
            pulse: Some(72.0),
            alert: Some(true),
            temperature: Some(36.8),
        };
        let s = news2(&well).unwrap();
        assert_eq!(
            (s.score, s.risk, s.is_partial()),
            (0, News2Risk::Low, false)
        );
        assert_eq!(s.text(), "0");
        // Septic: RR 26 (3), SpO2 93 (2), oxygen (2), SBP 98 (2), HR 118 (2),
        // alert (0), T 38.6 (1) = 12, high.
        let septic = News2Inputs {
            respiratory_rate: Some(26.0),
            spo2: Some(93.0),
            on_oxygen: Some(true),
            systolic: Some(98.0),
            pulse: Some(118.0),
            alert: Some(true),
            temperature: Some(38.6),
        };
        assert_eq!(
            news2(&septic).map(|s| (s.score, s.risk)),
            Some((12, News2Risk::High))
        );
        // One parameter at 3, total low: low-medium.
        let one = News2Inputs {
            pulse: Some(135.0),
            ..well
        };
        assert_eq!(
            news2(&one).map(|s| (s.score, s.risk)),
            Some((3, News2Risk::LowMedium))
        );
        // From the EHR: no oxygen or consciousness: partial, says what lacks.
        let ehr = News2Inputs {
            respiratory_rate: Some(22.0), // 2
            spo2: Some(95.0),             // 1
            systolic: Some(105.0),        // 1
            pulse: Some(95.0),            // 1
            temperature: Some(35.5),      // 1
            ..News2Inputs::default()
        };
        let s = news2(&ehr).unwrap();
        assert_eq!((s.score, s.risk), (6, News2Risk::Medium));
        assert_eq!(
            s.missing,
            vec![News2Part::SupplementalOxygen, News2Part::Consciousness]
        );
        assert_eq!(s.text(), "6 (partial: no air or oxygen, consciousness)");
        // Band edges.
        let edge = |rr: f64| {
            news2(&News2Inputs {
                respiratory_rate: Some(rr),
                ..News2Inputs::default()
            })
            .map(|s| s.score)
        };
        assert_eq!(
            [8.0, 9.0, 11.0, 12.0, 20.0, 21.0, 24.0, 25.0].map(edge),
            [3, 1, 1, 0, 0, 2, 2, 3].map(Some)
        );
        assert_eq!(news2(&News2Inputs::default()), None, "nothing measured");
    }

    #[test]
    fn the_catalog_is_one_table() {
        // Every code once, in the contract's order, the panel after its parts.
        let codes: Vec<&str> = VitalCode::all_codes().collect();
        let unique: std::collections::HashSet<&&str> = codes.iter().collect();
        assert_eq!(unique.len(), codes.len(), "{codes:?}");
        assert_eq!(codes.len(), 13);
        assert!(VitalCode::position("8462-4") < VitalCode::position("85354-9"));
        assert!(VitalCode::position("85354-9") < VitalCode::position("29463-7"));
        assert_eq!(VitalCode::position("1234-5"), usize::MAX);
        assert_eq!(VitalCode::of("55284-4"), Some(VitalCode::BloodPressure));
        assert_eq!(
            VitalCode::of("8287-5").map(VitalCode::name),
            Some("Head circumference")
        );
        for v in Vital::ALL {
            assert_eq!(Vital::from_key(v.key()), Some(v));
            assert_eq!(Vital::from_loinc(v.loinc()[0]), Some(v));
        }
        // The list reads each of its signs by codes the catalog knows.
        for sign in LIST_SIGNS {
            assert!(sign.iter().all(|c| VitalCode::of(c).is_some()), "{sign:?}");
        }
    }

    #[test]
    fn values_are_written_one_way() {
        assert_eq!(Vital::HeartRate.value_text(88.0, Some("/min")), "88 bpm");
        assert_eq!(
            Vital::HeartRate.value_text(88.0, Some("beats/minute")),
            "88 bpm"
        );
        assert_eq!(Vital::HeartRate.value_text(88.04, None), "88 bpm");
        assert_eq!(
            Vital::RespiratoryRate.value_text(18.0, Some("breaths/minute")),
            "18 /min"
        );
        assert_eq!(Vital::Temperature.value_text(37.25, Some("Cel")), "37.3 °C");
        assert_eq!(Vital::Spo2.value_text(96.0, Some("%")), "96 %");
        assert_eq!(Vital::Bmi.value_text(24.61, Some("kg/m2")), "24.6 kg/m²");
        // Another unit is kept as the EHR wrote it.
        assert_eq!(
            Vital::Temperature.value_text(99.5, Some("[degF]")),
            "99.5 [degF]"
        );
        assert_eq!(
            blood_pressure_text(Some(120.0), Some(80.0), Some("mm[Hg]")),
            "120/80 mmHg"
        );
        assert_eq!(blood_pressure_text(Some(120.0), None, None), "120/– mmHg");
        assert_eq!(blood_pressure_text(None, Some(80.0), None), "–/80 mmHg");
        assert_eq!(blood_pressure_text(None, None, None), "");
    }

    #[test]
    fn flags_say_which_side_and_the_range() {
        let r = ReferenceRanges::default();
        let f = r.check(Vital::HeartRate, 118.0, Some("/min")).unwrap();
        assert_eq!((f.flag, f.flag.symbol()), (Flag::High, "▲"));
        assert_eq!(f.text(), "high (60–100 bpm)");
        let f = r.check(Vital::Spo2, 94.0, Some("%")).unwrap();
        assert_eq!(f.text(), "low (95–100 %)");
        assert_eq!(f.flag.symbol(), "▼");
        let f = r.check(Vital::Diastolic, 95.0, Some("mmHg")).unwrap();
        assert_eq!(f.text(), "high (diastolic 60–90 mmHg)");
        // The ends are in range; just outside them is not.
        assert_eq!(r.check(Vital::HeartRate, 60.0, None), None);
        assert_eq!(r.check(Vital::HeartRate, 100.0, None), None);
        assert!(r.check(Vital::HeartRate, 59.9, None).is_some());
        assert!(r.check(Vital::Temperature, 38.05, None).is_some());
        // A temperature in °F is not read against the °C range.
        assert_eq!(r.check(Vital::Temperature, 101.3, Some("[degF]")), None);
        // Open-ended ranges.
        assert_eq!(
            Range {
                low: Some(95.0),
                high: None
            }
            .text("%"),
            "≥ 95 %"
        );
        assert_eq!(
            Range {
                low: None,
                high: Some(140.0)
            }
            .text("mmHg"),
            "≤ 140 mmHg"
        );
        assert_eq!(
            Range {
                low: None,
                high: None
            }
            .flag(1e9),
            None
        );
    }

    #[test]
    fn a_team_sets_its_own_ranges() {
        let team = ReferenceRanges::with_team([
            (Vital::HeartRate, Range::between(50.0, 110.0)),
            (
                Vital::Weight,
                Range {
                    low: None,
                    high: Some(150.0),
                },
            ),
            (
                Vital::Spo2,
                Range {
                    low: None,
                    high: None,
                },
            ),
        ]);
        assert_eq!(
            team.flag(Vital::HeartRate, 105.0),
            None,
            "wider for this team"
        );
        assert_eq!(team.flag(Vital::HeartRate, 45.0), Some(Flag::Low));
        assert_eq!(
            team.flag(Vital::Weight, 160.0),
            Some(Flag::High),
            "a range where the default has none"
        );
        assert_eq!(
            team.flag(Vital::Spo2, 80.0),
            None,
            "both ends open: never flagged"
        );
        assert_eq!(
            team.flag(Vital::RespiratoryRate, 26.0),
            Some(Flag::High),
            "the others keep the default"
        );
        assert_eq!(
            team.check(Vital::HeartRate, 120.0, None).map(|f| f.text()),
            Some("high (50–110 bpm)".to_owned())
        );
        // What an owner may set.
        assert!(Range::checked(Vital::HeartRate, Some(50.0), Some(110.0), "f").is_ok());
        assert!(Range::checked(Vital::HeartRate, None, None, "f").is_ok());
        let e = Range::checked(Vital::HeartRate, Some(100.0), Some(60.0), "ranges[0]").unwrap_err();
        assert_eq!(e.field, "ranges[0]");
        assert!(e.message.contains("below its high end"), "{}", e.message);
        assert!(Range::checked(Vital::HeartRate, Some(80.0), Some(80.0), "f").is_err());
        assert!(Range::checked(Vital::Spo2, Some(90.0), Some(101.0), "f").is_err());
        assert!(Range::checked(Vital::Temperature, Some(f64::NAN), None, "f").is_err());
        assert!(
            Range::checked(Vital::Temperature, Some(97.0), Some(99.0), "f").is_err(),
            "°F typed as °C"
        );
    }

    #[test]
    fn news2_edges_bands_and_partial_scores() {
        let one = |f: fn(&mut News2Inputs, f64), v: f64| {
            let mut i = News2Inputs::default();
            f(&mut i, v);
            news2(&i).map(|s| s.score)
        };
        let spo2 = |i: &mut News2Inputs, v| i.spo2 = Some(v);
        assert_eq!(
            [91.0, 92.0, 93.0, 94.0, 95.0, 96.0].map(|v| one(spo2, v)),
            [3, 2, 2, 1, 1, 0].map(Some)
        );
        let sbp = |i: &mut News2Inputs, v| i.systolic = Some(v);
        assert_eq!(
            [90.0, 91.0, 100.0, 101.0, 110.0, 111.0, 219.0, 220.0].map(|v| one(sbp, v)),
            [3, 2, 2, 1, 1, 0, 0, 3].map(Some)
        );
        let hr = |i: &mut News2Inputs, v| i.pulse = Some(v);
        assert_eq!(
            [40.0, 41.0, 50.0, 51.0, 90.0, 91.0, 110.0, 111.0, 130.0, 131.0].map(|v| one(hr, v)),
            [3, 1, 1, 0, 0, 1, 1, 2, 2, 3].map(Some)
        );
        let t = |i: &mut News2Inputs, v| i.temperature = Some(v);
        assert_eq!(
            [35.0, 35.1, 36.0, 36.1, 38.0, 38.1, 39.0, 39.1].map(|v| one(t, v)),
            [3, 1, 1, 0, 0, 1, 1, 2].map(Some)
        );
        // Bands: 5 and 7 are the thresholds; a single 3 below 5 is low-medium.
        let s = |rr, spo2, sbp, pulse, temp| {
            news2(&News2Inputs {
                respiratory_rate: Some(rr),
                spo2: Some(spo2),
                systolic: Some(sbp),
                pulse: Some(pulse),
                temperature: Some(temp),
                ..News2Inputs::default()
            })
            .unwrap()
        };
        let four = s(21.0, 94.0, 120.0, 95.0, 37.0); // 2 + 1 + 0 + 1 + 0
        assert_eq!((four.score, four.risk), (4, News2Risk::Low));
        let five = s(21.0, 94.0, 105.0, 95.0, 37.0); // + 1
        assert_eq!((five.score, five.risk), (5, News2Risk::Medium));
        let seven = s(25.0, 94.0, 105.0, 95.0, 38.5); // 3 + 1 + 1 + 1 + 1
        assert_eq!((seven.score, seven.risk), (7, News2Risk::High));
        assert_eq!(seven.short_text(), "7 (partial)");
        assert!(seven
            .risk_text()
            .starts_with("high risk (NEWS2 7 or more); partial: no air or oxygen, consciousness"));
        let single = s(8.0, 97.0, 120.0, 80.0, 37.0);
        assert_eq!((single.score, single.risk), (3, News2Risk::LowMedium));
        assert!(single.risk.is_flagged() && !News2Risk::Low.is_flagged());
        assert_eq!(News2Risk::Medium.symbol(), "▲▲");
        // Only some measured: partial, naming all that lack.
        let pulse_only = news2(&News2Inputs {
            pulse: Some(120.0),
            ..News2Inputs::default()
        })
        .unwrap();
        assert_eq!(pulse_only.score, 2);
        assert_eq!(
            pulse_only
                .missing
                .iter()
                .map(|p| p.key())
                .collect::<Vec<_>>(),
            [
                "respiratoryRate",
                "spo2",
                "supplementalOxygen",
                "systolic",
                "consciousness",
                "temperature"
            ]
        );
        // Oxygen and consciousness alone are not a score.
        let told = News2Inputs {
            on_oxygen: Some(true),
            alert: Some(false),
            ..News2Inputs::default()
        };
        assert_eq!(news2(&told), None);
    }
}
