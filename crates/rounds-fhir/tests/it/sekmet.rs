//! Against a real FHIR R4 server: sekmet-fhir, started once for this file in
//! its own temporary working directory, seeded through its own `seed` and
//! `clinical.vitals` workflow and through a transaction Bundle of ours.
//!
//! (Over 500 lines: one job, the client against one real server: starting and
//! seeding it once, then each test one thing the client does.)

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use rounds_fhir::{
    BatchMode, ClientConfig, FhirClient, FhirError, FhirVersion, Path, PatientQuery, SectionStatus,
};
use serde_json::{json, Value};

use crate::common::{block_on_thread, free_port, spawn_watched, wait_http, workspace_root};

pub struct Sekmet {
    pub base: String,
    /// Our own patients (from the transaction Bundle).
    pub ada: String,
    pub bob: String,
    /// Patients made by `sekmet seed --admit` (admitted ones first).
    pub seeded: Vec<String>,
    /// The admitted seeded patient whose vitals the workflow recorded.
    pub with_vitals: String,
    _dir: tempfile::TempDir,
}

/// The sekmet executable: `ROUNDS_TEST_SEKMET`, else the one in .venv-peers.
pub fn sekmet_exe() -> PathBuf {
    if let Ok(p) = std::env::var("ROUNDS_TEST_SEKMET") {
        return PathBuf::from(p);
    }
    let p = workspace_root().join(".venv-peers/bin/sekmet");
    assert!(
        p.exists(),
        "sekmet-fhir is not installed: run scripts/test.sh (it installs it into .venv-peers) or set ROUNDS_TEST_SEKMET"
    );
    p
}

/// Starts an empty sekmet on a free port; answers its working dir, base URL
/// and watchdog process (SIGTERM to it stops the server).
pub fn start_sekmet() -> (tempfile::TempDir, String, std::process::Child) {
    let exe = sekmet_exe();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}/fhir");
    let log = dir.path().join("serve.log");
    // base_url must be the address we use, or its paging links point elsewhere.
    let child = spawn_watched(
        exe.to_str().unwrap(),
        &["serve", "--host", "127.0.0.1", "--port", &port.to_string()],
        dir.path(),
        &[("SEKMET_BASE_URL", base.clone())],
        &log,
    );
    wait_http(&format!("{base}/metadata"), Duration::from_secs(60), &log);
    (dir, base, child)
}

fn run_sekmet(dir: &std::path::Path, base: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(sekmet_exe())
        .args(args)
        .current_dir(dir)
        .env("SEKMET_BASE_URL", base)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "sekmet {args:?} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

pub fn sekmet() -> &'static Sekmet {
    static SERVER: OnceLock<Sekmet> = OnceLock::new();
    SERVER.get_or_init(|| {
        let (dir, base, _watchdog) = start_sekmet();
        // Their own seeding: 3 patients, admitted ones get a bed.
        let out = run_sekmet(dir.path(), &base, &["seed", "--count", "3", "--admit"]);
        let mut admitted = Vec::new();
        let mut seeded = Vec::new();
        for line in out.lines() {
            let mut words = line.split_whitespace();
            let Some(p) = words.next().and_then(|w| w.strip_prefix("Patient/")) else {
                continue;
            };
            let enc = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix("Encounter/"));
            match enc {
                Some(e) => {
                    admitted.push((p.to_owned(), e.to_owned()));
                    seeded.insert(0, p.to_owned());
                }
                None => seeded.push(p.to_owned()),
            }
        }
        let (with_vitals, enc) = admitted
            .first()
            .cloned()
            .expect("sekmet seed admitted no one");
        run_sekmet(
            dir.path(),
            &base,
            &[
                "workflow",
                "run",
                "clinical.vitals",
                "-a",
                &format!("patient={with_vitals}"),
                "-a",
                &format!("encounter={enc}"),
            ],
        );
        // Ours: a transaction Bundle with every section for Ada, none for Bob.
        let ids = block_on_thread({
            let base = base.clone();
            async move { post_transaction(&base, our_bundle()).await }
        });
        let ada = ids[0].clone();
        let bob = ids[1].clone();
        Sekmet {
            base,
            ada,
            bob,
            seeded,
            with_vitals,
            _dir: dir,
        }
    })
}

