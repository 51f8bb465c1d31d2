//! The live fan-out of `rounds-bench scale`: thousands of open screens
//! on one list, each change timed from its send to its arrival on every
//! screen. The screens run in a child process of their own
//! (`rounds-bench fanout-client`), so that the benchmark's process
//! measures the server's resident memory alone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use reqwest::Method;
use serde_json::json;

use crate::rig::session_cookie;
use crate::scale::rss_kib;
use crate::Api;

/// Wall-clock microseconds since 1970: the one clock the server's process
/// and the screens' process (see [`fan_out`]) share.
fn wall_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The change number and its send time in an event's "fanout N at T".
fn fanout_mark(block: &str) -> Option<(usize, u64)> {
    let text = block.split("fanout ").nth(1)?.split('"').next()?;
    let (n, at) = text.split_once(" at ")?;
    Some((n.parse().ok()?, at.parse().ok()?))
}

/// Opens `screens` feeds, makes `changes` edits and times their arrival:
/// every delay (sorted), and the server's resident KiB per open screen.
///
/// The screens run in a child process of their own (`rounds-bench
/// fanout-client`), so that this process's resident memory is the
/// server's alone (with the benchmark's small API client); each change
/// carries its wall-clock send time, and the child measures against it.
pub(crate) async fn fan_out(
    api: &Api,
    list: &str,
    patient_path: &str,
    screens: usize,
    changes: usize,
    version: &mut i64,
) -> anyhow::Result<(Vec<Duration>, f64)> {
    use std::io::BufRead;
    let rss_before = rss_kib();
    let session = session_cookie(api).await?;
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args([
            "fanout-client",
            "--url",
            &format!("{}{list}/events", api.base),
            "--screens",
            &screens.to_string(),
            "--changes",
            &changes.to_string(),
        ])
        .env("ROUNDS_BENCH_COOKIE", &session)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("start the screens' process")?;
    let stdout = child.stdout.take().context("the screens' output")?;
    let (lines_tx, mut lines) = tokio::sync::mpsc::channel::<String>(4);
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if lines_tx.blocking_send(line).is_err() {
                return;
            }
        }
    });
    let ready = tokio::time::timeout(Duration::from_secs(180), lines.recv())
        .await
        .context("screens did not open")?;
    if ready.as_deref() != Some("ready") {
        let _ = child.kill();
        bail!("the screens' process: {ready:?}");
    }
    let rss = (rss_kib().saturating_sub(rss_before)) as f64 / screens.max(1) as f64;
    for n in 0..changes {
        let value = format!("fanout {n} at {}", wall_micros());
        let body = json!({"fields": {"given": {"value": value, "baseVersion": *version}}});
        let saved = api.send(Method::PATCH, patient_path, Some(body)).await?;
        *version = saved["fields"]["given"]["version"].as_i64().unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let report = tokio::time::timeout(Duration::from_secs(120), lines.recv())
        .await
        .context("the screens' process did not report")?
        .context("the screens' process ended without a report")?;
    let _ = tokio::task::spawn_blocking(move || child.wait()).await;
    let mut times: Vec<Duration> = serde_json::from_str::<Vec<u64>>(&report)
        .context("the screens' report")?
        .into_iter()
        .map(Duration::from_micros)
        .collect();
    times.sort();
    Ok((times, rss))
}

