//! `rounds-bench urgent`: an urgent note to a team with many open screens.
//!
//! - from the POST of the note to its event on every open screen (the
//!   team's feed, which every signed-in page follows), p50/p99, and to each
//!   screen's read that follows the event, p50/p99: notes of even number
//!   are followed by the read of every open note (what `alerts.js` did),
//!   odd ones by the read of the one note the event names (what it does
//!   now), so the two compare within one run;
//! - the re-notification clock on the real server (1 s interval): how late
//!   each repeat reaches a screen against the note's own schedule (sent
//!   time + k × interval), and whether the lateness grows (drift);
//! - the same schedule over a simulated hour (5-minute interval, a clock
//!   that wakes every second with up to 50 ms of delay), computed with the
//!   server's own `next_after`.
//!
//!     cargo run --release -p rounds-bench -- urgent
//!
//! Goal (issue 16): p99 under 1 s at 200 screens.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use reqwest::StatusCode;
use rounds_app::{AppConfig, Caller, NewUserInput};
use rounds_core::Timestamp;
use serde_json::{json, Value};
use tokio::sync::Mutex;

use crate::rig::{sign_in_cookie, Rig, PASSWORD};
use crate::{ms, number_after, percentile, Events};

/// Members besides the author whose screens are open.
const MEMBERS: usize = 10;

/// What one screen saw: per note, when its event arrived and when the
/// read that follows it answered; and every re-notification's arrival.
#[derive(Default)]
struct Seen {
    events: Vec<Duration>,
    /// After even notes: the read of every open note.
    reads: Vec<Duration>,
    /// After odd notes: the read of the note the event names.
    note_reads: Vec<Duration>,
    renotified: Vec<(i64, Instant)>,
}

/// The `repeats` of a re-notification event.
fn repeats_of(block: &str) -> Option<i64> {
    let data = block.lines().find_map(|l| l.strip_prefix("data: "))?;
    serde_json::from_str::<Value>(data).ok()?["repeats"].as_i64()
}

/// The `noteId` of an event.
fn note_id_of(block: &str) -> Option<String> {
    let data = block.lines().find_map(|l| l.strip_prefix("data: "))?;
    serde_json::from_str::<Value>(data).ok()?["noteId"]
        .as_str()
        .map(str::to_owned)
}

#[allow(clippy::too_many_arguments)]
async fn screen(
    feed: reqwest::Client,
    reader: reqwest::Client,
    base: String,
    team: String,
    cookie: String,
    sent_at: Arc<Mutex<Vec<Option<Instant>>>>,
    seen: Arc<Mutex<Seen>>,
    ready: tokio::sync::mpsc::Sender<()>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let Ok(resp) = feed
        .get(format!("{base}/api/v1/teams/{team}/events"))
        .header("Cookie", &cookie)
        .send()
        .await
    else {
        return;
    };
    let mut events = Events::new(resp);
    loop {
        let next = tokio::select! {
            n = events.next() => n,
            _ = stop.changed() => return,
        };
        let Some((now, blocks)) = next else {
            return;
        };
        for block in blocks {
            if block.contains("event: ready") {
                let _ = ready.send(()).await;
                continue;
            }
            if !block.contains("event: urgentChanged") {
                continue;
            }
            if block.contains("\"action\":\"renotified\"") {
                if let Some(k) = repeats_of(&block) {
                    seen.lock().await.renotified.push((k, now));
                }
                continue;
            }
            if !block.contains("\"action\":\"sent\"") {
                continue;
            }
            let Some(n) = number_after(&block, "urgent bench ") else {
                continue;
            };
            let Some(Some(at)) = sent_at.lock().await.get(n).copied() else {
                continue;
            };
            // The screen shows the alert from the event, then reads the
            // rest: every open note (even notes) or the one the event names
            // (odd notes; as alerts.js does).
            let single = n % 2 == 1;
            let path = match note_id_of(&block) {
                Some(id) if single => format!("{base}/api/v1/teams/{team}/urgent/{id}"),
                _ => format!("{base}/api/v1/teams/{team}/urgent"),
            };
            let read = reader.get(path).header("Cookie", &cookie).send().await;
            let done = Instant::now();
            let ok = matches!(&read, Ok(r) if r.status() == StatusCode::OK);
            if let Ok(r) = read {
                let _ = r.bytes().await;
            }
            let mut s = seen.lock().await;
            s.events.push(now.duration_since(at));
            if ok && single {
                s.note_reads.push(done.duration_since(at));
            } else if ok {
                s.reads.push(done.duration_since(at));
            }
        }
    }
}