/// Posts a transaction; answers the ids of the created resources in order.
pub async fn post_transaction(base: &str, bundle: Value) -> Vec<String> {
    let resp = reqwest::Client::new()
        .post(format!("{base}/"))
        .header("content-type", "application/fhir+json")
        .body(bundle.to_string())
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert!(status.is_success(), "transaction refused: {body}");
    body["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            // `Type/id/_history/n`, relative or absolute.
            let loc = e["response"]["location"].as_str().unwrap();
            let parts: Vec<&str> = loc.split('/').collect();
            let at = parts
                .iter()
                .rposition(|p| *p == "_history")
                .map_or(parts.len() - 1, |h| h - 1);
            parts[at].to_owned()
        })
        .collect()
}

fn entry(uuid: &str, resource: Value) -> Value {
    let rtype = resource["resourceType"].as_str().unwrap().to_owned();
    json!({"fullUrl": format!("urn:uuid:{uuid}"), "resource": resource,
           "request": {"method": "POST", "url": rtype}})
}

const ADA: &str = "8d7a2c1e-0000-4000-8000-00000000a0a0";
const BOB: &str = "8d7a2c1e-0000-4000-8000-00000000b0b0";

fn vital(code: &str, display: &str, at: &str, value: Value) -> Value {
    let mut o = json!({"resourceType": "Observation", "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": display}]},
        "subject": {"reference": format!("urn:uuid:{ADA}")},
        "effectiveDateTime": at});
    match value {
        Value::Array(components) => o["component"] = Value::Array(components),
        v => o["valueQuantity"] = v,
    }
    o
}

fn condition(text: &str, recorded: &str) -> Value {
    json!({"resourceType": "Condition",
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "38341003", "display": text}]},
        "subject": {"reference": format!("urn:uuid:{ADA}")}, "recordedDate": recorded})
}

pub fn our_bundle() -> Value {
    let qty = |v: f64, unit: &str| json!({"value": v, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit});
    let bp = json!([
        {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6", "display": "Systolic"}]}, "valueQuantity": qty(128.0, "mm[Hg]")},
        {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4", "display": "Diastolic"}]}, "valueQuantity": qty(82.0, "mm[Hg]")}]);
    let entries = vec![
        entry(
            ADA,
            json!({"resourceType": "Patient",
            "identifier": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
                            "system": "urn:oid:1.2.3.4.5.1", "value": "RT-ADA-0001"}],
            "name": [{"use": "official", "family": "Lovelacetest", "given": ["Ada", "Augusta"], "prefix": ["Ms."]}],
            "gender": "female", "birthDate": "1950-03-04",
            "generalPractitioner": [{"display": "Dr. Charles Babbage"}]}),
        ),
        entry(
            BOB,
            json!({"resourceType": "Patient",
            "name": [{"use": "official", "family": "Emptytest", "given": ["Bob"]}], "gender": "male", "birthDate": "1990-01-01"}),
        ),
        entry(
            "8d7a2c1e-0000-4000-8000-0000000010c0",
            json!({"resourceType": "Location", "name": "Ward 7, Room 12, Bed A", "status": "active"}),
        ),
        entry(
            "8d7a2c1e-0000-4000-8000-0000000e0c01",
            json!({"resourceType": "Encounter", "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
            "type": [{"coding": [{"system": "http://snomed.info/sct", "code": "32485007", "display": "Hospital admission"}]}],
            "subject": {"reference": format!("urn:uuid:{ADA}")}, "period": {"start": "2024-05-01T07:00:00Z"},
            "location": [{"location": {"reference": "urn:uuid:8d7a2c1e-0000-4000-8000-0000000010c0", "display": "Ward 7, Room 12, Bed A"}}]}),
        ),
        entry(
            "8d7a2c1e-0000-4000-8000-000000000b01",
            vital(
                "8867-4",
                "Heart rate",
                "2024-05-01T08:00:00Z",
                qty(72.0, "/min"),
            ),
        ),
        entry(
            "8d7a2c1e-0000-4000-8000-000000000b02",
            vital(
                "8867-4",
                "Heart rate",
                "2024-05-02T08:00:00Z",
                qty(88.0, "/min"),
            ),
        ),
        entry(
            "8d7a2c1e-0000-4000-8000-000000000b03",
            vital(
                "85354-9",
                "Blood pressure panel",
                "2024-05-02T08:00:00Z",
                bp,
            ),
        ),
        entry(
            "8d7a2c1e-0000-4000-8000-000000000c01",
            condition("Hypertension", "2020-01-01"),
        ),
        entry(
            "8d7a2c1e-0000-4000-8000-000000000c02",
            condition("Asthma", "2021-01-01"),
        ),
        entry(
            "8d7a2c1e-0000-4000-8000-000000000c03",
            condition("Gout", "2022-01-01"),
        ),
        entry(
            "8d7a2c1e-0000-4000-8000-000000000a11",
            json!({"resourceType": "AllergyIntolerance",
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "active"}]},
            "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "code": "confirmed"}]},
            "code": {"text": "Peanuts"}, "patient": {"reference": format!("urn:uuid:{ADA}")},
            "recordedDate": "2019-06-01", "note": [{"text": "carries an auto-injector"}],
            "reaction": [{"manifestation": [{"text": "Hives"}]}]}),
        ),
        entry(
            "8d7a2c1e-0000-4000-8000-000000000d01",
            json!({"resourceType": "MedicationRequest", "status": "active", "intent": "order",
            "medicationCodeableConcept": {"text": "Amlodipine 5 mg tablet"},
            "subject": {"reference": format!("urn:uuid:{ADA}")}, "authoredOn": "2024-05-01",
            "requester": {"display": "Dr. Grace Hopper"}, "dosageInstruction": [{"text": "1 tablet daily"}]}),
        ),
        entry(
            "8d7a2c1e-0000-4000-8000-000000000e01",
            json!({"resourceType": "Coverage", "status": "active",
            "beneficiary": {"reference": format!("urn:uuid:{ADA}")}, "subscriberId": "SUB-42",
            "payor": [{"display": "Acme Health"}], "period": {"start": "2024-01-01", "end": "2024-12-31"},
            "class": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/coverage-class", "code": "plan"}]}, "value": "P1", "name": "Gold Plan"},
                      {"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/coverage-class", "code": "group"}]}, "value": "G1", "name": "Analytical Engines Ltd"}]}),
        ),
    ];
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

