//! EHR mode against a real FHIR R4 server (sekmet-fhir, started per test):
//! connecting, testing the connection, searching, adding EHR patients,
//! EHR columns and the patient page, refreshing, an outage and recovery,
//! linking a manual patient, and what is stored (only references).

use std::time::Duration;

use reqwest::StatusCode;
use rounds_app::AppConfig;
use serde_json::{json, Value};

use crate::both;
use crate::common::{Backend, Client, Sekmet, TestApp};

/// A distinctive name: it must never reach the database or the log.
pub const FAMILY: &str = "Quillfeatherington";
pub const GIVEN: &str = "Zebedee";
pub const MRN: &str = "ZQ4411";

fn reference(id: &str) -> Value {
    json!({ "reference": format!("urn:uuid:{id}") })
}

fn entry(id: &str, resource: Value) -> Value {
    let kind = resource["resourceType"].as_str().unwrap_or("").to_owned();
    json!({
        "fullUrl": format!("urn:uuid:{id}"),
        "resource": resource,
        "request": { "method": "POST", "url": kind },
    })
}

fn vital(patient: &str, code: &str, display: &str, value: f64, unit: &str, at: &str) -> Value {
    json!({
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": display}]},
        "subject": reference(patient),
        "effectiveDateTime": at,
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
    })
}

/// Two inpatients with vitals, a problem, an allergy, a medication and
/// coverage, as a transaction Bundle of ours.
pub fn ward_bundle() -> Value {
    let (p1, p2) = (
        "0b6c6f0e-0000-4000-8000-000000000001",
        "0b6c6f0e-0000-4000-8000-000000000002",
    );
    let patient = |family: &str, given: &str, mrn: &str, born: &str, gender: &str| {
        json!({
            "resourceType": "Patient",
            "identifier": [{
                "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
                "system": "urn:oid:2.16.840.1.113883.19.5",
                "value": mrn,
            }],
            "name": [{"use": "official", "family": family, "given": [given]}],
            "gender": gender,
            "birthDate": born,
            "generalPractitioner": [{"display": "Dr Ada Byron"}],
        })
    };
    let encounter = |p: &str, bed: &str| {
        json!({
            "resourceType": "Encounter",
            "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
            "type": [{"coding": [{"system": "http://snomed.info/sct", "code": "183452005", "display": "Emergency hospital admission"}]}],
            "subject": reference(p),
            "period": {"start": "2026-11-20T10:00:00Z"},
            "location": [{"location": {"display": bed}}],
        })
    };
    json!({
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            entry(p1, patient(FAMILY, GIVEN, MRN, "1950-04-02", "male")),
            entry(p2, patient("Marlowe", "Ines", "ZQ4412", "1988-09-30", "female")),
            entry("0b6c6f0e-0000-4000-8000-000000000011", encounter(p1, "Ward 3, Bed 4")),
            entry("0b6c6f0e-0000-4000-8000-000000000012", encounter(p2, "Ward 3, Bed 5")),
            entry("0b6c6f0e-0000-4000-8000-000000000021", vital(p1, "8867-4", "Heart rate", 88.0, "/min", "2026-11-21T08:00:00Z")),
            entry("0b6c6f0e-0000-4000-8000-000000000022", vital(p1, "8867-4", "Heart rate", 97.0, "/min", "2026-11-20T08:00:00Z")),
            entry("0b6c6f0e-0000-4000-8000-000000000023", vital(p2, "8867-4", "Heart rate", 72.0, "/min", "2026-11-21T09:00:00Z")),
            entry("0b6c6f0e-0000-4000-8000-000000000024", json!({
                "resourceType": "Observation",
                "status": "final",
                "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
                "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9", "display": "Blood pressure panel"}]},
                "subject": reference(p1),
                "effectiveDateTime": "2026-11-21T08:00:00Z",
                "component": [
                    {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]}, "valueQuantity": {"value": 132, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
                    {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]}, "valueQuantity": {"value": 84, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
                ],
            })),
            entry("0b6c6f0e-0000-4000-8000-000000000031", json!({
                "resourceType": "Condition",
                "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
                "code": {"text": "Community acquired pneumonia"},
                "subject": reference(p1),
                "recordedDate": "2026-11-20",
            })),
            entry("0b6c6f0e-0000-4000-8000-000000000041", json!({
                "resourceType": "AllergyIntolerance",
                "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "active"}]},
                "code": {"text": "Penicillin"},
                "patient": reference(p1),
                "recordedDate": "2020-01-01",
            })),
            entry("0b6c6f0e-0000-4000-8000-000000000051", json!({
                "resourceType": "MedicationRequest",
                "status": "active",
                "intent": "order",
                "medicationCodeableConcept": {"text": "Clarithromycin 500 mg tablet"},
                "subject": reference(p1),
                "authoredOn": "2026-11-20",
                "requester": {"display": "Dr Byron"},
                "dosageInstruction": [{"text": "twice a day"}],
            })),
            entry("0b6c6f0e-0000-4000-8000-000000000061", json!({
                "resourceType": "Coverage",
                "status": "active",
                "beneficiary": reference(p1),
                "payor": [{"display": "Acme Health"}],
                "subscriberId": "S-1",
            })),
        ],
    })
}

/// A team with an owner and a member, a list, and the connection to `base`.
pub struct Ward {
    pub team: String,
    pub list: String,
    pub owner: Client,
    pub member: Client,
}

