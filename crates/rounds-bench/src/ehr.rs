//! `rounds-bench ehr`: a list of EHR patients showing every EHR column.
//!
//! - bare: the same patients' queries sent by hand straight to the FHIR
//!   server (no Rounds, no FHIR client): as one batch Bundle, as 8
//!   concurrent GETs, and as the old fixed shape (Bundles of 20, 4 at a
//!   time), interleaved with the cold rounds;
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

/// sekmet-fhir started for the benchmark in a directory of its own,
/// seeded with `patients` patients (half admitted); killed when dropped.
struct Sekmet {
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Drop for Sekmet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_sekmet(exe: &std::path::Path, patients: usize) -> anyhow::Result<(Sekmet, String)> {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let base = format!("http://127.0.0.1:{port}/fhir");
    let child = Command::new(exe)
        .args(["serve", "--host", "127.0.0.1", "--port", &port.to_string()])
        .current_dir(dir.path())
        .env("SEKMET_BASE_URL", &base)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("start sekmet")?;
    let s = Sekmet { child, _dir: dir };
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > Duration::from_secs(60) {
            bail!("sekmet did not start");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let seeded = Command::new(exe)
        .args(["seed", "--count", &patients.to_string(), "--admit"])
        .current_dir(s._dir.path())
        .env("SEKMET_BASE_URL", &base)
        .stdin(Stdio::null())
        .output()
        .context("seed sekmet")?;
    if !seeded.status.success() {
        bail!(
            "sekmet seed failed: {}",
            String::from_utf8_lossy(&seeded.stderr)
        );
    }
    Ok((s, base))
}

/// The queries sent by hand, as one batch Bundle.
async fn bare_bundle(http: &reqwest::Client, base: &str, queries: &[String]) -> anyhow::Result<()> {
    let bundle = json!({
        "resourceType": "Bundle",
        "type": "batch",
        "entry": queries.iter().map(|q| json!({"request": {"method": "GET", "url": q}})).collect::<Vec<_>>(),
    });
    let r = http
        .post(base)
        .header("content-type", "application/fhir+json")
        .json(&bundle)
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("the bare Bundle: {}", r.status());
    }
    let v: Value = r.json().await?;
    if v["entry"].as_array().map_or(0, Vec::len) != queries.len() {
        bail!("the bare Bundle's answer lacks entries");
    }
    Ok(())
}

/// The queries sent by hand as Bundles of `size`, `in_flight` at a time.
async fn bare_chunks(
    http: &reqwest::Client,
    base: &str,
    queries: &[String],
    size: usize,
    in_flight: usize,
) -> anyhow::Result<()> {
    let chunks: Vec<Vec<String>> = queries.chunks(size).map(<[String]>::to_vec).collect();
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(in_flight));
    let mut set = tokio::task::JoinSet::new();
    for chunk in chunks {
        let (http, base, gate) = (http.clone(), base.to_owned(), gate.clone());
        set.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            bare_bundle(&http, &base, &chunk).await
        });
    }
    while let Some(done) = set.join_next().await {
        done??;
    }
    Ok(())
}

