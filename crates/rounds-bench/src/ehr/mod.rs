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

use anyhow::bail;
use reqwest::Method;
use rounds_app::{App, AppConfig, DbOptions};
use serde_json::{json, Value};

use crate::rig::{open_app, Rig};
use crate::upstream::Upstream;
use crate::{ms, percentile, Api};

mod again;
mod bare;
use again::{due_reads, restarted};
use bare::{bare_bundle, bare_chunks, bare_gets};

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
    sekmet: Option<std::path::PathBuf>,
    patients: Option<usize>,
    days: u32,
    rounds: usize,
    reads: usize,
) -> anyhow::Result<()> {
    let upstream = upstream(fhir_base, sekmet, patients, days).await?;
    let (base, ids) = (upstream.base.as_str(), upstream.ids.as_slice());
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
    let rig = serve(&url, AppConfig::default(), true).await?;
    let list = EhrList::make(&rig, base, ids).await?;
    let measured = first_read(&rig.api, &list).await?;

    // Bare: the same queries by hand, straight to the server, interleaved
    // with the cold rounds (nothing in memory; ask until no cell is still
    // being read).
    let queries = rounds_fhir::FhirClient::connect(rounds_fhir::ClientConfig::new(base)?)
        .await?
        .summary_queries(ids);
    let cold = bare_and_cold(&rig, base, &queries, &list, rounds).await?;
    let old_shape = fixed_shape(&rig, base, &list, rounds).await?;
    let (warm, size) = warm_reads(&rig.api, &list.path, reads).await?;
    let inside = inside_reads(&rig.app, &list, reads).await?;

    let (bundle, gets, chunks, cold) = (
        median(cold.bundle),
        median(cold.gets),
        median(cold.chunks),
        median(cold.cold),
    );
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
    // No longer served; the application stays open to the end, as the
    // instances below open the same database.
    let _app = rig.stop().await;

    // A restart: another instance on the same database uses the shape
    // remembered, without measuring again.
    let (restart, again) = restarted(&url, &list, &measured).await?;
    println!(
        "cold list after a restart (remembered shape {}, measured again: {}): {}  = {:.2}x the bare Bundle",
        measured["shape"].as_str().unwrap_or("?"),
        if again { "yes" } else { "no" },
        ms(restart),
        ratio(restart, bundle),
    );

    // A getList that finds the data due for a re-read, against the next one.
    let (due, next) = due_reads(&url, &list.path, ids, rounds.max(10) * 2).await?;
    println!(
        "getList finding its data due for a re-read ({} rounds): p50 {}  p99 {}  = {:.2}x the p99 of the next getList ({}) (bar: 2x)",
        due.len(),
        ms(percentile(&due, 50.0)),
        ms(percentile(&due, 99.0)),
        percentile(&due, 99.0).as_secs_f64() / percentile(&next, 99.0).as_secs_f64().max(1e-9),
        ms(percentile(&next, 99.0)),
    );
    upstream.stop().await;
    Ok(())
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-9)
}

/// The FHIR server: given, sekmet seeded here, or the sandbox with a
/// generated ward; `patients` defaults to 50 on a FHIR server, 100 on the
/// sandbox (7 queries a patient: the bare single Bundle must stay within
/// the sandbox's 1,000 entries).
async fn upstream(
    fhir_base: Option<String>,
    sekmet: Option<std::path::PathBuf>,
    patients: Option<usize>,
    days: u32,
) -> anyhow::Result<Upstream> {
    match (fhir_base, sekmet) {
        (Some(base), _) => Upstream::given(base, patients.unwrap_or(50)).await,
        (None, Some(exe)) => Upstream::sekmet(&exe, patients.unwrap_or(50)).await,
        (None, None) => {
            let spec = rounds_sandbox::WardSpec {
                patients: patients.unwrap_or(100),
                days_of_vitals: days,
                ..rounds_sandbox::WardSpec::default()
            };
            Upstream::sandbox(&spec).await
        }
    }
}

/// Rounds over the SQLite file at `url` (default database options), served
/// on 127.0.0.1 and signed in as `bench` (created when `fresh`).
async fn serve(url: &str, config: AppConfig, fresh: bool) -> anyhow::Result<Rig> {
    let app = open_app(url, &DbOptions::default(), config, fresh).await?;
    let http = reqwest::Client::builder().cookie_store(true).build()?;
    Rig::serve(app, rounds_web::WebConfig::default(), http).await
}

/// The benchmark's team (with the EHR connection) and its list of every
/// EHR patient with every EHR column.
struct EhrList {
    team: String,
    list: String,
    /// The list's API path.
    path: String,
    /// The patients on it.
    patients: usize,
}

