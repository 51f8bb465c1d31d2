//! `rounds ehr probe|search|patient|check` against a real FHIR R4 server:
//! sekmet-fhir (installed by scripts/test.sh, path in ROUNDS_TEST_SEKMET),
//! seeded with its own `seed` command.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{sekmet_exe, Sekmet};

fn rounds(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rounds"))
        .args(args)
        .env_remove("ROUNDS_EHR_AUTH")
        .env_remove("ROUNDS_EHR_CLIENT_SECRET")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn ehr_commands_against_sekmet() {
    let s = Sekmet::start();
    // Wait for the FHIR API itself (the port opens a moment earlier).
    let started = Instant::now();
    loop {
        let o = rounds(&["ehr", "probe", &s.base]);
        if o.status.success() {
            let out = stdout(&o);
            assert!(out.contains("R4 (CapabilityStatement 4.0.1)"), "{out}");
            assert!(out.contains("batch:       yes"), "{out}");
            assert!(
                out.contains("Patient              declared, search parameters: all"),
                "{out}"
            );
            assert!(out.contains("MedicationOrder      not declared"), "{out}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "probe never succeeded: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let seed = Command::new(sekmet_exe())
        .args(["seed", "--count", "2", "--admit"])
        .current_dir(s.dir.path())
        .env("SEKMET_BASE_URL", &s.base)
        .output()
        .unwrap();
    assert!(
        seed.status.success(),
        "{}",
        String::from_utf8_lossy(&seed.stderr)
    );

    // search: JSON, then the text form by family.
    let o = rounds(&["ehr", "search", &s.base, "--json"]);
    assert!(o.status.success());
    let found: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(found["total"], 2);
    assert_eq!(found["via_post"], true);
    let first = &found["patients"][0];
    let id = first["id"].as_str().unwrap().to_owned();
    let family = first["family"].as_str().unwrap().to_owned();
    let o = rounds(&["ehr", "search", &s.base, "--family", &family]);
    let out = stdout(&o);
    assert!(out.contains(&id) && out.contains("total 1"), "{out}");

    // patient: the summary, JSON and text.
    let o = rounds(&["ehr", "patient", &s.base, &id, "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let sum: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(sum["patient"]["id"], id.as_str());
    assert!(sum["patient"]["mrn"].as_str().unwrap().starts_with("MRN"));
    for section in [
        "vitals",
        "conditions",
        "encounter",
        "allergies",
        "medications",
        "coverage",
    ] {
        assert!(
            sum[section]["status"].is_string(),
            "{section}: {}",
            sum[section]
        );
    }
    let o = rounds(&["ehr", "patient", &s.base, &id]);
    let out = stdout(&o);
    assert!(
        out.contains(&format!("(Patient/{id})")) && out.contains("vital signs: "),
        "{out}"
    );
    let o = rounds(&["ehr", "patient", &s.base, "no-such-patient"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("404"));

    // check: every mandatory part passes on sekmet.
    let o = rounds(&["ehr", "check", &s.base, "--patient", &id]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains(" 0 fail"), "{out}");
    assert!(
        out.contains("[pass       ] §2  Patient read (mandatory)"),
        "{out}"
    );
    assert!(out.contains("request: GET Coverage?beneficiary="), "{out}");
    let o = rounds(&["ehr", "check", &s.base, "--json"]);
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(report["items"].as_array().unwrap().len() > 30);
}

#[test]
fn ehr_check_fails_when_the_server_is_not_there() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}/fhir");
    let o = rounds(&["ehr", "check", &base, "--timeout", "2"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("[FAIL       ] §1  metadata answers"), "{out}");
    assert!(out.contains("MANDATORY"), "{out}");
    // Missing auth settings are a clear error, not a panic.
    let o = rounds(&["ehr", "probe", &base, "--auth", "client-secret-basic"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--client-id"));
}