/// The queries sent by hand as GETs, `in_flight` at a time.
async fn bare_gets(
    http: &reqwest::Client,
    base: &str,
    queries: &[String],
    in_flight: usize,
) -> anyhow::Result<()> {
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(in_flight));
    let mut set = tokio::task::JoinSet::new();
    for q in queries {
        let (http, url, gate) = (http.clone(), format!("{base}/{q}"), gate.clone());
        set.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let r = http.get(&url).send().await?;
            if !r.status().is_success() && r.status().as_u16() != 404 {
                bail!("GET: {}", r.status());
            }
            r.bytes().await?;
            anyhow::Ok(())
        });
    }
    while let Some(done) = set.join_next().await {
        done??;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub async fn run(
    fhir_base: Option<String>,
    sekmet: Option<std::path::PathBuf>,
    patients: Option<usize>,
    days: u32,
    rounds: usize,
    reads: usize,
) -> anyhow::Result<()> {
    // The FHIR server: given, sekmet seeded here, or the sandbox with a
    // generated ward.
    let mut _sekmet = None;
    let fhir_base = match (fhir_base, sekmet) {
        (Some(base), _) => Some(base),
        (None, Some(exe)) => {
            let (s, base) = start_sekmet(&exe, patients.unwrap_or(50))?;
            _sekmet = Some(s);
            Some(base)
        }
        (None, None) => None,
    };
    let patients = patients.unwrap_or(if fhir_base.is_some() { 50 } else { 200 });
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
    let served = Served::start(&app).await?;
    let api = &served.api;
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
    // A new list of a team with an EHR may show some EHR columns already.
    let shown: Vec<String> = api.send(Method::GET, &list_path, None).await?["columns"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c["key"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    for key in EHR_COLUMNS
        .iter()
        .filter(|k| !shown.iter().any(|s| s == *k))
    {
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

    // The first read: Rounds measures its batch shape on a few of the
    // list's patients after it (remembered in the database).
    let first = Instant::now();
    wait_complete(api, &list_path, ids.len()).await?;
    let first = first.elapsed();
    let measured = wait_measured(api, &team).await?;
    println!(
        "first read (default shape): {}; then measured on a sample: {} ({})",
        ms(first),
        measured["shape"].as_str().unwrap_or("?"),
        measured["trials"]
            .as_array()
            .map(|t| t
                .iter()
                .map(|t| format!(
                    "{} {}",
                    t["shape"].as_str().unwrap_or("?"),
                    t["micros"]
                        .as_u64()
                        .map_or("failed".to_owned(), |m| format!(
                            "{:.1} ms",
                            m as f64 / 1000.0
                        ))
                ))
                .collect::<Vec<_>>()
                .join(", "))
            .unwrap_or_default()
    );

    // Bare: the same queries by hand, straight to the server, interleaved
    // with the cold rounds (nothing in memory; ask until no cell is still
    // being read).
    let queries = rounds_fhir::FhirClient::connect(rounds_fhir::ClientConfig::new(&base)?)
        .await?
        .summary_queries(&ids);
    let bare_http = reqwest::Client::new();
    let (mut bundle, mut gets, mut chunks, mut cold) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        bare_bundle(&bare_http, &base, &queries).await?;
        bundle.push(t.elapsed());
        let t = Instant::now();
        bare_gets(&bare_http, &base, &queries, 8).await?;
        gets.push(t.elapsed());
        let t = Instant::now();
        bare_chunks(&bare_http, &base, &queries, 20, 4).await?;
        chunks.push(t.elapsed());
        app.clear_ehr_cache();
        let t = Instant::now();
        wait_complete(api, &list_path, ids.len()).await?;
        cold.push(t.elapsed());
    }

    // The same cold rounds with the shape Rounds had before it measured
    // (Bundles of 20, 4 at a time), fixed by the owner; then auto again.
    let connection = |shape: &str| json!({"name": "EHR", "baseUrl": base, "auth": {"kind": "none"}, "batchShape": shape});
    let conn_path = format!("/api/v1/teams/{team}/ehr-connection");
    api.send(Method::PUT, &conn_path, Some(connection("chunks:20x4")))
        .await?;
    let mut old_shape = Vec::new();
    for _ in 0..rounds {
        app.clear_ehr_cache();
        let t = Instant::now();
        wait_complete(api, &list_path, ids.len()).await?;
        old_shape.push(t.elapsed());
    }
    api.send(Method::PUT, &conn_path, Some(connection("auto")))
        .await?;
    wait_complete(api, &list_path, ids.len()).await?;

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

    let (bundle, gets, chunks, cold) = (median(bundle), median(gets), median(chunks), median(cold));
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
    println!(
        "bare, by hand, {} queries (medians of {rounds}): one batch Bundle {}, 8 concurrent GETs {} ({:.2}x the Bundle), Bundles of 20 4 at a time {} ({:.2}x)",
        queries.len(),
        ms(bundle),
        ms(gets),
        ratio(gets, bundle),
        ms(chunks),
        ratio(chunks, bundle),
    );
    println!(
        "cold list complete (median of {rounds}):            {}  = {:.2}x the bare Bundle (bar 1.05x), {:.2}x the bare 8 GETs (bar 1.0x)",
        ms(cold),
        ratio(cold, bundle),
        ratio(cold, gets),
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
    let old_shape = median(old_shape);
    println!(
        "cold list with the fixed shape chunks:20x4 (the shape before this measuring): {}  = {:.2}x the bare Bundle",
        ms(old_shape),
        ratio(old_shape, bundle),
    );
    served.stop().await;

    // A restart: another instance on the same database uses the shape
    // remembered, without measuring again.
    let (restart, again) = restarted(&url, &list_path, &team, ids.len(), &measured).await?;
    println!(
        "cold list after a restart (remembered shape {}, measured again: {}): {}  = {:.2}x the bare Bundle",
        measured["shape"].as_str().unwrap_or("?"),
        if again { "yes" } else { "no" },
        ms(restart),
        ratio(restart, bundle),
    );

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

/// Asks for the list until no cell is still being read; all must be read.
async fn wait_complete(api: &Api, list_path: &str, n: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let view = api.send(Method::GET, list_path, None).await?;
        if view["ehr"]["pending"] == false {
            let ok = view["rows"].as_array().map_or(0, |r| {
                r.iter().filter(|r| r["ehr"]["state"] == "ok").count()
            });
            if ok != n {
                bail!("{ok} of {n} patients read: {}", view["ehr"]);
            }
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(120) {
            bail!("the list did not complete: {}", view["ehr"]);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits until the team's connection shows a measured batch shape.
async fn wait_measured(api: &Api, team: &str) -> anyhow::Result<Value> {
    let started = Instant::now();
    loop {
        let c = api
            .send(
                Method::GET,
                &format!("/api/v1/teams/{team}/ehr-connection"),
                None,
            )
            .await?;
        if c["batchShape"]["source"] == "measured" {
            return Ok(c["batchShape"].clone());
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("no batch shape measured: {}", c["batchShape"]);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Another instance on the same database: the time of its first complete
/// list, and whether it measured the shape again.
async fn restarted(
    url: &str,
    list_path: &str,
    team: &str,
    n: usize,
    measured: &Value,
) -> anyhow::Result<(Duration, bool)> {
    let app = App::open(url, &DbOptions::default(), AppConfig::default()).await?;
    let served = Served::start(&app).await?;
    let api = &served.api;
    let t = Instant::now();
    wait_complete(api, list_path, n).await?;
    let took = t.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let now = api
        .send(
            Method::GET,
            &format!("/api/v1/teams/{team}/ehr-connection"),
            None,
        )
        .await?;
    let again = now["batchShape"]["measuredAt"] != measured["measuredAt"];
    served.stop().await;
    app.close().await;
    Ok((took, again))
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
    let served = Served::start(&app).await?;
    let api = &served.api;
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
    served.stop().await;
    app.close().await;
    Ok((due, next))
}

/// Rounds on an [`App`], served on 127.0.0.1 and signed in as the
/// benchmark's user.
struct Served {
    api: Api,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Served {
    async fn start(app: &App) -> anyhow::Result<Self> {
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
        Ok(Self { api, stop, server })
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.server.await;
    }
}
