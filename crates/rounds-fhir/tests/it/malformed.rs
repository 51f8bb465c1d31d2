//! Hostile and broken servers: truncated JSON, wrong types, huge answers,
//! slow answers, paging links to another host, refused POST search and
//! batch, failed batch entries, 429/503 with Retry-After. A clear error or a
//! degraded section each time, never a panic.
//!
//! (Over 500 lines: one job, broken servers; each test one way of breaking, the
//! answers it needs beside it.)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rounds_fhir::{BatchMode, ClientConfig, FhirClient, FhirError, PatientQuery, SectionStatus};
use serde_json::{json, Value};

use crate::responder::{self, Hit, Reply};

use crate::common::CONTRACT_TYPES as TYPES;

fn patient(id: &str) -> Value {
    json!({"resourceType": "Patient", "id": id, "name": [{"family": "Broken", "given": ["Case"]}]})
}

fn condition(pid: &str, n: u32) -> Value {
    json!({"resourceType": "Condition", "id": format!("c{n}"), "subject": {"reference": format!("Patient/{pid}")}, "code": {"text": format!("Problem {n}")}})
}

/// A normal little R4 server for `p1`; `special` may answer first.
async fn server(
    batch: bool,
    special: impl Fn(&Hit) -> Option<Reply> + Send + Sync + 'static,
) -> responder::Responder {
    let special = Arc::new(special);
    responder::start(responder::sync_handler(move |hit| {
        if let Some(r) = special(hit) {
            return r;
        }
        route(hit.fhir_path(), batch)
    }))
    .await
}

fn route(path: &str, batch: bool) -> Reply {
    match path {
        "metadata" => Reply::json(200, &responder::metadata("4.0.1", &TYPES, batch, None)),
        p if p.starts_with("Patient/") => {
            Reply::json(200, &patient(p.trim_start_matches("Patient/")))
        }
        "Condition" => Reply::json(
            200,
            &responder::searchset(&[condition("p1", 1)], Some(1), None),
        ),
        p if TYPES.contains(&p) => Reply::json(200, &responder::searchset(&[], Some(0), None)),
        _ => Reply::json(
            404,
            &json!({"resourceType": "OperationOutcome", "issue": [{"diagnostics": "unknown"}]}),
        ),
    }
}

fn config(base: &str) -> ClientConfig {
    let mut c = ClientConfig::new(base).unwrap();
    c.request_timeout = Duration::from_secs(5);
    c.batch_mode = BatchMode::Never;
    c
}

