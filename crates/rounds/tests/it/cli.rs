//! The binary itself: first-start bootstrap (once only), graceful shutdown,
//! the user commands, and clear failures for a database it cannot use.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::both;
use crate::common::{Backend, Client, TestApp, TestDb};

pub fn rounds() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rounds"));
    cmd.env_remove("ROUNDS_DATABASE_URL")
        .env_remove("ROUNDS_DATA_DIR")
        .env_remove("ROUNDS_CONFIG")
        // No key file next to the tests: the key comes from the environment.
        .env("ROUNDS_SECRET_KEY", crate::common::TEST_SECRET_KEY);
    cmd
}

/// Starts `rounds serve` on a free port; returns the child, its base URL and
/// everything it printed before it said it was running.
pub fn start_server(db: &TestDb) -> (Child, String, String) {
    let mut child = rounds()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &db.url,
        ])
        .env("ROUNDS_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start rounds serve");
    let (base, printed) = wait_until_running(&mut child);
    (child, base, printed)
}

/// Reads what `rounds serve` prints until it says it is running; returns
/// its base URL and everything printed.
pub fn wait_until_running(child: &mut Child) -> (String, String) {
    let stdout = child.stdout.take().expect("stdout");
    let mut printed = String::new();
    let mut base = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read stdout");
        printed.push_str(&line);
        printed.push('\n');
        if let Some(rest) = line.strip_prefix("Rounds is running at ") {
            base = rest
                .split_whitespace()
                .next()
                .map(|u| u.trim_end_matches('/').to_owned());
            break;
        }
    }
    let base = base.unwrap_or_else(|| panic!("rounds serve did not start:\n{printed}"));
    (base, printed)
}

pub fn stop_server(mut child: Child) {
    let pid = child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "graceful shutdown exits 0, got {status}");
            return;
        }
        assert!(Instant::now() < deadline, "rounds did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn one_time_password(printed: &str) -> Option<String> {
    printed.lines().find_map(|l| {
        l.trim()
            .strip_prefix("one-time password:")
            .map(|p| p.trim().to_owned())
    })
}

async fn first_start_creates_one_admin_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (child, base, printed) = start_server(&db);
    let password = one_time_password(&printed)
        .unwrap_or_else(|| panic!("no one-time password in:\n{printed}"));
    assert!(printed.contains("username:          admin"), "{printed}");
    assert!(printed.contains(&format!("{base}/sign-in")), "{printed}");

    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let ready = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);

    // The one-time password signs in and must be replaced.
    let (_, reply) = crate::common::signed_in(&base, "admin", &password).await;
    assert_eq!(reply.body["user"]["mustChangePassword"], true);
    stop_server(child);

    // A second start finds the administrator and prints no password.
    let (child, _, printed) = start_server(&db);
    assert_eq!(one_time_password(&printed), None, "{printed}");
    stop_server(child);

    let list = rounds()
        .args(["user", "list", "--database-url", &db.url])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&list.stdout);
    assert_eq!(
        listed.lines().filter(|l| l.starts_with("admin ")).count(),
        1,
        "{listed}"
    );
    assert_eq!(
        listed.lines().count(),
        2,
        "header and one account: {listed}"
    );
}
both!(first_start_creates_one_admin_once);

async fn user_commands(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let url = app.db.url.clone();
    let run = |args: &[&str]| {
        let out = rounds()
            .args(args)
            .arg("--database-url")
            .arg(&url)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, text) = run(&["user", "add", "nurse.ann", "--name", "Ann Example"]);
    assert!(ok, "{text}");
    let otp = one_time_password(&text).expect("a one-time password");
    let mut c = Client::new(&app);
    assert_eq!(c.sign_in("nurse.ann", &otp).await.status, StatusCode::OK);

    let (ok, text) = run(&["user", "add", "nurse.ann", "--name", "Again"]);
    assert!(!ok);
    assert!(text.contains("taken"), "{text}");
    let (ok, text) = run(&["user", "add", "Bad Name", "--name", "X"]);
    assert!(!ok && text.contains("username"), "{text}");

    let (ok, text) = run(&["user", "reset-password", "nurse.ann"]);
    assert!(ok, "{text}");
    let new_otp = text.rsplit(": ").next().unwrap().trim().to_owned();
    assert_eq!(
        c.get("/api/v1/me").await.status,
        StatusCode::UNAUTHORIZED,
        "reset ends sessions"
    );
    assert_eq!(
        Client::new(&app).sign_in("nurse.ann", &otp).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        c.sign_in("nurse.ann", &new_otp).await.status,
        StatusCode::OK
    );

    let (ok, text) = run(&["user", "disable", "nurse.ann"]);
    assert!(ok, "{text}");
    assert_eq!(
        Client::new(&app)
            .sign_in("nurse.ann", &new_otp)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let (_, text) = run(&["user", "list"]);
    // Columns line up: every row's name starts where the header's does.
    let name_at = text.lines().next().and_then(|h| h.find(" NAME")).unwrap() + 1;
    for line in text.lines().filter(|l| !l.is_empty()) {
        assert_eq!(line.as_bytes()[name_at - 1], b' ', "{text}");
        assert_ne!(line.as_bytes()[name_at], b' ', "{text}");
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("nurse.ann") && l.ends_with("disabled")),
        "{text}"
    );
    let (ok, text) = run(&["user", "disable", "nobody"]);
    assert!(!ok && text.contains("user not found"), "{text}");
    app.stop().await;
}
both!(user_commands);

