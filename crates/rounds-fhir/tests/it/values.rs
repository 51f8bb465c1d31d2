//! Values a clinician must be able to trust, against a real FHIR R4 server
//! (sekmet-fhir, a server of its own for this file) seeded with a
//! transaction Bundle of ours: the current bed among several locations, a
//! finished stay, weight and height measured only at admission of a long
//! stay, statuses that change a value's meaning, a payor by reference.

use std::sync::OnceLock;
use std::time::Duration;

use rounds_fhir::{BatchMode, ClientConfig, FhirClient, PatientSummary, SectionStatus};
use serde_json::{json, Value};

use crate::common::block_on_thread;
use crate::sekmet::{post_transaction, start_sekmet};

struct Ward {
    base: String,
    /// Moved from the emergency department to a bed; a transfer planned.
    moved: String,
    /// Discharged: a finished encounter.
    discharged: String,
    /// In progress, but every place of it completed.
    left_bed: String,
    /// 250 vital signs; weight and height only at admission.
    long_stay: String,
    /// Allergies, conditions and coverages whose status changes their meaning.
    statuses: String,
    _dir: tempfile::TempDir,
    _watchdog: std::process::Child,
}

fn ward() -> &'static Ward {
    static WARD: OnceLock<Ward> = OnceLock::new();
    WARD.get_or_init(|| {
        let (dir, base, watchdog) = start_sekmet();
        let ids = block_on_thread({
            let base = base.clone();
            async move { post_transaction(&base, bundle()).await }
        });
        Ward {
            moved: ids[0].clone(),
            discharged: ids[1].clone(),
            left_bed: ids[2].clone(),
            long_stay: ids[3].clone(),
            statuses: ids[4].clone(),
            base,
            _dir: dir,
            _watchdog: watchdog,
        }
    })
}

const PATIENTS: [&str; 5] = [
    "5a1e0000-0000-4000-8000-000000000001",
    "5a1e0000-0000-4000-8000-000000000002",
    "5a1e0000-0000-4000-8000-000000000003",
    "5a1e0000-0000-4000-8000-000000000004",
    "5a1e0000-0000-4000-8000-000000000005",
];
const PAYOR: &str = "5a1e0000-0000-4000-8000-0000000000f1";

fn entry(uuid: String, resource: Value) -> Value {
    let rtype = resource["resourceType"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    json!({"fullUrl": format!("urn:uuid:{uuid}"), "resource": resource,
           "request": {"method": "POST", "url": rtype}})
}

fn subject(i: usize) -> Value {
    json!({"reference": format!("urn:uuid:{}", PATIENTS[i])})
}

fn encounter(i: usize, status: &str, locations: Value, end: Option<&str>) -> Value {
    let mut period = json!({"start": "2026-11-20T07:00:00Z"});
    if let Some(end) = end {
        period["end"] = json!(end);
    }
    json!({"resourceType": "Encounter", "status": status,
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "subject": subject(i), "period": period, "location": locations})
}

fn place(display: &str, status: &str, start: &str, end: Option<&str>) -> Value {
    let mut period = json!({"start": start});
    if let Some(end) = end {
        period["end"] = json!(end);
    }
    json!({"location": {"display": display}, "status": status, "period": period})
}

fn vital(i: usize, code: &str, at: String, value: f64, unit: &str) -> Value {
    json!({"resourceType": "Observation", "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": subject(i), "effectiveDateTime": at,
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}})
}

fn coded(system: &str, code: &str) -> Value {
    json!({"coding": [{"system": system, "code": code}]})
}

fn allergy(text: &str, verification: &str) -> Value {
    json!({"resourceType": "AllergyIntolerance",
        "clinicalStatus": coded("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active"),
        "verificationStatus": coded("http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", verification),
        "code": {"text": text}, "patient": subject(4)})
}