fn config(base: &str) -> ClientConfig {
    let mut c = ClientConfig::new(base).unwrap();
    c.request_timeout = Duration::from_secs(20);
    c
}

#[tokio::test]
async fn discovery_reads_the_capability_statement() {
    let s = sekmet();
    let client = FhirClient::connect(config(&s.base)).await.unwrap();
    let caps = client.capabilities();
    assert_eq!(caps.version, FhirVersion::R4);
    assert_eq!(caps.resource_type, "CapabilityStatement");
    assert!(caps.batch);
    for t in crate::common::CONTRACT_TYPES {
        assert!(caps.resources.contains_key(t), "{t}");
    }
    assert!(caps.declares_param("Coverage", "beneficiary"));
    // sekmet publishes a SMART configuration.
    assert!(caps.token_endpoint().is_some_and(|t| t.ends_with("/token")));
}

#[tokio::test]
async fn patient_search_by_each_parameter_with_total() {
    let s = sekmet();
    let client = FhirClient::connect(config(&s.base)).await.unwrap();
    let q = |f: fn(&mut PatientQuery)| {
        let mut q = PatientQuery::default();
        f(&mut q);
        q
    };
    let by_family = client
        .search_patients(&q(|q| q.family = Some("Lovelacetest".into())))
        .await
        .unwrap();
    assert!(by_family.via_post, "sekmet takes POST _search");
    assert_eq!(by_family.total, Some(1));
    assert_eq!(by_family.patients[0].id, s.ada);
    for query in [
        q(|q| q.identifier = Some("RT-ADA-0001".into())),
        q(|q| q.given = Some("Augusta".into())),
        q(|q| q.name = Some("Lovelacetest".into())),
        q(|q| {
            q.birthdate = Some("1950-03-04".into());
            q.gender = Some("female".into());
        }),
    ] {
        let r = client.search_patients(&query).await.unwrap();
        assert!(r.patients.iter().any(|p| p.id == s.ada), "{query:?}");
        assert!(r.total.unwrap() >= 1);
    }
    let by_id = PatientQuery {
        id: Some(s.bob.clone()),
        ..Default::default()
    };
    let by_id = client.search_patients(&by_id).await.unwrap();
    assert_eq!(
        (by_id.total, by_id.patients[0].family.as_deref()),
        (Some(1), Some("Emptytest"))
    );
    let none = client
        .search_patients(&q(|q| q.family = Some("Nosuchnamexyz".into())))
        .await
        .unwrap();
    assert_eq!((none.total, none.patients.len()), (Some(0), 0));
    // _count bounds the page, the total still counts all.
    let all = client
        .search_patients(&q(|q| q.count = Some(2)))
        .await
        .unwrap();
    assert_eq!(all.patients.len(), 2);
    assert!(all.total.unwrap() >= 5);
}

