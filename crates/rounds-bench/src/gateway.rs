//! `gateway`: the interoperability gateway's added latency and throughput,
//! against the FHIR server directly and through nginx (a plain reverse
//! proxy, when installed), for a patient read and a 20-entry batch, at 1
//! and 64 callers; and tokens per second at the token endpoint.
//!
//!     cargo run --release -p rounds-bench -- gateway [--fhir-base URL] [--nginx PATH]
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

async fn measure(
    http: &reqwest::Client,
    target: &Target,
    ids: &[String],
    batch: bool,
    callers: usize,
    per_caller: usize,
) -> anyhow::Result<Figures> {
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
    let elapsed = started.elapsed();
    all.sort();
    Ok(Figures {
        p50: percentile(&all, 50.0),
        p99: percentile(&all, 99.0),
        per_sec: all.len() as f64 / elapsed.as_secs_f64(),
    })
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

    // The gateway, in this process, over SQLite (or the given database).
    let dir = tempfile::tempdir()?;
    let db_url = database_url
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("gateway.db").display()));
    let db = rounds_gateway::db::Db::open(&db_url, 20).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let mut settings =
        rounds_gateway::config::Settings::resolve(&Default::default(), &Default::default())?;
    settings.public_url = format!("http://{addr}");
    settings.rate_limit = 0;
    let sealer = Arc::new(rounds_secrets::SecretBox::from_base64_key(
        &rounds_secrets::SecretBox::new_key_base64()?,
    )?);
    let gw = rounds_gateway::Gateway::new(db, sealer, settings).await?;
    gw.tenants
        .put(
            &rounds_gateway::tenants::TenantInput {
                id: "bench".into(),
                base_url: upstream.clone(),
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
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(gw.clone().serve(listener, async {
        let _ = stopped.await;
    }));
    let gw_base = format!("http://{addr}");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(128)
        .build()?;
    let token_url = format!("{gw_base}/token");
    let (client_id, client_secret) = (client.id.clone(), secret.client_secret.clone());
    let token_of = move |http: reqwest::Client| {
        let url = token_url.clone();
        let (id, secret) = (client_id.clone(), client_secret.clone());
        async move {
            let r = http
                .post(url)
                .basic_auth(id, Some(secret))
                .form(&[("grant_type", "client_credentials"), ("scope", "bench")])
                .send()
                .await?;
            if !r.status().is_success() {
                bail!("token: HTTP {}", r.status());
            }
            let v: Value = r.json().await?;
            Ok::<String, anyhow::Error>(v["access_token"].as_str().unwrap_or_default().to_owned())
        }
    };
    let token = token_of(http.clone()).await?;

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
    targets.push(Target {
        name: "gateway",
        base: gw_base.clone(),
        token: Some(token),
    });

    println!(
        "upstream {upstream}: {} patients; {per_caller} requests per caller\n",
        ids.len()
    );
    println!(
        "{:<8} {:<6} {:>7} {:>10} {:>10} {:>10} {:>12} {:>12}",
        "target", "work", "callers", "p50", "p99", "req/s", "+p50", "+p99"
    );
    for batch in [false, true] {
        for callers in [1usize, 64] {
            // Warm-up.
            for t in &targets {
                measure(&http, t, &ids, batch, callers.min(8), 5).await?;
            }
            let mut direct: Option<Figures> = None;
            for t in &targets {
                let f = measure(&http, t, &ids, batch, callers, per_caller).await?;
                let (add50, add99) = match &direct {
                    Some(d) => (
                        ms(f.p50.saturating_sub(d.p50)),
                        ms(f.p99.saturating_sub(d.p99)),
                    ),
                    None => ("-".into(), "-".into()),
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
                if t.name == "direct" {
                    direct = Some(f);
                }
            }
        }
    }

    // Tokens per second: 64 callers for three seconds.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let http = http.clone();
        let get = token_of.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while started.elapsed() < Duration::from_secs(3) {
                get(http.clone()).await?;
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
        "\ntokens: {:.0} per second (64 callers, 3 s)",
        total as f64 / started.elapsed().as_secs_f64()
    );

    if let Some((mut child, _dir)) = nginx_proc {
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = stop.send(());
    let _ = server.await;
    Ok(())
}
