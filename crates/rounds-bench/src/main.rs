//! `rounds-bench`: measures Rounds on this machine and prints figures.
//!
//! `lists`: a list of 500 patients × 20 columns served by a real server on
//! 127.0.0.1 — `getList` latency (p50/p99), and the time from a change to
//! its arrival at 200 open live screens (p50/p99).
//!
//!     cargo run --release -p rounds-bench -- lists [--database-url URL]
//!
//! `ehr`: an EHR list cold and warm against the bare FHIR reads, and a
//! getList that finds its data due for a re-read (see ehr.rs).
//!
//!     cargo run --release -p rounds-bench -- ehr
//!
//! `scale`: getList at 200 / 500 / 1,000 patients, addPatient at 100 and
//! 2,000 entries, SQLite size per 1,000 patients, compressed bytes, live
//! fan-out to 500 / 1,000 / 5,000 screens (see scale.rs).
//!
//!     cargo run --release -p rounds-bench -- scale
//!
//! `gateway`: the interoperability gateway against a FHIR server directly
//! and through nginx (see gateway.rs).
//!
//! Figures are wall-clock times on a shared machine: compare them as
//! ratios within one run, not across runs.
//!
//! (Over 500 lines: the benchmark runner and the `lists` benchmark, one
//! script read top to bottom.)

mod ehr;
mod fanout;
mod gateway;
mod scale;
mod urgent;

/// mimalloc rather than glibc's malloc: with many short-lived answer
/// buffers (FHIR Bundles, proxied answers), glibc spent about a fifth of
/// the time in malloc, free and malloc_consolidate.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use reqwest::StatusCode;
use rounds_app::{App, AppConfig, Caller, DbOptions, NewUserInput};
use serde_json::{json, Value};
use tokio::sync::Mutex;

#[derive(Parser)]
#[command(about = "Rounds benchmarks")]
struct Cli {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// getList latency and live fan-out on a large list
    Lists {
        /// Database to use (default: a SQLite file in a temporary directory)
        #[arg(long)]
        database_url: Option<String>,
        #[arg(long, default_value_t = 500)]
        patients: usize,
        /// Team columns besides the 4 built-in ones
        #[arg(long, default_value_t = 16)]
        team_columns: usize,
        #[arg(long, default_value_t = 200)]
        reads: usize,
        #[arg(long, default_value_t = 200)]
        screens: usize,
        #[arg(long, default_value_t = 50)]
        changes: usize,
    },
    /// A list of EHR patients with every EHR column: cold and warm, against
    /// the bare time of the same reads as batch Bundles
    Ehr {
        /// A FHIR R4 server already holding the ward (`rounds demo
        /// --write-bundle` loads into any server); default: the built-in
        /// sandbox EHR with a generated ward
        #[arg(long)]
        fhir_base: Option<String>,
        /// sekmet-fhir to start and seed (default: $ROUNDS_TEST_SEKMET when
        /// set, as `source dev-env.sh` does); without it and without
        /// --fhir-base, the sandbox
        #[arg(long, env = "ROUNDS_TEST_SEKMET")]
        sekmet: Option<std::path::PathBuf>,
        /// Patients on the list [default: 50 on a FHIR server, 200 on the sandbox]
        #[arg(long)]
        patients: Option<usize>,
        /// Days of vital signs per patient (sandbox)
        #[arg(long, default_value_t = 2)]
        days: u32,
        /// Cold and bare rounds (the median is printed)
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// Warm getList reads
        #[arg(long, default_value_t = 200)]
        reads: usize,
    },
    /// Fast at every size: list sizes, addPatient, storage, bytes on the
    /// wire, live fan-out to many screens; every figure a ratio to its
    /// reference in the same run
    Scale {
        /// getList reads per list size (interleaved)
        #[arg(long, default_value_t = 100)]
        reads: usize,
        /// Open screens per fan-out round
        #[arg(long, value_delimiter = ',', default_value = "500,1000,5000")]
        screens: Vec<usize>,
        #[arg(long, default_value_t = 20)]
        changes: usize,
    },
    /// The open screens of `scale`'s live fan-out, run by it in a process
    /// of their own (the session cookie in ROUNDS_BENCH_COOKIE)
    #[command(hide = true)]
    FanoutClient {
        #[arg(long)]
        url: String,
        #[arg(long)]
        screens: usize,
        #[arg(long)]
        changes: usize,
    },
    /// An urgent note to a team with many open screens: POST to the event
    /// on every screen and to each screen's read of the open notes, p50/p99;
    /// the re-notification clock's lateness, measured and over a simulated hour
    Urgent {
        /// Open screens (team feeds), shared among the team's members
        #[arg(long, default_value_t = 200)]
        screens: usize,
        /// Urgent notes sent, one after another
        #[arg(long, default_value_t = 10)]
        notes: usize,
        /// Re-notifications to time on the real clock (1 s interval)
        #[arg(long, default_value_t = 10)]
        repeats: usize,
    },
    /// The gateway against the FHIR server directly and through nginx:
    /// added latency p50/p99 and throughput at 1 and 64 callers for a
    /// patient read and a 20-entry batch; tokens per second
    Gateway {
        /// A FHIR R4 server with patients; default: the built-in sandbox EHR
        #[arg(long)]
        fhir_base: Option<String>,
        /// The nginx executable [default: /usr/sbin/nginx when present]
        #[arg(long)]
        nginx: Option<std::path::PathBuf>,
        /// Requests per caller and measurement
        #[arg(long, default_value_t = 100)]
        requests: usize,
        /// The gateway's database (default: a SQLite file in a temporary directory)
        #[arg(long)]
        database_url: Option<String>,
        /// Only the gateway with this audit_sync: commit, batched or async [default: all three, side by side]
        #[arg(long)]
        audit_sync: Option<String>,
    },
}