fn bundle() -> Value {
    let mut entries = Vec::new();
    for (i, family) in ["Moved", "Discharged", "Leftbed", "Longstay", "Statuses"]
        .iter()
        .enumerate()
    {
        entries.push(entry(
            PATIENTS[i].into(),
            json!({"resourceType": "Patient", "name": [{"family": format!("{family}test"), "given": ["Val"]}],
                   "gender": "female", "birthDate": "1960-01-01"}),
        ));
    }
    let mut n = 0u32;
    let mut next = || {
        n += 1;
        format!("5a1e0001-0000-4000-8000-{n:012}")
    };
    entries.push(entry(
        next(),
        encounter(
            0,
            "in-progress",
            json!([
                place(
                    "Emergency Waiting Room",
                    "completed",
                    "2026-11-20T07:00:00Z",
                    Some("2026-11-20T08:45:00Z")
                ),
                place(
                    "Ward 1, Room 42, Bed 1",
                    "active",
                    "2026-11-20T08:45:00Z",
                    None
                ),
                place("Radiology", "planned", "2026-11-22T09:00:00Z", None),
            ]),
            None,
        ),
    ));
    entries.push(entry(
        next(),
        encounter(
            1,
            "finished",
            json!([place(
                "Ward 2, Bed 5",
                "completed",
                "2026-11-20T07:00:00Z",
                Some("2026-11-24T11:30:00Z")
            )]),
            Some("2026-11-24T11:30:00Z"),
        ),
    ));
    entries.push(entry(
        next(),
        encounter(
            2,
            "in-progress",
            json!([
                place(
                    "Ward 3, Bed 1",
                    "completed",
                    "2026-11-20T07:00:00Z",
                    Some("2026-11-21T10:00:00Z")
                ),
                place(
                    "Ward 3, Bed 7",
                    "completed",
                    "2026-11-21T10:00:00Z",
                    Some("2026-11-23T16:15:00Z")
                ),
            ]),
            None,
        ),
    ));
    // A long stay: weight and height at admission, then 250 newer readings.
    entries.push(entry(
        next(),
        vital(3, "29463-7", "2026-11-01T08:00:00Z".into(), 71.5, "kg"),
    ));
    entries.push(entry(
        next(),
        vital(3, "8302-2", "2026-11-01T08:05:00Z".into(), 168.0, "cm"),
    ));
    for k in 0..250u32 {
        let at = format!(
            "2026-11-{:02}T{:02}:{:02}:00Z",
            2 + k / 10,
            k % 10 * 2,
            k % 60
        );
        let (code, value, unit) = if k % 2 == 0 {
            ("8867-4", 60.0 + f64::from(k % 40), "/min")
        } else {
            ("9279-1", 12.0 + f64::from(k % 8), "/min")
        };
        entries.push(entry(next(), vital(3, code, at, value, unit)));
    }
    // Statuses.
    entries.push(entry(next(), allergy("Penicillin", "unconfirmed")));
    entries.push(entry(next(), allergy("Latex", "refuted")));
    entries.push(entry(next(), allergy("Peanuts", "entered-in-error")));
    entries.push(entry(next(), allergy("Iodine", "confirmed")));
    entries.push(entry(
        next(),
        json!({"resourceType": "Condition",
            "clinicalStatus": coded("http://terminology.hl7.org/CodeSystem/condition-clinical", "active"),
            "verificationStatus": coded("http://terminology.hl7.org/CodeSystem/condition-ver-status", "provisional"),
            "severity": {"coding": [{"system": "http://snomed.info/sct", "code": "24484000", "display": "Severe"}]},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "233604007", "display": "Pneumonia"}]},
            "subject": subject(4)}),
    ));
    entries.push(entry(
        next(),
        json!({"resourceType": "Condition",
            "clinicalStatus": coded("http://terminology.hl7.org/CodeSystem/condition-clinical", "active"),
            "verificationStatus": coded("http://terminology.hl7.org/CodeSystem/condition-ver-status", "entered-in-error"),
            "code": {"text": "Asthma"}, "subject": subject(4)}),
    ));
    entries.push(entry(
        PAYOR.into(),
        json!({"resourceType": "Organization", "name": "Northwind Mutual"}),
    ));
    entries.push(entry(
        next(),
        json!({"resourceType": "Coverage", "status": "cancelled", "beneficiary": subject(4),
            "payor": [{"display": "Acme Health"}],
            "class": [{"type": coded("http://terminology.hl7.org/CodeSystem/coverage-class", "plan"), "value": "P1", "name": "Gold"}]}),
    ));
    entries.push(entry(
        next(),
        json!({"resourceType": "Coverage", "status": "active", "beneficiary": subject(4),
            "payor": [{"reference": format!("urn:uuid:{PAYOR}")}],
            "class": [{"type": coded("http://terminology.hl7.org/CodeSystem/coverage-class", "plan"), "value": "P2", "name": "Silver"}]}),
    ));
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

