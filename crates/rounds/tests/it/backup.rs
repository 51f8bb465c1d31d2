//! `rounds backup` while writes go on, then `rounds restore` into a new
//! place: every write acknowledged before the backup began is in the
//! restored database, a `rounds serve` on it works, and its audit verifies.

use std::process::Stdio;
use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use serde_json::json;

use crate::cli::{rounds, stop_server, wait_until_running};
use crate::common::{Backend, Client, TestApp, PASSWORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_writes_restores_into_a_working_rounds() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.user("nurse", false).await;
    let nurse = app.client("nurse").await;
    let team = nurse.create_team("Ward 9").await;
    let list = nurse
        .post(
            &format!("/api/v1/teams/{team}/lists"),
            json!({"name": "Round"}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let patients = format!("/api/v1/teams/{team}/lists/{list}/patients");

    // A writer adds patients as fast as it can; what was acknowledged, in order.
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (acked, stop, patients) = (acked.clone(), stop.clone(), patients.clone());
        let mut nurse = Client::new(&app);
        nurse.sign_in("nurse", PASSWORD).await;
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                n += 1;
                let name = format!("BK-{n:05}");
                let r = nurse
                    .post(
                        &patients,
                        json!({"fields": {"family": "Backuptest", "mrn": name}}),
                    )
                    .await;
                assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
                acked.lock().unwrap().push(name);
            }
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rounds-backup.db");
    let before: Vec<String> = acked.lock().unwrap().clone();
    let out = tokio::task::spawn_blocking({
        let (url, file) = (app.db.url.clone(), file.clone());
        move || {
            rounds()
                .args(["backup", "--database-url", &url])
                .arg(&file)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    writer.await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        before.len() >= 5,
        "writes ran before the backup: {}",
        before.len()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the copy is the owner's only");
    }
    // A second backup never overwrites the first.
    let again = rounds()
        .args(["backup", "--database-url", &app.db.url])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    app.stop().await;

    // Restore into a new data directory; a file that is no Rounds database is refused.
    let data = dir.path().join("restored");
    let bogus = dir.path().join("bogus.db");
    std::fs::write(&bogus, "not a database").unwrap();
    let out = rounds()
        .args(["restore", "--data-dir"])
        .arg(&data)
        .arg(&bogus)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a Rounds database"));
    let out = rounds()
        .args(["restore", "--data-dir"])
        .arg(&data)
        .arg(&file)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(printed.contains("audit log intact"), "{printed}");
    // Never over an existing database.
    let out = rounds()
        .args(["restore", "--data-dir"])
        .arg(&data)
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("restore never overwrites"));

    // A Rounds on the restored database has every acknowledged patient.
    let mut child = rounds()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env("ROUNDS_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (base, _) = wait_until_running(&mut child);
    let (http, _) = crate::common::signed_in(&base, "nurse", PASSWORD).await;
    let view: serde_json::Value = http
        .get(format!("{base}/api/v1/teams/{team}/lists/{list}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = view["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["display"]["mrn"].as_str())
        .collect();
    for name in &before {
        assert!(
            names.contains(&name.as_str()),
            "{name} acknowledged before the backup, missing"
        );
    }
    stop_server(child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_is_backed_up_with_its_own_tools() {
    let db = crate::common::TestDb::new(Backend::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let out = rounds()
        .args(["backup", "--database-url", &db.url])
        .arg(dir.path().join("x.db"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pg_dump"), "{err}");
    assert!(!dir.path().join("x.db").exists());
}