const PASSWORD: &str = "benchmark password 1";

pub(crate) struct Api {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    pub(crate) csrf: String,
}

impl Api {
    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("X-CSRF-Token", &self.csrf);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            bail!("{path}: {status}: {text}");
        }
        Ok(if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)?
        })
    }
}

pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// The server-sent events of a live feed as they arrive: each read gives
/// the time it arrived and the whole events it completed.
pub(crate) struct Events {
    resp: reqwest::Response,
    buffer: String,
}

impl Events {
    pub(crate) fn new(resp: reqwest::Response) -> Self {
        Self {
            resp,
            buffer: String::new(),
        }
    }

    /// The next chunk's arrival time and the events it completed (None when
    /// the feed ended or failed).
    pub(crate) async fn next(&mut self) -> Option<(Instant, Vec<String>)> {
        let chunk = self.resp.chunk().await.ok()??;
        let now = Instant::now();
        self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        let mut events = Vec::new();
        while let Some(end) = self.buffer.find("\n\n") {
            events.push(self.buffer.drain(..end + 2).collect());
        }
        Some((now, events))
    }
}

/// A number written after `prefix` in an event's text ("change 7").
pub(crate) fn number_after(block: &str, prefix: &str) -> Option<usize> {
    block.split(prefix).nth(1)?.split('"').next()?.parse().ok()
}

pub(crate) fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().bench {
        Bench::Lists {
            database_url,
            patients,
            team_columns,
            reads,
            screens,
            changes,
        } => {
            lists(
                database_url,
                patients,
                team_columns,
                reads,
                screens,
                changes,
            )
            .await
        }
        Bench::Ehr {
            fhir_base,
            sekmet,
            patients,
            days,
            rounds,
            reads,
        } => ehr::run(fhir_base, sekmet, patients, days, rounds, reads).await,
        Bench::Scale {
            reads,
            screens,
            changes,
        } => scale::run(reads, screens, changes).await,
        Bench::FanoutClient {
            url,
            screens,
            changes,
        } => fanout::fanout_client(url, screens, changes).await,
        Bench::Urgent {
            screens,
            notes,
            repeats,
        } => urgent::run(screens, notes, repeats).await,
        Bench::Gateway {
            fhir_base,
            nginx,
            requests,
            database_url,
            audit_sync,
        } => gateway::run(fhir_base, nginx, requests, database_url, audit_sync).await,
    }
}