#[tokio::test]
async fn operation_outcome_diagnostics_reach_the_caller() {
    let s = sekmet();
    let client = FhirClient::connect(config(&s.base)).await.unwrap();
    let err = client
        .search_patients(&PatientQuery {
            birthdate: Some("notadate".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    match &err {
        FhirError::Status {
            status: 400,
            diagnostics,
            ..
        } => {
            assert!(
                diagnostics.iter().any(|d| d.contains("notadate")),
                "{diagnostics:?}"
            )
        }
        other => panic!("expected HTTP 400 with diagnostics, got {other:?}"),
    }
    assert!(!err.should_retry());
    let missing = client.read_patient("no-such-patient").await.unwrap_err();
    assert_eq!(missing.status(), Some(404));
    assert!(missing.to_string().contains("not found"), "{missing}");
}

#[tokio::test]
async fn patient_read_gives_demographics() {
    let s = sekmet();
    let client = FhirClient::connect(config(&s.base)).await.unwrap();
    let p = client.read_patient(&s.ada).await.unwrap();
    assert_eq!(p.family.as_deref(), Some("Lovelacetest"));
    assert_eq!(p.given, vec!["Ada", "Augusta"]);
    assert_eq!(p.prefix, vec!["Ms."]);
    assert_eq!(p.gender.as_deref(), Some("female"));
    assert_eq!(p.birth_date.as_deref(), Some("1950-03-04"));
    assert_eq!(p.mrn.as_deref(), Some("RT-ADA-0001"));
    assert_eq!(
        p.general_practitioner.as_deref(),
        Some("Dr. Charles Babbage")
    );
    assert!(
        client.read_patient("../metadata").await.is_err(),
        "ids are checked before use"
    );
}

fn check_ada(sum: &rounds_fhir::PatientSummary) {
    assert_eq!(sum.patient.mrn.as_deref(), Some("RT-ADA-0001"));
    assert!(sum.age.unwrap() >= 74);
    assert_eq!(sum.location.as_deref(), Some("Ward 7, Room 12, Bed A"));
    // Vitals: the latest heart rate, and blood pressure with components.
    assert_eq!(sum.vitals.status, SectionStatus::Complete);
    let hr = sum
        .vitals
        .items
        .iter()
        .find(|v| v.measurement.code == "8867-4")
        .unwrap();
    assert_eq!(hr.measurement.value, Some(88.0));
    assert_eq!(
        hr.effective.as_deref().map(|e| &e[..10]),
        Some("2024-05-02")
    );
    let bp = sum
        .vitals
        .items
        .iter()
        .find(|v| v.measurement.code == "85354-9")
        .unwrap();
    let sys = bp.components.iter().find(|c| c.code == "8480-6").unwrap();
    assert_eq!(
        (sys.value, sys.unit.as_deref()),
        (Some(128.0), Some("mm[Hg]"))
    );
    assert_eq!(sum.conditions.items.len(), 3);
    assert!(sum
        .conditions
        .items
        .iter()
        .any(|c| c.display.as_deref() == Some("Gout")
            && c.clinical_status.as_deref() == Some("active")
            && c.recorded.as_deref() == Some("2022-01-01")));
    let enc = &sum.encounter.items[0];
    assert_eq!(
        (enc.status.as_deref(), enc.kind.as_deref()),
        (Some("in-progress"), Some("Hospital admission"))
    );
    let a = &sum.allergies.items[0];
    assert_eq!(a.substance.as_deref(), Some("Peanuts"));
    assert_eq!(a.clinical_status.as_deref(), Some("active"));
    assert_eq!(a.verification_status.as_deref(), Some("confirmed"));
    assert_eq!(a.reactions, vec!["Hives"]);
    assert_eq!(a.note.as_deref(), Some("carries an auto-injector"));
    let m = &sum.medications.items[0];
    assert_eq!(m.medication.as_deref(), Some("Amlodipine 5 mg tablet"));
    assert_eq!(m.prescriber.as_deref(), Some("Dr. Grace Hopper"));
    assert_eq!(m.dosage, vec!["1 tablet daily"]);
    assert_eq!(m.source, "MedicationRequest");
    let c = &sum.coverage.items[0];
    assert_eq!(c.plan.as_deref(), Some("Gold Plan"));
    assert_eq!(c.group.as_deref(), Some("Analytical Engines Ltd"));
    assert_eq!(c.payor.as_deref(), Some("Acme Health"));
    assert_eq!(c.subscriber_id.as_deref(), Some("SUB-42"));
    for (kind, status) in sum.statuses() {
        assert_eq!(status, &SectionStatus::Complete, "{kind:?}");
    }
}

#[tokio::test]
async fn summary_on_the_batch_path_and_the_concurrent_path() {
    let s = sekmet();
    for mode in [BatchMode::Always, BatchMode::Never] {
        let mut c = config(&s.base);
        c.batch_mode = mode;
        let client = FhirClient::connect(c).await.unwrap();
        let expected = if mode == BatchMode::Always {
            Path::Batch
        } else {
            Path::Concurrent
        };
        assert_eq!(client.next_path(), expected);
        let sum = client.summary(&s.ada).await.unwrap();
        check_ada(&sum);
        let empty = client.summary(&s.bob).await.unwrap();
        for (kind, status) in empty.statuses() {
            assert_eq!(
                status,
                &SectionStatus::Empty,
                "{kind:?} for a patient without data"
            );
        }
    }
}

#[tokio::test]
async fn the_batch_shape_measured_on_a_few_patients() {
    let s = sekmet();
    let client = FhirClient::connect(config(&s.base)).await.unwrap();
    let m = client.measure_shapes(&s.seeded).await.unwrap();
    // At most four patients' queries, not the whole list.
    assert_eq!(
        m.queries,
        client
            .summary_queries(&s.seeded[..s.seeded.len().min(rounds_fhir::SAMPLE_PATIENTS)])
            .len()
    );
    let tried: Vec<String> = m.trials.iter().map(|t| t.shape.to_string()).collect();
    assert_eq!(
        tried,
        ["bundle", "bundles:2", "bundles:4", "gets:4", "gets:8"]
    );
    assert!(
        m.trials
            .iter()
            .all(|t| t.micros.is_some() && t.error.is_none()),
        "{m:?}"
    );
    // The first within a tenth of the fastest.
    let fastest = m.trials.iter().filter_map(|t| t.micros).min().unwrap() as f64;
    let first_near = m
        .trials
        .iter()
        .find(|t| t.micros.unwrap() as f64 <= fastest * 1.1)
        .unwrap();
    assert_eq!(first_near.shape, m.chosen, "{m:?}");
    // The chosen shape reads the same as the configured chunks.
    let chunked = client.summaries(&s.seeded).await;
    client.set_shape(Some(m.chosen));
    let shaped = client.summaries(&s.seeded).await;
    let json = |v: &[Result<rounds_fhir::PatientSummary, FhirError>]| {
        v.iter()
            .map(|r| serde_json::to_value(r.as_ref().unwrap()).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(json(&chunked), json(&shaped));
}

#[tokio::test]
async fn partial_sections_and_paging_on_the_same_origin() {
    let s = sekmet();
    let mut c = config(&s.base);
    c.page_size = 2;
    c.max_pages = 1;
    let client = FhirClient::connect(c.clone()).await.unwrap();
    let sum = client.summary(&s.ada).await.unwrap();
    assert_eq!(
        sum.conditions.status,
        SectionStatus::Partial { shown: 2, total: 3 }
    );
    assert_eq!(sum.conditions.status.to_string(), "partial (2 of 3)");
    // With paging, the `next` link (sekmet's own origin) completes it.
    c.max_pages = 3;
    let client = FhirClient::connect(c).await.unwrap();
    let sum = client.summary(&s.ada).await.unwrap();
    assert_eq!(sum.conditions.status, SectionStatus::Complete);
    assert_eq!(sum.conditions.items.len(), 3);
}

#[tokio::test]
async fn many_patients_in_chunked_batches_and_concurrent_gets() {
    let s = sekmet();
    let mut ids = s.seeded.clone();
    ids.push(s.ada.clone());
    ids.push("no-such-patient".into());
    ids.push(s.bob.clone());
    ids.push("bad/id".into());
    let mut results = Vec::new();
    for (mode, chunk) in [(BatchMode::Always, 4), (BatchMode::Never, 4)] {
        let mut c = config(&s.base);
        c.batch_mode = mode;
        c.batch_chunk_size = chunk;
        c.max_concurrency = 3;
        let client = FhirClient::connect(c).await.unwrap();
        let sums = client.summaries(&ids).await;
        assert_eq!(sums.len(), ids.len());
        let n = s.seeded.len();
        for sum in &sums[..n] {
            let sum = sum.as_ref().unwrap();
            assert!(s.seeded.contains(&sum.patient.id));
        }
        check_ada(sums[n].as_ref().unwrap());
        assert_eq!(
            sums[n + 1].as_ref().unwrap_err().status(),
            Some(404),
            "one unknown patient fails alone"
        );
        assert_eq!(sums[n + 2].as_ref().unwrap().patient.id, s.bob);
        assert!(matches!(sums[n + 3], Err(FhirError::Config(_))));
        results.push(
            sums.iter()
                .map(|r| r.as_ref().ok().map(|s| serde_json::to_value(s).unwrap()))
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(results[0], results[1], "both paths read the same");
}

#[tokio::test]
async fn seeded_through_sekmets_own_workflows() {
    let s = sekmet();
    let client = FhirClient::connect(config(&s.base)).await.unwrap();
    let sum = client.summary(&s.with_vitals).await.unwrap();
    assert!(sum
        .patient
        .mrn
        .as_deref()
        .is_some_and(|m| m.starts_with("MRN")));
    assert!(
        sum.location
            .as_deref()
            .is_some_and(|l| l.starts_with("Bed")),
        "{:?}",
        sum.location
    );
    assert_eq!(sum.vitals.status, SectionStatus::Complete);
    assert!(sum
        .vitals
        .items
        .iter()
        .any(|v| v.measurement.code == "8867-4" && v.measurement.value.is_some()));
    assert!(sum.patient.general_practitioner.is_some());
}

#[tokio::test]
async fn a_server_that_stops_mid_run() {
    let (dir, base, watchdog) = start_sekmet();
    let out = run_sekmet(dir.path(), &base, &["seed", "--count", "2", "--no-admit"]);
    let ids: Vec<String> = out
        .lines()
        .filter_map(|l| l.split_whitespace().next()?.strip_prefix("Patient/"))
        .map(str::to_owned)
        .collect();
    assert_eq!(ids.len(), 2, "{out}");
    let mut c = config(&base);
    c.request_timeout = Duration::from_secs(3);
    c.max_retries = 0;
    c.batch_mode = BatchMode::Never;
    c.max_concurrency = 1;
    let client = FhirClient::connect(c).await.unwrap();
    // 80 summaries one request at a time (560 requests): the server is
    // stopped while they run.
    let many: Vec<String> = ids.iter().cycle().take(80).cloned().collect();
    let run = tokio::spawn({
        let client = client.clone();
        async move { client.summaries(&many).await }
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    // SIGTERM to its watchdog, which kills the server.
    let stopped = std::process::Command::new("kill")
        .args(["-TERM", &watchdog.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let mut watchdog = watchdog;
    watchdog.wait().unwrap();
    let results = run.await.unwrap();
    assert_eq!(results.len(), 80);
    // Every patient is either summarised (each section complete, empty, or
    // failed and retryable) or failed with a retryable error; some failed.
    let mut failures = 0;
    for r in &results {
        match r {
            Ok(sum) => {
                for (kind, status) in sum.statuses() {
                    match status {
                        SectionStatus::Failed { retryable, reason } => {
                            assert!(*retryable, "{kind:?}: {reason}");
                            failures += 1;
                        }
                        other => assert!(
                            matches!(other, SectionStatus::Complete | SectionStatus::Empty),
                            "{kind:?}: {other:?}"
                        ),
                    }
                }
            }
            Err(e) => {
                assert!(e.should_retry(), "{e:?}");
                failures += 1;
            }
        }
    }
    let done = results.iter().filter(|r| r.is_ok()).count();
    assert!(
        failures > 0,
        "the server stopped before anything failed? ({done} summaries done)"
    );
    eprintln!("stopped mid-run: {done} of 80 summaries read, {failures} failures");
    // And afterwards: a clear, retryable network error.
    let err = client.summary(&ids[0]).await.unwrap_err();
    assert!(
        matches!(err, FhirError::Network { .. } | FhirError::Timeout { .. }),
        "{err:?}"
    );
    assert!(err.should_retry());
    drop(dir);
}
