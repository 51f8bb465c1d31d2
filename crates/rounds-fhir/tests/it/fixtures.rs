//! Version shapes: HL7's own STU3 and R4 example resources (npm packages
//! hl7.fhir.r3.examples, hl7.fhir.r4.examples) and DSTU2 fixtures written
//! from the DSTU2 specification, served by a local responder that, like a
//! careless server, ignores the patient search parameter: the client must
//! drop every resource of another patient.
//!
//! (Over 500 lines: one job, the versions' shapes from real example resources;
//! each test one version or one checker case, its checks beside it.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rounds_fhir::{
    BatchMode, ClientConfig, FhirClient, FhirVersion, PatientQuery, PatientSummary, SectionStatus,
};
use serde_json::{json, Value};

use crate::responder::{self, Reply, Responder};

fn examples(package: &str) -> PathBuf {
    let root = std::env::var("ROUNDS_TEST_PEERS_NODE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| crate::common::workspace_root().join(".peers-node"));
    let dir = root.join("examples").join(package).join("package");
    assert!(
        dir.exists(),
        "{} missing: run scripts/test.sh (it fetches HL7's example packages)",
        dir.display()
    );
    dir
}

fn read_json(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap();
    let bytes = bytes
        .strip_prefix(b"\xEF\xBB\xBF".as_slice())
        .unwrap_or(&bytes);
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every example of each type in an HL7 package, by type.
fn load_package(dir: &Path, types: &[&str]) -> BTreeMap<String, Vec<Value>> {
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    for name in names {
        let Some(t) = types.iter().find(|t| name.starts_with(&format!("{t}-"))) else {
            continue;
        };
        let v = read_json(&dir.join(&name));
        if v["resourceType"] == json!(t) {
            out.entry((*t).to_owned()).or_default().push(v);
        }
    }
    out
}

const TYPES: [&str; 8] = [
    "Patient",
    "Observation",
    "Condition",
    "Encounter",
    "AllergyIntolerance",
    "MedicationRequest",
    "MedicationStatement",
    "Coverage",
];

/// Serves `by_type` as a server of `version`: `Patient/{id}` answers the
/// Patient "example" (or the first Patient) with its id set to the one asked for (prefixed with a BOM
/// when `bom_patient`), and every search answers all resources of its type.
async fn serve(
    version: &str,
    conformance: Option<Value>,
    by_type: BTreeMap<String, Vec<Value>>,
    bom_patient: bool,
) -> Responder {
    let types: Vec<String> = by_type.keys().cloned().collect();
    let by_type = Arc::new(by_type);
    let version = version.to_owned();
    responder::start(responder::sync_handler(move |hit| {
        let path = hit.fhir_path();
        if path == "metadata" {
            let t: Vec<&str> = types.iter().map(String::as_str).collect();
            return Reply::json(200, &conformance.clone().unwrap_or_else(|| responder::metadata(&version, &t, false, None)));
        }
        if let Some(id) = path.strip_prefix("Patient/") {
            let patients = by_type.get("Patient").map(Vec::as_slice).unwrap_or_default();
            let example = patients.iter().find(|p| p["id"] == json!("example")).or(patients.first());
            let Some(mut p) = example.cloned() else {
                return Reply::json(404, &json!({"resourceType": "OperationOutcome"}));
            };
            p["id"] = json!(id);
            let mut body = p.to_string().into_bytes();
            if bom_patient {
                body.splice(0..0, b"\xEF\xBB\xBF".iter().copied());
            }
            return Reply::raw(200, body);
        }
        match by_type.get(path) {
            Some(all) => Reply::json(200, &responder::searchset(all, Some(all.len() as u64), None)),
            None => Reply::json(404, &json!({"resourceType": "OperationOutcome", "issue": [{"diagnostics": format!("no {path}")}]})),
        }
    }))
    .await
}

async fn connect(base: &str) -> FhirClient {
    let mut c = ClientConfig::new(base).unwrap();
    c.batch_mode = BatchMode::Never;
    c.page_size = 100;
    FhirClient::connect(c).await.unwrap()
}

fn owned_by(all: &[Value], pid: &str) -> usize {
    all.iter()
        .filter(|r| rounds_fhir::parse::belongs_to(r, pid))
        .count()
}

#[tokio::test]
async fn r4_examples() {
    let data = load_package(&examples("hl7.fhir.r4.examples"), &TYPES);
    let counts: BTreeMap<String, usize> = data.iter().map(|(k, v)| (k.clone(), v.len())).collect();
    let conditions_of_example = owned_by(&data["Condition"], "example");
    let server = serve("4.0.1", None, data.clone(), false).await;
    let client = connect(&server.base).await;
    assert_eq!(client.version(), FhirVersion::R4);
    let s = client.summary("example").await.unwrap();
    // Patient-example.json: Peter James Chalmers, MRN 12345.
    assert_eq!(s.patient.family.as_deref(), Some("Chalmers"));
    assert_eq!(s.patient.given, vec!["Peter", "James"]);
    assert_eq!(s.patient.mrn.as_deref(), Some("12345"));
    assert_eq!(s.patient.birth_date.as_deref(), Some("1974-12-25"));
    // The server ignored ?patient=: other patients' resources are dropped and counted.
    assert_eq!(s.conditions.items.len(), conditions_of_example);
    assert_eq!(
        s.conditions.foreign_dropped,
        counts["Condition"] - conditions_of_example
    );
    assert!(s.conditions.items.iter().all(|c| c.display.is_some()));
    // R4 allergies: CodeableConcept statuses read as codes.
    let a = s
        .allergies
        .items
        .iter()
        .find(|a| a.substance.as_deref() == Some("Cashew nuts"))
        .unwrap();
    assert_eq!(a.clinical_status.as_deref(), Some("active"));
    assert_eq!(a.verification_status.as_deref(), Some("confirmed"));
    assert_eq!(a.recorded.as_deref(), Some("2014-10-09T14:58:00+11:00"));
    assert!(!a.reactions.is_empty());
    // Vitals: blood pressure with components, heart rate.
    let bp = s
        .vitals
        .items
        .iter()
        .find(|v| v.measurement.code == "85354-9")
        .unwrap();
    assert!(bp
        .components
        .iter()
        .any(|c| c.code == "8480-6" && c.value == Some(107.0)));
    assert!(s
        .vitals
        .items
        .iter()
        .any(|v| v.measurement.code == "8867-4" && v.measurement.value == Some(44.0)));
    assert!(s
        .vitals
        .items
        .iter()
        .all(|v| rounds_fhir::model::is_vital_code(&v.measurement.code)));
    // None of the medication or coverage examples is this patient's.
    assert_eq!(s.medications.status, SectionStatus::Empty);
    assert_eq!(s.medications.foreign_dropped, counts["MedicationRequest"]);
    assert!(s.encounter.items.iter().all(|e| e.status.is_some()));

    // Medication requests and coverage of the patients they belong to.
    let pat1 = client.summary("pat1").await.unwrap();
    assert!(!pat1.medications.items.is_empty());
    let unnamed: Vec<_> = pat1
        .medications
        .items
        .iter()
        .filter(|m| m.medication.is_none())
        .collect();
    assert!(unnamed.is_empty(), "{unnamed:#?}");
    assert!(pat1
        .medications
        .items
        .iter()
        .all(|m| m.source == "MedicationRequest"));
    assert!(pat1
        .medications
        .items
        .iter()
        .any(|m| m.prescriber.is_some() && m.written.is_some()));
    let cov_pid = data["Coverage"]
        .iter()
        .find_map(|c| {
            c["beneficiary"]["reference"]
                .as_str()
                .and_then(|r| r.strip_prefix("Patient/"))
                .map(str::to_owned)
        })
        .unwrap();
    let holder = client.summary(&cov_pid).await.unwrap();
    assert!(!holder.coverage.items.is_empty());
    assert!(holder
        .coverage
        .items
        .iter()
        .any(|c| c.payor.is_some() || c.plan.is_some()));
}

#[tokio::test]
async fn stu3_examples_with_a_bom() {
    let dir = examples("hl7.fhir.r3.examples");
    let data = load_package(&dir, &TYPES);
    let server = serve("3.0.1", None, data.clone(), true).await;
    let client = connect(&server.base).await;
    assert_eq!(client.version(), FhirVersion::Stu3);
    // STU3's only Patient (Patient-null.json) has no id: the responder gives
    // it one, and prefixes a UTF-8 BOM.
    let s = client.summary("example").await.unwrap();
    assert!(s.patient.family.is_some() || s.patient.name_text.is_some());
    assert_eq!(
        s.conditions.items.len(),
        owned_by(&data["Condition"], "example")
    );
    // STU3: plain-code statuses and assertedDate.
    let a = s
        .allergies
        .items
        .iter()
        .find(|a| a.substance.as_deref() == Some("Cashew nuts"))
        .unwrap();
    assert_eq!(a.clinical_status.as_deref(), Some("active"));
    assert_eq!(a.verification_status.as_deref(), Some("confirmed"));
    assert!(a.recorded.is_some());
    assert!(s
        .vitals
        .items
        .iter()
        .any(|v| v.measurement.code == "8867-4"));
    // STU3 MedicationRequest: requester.agent.display.
    let pid = data["MedicationRequest"]
        .iter()
        .find(|m| m["requester"]["agent"]["display"].is_string())
        .and_then(|m| m["subject"]["reference"].as_str())
        .and_then(|r| r.strip_prefix("Patient/"))
        .unwrap()
        .to_owned();
    let with_meds = client.summary(&pid).await.unwrap();
    assert!(with_meds
        .medications
        .items
        .iter()
        .any(|m| m.prescriber.is_some()));
    // STU3 Coverage: grouping.
    let cov = data["Coverage"]
        .iter()
        .find(|c| c["grouping"].is_object())
        .unwrap();
    let holder = cov["beneficiary"]["reference"]
        .as_str()
        .unwrap()
        .trim_start_matches("Patient/")
        .to_owned();
    let h = client.summary(&holder).await.unwrap();
    assert!(
        h.coverage
            .items
            .iter()
            .any(|c| c.plan.is_some() && c.subscriber_id.is_some()),
        "{:?}",
        h.coverage
    );
    // A file of the package that starts with a BOM parses as it is.
    let raw = std::fs::read(dir.join("NamingSystem-4.3.1.json"));
    if let Ok(raw) = raw {
        assert!(raw.starts_with(b"\xEF\xBB\xBF"));
        assert!(
            rounds_fhir::parse::json_object(&raw, &rounds_fhir::RequestLabel("file".into()))
                .is_ok()
        );
    }
}

/// Medication examples live only under other patients; make one example
/// of each kind belong to "example" to check MedicationStatement as well.
#[tokio::test]
async fn medication_statement_when_requests_are_not_offered() {
    let mut data = load_package(
        &examples("hl7.fhir.r4.examples"),
        &["Patient", "MedicationStatement"],
    );
    for m in data.get_mut("MedicationStatement").unwrap() {
        m["subject"] = json!({"reference": "Patient/example"});
    }
    let n = data["MedicationStatement"].len();
    let server = serve("4.0.1", None, data, false).await;
    let client = connect(&server.base).await;
    let s = client.summary("example").await.unwrap();
    assert_eq!(s.medications.items.len(), n);
    assert!(s
        .medications
        .items
        .iter()
        .all(|m| m.source == "MedicationStatement"));
    // Types the server does not declare are missing, not errors.
    for (kind, status) in s.statuses() {
        if kind != rounds_fhir::SectionKind::Medications {
            assert!(
                matches!(status, SectionStatus::Missing { .. }),
                "{kind:?}: {status:?}"
            );
        }
    }
    // Asked for anyway? No: nothing but Patient and MedicationStatement was requested.
    assert!(server.hits().iter().all(|h| {
        let p = h.fhir_path();
        p == "metadata"
            || p.starts_with(".well-known")
            || p.starts_with("Patient/")
            || p == "MedicationStatement"
    }));
}

fn dstu2(name: &str) -> Value {
    read_json(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/dstu2")
            .join(name),
    )
}

/// A DSTU2 server (its Conformance and one patient's resources, in
/// DSTU2's own forms).
async fn dstu2_server() -> Responder {
    let mut data: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    data.insert("Patient".into(), vec![dstu2("Patient.json")]);
    for t in [
        "Observation",
        "Condition",
        "Encounter",
        "AllergyIntolerance",
        "MedicationOrder",
        "Coverage",
    ] {
        data.insert(
            t.into(),
            dstu2(&format!("{t}.json")).as_array().unwrap().clone(),
        );
    }
    serve("1.0.2", Some(dstu2("Conformance.json")), data, false).await
}

#[tokio::test]
async fn dstu2_fixtures() {
    let server = dstu2_server().await;
    let client = connect(&server.base).await;
    let caps = client.capabilities();
    assert_eq!(
        (caps.version, caps.resource_type.as_str()),
        (FhirVersion::Dstu2, "Conformance")
    );
    assert_eq!(
        caps.oauth.token.as_deref(),
        Some("https://auth.example.org/token")
    );
    assert!(!caps.batch);

    let s = client.summary("d2-pat").await.unwrap();
    dstu2_patient_and_vitals(&s);
    dstu2_conditions_encounter_allergies(&s);
    dstu2_medications_and_coverage(&s);
    dstu2_query_forms(&server, &client).await;
}

fn dstu2_patient_and_vitals(s: &PatientSummary) {
    let p = &s.patient;
    assert_eq!(
        p.family.as_deref(),
        Some("de Vries"),
        "DSTU2 family is a list"
    );
    assert_eq!(p.given, vec!["Johanna", "Maria"]);
    assert_eq!(p.mrn.as_deref(), Some("D2-MRN-778"));
    assert_eq!(
        p.general_practitioner.as_deref(),
        Some("Dr. Hendrik Bakker"),
        "careProvider"
    );
    assert_eq!(s.location.as_deref(), Some("Cardiology, room 3, bed 2"));
    let bp = s
        .vitals
        .items
        .iter()
        .find(|v| v.measurement.code == "55284-4")
        .unwrap();
    assert_eq!(bp.components.len(), 2);
    let t = s
        .vitals
        .items
        .iter()
        .find(|v| v.measurement.code == "8310-5")
        .unwrap();
    assert_eq!(
        (t.measurement.value, t.effective.as_deref()),
        (Some(37.9), Some("2016-03-01T08:00:00+01:00"))
    );
}

fn dstu2_conditions_encounter_allergies(s: &PatientSummary) {
    let c = &s.conditions.items[0];
    assert_eq!(
        (
            c.display.as_deref(),
            c.recorded.as_deref(),
            c.clinical_status.as_deref(),
            c.severity.as_deref()
        ),
        (
            Some("Diabetes mellitus type 2"),
            Some("2015-06-12"),
            Some("active"),
            Some("Moderate")
        )
    );
    // The current place, not the first of the encounter's locations.
    assert_eq!(
        s.encounter.items[0].last_location, None,
        "a current place: no past one shown"
    );
    let a = &s.allergies.items[0];
    assert_eq!(a.substance.as_deref(), Some("Penicillin"));
    assert_eq!(
        (
            a.verification_status.as_deref(),
            a.clinical_status.as_deref()
        ),
        (Some("confirmed"), None),
        "DSTU2's one status is a verification here"
    );
    let labels: Vec<String> = s.allergies.items.iter().filter_map(|a| a.label()).collect();
    assert_eq!(
        labels,
        vec!["Penicillin", "Latex (unconfirmed)"],
        "unconfirmed said, entered-in-error left out"
    );
    assert_eq!(a.note.as_deref(), Some("Anaphylaxis in 2009"));
    assert_eq!(
        a.reactions,
        vec!["Anaphylaxis (Penicillin G)", "Urticaria (Penicillin G)"]
    );
}

fn dstu2_medications_and_coverage(s: &PatientSummary) {
    assert_eq!(s.medications.items.len(), 2);
    let m = &s.medications.items[0];
    assert_eq!(
        (
            m.source.as_str(),
            m.medication.as_deref(),
            m.prescriber.as_deref(),
            m.written.as_deref(),
            m.ended.as_deref()
        ),
        (
            "MedicationOrder",
            Some("Metformin 500 mg tablet"),
            Some("Dr. Anke Visser"),
            Some("2016-02-28"),
            Some("2016-03-28")
        )
    );
    assert_eq!(
        s.medications.items[1].medication.as_deref(),
        Some("Lisinopril 10 mg")
    );
    let cov = &s.coverage.items[0];
    assert_eq!(
        (
            cov.plan.as_deref(),
            cov.payor.as_deref(),
            cov.subscriber_id.as_deref()
        ),
        (
            Some("Basic plus"),
            Some("Zorgverzekeraar Noord"),
            Some("SUB-D2-55")
        )
    );
}

/// DSTU2 query forms went out; a search by family uses :contains.
async fn dstu2_query_forms(server: &Responder, client: &FhirClient) {
    let hits = server.hits();
    assert!(hits
        .iter()
        .any(|h| h.fhir_path() == "Observation" && h.query().contains("_sort%3Adesc=date")));
    assert!(hits.iter().any(|h| h.fhir_path() == "MedicationOrder"));
    assert!(
        hits.iter()
            .any(|h| h.fhir_path() == "Coverage" && h.query().starts_with("subscriber=d2-pat")),
        "DSTU2 defines no patient parameter on Coverage"
    );
    assert!(!hits.iter().any(|h| h.fhir_path() == "MedicationRequest"));
    // DSTU2 search by family uses :contains.
    client
        .search_patients(&PatientQuery {
            family: Some("Vries".into()),
            ..Default::default()
        })
        .await
        .ok();
    let search = server
        .hits()
        .into_iter()
        .find(|h| h.fhir_path() == "Patient/_search")
        .unwrap();
    assert!(
        search.body.contains("family%3Acontains=Vries"),
        "{}",
        search.body
    );
    assert_eq!(
        search.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
}

#[tokio::test]
async fn the_checker_flags_a_careless_server() {
    let data = load_package(&examples("hl7.fhir.r4.examples"), &TYPES);
    let server = serve("4.0.1", None, data, false).await;
    let report = rounds_fhir::check::check(
        ClientConfig::new(&server.base).unwrap(),
        Some("example".into()),
    )
    .await;
    let item = |req: &str| {
        report
            .items
            .iter()
            .find(|i| i.requirement == req)
            .unwrap_or_else(|| panic!("no item {req:?} in {:#?}", report.items))
    };
    use rounds_fhir::check::Outcome;
    // It ignores ?patient=: other patients' conditions come back.
    let foreign = item("conditions belong to the patient (subject/patient/beneficiary)");
    assert_eq!(foreign.outcome, Outcome::Fail);
    assert!(
        foreign.reason.contains("name another patient"),
        "{}",
        foreign.reason
    );
    assert!(foreign
        .request
        .as_deref()
        .unwrap()
        .starts_with("GET Condition?patient=example"));
    // It answers POST Patient/_search with a Patient, not a Bundle: a
    // mandatory failure, so the whole check fails.
    let search = item("Patient search (POST _search, form-encoded; GET when refused)");
    assert_eq!((search.outcome, search.mandatory), (Outcome::Fail, true));
    assert!(report.mandatory_failed());
    assert_eq!(item("Patient read").outcome, Outcome::Pass);
    assert_eq!(
        item("batch Bundle answered by a batch-response").outcome,
        Outcome::NotOffered
    );
}

#[tokio::test]
async fn the_checker_treats_absences_alike() {
    // A server that declares no resources at all, and a patient without a GP.
    let conformance = json!({"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1",
        "rest": [{"mode": "server"}]});
    let mut data = BTreeMap::new();
    data.insert(
        "Patient".to_owned(),
        vec![json!({"resourceType": "Patient", "id": "example",
            "name": [{"family": "Nogp", "given": ["Pat"]}], "gender": "female", "birthDate": "1970-01-01"})],
    );
    let server = serve("4.0.1", Some(conformance), data, false).await;
    let report = rounds_fhir::check::check(
        ClientConfig::new(&server.base).unwrap(),
        Some("example".into()),
    )
    .await;
    use rounds_fhir::check::Outcome;
    let item = |req: &str| {
        report
            .items
            .iter()
            .find(|i| i.requirement == req)
            .unwrap_or_else(|| panic!("no item {req:?} in {:#?}", report.items))
    };
    let declared = item("rest[mode=server] declares the Patient resource");
    assert_eq!(
        declared.outcome,
        Outcome::NotOffered,
        "not a pass: nothing was declared"
    );
    assert!(
        declared.reason.contains("not declared"),
        "{}",
        declared.reason
    );
    // Testing goes on: the Patient is still read.
    assert_eq!(item("Patient read").outcome, Outcome::Pass);
    // A missing optional field is "not offered", as missing sections are.
    let gp = item("Patient generalPractitioner display");
    assert_eq!(gp.outcome, Outcome::NotOffered, "{}", gp.reason);
    assert!(
        report
            .items
            .iter()
            .filter(|i| !i.mandatory)
            .all(|i| i.outcome != Outcome::Fail || !i.reason.starts_with("no ")),
        "no optional absence is a failure: {:#?}",
        report.items
    );
}

#[tokio::test]
async fn a_full_page_without_next_or_total_still_finds_admission_signs() {
    // A server that answers one full page of the newest vital signs with
    // neither `next` nor `total`, and weight only when asked by its code.
    let obs = |code: &str, at: String, value: f64| {
        json!({"resourceType": "Observation", "status": "final", "subject": {"reference": "Patient/p1"},
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "effectiveDateTime": at, "valueQuantity": {"value": value, "unit": "/min"}})
    };
    let server = responder::start(responder::sync_handler(move |hit| match hit.fhir_path() {
        "metadata" => Reply::json(
            200,
            &responder::metadata("4.0.1", &["Patient", "Observation"], false, None),
        ),
        "Patient/p1" => Reply::json(
            200,
            &json!({"resourceType": "Patient", "id": "p1", "name": [{"family": "Longstay"}]}),
        ),
        "Observation" if hit.query().contains("code=29463-7") => Reply::json(
            200,
            &responder::searchset(
                &[obs("29463-7", "2026-11-01T08:00:00Z".into(), 70.0)],
                None,
                None,
            ),
        ),
        "Observation" if hit.query().contains("code=") => {
            Reply::json(200, &responder::searchset(&[], None, None))
        }
        "Observation" => {
            let page: Vec<Value> = (0..100)
                .map(|i| {
                    obs(
                        "8867-4",
                        format!("2026-11-30T{:02}:{:02}:00Z", i / 60, i % 60),
                        80.0,
                    )
                })
                .collect();
            Reply::json(200, &responder::searchset(&page, None, None))
        }
        _ => Reply::json(404, &json!({"resourceType": "OperationOutcome"})),
    }))
    .await;
    let client = connect(&server.base).await;
    let s = client.summary("p1").await.unwrap();
    let weight = s
        .vitals
        .items
        .iter()
        .find(|v| v.measurement.code == "29463-7");
    assert_eq!(
        weight.and_then(|w| w.measurement.value),
        Some(70.0),
        "{:?}",
        s.vitals
    );
    assert!(server
        .hits()
        .iter()
        .any(|h| h.fhir_path() == "Observation" && h.query().contains("_count=1")));
}