/// `rounds-bench fanout-client`: the screens of [`fan_out`], in their own
/// process. Opens `screens` feeds of `url` (the session cookie in
/// `ROUNDS_BENCH_COOKIE`), prints `ready` once all are, then a JSON array
/// of every change's delay in microseconds once each screen has seen
/// `changes` of them (or a minute after the last one should have come).
///
/// Each screen is a bare HTTP/1.1 connection read by one task: the
/// screens share this process's two cores with the server, and a full
/// HTTP client (a connection task and a body channel per screen) would
/// spend more of them per event than the server does, and so measure
/// itself more than the server.
pub async fn fanout_client(url: String, screens: usize, changes: usize) -> anyhow::Result<()> {
    let session = std::env::var("ROUNDS_BENCH_COOKIE").unwrap_or_default();
    let url = reqwest::Url::parse(&url).context("the feed's URL")?;
    let addr = format!(
        "{}:{}",
        url.host_str().context("the feed's host")?,
        url.port_or_known_default().context("the feed's port")?
    );
    let request: Arc<[u8]> = format!(
        "GET {}{} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\nCookie: {session}\r\n\r\n",
        url.path(),
        url.query().map(|q| format!("?{q}")).unwrap_or_default()
    )
    .into_bytes()
    .into();
    // A plain lock held for one push: the screens never wait on each other
    // while holding it (a lock that parks tasks would add to the delays).
    let arrivals: Arc<std::sync::Mutex<Vec<u64>>> = Arc::default();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(screens.max(1));
    let mut tasks = Vec::new();
    for _ in 0..screens {
        let (addr, request) = (addr.clone(), Arc::clone(&request));
        let (arrivals, ready_tx) = (arrivals.clone(), ready_tx.clone());
        tasks.push(tokio::spawn(async move {
            if let Err(e) = screen(&addr, &request, changes, &arrivals, &ready_tx).await {
                eprintln!("a screen stopped: {e:#}");
            }
        }));
    }
    drop(ready_tx);
    for _ in 0..screens {
        tokio::time::timeout(Duration::from_secs(170), ready_rx.recv())
            .await
            .context("screens did not open")?
            .context("a screen failed to open")?;
    }
    println!("ready");
    let deadline = Instant::now() + Duration::from_millis(200 * changes as u64 + 60_000);
    for task in tasks {
        let left = deadline.saturating_duration_since(Instant::now());
        if tokio::time::timeout(left, task).await.is_err() {
            break;
        }
    }
    let all = arrivals
        .lock()
        .map(|a| a.clone())
        .map_err(|_| anyhow::anyhow!("a screen failed while recording"))?;
    println!("{}", serde_json::to_string(&all)?);
    Ok(())
}

/// One screen of [`fanout_client`]: sends `request`, then reads the
/// chunked event stream until it has seen `changes` fan-out changes.
async fn screen(
    addr: &str,
    request: &[u8],
    changes: usize,
    arrivals: &std::sync::Mutex<Vec<u64>>,
    ready: &tokio::sync::mpsc::Sender<()>,
) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    tcp.write_all(request).await?;
    let mut raw: Vec<u8> = Vec::with_capacity(4096);
    let mut events = String::new();
    let mut head_done = false;
    let mut seen = 0;
    let mut buf = [0u8; 8192];
    while seen < changes {
        let n = tcp.read(&mut buf).await?;
        if n == 0 {
            bail!("the feed ended after {seen} changes");
        }
        let now = wall_micros();
        raw.extend_from_slice(&buf[..n]);
        if !head_done {
            let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head = String::from_utf8_lossy(&raw[..end]).into_owned();
            if !head.starts_with("HTTP/1.1 200") {
                bail!("the feed answered {}", head.lines().next().unwrap_or(""));
            }
            if !head
                .to_ascii_lowercase()
                .contains("transfer-encoding: chunked")
            {
                bail!("the feed is not chunked");
            }
            raw.drain(..end + 4);
            head_done = true;
        }
        // Whole chunks: "<hex size>\r\n<data>\r\n".
        while let Some(line) = raw.windows(2).position(|w| w == b"\r\n") {
            let size = usize::from_str_radix(std::str::from_utf8(&raw[..line])?.trim(), 16)
                .context("a chunk size")?;
            if size == 0 {
                bail!("the feed ended after {seen} changes");
            }
            if raw.len() < line + 2 + size + 2 {
                break;
            }
            events.push_str(&String::from_utf8_lossy(&raw[line + 2..line + 2 + size]));
            raw.drain(..line + 2 + size + 2);
        }
        while let Some(end) = events.find("\n\n") {
            let block: String = events.drain(..end + 2).collect();
            if block.contains("event: ready") {
                ready.send(()).await?;
            } else if block.contains("event: patientUpdated") {
                if let Some((_, at)) = fanout_mark(&block) {
                    if let Ok(mut all) = arrivals.lock() {
                        all.push(now.saturating_sub(at));
                    }
                    seen += 1;
                }
            }
        }
    }
    Ok(())
}