pub async fn run(screens: usize, notes: usize, repeats: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let mut config = AppConfig::default();
    config.urgent.tick_ms = 100;
    config.urgent.min_interval_secs = 1;
    let rig = Rig::open_with(&url, true, screens + 256, config).await?;
    rig.app.start_urgent_clock();
    let ward = Ward::make(&rig).await?;
    let open = Screens::open(&rig, &ward, screens, notes).await?;

    // Urgent notes to the team, one after another.
    let note_path = ward.note_path();
    let mut first_note = String::new();
    for n in 0..notes {
        open.sent_at.lock().await[n] = Some(Instant::now());
        let note = rig
            .post(
                &note_path,
                json!({"body": format!("urgent bench {n}"), "urgent": {"to": "team"}}),
            )
            .await?;
        if n == 0 {
            first_note = note["id"].as_str().unwrap_or_default().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    let _ = first_note;
    print_delivery(&open.seen_by, screens, notes).await;

    if repeats > 0 {
        renotified_on_the_clock(&rig, &ward, &open, notes, repeats).await?;
    }
    open.close().await;
    simulated_hour();
    rig.close().await;
    Ok(())
}

/// The team of the benchmark, with one patient and [`MEMBERS`] members
/// besides the author, each signed in.
struct Ward {
    team: String,
    patient: String,
    /// A session cookie per member.
    cookies: Vec<String>,
}

impl Ward {
    async fn make(rig: &Rig) -> anyhow::Result<Self> {
        let team = rig.new_team("Urgent bench").await?;
        let list = rig.new_list(&team, "Ward").await?;
        let added = rig
            .post(
                &format!("{list}/patients"),
                json!({"fields": {"family": "Bench", "given": "Patient", "mrn": "U0001"}}),
            )
            .await?;
        let patient = added["row"]["patientId"]
            .as_str()
            .or_else(|| added["patientId"].as_str())
            .context("the new patient's id")?
            .to_owned();
        let mut cookies = Vec::new();
        for i in 0..MEMBERS {
            let username = format!("nurse{i}");
            rig.app
                .create_user(
                    Caller::Console,
                    &NewUserInput {
                        username: username.clone(),
                        display_name: format!("Nurse {i}"),
                        password: Some(PASSWORD.into()),
                        admin: false,
                    },
                )
                .await?;
            rig.post(
                &format!("/api/v1/teams/{team}/members"),
                json!({"username": username, "role": "member"}),
            )
            .await?;
            cookies.push(sign_in_cookie(&rig.api.base, &username).await?);
        }
        Ok(Self {
            team,
            patient,
            cookies,
        })
    }

    fn note_path(&self) -> String {
        format!(
            "/api/v1/teams/{}/patients/{}/notes",
            self.team, self.patient
        )
    }
}

/// The open screens: what each saw, and when each note was sent (by its
/// number; one more than the notes, for the re-notified one).
struct Screens {
    sent_at: Arc<Mutex<Vec<Option<Instant>>>>,
    seen_by: Vec<Arc<Mutex<Seen>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Screens {
    /// Opens `screens` screens shared among the members, each with a
    /// connection of its own for the feed and reads over a shared pool;
    /// returns once every feed is ready.
    async fn open(rig: &Rig, ward: &Ward, screens: usize, notes: usize) -> anyhow::Result<Self> {
        let feed = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()?;
        let reader = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()?;
        let sent_at: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; notes + 1]));
        let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(screens.max(1));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut seen_by = Vec::new();
        let mut tasks = Vec::new();
        for i in 0..screens {
            let seen = Arc::new(Mutex::new(Seen::default()));
            seen_by.push(seen.clone());
            tasks.push(tokio::spawn(screen(
                feed.clone(),
                reader.clone(),
                rig.api.base.clone(),
                ward.team.clone(),
                ward.cookies[i % ward.cookies.len()].clone(),
                sent_at.clone(),
                seen,
                ready_tx.clone(),
                stop_rx.clone(),
            )));
        }
        drop(ready_tx);
        for _ in 0..screens {
            tokio::time::timeout(Duration::from_secs(120), ready_rx.recv())
                .await
                .context("screens did not open")?;
        }
        Ok(Self {
            sent_at,
            seen_by,
            tasks,
            stop: stop_tx,
        })
    }

    /// Closes every screen (each awaited for 5 s at most).
    async fn close(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
    }
}