pub async fn ward(app: &TestApp, base: &str) -> Ward {
    let (owner, team, list) =
        crate::common::ehr_team(app, base, "Ward 3", "Hospital EHR", "Ward round").await;
    Ward {
        team,
        list,
        owner,
        member: app.client("member").await,
    }
}

/// A ward with the distinctive patient on its list (which, made in a team
/// with an EHR, starts with the HR column among the default EHR columns).
pub async fn ward_with_patient(app: &TestApp, base: &str) -> (Ward, String) {
    let w = ward(app, base).await;
    let found = search(&w, json!({"mrn": MRN})).await;
    let p1 = add_ehr(&w, found["results"][0]["ehrId"].as_str().unwrap()).await;
    let list = get_list(&w, "").await;
    assert!(
        list["columns"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["key"] == "heartRate"),
        "{}",
        list["columns"]
    );
    (w, p1)
}

async fn search(w: &Ward, query: Value) -> Value {
    let r = w
        .member
        .post(
            &format!("/api/v1/teams/{}/lists/{}/ehr-search", w.team, w.list),
            query,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body
}

async fn add_ehr(w: &Ward, ehr_id: &str) -> String {
    let r = w
        .member
        .post(
            &format!("/api/v1/teams/{}/lists/{}/patients", w.team, w.list),
            json!({"ehrId": ehr_id}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.body["row"]["patientId"].as_str().unwrap().to_owned()
}

pub async fn get_list(w: &Ward, query: &str) -> Value {
    let r = w
        .member
        .get(&format!("/api/v1/teams/{}/lists/{}{query}", w.team, w.list))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body
}

fn row<'a>(list: &'a Value, patient: &str) -> &'a Value {
    list["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["patientId"] == patient)
        .unwrap_or_else(|| panic!("no row for {patient} in {list}"))
}

async fn flow(backend: Backend) {
    let sekmet = Sekmet::start();
    sekmet.load(&ward_bundle()).await;
    let app = TestApp::spawn(backend).await;
    let w = ward(&app, &sekmet.base).await;

    // The owner's "Test connection": R4, batch, Patient search works.
    let r = w
        .owner
        .post(
            &format!("/api/v1/teams/{}/ehr-connection/test", w.team),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["ok"], true, "{}", r.body);
    assert_eq!(r.body["version"], "R4");
    assert_eq!(r.body["batch"], true);
    assert!(r.body["resources"]
        .as_array()
        .unwrap()
        .contains(&json!("Observation")));
    // Members see the name and health, never the address or settings.
    let r = w
        .member
        .get(&format!("/api/v1/teams/{}/ehr-connection", w.team))
        .await;
    assert_eq!(r.body["name"], "Hospital EHR");
    assert!(
        r.body["baseUrl"].is_null() && r.body["auth"].is_null(),
        "{}",
        r.body
    );

    // Search by MRN, then by family and birth date.
    let found = search(&w, json!({"mrn": MRN})).await;
    assert_eq!(found["total"], 1, "{found}");
    let hit = &found["results"][0];
    assert_eq!(hit["mrn"], MRN);
    assert_eq!(hit["birthDate"], "1950-04-02");
    assert_eq!(hit["gender"], "male");
    assert_eq!(hit["onList"], false);
    let p1_ehr = hit["ehrId"].as_str().unwrap().to_owned();
    let found = search(&w, json!({"family": "Marlowe", "birthDate": "1988-09-30"})).await;
    assert_eq!(found["total"], 1, "{found}");
    let p2_ehr = found["results"][0]["ehrId"].as_str().unwrap().to_owned();
    let r = w
        .member
        .post(
            &format!("/api/v1/teams/{}/lists/{}/ehr-search", w.team, w.list),
            json!({"birthDate": "2-4-1950"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(r.field(), "birthDate");

    // Add both; the same EHR patient twice is refused; search marks them.
    let p1 = add_ehr(&w, &p1_ehr).await;
    let p2 = add_ehr(&w, &p2_ehr).await;
    let r = w
        .member
        .post(
            &format!("/api/v1/teams/{}/lists/{}/patients", w.team, w.list),
            json!({"ehrId": p1_ehr}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    let found = search(&w, json!({"mrn": MRN})).await;
    assert_eq!(found["results"][0]["onList"], true);
    assert_eq!(found["results"][0]["patientId"], p1.as_str());
    let r = w
        .member
        .post(
            &format!("/api/v1/teams/{}/lists/{}/patients", w.team, w.list),
            json!({"ehrId": "no-such-patient"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);

    // EHR columns: a list made in a team with an EHR starts with the
    // default ones (vital signs, problems, allergies, medications) after
    // the built-ins; more are added.
    let fresh = get_list(&w, "").await;
    let keys: Vec<&str> = fresh["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "name",
            "ageSex",
            "mrn",
            "location",
            "heartRate",
            "bloodPressure",
            "respiratoryRate",
            "temperature",
            "spo2",
            "news2",
            "conditions",
            "allergies",
            "medications"
        ],
        "a new list of an EHR team"
    );
    let r = w
        .member
        .post(
            &format!("/api/v1/teams/{}/lists/{}/columns", w.team, w.list),
            json!({"key": "heartRate"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "shown already: {}", r.text);
    for key in ["coverage", "gp", "encounterStatus"] {
        let r = w
            .member
            .post(
                &format!("/api/v1/teams/{}/lists/{}/columns", w.team, w.list),
                json!({"key": key}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{key}: {}", r.text);
    }
    let list = get_list(&w, "").await;
    assert_eq!(list["ehr"]["state"], "ok", "{}", list["ehr"]);
    assert_eq!(list["ehr"]["pending"], false);
    let cols: Vec<&str> = list["columns"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["source"] == "ehr")
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    assert_eq!(cols.len(), 12, "{cols:?}");
    let r1 = row(&list, &p1);
    let d = &r1["display"];
    assert_eq!(d["name"], format!("{}, {GIVEN}", FAMILY.to_uppercase()));
    assert_eq!(d["mrn"], MRN);
    assert_eq!(d["location"], "Ward 3, Bed 4");
    assert_eq!(d["heartRate"], "88 bpm", "the latest of two: {d}");
    assert_eq!(d["bloodPressure"], "132/84 mmHg");
    assert_eq!(d["conditions"], "Community acquired pneumonia");
    assert_eq!(d["allergies"], "Penicillin");
    assert_eq!(d["medications"], "Clarithromycin 500 mg tablet");
    assert_eq!(d["coverage"], "Acme Health");
    assert_eq!(d["gp"], "Dr Ada Byron");
    assert_eq!(d["encounterStatus"], "in-progress");
    let hr = &r1["cells"]["heartRate"];
    assert_eq!(hr["state"], "ok");
    assert_eq!(hr["at"], "2026-11-21T08:00:00Z", "when it was measured");
    assert!(r1["ehr"]["fetchedAt"].is_string(), "when it was read");
    assert_eq!(r1["ehr"]["ehrId"], p1_ehr.as_str());
    // The second patient has no problems: an empty cell that says why.
    let r2 = row(&list, &p2);
    assert_eq!(r2["display"]["heartRate"], "72 bpm");
    assert_eq!(r2["cells"]["conditions"]["state"], "empty");
    assert!(r2["cells"]["conditions"]["reason"].is_string());

    // Sorting and filtering by EHR columns.
    let sorted = get_list(&w, "?sort=-heartRate").await;
    assert_eq!(sorted["rows"][0]["patientId"], p1.as_str());
    let sorted = get_list(&w, "?sort=heartRate").await;
    assert_eq!(sorted["rows"][0]["patientId"], p2.as_str());
    let filtered = get_list(&w, "?filter=location:contains:bed%205").await;
    assert_eq!(filtered["rows"].as_array().unwrap().len(), 1);
    assert_eq!(filtered["rows"][0]["patientId"], p2.as_str());
    let fast = get_list(&w, "?filter=heartRate:from:80").await;
    assert_eq!(fast["rows"].as_array().unwrap().len(), 1, "88 ≥ 80, 72 not");
    assert_eq!(fast["rows"][0]["patientId"], p1.as_str());
    let searched = get_list(&w, "?q=penicillin").await;
    assert_eq!(searched["rows"].as_array().unwrap().len(), 1);

    // The team's own fields beside EHR data; a refresh re-reads the EHR.
    let fetched = r1["ehr"]["fetchedAt"].clone();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let again = get_list(&w, "").await;
    assert_eq!(
        row(&again, &p1)["ehr"]["fetchedAt"],
        fetched,
        "served from memory"
    );
    let refreshed = get_list(&w, "?refresh=true").await;
    assert_ne!(
        row(&refreshed, &p1)["ehr"]["fetchedAt"],
        fetched,
        "refresh re-read the EHR"
    );

    // The patient page: every section.
    let r = w
        .member
        .get(&format!("/api/v1/teams/{}/patients/{p1}", w.team))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let s = &r.body["ehr"]["summary"];
    assert_eq!(s["patient"]["family"], FAMILY);
    assert_eq!(s["location"], "Ward 3, Bed 4");
    for section in [
        "vitals",
        "conditions",
        "encounter",
        "allergies",
        "medications",
        "coverage",
    ] {
        assert_eq!(
            s[section]["status"], "complete",
            "{section}: {}",
            s[section]
        );
    }
    assert_eq!(s["medications"]["items"][0]["dosage"][0], "twice a day");

    // The team's own patient search finds EHR patients by what the EHR
    // said (from memory).
    let r = w
        .member
        .get(&format!("/api/v1/teams/{}/patients?q=quillfeather", w.team))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body.as_array().map(Vec::len), Some(1), "{}", r.text);

    // Audit: the searches with their query; the view of the patient.
    let admin = app.admin().await;
    let searches = admin.audit("operation=PatientSearch").await;
    assert!(
        searches
            .iter()
            .any(|a| a["detail"]["query"]["mrn"] == MRN && a["detail"]["source"] == "ehr"),
        "{searches:?}"
    );
    let views = admin
        .audit(&format!("operation=PatientView&patient={p1}"))
        .await;
    assert_eq!(views.len(), 1, "{views:?}");
    let sets = admin.audit("operation=EHRConnectionSet").await;
    assert_eq!(sets.len(), 1);
    assert_eq!(sets[0]["detail"]["baseUrl"], sekmet.base.as_str());

    // A manual patient linked to the EHR keeps what the team typed.
    let r = w
        .member
        .post(
            &format!("/api/v1/teams/{}/lists/{}/patients", w.team, w.list),
            json!({"fields": {"family": "Typed", "given": "By hand", "ward": "3"}}),
        )
        .await;
    let manual = r.body["row"]["patientId"].as_str().unwrap().to_owned();
    let r = w
        .member
        .post(
            &format!("/api/v1/teams/{}/patients/{manual}/notes", w.team),
            json!({"body": "seen by physio"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = w
        .member
        .put(
            &format!("/api/v1/teams/{}/patients/{manual}/ehr-link", w.team),
            json!({"ehrId": p1_ehr}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CONFLICT,
        "already another patient of the team: {}",
        r.text
    );
    let r = w
        .member
        .delete(&format!(
            "/api/v1/teams/{}/lists/{}/patients/{p1}",
            w.team, w.list
        ))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = w
        .member
        .put(
            &format!("/api/v1/teams/{}/patients/{manual}/ehr-link", w.team),
            json!({"ehrId": p2_ehr}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CONFLICT,
        "p2 is on the list: {}",
        r.text
    );
    // Link a fresh manual patient to the first EHR patient's record after
    // the first patient left the team's lists? It is still the team's
    // patient, so the link is refused; unlink it first.
    let r = w
        .member
        .delete(&format!("/api/v1/teams/{}/patients/{p1}/ehr-link", w.team))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = w
        .member
        .put(
            &format!("/api/v1/teams/{}/patients/{manual}/ehr-link", w.team),
            json!({"ehrId": p1_ehr}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let list = get_list(&w, "").await;
    let m = row(&list, &manual);
    assert_eq!(m["ehr"]["ehrId"], p1_ehr.as_str());
    assert_eq!(
        m["display"]["location"], "Ward 3, Bed 4",
        "EHR location shown"
    );
    assert_eq!(m["fields"]["family"]["value"], "Typed", "typed data kept");
    assert_eq!(m["latestNote"]["body"], "seen by physio");

    // Another team's member reaches none of it.
    app.user("stranger", false).await;
    let stranger = app.client("stranger").await;
    let r = stranger
        .post(
            &format!("/api/v1/teams/{}/lists/{}/ehr-search", w.team, w.list),
            json!({"mrn": MRN}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = stranger
        .get(&format!("/api/v1/teams/{}/patients/{manual}", w.team))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    app.stop().await;
}

both!(flow);

/// The EHR stops mid-session: the list still loads, with the banner and
/// the last good read; team fields and notes keep working; it recovers.
async fn outage(backend: Backend) {
    let sekmet = Sekmet::start();
    sekmet.load(&ward_bundle()).await;
    let mut config = AppConfig::default();
    config.ehr.retry_after_failure = Duration::from_millis(500);
    config.ehr.cache_ttl = Duration::from_secs(600);
    let app = TestApp::spawn_with(backend, config).await;
    let (w, p1) = ward_with_patient(&app, &sekmet.base).await;
    let before = get_list(&w, "").await;
    assert_eq!(before["ehr"]["state"], "ok");
    let good = before["ehr"]["lastGoodRead"].clone();

    let (dir, port) = sekmet.stop();
    let started = std::time::Instant::now();
    let during = get_list(&w, "?refresh=true").await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the list did not wait long"
    );
    assert_eq!(during["ehr"]["state"], "down", "{}", during["ehr"]);
    assert!(
        during["ehr"]["message"]
            .as_str()
            .unwrap()
            .contains("could not be reached"),
        "{}",
        during["ehr"]
    );
    assert_eq!(during["ehr"]["lastGoodRead"], good);
    let r1 = row(&during, &p1);
    assert_eq!(
        r1["display"]["heartRate"], "88 bpm",
        "the last good read stays shown"
    );
    // The team's data keeps working.
    let r = w
        .member
        .patch(
            &format!("/api/v1/teams/{}/patients/{p1}", w.team),
            json!({"fields": {"bed": {"value": "4", "baseVersion": 0}}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = w
        .member
        .post(
            &format!("/api/v1/teams/{}/patients/{p1}/notes", w.team),
            json!({"body": "EHR down, checked by hand"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = w
        .member
        .post(
            &format!("/api/v1/teams/{}/lists/{}/ehr-search", w.team, w.list),
            json!({"mrn": MRN}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.text);
    assert_eq!(r.code(), "ehr_unavailable");

    // Back again: the next read recovers.
    let sekmet = Sekmet::start_in(dir, port);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let after = get_list(&w, "?refresh=true").await;
    assert_eq!(after["ehr"]["state"], "ok", "{}", after["ehr"]);
    assert_ne!(after["ehr"]["lastGoodRead"], good);
    assert_eq!(row(&after, &p1)["fields"]["bed"]["value"], "4");
    drop(sekmet);
    app.stop().await;
}

both!(outage);

/// Without any memory of the patient, an unreachable EHR leaves cells that
/// say why, and the row (with the team's note) stays.
async fn cold_outage(backend: Backend) {
    let sekmet = Sekmet::start();
    sekmet.load(&ward_bundle()).await;
    let app = TestApp::spawn(backend).await;
    let w = ward(&app, &sekmet.base).await;
    let found = search(&w, json!({"mrn": MRN})).await;
    let p1 = add_ehr(&w, found["results"][0]["ehrId"].as_str().unwrap()).await;
    drop(sekmet);
    app.app.clear_ehr_cache();
    let list = get_list(&w, "?refresh=true").await;
    assert_eq!(list["ehr"]["state"], "down");
    let r = row(&list, &p1);
    assert_eq!(r["ehr"]["state"], "failed");
    assert_eq!(r["cells"]["location"]["state"], "failed");
    assert!(r["cells"]["location"]["reason"]
        .as_str()
        .unwrap()
        .contains("could not be reached"));
    app.stop().await;
}

both!(cold_outage);

/// Connection settings: bad URLs, refused addresses, secrets never shown.
async fn connection_settings(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.user("owner", false).await;
    let owner = app.client("owner").await;
    let team = owner.create_team("Ward 5").await;
    let path = format!("/api/v1/teams/{team}/ehr-connection");
    for (url, says) in [
        ("ftp://ehr.example/fhir", "http or https"),
        ("http://169.254.169.254/fhir", "169.254.169.254"),
        ("http://metadata.google.internal/fhir", "metadata"),
        ("not a url", "not a URL"),
    ] {
        let r = owner
            .put(
                &path,
                json!({"name": "X", "baseUrl": url, "auth": {"kind": "none"}}),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{url}: {}",
            r.text
        );
        assert_eq!(r.field(), "baseUrl");
        assert!(
            r.body["error"]["message"].as_str().unwrap().contains(says),
            "{url}: {}",
            r.text
        );
    }
    let r = owner
        .put(&path, json!({"name": "X", "baseUrl": "http://127.0.0.1:9/fhir", "auth": {"kind": "clientCredentials", "clientId": "rounds"}}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(r.field(), "auth.clientSecret");
    let secret = "s3cret-of-the-client-77";
    let r = owner
        .put(&path, json!({"name": "Gateway", "baseUrl": "http://127.0.0.1:9/fhir", "auth": {"kind": "clientCredentials", "clientId": "rounds", "clientSecret": secret, "scope": "tenant:ward5"}}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(!r.text.contains(secret));
    assert_eq!(r.body["auth"]["hasSecret"], true);
    assert_eq!(r.body["auth"]["scope"], "tenant:ward5");
    // Changing the name keeps the saved secret.
    let r = owner
        .put(&path, json!({"name": "Gateway 2", "baseUrl": "http://127.0.0.1:9/fhir", "auth": {"kind": "clientCredentials", "clientId": "rounds"}}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["auth"]["hasSecret"], true);
    // A saved secret never goes to a new address.
    let r = owner
        .put(&path, json!({"name": "Gateway 2", "baseUrl": "http://127.0.0.2:9/fhir", "auth": {"kind": "clientCredentials", "clientId": "rounds"}}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(r.field(), "auth.clientSecret");
    // Test connection explains an unreachable server.
    let r = owner.post(&format!("{path}/test"), json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["ok"], false);
    assert!(
        r.body["error"]
            .as_str()
            .unwrap()
            .contains("could not read the EHR's metadata"),
        "{}",
        r.text
    );
    // SMART Backend Services: a key pair made by Rounds, its public JWKS shown.
    let r = owner
        .put(&path, json!({"name": "SMART", "baseUrl": "https://ehr.example.org/fhir/R4", "auth": {"kind": "backendServices", "clientId": "rounds-ward5"}}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let jwk = &r.body["auth"]["publicJwks"]["keys"][0];
    assert_eq!(jwk["kty"], "EC");
    assert_eq!(jwk["crv"], "P-384");
    assert!(jwk["d"].is_null(), "no private part");
    let kid = jwk["kid"].clone();
    let r = owner
        .put(&path, json!({"name": "SMART", "baseUrl": "https://ehr.example.org/fhir/R4", "auth": {"kind": "backendServices", "clientId": "rounds-ward5"}}))
        .await;
    assert_eq!(
        r.body["auth"]["publicJwks"]["keys"][0]["kid"], kid,
        "the key is kept"
    );
    let r = owner
        .put(&path, json!({"name": "SMART", "baseUrl": "https://ehr.example.org/fhir/R4", "auth": {"kind": "backendServices", "clientId": "rounds-ward5", "newKey": true}}))
        .await;
    assert_ne!(
        r.body["auth"]["publicJwks"]["keys"][0]["kid"], kid,
        "a new key"
    );
    // Stored: the secret sealed, never in plain text.
    let rows = stored_secrets(&app).await;
    assert_eq!(rows.len(), 1);
    assert!(!rows[0].contains("PRIVATE KEY") && !rows[0].contains(secret));
    let r = owner.delete(&path).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = owner.get(&path).await;
    assert_eq!(r.body["connected"], false);
    let admin = app.admin().await;
    let sets = admin.audit("operation=EHRConnectionSet").await;
    assert_eq!(sets.len(), 6, "{sets:?}");
    assert!(sets.iter().all(|s| !s.to_string().contains(secret)));
    app.stop().await;
}

both!(connection_settings);

/// A stored connection whose kinds or public key do not read back is an
/// error naming the team's connection, never a silent default (no auth,
/// batch "auto", basic, or no key).
async fn corrupt_connection_rows(backend: Backend) {
    use sqlx::Connection;
    let app = TestApp::spawn(backend).await;
    app.user("owner", false).await;
    let owner = app.client("owner").await;
    let team = owner.create_team("Ward 6").await;
    let path = format!("/api/v1/teams/{team}/ehr-connection");
    let spec = json!({"name": "X", "baseUrl": "http://127.0.0.1:9/fhir",
        "auth": {"kind": "clientCredentials", "clientId": "rounds", "clientSecret": "s3cret-9"}});
    for (column, value, says) in [
        ("auth_kind", "oauth", "auth_kind \"oauth\" is not one of"),
        (
            "batch_mode",
            "sometimes",
            "batch_mode \"sometimes\" is not one of",
        ),
        (
            "auth_method",
            "header",
            "auth_method \"header\" is not one of",
        ),
        ("public_jwk", "{not json", "public_jwk is not JSON"),
    ] {
        let mut conn = sqlx::AnyConnection::connect(&app.db.url).await.unwrap();
        // A corrupt row is read before it is replaced: start afresh.
        sqlx::query("DELETE FROM ehr_connections")
            .execute(&mut conn)
            .await
            .unwrap();
        let r = owner.put(&path, spec.clone()).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        sqlx::query(&format!("UPDATE ehr_connections SET {column} = $1"))
            .bind(value)
            .execute(&mut conn)
            .await
            .unwrap();
        let err = rounds_store::ehr::connection(&mut conn, team.parse().unwrap())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("the EHR connection of team {team}")) && err.contains(says),
            "{column}: {err}"
        );
        let r = owner.get(&path).await;
        assert_eq!(
            r.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{column}: {}",
            r.text
        );
        // The owner can still repair it: a good connection in its place, or none.
        if column == "auth_kind" {
            let r = owner.put(&path, spec.clone()).await;
            assert_eq!(
                r.status,
                StatusCode::OK,
                "replacing a corrupt row: {}",
                r.text
            );
            assert_eq!(owner.get(&path).await.status, StatusCode::OK);
        } else {
            let r = owner.delete(&path).await;
            assert_eq!(
                r.status,
                StatusCode::NO_CONTENT,
                "removing a corrupt row: {}",
                r.text
            );
            assert_eq!(owner.get(&path).await.body["connected"], false);
        }
    }
    app.stop().await;
}
both!(corrupt_connection_rows);

async fn stored_secrets(app: &TestApp) -> Vec<String> {
    use sqlx::{Connection, Row};
    let mut conn = sqlx::AnyConnection::connect(&app.db.url).await.unwrap();
    sqlx::query("SELECT secret_sealed FROM ehr_connections")
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String, _>(0).unwrap())
        .collect()
}

/// A slow EHR (the real server frozen with SIGSTOP): the list answers after
/// its wait with the banner and the last good read; it recovers.
async fn slow(backend: Backend) {
    let sekmet = Sekmet::start();
    sekmet.load(&ward_bundle()).await;
    let mut config = AppConfig::default();
    config.ehr.list_wait = Duration::from_secs(1);
    config.ehr.request_timeout = Duration::from_secs(4);
    let app = TestApp::spawn_with(backend, config).await;
    let (w, p1) = ward_with_patient(&app, &sekmet.base).await;
    assert_eq!(get_list(&w, "").await["ehr"]["state"], "ok");

    sekmet.signal("-STOP");
    let started = std::time::Instant::now();
    let during = get_list(&w, "?refresh=true").await;
    let took = started.elapsed();
    sekmet.signal("-CONT");
    assert!(took < Duration::from_secs(3), "the list waited {took:?}");
    assert_eq!(during["ehr"]["state"], "degraded", "{}", during["ehr"]);
    assert!(
        during["ehr"]["message"]
            .as_str()
            .unwrap()
            .contains("not answered within 1 s"),
        "{}",
        during["ehr"]
    );
    assert_eq!(row(&during, &p1)["display"]["heartRate"], "88 bpm");

    // Thawed: the read in flight finishes and the banner goes.
    let started = std::time::Instant::now();
    loop {
        let after = get_list(&w, "").await;
        if after["ehr"]["state"] == "ok" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{}",
            after["ehr"]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.stop().await;
}

both!(slow);

/// SMART Backend Services end to end: Rounds makes the team's key pair, its
/// public JWKS is registered with a real authorization server
/// (oidc-provider), and "Test connection" obtains a token with it; a new
/// key pair (not registered) is refused.
async fn smart_backend_services(backend: Backend) {
    let sekmet = Sekmet::start();
    sekmet.load(&ward_bundle()).await;
    let app = TestApp::spawn(backend).await;
    app.user("owner", false).await;
    let owner = app.client("owner").await;
    let team = owner.create_team("Ward 8").await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let path = format!("/api/v1/teams/{team}/ehr-connection");
    let connection = |new_key: bool| {
        json!({"name": "SMART EHR", "baseUrl": sekmet.base, "auth": {
            "kind": "backendServices", "clientId": "rounds-ward8", "scope": "system/*.read",
            "tokenUrl": format!("http://127.0.0.1:{port}/token"), "newKey": new_key}})
    };
    let r = owner.put(&path, connection(false)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let jwks = r.body["auth"]["publicJwks"].clone();

    // The IT admin registers the shown JWKS with the authorization server.
    let peers = std::env::var("ROUNDS_TEST_PEERS_NODE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.peers-node")
        });
    let module = peers.join("node_modules/oidc-provider");
    assert!(
        module.exists(),
        "oidc-provider is not installed: run scripts/test.sh"
    );
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../rounds-fhir/tests/peers/oidc.mjs");
    let scratch = tempfile::tempdir().unwrap();
    let mut oidc = std::process::Command::new("node")
        .arg(&script)
        .current_dir(scratch.path())
        .env("OIDC_PORT", port.to_string())
        .env("ROUNDS_OIDC_MODULE", &module)
        .env("ROUNDS_EXTRA_CLIENT_ID", "rounds-ward8")
        .env("ROUNDS_EXTRA_CLIENT_JWKS", jwks.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "oidc-provider did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let r = owner.post(&format!("{path}/test"), json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["auth"], "private_key_jwt (ES384)");
    assert_eq!(r.body["tokenObtained"], true, "{}", r.text);
    assert_eq!(r.body["ok"], true, "{}", r.text);

    // A new key pair that nobody registered: the token is refused, and the
    // test says so.
    let r = owner.put(&path, connection(true)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_ne!(r.body["auth"]["publicJwks"], jwks);
    let r = owner.post(&format!("{path}/test"), json!({})).await;
    assert_eq!(r.body["tokenObtained"], false, "{}", r.text);
    let _ = oidc.kill();
    let _ = oidc.wait();
    app.stop().await;
}

both!(smart_backend_services);

/// What an internal service behind the EHR address says: it must reach the
/// owner, never a member.
const DIAGNOSTIC: &str = "token store at 10.9.8.7:5432 rejected tenant ward-internal";

/// A local server that answers every request with a 404 and an
/// OperationOutcome carrying [`DIAGNOSTIC`].
async fn internal_service() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut buf = [0u8; 1024];
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let body = json!({"resourceType": "OperationOutcome", "issue": [
                    {"severity": "error", "code": "not-found", "diagnostics": DIAGNOSTIC}
                ]})
                .to_string();
                let answer = format!(
                    "HTTP/1.1 404 Not Found\r\nContent-Type: application/fhir+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}/fhir")
}

/// Members learn what kind of failure the EHR has, never its words nor
/// where it is (so a failing connection is no port scanner for them);
/// owners see the detail in the connection's view and in Test connection.
async fn members_see_general_reasons(backend: Backend) {
    let internal = internal_service().await;
    let port = internal
        .rsplit(':')
        .next()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let app = TestApp::spawn(backend).await;
    let w = ward(&app, &internal).await;
    let path = format!("/api/v1/teams/{}/ehr-connection", w.team);
    let leaks = |text: &str| {
        text.contains(DIAGNOSTIC)
            || text.contains("10.9.8.7")
            || text.contains("127.0.0.1")
            || text.contains(&format!(":{port}"))
            || text.contains(":9/")
            || text.to_ascii_lowercase().contains("connection refused")
            || text.contains("network error")
    };

    // An internal service that answers with its own words.
    let r = w
        .member
        .post(
            &format!("/api/v1/teams/{}/lists/{}/ehr-search", w.team, w.list),
            json!({"mrn": MRN}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.text);
    let said = r.body["error"]["message"].as_str().unwrap();
    assert!(said.contains("HTTP 404") && !leaks(said), "{said}");
    let seen = w.member.get(&path).await;
    let health = seen.body["health"]["message"].as_str().unwrap_or_default();
    assert!(!health.is_empty() && !leaks(health), "{}", seen.text);
    assert!(!leaks(&seen.text), "{}", seen.text);
    let list = w
        .member
        .get(&format!("/api/v1/teams/{}/lists/{}", w.team, w.list))
        .await;
    assert!(!leaks(&list.text), "{}", list.text);
    // The owner sees what the service said, in the view and the test.
    let owned = w.owner.get(&path).await;
    assert!(
        owned.body["health"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains(DIAGNOSTIC),
        "{}",
        owned.text
    );
    let tested = w.owner.post(&format!("{path}/test"), json!({})).await;
    assert_eq!(tested.status, StatusCode::OK, "{}", tested.text);
    assert!(tested.text.contains(DIAGNOSTIC), "{}", tested.text);

    // A port where nothing listens.
    let r = w
        .owner
        .put(
            &path,
            json!({"name": "Closed", "baseUrl": "http://127.0.0.1:9/fhir", "auth": {"kind": "none"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = w
        .member
        .post(
            &format!("/api/v1/teams/{}/lists/{}/ehr-search", w.team, w.list),
            json!({"mrn": MRN}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.text);
    let said = r.body["error"]["message"].as_str().unwrap();
    assert!(
        said.contains("could not be reached") && !leaks(said),
        "{said}"
    );
    let seen = w.member.get(&path).await;
    assert!(!leaks(&seen.text), "{}", seen.text);
    let owned = w.owner.get(&path).await;
    assert!(
        owned.body["health"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("network error"),
        "{}",
        owned.text
    );
    let tested = w.owner.post(&format!("{path}/test"), json!({})).await;
    assert!(tested.text.contains("network error"), "{}", tested.text);
    app.stop().await;
}

both!(members_see_general_reasons);

/// IPv6 spellings of refused IPv4 addresses are refused as those are; with
/// loopback off (as `rounds serve` has it by default), loopback is refused too.
async fn embedded_and_loopback_addresses_are_refused(backend: Backend) {
    let mut config = AppConfig::default();
    let mut outbound = (*config.ehr.outbound).clone();
    outbound.allow_loopback = false;
    config.ehr.outbound = std::sync::Arc::new(outbound);
    let app = TestApp::spawn_with(backend, config).await;
    app.user("owner", false).await;
    let owner = app.client("owner").await;
    let team = owner.create_team("Ward 5").await;
    let path = format!("/api/v1/teams/{team}/ehr-connection");
    for (url, says) in [
        (
            "http://[::169.254.169.254]/fhir",
            "169.254.169.254 is a link-local",
        ),
        (
            "http://[::ffff:0:a9fe:a9fe]/fhir",
            "169.254.169.254 is a link-local",
        ),
        (
            "http://[2002:a9fe:a9fe::1]/fhir",
            "6to4 address of 169.254.169.254",
        ),
        ("http://127.0.0.1:8080/fhir", "ehr_allow_loopback"),
        ("http://[::1]:8080/fhir", "ehr_allow_loopback"),
        ("http://[::127.0.0.1]:8080/fhir", "ehr_allow_loopback"),
    ] {
        let r = owner
            .put(
                &path,
                json!({"name": "X", "baseUrl": url, "auth": {"kind": "none"}}),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{url}: {}",
            r.text
        );
        assert_eq!(r.field(), "baseUrl");
        let message = r.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{url}: {message}");
    }
    // A name that resolves to loopback is refused where the client connects.
    let tested = owner
        .post(
            &format!("{path}/test"),
            json!({"name": "X", "baseUrl": "http://localhost:9/fhir", "auth": {"kind": "none"}}),
        )
        .await;
    assert_eq!(tested.status, StatusCode::OK, "{}", tested.text);
    assert_eq!(tested.body["ok"], false);
    assert!(
        tested.text.contains("ehr_allow_loopback"),
        "{}",
        tested.text
    );
    app.stop().await;
}

both!(embedded_and_loopback_addresses_are_refused);

/// Stale while revalidate: with the EHR data due for a re-read and the EHR
/// frozen (SIGSTOP), getList and getPatient answer at once from memory with
/// the last read; the re-read goes on in the background, and when it is
/// done its `ehrRefreshed` notice reaches the list's open screens, after
/// which the list shows what the EHR says now.
async fn due_data_answers_at_once(backend: Backend) {
    let sekmet = Sekmet::start();
    sekmet.load(&ward_bundle()).await;
    let mut config = AppConfig::default();
    config.ehr.refresh_after = Duration::from_secs(1);
    config.ehr.list_wait = Duration::from_secs(5);
    config.ehr.request_timeout = Duration::from_secs(20);
    let app = TestApp::spawn_with(backend, config).await;
    let (w, p1) = ward_with_patient(&app, &sekmet.base).await;
    let first = get_list(&w, "").await;
    assert_eq!(row(&first, &p1)["display"]["heartRate"], "88 bpm");
    let ehr_id = row(&first, &p1)["ehr"]["ehrId"]
        .as_str()
        .unwrap()
        .to_owned();
    // A newer heart rate in the EHR.
    sekmet
        .load(&json!({
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [{
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
                    "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
                    "subject": {"reference": format!("Patient/{ehr_id}")},
                    "effectiveDateTime": "2026-11-22T08:00:00Z",
                    "valueQuantity": {"value": 101.0, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
                },
                "request": {"method": "POST", "url": "Observation"},
            }],
        }))
        .await;
    let mut feed = w
        .member
        .events(
            &format!("/api/v1/teams/{}/lists/{}/events", w.team, w.list),
            None,
        )
        .await;
    let ready = feed.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(ready.event, "ready");
    tokio::time::sleep(Duration::from_millis(1200)).await;

    sekmet.signal("-STOP");
    let started = std::time::Instant::now();
    let during = get_list(&w, "").await;
    let list_took = started.elapsed();
    let started = std::time::Instant::now();
    let patient = w
        .member
        .get(&format!("/api/v1/teams/{}/patients/{p1}", w.team))
        .await;
    let patient_took = started.elapsed();
    sekmet.signal("-CONT");
    assert!(
        list_took < Duration::from_secs(2),
        "getList waited {list_took:?}"
    );
    assert!(
        patient_took < Duration::from_secs(2),
        "getPatient waited {patient_took:?}"
    );
    assert_eq!(row(&during, &p1)["ehr"]["state"], "ok", "{during}");
    assert_eq!(row(&during, &p1)["display"]["heartRate"], "88 bpm");
    assert_eq!(during["ehr"]["pending"], false);
    assert_eq!(patient.status, StatusCode::OK, "{}", patient.text);
    assert_eq!(patient.body["ehr"]["state"], "ok", "{}", patient.text);

    // The background re-read is told to the open screen.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let notice = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let e = feed.next(left).await.expect("ehrRefreshed within 20 s");
        if e.event == "ehrRefreshed" {
            break e;
        }
    };
    assert_eq!(notice.id, None, "a notice is not a change of the feed");
    assert!(
        notice.data["ehrIds"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i == ehr_id.as_str()),
        "{:?}",
        notice.data
    );
    let after = get_list(&w, "").await;
    assert_eq!(row(&after, &p1)["display"]["heartRate"], "101 bpm");
    app.stop().await;
}
both!(due_data_answers_at_once);
