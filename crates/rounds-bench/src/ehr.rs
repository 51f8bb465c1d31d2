//! `rounds-bench ehr`: a list of EHR patients showing every EHR column.
//!
//! - bare: the same patients' reads straight from the FHIR server with the
//!   FHIR client, as batch Bundles (no Rounds in between);
//! - cold: the time from asking for the list with nothing in memory until
//!   the list is complete (no cell still being read);
//! - warm: `getList` latency with the EHR data in memory (p50/p99).

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use reqwest::Method;
use rounds_app::{App, AppConfig, Caller, DbOptions, NewUserInput};
use serde_json::{json, Value};

use crate::{ms, percentile, Api};

const PASSWORD: &str = "benchmark password 1";

const EHR_COLUMNS: [&str; 16] = [
    "encounterStatus",
    "encounterType",
    "encounterStart",
    "heartRate",
    "bloodPressure",
    "respiratoryRate",
    "temperature",
    "spo2",
    "weight",
    "height",
    "bmi",
    "conditions",
    "allergies",
    "medications",
    "coverage",
    "gp",
];

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    percentile(&v, 50.0)
}

pub async fn run(
    fhir_base: Option<String>,
    patients: usize,
    days: u32,
    rounds: usize,
    reads: usize,
) -> anyhow::Result<()> {
    // The FHIR server: given, or the sandbox with a generated ward.
    let (base, ids, _sandbox) = match fhir_base {
        Some(base) => {
            let client = rounds_fhir::FhirClient::connect(rounds_fhir::ClientConfig::new(&base)?)
                .await
                .context("connect to the FHIR server")?;
            let found = client
                .search_patients(&rounds_fhir::PatientQuery {
                    count: Some(u32::try_from(patients).unwrap_or(u32::MAX)),
                    ..Default::default()
                })
                .await?;
            let ids: Vec<String> = found.patients.into_iter().map(|p| p.id).collect();
            (base, ids, None)
        }
        None => {
            let spec = rounds_sandbox::WardSpec {
                patients,
                days_of_vitals: days,
                ..rounds_sandbox::WardSpec::default()
            };
            let ward = rounds_sandbox::Ward::generate(&spec);
            let ids = ward.patient_ids();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(rounds_sandbox::serve(listener, ward, async {
                let _ = stopped.await;
            }));
            (format!("http://{addr}/fhir"), ids, Some((stop, task)))
        }
    };
    if ids.is_empty() {
        bail!("the FHIR server has no patients");
    }
    println!(
        "FHIR server {base}: {} patients, {} EHR columns",
        ids.len(),
        EHR_COLUMNS.len()
    );

    // Rounds on 127.0.0.1 over a SQLite file.
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let app = App::open(&url, &DbOptions::default(), AppConfig::default()).await?;
    app.create_user(
        Caller::Console,
        &NewUserInput {
            username: "bench".into(),
            display_name: "Bench".into(),
            password: Some(PASSWORD.into()),
            admin: false,
        },
    )
    .await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let state = rounds_web::AppState::new(app.clone(), rounds_web::WebConfig::default());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(rounds_web::serve(listener, state, async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::builder().cookie_store(true).build()?;
    let rounds_base = format!("http://{addr}");
    let signed: Value = http
        .post(format!("{rounds_base}/api/v1/session"))
        .json(&json!({"username": "bench", "password": PASSWORD}))
        .send()
        .await?
        .json()
        .await?;
    let api = Api {
        http,
        base: rounds_base,
        csrf: signed["csrfToken"].as_str().unwrap_or_default().to_owned(),
    };
    let team = api
        .send(
            Method::POST,
            "/api/v1/teams",
            Some(json!({"name": "Bench ward"})),
        )
        .await?["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    api.send(
        Method::PUT,
        &format!("/api/v1/teams/{team}/ehr-connection"),
        Some(json!({"name": "EHR", "baseUrl": base, "auth": {"kind": "none"}})),
    )
    .await?;
    let list = api
        .send(
            Method::POST,
            &format!("/api/v1/teams/{team}/lists"),
            Some(json!({"name": "Ward"})),
        )
        .await?["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let list_path = format!("/api/v1/teams/{team}/lists/{list}");
    for key in EHR_COLUMNS {
        api.send(
            Method::POST,
            &format!("{list_path}/columns"),
            Some(json!({"key": key})),
        )
        .await?;
    }
    for id in &ids {
        api.send(
            Method::POST,
            &format!("{list_path}/patients"),
            Some(json!({"ehrId": id})),
        )
        .await?;
    }

    // Bare: the same reads as batch Bundles, straight from the server.
    let mut config = rounds_fhir::ClientConfig::new(&base)?;
    config.batch_mode = rounds_fhir::BatchMode::Always;
    let bare_client = rounds_fhir::FhirClient::connect(config).await?;
    let mut bare = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        let got = bare_client.summaries(&ids).await;
        bare.push(t.elapsed());
        if got.iter().any(Result::is_err) {
            bail!("the bare read failed for some patients");
        }
    }

    // Cold: nothing in memory; ask until no cell is still being read.
    let mut cold = Vec::new();
    for _ in 0..rounds {
        app.clear_ehr_cache();
        let t = Instant::now();
        loop {
            let view = api.send(Method::GET, &list_path, None).await?;
            if view["ehr"]["pending"] == false {
                let ok = view["rows"].as_array().map_or(0, |r| {
                    r.iter().filter(|r| r["ehr"]["state"] == "ok").count()
                });
                if ok != ids.len() {
                    bail!("{ok} of {} patients read: {}", ids.len(), view["ehr"]);
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        cold.push(t.elapsed());
    }

    // Warm: getList with everything in memory.
    let mut warm = Vec::new();
    let mut size = 0;
    for _ in 0..reads {
        // The answer as a client receives it (bytes; parsing it is the
        // client's time, not Rounds').
        let t = Instant::now();
        let resp = api
            .http
            .get(format!("{}{list_path}", api.base))
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!("getList: {}", resp.status());
        }
        size = resp.bytes().await?.len();
        warm.push(t.elapsed());
    }
    warm.sort();

    // The same view inside the process: what the HTTP and JSON layers add.
    let actor = rounds_app::Actor {
        user: app.user_by_username("bench").await?,
        client: rounds_core::audit::ClientInfo::default(),
    };
    let team_id: rounds_core::TeamId = team.parse().map_err(|_| anyhow::anyhow!("team id"))?;
    let list_id: rounds_core::ListId = list.parse().map_err(|_| anyhow::anyhow!("list id"))?;
    let mut inside = Vec::new();
    for _ in 0..reads {
        let t = Instant::now();
        app.get_list(
            &actor,
            team_id,
            list_id,
            &rounds_core::view::ViewSpec::default(),
        )
        .await?;
        inside.push(t.elapsed());
    }
    inside.sort();

    let (bare, cold) = (median(bare), median(cold));
    println!(
        "bare batch read of the list's patients (median of {rounds}): {}",
        ms(bare)
    );
    println!(
        "cold list complete (median of {rounds}):            {}  = {:.2}x bare",
        ms(cold),
        cold.as_secs_f64() / bare.as_secs_f64().max(1e-9)
    );
    println!(
        "warm getList ({reads} reads, {} KiB each):          p50 {}  p99 {}",
        size / 1024,
        ms(percentile(&warm, 50.0)),
        ms(percentile(&warm, 99.0))
    );
    println!(
        "  of which inside Rounds (no HTTP, no JSON):          p50 {}  p99 {}",
        ms(percentile(&inside, 50.0)),
        ms(percentile(&inside, 99.0))
    );
    let _ = stop.send(());
    let _ = server.await;

    // A getList that finds the data due for a re-read, against the next one.
    let (due, next) = due_reads(&url, &list_path, &ids, rounds.max(10) * 2).await?;
    println!(
        "getList finding its data due for a re-read ({} rounds): p50 {}  p99 {}  = {:.2}x the p99 of the next getList ({}) (bar: 2x)",
        due.len(),
        ms(percentile(&due, 50.0)),
        ms(percentile(&due, 99.0)),
        percentile(&due, 99.0).as_secs_f64() / percentile(&next, 99.0).as_secs_f64().max(1e-9),
        ms(percentile(&next, 99.0)),
    );
    if let Some((stop, task)) = _sandbox {
        let _ = stop.send(());
        let _ = task.await;
    }
    Ok(())
}

/// Rounds again on the same database, re-reading EHR data older than a
/// second: in each round, once the data is due, a getList and the one
/// after it (sorted latencies of both).
async fn due_reads(
    url: &str,
    list_path: &str,
    ids: &[String],
    rounds: usize,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let mut config = AppConfig::default();
    config.ehr.refresh_after = Duration::from_secs(1);
    let app = App::open(url, &DbOptions::default(), config).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let state = rounds_web::AppState::new(app.clone(), rounds_web::WebConfig::default());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(rounds_web::serve(listener, state, async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::builder().cookie_store(true).build()?;
    let base = format!("http://{addr}");
    let signed: Value = http
        .post(format!("{base}/api/v1/session"))
        .json(&json!({"username": "bench", "password": PASSWORD}))
        .send()
        .await?
        .json()
        .await?;
    let api = Api {
        http,
        base,
        csrf: signed["csrfToken"].as_str().unwrap_or_default().to_owned(),
    };
    // Everything in memory first.
    let started = Instant::now();
    loop {
        let view = api.send(Method::GET, list_path, None).await?;
        if view["ehr"]["pending"] == false {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("the list did not complete: {}", view["ehr"]);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (mut due, mut next) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        // Due after a second; the re-read of the round before is done.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        for times in [&mut due, &mut next] {
            let t = Instant::now();
            let view = api.send(Method::GET, list_path, None).await?;
            times.push(t.elapsed());
            let ok = view["rows"].as_array().map_or(0, |r| {
                r.iter().filter(|r| r["ehr"]["state"] == "ok").count()
            });
            if ok != ids.len() {
                bail!("{ok} of {} patients shown: {}", ids.len(), view["ehr"]);
            }
        }
    }
    due.sort();
    next.sort();
    let _ = stop.send(());
    let _ = server.await;
    app.close().await;
    Ok((due, next))
}