#[tokio::test]
async fn truncated_json_and_wrong_types_are_clear_errors_or_absent_data() {
    let s = server(false, |h| match h.fhir_path() {
        "Patient/trunc" => Some(Reply::raw(200, br#"{"resourceType": "Patient", "id": "trunc", "name": [{"fam"#.to_vec())),
        "Patient/array" => Some(Reply::raw(200, b"[1,2,3]".to_vec())),
        "Patient/html" => Some(Reply::raw(200, b"<html>gateway</html>".to_vec())),
        "Patient/odd" => Some(Reply::json(200, &json!({"resourceType": "Patient", "id": "odd", "name": 5, "identifier": "x",
            "gender": ["f"], "birthDate": 19700101, "generalPractitioner": {"display": 7}}))),
        "Patient/other" => Some(Reply::json(200, &patient("someone-else"))),
        "Condition" if h.query().contains("odd") => Some(Reply::json(200, &json!({"resourceType": "Bundle", "total": "three", "entry": {"resource": 1}}))),
        "AllergyIntolerance" if h.query().contains("odd") => Some(Reply::json(200, &json!({"resourceType": "Bundle", "entry": [
            {"resource": {"resourceType": "AllergyIntolerance", "patient": {"reference": "Patient/odd"}, "code": 12, "reaction": "x", "clinicalStatus": [1]}}]}))),
        _ => None,
    })
    .await;
    let client = FhirClient::connect(config(&s.base)).await.unwrap();
    for id in ["trunc", "array", "html"] {
        let e = client.read_patient(id).await.unwrap_err();
        assert!(matches!(e, FhirError::Malformed { .. }), "{id}: {e:?}");
        assert!(!e.should_retry());
    }
    let e = client.read_patient("other").await.unwrap_err();
    assert!(
        matches!(e, FhirError::Malformed { .. }),
        "another patient than asked: {e:?}"
    );
    let odd = client.summary("odd").await.unwrap();
    assert_eq!(
        (
            odd.patient.family,
            odd.patient.gender,
            odd.patient.birth_date,
            odd.age
        ),
        (None, None, None, None)
    );
    assert_eq!(odd.conditions.status, SectionStatus::Empty);
    let a = &odd.allergies.items[0];
    assert_eq!(
        (
            a.substance.as_ref(),
            a.clinical_status.as_ref(),
            a.reactions.len()
        ),
        (None, None, 0)
    );
}

#[tokio::test]
async fn a_50_mb_answer_is_refused_at_the_limit() {
    let big = Arc::new({
        let mut v = br#"{"resourceType": "Patient", "id": "big", "text": {"div": ""#.to_vec();
        v.resize(50 * 1024 * 1024, b'a');
        v.extend_from_slice(br#""}}"#);
        v
    });
    let s = server(false, move |h| {
        (h.fhir_path() == "Patient/big").then(|| Reply::raw(200, big.to_vec()))
    })
    .await;
    let client = FhirClient::connect(config(&s.base)).await.unwrap();
    let started = Instant::now();
    let e = client.read_patient("big").await.unwrap_err();
    assert!(
        matches!(&e, FhirError::Malformed { detail, .. } if detail.contains("limit")),
        "{e:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(15));
    // Within the default limit of 16 MiB the same kind of answer is fine.
    let mut c = config(&s.base);
    c.max_response_bytes = 60 * 1024 * 1024;
    let client = FhirClient::connect(c).await.unwrap();
    assert_eq!(client.read_patient("big").await.unwrap().id, "big");
}

#[tokio::test]
async fn next_links_to_another_host_are_not_followed() {
    let elsewhere = server(false, |_| None).await;
    let foreign_next = format!("{}/Condition?page=2", elsewhere.base);
    let s = server(false, move |h| {
        (h.fhir_path() == "Condition").then(|| {
            Reply::json(
                200,
                &responder::searchset(&[condition("p1", 1)], Some(2), Some(&foreign_next)),
            )
        })
    })
    .await;
    let client = FhirClient::connect(config(&s.base)).await.unwrap();
    let sum = client.summary("p1").await.unwrap();
    assert_eq!(
        sum.conditions.status,
        SectionStatus::Partial { shown: 1, total: 2 }
    );
    assert!(
        elsewhere.hits().is_empty(),
        "the other origin was never asked"
    );
    // A same-origin next link is followed.
    let own = Arc::new(AtomicUsize::new(0));
    let own2 = own.clone();
    let s2 = server(false, move |h| {
        if h.fhir_path() != "Condition" {
            return None;
        }
        if h.query().contains("page=2") {
            own2.fetch_add(1, Ordering::Relaxed);
            return Some(Reply::json(
                200,
                &responder::searchset(&[condition("p1", 2)], Some(2), None),
            ));
        }
        Some(Reply::json(
            200,
            &responder::searchset(
                &[condition("p1", 1)],
                Some(2),
                Some("Condition?patient=p1&page=2"),
            ),
        ))
    })
    .await;
    let client = FhirClient::connect(config(&s2.base)).await.unwrap();
    let sum = client.summary("p1").await.unwrap();
    assert_eq!(sum.conditions.status, SectionStatus::Complete);
    assert_eq!(sum.conditions.items.len(), 2);
    assert_eq!(own.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn a_slow_server_is_cut_off_and_only_its_section_fails() {
    let s = server(false, |h| {
        (h.fhir_path() == "Encounter").then(|| {
            Reply::json(200, &responder::searchset(&[], Some(0), None))
                .after(Duration::from_secs(3))
        })
    })
    .await;
    let mut c = config(&s.base);
    c.request_timeout = Duration::from_millis(600);
    let client = FhirClient::connect(c).await.unwrap();
    let started = Instant::now();
    let sum = client.summary("p1").await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(2_800));
    match &sum.encounter.status {
        SectionStatus::Failed { reason, retryable } => {
            assert!(reason.contains("no answer within"), "{reason}");
            assert!(*retryable);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(sum.conditions.status, SectionStatus::Complete);
}

#[tokio::test]
async fn retry_after_is_honoured_and_bounded() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c2 = calls.clone();
    let s = server(false, move |h| match h.fhir_path() {
        "Patient/busy" if c2.fetch_add(1, Ordering::Relaxed) == 0 => Some(Reply::json(429, &json!({})).header("retry-after", "1")),
        "Patient/down" => Some(Reply::json(503, &json!({"resourceType": "OperationOutcome", "issue": [{"diagnostics": "maintenance"}]})).header("retry-after", "120")),
        _ => None,
    })
    .await;
    let client = FhirClient::connect(config(&s.base)).await.unwrap();
    let started = Instant::now();
    assert_eq!(client.read_patient("busy").await.unwrap().id, "busy");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited as asked"
    );
    assert_eq!(calls.load(Ordering::Relaxed), 2);
    let started = Instant::now();
    let e = client.read_patient("down").await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "a wait beyond the cap is not taken"
    );
    assert_eq!(e.retry_after(), Some(Duration::from_secs(120)));
    assert!(e.should_retry());
    assert!(e.to_string().contains("maintenance"));
}

#[tokio::test]
async fn post_search_refused_falls_back_to_get() {
    let s = server(false, |h| match (h.method.as_str(), h.fhir_path()) {
        ("POST", "Patient/_search") => Some(Reply::json(
            405,
            &json!({"resourceType": "OperationOutcome", "issue": [{"diagnostics": "no POST"}]}),
        )),
        ("GET", "Patient") => Some(Reply::json(
            200,
            &responder::searchset(&[patient("p1")], Some(1), None),
        )),
        _ => None,
    })
    .await;
    let client = FhirClient::connect(config(&s.base)).await.unwrap();
    let q = PatientQuery {
        family: Some("Broken".into()),
        gender: Some("other".into()),
        ..Default::default()
    };
    for _ in 0..2 {
        let r = client.search_patients(&q).await.unwrap();
        assert!(!r.via_post);
        assert_eq!((r.total, r.patients[0].id.as_str()), (Some(1), "p1"));
    }
    let hits = s.hits();
    let posts = hits.iter().filter(|h| h.method == "POST").count();
    assert_eq!(posts, 1, "after one refusal, straight to GET");
    let get = hits
        .iter()
        .find(|h| h.method == "GET" && h.fhir_path() == "Patient")
        .unwrap();
    assert!(
        get.query().contains("family=Broken") && get.query().contains("gender=other"),
        "{}",
        get.query()
    );
}

/// Answers a batch Bundle by routing each entry; entries for Coverage fail.
fn answer_batch(body: &str) -> Reply {
    let bundle: Value = serde_json::from_str(body).unwrap();
    let entries: Vec<Value> = bundle["entry"].as_array().unwrap().iter().map(|e| {
        let url = e["request"]["url"].as_str().unwrap();
        let path = url.split('?').next().unwrap();
        if path == "Coverage" {
            return json!({"response": {"status": "500 Internal Server Error",
                "outcome": {"resourceType": "OperationOutcome", "issue": [{"diagnostics": "coverage backend down"}]}}});
        }
        let reply = route(path, true);
        json!({"response": {"status": format!("{} x", reply.status)}, "resource": serde_json::from_slice::<Value>(&reply.body).unwrap()})
    }).collect();
    Reply::json(
        200,
        &json!({"resourceType": "Bundle", "type": "batch-response", "entry": entries}),
    )
}

#[tokio::test]
async fn one_failed_batch_entry_fails_one_section_of_one_patient() {
    let s = server(true, |h| {
        (h.method == "POST" && h.fhir_path().is_empty()).then(|| answer_batch(&h.body))
    })
    .await;
    let mut c = config(&s.base);
    c.batch_mode = BatchMode::Auto;
    c.batch_chunk_size = 5;
    let client = FhirClient::connect(c).await.unwrap();
    let ids: Vec<String> = (1..=3).map(|i| format!("p{i}")).collect();
    let sums = client.summaries(&ids).await;
    for (i, sum) in sums.iter().enumerate() {
        let sum = sum.as_ref().unwrap();
        assert_eq!(sum.patient.id, ids[i]);
        match &sum.coverage.status {
            SectionStatus::Failed { reason, retryable } => {
                assert!(reason.contains("coverage backend down"), "{reason}");
                assert!(*retryable);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(sum.allergies.status, SectionStatus::Empty);
    }
    assert_eq!(sums[0].as_ref().unwrap().conditions.items.len(), 1);
    // 3 patients x 7 queries in chunks of 5: 5 batch requests, no GETs.
    let hits = s.hits();
    assert_eq!(hits.iter().filter(|h| h.method == "POST").count(), 5);
    assert!(!hits.iter().any(|h| h.method == "GET"
        && h.fhir_path() != "metadata"
        && !h.fhir_path().starts_with(".well-known")));
}

#[tokio::test]
async fn a_refused_batch_falls_back_to_concurrent_gets() {
    let s = server(true, |h| {
        (h.method == "POST" && h.fhir_path().is_empty())
            .then(|| Reply::json(405, &json!({"resourceType": "OperationOutcome"})))
    })
    .await;
    let mut c = config(&s.base);
    c.batch_mode = BatchMode::Auto;
    let client = FhirClient::connect(c).await.unwrap();
    assert_eq!(client.next_path(), rounds_fhir::Path::Batch);
    let sum = client.summary("p1").await.unwrap();
    assert_eq!(sum.conditions.items.len(), 1);
    assert_eq!(client.next_path(), rounds_fhir::Path::Concurrent);
}

#[tokio::test]
async fn configuration_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "not a certificate").unwrap();
    let mut c = ClientConfig::new("http://127.0.0.1:9/fhir").unwrap();
    c.extra_ca_file = Some(ca);
    assert!(matches!(
        FhirClient::connect(c.clone()).await,
        Err(FhirError::Config(_))
    ));
    c.extra_ca_file = Some(dir.path().join("missing.pem"));
    assert!(matches!(
        FhirClient::connect(c).await,
        Err(FhirError::Config(_))
    ));
    // Nothing listens on port 9: a network error, worth a retry.
    let e = FhirClient::connect(ClientConfig::new("http://127.0.0.1:9/fhir").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(e, FhirError::Network { .. }), "{e:?}");
    assert!(e.should_retry());
    // An unknown FHIR version is its own error.
    let s = responder::start(responder::sync_handler(|_| {
        Reply::json(
            200,
            &json!({"resourceType": "CapabilityStatement", "fhirVersion": "0.5.0"}),
        )
    }))
    .await;
    let e = FhirClient::connect(ClientConfig::new(&s.base).unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, FhirError::UnsupportedVersion { found } if found == "0.5.0"),
        "{e:?}"
    );
}

// ---------------------------------------------------------------- batch shapes
// The mock server here counts and delays requests, which a real server
// cannot be made to do on cue; sekmet.rs measures on the real one.

/// Answers a batch Bundle by routing each entry, all of them well.
fn answer_batch_well(body: &str) -> Reply {
    let bundle: Value = serde_json::from_str(body).unwrap();
    let entries: Vec<Value> = bundle["entry"].as_array().unwrap().iter().map(|e| {
        let url = e["request"]["url"].as_str().unwrap();
        let reply = route(url.split('?').next().unwrap(), true);
        json!({"response": {"status": format!("{} x", reply.status)}, "resource": serde_json::from_slice::<Value>(&reply.body).unwrap()})
    }).collect();
    Reply::json(
        200,
        &json!({"resourceType": "Bundle", "type": "batch-response", "entry": entries}),
    )
}

fn shape_client_config(base: &str) -> ClientConfig {
    let mut c = config(base);
    c.batch_mode = BatchMode::Auto;
    c
}

#[tokio::test]
async fn each_shape_sends_as_it_says() {
    use rounds_fhir::BatchShape;
    let s = server(true, |h| {
        (h.method == "POST" && h.fhir_path().is_empty()).then(|| answer_batch_well(&h.body))
    })
    .await;
    let client = FhirClient::connect(shape_client_config(&s.base))
        .await
        .unwrap();
    let ids: Vec<String> = (1..=3).map(|i| format!("p{i}")).collect();
    // 3 patients x 7 queries.
    for (shape, posts, gets) in [
        (BatchShape::Bundles { parts: 1 }, 1, 0),
        (BatchShape::Bundles { parts: 2 }, 2, 0),
        (
            BatchShape::Chunks {
                size: 5,
                in_flight: 2,
            },
            5,
            0,
        ),
        (BatchShape::Gets { in_flight: 3 }, 0, 21),
    ] {
        client.set_shape(Some(shape));
        assert_eq!(client.shape(), shape);
        let before = s.hits().len();
        let sums = client.summaries(&ids).await;
        assert!(sums.iter().all(Result::is_ok), "{shape}");
        assert_eq!(
            sums[0].as_ref().unwrap().conditions.items.len(),
            1,
            "{shape}"
        );
        let hits: Vec<_> = s.hits().into_iter().skip(before).collect();
        assert_eq!(
            hits.iter().filter(|h| h.method == "POST").count(),
            posts,
            "{shape}"
        );
        assert_eq!(
            hits.iter().filter(|h| h.method == "GET").count(),
            gets,
            "{shape}"
        );
    }
}

#[tokio::test]
async fn a_slow_batch_is_measured_slower_and_not_chosen() {
    let s = server(true, |h| {
        (h.method == "POST" && h.fhir_path().is_empty())
            .then(|| answer_batch_well(&h.body).after(Duration::from_millis(300)))
    })
    .await;
    let client = FhirClient::connect(shape_client_config(&s.base))
        .await
        .unwrap();
    let ids: Vec<String> = (1..=4).map(|i| format!("p{i}")).collect();
    let m = client.measure_shapes(&ids).await.unwrap();
    assert_eq!(m.queries, 28);
    assert_eq!(m.trials.len(), 5, "{:?}", m.trials);
    assert_eq!(m.chosen.path(), rounds_fhir::Path::Concurrent, "{m:?}");
    for t in &m.trials {
        let micros = t.micros.unwrap();
        if t.shape.path() == rounds_fhir::Path::Batch {
            assert!(micros >= 300_000, "{t:?}");
        }
    }
    // Measuring does not change the client's shape.
    assert_ne!(client.shape(), m.chosen);
}

#[tokio::test]
async fn a_failing_or_refused_batch_is_not_chosen() {
    for status in [500u16, 405] {
        let s = server(true, move |h| {
            (h.method == "POST" && h.fhir_path().is_empty()).then(|| {
                Reply::json(
                    status,
                    &json!({"resourceType": "OperationOutcome", "issue": [{"diagnostics": "no batch today"}]}),
                )
            })
        })
        .await;
        let client = FhirClient::connect(shape_client_config(&s.base))
            .await
            .unwrap();
        let ids: Vec<String> = (1..=2).map(|i| format!("p{i}")).collect();
        let m = client.measure_shapes(&ids).await.unwrap();
        assert_eq!(m.chosen.path(), rounds_fhir::Path::Concurrent, "{m:?}");
        let failed: Vec<_> = m.trials.iter().filter(|t| t.error.is_some()).collect();
        assert!(!failed.is_empty(), "{status}: {m:?}");
        assert!(
            failed
                .iter()
                .all(|t| t.shape.path() == rounds_fhir::Path::Batch && t.micros.is_none()),
            "{m:?}"
        );
        assert_eq!(client.batch_refused(), status == 405);
    }
}
