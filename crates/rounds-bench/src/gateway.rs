//! `gateway`: the interoperability gateway's added latency and throughput,
//! against the FHIR server directly and through nginx (a plain reverse
//! proxy, when installed), for a patient read and a 20-entry batch, at 1
//! and 64 callers; and tokens per second at the token endpoint.
//!
//!     cargo run --release -p rounds-bench -- gateway [--fhir-base URL] [--nginx PATH]
//!
//! Two gateways take part, one per `audit_sync` mode (`gw-commit`: every
//! record on disk before its answer; `gw-batch`: committed before, on disk
//! within a second), each on a Tokio runtime of its own apart from the
//! callers', as nginx is a process of its own.
//!
//! The gateway does more than nginx for each request (token validation,
//! revocation check, URL rewriting, an audit record written to its
//! database): the goal is an added latency within nginx's plus 20 %.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

use crate::{ms, percentile};

struct Target {
    name: &'static str,
    base: String,
    token: Option<String>,
}

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

fn start_nginx(
    exe: &PathBuf,
    upstream: &str,
) -> anyhow::Result<(std::process::Child, String, tempfile::TempDir)> {
    let url = url::Url::parse(upstream)?;
    let host = url.host_str().context("upstream host")?;
    let port = url.port_or_known_default().context("upstream port")?;
    let dir = tempfile::tempdir()?;
    let listen = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let conf = format!(
        "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d};\n  proxy_temp_path {d};\n\
         upstream up {{ server {host}:{port}; keepalive 64; }}\n\
         server {{ listen 127.0.0.1:{listen};\n    location / {{ proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection \"\"; }}\n  }}\n}}\n",
        d = dir.path().display()
    );
    let conf_path = dir.path().join("nginx.conf");
    std::fs::write(&conf_path, conf)?;
    let child = std::process::Command::new(exe)
        .args(["-p"])
        .arg(dir.path())
        .arg("-c")
        .arg(&conf_path)
        .stdin(std::process::Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", exe.display()))?;
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", listen)).is_err() {
        if started.elapsed() > Duration::from_secs(10) {
            bail!("nginx did not start");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((
        child,
        format!(
            "http://127.0.0.1:{listen}{}",
            url.path().trim_end_matches('/')
        ),
        dir,
    ))
}

fn find_nginx(given: Option<PathBuf>) -> Option<PathBuf> {
    given.or_else(|| {
        ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
    })
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
    let (upstream, ids, _sandbox) = match fhir_base {
        Some(base) => {
            let client =
                rounds_fhir::FhirClient::connect(rounds_fhir::ClientConfig::new(&base)?).await?;
            let found = client
                .search_patients(&rounds_fhir::PatientQuery {
                    count: Some(50),
                    ..Default::default()
                })
                .await?;
            (
                base,
                found.patients.into_iter().map(|p| p.id).collect::<Vec<_>>(),
                None,
            )
        }
        None => {
            let spec = rounds_sandbox::WardSpec {
                patients: 50,
                days_of_vitals: 1,
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

    // The gateways: one per audit_sync mode, each over its own SQLite file
    // (or the given database), each on a Tokio runtime of its own, apart
    // from the callers' (as nginx is a process of its own).
    let modes: Vec<rounds_gateway::audit::AuditSync> = match audit_sync.as_deref() {
        None => vec![
            rounds_gateway::audit::AuditSync::EveryCommit,
            rounds_gateway::audit::AuditSync::Batched,
            rounds_gateway::audit::AuditSync::Async,
        ],
        Some("async") => vec![rounds_gateway::audit::AuditSync::Async],
        Some("batched") => vec![rounds_gateway::audit::AuditSync::Batched],
        Some("commit") => vec![rounds_gateway::audit::AuditSync::EveryCommit],
        Some(other) => bail!("--audit-sync is commit, batched or async, not {other}"),
    };
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(128)
        .build()?;
    let mut gateways = Vec::new();
    for sync in modes {
        gateways.push(GatewayProcess::start(
            &upstream,
            database_url.clone(),
            sync,
        )?);
    }

    let mut targets = vec![Target {
        name: "direct",
        base: upstream.clone(),
        token: None,
    }];
    let mut nginx_proc = None;
    match find_nginx(nginx) {
        Some(exe) => {
            let (child, base, dir) = start_nginx(&exe, &upstream)?;
            targets.push(Target {
                name: "nginx",
                base,
                token: None,
            });
            nginx_proc = Some((child, dir));
        }
        None => println!("(nginx not found: give --nginx PATH to compare with it)"),
    }
    for g in &gateways {
        targets.push(Target {
            name: g.name,
            base: g.base.clone(),
            token: Some(g.token(&http).await?),
        });
    }

    println!(
        "upstream {upstream}: {} patients; {per_caller} requests per caller\n",
        ids.len()
    );
    println!(
        "{:<8} {:<6} {:>7} {:>10} {:>10} {:>10} {:>12} {:>12}",
        "target", "work", "callers", "p50", "p99", "req/s", "+p50", "+p99"
    );
    // Each figure gathers three rounds, the targets taking turns in each,
    // so that a neighbour's load on a shared machine falls on all of them.
    let rounds = 3;
    let per_round = per_caller.div_ceil(rounds).max(1);
    for batch in [false, true] {
        for callers in [1usize, 64] {
            // Warm-up.
            for t in &targets {
                measure(&http, t, &ids, batch, callers.min(8), 5).await?;
            }
            let mut samples: Vec<(Vec<Duration>, Duration)> = targets
                .iter()
                .map(|_| (Vec::new(), Duration::ZERO))
                .collect();
            let mut phase_sums: std::collections::BTreeMap<(&str, String), (f64, f64)> =
                std::collections::BTreeMap::new();
            for _ in 0..rounds {
                for (i, t) in targets.iter().enumerate() {
                    let before = if t.token.is_some() {
                        Some(phases(&http, &t.base).await?)
                    } else {
                        None
                    };
                    let (times, elapsed) =
                        measure(&http, t, &ids, batch, callers, per_round).await?;
                    samples[i].0.extend(times);
                    samples[i].1 += elapsed;
                    if let Some(before) = before {
                        for (phase, (sum, count)) in phases(&http, &t.base).await? {
                            let (s0, c0) = before.get(&phase).copied().unwrap_or_default();
                            let e = phase_sums.entry((t.name, phase)).or_default();
                            e.0 += sum - s0;
                            e.1 += count - c0;
                        }
                    }
                }
            }
            let figures: Vec<Figures> = samples
                .into_iter()
                .map(|(times, elapsed)| Figures::of(times, elapsed))
                .collect();
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
                    if batch { "batch" } else { "read" },
                    callers,
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
            for g in &gateways {
                if let (Some(n), Some(f)) = (by_name("nginx"), by_name(g.name)) {
                    let ((n50, n99), (g50, g99)) = (added(n), added(f));
                    let ratio = |g: Duration, n: Duration| {
                        if n.is_zero() {
                            "n/a".to_owned()
                        } else {
                            format!("{:.2}", g.as_secs_f64() / n.as_secs_f64())
                        }
                    };
                    let within = |g: Duration, n: Duration| {
                        g.as_secs_f64() <= n.as_secs_f64() * 1.2 + 0.000_05
                    };
                    println!(
                        "         {} added / nginx added: p50 {} (+{:.2} ms vs +{:.2} ms), p99 {} (+{:.2} ms vs +{:.2} ms); goal <= 1.20: p50 {}, p99 {}",
                        g.name,
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
        }
    }

    // Tokens per second: 64 callers for three seconds, at each gateway.
    println!();
    for g in &gateways {
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

    if let Some((mut child, _dir)) = nginx_proc {
        let _ = child.kill();
        let _ = child.wait();
    }
    for g in gateways {
        g.stop();
    }
    Ok(())
}

/// A gateway serving on 127.0.0.1 from a thread and Tokio runtime of its
/// own, with a tenant for the upstream and one client.
struct GatewayProcess {
    name: &'static str,
    base: String,
    client_id: String,
    client_secret: String,
    stop: Option<(
        tokio::sync::oneshot::Sender<()>,
        std::thread::JoinHandle<()>,
    )>,
    _dir: Option<tempfile::TempDir>,
}

impl GatewayProcess {
    fn start(
        upstream: &str,
        database_url: Option<String>,
        sync: rounds_gateway::audit::AuditSync,
    ) -> anyhow::Result<Self> {
        let name = match sync {
            rounds_gateway::audit::AuditSync::EveryCommit => "gw-commit",
            rounds_gateway::audit::AuditSync::Batched => "gw-batch",
            rounds_gateway::audit::AuditSync::Async => "gw-async",
        };
        let dir = tempfile::tempdir()?;
        let db_label = if database_url.is_some() {
            "the given database"
        } else {
            "a SQLite file of its own"
        };
        let db_url = database_url
            .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("gateway.db").display()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let upstream = upstream.to_owned();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<anyhow::Result<(String, String)>>();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            // Named apart from the callers' threads, for `perf report --comm`.
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .thread_name(name)
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(e.into()));
                    return;
                }
            };
            runtime.block_on(async move {
                let setup = async {
                    let db = rounds_gateway::db::Db::open(&db_url, 20).await?;
                    let mut settings = rounds_gateway::config::Settings::defaults()?;
                    settings.public_url = format!("http://{addr}");
                    settings.rate_limit = 0;
                    settings.audit_sync = sync;
                    let sealer = Arc::new(rounds_secrets::SecretBox::from_base64_key(
                        &rounds_secrets::SecretBox::new_key_base64()?,
                    )?);
                    let gw = rounds_gateway::Gateway::new(db, sealer, settings).await?;
                    gw.tenants
                        .put(
                            &rounds_gateway::tenants::TenantInput {
                                id: "bench".into(),
                                base_url: upstream,
                                fhir_version: "4.0.1".into(),
                                auth: rounds_gateway::tenants::UpstreamAuth::None,
                                secret: None,
                                allow_writes: false,
                            },
                            "admin",
                            &gw.sealer,
                        )
                        .await?;
                    let (client, secret) = gw
                        .registry
                        .create_client("bench", &["bench".into()], None)
                        .await?;
                    Ok::<_, anyhow::Error>((gw, client.id, secret.client_secret))
                };
                let (gw, id, secret) = match setup.await {
                    Ok(v) => v,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.into()));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok((id, secret)));
                let _ = gw
                    .serve(listener, async {
                        let _ = stop_rx.await;
                    })
                    .await;
            });
        });
        let (client_id, client_secret) =
            ready_rx.recv().context("the gateway's thread ended")??;
        println!("{name}: audit_sync {sync:?}, on {db_label}");
        Ok(Self {
            name,
            base: format!("http://{addr}"),
            client_id,
            client_secret,
            stop: Some((stop_tx, thread)),
            _dir: Some(dir),
        })
    }

    /// What a caller needs for the token endpoint.
    fn clone_caller(&self) -> Self {
        Self {
            name: self.name,
            base: self.base.clone(),
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            stop: None,
            _dir: None,
        }
    }

    async fn token(&self, http: &reqwest::Client) -> anyhow::Result<String> {
        let r = http
            .post(format!("{}/token", self.base))
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .form(&[("grant_type", "client_credentials"), ("scope", "bench")])
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("token: HTTP {}", r.status());
        }
        let v: Value = r.json().await?;
        Ok(v["access_token"].as_str().unwrap_or_default().to_owned())
    }

    fn stop(mut self) {
        if let Some((stop, thread)) = self.stop.take() {
            let _ = stop.send(());
            let _ = thread.join();
        }
    }
}
