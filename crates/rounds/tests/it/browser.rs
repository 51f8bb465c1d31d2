//! The list pages in a real browser: headless Chromium, driven by
//! playwright-core from `tests/browser/list_flow.mjs`, against a real server.
//! A charge nurse (desktop, 1920×1080) signs in through the form, creates a
//! list, adds three patients, adds a choice column, sets values, sorts by
//! it and writes a note; a second browser context (a nurse's phone,
//! 375×812) on the same list sees the new value and the note appear
//! without reloading, and resolves an edit conflict. Then the columns are
//! managed from the page (rename, move, hide/show, remove, show a built-in
//! again), patients reordered by hand, moved to a second list and taken off,
//! and on the patient page a field is edited and an own note edited and
//! deleted, each seen live on the phone. Last the server is stopped under
//! the open pages (the script asks with "@@stop"/"@@start" lines, answered
//! on its stdin): they say "Reconnecting…", and once a new server runs on
//! the same address and database they are Live again and show the rename
//! made while they were away. Screenshots go to
//! `target/test-artifacts/`.
//!
//! Needs `ROUNDS_TEST_CHROMIUM` (the browser) and `ROUNDS_TEST_NODE_MODULES`
//! (a node_modules with playwright-core), which scripts/test.sh installs and
//! sets, together with `ROUNDS_TEST_BROWSER_REQUIRED=1`: then anything
//! missing fails the test. Under a plain `cargo test` without them the
//! test says it was skipped and passes.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use rounds_app::Actor;
use rounds_core::audit::ClientInfo;
use rounds_core::{ListId, TeamId};

use crate::common::{Backend, TestApp, PASSWORD};

const TIME_LIMIT: Duration = Duration::from_secs(180);

fn setting(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ward_round_in_chromium() {
    let required = setting("ROUNDS_TEST_BROWSER_REQUIRED").is_some_and(|v| v == "1");
    let (chromium, node_modules) = match (
        setting("ROUNDS_TEST_CHROMIUM"),
        setting("ROUNDS_TEST_NODE_MODULES"),
    ) {
        (Some(c), Some(n)) => (c, n),
        _ if required => panic!(
            "the browser test needs ROUNDS_TEST_CHROMIUM and ROUNDS_TEST_NODE_MODULES \
             (scripts/test.sh installs Debian's chromium and playwright-core and sets them)"
        ),
        _ => {
            eprintln!("skipped: run scripts/test.sh (it installs chromium and playwright-core)");
            return;
        }
    };
    assert!(
        std::path::Path::new(&chromium).exists(),
        "ROUNDS_TEST_CHROMIUM={chromium} does not exist: install Debian's chromium"
    );
    assert!(
        std::path::Path::new(&node_modules)
            .join("playwright-core")
            .exists(),
        "no playwright-core in ROUNDS_TEST_NODE_MODULES={node_modules}"
    );
    let node = setting("ROUNDS_TEST_NODE").unwrap_or_else(|| "node".into());

    let mut app = TestApp::spawn(Backend::Sqlite).await;
    app.user("charge", false).await;
    app.user("nurse", false).await;
    let charge = app.client("charge").await;
    let team = charge.create_team("Ward 7B").await;
    let r = charge
        .post(
            &format!("/api/v1/teams/{team}/members"),
            json!({"username": "nurse"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);

    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let script = manifest.join("tests/browser/list_flow.mjs");
    let artifacts = manifest.join("../../target/test-artifacts");
    std::fs::create_dir_all(&artifacts).expect("create target/test-artifacts");

    let mut child = Command::new(&node)
        .arg(&script)
        .env("ROUNDS_URL", app.url(""))
        .env("ROUNDS_TEAM_ID", &team)
        .env("ROUNDS_PASSWORD", PASSWORD)
        .env("ROUNDS_CHROMIUM", &chromium)
        .env("ROUNDS_NODE_MODULES", &node_modules)
        .env("ROUNDS_ARTIFACTS", &artifacts)
        .env("ROUNDS_CONTROL", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {node} (Node.js is needed): {e}"));
    // The script asks for server restarts with "@@…" lines on its stdout
    // and waits for one answer line on its stdin; other lines are kept.
    let mut control = child.stdin.take().expect("node stdin");
    let (lines_tx, lines) = mpsc::channel::<String>();
    let reader = {
        let out = child.stdout.take().expect("node stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = lines_tx.send(line);
            }
        })
    };
    let mut stdout_lines = Vec::new();
    let started = Instant::now();
    let status = loop {
        while let Ok(line) = lines.try_recv() {
            match line.strip_prefix("@@") {
                Some(command) => {
                    let answer = server_control(&mut app, &team, command).await;
                    let _ = writeln!(control, "{answer}");
                    let _ = control.flush();
                }
                None => stdout_lines.push(line),
            }
        }
        if let Some(status) = child.try_wait().expect("wait for node") {
            break Some(status);
        }
        if started.elapsed() > TIME_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let output = child.wait_with_output().expect("node output");
    let _ = reader.join();
    stdout_lines.extend(lines.try_iter().filter(|l| !l.starts_with("@@")));
    let stdout = stdout_lines.join("\n");
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stderr}");
    let status = status.unwrap_or_else(|| panic!("the browser run took over {TIME_LIMIT:?}"));
    assert!(
        status.success(),
        "the browser run failed ({status}):\n{stderr}\n{stdout}"
    );
    let summary: serde_json::Value = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no summary from the browser run: {stdout}"));
    assert_eq!(summary["ok"], true, "{summary}");
    for (what, key) in [
        ("value", "valueSeenAfterMs"),
        ("note", "noteSeenAfterMs"),
        ("removal", "removalSeenAfterMs"),
        ("note edit", "noteEditSeenAfterMs"),
        ("note deletion", "noteDeleteSeenAfterMs"),
    ] {
        let ms = summary[key].as_u64().expect("a time");
        assert!(ms < 3000, "the second screen saw the {what} after {ms} ms");
    }
    let ms = summary["reconnectedAfterMs"]
        .as_u64()
        .expect("the restart phase ran");
    assert!(ms < 10_000, "the pages came back {ms} ms after the restart");
    for shot in ["list-1920x1080.png", "list-375x812.png"] {
        let meta = std::fs::metadata(artifacts.join(shot)).expect("screenshot written");
        assert!(meta.len() > 10_000, "{shot} is suspiciously small");
    }
    app.stop().await;
}

/// Does what the script asked for with an "@@…" line and says how it went.
/// `stop <listId>`: stops the server, then (with no server running) renames
/// the list as the charge nurse, straight through the application, so the
/// pages can only learn of it once they are back. `start`: serves the same
/// database on the same address again.
async fn server_control(app: &mut TestApp, team: &str, command: &str) -> String {
    let mut words = command.split_whitespace();
    match (words.next(), words.next()) {
        (Some("stop"), Some(list)) => {
            app.stop_server().await;
            let (Ok(team), Ok(list)) = (team.parse::<TeamId>(), list.parse::<ListId>()) else {
                return format!("error: bad ids in {command:?}");
            };
            let user = match app.app.user_by_username("charge").await {
                Ok(u) => u,
                Err(e) => return format!("error: {e}"),
            };
            let actor = Actor {
                user,
                client: ClientInfo::default(),
            };
            match app
                .app
                .rename_list(&actor, team, list, "Morning round (after restart)")
                .await
            {
                Ok(_) => "ok stopped".into(),
                Err(e) => format!("error: {e}"),
            }
        }
        (Some("start"), None) => {
            app.restart_server().await;
            "ok started".into()
        }
        _ => format!("error: unknown command {command:?}"),
    }
}
