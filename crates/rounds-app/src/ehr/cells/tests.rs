//! Tests of the EHR cells.

use super::*;
use rounds_core::vitals::{ReferenceRanges, Vital};
use rounds_fhir::model::{Condition, Measurement, Patient, VitalSign};
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
    let (text, cell) = ehr_column_value(&s, EhrColumn::BloodPressure, &ReferenceRanges::default());
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
    let (_, cell) = ehr_column_value(&s, EhrColumn::EncounterStatus, &ReferenceRanges::default());
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
