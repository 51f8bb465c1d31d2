//! The vital-sign catalog: each sign's LOINC codes, names and short unit;
//! adult reference ranges with the flag a value outside them gets; and the
//! National Early Warning Score 2 (NEWS2, Royal College of Physicians 2017)
//! from the signs Rounds reads. Pure functions, no I/O.

use serde::Serialize;

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
}

impl Vital {
    pub const ALL: [Vital; 9] = [
        Self::HeartRate,
        Self::RespiratoryRate,
        Self::Temperature,
        Self::Spo2,
        Self::Systolic,
        Self::Diastolic,
        Self::Weight,
        Self::Height,
        Self::Bmi,
    ];

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
            Self::Height => "cm",
            Self::Bmi => "kg/m²",
        }
    }
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
}

/// A closed range; either end may be open.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Range {
    pub low: Option<f64>,
    pub high: Option<f64>,
}

impl Range {
    pub const fn between(low: f64, high: f64) -> Self {
        Self {
            low: Some(low),
            high: Some(high),
        }
    }

    pub fn flag(&self, value: f64) -> Option<Flag> {
        match (self.low, self.high) {
            (Some(low), _) if value < low => Some(Flag::Low),
            (_, Some(high)) if value > high => Some(Flag::High),
            _ => None,
        }
    }
}

/// Reference ranges per sign; a team may set its own.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReferenceRanges {
    pub ranges: Vec<(Vital, Range)>,
}

impl Default for ReferenceRanges {
    /// Common adult ranges at rest. Weight and height have none; BMI flags
    /// under- and overweight.
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
    /// The flag of `value` for `vital`; `None` when in range or unranged.
    pub fn flag(&self, vital: Vital, value: f64) -> Option<Flag> {
        self.ranges
            .iter()
            .find(|(v, _)| *v == vital)
            .and_then(|(_, r)| r.flag(value))
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
}
