//! The FHIR servers the `ehr` and `gateway` benchmarks read from: one
//! given by its address, sekmet-fhir started and seeded here, or the
//! built-in sandbox EHR with a generated ward.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// A FHIR server and the ids of the patients the benchmark reads; a server
/// started here stops when this is stopped or dropped.
pub(crate) struct Upstream {
    pub(crate) base: String,
    pub(crate) ids: Vec<String>,
    sandbox: Option<(
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<std::io::Result<()>>,
    )>,
    _sekmet: Option<Sekmet>,
}

impl Upstream {
    /// The server at `base`: the first `count` patients it finds.
    pub(crate) async fn given(base: String, count: usize) -> anyhow::Result<Self> {
        let client = rounds_fhir::FhirClient::connect(rounds_fhir::ClientConfig::new(&base)?)
            .await
            .context("connect to the FHIR server")?;
        let found = client
            .search_patients(&rounds_fhir::PatientQuery {
                count: Some(u32::try_from(count).unwrap_or(u32::MAX)),
                ..Default::default()
            })
            .await?;
        let ids = found.patients.into_iter().map(|p| p.id).collect();
        Ok(Self {
            base,
            ids,
            sandbox: None,
            _sekmet: None,
        })
    }

    /// sekmet-fhir (`exe`) started in a directory of its own and seeded
    /// with `patients` patients (half admitted).
    pub(crate) async fn sekmet(exe: &std::path::Path, patients: usize) -> anyhow::Result<Self> {
        let (sekmet, base) = start_sekmet(exe, patients)?;
        let mut upstream = Self::given(base, patients).await?;
        upstream._sekmet = Some(sekmet);
        Ok(upstream)
    }

    /// The sandbox EHR on 127.0.0.1 with a ward generated to `spec`.
    pub(crate) async fn sandbox(spec: &rounds_sandbox::WardSpec) -> anyhow::Result<Self> {
        let ward = rounds_sandbox::Ward::generate(spec);
        let ids = ward.patient_ids();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(rounds_sandbox::serve(listener, ward, async {
            let _ = stopped.await;
        }));
        Ok(Self {
            base: format!("http://{addr}/fhir"),
            ids,
            sandbox: Some((stop, task)),
            _sekmet: None,
        })
    }

    /// Stops a sandbox started here (and waits for it); sekmet stops as
    /// this is dropped.
    pub(crate) async fn stop(mut self) {
        if let Some((stop, task)) = self.sandbox.take() {
            let _ = stop.send(());
            let _ = task.await;
        }
    }
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