async fn summary_with(batch: BatchMode, id: &str) -> PatientSummary {
    let mut c = ClientConfig::new(&ward().base).unwrap();
    c.request_timeout = Duration::from_secs(30);
    c.batch_mode = batch;
    let client = FhirClient::connect(c).await.unwrap();
    client.summary(id).await.unwrap()
}

async fn summary(id: &str) -> PatientSummary {
    summary_with(BatchMode::Auto, id).await
}

#[tokio::test]
async fn the_current_bed_not_the_first_place() {
    let w = ward();
    let s = summary(&w.moved).await;
    assert_eq!(s.location.as_deref(), Some("Ward 1, Room 42, Bed 1"));
    let e = &s.encounter.items[0];
    assert_eq!(e.location.as_deref(), Some("Ward 1, Room 42, Bed 1"));
    assert_eq!(e.last_location, None);

    let s = summary(&w.discharged).await;
    assert_eq!(
        s.location.as_deref(),
        Some("Discharged (last known: Ward 2, Bed 5 until 2026-11-24 11:30 UTC)")
    );

    let s = summary(&w.left_bed).await;
    assert_eq!(
        s.location.as_deref(),
        Some("Last known: Ward 3, Bed 7 until 2026-11-23 16:15 UTC"),
        "every place completed: the last one, as past"
    );
}

#[tokio::test]
async fn admission_weight_and_height_on_a_long_stay() {
    let w = ward();
    for batch in [BatchMode::Always, BatchMode::Never] {
        let s = summary_with(batch, &w.long_stay).await;
        let value = |code: &str| {
            s.vitals
                .items
                .iter()
                .find(|v| v.measurement.code == code)
                .and_then(|v| v.measurement.value)
        };
        assert_eq!(value("29463-7"), Some(71.5), "{batch:?}: weight");
        assert_eq!(value("8302-2"), Some(168.0), "{batch:?}: height");
        assert!(value("8867-4").is_some() && value("9279-1").is_some());
        assert!(
            !matches!(s.vitals.status, SectionStatus::Partial { .. }),
            "{batch:?}: every sign was looked for: {}",
            s.vitals.status
        );
    }
}

#[tokio::test]
async fn statuses_that_change_the_meaning() {
    let w = ward();
    let s = summary(&w.statuses).await;
    let allergies: Vec<String> = s.allergies.items.iter().filter_map(|a| a.label()).collect();
    assert_eq!(
        allergies.len(),
        3,
        "entered in error is left out: {allergies:?}"
    );
    for expected in ["Penicillin (unconfirmed)", "Latex (refuted)", "Iodine"] {
        assert!(
            allergies.iter().any(|a| a == expected),
            "{expected}: {allergies:?}"
        );
    }
    let conditions: Vec<String> = s
        .conditions
        .items
        .iter()
        .filter_map(|c| c.label())
        .collect();
    assert_eq!(conditions, vec!["Pneumonia (Severe; provisional)"]);
    let coverage: Vec<String> = s
        .coverage
        .items
        .iter()
        .filter_map(|c| c.label("2026-12-01"))
        .collect();
    assert!(
        coverage
            .iter()
            .any(|c| c == "Acme Health – Gold (cancelled)"),
        "{coverage:?}"
    );
    assert!(
        coverage.iter().any(|c| c == "Northwind Mutual – Silver"),
        "the payor's name read from its Organization: {coverage:?}"
    );
}
