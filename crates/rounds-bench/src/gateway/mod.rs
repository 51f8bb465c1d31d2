//! `gateway`: the interoperability gateway's added latency and throughput,
//! against the FHIR server directly and through nginx (a plain reverse
//! proxy, when installed), for a patient read and a 20-entry batch, at 1
//! and 64 callers; and tokens per second at the token endpoint.
//!
//!     cargo run --release -p rounds-bench -- gateway [--fhir-base URL] [--nginx PATH]
//!
//! The gateways take part one per `audit_sync` mode (`gw-commit`: every
//! record on disk before its answer; `gw-batch`: committed before, on disk
//! within a second; `gw-async`: written after the answer), each on a Tokio
//! runtime of its own apart from the callers', as nginx is a process of
//! its own. Beside them `pass`, a bare pass-through on the gateway's HTTP
//! stack (floor.rs): the part of the gateway's added latency that is the
//! stack itself.
//!
//! The gateway does more than nginx for each request (token validation,
//! revocation check, URL rewriting, an audit record written to its
//! database): the goal is an added latency within nginx's plus 20 %.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::bail;
use rounds_gateway::audit::AuditSync;
use serde_json::{json, Value};

use crate::upstream::Upstream;
use crate::{ms, percentile};

mod floor;
mod servers;
use servers::{find_nginx, start_nginx, GatewayProcess, Target};

struct Figures {
    p50: Duration,
    p99: Duration,
    per_sec: f64,
}

impl Figures {
    fn of(mut times: Vec<Duration>, elapsed: Duration) -> Self {
        times.sort();
        Self {
            p50: percentile(&times, 50.0),
            p99: percentile(&times, 99.0),
            per_sec: times.len() as f64 / elapsed.as_secs_f64().max(1e-9),
        }
    }
}

