//! The sandbox read by the real Rounds FHIR client.

use std::collections::BTreeSet;
use std::time::Duration;

use rounds_fhir::check::{check, Outcome};
use rounds_fhir::{
    BatchMode, ClientConfig, FhirClient, FhirVersion, Path, PatientQuery, PatientSummary,
    SectionStatus,
};
use rounds_sandbox::{Ward, MRN_SYSTEM};
use serde_json::Value;

use crate::common::{default_ward, of_patient, patients, start, str_at, strings, word_match};

fn config(base: &str) -> ClientConfig {
    let mut c = ClientConfig::new(base).unwrap();
    c.request_timeout = Duration::from_secs(20);
    c
}

#[tokio::test]
async fn discovery_says_r4_with_batch_and_no_authentication() {
    let s = start(default_ward()).await;
    let client = FhirClient::connect(config(&s.base)).await.unwrap();
    let caps = client.capabilities();
    assert_eq!(caps.version, FhirVersion::R4);
    assert_eq!(caps.fhir_version, "4.0.1");
    assert_eq!(caps.resource_type, "CapabilityStatement");
    assert!(caps.batch);
    assert!(!caps.transaction, "read-only: no transaction");
    for t in [
        "Patient",
        "Observation",
        "Condition",
        "Encounter",
        "AllergyIntolerance",
        "MedicationRequest",
        "Coverage",
    ] {
        let r = caps.resources.get(t).unwrap_or_else(|| panic!("{t}"));
        assert!(r.interactions.contains("read") && r.interactions.contains("search-type"));
        assert!(r.search_params.contains("_id"), "{t}");
    }
    for p in rounds_fhir::check::PATIENT_PARAMS {
        assert!(caps.declares_param("Patient", p), "{p}");
    }
    assert!(caps.declares_param("Coverage", "beneficiary"));
    assert!(caps.declares_param("Coverage", "patient"));
    assert!(caps.smart.is_none(), "no SMART configuration");
    assert!(caps.token_endpoint().is_none());
    assert_eq!(client.next_path(), Path::Batch);
}

async fn search(
    client: &FhirClient,
    f: impl FnOnce(&mut PatientQuery),
) -> rounds_fhir::PatientSearch {
    let mut q = PatientQuery {
        count: Some(100),
        ..Default::default()
    };
    f(&mut q);
    client.search_patients(&q).await.unwrap()
}

#[tokio::test]
async fn patient_search_by_each_parameter_with_totals() {
    let s = start(default_ward()).await;
    let client = FhirClient::connect(config(&s.base)).await.unwrap();
    let all = patients(&s.ward);
    let p = all[3];
    let id = p["id"].as_str().unwrap().to_owned();
    let name = &p["name"][0];
    let family = name["family"].as_str().unwrap().to_owned();
    let given = strings(name, "given")[0].clone();
    let birth = p["birthDate"].as_str().unwrap().to_owned();
    let gender = p["gender"].as_str().unwrap().to_owned();
    let mrn = str_at(p, &["identifier", "0", "value"]).unwrap().to_owned();
    let count = |f: &dyn Fn(&Value) -> bool| all.iter().filter(|p| f(p)).count() as u64;

    let check = |r: &rounds_fhir::PatientSearch, expected: u64, what: &str| {
        assert_eq!(r.total, Some(expected), "{what}");
        assert_eq!(r.patients.len() as u64, expected, "{what}");
        assert!(r.patients.iter().any(|x| x.id == id), "{what}");
        assert!(r.via_post, "POST _search is taken");
    };

    let by_family = search(&client, |q| q.family = Some(family.clone())).await;
    check(
        &by_family,
        count(&|x| word_match(x["name"][0]["family"].as_str().unwrap(), &family)),
        "family",
    );
    // A prefix, in another case.
    let prefix: String = family.chars().take(3).collect::<String>().to_uppercase();
    let by_prefix = search(&client, |q| q.family = Some(prefix.clone())).await;
    check(
        &by_prefix,
        count(&|x| word_match(x["name"][0]["family"].as_str().unwrap(), &prefix)),
        "family prefix",
    );
    let by_given = search(&client, |q| q.given = Some(given.clone())).await;
    check(
        &by_given,
        count(&|x| {
            strings(&x["name"][0], "given")
                .iter()
                .any(|g| word_match(g, &given))
        }),
        "given",
    );
    let by_name = search(&client, |q| q.name = Some(family.clone())).await;
    check(
        &by_name,
        count(&|x| {
            ["family", "given", "prefix", "text"]
                .iter()
                .flat_map(|k| strings(&x["name"][0], k))
                .any(|t| word_match(&t, &family))
        }),
        "name",
    );
    let by_birth = search(&client, |q| q.birthdate = Some(birth.clone())).await;
    check(
        &by_birth,
        count(&|x| x["birthDate"] == birth.as_str()),
        "birthdate",
    );
    let by_gender = search(&client, |q| q.gender = Some(gender.clone())).await;
    check(
        &by_gender,
        count(&|x| x["gender"] == gender.as_str()),
        "gender",
    );
    assert!(by_gender.total.unwrap() < all.len() as u64, "both sexes");
    let both = search(&client, |q| {
        q.birthdate = Some(birth.clone());
        q.gender = Some(gender.clone());
    })
    .await;
    check(
        &both,
        count(&|x| x["birthDate"] == birth.as_str() && x["gender"] == gender.as_str()),
        "birthdate and gender",
    );
    let by_mrn = search(&client, |q| q.identifier = Some(mrn.clone())).await;
    check(&by_mrn, 1, "identifier");
    assert_eq!(by_mrn.patients[0].mrn.as_deref(), Some(mrn.as_str()));
    let by_system = search(&client, |q| {
        q.identifier = Some(format!("{MRN_SYSTEM}|{mrn}"))
    })
    .await;
    check(&by_system, 1, "system|value");
    let other_system = search(&client, |q| {
        q.identifier = Some(format!("http://elsewhere|{mrn}"))
    })
    .await;
    assert_eq!(other_system.total, Some(0));
    let by_id = search(&client, |q| q.id = Some(id.clone())).await;
    check(&by_id, 1, "_id");
    let none = search(&client, |q| q.family = Some("Zzyzxnotaname".into())).await;
    assert_eq!((none.total, none.patients.len()), (Some(0), 0));
    // _count bounds the page; the total counts all.
    let page = search(&client, |q| q.count = Some(5)).await;
    assert_eq!(page.patients.len(), 5);
    assert_eq!(page.total, Some(all.len() as u64));
    let everyone = client
        .search_patients(&PatientQuery::default())
        .await
        .unwrap();
    assert_eq!(everyone.total, Some(36));
    assert_eq!(everyone.patients.len(), 36);
}

