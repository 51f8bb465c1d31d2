//! `rounds-bench lists`: a list of 500 patients × 20 columns served by a
//! real server on 127.0.0.1 — `getList` latency (p50/p99), plain and
//! sorted + filtered, and the time from a change to its arrival at 200
//! open live screens (p50/p99).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rounds_app::AppConfig;
use serde_json::json;
use tokio::sync::Mutex;

use crate::rig::{added_patient_id, open_app, team_of, twenty_connections, Rig};
use crate::{ms, number_after, percentile, Api, Events};

/// The sizes of one run of the benchmark.
pub(crate) struct Sizes {
    pub(crate) patients: usize,
    /// Team columns besides the 4 built-in ones.
    pub(crate) team_columns: usize,
    pub(crate) reads: usize,
    pub(crate) screens: usize,
    pub(crate) changes: usize,
}

pub(crate) async fn run(database_url: Option<String>, sizes: Sizes) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = database_url
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let app = open_app(&url, &twenty_connections(), AppConfig::default(), true).await?;
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .pool_max_idle_per_host(400)
        .build()?;
    let rig = Rig::serve(app, rounds_web::WebConfig::default(), http).await?;

    // A team, a list, 20 columns, 500 patients with every field filled.
    let (list_path, columns) = rig.list_with_columns(sizes.team_columns).await?;
    let seeding = Instant::now();
    let mut first_patient = String::new();
    for p in 0..sizes.patients {
        let (_, added) = rig.add(&list_path, p, &columns).await?;
        if p == 0 {
            first_patient = added_patient_id(&added);
        }
    }
    println!(
        "seeded {} patients x {} columns in {:.1} s ({})",
        sizes.patients,
        sizes.team_columns + 4,
        seeding.elapsed().as_secs_f64(),
        if url.starts_with("sqlite") {
            "SQLite"
        } else {
            "PostgreSQL"
        }
    );

    // getList latency, plain and sorted + filtered.
    let sort_key = columns
        .iter()
        .find(|c| c.1 == "number")
        .map(|c| c.0.clone())
        .unwrap_or_else(|| "name".into());
    for (label, query) in [
        ("getList", String::new()),
        (
            "getList sorted+filtered",
            format!("?sort=-{sort_key},name&filter=name:contains:family&q=given"),
        ),
    ] {
        read_latency(&rig.api, label, &format!("{list_path}{query}"), sizes.reads).await?;
    }

    let patient_path = format!(
        "/api/v1/teams/{}/patients/{first_patient}",
        team_of(&list_path)
    );
    live_fan_out(&rig.api, &list_path, &patient_path, &sizes).await?;
    rig.close().await;
    Ok(())
}

/// `reads` getLists of `path`: p50/p99 printed under `label`.
async fn read_latency(api: &Api, label: &str, path: &str, reads: usize) -> anyhow::Result<()> {
    let mut times = Vec::with_capacity(reads);
    let mut rows = 0;
    for _ in 0..reads {
        let t = Instant::now();
        let view = api.send(reqwest::Method::GET, path, None).await?;
        times.push(t.elapsed());
        rows = view["rows"].as_array().map_or(0, Vec::len);
    }
    times.sort();
    println!(
        "{label}: {reads} reads of {rows} rows: p50 {} p99 {}",
        ms(percentile(&times, 50.0)),
        ms(percentile(&times, 99.0))
    );
    Ok(())
}

/// When each change was sent (by its number), and every arrival's delay.
#[derive(Clone)]
struct Clock {
    sent_at: Arc<Mutex<Vec<Option<Instant>>>>,
    arrivals: Arc<Mutex<Vec<Duration>>>,
}

/// Live fan-out: open screens, then make changes to the patient and time
/// their arrival.
async fn live_fan_out(
    api: &Api,
    list_path: &str,
    patient_path: &str,
    sizes: &Sizes,
) -> anyhow::Result<()> {
    let (screens, changes) = (sizes.screens, sizes.changes);
    let clock = Clock {
        sent_at: Arc::new(Mutex::new(vec![None; changes])),
        arrivals: Arc::new(Mutex::new(Vec::new())),
    };
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(screens);
    let mut tasks = Vec::new();
    for _ in 0..screens {
        let url = format!("{}{list_path}/events", api.base);
        tasks.push(tokio::spawn(screen(
            api.http.clone(),
            url,
            changes,
            clock.clone(),
            ready_tx.clone(),
        )));
    }
    drop(ready_tx);
    let opening = Instant::now();
    for _ in 0..screens {
        tokio::time::timeout(Duration::from_secs(60), ready_rx.recv())
            .await
            .context("screens did not open")?;
    }
    println!(
        "opened {screens} live screens in {:.1} s",
        opening.elapsed().as_secs_f64()
    );
    let mut version = 0;
    for n in 0..changes {
        clock.sent_at.lock().await[n] = Some(Instant::now());
        let body = json!({"fields": {"given": {"value": format!("change {n}"), "baseVersion": if n == 0 { 1 } else { version }}}});
        let saved = api
            .send(reqwest::Method::PATCH, patient_path, Some(body))
            .await?;
        version = saved["fields"]["given"]["version"].as_i64().unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for task in tasks {
        let left = deadline.saturating_duration_since(Instant::now());
        let _ = tokio::time::timeout(left, task).await;
    }
    let mut times = clock.arrivals.lock().await.clone();
    times.sort();
    println!(
        "live fan-out: {changes} changes x {screens} screens: {} of {} arrived; change to screen p50 {} p99 {} max {}",
        times.len(),
        changes * screens,
        ms(percentile(&times, 50.0)),
        ms(percentile(&times, 99.0)),
        ms(times.last().copied().unwrap_or_default())
    );
    Ok(())
}

/// One open screen: follows the list's feed until it has seen `changes`
/// changes, each timed against its send.
async fn screen(
    http: reqwest::Client,
    url: String,
    changes: usize,
    clock: Clock,
    ready: tokio::sync::mpsc::Sender<()>,
) {
    let Ok(resp) = http.get(url).send().await else {
        return;
    };
    let mut feed = Events::new(resp);
    let mut seen = 0;
    while seen < changes {
        let Some((now, events)) = feed.next().await else {
            return;
        };
        for block in events {
            if block.contains("event: ready") {
                let _ = ready.send(()).await;
            } else if block.contains("event: patientUpdated") {
                // The change number is in the value: "change N".
                if let Some(n) = number_after(&block, "change ") {
                    if let Some(Some(at)) = clock.sent_at.lock().await.get(n).copied() {
                        clock.arrivals.lock().await.push(now.duration_since(at));
                    }
                    seen += 1;
                }
            }
        }
    }
}