/// `callers` concurrent callers, `per_caller` requests each: every
/// request's time, and the time the whole took.
async fn measure(
    http: &reqwest::Client,
    target: &Target,
    ids: &[String],
    batch: bool,
    callers: usize,
    per_caller: usize,
) -> anyhow::Result<(Vec<Duration>, Duration)> {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..callers {
        let http = http.clone();
        let base = target.base.clone();
        let token = target.token.clone();
        let ids = ids.to_vec();
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::with_capacity(per_caller);
            for i in 0..per_caller {
                let n = c * per_caller + i;
                let mut req = if batch {
                    let entries: Vec<Value> = (0..20)
                        .map(|k| json!({"request": {"method": "GET", "url": format!("Patient/{}", ids[(n + k) % ids.len()])}}))
                        .collect();
                    http.post(&base)
                        .header("content-type", "application/fhir+json")
                        .body(json!({"resourceType": "Bundle", "type": "batch", "entry": entries}).to_string())
                } else {
                    http.get(format!("{base}/Patient/{}", ids[n % ids.len()]))
                };
                if let Some(t) = &token {
                    req = req.bearer_auth(t);
                }
                let t0 = Instant::now();
                let resp = req.send().await?;
                let status = resp.status();
                let _ = resp.bytes().await?;
                if !status.is_success() {
                    bail!("HTTP {status}");
                }
                times.push(t0.elapsed());
            }
            Ok::<_, anyhow::Error>(times)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok((all, started.elapsed()))
}

/// The gateway's per-phase time sums and counts, from its /metrics.
async fn phases(
    http: &reqwest::Client,
    gateway: &str,
) -> anyhow::Result<std::collections::BTreeMap<String, (f64, f64)>> {
    let text = http
        .get(format!("{gateway}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let mut out = std::collections::BTreeMap::new();
    for line in text.lines() {
        for (suffix, sum) in [("_sum", true), ("_count", false)] {
            let prefix = format!("gateway_phase_duration_seconds{suffix}{{phase=\"");
            if let Some(rest) = line.strip_prefix(&prefix) {
                let (phase, value) = rest.split_once("\"} ").unwrap_or_default();
                let v: f64 = value.parse().unwrap_or(0.0);
                let e: &mut (f64, f64) = out.entry(phase.to_owned()).or_default();
                if sum {
                    e.0 = v;
                } else {
                    e.1 = v;
                }
            }
        }
    }
    Ok(out)
}

/// Runs the benchmark and prints its figures.
pub async fn run(
    fhir_base: Option<String>,
    nginx: Option<PathBuf>,
    per_caller: usize,
    database_url: Option<String>,
    audit_sync: Option<String>,
) -> anyhow::Result<()> {
    // The FHIR server: given, or the sandbox with a generated ward.
    let upstream = match fhir_base {
        Some(base) => Upstream::given(base, 50).await?,
        None => {
            let spec = rounds_sandbox::WardSpec {
                patients: 50,
                days_of_vitals: 1,
                ..rounds_sandbox::WardSpec::default()
            };
            Upstream::sandbox(&spec).await?
        }
    };
    let ids = &upstream.ids;
    if ids.is_empty() {
        bail!("the FHIR server has no patients");
    }

    // The gateways: one per audit_sync mode, each over its own SQLite file
    // (or the given database), each on a Tokio runtime of its own, apart
    // from the callers' (as nginx is a process of its own).
    let modes = audit_modes(audit_sync.as_deref())?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(128)
        .build()?;
    let mut gateways = Vec::new();
    for sync in modes {
        gateways.push(GatewayProcess::start(
            &upstream.base,
            database_url.clone(),
            sync,
        )?);
    }
    let (mut targets, nginx_proc) = targets(&http, &upstream.base, nginx, &gateways).await?;
    // The floor: the same HTTP stack as the gateway's, doing nothing else.
    let floor = floor::PassThrough::start(&upstream.base)?;
    targets.insert(
        targets.len() - gateways.len(),
        Target {
            name: "pass",
            base: floor.base.clone(),
            token: None,
        },
    );

    println!(
        "upstream {}: {} patients; {per_caller} requests per caller\n",
        upstream.base,
        ids.len()
    );
    println!(
        "{:<8} {:<6} {:>7} {:>10} {:>10} {:>10} {:>12} {:>12}",
        "target", "work", "callers", "p50", "p99", "req/s", "+p50", "+p99"
    );
    for batch in [false, true] {
        for callers in [1usize, 64] {
            let work = Work {
                ids,
                batch,
                callers,
            };
            compare(&http, &targets, &gateways, &work, per_caller).await?;
        }
    }
    tokens_per_second(&http, &gateways).await?;

    if let Some((mut child, _dir)) = nginx_proc {
        let _ = child.kill();
        let _ = child.wait();
    }
    for g in gateways {
        g.stop();
    }
    floor.stop();
    Ok(())
}

/// The audit_sync modes asked for (`--audit-sync`): all three by default.
fn audit_modes(asked: Option<&str>) -> anyhow::Result<Vec<AuditSync>> {
    Ok(match asked {
        None => vec![AuditSync::EveryCommit, AuditSync::Batched, AuditSync::Async],
        Some("async") => vec![AuditSync::Async],
        Some("batched") => vec![AuditSync::Batched],
        Some("commit") => vec![AuditSync::EveryCommit],
        Some(other) => bail!("--audit-sync is commit, batched or async, not {other}"),
    })
}

/// nginx started in front of the upstream: its process and directory.
type NginxProcess = (std::process::Child, tempfile::TempDir);

/// The targets measured, in order: the upstream directly, nginx (when
/// found; started here) and each gateway (with a token of its own).
async fn targets(
    http: &reqwest::Client,
    upstream: &str,
    nginx: Option<PathBuf>,
    gateways: &[GatewayProcess],
) -> anyhow::Result<(Vec<Target>, Option<NginxProcess>)> {
    let mut targets = vec![Target {
        name: "direct",
        base: upstream.to_owned(),
        token: None,
    }];
    let mut nginx_proc = None;
    match find_nginx(nginx) {
        Some(exe) => {
            let (child, base, dir) = start_nginx(&exe, upstream)?;
            targets.push(Target {
                name: "nginx",
                base,
                token: None,
            });
            nginx_proc = Some((child, dir));
        }
        None => println!("(nginx not found: give --nginx PATH to compare with it)"),
    }
    for g in gateways {
        targets.push(Target {
            name: g.name,
            base: g.base.clone(),
            token: Some(g.token(http).await?),
        });
    }
    Ok((targets, nginx_proc))
}

/// One kind of work measured: a patient read or a 20-entry batch, by
/// `callers` concurrent callers.
struct Work<'a> {
    ids: &'a [String],
    batch: bool,
    callers: usize,
}

/// Per-phase time sums and counts by target and phase.
type PhaseSums<'a> = std::collections::BTreeMap<(&'a str, String), (f64, f64)>;

/// One kind of work at every target: a row of figures each, then each
/// gateway's added latency against nginx's and its time by phase.
async fn compare(
    http: &reqwest::Client,
    targets: &[Target],
    gateways: &[GatewayProcess],
    work: &Work<'_>,
    per_caller: usize,
) -> anyhow::Result<()> {
    // Warm-up.
    for t in targets {
        measure(http, t, work.ids, work.batch, work.callers.min(8), 5).await?;
    }
    let (figures, phase_sums) = gather(http, targets, work, per_caller).await?;
    let direct = &figures[0];
    let added = |f: &Figures| {
        (
            f.p50.saturating_sub(direct.p50),
            f.p99.saturating_sub(direct.p99),
        )
    };
    for (t, f) in targets.iter().zip(&figures) {
        let (add50, add99) = if t.name == "direct" {
            ("-".into(), "-".into())
        } else {
            let (a, b) = added(f);
            (ms(a), ms(b))
        };
        println!(
            "{:<8} {:<6} {:>7} {:>10} {:>10} {:>10.0} {:>12} {:>12}",
            t.name,
            if work.batch { "batch" } else { "read" },
            work.callers,
            ms(f.p50),
            ms(f.p99),
            f.per_sec,
            add50,
            add99
        );
    }
    let by_name = |name: &str| {
        targets
            .iter()
            .position(|t| t.name == name)
            .map(|i| &figures[i])
    };
    if let (Some(n), Some(f)) = (by_name("nginx"), by_name("pass")) {
        print_against_nginx("pass", added(n), added(f));
    }
    for g in gateways {
        if let (Some(n), Some(f)) = (by_name("nginx"), by_name(g.name)) {
            print_against_nginx(g.name, added(n), added(f));
        }
        let parts: Vec<String> = phase_sums
            .iter()
            .filter(|((name, _), (_, c))| *name == g.name && *c > 0.0)
            .map(|((_, p), (s, c))| format!("{p} {:.3} ms", s / c * 1000.0))
            .collect();
        println!(
            "         {} time by phase (mean per request): {}",
            g.name,
            parts.join(", ")
        );
    }
    Ok(())
}

/// Each figure gathers three rounds, the targets taking turns in each, so
/// that a neighbour's load on a shared machine falls on all of them: the
/// figures per target, and the gateways' time by phase over the rounds.
async fn gather<'t>(
    http: &reqwest::Client,
    targets: &'t [Target],
    work: &Work<'_>,
    per_caller: usize,
) -> anyhow::Result<(Vec<Figures>, PhaseSums<'t>)> {
    let rounds = 3;
    let per_round = per_caller.div_ceil(rounds).max(1);
    let mut samples: Vec<(Vec<Duration>, Duration)> = targets
        .iter()
        .map(|_| (Vec::new(), Duration::ZERO))
        .collect();
    let mut phase_sums = PhaseSums::new();
    for _ in 0..rounds {
        for (i, t) in targets.iter().enumerate() {
            let before = if t.token.is_some() {
                Some(phases(http, &t.base).await?)
            } else {
                None
            };
            let (times, elapsed) =
                measure(http, t, work.ids, work.batch, work.callers, per_round).await?;
            samples[i].0.extend(times);
            samples[i].1 += elapsed;
            if let Some(before) = before {
                for (phase, (sum, count)) in phases(http, &t.base).await? {
                    let (s0, c0) = before.get(&phase).copied().unwrap_or_default();
                    let e = phase_sums.entry((t.name, phase)).or_default();
                    e.0 += sum - s0;
                    e.1 += count - c0;
                }
            }
        }
    }
    let figures = samples
        .into_iter()
        .map(|(times, elapsed)| Figures::of(times, elapsed))
        .collect();
    Ok((figures, phase_sums))
}