/// The urgent notes' delivery to every screen, and the reads after it.
async fn print_delivery(seen_by: &[Arc<Mutex<Seen>>], screens: usize, notes: usize) {
    let mut events = Vec::new();
    let mut reads = Vec::new();
    let mut note_reads = Vec::new();
    for s in seen_by {
        let s = s.lock().await;
        events.extend(s.events.iter().copied());
        reads.extend(s.reads.iter().copied());
        note_reads.extend(s.note_reads.iter().copied());
    }
    events.sort();
    reads.sort();
    note_reads.sort();
    let expected = screens * notes;
    println!(
        "urgent note to {screens} open screens ({MEMBERS} members), {notes} notes: {} of {expected} events delivered",
        events.len()
    );
    println!(
        "  POST → event on the screen: p50 {}, p99 {}, max {}",
        ms(percentile(&events, 50.0)),
        ms(percentile(&events, 99.0)),
        ms(events.last().copied().unwrap_or_default())
    );
    println!(
        "  POST → the screen's read of every open note answered (before): p50 {}, p99 {} ({} reads) = {:.1}x the event's p99",
        ms(percentile(&reads, 50.0)),
        ms(percentile(&reads, 99.0)),
        reads.len(),
        percentile(&reads, 99.0).as_secs_f64() / percentile(&events, 99.0).as_secs_f64().max(1e-9)
    );
    println!(
        "  POST → the screen's read of the one note the event names answered: p50 {}, p99 {} ({} reads) = {:.1}x the event's p99, {:.2}x the read of every open note",
        ms(percentile(&note_reads, 50.0)),
        ms(percentile(&note_reads, 99.0)),
        note_reads.len(),
        percentile(&note_reads, 99.0).as_secs_f64() / percentile(&events, 99.0).as_secs_f64().max(1e-9),
        percentile(&note_reads, 99.0).as_secs_f64() / percentile(&reads, 99.0).as_secs_f64().max(1e-9)
    );
    let p99 = percentile(&note_reads, 99.0).max(percentile(&events, 99.0));
    println!(
        "  goal p99 under 1 s at {screens} screens: {}",
        if events.len() == expected && p99 < Duration::from_secs(1) {
            "met"
        } else {
            "NOT met"
        }
    );
}

/// Re-notification on the real clock: a 1 s interval, watched by the
/// screens that are open; how late each repeat came.
async fn renotified_on_the_clock(
    rig: &Rig,
    ward: &Ward,
    open: &Screens,
    notes: usize,
    repeats: usize,
) -> anyhow::Result<()> {
    rig.api
        .send(
            reqwest::Method::PUT,
            &format!("/api/v1/teams/{}/urgent-rule", ward.team),
            Some(json!({"intervalSecs": 1, "escalateAfter": 100})),
        )
        .await?;
    for s in &open.seen_by {
        s.lock().await.renotified.clear();
    }
    let sent = Instant::now();
    open.sent_at.lock().await[notes] = Some(sent);
    rig.post(
        &ward.note_path(),
        json!({"body": format!("urgent bench {notes}"), "urgent": {"to": "team"}}),
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(1000 * repeats as u64 + 1500)).await;
    // How late each repeat came, against sent + k seconds, on the first
    // screen (all screens get the same event).
    let late: Vec<(i64, Duration)> = {
        let s = open.seen_by.first().context("no screens")?.lock().await;
        let mut v: Vec<(i64, Duration)> = s
            .renotified
            .iter()
            .filter(|(k, _)| *k >= 1)
            .map(|(k, at)| {
                let ideal = sent + Duration::from_secs(u64::try_from(*k).unwrap_or(0));
                (*k, at.saturating_duration_since(ideal))
            })
            .collect();
        v.sort_by_key(|(k, _)| *k);
        v
    };
    let mut lateness: Vec<Duration> = late.iter().map(|(_, d)| *d).collect();
    lateness.sort();
    let first = late.first().map(|(_, d)| *d).unwrap_or_default();
    let last = late.last().map(|(_, d)| *d).unwrap_or_default();
    println!(
        "re-notification, 1 s interval, {} repeats seen (asked {repeats}): lateness p50 {}, max {}; first {} → last {} (drift {:+.1} ms over {} s)",
        late.len(),
        ms(percentile(&lateness, 50.0)),
        ms(lateness.last().copied().unwrap_or_default()),
        ms(first),
        ms(last),
        (last.as_secs_f64() - first.as_secs_f64()) * 1000.0,
        late.last().map(|(k, _)| *k).unwrap_or(0)
    );
    Ok(())
}

/// The schedule over an hour of simulated time: a note sent at 0, a
/// 5-minute interval, a clock that wakes every second and is up to 50 ms
/// late each time (a fixed pseudo-random sequence), each alert computed
/// with the server's `next_after`. Prints how late each alert is against
/// sent + k × interval, and the drift from the first to the last.
fn simulated_hour() {
    const INTERVAL_SECS: i64 = 300;
    let sent = 1_000_000_i64;
    let mut due = sent + INTERVAL_SECS * 1000;
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut late = Vec::new();
    let mut tick = sent;
    while tick <= sent + 3_600_000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let wake = tick + i64::try_from(seed % 51).unwrap_or(0);
        if wake >= due {
            let k = (due - sent) / (INTERVAL_SECS * 1000);
            late.push(wake - (sent + k * INTERVAL_SECS * 1000));
            due = rounds_core::urgent::next_after(
                Timestamp::from_millis(due),
                Timestamp::from_millis(wake),
                INTERVAL_SECS,
            )
            .millis();
        }
        tick += 1000;
    }
    let first = late.first().copied().unwrap_or(0);
    let last = late.last().copied().unwrap_or(0);
    let max = late.iter().copied().max().unwrap_or(0);
    println!(
        "re-notification over a simulated hour (5 min interval, 1 s clock, ≤ 50 ms late wake-ups): {} alerts, lateness max {max} ms, first {first} ms → last {last} ms (drift {:+} ms)",
        late.len(),
        last - first
    );
}
