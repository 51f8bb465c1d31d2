//! The batch shape of a team's EHR connection against a real FHIR server
//! (sekmet-fhir): measured on a few patients after the first read and
//! remembered in the database (another instance uses it without measuring
//! again), fixed by the owner, measured again when what it was measured
//! for changes, and measured by "Test connection". How a slow, failing or
//! refusing batch is measured and left for GETs is tested in rounds-fhir
//! (tests/it/malformed.rs), where a mock server can count and delay.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use rounds_app::AppConfig;
use serde_json::{json, Value};

use crate::both;
use crate::common::{Backend, Client, Sekmet, TestApp};
use crate::ehr_mode::{get_list, ward_bundle, ward_with_patient, Ward};

const CANDIDATES: [&str; 5] = ["bundle", "bundles:2", "bundles:4", "gets:4", "gets:8"];

async fn connection(c: &Client, team: &str) -> Value {
    let r = c.get(&format!("/api/v1/teams/{team}/ehr-connection")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body
}

/// Waits until the connection shows a measured shape, other than `before`'s
/// measurement when given.
async fn measured(c: &Client, team: &str, before: Option<&Value>) -> Value {
    let started = Instant::now();
    loop {
        let shape = connection(c, team).await["batchShape"].clone();
        if shape["source"] == "measured"
            && shape["measuredAt"].is_string()
            && before.is_none_or(|b| b["measuredAt"] != shape["measuredAt"])
        {
            return shape;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never measured: {shape}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Asks for the list until its EHR data is read.
async fn complete(w: &Ward) -> Value {
    let started = Instant::now();
    loop {
        let list = get_list(w, "").await;
        if list["ehr"]["pending"] == false {
            assert_eq!(list["rows"][0]["ehr"]["state"], "ok", "{}", list["rows"]);
            return list;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{}",
            list["ehr"]
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn set_connection(w: &Ward, base: &str, extra: Value) -> reqwest::StatusCode {
    let mut body = json!({"name": "Hospital EHR", "baseUrl": base, "auth": {"kind": "none"}});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let r = w
        .owner
        .put(&format!("/api/v1/teams/{}/ehr-connection", w.team), body)
        .await;
    assert!(
        r.status == StatusCode::OK || r.status == StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        r.text
    );
    if r.status == StatusCode::UNPROCESSABLE_ENTITY {
        assert_eq!(r.body["error"]["field"], "batchShape", "{}", r.text);
    }
    r.status
}

/// Measured after the first read and remembered: a second instance on the
/// same database uses the shape without measuring again; the owner's fixed
/// shape is used as set, and auto goes back to the remembered one.
async fn measured_remembered_and_fixed(backend: Backend) {
    let sekmet = Sekmet::start();
    sekmet.load(&ward_bundle()).await;
    let app = TestApp::spawn(backend).await;
    let (w, _) = ward_with_patient(&app, &sekmet.base).await;
    complete(&w).await;
    let first = measured(&w.owner, &w.team, None).await;
    assert_eq!(first["setting"], "auto");
    let shape = first["shape"].as_str().unwrap().to_owned();
    assert!(CANDIDATES.contains(&shape.as_str()), "{first}");
    assert!(first["description"].is_string(), "{first}");
    let tried: Vec<&str> = first["trials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["shape"].as_str().unwrap())
        .collect();
    assert_eq!(tried, CANDIDATES, "{first}");
    assert!(
        first["trials"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["micros"].as_u64().is_some()),
        "{first}"
    );

    // Another instance on the same database (as after a restart).
    let other = app.spawn_sharing(AppConfig::default()).await;
    let w2 = Ward {
        team: w.team.clone(),
        list: w.list.clone(),
        owner: other.client("owner").await,
        member: other.client("member").await,
    };
    complete(&w2).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let there = connection(&w2.owner, &w.team).await["batchShape"].clone();
    assert_eq!(there["source"], "measured", "{there}");
    assert_eq!(there["shape"], shape.as_str(), "{there}");
    assert_eq!(
        there["measuredAt"], first["measuredAt"],
        "measured again: {there}"
    );

    // The owner's fixed shape.
    assert_eq!(
        set_connection(&w, &sekmet.base, json!({"batchShape": "gets:0"})).await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        set_connection(&w, &sekmet.base, json!({"batchShape": "chunks:3x2"})).await,
        StatusCode::OK
    );
    let list = get_list(&w, "?refresh=true").await;
    assert_eq!(list["rows"][0]["ehr"]["state"], "ok", "{}", list["rows"]);
    let fixed = connection(&w.owner, &w.team).await["batchShape"].clone();
    assert_eq!(fixed["setting"], "chunks:3x2", "{fixed}");
    assert_eq!(fixed["shape"], "chunks:3x2", "{fixed}");
    assert_eq!(fixed["source"], "fixed", "{fixed}");
    assert!(fixed["trials"].is_null(), "{fixed}");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let still = connection(&w.owner, &w.team).await["batchShape"].clone();
    assert_eq!(
        still["source"], "fixed",
        "a fixed shape is never measured: {still}"
    );

    // Back to auto: the remembered shape, not measured again.
    assert_eq!(
        set_connection(&w, &sekmet.base, json!({"batchShape": "auto"})).await,
        StatusCode::OK
    );
    complete(&w).await;
    get_list(&w, "?refresh=true").await;
    let back = connection(&w.owner, &w.team).await["batchShape"].clone();
    assert_eq!(back["source"], "measured", "{back}");
    assert_eq!(back["shape"], shape.as_str(), "{back}");
    assert_eq!(back["measuredAt"], first["measuredAt"], "{back}");
    other.stop().await;
    app.stop().await;
}

both!(measured_remembered_and_fixed);

/// What a shape was measured for changes (here the connection's batch
/// mode: never): it is measured again, among GETs only; "Test connection"
/// measures and shows the candidates' times.
async fn measured_again_and_by_the_test(backend: Backend) {
    let sekmet = Sekmet::start();
    sekmet.load(&ward_bundle()).await;
    let app = TestApp::spawn(backend).await;
    let (w, _) = ward_with_patient(&app, &sekmet.base).await;
    complete(&w).await;
    let first = measured(&w.owner, &w.team, None).await;

    assert_eq!(
        set_connection(&w, &sekmet.base, json!({"batchMode": "never"})).await,
        StatusCode::OK
    );
    get_list(&w, "?refresh=true").await;
    let again = measured(&w.owner, &w.team, Some(&first)).await;
    let tried: Vec<&str> = again["trials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["shape"].as_str().unwrap())
        .collect();
    assert_eq!(tried, ["gets:4", "gets:8"], "{again}");
    assert!(
        again["shape"].as_str().unwrap().starts_with("gets:"),
        "{again}"
    );

    // Test connection: measured on the server's first patients, shown.
    let r = w
        .owner
        .post(
            &format!("/api/v1/teams/{}/ehr-connection/test", w.team),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["ok"], true, "{}", r.text);
    let tested = &r.body["batchShape"];
    assert_eq!(tested["source"], "measured", "{tested}");
    assert!(
        tested["shape"].as_str().unwrap().starts_with("gets:"),
        "{tested}"
    );
    assert_eq!(
        tested["trials"].as_array().map(Vec::len),
        Some(2),
        "{tested}"
    );
    app.stop().await;
}

both!(measured_again_and_by_the_test);
