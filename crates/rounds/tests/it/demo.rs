//! `rounds demo`: one command gives a running Rounds with a ward list fed
//! by the built-in sandbox EHR; its ward can also be written as a
//! transaction Bundle that a real FHIR server (sekmet) accepts.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use reqwest::StatusCode;
use serde_json::Value;

use crate::common::Sekmet;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_serves_a_ward_list_with_ehr_columns() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rounds"))
        .args(["demo", "--listen", "127.0.0.1:0"])
        .env("ROUNDS_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut printed = String::new();
    let (mut base, mut password, mut list, mut dir) = (None, None, None, None);
    for line in lines.by_ref() {
        let line = line.unwrap();
        printed.push_str(&line);
        printed.push('\n');
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("Rounds demo is running at ") {
            base = Some(rest.trim_end_matches('/').to_owned());
        } else if let Some(rest) = t.strip_prefix("password:") {
            password = Some(rest.trim().to_owned());
        } else if let Some(rest) = t.strip_prefix("the ward list:") {
            list = Some(rest.trim().to_owned());
        } else if let Some(rest) = t.strip_prefix("Demo data lives in ") {
            dir = rest.split_whitespace().next().map(std::path::PathBuf::from);
            break;
        }
    }
    let (Some(base), Some(password), Some(list), Some(dir)) = (base, password, list, dir) else {
        panic!("rounds demo did not say where to sign in:\n{printed}");
    };
    assert!(dir.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "the demo's directory is private as serve's is");
    }
    let (http, _) = crate::common::signed_in(&base, "demo", &password).await;
    // The page the demo names, and its data through the API.
    let page = http.get(&list).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let api = list.replacen(&base, &format!("{base}/api/v1"), 1);
    let view: Value = http.get(&api).send().await.unwrap().json().await.unwrap();
    let rows = view["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 36, "{view}");
    assert_eq!(view["ehr"]["state"], "ok", "{}", view["ehr"]);
    assert_eq!(view["ehr"]["pending"], false);
    let ehr_columns = view["columns"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["source"] == "ehr")
        .count();
    assert!(ehr_columns >= 8, "{}", view["columns"]);
    for row in rows {
        let d = &row["display"];
        assert!(d["location"].as_str().unwrap().starts_with("Ward "), "{d}");
        assert!(!d["name"].as_str().unwrap().is_empty(), "{d}");
        assert!(d["heartRate"].as_str().unwrap().ends_with(" bpm"), "{d}");
        assert!(d["bloodPressure"].as_str().unwrap().contains('/'), "{d}");
        assert_eq!(row["cells"]["heartRate"]["state"], "ok");
        assert!(
            row["cells"]["news2"]["risk"].is_string(),
            "{}",
            row["cells"]
        );
    }

    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(!dir.exists(), "the demo's data is deleted when it stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_ward_loads_into_a_real_fhir_server() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ward.json");
    let out = Command::new(env!("CARGO_BIN_EXE_rounds"))
        .args(["demo", "--patients", "4", "--days", "1", "--write-bundle"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bundle: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(bundle["type"], "transaction");
    let entries = bundle["entry"].as_array().unwrap();
    let patients = entries
        .iter()
        .filter(|e| e["resource"]["resourceType"] == "Patient")
        .count();
    assert_eq!(patients, 4);

    let sekmet = Sekmet::start();
    sekmet.load(&bundle).await;
    let found: Value = reqwest::get(format!("{}/Patient?_count=1", sekmet.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["total"], 4, "{found}");
    let obs: Value = reqwest::get(format!(
        "{}/Observation?category=vital-signs&_count=1",
        sekmet.base
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert!(obs["total"].as_u64().unwrap() > 20, "{obs}");
}

fn demo_bundle(args: &[&str]) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_rounds"))
        .args([
            "demo",
            "--patients",
            "3",
            "--days",
            "1",
            "--write-bundle",
            "-",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn the_seed_and_time_fix_the_written_ward() {
    let at = ["--as-of", "2026-03-04T05:06:07Z"];
    let first = demo_bundle(&at);
    assert_eq!(first, demo_bundle(&at), "same seed and time, same bytes");
    // The default seed is the one --help names.
    let help = Command::new(env!("CARGO_BIN_EXE_rounds"))
        .args(["demo", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    let seed = help
        .split("--seed <N>")
        .nth(1)
        .and_then(|rest| rest.split("[default: ").nth(1))
        .and_then(|rest| rest.split(']').next())
        .unwrap_or_else(|| panic!("--help names the default seed:\n{help}"))
        .to_owned();
    assert_eq!(first, demo_bundle(&[at[0], at[1], "--seed", &seed]));
    assert_ne!(first, demo_bundle(&[at[0], at[1], "--seed", "12345"]));
    // Without --as-of a written ward is anchored to the day: two runs agree.
    assert_eq!(demo_bundle(&[]), demo_bundle(&[]));
    let text = String::from_utf8(first).unwrap();
    assert!(text.contains("2026-03-0"), "times lie before --as-of");
    assert!(!text.contains("2026-03-04T06"), "nothing after --as-of");
}

#[test]
fn commands_offer_only_the_options_they_use() {
    let help = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_rounds"))
            .args(args)
            .arg("--help")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    for cmd in [&["demo"][..], &["ehr", "probe"], &["ehr", "check"]] {
        let text = help(cmd);
        for option in [
            "--data-dir",
            "--database-url",
            "--config",
            "--db-max-connections",
        ] {
            assert!(!text.contains(option), "{cmd:?} offers {option}:\n{text}");
        }
    }
    for cmd in [&["serve"][..], &["user", "list"], &["audit", "verify"]] {
        let text = help(cmd);
        assert!(text.contains("--database-url"), "{cmd:?}:\n{text}");
    }
    // What a command does not use is refused, not silently ignored.
    let out = Command::new(env!("CARGO_BIN_EXE_rounds"))
        .args([
            "demo",
            "--config",
            "/nonexistent.toml",
            "--write-bundle",
            "-",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--config"));
}
