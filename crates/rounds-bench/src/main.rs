//! `rounds-bench`: measures Rounds on this machine and prints figures.
//!
//! `lists`: a list of 500 patients × 20 columns served by a real server on
//! 127.0.0.1 — `getList` latency (p50/p99), and the time from a change to
//! its arrival at 200 open live screens (p50/p99) (see lists.rs).
//!
//!     cargo run --release -p rounds-bench -- lists [--database-url URL]
//!
//! `ehr`: an EHR list cold and warm against the bare FHIR reads, and a
//! getList that finds its data due for a re-read (see ehr/).
//!
//!     cargo run --release -p rounds-bench -- ehr
//!
//! `scale`: getList at 200 / 500 / 1,000 patients, addPatient at 100 and
//! 2,000 entries, SQLite size per 1,000 patients, compressed bytes, live
//! fan-out to 500 / 1,000 / 5,000 screens (see scale.rs).
//!
//!     cargo run --release -p rounds-bench -- scale
//!
//! `gateway`: the interoperability gateway against a FHIR server directly,
//! through nginx and through a bare pass-through (see gateway/).
//!
//! Figures are wall-clock times on a shared machine: compare them as
//! ratios within one run, not across runs.
//!
//! This file holds the command line and the helpers every benchmark uses;
//! `rig.rs` the Rounds server they measure, `upstream.rs` the FHIR servers.

mod ehr;
mod fanout;
mod gateway;
mod lists;
mod rig;
mod scale;
mod upstream;
mod urgent;

/// mimalloc rather than glibc's malloc: with many short-lived answer
/// buffers (FHIR Bundles, proxied answers), glibc spent about a fifth of
/// the time in malloc, free and malloc_consolidate.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use anyhow::bail;
use clap::{Parser, Subcommand};
use serde_json::Value;

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
        /// Patients on the list [default: 50 on a FHIR server, 100 on the sandbox]
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
            let sizes = lists::Sizes {
                patients,
                team_columns,
                reads,
                screens,
                changes,
            };
            lists::run(database_url, sizes).await
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
