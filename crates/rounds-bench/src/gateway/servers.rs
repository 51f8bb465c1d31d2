//! What the `gateway` benchmark measures, besides the FHIR server itself:
//! nginx in front of it, and gateways on threads and runtimes of their own.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rounds_gateway::audit::AuditSync;
use serde_json::Value;

/// One server measured: its base URL and the bearer token it takes.
pub(super) struct Target {
    pub(super) name: &'static str,
    pub(super) base: String,
    pub(super) token: Option<String>,
}

/// nginx as a plain reverse proxy to `upstream`, on 127.0.0.1: the
/// process, the base URL through it, and its directory.
pub(super) fn start_nginx(
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

/// The nginx executable: given, or where distributions install it.
pub(super) fn find_nginx(given: Option<PathBuf>) -> Option<PathBuf> {
    given.or_else(|| {
        ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
    })
}

/// A gateway serving on 127.0.0.1 from a thread and Tokio runtime of its
/// own, with a tenant for the upstream and one client.
pub(super) struct GatewayProcess {
    pub(super) name: &'static str,
    pub(super) base: String,
    client_id: String,
    client_secret: String,
    stop: Option<(
        tokio::sync::oneshot::Sender<()>,
        std::thread::JoinHandle<()>,
    )>,
    _dir: Option<tempfile::TempDir>,
}

impl GatewayProcess {
    pub(super) fn start(
        upstream: &str,
        database_url: Option<String>,
        sync: AuditSync,
    ) -> anyhow::Result<Self> {
        let name = match sync {
            AuditSync::EveryCommit => "gw-commit",
            AuditSync::Batched => "gw-batch",
            AuditSync::Async => "gw-async",
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
    pub(super) fn clone_caller(&self) -> Self {
        Self {
            name: self.name,
            base: self.base.clone(),
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            stop: None,
            _dir: None,
        }
    }

    pub(super) async fn token(&self, http: &reqwest::Client) -> anyhow::Result<String> {
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

    pub(super) fn stop(mut self) {
        if let Some((stop, thread)) = self.stop.take() {
            let _ = stop.send(());
            let _ = thread.join();
        }
    }
}