/// The codes of the vital signs the client can see: those among the newest
/// `page` observations of the patient.
fn visible_vital_codes(ward: &Ward, pid: &str, page: usize) -> BTreeSet<String> {
    let mut obs = of_patient(ward, "Observation", pid);
    obs.sort_by(|a, b| {
        b["effectiveDateTime"]
            .as_str()
            .cmp(&a["effectiveDateTime"].as_str())
    });
    obs.iter()
        .take(page)
        .map(|o| o["code"]["coding"][0]["code"].as_str().unwrap().to_owned())
        .collect()
}

/// The newest value of a code in the ward's data.
fn latest_value(ward: &Ward, pid: &str, code: &str) -> Option<f64> {
    of_patient(ward, "Observation", pid)
        .into_iter()
        .filter(|o| o["code"]["coding"][0]["code"] == code)
        .max_by(|a, b| {
            a["effectiveDateTime"]
                .as_str()
                .cmp(&b["effectiveDateTime"].as_str())
        })
        .and_then(|o| o["valueQuantity"]["value"].as_f64())
}

fn check_summary(ward: &Ward, pid: &str, sum: &PatientSummary) {
    let patient = ward.resource("Patient", pid).unwrap();
    assert_eq!(sum.patient.id, pid);
    assert_eq!(
        sum.patient.mrn.as_deref(),
        str_at(patient, &["identifier", "0", "value"])
    );
    assert!(sum.patient.general_practitioner.is_some());
    assert!(sum.patient.family.is_some() && !sum.patient.given.is_empty());
    let age = sum.age.unwrap();
    assert!((18..=95).contains(&age), "{pid}: age {age}");
    let encounter = &of_patient(ward, "Encounter", pid)[0];
    // The current place (emergency admissions waited in the emergency
    // department first: that place is past, not the bed).
    let places = encounter["location"].as_array().unwrap();
    let current = places.iter().find(|l| l["status"] == "active").unwrap();
    let bed = str_at(current, &["location", "display"]).unwrap();
    assert!(bed.starts_with("Ward ") && bed.contains(", Bed "), "{bed}");
    assert_eq!(sum.location.as_deref(), Some(bed));

    for (kind, status) in sum.statuses() {
        let expected_empty = matches!(kind, rounds_fhir::SectionKind::Allergies)
            && of_patient(ward, "AllergyIntolerance", pid).is_empty();
        let expected = if expected_empty {
            SectionStatus::Empty
        } else {
            SectionStatus::Complete
        };
        assert_eq!(status, &expected, "{pid} {kind:?}");
    }
    for dropped in [
        sum.vitals.foreign_dropped,
        sum.conditions.foreign_dropped,
        sum.encounter.foreign_dropped,
        sum.allergies.foreign_dropped,
        sum.medications.foreign_dropped,
        sum.coverage.foreign_dropped,
    ] {
        assert_eq!(dropped, 0);
    }

    // Vitals: pages of 50 are read until every sign a list shows is seen
    // (height, measured at admission, is often past the first page).
    let codes: BTreeSet<String> = sum
        .vitals
        .items
        .iter()
        .map(|v| v.measurement.code.clone())
        .collect();
    assert_eq!(codes, visible_vital_codes(ward, pid, 150), "{pid}");
    for core in [
        "8867-4", "9279-1", "8310-5", "59408-5", "85354-9", "29463-7", "39156-5",
    ] {
        assert!(codes.contains(core), "{pid}: {core} missing from {codes:?}");
    }
    for v in &sum.vitals.items {
        let m = &v.measurement;
        assert!(m.display.is_some() && v.effective.is_some());
        if m.code == "85354-9" {
            let c: Vec<&str> = v.components.iter().map(|c| c.code.as_str()).collect();
            assert_eq!(c, ["8480-6", "8462-4"]);
            assert!(v
                .components
                .iter()
                .all(|c| c.value.is_some() && c.unit.as_deref() == Some("mmHg")));
        } else {
            assert_eq!(
                m.value,
                latest_value(ward, pid, &m.code),
                "{pid} {}",
                m.code
            );
            assert!(m.unit.is_some());
        }
    }

    let conditions = of_patient(ward, "Condition", pid);
    assert!((1..=14).contains(&conditions.len()));
    assert_eq!(sum.conditions.items.len(), conditions.len());
    assert!(sum
        .conditions
        .items
        .iter()
        .all(|c| c.display.is_some() && c.recorded.is_some() && c.clinical_status.is_some()));
    let e = &sum.encounter.items[0];
    assert_eq!(e.status.as_deref(), Some("in-progress"));
    assert!(e.kind.as_deref().is_some_and(|k| k.contains("admission")));
    assert!(e.start.is_some());
    let allergies = of_patient(ward, "AllergyIntolerance", pid);
    assert!(allergies.len() <= 3);
    assert_eq!(sum.allergies.items.len(), allergies.len());
    assert!(sum.allergies.items.iter().all(|a| a.substance.is_some()
        && a.clinical_status.as_deref() == Some("active")
        && a.verification_status.is_some()
        && a.recorded.is_some()));
    let meds = of_patient(ward, "MedicationRequest", pid);
    assert!((1..=12).contains(&meds.len()));
    assert_eq!(sum.medications.items.len(), meds.len());
    assert!(sum.medications.items.iter().all(|m| m.medication.is_some()
        && m.prescriber.is_some()
        && m.written.is_some()
        && m.dosage.len() == 1
        && m.source == "MedicationRequest"));
    let c = &sum.coverage.items[0];
    assert_eq!(sum.coverage.items.len(), 1);
    assert!(c.plan.is_some() && c.payor.is_some() && c.subscriber_id.is_some());
    assert!(c.period_start.is_some() && c.period_end.is_some());
}