async fn lists(
    database_url: Option<String>,
    patients: usize,
    team_columns: usize,
    reads: usize,
    screens: usize,
    changes: usize,
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = database_url
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let options = DbOptions {
        max_connections: 20,
        ..DbOptions::default()
    };
    let app = App::open(&url, &options, AppConfig::default())
        .await
        .context("open the database")?;
    let input = NewUserInput {
        username: "bench".into(),
        display_name: "Bench".into(),
        password: Some(PASSWORD.into()),
        admin: false,
    };
    app.create_user(Caller::Console, &input).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let state = rounds_web::AppState::new(app.clone(), rounds_web::WebConfig::default());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(rounds_web::serve(listener, state, async {
        let _ = stopped.await;
    }));

    let http = reqwest::Client::builder()
        .cookie_store(true)
        .pool_max_idle_per_host(400)
        .build()?;
    let base = format!("http://{addr}");
    let signed = http
        .post(format!("{base}/api/v1/session"))
        .json(&json!({"username": "bench", "password": PASSWORD}))
        .send()
        .await?;
    if signed.status() != StatusCode::OK {
        bail!("sign-in failed: {}", signed.status());
    }
    let csrf = signed.json::<Value>().await?["csrfToken"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let api = Api {
        http: http.clone(),
        base: base.clone(),
        csrf,
    };

    // A team, a list, 20 columns, 500 patients with every field filled.
    let team = api
        .send(
            reqwest::Method::POST,
            "/api/v1/teams",
            Some(json!({"name": "Bench ward"})),
        )
        .await?["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let list = api
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/teams/{team}/lists"),
            Some(json!({"name": "Big list"})),
        )
        .await?["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let list_path = format!("/api/v1/teams/{team}/lists/{list}");
    let kinds = [
        "text", "number", "choice", "checkbox", "date", "longText", "dateTime", "text",
    ];
    let mut columns = Vec::new();
    for i in 0..team_columns {
        let kind = kinds[i % kinds.len()];
        let mut body = json!({"label": format!("Column {i}"), "type": kind});
        if kind == "choice" {
            body["options"] = json!([{"label": "Stable", "color": "#2e7d32"}, {"label": "Watch", "color": "#f9a825"}, {"label": "Critical", "color": "#c62828"}]);
        }
        let c = api
            .send(
                reqwest::Method::POST,
                &format!("{list_path}/columns"),
                Some(body),
            )
            .await?;
        columns.push((c["key"].as_str().unwrap_or_default().to_owned(), kind));
    }
    let seeding = Instant::now();
    let mut first_patient = String::new();
    for p in 0..patients {
        let mut fields = json!({
            "family": format!("Family{p:04}"), "given": "Given", "mrn": format!("M{p:06}"),
            "birthDate": format!("19{:02}-0{}-1{}", 30 + p % 60, 1 + p % 9, p % 9), "sex": if p % 2 == 0 { "female" } else { "male" },
            "ward": "7", "room": format!("{}", p % 40), "bed": format!("{}", p % 4),
        });
        for (key, kind) in &columns {
            fields[key] = match *kind {
                "number" => json!(36.0 + (p % 30) as f64 / 10.0),
                "choice" => json!(["Stable", "Watch", "Critical"][p % 3]),
                "checkbox" => json!(p % 2 == 0),
                "date" => json!(format!("2026-11-{:02}", 1 + p % 28)),
                "dateTime" => json!(format!("2026-11-{:02}T08:{:02}:00Z", 1 + p % 28, p % 60)),
                _ => json!(format!("value {p} of a column with some words")),
            };
        }
        let added = api
            .send(
                reqwest::Method::POST,
                &format!("{list_path}/patients"),
                Some(json!({ "fields": fields })),
            )
            .await?;
        if p == 0 {
            first_patient = added["row"]["patientId"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
        }
    }
    println!(
        "seeded {patients} patients x {} columns in {:.1} s ({})",
        team_columns + 4,
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
        let mut times = Vec::with_capacity(reads);
        let mut rows = 0;
        for _ in 0..reads {
            let t = Instant::now();
            let view = api
                .send(reqwest::Method::GET, &format!("{list_path}{query}"), None)
                .await?;
            times.push(t.elapsed());
            rows = view["rows"].as_array().map_or(0, Vec::len);
        }
        times.sort();
        println!(
            "{label}: {reads} reads of {rows} rows: p50 {} p99 {}",
            ms(percentile(&times, 50.0)),
            ms(percentile(&times, 99.0))
        );
    }

    // Live fan-out: open screens, then make changes and time their arrival.
    let sent_at: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; changes]));
    let arrivals: Arc<Mutex<Vec<Duration>>> = Arc::new(Mutex::new(Vec::new()));
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(screens);
    let mut tasks = Vec::new();
    for _ in 0..screens {
        let http = http.clone();
        let url = format!("{base}{list_path}/events");
        let (sent_at, arrivals, ready_tx) = (sent_at.clone(), arrivals.clone(), ready_tx.clone());
        tasks.push(tokio::spawn(async move {
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
                        let _ = ready_tx.send(()).await;
                    } else if block.contains("event: patientUpdated") {
                        // The change number is in the value: "change N".
                        if let Some(n) = number_after(&block, "change ") {
                            if let Some(Some(at)) = sent_at.lock().await.get(n).copied() {
                                arrivals.lock().await.push(now.duration_since(at));
                            }
                            seen += 1;
                        }
                    }
                }
            }
        }));
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
    let patient_path = format!("/api/v1/teams/{team}/patients/{first_patient}");
    let mut version = 0;
    for n in 0..changes {
        sent_at.lock().await[n] = Some(Instant::now());
        let body = json!({"fields": {"given": {"value": format!("change {n}"), "baseVersion": if n == 0 { 1 } else { version }}}});
        let saved = api
            .send(reqwest::Method::PATCH, &patient_path, Some(body))
            .await?;
        version = saved["fields"]["given"]["version"].as_i64().unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for task in tasks {
        let left = deadline.saturating_duration_since(Instant::now());
        let _ = tokio::time::timeout(left, task).await;
    }
    let mut times = arrivals.lock().await.clone();
    times.sort();
    println!(
        "live fan-out: {changes} changes x {screens} screens: {} of {} arrived; change to screen p50 {} p99 {} max {}",
        times.len(),
        changes * screens,
        ms(percentile(&times, 50.0)),
        ms(percentile(&times, 99.0)),
        ms(times.last().copied().unwrap_or_default())
    );

    let _ = stop.send(());
    app.close_live_feeds();
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    app.close().await;
    Ok(())
}
