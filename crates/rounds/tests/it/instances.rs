//! Several `rounds serve` processes on one PostgreSQL behind a real nginx
//! (deploy/nginx.conf with only its ports and paths changed, TLS in front):
//! a live feed on one instance hears of edits made on another at once
//! (PostgreSQL NOTIFY), and feeds of an instance that dies resume on the
//! other with exactly the events they missed. Also `/metrics`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use tokio::sync::mpsc;

use crate::cli::rounds;
use crate::common::{Backend, Client, Events, TestApp, PASSWORD};

/// A `rounds serve` process; killed when dropped.
pub struct Instance {
    child: Child,
    pub base: String,
    pub metrics: Option<String>,
    pub port: u16,
}

impl Instance {
    /// Starts `rounds serve` on a free port over `database_url`, with its
    /// metrics on another free port, behind a proxy (`trust_forwarded_for`).
    pub fn start(database_url: &str, extra: &[&str]) -> Self {
        let mut child = rounds()
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--database-url",
                database_url,
                "--trust-forwarded-for",
                "--metrics-listen",
                "127.0.0.1:0",
            ])
            .args(extra)
            .env("ROUNDS_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start rounds serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let (mut base, mut metrics) = (None, None);
        for line in lines.by_ref() {
            let line = line.expect("read stdout");
            if let Some(rest) = line.strip_prefix("Metrics at ") {
                metrics = Some(rest.trim().to_owned());
            }
            if let Some(rest) = line.strip_prefix("Rounds is running at ") {
                base = rest
                    .split_whitespace()
                    .next()
                    .map(|u| u.trim_end_matches('/').to_owned());
                break;
            }
        }
        // Keep reading so the process never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let base = base.expect("rounds serve did not start");
        let port = base
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port");
        Self {
            child,
            base,
            metrics,
            port,
        }
    }

    /// Kills the process at once (SIGKILL): no graceful shutdown.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the process with SIGTERM; it must exit cleanly (its feeds,
    /// poller and listener ending) within 15 s.
    pub fn terminate(&mut self) {
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(killed.success());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "graceful shutdown exits 0, got {status}");
                return;
            }
            assert!(Instant::now() < deadline, "rounds did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The metrics text, with `token` when given.
    pub async fn scrape(&self, token: Option<&str>) -> (StatusCode, String) {
        let url = self.metrics.as_deref().expect("metrics listener");
        let mut req = reqwest::Client::new().get(url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("scrape");
        (resp.status(), resp.text().await.expect("metrics text"))
    }

    /// Live feeds open on this instance, from its metrics.
    pub async fn open_streams(&self) -> i64 {
        let (_, text) = self.scrape(None).await;
        gauge(&text, "rounds_live_streams_open")
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The value of an unlabelled sample in Prometheus text.
pub fn gauge(text: &str, name: &str) -> i64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(-1, |v| v as i64)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn nginx_exe() -> PathBuf {
    let exe = std::env::var_os("ROUNDS_TEST_NGINX")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/nginx"));
    assert!(
        exe.exists(),
        "no nginx at {} (Debian's nginx package; scripts/test.sh installs it, ROUNDS_TEST_NGINX points elsewhere)",
        exe.display()
    );
    exe
}

/// A real nginx in a prefix of its own, running deploy/nginx.conf in front
/// of the given instances; stopped when dropped.
pub struct Nginx {
    child: Child,
    pub base: String,
    pub certificate: reqwest::Certificate,
    _dir: tempfile::TempDir,
}

impl Nginx {
    pub fn start(upstreams: [u16; 2]) -> Self {
        let exe = nginx_exe();
        let dir = tempfile::tempdir().expect("temporary directory");
        let d = dir.path();
        // nginx's workers (nobody, when the tests run as root) read below it.
        let _ = Command::new("chmod").arg("755").arg(d).status();
        // A test CA, and a certificate for 127.0.0.1 it signs.
        std::fs::write(
            d.join("leaf.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
        )
        .expect("write leaf.ext");
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        for args in [
            &["req", "-x509"][..],
            &ec,
            &["-days", "2", "-subj", "/CN=Rounds test CA"],
            &["-keyout", "ca.key", "-out", "ca.pem"],
            &[";", "req"],
            &ec,
            &[
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                "privkey.pem",
                "-out",
                "leaf.csr",
            ],
            &[
                ";", "x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            ],
            &[
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "leaf.ext",
                "-out",
                "fullchain.pem",
            ],
        ]
        .concat()
        .split(|a| *a == ";")
        {
            let made = Command::new("openssl")
                .args(args)
                .current_dir(d)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("openssl");
            assert!(made.success(), "openssl {args:?}");
        }
        let pem = std::fs::read(d.join("ca.pem")).expect("certificate");
        let certificate = reqwest::Certificate::from_pem(&pem).expect("a PEM certificate");

        let (http_port, https_port) = (free_port(), free_port());
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut conf = std::fs::read_to_string(root.join("deploy/nginx.conf")).expect("nginx.conf");
        let prefix = format!("{}/", d.display());
        for (from, to) in [
            ("/run/nginx-rounds.pid", format!("{prefix}nginx.pid")),
            ("/var/log/nginx/", prefix.clone()),
            ("/var/lib/nginx/", prefix.clone()),
            ("/etc/ssl/rounds/", prefix.clone()),
            (
                "server 127.0.0.1:8081",
                format!("server 127.0.0.1:{}", upstreams[0]),
            ),
            (
                "server 127.0.0.1:8082",
                format!("server 127.0.0.1:{}", upstreams[1]),
            ),
            ("listen 80;", format!("listen 127.0.0.1:{http_port};")),
            (
                "listen 443 ssl;",
                format!("listen 127.0.0.1:{https_port} ssl;"),
            ),
        ] {
            assert!(conf.contains(from), "deploy/nginx.conf has {from:?}");
            conf = conf.replace(from, &to);
        }
        std::fs::write(d.join("nginx.conf"), conf).expect("write nginx.conf");
        let child = Command::new(exe)
            .arg("-p")
            .arg(d)
            .arg("-e")
            .arg(d.join("startup-error.log"))
            .arg("-c")
            .arg(d.join("nginx.conf"))
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start nginx");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", https_port)).is_err() {
            assert!(Instant::now() < deadline, "nginx did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            base: format!("https://127.0.0.1:{https_port}"),
            certificate,
            _dir: dir,
        }
    }

    /// A client of nginx's address that trusts its test certificate, from
    /// 127.0.0.2 (so that the address nginx forwards is not its own).
    pub fn client(&self) -> Client {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .add_root_certificate(self.certificate.clone())
            .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
            .build()
            .expect("http client");
        Client::with_http(http, &self.base)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM: the master stops its workers too.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A team "Ward Zebra" (owner charge, member nurse) with a list and one
/// patient, made through an in-process instance on a new PostgreSQL
/// database (it stays running: one more instance on the database).
pub struct Seeded {
    pub seed: TestApp,
    pub charge: Client,
    pub team: String,
    pub list: String,
    pub patient: String,
}

pub const TEAM_NAME: &str = "Ward Zebra";
pub const PATIENT_NAME: &str = "Quixoteson";

impl Seeded {
    pub async fn new(backend: Backend) -> Self {
        let seed = TestApp::spawn(backend).await;
        seed.user("charge", false).await;
        seed.user("nurse", false).await;
        let charge = seed.client("charge").await;
        let team = charge.create_team(TEAM_NAME).await;
        charge.add_member(&team, json!({"username": "nurse"})).await;
        let list = charge.create_list(&team, "Morning round").await;
        let r = charge
            .post(
                &format!("/api/v1/teams/{team}/lists/{list}/patients"),
                json!({"fields": {"family": PATIENT_NAME, "given": "Alonso", "mrn": "MRN-4411"}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let patient = r.body["row"]["patientId"].as_str().unwrap().to_owned();
        Self {
            seed,
            charge,
            team,
            list,
            patient,
        }
    }

    pub fn events_path(&self) -> String {
        format!("/api/v1/teams/{}/lists/{}/events", self.team, self.list)
    }

    /// Sets the bed to `value` as `by` (the `n`th edit: version `n` before).
    pub async fn edit(&self, by: &Client, n: u64, value: &str) {
        let r = by
            .patch(
                &format!("/api/v1/teams/{}/patients/{}", self.team, self.patient),
                json!({"fields": {"bed": {"value": value, "baseVersion": n}}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "edit {n}: {}", r.text);
    }
}

/// One delivered edit: event id, bed value, when it arrived.
type Seen = (i64, String, Instant);

/// Reads `feed` and reports each bed edit until `last` arrives; on a
/// closed or silent feed it reconnects through `client` with the last id
/// seen. Returns what it saw and how many times it reconnected.
async fn follow(
    client: Client,
    path: String,
    mut feed: Events,
    last: String,
    out: Option<mpsc::UnboundedSender<Seen>>,
) -> (Vec<Seen>, usize, Vec<String>) {
    let mut seen: Vec<Seen> = Vec::new();
    let mut reconnects = 0;
    let mut controls = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match feed.next_change(Duration::from_secs(3)).await {
            Some(e) if e.event == "patientUpdated" => {
                let value = e.data["fields"]["bed"]["value"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let item = (e.id.unwrap_or(-1), value.clone(), Instant::now());
                if let Some(out) = &out {
                    let _ = out.send(item.clone());
                }
                seen.push(item);
                if value == last {
                    return (seen, reconnects, controls);
                }
            }
            Some(e) => {
                if e.event != "ready" {
                    controls.push(e.event);
                }
            }
            None => {
                if Instant::now() > deadline {
                    return (seen, reconnects, controls);
                }
                // Closed (its instance died) or quiet: resume from the last
                // id, through nginx, which finds a live instance.
                let after = seen.last().map(|s| s.0);
                loop {
                    let mut req = client
                        .http
                        .get(format!("{}{path}", client.base()))
                        .header("Accept", "text/event-stream");
                    if let Some(id) = after {
                        req = req.header("Last-Event-ID", id.to_string());
                    }
                    match req.send().await {
                        Ok(resp) if resp.status() == StatusCode::OK => {
                            feed = Events::from_response(resp);
                            reconnects += 1;
                            break;
                        }
                        _ if Instant::now() > deadline => return (seen, reconnects, controls),
                        _ => tokio::time::sleep(Duration::from_millis(100)).await,
                    }
                }
            }
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A feed opened through nginx that lands on instance B hears of every one
/// of 100 edits made on instance A, once each, in order, each within a
/// second (PostgreSQL NOTIFY); a third instance that only polls (live_notify
/// off) hears of them too, later. The figures are printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_on_one_instance_reach_a_feed_on_another_through_nginx() {
    let s = Seeded::new(Backend::Postgres).await;
    let url = s.seed.db.url.clone();
    let a = Instance::start(&url, &[]);
    let b = Instance::start(&url, &[]);
    let polling = Instance::start(&url, &["--live-notify", "false"]);
    let nginx = Nginx::start([a.port, b.port]);
    let mut front = nginx.client();
    let r = front.sign_in("nurse", PASSWORD).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "sign-in through nginx: {}",
        r.text
    );

    // Open feeds through nginx until one is on B (round robin: the first or
    // the second); the others stay open.
    let mut kept = Vec::new();
    let mut on_b = None;
    for _ in 0..4 {
        let before = b.open_streams().await;
        let mut feed = front.events(&s.events_path(), None).await;
        let ready = feed.next_change(Duration::from_secs(5)).await;
        assert_eq!(ready.map(|e| e.event).as_deref(), Some("ready"));
        if b.open_streams().await > before {
            on_b = Some(feed);
            break;
        }
        kept.push(feed);
    }
    let on_b = on_b.expect("nginx sent one of four feeds to instance B");
    let mut polled = front.at(&polling.base).events(&s.events_path(), None).await;
    let ready = polled.next_change(Duration::from_secs(5)).await;
    assert_eq!(ready.map(|e| e.event).as_deref(), Some("ready"));

    let edits = 100u64;
    let last = format!("e{}", edits - 1);
    let (tx_b, mut rx_b) = mpsc::unbounded_channel();
    let (tx_p, mut rx_p) = mpsc::unbounded_channel();
    let path = s.events_path();
    let reader_b = tokio::spawn(follow(
        front.at(&nginx.base),
        path.clone(),
        on_b,
        last.clone(),
        Some(tx_b),
    ));
    let reader_p = tokio::spawn(follow(
        front.at(&polling.base),
        path,
        polled,
        last.clone(),
        Some(tx_p),
    ));

    let on_a = s.charge.at(&a.base);
    let mut notify = Vec::new();
    let mut poll = Vec::new();
    for n in 0..edits {
        // Spread the edits over the polling interval's phase (0 to 247 ms),
        // as people's edits are, so that polling is timed fairly.
        tokio::time::sleep(Duration::from_millis(n * 37 % 250)).await;
        let value = format!("e{n}");
        let started = Instant::now();
        s.edit(&on_a, n, &value).await;
        for (rx, into) in [(&mut rx_b, &mut notify), (&mut rx_p, &mut poll)] {
            let got = tokio::time::timeout(Duration::from_secs(3), rx.recv())
                .await
                .ok()
                .flatten();
            let (_, v, at) = got.unwrap_or_else(|| panic!("edit {n} was not delivered"));
            assert_eq!(v, value, "edits arrive once each, in order");
            into.push(at.duration_since(started));
        }
    }
    let (seen_b, reconnects_b, controls_b) = reader_b.await.unwrap();
    let (seen_p, _, _) = reader_p.await.unwrap();
    for seen in [&seen_b, &seen_p] {
        let values: Vec<&str> = seen.iter().map(|s| s.1.as_str()).collect();
        let wanted: Vec<String> = (0..edits).map(|n| format!("e{n}")).collect();
        assert_eq!(values, wanted, "every edit once, in order");
        assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "ids increase");
    }
    assert_eq!(reconnects_b, 0, "the feed on B stayed open");
    assert!(controls_b.is_empty(), "{controls_b:?}");

    notify.sort();
    poll.sort();
    let show = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    println!(
        "cross-instance delivery of {edits} edits (edit sent on A → event read): \
         NOTIFY via nginx on B p50 {} p99 {} max {}; polling only (live_notify off) p50 {} p99 {} max {}",
        show(percentile(&notify, 50.0)),
        show(percentile(&notify, 99.0)),
        show(percentile(&notify, 100.0)),
        show(percentile(&poll, 50.0)),
        show(percentile(&poll, 99.0)),
        show(percentile(&poll, 100.0)),
    );
    // Generous on a shared machine; the report states the measured figures.
    assert!(
        percentile(&notify, 100.0) < Duration::from_secs(1),
        "every edit within a second"
    );

    // B's metrics saw notifications and the delivery times.
    let (_, text) = b.scrape(None).await;
    assert!(
        gauge(&text, "rounds_live_notifications_total") >= edits as i64,
        "{text}"
    );
    assert!(gauge(&text, "rounds_live_event_delivery_seconds_count") >= edits as i64);
    // The feed's answer tells proxies not to buffer, cache or transform it.
    let headers = front.status_only(&s.events_path()).await.headers;
    let cache = headers
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        cache.contains("no-cache") && cache.contains("no-transform"),
        "{cache}"
    );
    let direct = front
        .at(&b.base)
        .status_only(&s.events_path())
        .await
        .headers;
    assert_eq!(
        direct
            .get("x-accel-buffering")
            .and_then(|v| v.to_str().ok()),
        Some("no")
    );

    drop(kept);
    s.seed.stop().await;
}

/// Four feeds through nginx, spread over two instances; one instance is
/// killed (SIGKILL) while edits go on: its feeds reconnect through nginx
/// with their last event id, land on the other, and get exactly the edits
/// they missed — every feed sees every edit once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feeds_of_a_killed_instance_resume_on_the_other_with_what_they_missed() {
    let s = Seeded::new(Backend::Postgres).await;
    let url = s.seed.db.url.clone();
    let mut a = Instance::start(&url, &[]);
    let b = Instance::start(&url, &[]);
    let nginx = Nginx::start([a.port, b.port]);
    let mut front = nginx.client();
    let r = front.sign_in("nurse", PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    let edits = 60u64;
    let last = format!("e{}", edits - 1);
    let mut readers = Vec::new();
    for _ in 0..4 {
        let mut feed = front.events(&s.events_path(), None).await;
        let ready = feed.next_change(Duration::from_secs(5)).await;
        assert_eq!(ready.map(|e| e.event).as_deref(), Some("ready"));
        readers.push(tokio::spawn(follow(
            front.at(&nginx.base),
            s.events_path(),
            feed,
            last.clone(),
            None,
        )));
    }
    let on_a = a.open_streams().await;
    assert!(on_a >= 1, "nginx spread the feeds: {on_a} on A");
    assert_eq!(on_a + b.open_streams().await, 4);

    // Edits on B (the instance that stays), 20 ms apart; A dies after 20.
    let on_b = s.charge.at(&b.base);
    for n in 0..edits {
        if n == 20 {
            a.kill();
        }
        s.edit(&on_b, n, &format!("e{n}")).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let wanted: Vec<String> = (0..edits).map(|n| format!("e{n}")).collect();
    let mut reconnected = 0;
    for reader in readers {
        let (seen, reconnects, controls) = tokio::time::timeout(Duration::from_secs(90), reader)
            .await
            .expect("the feed finished")
            .unwrap();
        let values: Vec<&str> = seen.iter().map(|s| s.1.as_str()).collect();
        assert_eq!(values, wanted, "every edit once, in order");
        assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "ids increase");
        assert!(!controls.contains(&"resync".to_owned()), "{controls:?}");
        if reconnects > 0 {
            reconnected += 1;
        }
    }
    assert_eq!(
        reconnected, on_a,
        "the feeds on the killed instance (and only they) reconnected"
    );
    s.seed.stop().await;
}

/// The test peers' Python (scripts/test.sh installs prometheus_client into
/// .venv-peers beside sekmet-fhir): ROUNDS_TEST_PEERS_PYTHON, or the one
/// next to ROUNDS_TEST_SEKMET.
fn peers_python() -> PathBuf {
    if let Some(p) = std::env::var_os("ROUNDS_TEST_PEERS_PYTHON") {
        return PathBuf::from(p);
    }
    let sekmet = crate::common::sekmet_exe();
    sekmet.with_file_name("python")
}

/// Parses Prometheus text with the reference parser (Python's
/// prometheus_client): every sample as (name, labels, value).
fn parse_metrics(text: &str) -> Vec<(String, serde_json::Map<String, serde_json::Value>, f64)> {
    use std::io::Write;
    const SCRIPT: &str = "import json, sys\n\
        from prometheus_client.parser import text_string_to_metric_families\n\
        out = []\n\
        for family in text_string_to_metric_families(sys.stdin.read()):\n\
        \x20   for s in family.samples:\n\
        \x20       out.append([s.name, s.labels, s.value])\n\
        print(json.dumps(out))\n";
    let python = peers_python();
    let mut child = Command::new(&python)
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {}: {e}", python.display()));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client could not parse the metrics: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: Vec<(String, serde_json::Map<String, serde_json::Value>, f64)> =
        serde_json::from_slice(&out.stdout).unwrap();
    parsed
}

fn sample(
    parsed: &[(String, serde_json::Map<String, serde_json::Value>, f64)],
    name: &str,
    labels: &[(&str, &str)],
) -> f64 {
    parsed
        .iter()
        .filter(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).and_then(|x| x.as_str()) == Some(*v))
        })
        .map(|(_, _, v)| v)
        .sum()
}

/// `/metrics` is served only on its own address and only with the token;
/// the reference parser reads it; the request counter moves by route
/// template, an open feed shows in the gauge, refused sign-ins count, and
/// no label holds a patient's or a team's name or any id of theirs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_apart_guarded_parseable_and_free_of_names() {
    const TOKEN: &str = "test-metrics-token-0123456789";
    let s = Seeded::new(Backend::Postgres).await;
    let one = Instance::start(&s.seed.db.url, &["--metrics-token", TOKEN]);

    // Not on the main listener; on its own only with the token.
    let main = reqwest::get(format!("{}/metrics", one.base)).await.unwrap();
    assert_eq!(main.status(), StatusCode::NOT_FOUND);
    assert_eq!(one.scrape(None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        one.scrape(Some("not the token at all")).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, before) = one.scrape(Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    let before = parse_metrics(&before);

    let mut nurse = Client::with_http(
        reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap(),
        &one.base,
    );
    assert_eq!(
        nurse.sign_in("nurse", "not the password").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        nurse.sign_in("nurse", PASSWORD).await.status,
        StatusCode::OK
    );
    let list_path = format!("/api/v1/teams/{}/lists/{}", s.team, s.list);
    for _ in 0..3 {
        assert_eq!(nurse.get(&list_path).await.status, StatusCode::OK);
    }
    let mut feed = nurse.events(&s.events_path(), None).await;
    let ready = feed.next_change(Duration::from_secs(5)).await;
    assert_eq!(ready.map(|e| e.event).as_deref(), Some("ready"));

    let (_, text) = one.scrape(Some(TOKEN)).await;
    if std::env::var_os("ROUNDS_TEST_SHOW_METRICS").is_some() {
        println!("{text}");
    }
    let after = parse_metrics(&text);
    let route = [
        ("method", "GET"),
        ("route", "/api/v1/teams/{teamId}/lists/{listId}"),
        ("status", "200"),
    ];
    let moved = sample(&after, "rounds_http_requests_total", &route)
        - sample(&before, "rounds_http_requests_total", &route);
    assert_eq!(
        moved, 3.0,
        "three list reads counted under the route template"
    );
    assert_eq!(sample(&after, "rounds_live_streams_open", &[]), 1.0);
    assert!(sample(&after, "rounds_signin_failures_total", &[]) >= 1.0);
    assert!(
        sample(
            &after,
            "rounds_http_request_duration_seconds_count",
            &[("route", "/api/v1/session"), ("method", "POST")]
        ) >= 2.0
    );
    assert!(sample(&after, "rounds_db_pool_connections", &[("state", "max")]) >= 1.0);

    // No names and no ids of patients, teams or lists in any label.
    let forbidden = [
        PATIENT_NAME,
        "Alonso",
        "MRN-4411",
        TEAM_NAME,
        "Zebra",
        s.team.as_str(),
        s.list.as_str(),
        s.patient.as_str(),
        "nurse",
        "charge",
    ];
    for (name, labels, _) in &after {
        for (key, value) in labels {
            let value = value.as_str().unwrap_or_default();
            for f in forbidden {
                assert!(
                    !value.to_lowercase().contains(&f.to_lowercase()),
                    "{name} label {key}={value:?} holds {f:?}"
                );
            }
            if key == "route" {
                assert!(value.starts_with('/') || value == "unmatched", "{value}");
            }
        }
    }
    drop(feed);
    s.seed.stop().await;
}

/// The backends listening for change-feed notifications on this database.
async fn listeners(url: &str) -> Vec<i32> {
    use sqlx::{Connection, Row};
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let rows = sqlx::query(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
         AND query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    rows.iter().map(|r| r.get::<i32, _>("pid")).collect()
}

/// When the listener's connection is cut (the database ends it), the
/// instance says so in its metrics, listens again on a new connection, and
/// is woken by notifications again; events keep coming meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_listener_connection_is_opened_again() {
    let s = Seeded::new(Backend::Postgres).await;
    let url = s.seed.db.url.clone();
    let a = Instance::start(&url, &[]);
    let b = Instance::start(&url, &[]);
    let mut nurse = Client::with_http(
        reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap(),
        &b.base,
    );
    assert_eq!(
        nurse.sign_in("nurse", PASSWORD).await.status,
        StatusCode::OK
    );
    let mut feed = nurse.events(&s.events_path(), None).await;
    let ready = feed.next_change(Duration::from_secs(5)).await;
    assert_eq!(ready.map(|e| e.event).as_deref(), Some("ready"));

    // Only B has a feed open, so only B listens.
    let deadline = Instant::now() + Duration::from_secs(10);
    let first = loop {
        let found = listeners(&url).await;
        if found.len() == 1 {
            break found[0];
        }
        assert!(Instant::now() < deadline, "B listens: {found:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query("SELECT pg_terminate_backend($1)")
            .bind(first)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let on_a = s.charge.at(&a.base);
    // An edit right away still arrives (the poller polls meanwhile).
    s.edit(&on_a, 0, "e0").await;
    let e = feed.next_change(Duration::from_secs(3)).await.expect("e0");
    assert_eq!(e.data["fields"]["bed"]["value"], "e0");

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = listeners(&url).await;
        if found.len() == 1 && found[0] != first {
            break;
        }
        assert!(Instant::now() < deadline, "B listens again: {found:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, text) = b.scrape(None).await;
    assert!(
        gauge(&text, "rounds_live_listener_failures_total") >= 1,
        "{text}"
    );
    let before = gauge(&text, "rounds_live_notifications_total");
    for n in 1..6u64 {
        let value = format!("e{n}");
        s.edit(&on_a, n, &value).await;
        let e = feed
            .next_change(Duration::from_secs(3))
            .await
            .expect("edit");
        assert_eq!(e.data["fields"]["bed"]["value"], value.as_str());
    }
    let (_, text) = b.scrape(None).await;
    assert!(
        gauge(&text, "rounds_live_notifications_total") >= before + 5,
        "the new connection is notified: {text}"
    );
    // With a feed open and a listener running, SIGTERM still ends it all.
    let mut b = b;
    b.terminate();
    drop(feed);
    s.seed.stop().await;
}

/// EHR reads show in the metrics by connection (a hash, not a name), with
/// their outcome, time, the connection's health and the cache's lookups;
/// an outage shows as failed reads and `down`. No name in any of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ehr_reads_and_health_show_in_the_metrics() {
    use crate::common::Sekmet;
    use crate::ehr_mode::{ward, ward_bundle, FAMILY, GIVEN, MRN};
    let sekmet = Sekmet::start();
    sekmet.load(&ward_bundle()).await;
    let mut config = rounds_app::AppConfig::default();
    config.ehr.retry_after_failure = Duration::from_millis(300);
    let app = TestApp::spawn_with(Backend::Postgres, config).await;
    let w = ward(&app, &sekmet.base).await;
    let list = format!("/api/v1/teams/{}/lists/{}", w.team, w.list);
    let r = w
        .member
        .post(&format!("{list}/ehr-search"), json!({"mrn": MRN}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let ehr_id = r.body["results"][0]["ehrId"].as_str().unwrap().to_owned();
    let r = w
        .member
        .post(&format!("{list}/patients"), json!({"ehrId": ehr_id}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(w.member.get(&list).await.status, StatusCode::OK);
    assert_eq!(w.member.get(&list).await.status, StatusCode::OK);

    let text = app.app.metrics_text();
    let parsed = parse_metrics(&text);
    let connection = parsed
        .iter()
        .find(|(n, _, _)| n == "rounds_ehr_patient_reads_total")
        .and_then(|(_, l, _)| l.get("connection")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("EHR reads counted: {text}"));
    let of = |outcome: &'static str| [("connection", connection.as_str()), ("outcome", outcome)];
    assert!(sample(&parsed, "rounds_ehr_patient_reads_total", &of("ok")) >= 1.0);
    assert!(
        sample(
            &parsed,
            "rounds_ehr_read_duration_seconds_count",
            &[("connection", &connection)]
        ) >= 1.0
    );
    let health = |parsed: &[(String, serde_json::Map<String, serde_json::Value>, f64)], state| {
        sample(
            parsed,
            "rounds_ehr_health",
            &[("connection", connection.as_str()), ("state", state)],
        )
    };
    assert_eq!(health(&parsed, "ok"), 1.0, "{text}");
    assert!(
        sample(
            &parsed,
            "rounds_ehr_cache_lookups_total",
            &[("result", "hit")]
        ) >= 1.0
    );
    assert!(
        sample(
            &parsed,
            "rounds_ehr_cache_lookups_total",
            &[("result", "miss")]
        ) >= 1.0
    );
    assert!(sample(&parsed, "rounds_ehr_cache_patients", &[]) >= 1.0);

    // The EHR goes away: failed reads, and down.
    let (_dir, _port) = sekmet.stop();
    let r = w.member.get(&format!("{list}?refresh=true")).await;
    assert_eq!(r.status, StatusCode::OK);
    let text = app.app.metrics_text();
    let parsed = parse_metrics(&text);
    assert!(
        sample(&parsed, "rounds_ehr_patient_reads_total", &of("failed")) >= 1.0,
        "{text}"
    );
    assert_eq!(health(&parsed, "down"), 1.0, "{text}");
    assert_eq!(health(&parsed, "ok"), 0.0);
    for word in [
        FAMILY,
        GIVEN,
        MRN,
        "Ward 3",
        "Hospital EHR",
        w.team.as_str(),
        ehr_id.as_str(),
    ] {
        assert!(!text.contains(word), "{word:?} in the metrics");
    }
    app.stop().await;
}