#[tokio::test]
async fn summaries_agree_on_the_batch_and_the_concurrent_path() {
    let s = start(default_ward()).await;
    let ids = s.ward.patient_ids();
    assert_eq!(ids.len(), 36);
    let mut results = Vec::new();
    for (mode, path) in [
        (BatchMode::Always, Path::Batch),
        (BatchMode::Never, Path::Concurrent),
    ] {
        let mut c = config(&s.base);
        c.batch_mode = mode;
        let client = FhirClient::connect(c).await.unwrap();
        assert_eq!(client.next_path(), path);
        let sums = client.summaries(&ids).await;
        assert_eq!(sums.len(), ids.len());
        for (id, sum) in ids.iter().zip(&sums) {
            check_summary(&s.ward, id, sum.as_ref().unwrap());
        }
        results.push(
            sums.iter()
                .map(|r| serde_json::to_value(r.as_ref().unwrap()).unwrap())
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(results[0], results[1], "both paths read the same");
    // The first patient's long history fits the default page of 50.
    let first = &results[0][0];
    assert_eq!(first["conditions"]["items"].as_array().unwrap().len(), 14);
    assert_eq!(first["medications"]["items"].as_array().unwrap().len(), 12);
    // Some patients have no allergy, some several.
    let allergy_counts: BTreeSet<usize> = results[0]
        .iter()
        .map(|s| s["allergies"]["items"].as_array().unwrap().len())
        .collect();
    assert!(
        allergy_counts.contains(&0) && allergy_counts.len() >= 3,
        "{allergy_counts:?}"
    );
}

#[tokio::test]
async fn an_unknown_patient_is_a_404_with_diagnostics() {
    let s = start(default_ward()).await;
    let client = FhirClient::connect(config(&s.base)).await.unwrap();
    let err = client.read_patient("no-such-patient").await.unwrap_err();
    match &err {
        rounds_fhir::FhirError::Status {
            status: 404,
            diagnostics,
            ..
        } => assert!(
            diagnostics
                .iter()
                .any(|d| d.contains("Patient/no-such-patient")),
            "{diagnostics:?}"
        ),
        other => panic!("expected a 404, got {other:?}"),
    }
    let ids = vec![
        "no-such-patient".to_owned(),
        s.ward.patient_ids()[1].clone(),
    ];
    for mode in [BatchMode::Always, BatchMode::Never] {
        let mut c = config(&s.base);
        c.batch_mode = mode;
        let client = FhirClient::connect(c).await.unwrap();
        let sums = client.summaries(&ids).await;
        assert_eq!(
            sums[0].as_ref().unwrap_err().status(),
            Some(404),
            "{mode:?}"
        );
        assert!(sums[1].is_ok(), "one unknown patient fails alone");
    }
}

#[tokio::test]
async fn a_small_page_gives_partial_sections_and_paging_completes_them() {
    let s = start(default_ward()).await;
    let first = s.ward.patient_ids()[0].clone();
    let mut c = config(&s.base);
    c.page_size = 10;
    c.max_pages = 1;
    let client = FhirClient::connect(c.clone()).await.unwrap();
    let sum = client.summary(&first).await.unwrap();
    assert_eq!(
        sum.conditions.status,
        SectionStatus::Partial {
            shown: 10,
            total: 14
        }
    );
    assert_eq!(sum.conditions.status.to_string(), "partial (10 of 14)");
    assert_eq!(
        sum.medications.status,
        SectionStatus::Partial {
            shown: 10,
            total: 12
        }
    );
    // One page of 10 misses signs the patient has: each is asked for on its
    // own, so every sign a list shows is there and nothing is partial.
    assert!(
        !matches!(sum.vitals.status, SectionStatus::Partial { .. }),
        "{:?}",
        sum.vitals.status
    );
    for code in ["8867-4", "9279-1", "8310-5", "29463-7", "8302-2"] {
        assert!(
            sum.vitals.items.iter().any(|v| v.measurement.code == code),
            "{code} beyond the first page: {:?}",
            sum.vitals.items
        );
    }
    // Following the `next` links (same origin) reads the rest.
    c.max_pages = 3;
    let client = FhirClient::connect(c).await.unwrap();
    let sum = client.summary(&first).await.unwrap();
    assert_eq!(sum.conditions.status, SectionStatus::Complete);
    assert_eq!(sum.conditions.items.len(), 14);
    assert_eq!(sum.medications.status, SectionStatus::Complete);
    assert_eq!(sum.medications.items.len(), 12);
}

#[tokio::test]
async fn the_contract_checker_passes_everything_offered() {
    let s = start(default_ward()).await;
    let report = check(config(&s.base), None).await;
    let failed: Vec<String> = report
        .items
        .iter()
        .filter(|i| i.outcome == Outcome::Fail)
        .map(|i| format!("{}: {}", i.requirement, i.reason))
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert!(!report.mandatory_failed());
    let not_offered: Vec<&str> = report
        .items
        .iter()
        .filter(|i| i.outcome == Outcome::NotOffered)
        .map(|i| i.requirement.as_str())
        .collect();
    assert_eq!(
        not_offered,
        [
            "security oauth-uris extension (token, authorize)",
            ".well-known/smart-configuration"
        ]
    );
    assert!(
        report.count(Outcome::Pass) >= 30,
        "{}",
        report.count(Outcome::Pass)
    );
}

#[tokio::test]
async fn the_router_can_be_nested_anywhere() {
    let ward = default_ward();
    let first = ward.patient_ids()[0].clone();
    for nest_service in [false, true] {
        let router = if nest_service {
            axum::Router::new().nest_service("/ehr/sandbox/fhir", ward.clone().router())
        } else {
            axum::Router::new().nest("/ehr/sandbox/fhir", ward.clone().router())
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/ehr/sandbox/fhir", listener.local_addr().unwrap());
        let server = tokio::spawn(async move { axum::serve(listener, router).await });
        let mut c = config(&base);
        c.page_size = 10;
        for mode in [BatchMode::Always, BatchMode::Never] {
            c.batch_mode = mode;
            let client = FhirClient::connect(c.clone()).await.unwrap();
            let sum = client.summary(&first).await.unwrap();
            // Complete through the paging links, which name the nested base.
            assert_eq!(
                sum.conditions.status,
                SectionStatus::Complete,
                "{nest_service} {mode:?}"
            );
            assert_eq!(sum.conditions.items.len(), 14);
        }
        server.abort();
    }
}