impl EhrList {
    async fn make(rig: &Rig, base: &str, ids: &[String]) -> anyhow::Result<Self> {
        let api = &rig.api;
        let team = rig.new_team("Bench ward").await?;
        api.send(
            Method::PUT,
            &format!("/api/v1/teams/{team}/ehr-connection"),
            Some(json!({"name": "EHR", "baseUrl": base, "auth": {"kind": "none"}})),
        )
        .await?;
        let path = rig.new_list(&team, "Ward").await?;
        let list = path.rsplit('/').next().unwrap_or_default().to_owned();
        // A new list of a team with an EHR may show some EHR columns already.
        let shown: Vec<String> = api.send(Method::GET, &path, None).await?["columns"]
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
                &format!("{path}/columns"),
                Some(json!({"key": key})),
            )
            .await?;
        }
        for id in ids {
            api.send(
                Method::POST,
                &format!("{path}/patients"),
                Some(json!({"ehrId": id})),
            )
            .await?;
        }
        Ok(Self {
            team,
            list,
            path,
            patients: ids.len(),
        })
    }

    fn connection_path(&self) -> String {
        format!("/api/v1/teams/{}/ehr-connection", self.team)
    }
}

/// The first read: Rounds measures its batch shape on a few of the list's
/// patients after it (remembered in the database). Prints both; the
/// measured shape.
async fn first_read(api: &Api, list: &EhrList) -> anyhow::Result<Value> {
    let first = Instant::now();
    wait_complete(api, &list.path, list.patients).await?;
    let first = first.elapsed();
    let measured = wait_measured(api, &list.team).await?;
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
    Ok(measured)
}

/// The times of each round: the bare queries three ways, and the cold list.
struct ColdRounds {
    bundle: Vec<Duration>,
    gets: Vec<Duration>,
    chunks: Vec<Duration>,
    cold: Vec<Duration>,
}

/// `rounds` rounds of the bare queries (one Bundle, 8 GETs at a time,
/// Bundles of 20 4 at a time) each followed by a cold list.
async fn bare_and_cold(
    rig: &Rig,
    base: &str,
    queries: &[String],
    list: &EhrList,
    rounds: usize,
) -> anyhow::Result<ColdRounds> {
    let bare_http = reqwest::Client::new();
    let mut times = ColdRounds {
        bundle: Vec::new(),
        gets: Vec::new(),
        chunks: Vec::new(),
        cold: Vec::new(),
    };
    for _ in 0..rounds {
        let t = Instant::now();
        bare_bundle(&bare_http, base, queries).await?;
        times.bundle.push(t.elapsed());
        let t = Instant::now();
        bare_gets(&bare_http, base, queries, 8).await?;
        times.gets.push(t.elapsed());
        let t = Instant::now();
        bare_chunks(&bare_http, base, queries, 20, 4).await?;
        times.chunks.push(t.elapsed());
        times.cold.push(cold_list(rig, list).await?);
    }
    Ok(times)
}

/// The time of one cold list: nothing in memory, asked until complete.
async fn cold_list(rig: &Rig, list: &EhrList) -> anyhow::Result<Duration> {
    rig.app.clear_ehr_cache();
    let t = Instant::now();
    wait_complete(&rig.api, &list.path, list.patients).await?;
    Ok(t.elapsed())
}

/// The same cold rounds with the shape Rounds had before it measured
/// (Bundles of 20, 4 at a time), fixed by the owner; then auto again.
async fn fixed_shape(
    rig: &Rig,
    base: &str,
    list: &EhrList,
    rounds: usize,
) -> anyhow::Result<Vec<Duration>> {
    let api = &rig.api;
    let connection = |shape: &str| json!({"name": "EHR", "baseUrl": base, "auth": {"kind": "none"}, "batchShape": shape});
    let conn_path = list.connection_path();
    api.send(Method::PUT, &conn_path, Some(connection("chunks:20x4")))
        .await?;
    let mut old_shape = Vec::new();
    for _ in 0..rounds {
        old_shape.push(cold_list(rig, list).await?);
    }
    api.send(Method::PUT, &conn_path, Some(connection("auto")))
        .await?;
    wait_complete(api, &list.path, list.patients).await?;
    Ok(old_shape)
}
/// Warm: `reads` getLists with everything in memory; the sorted times and
/// the bytes of one answer.
async fn warm_reads(
    api: &Api,
    list_path: &str,
    reads: usize,
) -> anyhow::Result<(Vec<Duration>, usize)> {
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
    Ok((warm, size))
}

/// The same view inside the process: what the HTTP and JSON layers add
/// (sorted times).
async fn inside_reads(app: &App, list: &EhrList, reads: usize) -> anyhow::Result<Vec<Duration>> {
    let actor = rounds_app::Actor {
        user: app.user_by_username("bench").await?,
        client: rounds_core::audit::ClientInfo::default(),
    };
    let team_id: rounds_core::TeamId = list.team.parse().map_err(|_| anyhow::anyhow!("team id"))?;
    let list_id: rounds_core::ListId = list.list.parse().map_err(|_| anyhow::anyhow!("list id"))?;
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
    Ok(inside)
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