/// A gateway's added latency (p50, p99) against nginx's, and whether it is
/// within the goal (nginx's plus 20 %).
fn print_against_nginx(
    gateway: &str,
    (n50, n99): (Duration, Duration),
    (g50, g99): (Duration, Duration),
) {
    let ratio = |g: Duration, n: Duration| {
        if n.is_zero() {
            "n/a".to_owned()
        } else {
            format!("{:.2}", g.as_secs_f64() / n.as_secs_f64())
        }
    };
    // Strictly the goal: no allowance on top of nginx's plus 20 %.
    let within = |g: Duration, n: Duration| g.as_secs_f64() <= n.as_secs_f64() * 1.2;
    println!(
        "         {} added / nginx added: p50 {} (+{:.2} ms vs +{:.2} ms), p99 {} (+{:.2} ms vs +{:.2} ms); goal <= 1.20: p50 {}, p99 {}",
        gateway,
        ratio(g50, n50),
        g50.as_secs_f64() * 1000.0,
        n50.as_secs_f64() * 1000.0,
        ratio(g99, n99),
        g99.as_secs_f64() * 1000.0,
        n99.as_secs_f64() * 1000.0,
        if within(g50, n50) { "met" } else { "NOT met" },
        if within(g99, n99) { "met" } else { "NOT met" },
    );
}

/// Tokens per second: 64 callers for three seconds, at each gateway.
async fn tokens_per_second(
    http: &reqwest::Client,
    gateways: &[GatewayProcess],
) -> anyhow::Result<()> {
    println!();
    for g in gateways {
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..64 {
            let http = http.clone();
            let g = g.clone_caller();
            tasks.push(tokio::spawn(async move {
                let mut n = 0u64;
                while started.elapsed() < Duration::from_secs(3) {
                    g.token(&http).await?;
                    n += 1;
                }
                Ok::<u64, anyhow::Error>(n)
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await??;
        }
        println!(
            "tokens at {}: {:.0} per second (64 callers, 3 s)",
            g.name,
            total as f64 / started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