#[test]
fn unusable_databases_fail_clearly() {
    // Nothing listens on port 1: PostgreSQL cannot be reached.
    let out = rounds()
        .args([
            "user",
            "list",
            "--database-url",
            "postgres://rounds:secret@127.0.0.1:1/rounds",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot use the database postgres://rounds:***@127.0.0.1:1/rounds"),
        "{err}"
    );
    assert!(
        !err.contains("secret"),
        "the password stays out of messages: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    // A data directory that is a file: SQLite cannot create its database.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let out = rounds()
        .args(["user", "list", "--data-dir", file.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot create the data directory"), "{err}");

    // A file that is not a database.
    let bogus = dir.path().join("bogus.db");
    std::fs::write(&bogus, "this is not SQLite").unwrap();
    let url = format!("sqlite://{}", bogus.display());
    let out = rounds()
        .args(["audit", "verify", "--database-url", &url])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot use the database") && !err.contains("panicked"),
        "{err}"
    );

    // A bad setting is named.
    let out = rounds()
        .args(["serve", "--log-format", "xml"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--log-format") && err.contains("text, json"),
        "{err}"
    );

    // So is one in the configuration file, with the file and the key.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rounds.toml");
    std::fs::write(&file, "session_idle_timeout = 0\n").unwrap();
    let out = rounds()
        .args(["user", "list", "--config", file.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("rounds.toml") && err.contains("`session_idle_timeout = 0`"),
        "{err}"
    );
    std::fs::write(&file, "sesion_idle_timeout = 60\n").unwrap();
    let out = rounds()
        .env("ROUNDS_CONFIG", &file)
        .args(["user", "list"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`sesion_idle_timeout` is not a setting"),
        "{err}"
    );
}

/// A second key (32 bytes, base64), as another instance might be given.
const OTHER_SECRET_KEY: &str = "YW5vdGhlciBrZXkgZm9yIHRoZSByb3VuZHMgdGVzdHM=";

async fn one_secret_key_for_every_instance(backend: Backend) {
    let db = TestDb::new(backend).await;
    // The first start records the key's fingerprint, nothing sealed yet.
    let (child, _, _) = start_server(&db);
    stop_server(child);
    let show = |key: &str| {
        let out = rounds()
            .args(["secret-key", "show", "--database-url", &db.url])
            .env("ROUNDS_SECRET_KEY", key)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let shown = show(crate::common::TEST_SECRET_KEY);
    let expected = shown
        .lines()
        .find_map(|l| l.strip_prefix("the database expects: "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("{shown}"))
        .to_owned();
    assert!(
        shown.contains(&format!("configured here:      {expected}")),
        "{shown}"
    );

    // An instance with another key refuses to start and says which it needs.
    let out = rounds()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &db.url,
        ])
        .env("ROUNDS_SECRET_KEY", OTHER_SECRET_KEY)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&expected),
        "names the fingerprint expected: {err}"
    );
    assert!(
        err.contains("ROUNDS_SECRET_KEY"),
        "says how to give it: {err}"
    );
    assert!(!err.contains(OTHER_SECRET_KEY), "never prints a key: {err}");
    // So does one with no key at all (it would otherwise make its own).
    let dir = tempfile::tempdir().unwrap();
    let out = rounds()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &db.url,
        ])
        .arg("--secret-key-file")
        .arg(dir.path().join("new.key"))
        .env_remove("ROUNDS_SECRET_KEY")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("secret key is missing") && err.contains(&expected),
        "{err}"
    );
    assert!(!dir.path().join("new.key").exists(), "no key made");

    // While nothing is sealed, the key can be replaced on purpose.
    let out = rounds()
        .args(["secret-key", "replace", "--database-url", &db.url])
        .env("ROUNDS_SECRET_KEY", OTHER_SECRET_KEY)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!show(OTHER_SECRET_KEY).contains(&expected));
    let mut child = rounds()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &db.url,
        ])
        .env("ROUNDS_SECRET_KEY", OTHER_SECRET_KEY)
        .env("ROUNDS_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until_running(&mut child);
    stop_server(child);
}
both!(one_secret_key_for_every_instance);
