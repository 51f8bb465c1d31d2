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
//! deleted, each seen live on the phone. The patient page is live too: a
//! field and a note saved in a second tab of the nurse's session show on
//! the charge nurse's open patient page within 1 s, without a reload; and a
//! session signed out in another tab ends the live feed of its open patient
//! and list pages, which say why and do not reconnect. Last the server is stopped under
//! the open pages (the script asks with "@@stop"/"@@start" lines, answered
//! on its stdin): they say "Reconnecting…", and once a new server runs on
//! the same address and database they are Live again and show the rename
//! made while they were away. Screenshots go to
//! `target/test-artifacts/`.
//!
//! A second run, `tests/browser/ehr_flow.mjs`, covers EHR mode against a
//! real FHIR R4 server (sekmet-fhir, seeded with a transaction Bundle of
//! ours): an owner connects the team's EHR from its page (a refused address
//! is explained at its field; "Test connection" shows R4, batch, what is
//! offered and every check; Save), searches the EHR from a list by family
//! name, adds two patients, adds the HR, BP, Problems and Coverage columns
//! and sees their values, ages and reasons; a member on a phone sees the
//! connection's name and health but not its address, and taps a cell for
//! its details; the patient page shows every EHR section; a patient typed
//! in by hand is linked to their record (and the nurse's open patient page
//! of that patient shows the EHR data without a reload; a re-read of the
//! EHR asked for on another screen reaches the open patient page, live,
//! through the list's `ehrRefreshed` notice); last the FHIR server is stopped
//! ("@@fhir-stop"): the list shows the outage banner and keeps its
//! patients, and recovers once it runs again ("@@fhir-start").
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

use crate::common::{Backend, Sekmet, TestApp, PASSWORD};

const TIME_LIMIT: Duration = Duration::from_secs(420);

fn setting(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// What the browser runs need: Chromium, playwright-core and Node.
pub(crate) struct Tools {
    chromium: String,
    node_modules: String,
    node: String,
}

/// The browser tools, or None when they are missing and not required (the
/// test is then skipped).
pub(crate) fn browser_tools() -> Option<Tools> {
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
            return None;
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
    Some(Tools {
        chromium,
        node_modules,
        node,
    })
}

/// What the script's "@@…" lines act on.
pub(crate) enum Control<'a> {
    /// Nothing: the script asks for no restarts.
    None,
    /// The Rounds server (`stop <listId>`, `start`).
    Rounds { app: &'a mut TestApp, team: &'a str },
    /// The FHIR server (`fhir-stop`, `fhir-start`), and while it is
    /// stopped its data directory and port.
    Fhir {
        sekmet: &'a mut Option<Sekmet>,
        stopped: Option<(tempfile::TempDir, u16)>,
    },
}

/// Runs a browser script with `envs` (besides the tools' and the
/// artifacts' places), answering its "@@…" requests through `control`;
/// answers its JSON summary (the last stdout line). Panics when it fails.
pub(crate) async fn run_script(
    tools: &Tools,
    script: &str,
    envs: &[(&str, String)],
    mut control: Control<'_>,
) -> serde_json::Value {
    // One browser run at a time: two Chromiums at once on a small machine
    // distort the scripts' timing checks (an alert within 1 s).
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = ONE_AT_A_TIME.lock().await;
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let script = manifest.join("tests/browser").join(script);
    let artifacts = manifest.join("../../target/test-artifacts");
    std::fs::create_dir_all(&artifacts).expect("create target/test-artifacts");
    let node = &tools.node;
    let mut command = Command::new(node);
    command
        .arg(&script)
        .env("ROUNDS_CHROMIUM", &tools.chromium)
        .env("ROUNDS_NODE_MODULES", &tools.node_modules)
        .env("ROUNDS_ARTIFACTS", &artifacts)
        .env("ROUNDS_CONTROL", "1");
    for (k, v) in envs {
        command.env(k, v);
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {node} (Node.js is needed): {e}"));
    // The script asks for server restarts with "@@…" lines on its stdout
    // and waits for one answer line on its stdin; other lines are kept.
    let mut answers = child.stdin.take().expect("node stdin");
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
                    let answer = match &mut control {
                        Control::None => format!("error: no control for {command:?}"),
                        Control::Rounds { app, team } => server_control(app, team, command).await,
                        Control::Fhir { sekmet, stopped } => {
                            fhir_control(sekmet, stopped, command).await
                        }
                    };
                    let _ = writeln!(answers, "{answer}");
                    let _ = answers.flush();
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
    summary
}

fn artifact(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/test-artifacts")
        .join(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ward_round_in_chromium() {
    let Some(tools) = browser_tools() else {
        return;
    };

    let mut app = TestApp::spawn(Backend::Sqlite).await;
    app.user("charge", false).await;
    app.user("nurse", false).await;
    let charge = app.client("charge").await;
    let team = charge.create_team("Ward 7B").await;
    charge.add_member(&team, json!({"username": "nurse"})).await;

    let url = app.url("");
    let summary = run_script(
        &tools,
        "list_flow.mjs",
        &[
            ("ROUNDS_URL", url),
            ("ROUNDS_TEAM_ID", team.clone()),
            ("ROUNDS_PASSWORD", PASSWORD.to_owned()),
        ],
        Control::Rounds {
            app: &mut app,
            team: &team,
        },
    )
    .await;
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
        let meta = std::fs::metadata(artifact(shot)).expect("screenshot written");
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

/// Stops and starts the FHIR server under the open pages: `fhir-stop` kills
/// it (keeping its data), `fhir-start` serves the same data on the same
/// port again and answers once its API does.
async fn fhir_control(
    sekmet: &mut Option<Sekmet>,
    stopped: &mut Option<(tempfile::TempDir, u16)>,
    command: &str,
) -> String {
    match command {
        "fhir-stop" => match sekmet.take() {
            Some(s) => {
                *stopped = Some(s.stop());
                "ok stopped".into()
            }
            None => "error: the FHIR server is not running".into(),
        },
        "fhir-start" => match stopped.take() {
            Some((dir, port)) => {
                let s = Sekmet::start_in(dir, port);
                let ready = fhir_ready(&s.base).await;
                *sekmet = Some(s);
                if ready {
                    "ok started".into()
                } else {
                    "error: the FHIR server did not answer after its restart".into()
                }
            }
            None => "error: the FHIR server was not stopped".into(),
        },
        other => match other.strip_prefix("fhir-vital ") {
            // A new respiratory rate of 23/min for the EHR patient with this id.
            Some(ehr_id) => match sekmet.as_ref() {
                Some(s) => {
                    let mut rr = vital_sign(0, "9279-1", "Respiratory rate", 23.0, "/min", 1);
                    rr["subject"] = json!({ "reference": format!("Patient/{}", ehr_id.trim()) });
                    s.load(&json!({
                        "resourceType": "Bundle",
                        "type": "transaction",
                        "entry": [{"resource": rr, "request": {"method": "POST", "url": "Observation"}}],
                    }))
                    .await;
                    "ok loaded".into()
                }
                None => "error: the FHIR server is not running".into(),
            },
            None => format!("error: unknown command {command:?}"),
        },
    }
}

/// Waits until the FHIR server's metadata answers (its port opens earlier).
async fn fhir_ready(base: &str) -> bool {
    let http = reqwest::Client::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if let Ok(r) = http.get(format!("{base}/metadata")).send().await {
            if r.status().is_success() {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    false
}

/// The family name the seeded patients share.
const FAMILY: &str = "Brightwater";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ehr_mode_in_chromium() {
    let Some(tools) = browser_tools() else {
        return;
    };
    let sekmet = Sekmet::start();
    assert!(fhir_ready(&sekmet.base).await, "sekmet did not answer");
    let fhir_base = sekmet.base.clone();
    sekmet.load(&ward_bundle()).await;
    let mut sekmet = Some(sekmet);

    let app = TestApp::spawn(Backend::Sqlite).await;
    app.user("owner", false).await;
    app.user("nurse", false).await;
    let owner = app.client("owner").await;
    let team = owner.create_team("Ward 3").await;
    owner.add_member(&team, json!({"username": "nurse"})).await;
    let list = owner.create_list(&team, "Ward round").await;

    let summary = run_script(
        &tools,
        "ehr_flow.mjs",
        &[
            ("ROUNDS_URL", app.url("")),
            ("ROUNDS_TEAM_ID", team.clone()),
            ("ROUNDS_LIST_ID", list),
            ("ROUNDS_PASSWORD", PASSWORD.to_owned()),
            ("ROUNDS_FHIR_BASE", fhir_base),
            ("ROUNDS_FHIR_FAMILY", FAMILY.to_owned()),
        ],
        Control::Fhir {
            sekmet: &mut sekmet,
            stopped: None,
        },
    )
    .await;
    assert!(
        summary["checks"]["pass"].as_u64().unwrap_or(0) > 10,
        "{summary}"
    );
    assert!(
        summary.get("outageHeartRate").is_some(),
        "the outage phase ran: {summary}"
    );
    for shot in [
        "ehr-connection-1920x1080.png",
        "list-ehr-1920x1080.png",
        "list-ehr-375x812.png",
        "patient-ehr-1920x1080.png",
        "patient-ehr-375x812.png",
        "list-ehr-outage-1920x1080.png",
    ] {
        let meta = std::fs::metadata(artifact(shot)).expect("screenshot written");
        assert!(meta.len() > 10_000, "{shot} is suspiciously small");
    }
    app.stop().await;
    drop(sekmet);
}

/// Abnormal values on the 36-patient demo ward (the sandbox EHR): flags on
/// the list and the patient page, the team's range form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flags_on_the_demo_ward_in_chromium() {
    let Some(tools) = browser_tools() else {
        return;
    };
    let sandbox = crate::flags::sandbox(36).await;
    let latest = crate::flags::latest_from_fhir(&sandbox.base).await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let w = crate::flags::ward(&app, &sandbox.base, latest.keys()).await;
    crate::flags::settled(&w, "").await;
    let summary = run_script(
        &tools,
        "flags_flow.mjs",
        &[
            ("ROUNDS_URL", app.url("")),
            ("ROUNDS_TEAM_ID", w.team.clone()),
            ("ROUNDS_LIST_ID", w.list.clone()),
            ("ROUNDS_PASSWORD", PASSWORD.to_owned()),
        ],
        Control::Fhir {
            sekmet: &mut None,
            stopped: None,
        },
    )
    .await;
    assert_eq!(summary["ok"], true, "{summary}");
    for shot in [
        "flags-list-1920x1080.png",
        "flags-patient-1920x1080.png",
        "flags-team-ranges-1920x1080.png",
    ] {
        let meta = std::fs::metadata(artifact(shot)).expect("screenshot written");
        assert!(meta.len() > 10_000, "{shot} is suspiciously small");
    }
    app.stop().await;
}

/// RFC 3339 for `minutes` ago (UTC), so that the seeded vital signs are
/// recent whenever the test runs.
fn minutes_ago(minutes: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    let t = now - minutes * 60;
    let (days, secs) = (t / 86_400, t % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// A resource of the Bundle, created under a temporary `urn:uuid:` name.
fn bundle_entry(n: u32, resource: serde_json::Value) -> serde_json::Value {
    let kind = resource["resourceType"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    json!({
        "fullUrl": urn(n),
        "resource": resource,
        "request": {"method": "POST", "url": kind},
    })
}

fn urn(n: u32) -> String {
    format!("urn:uuid:6f1d2c3b-0000-4000-8000-{n:012}")
}

fn subject(n: u32) -> serde_json::Value {
    json!({ "reference": urn(n) })
}

fn coded(system: &str, code: &str, display: &str) -> serde_json::Value {
    json!({"coding": [{"system": system, "code": code, "display": display}], "text": display})
}

fn vital_sign(
    patient: u32,
    code: &str,
    display: &str,
    value: f64,
    unit: &str,
    ago: u64,
) -> serde_json::Value {
    let ucum = if unit == "°C" { "Cel" } else { unit };
    json!({
        "resourceType": "Observation",
        "status": "final",
        "category": [coded("http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs", "Vital Signs")],
        "code": coded("http://loinc.org", code, display),
        "subject": subject(patient),
        "effectiveDateTime": minutes_ago(ago),
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": ucum},
    })
}

fn blood_pressure(patient: u32, systolic: f64, diastolic: f64, ago: u64) -> serde_json::Value {
    let part = |code: &str, value: f64| {
        json!({
            "code": coded("http://loinc.org", code, if code == "8480-6" { "Systolic" } else { "Diastolic" }),
            "valueQuantity": {"value": value, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"},
        })
    };
    json!({
        "resourceType": "Observation",
        "status": "final",
        "category": [coded("http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs", "Vital Signs")],
        "code": coded("http://loinc.org", "85354-9", "Blood pressure panel"),
        "subject": subject(patient),
        "effectiveDateTime": minutes_ago(ago),
        "component": [part("8480-6", systolic), part("8462-4", diastolic)],
    })
}

/// Three patients named Brightwater: Ottilie (admitted, every section),
/// Caspian (admitted, a few vital signs and one problem, no coverage) and
/// Wren (not admitted, nothing else), as one transaction Bundle.
fn ward_bundle() -> serde_json::Value {
    let patient = |given: &str, mrn: &str, born: &str, gender: &str, gp: Option<&str>| {
        let mut p = json!({
            "resourceType": "Patient",
            "identifier": [{
                "type": coded("http://terminology.hl7.org/CodeSystem/v2-0203", "MR", "Medical record number"),
                "system": "urn:oid:2.16.840.1.113883.19.5.99",
                "value": mrn,
            }],
            "name": [{"use": "official", "family": FAMILY, "given": [given]}],
            "gender": gender,
            "birthDate": born,
        });
        if let Some(gp) = gp {
            p["generalPractitioner"] = json!([{ "display": gp }]);
        }
        p
    };
    let admission = |p: u32, bed: &str, hours_ago: u64| {
        json!({
            "resourceType": "Encounter",
            "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP", "display": "inpatient encounter"},
            "type": [coded("http://snomed.info/sct", "32485007", "Hospital admission")],
            "subject": subject(p),
            "period": {"start": minutes_ago(hours_ago * 60)},
            "location": [{"location": {"display": bed}, "status": "active"}],
        })
    };
    let condition = |p: u32, text: &str| {
        json!({
            "resourceType": "Condition",
            "clinicalStatus": coded("http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active"),
            "code": {"text": text},
            "subject": subject(p),
            "recordedDate": minutes_ago(3 * 24 * 60)[..10].to_owned(),
        })
    };
    let (ottilie, caspian, wren) = (1, 2, 3);
    json!({
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            bundle_entry(ottilie, patient("Ottilie", "BW-2201", "1946-05-14", "female", Some("Dr Imogen Park"))),
            bundle_entry(caspian, patient("Caspian", "BW-2202", "1979-02-03", "male", None)),
            bundle_entry(wren, patient("Wren", "BW-2203", "1990-07-21", "female", None)),
            bundle_entry(11, admission(ottilie, "Ward 3, Bed 4", 52)),
            bundle_entry(12, admission(caspian, "Ward 3, Bed 6", 20)),
            bundle_entry(21, vital_sign(ottilie, "8867-4", "Heart rate", 88.0, "/min", 40)),
            bundle_entry(22, vital_sign(ottilie, "8867-4", "Heart rate", 97.0, "/min", 26 * 60)),
            bundle_entry(23, blood_pressure(ottilie, 132.0, 84.0, 40)),
            bundle_entry(24, vital_sign(ottilie, "9279-1", "Respiratory rate", 18.0, "/min", 40)),
            bundle_entry(25, vital_sign(ottilie, "8310-5", "Body temperature", 37.9, "°C", 40)),
            bundle_entry(26, vital_sign(ottilie, "59408-5", "Oxygen saturation by pulse oximetry", 94.0, "%", 40)),
            bundle_entry(27, vital_sign(caspian, "8867-4", "Heart rate", 71.0, "/min", 130)),
            bundle_entry(28, blood_pressure(caspian, 118.0, 76.0, 130)),
            bundle_entry(31, condition(ottilie, "Community acquired pneumonia")),
            bundle_entry(32, condition(ottilie, "Hypertension")),
            bundle_entry(33, condition(caspian, "Asthma")),
            bundle_entry(41, json!({
                "resourceType": "AllergyIntolerance",
                "clinicalStatus": coded("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active", "Active"),
                "verificationStatus": coded("http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "confirmed", "Confirmed"),
                "code": {"text": "Penicillin"},
                "patient": subject(ottilie),
                "recordedDate": "2019-03-02",
                "reaction": [{"manifestation": [{"text": "Hives"}]}],
            })),
            bundle_entry(51, json!({
                "resourceType": "MedicationRequest",
                "status": "active",
                "intent": "order",
                "medicationCodeableConcept": {"text": "Amoxicillin 500 mg capsule"},
                "subject": subject(ottilie),
                "authoredOn": minutes_ago(50 * 60)[..10].to_owned(),
                "requester": {"display": "Dr Imogen Park"},
                "dosageInstruction": [{"text": "500 mg three times a day"}],
            })),
            bundle_entry(61, json!({
                "resourceType": "Coverage",
                "status": "active",
                "beneficiary": subject(ottilie),
                "payor": [{"display": "Northwind Health"}],
                "subscriberId": "NW-778812",
            })),
        ],
    })
}

/// The meeting view on the demo ward (36 sandbox EHR inpatients, 4 team
/// columns), at 1920×1080 and 3840×2160, with a second screen following
/// the presenter, mask mode and axe-core: `tests/browser/meeting_flow.mjs`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meeting_view_in_chromium() {
    let Some(tools) = browser_tools() else {
        return;
    };
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    app.user("chair", false).await;
    app.user("nurse", false).await;
    let chair = app.client("chair").await;
    let ward = crate::meeting::demo_ward(&chair, 36).await;
    let r = chair
        .post(
            &format!("/api/v1/teams/{}/members", ward.team),
            json!({"username": "nurse"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let default_set = chair.get(&ward.list_path("/meeting")).await;
    let columns = default_set.body["columns"].as_array().map_or(0, Vec::len);
    let words: Vec<String> = crate::meeting::identifiers(&ward)
        .into_iter()
        .filter(|w| !ward.mrns.contains(w))
        .collect();
    let team = ward.team.clone();
    let summary = run_script(
        &tools,
        "meeting_flow.mjs",
        &[
            ("ROUNDS_URL", app.url("")),
            ("ROUNDS_TEAM_ID", ward.team.clone()),
            ("ROUNDS_LIST_ID", ward.list.clone()),
            ("ROUNDS_PASSWORD", PASSWORD.to_owned()),
            ("ROUNDS_PATIENT_IDS", json!(ward.patients).to_string()),
            ("ROUNDS_NAME_WORDS", json!(words).to_string()),
            ("ROUNDS_MRNS", json!(ward.mrns).to_string()),
            ("ROUNDS_MEETING_COLUMNS", columns.to_string()),
            // demo_ward writes a note on every third patient.
            ("ROUNDS_NOTES", ward.patients.len().div_ceil(3).to_string()),
        ],
        Control::Rounds {
            app: &mut app,
            team: &team,
        },
    )
    .await;
    eprintln!("meeting view: {summary}");
    let latencies = summary["focusLatencyMs"].as_array().expect("latencies");
    assert!(
        latencies
            .iter()
            .all(|l| l.as_u64().is_some_and(|ms| ms < 1000)),
        "{summary}"
    );
    assert!(summary["at1080"]["bodyFontPx"].as_f64().unwrap_or(0.0) >= 24.0);
    for shot in [
        "meeting-1920x1080.png",
        "meeting-3840x2160.png",
        "meeting-masked-1920x1080.png",
    ] {
        let meta = std::fs::metadata(artifact(shot)).expect("screenshot written");
        assert!(meta.len() > 10_000, "{shot} is suspiciously small");
    }
    drop(ward);
    app.stop().await;
}

/// `rounds demo` as a new user starts it: its address, password and ward list.
struct Demo {
    child: std::process::Child,
    base: String,
    password: String,
    list_path: String,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_demo() -> Demo {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rounds"))
        .args(["demo", "--listen", "127.0.0.1:0"])
        .env("ROUNDS_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start rounds demo");
    let out = child.stdout.take().expect("demo stdout");
    let mut lines = BufReader::new(out).lines();
    let (mut base, mut password, mut list) = (None, None, None);
    for line in lines.by_ref().map_while(Result::ok) {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("Rounds demo is running at ") {
            base = Some(rest.trim_end_matches('/').to_owned());
        } else if let Some(rest) = t.strip_prefix("password:") {
            password = Some(rest.trim().to_owned());
        } else if let Some(rest) = t.strip_prefix("the ward list:") {
            list = Some(rest.trim().to_owned());
        } else if t.starts_with("Demo data lives in ") {
            break;
        }
    }
    let (Some(base), Some(password), Some(list)) = (base, password, list) else {
        let _ = child.kill();
        panic!("rounds demo did not say where to sign in");
    };
    // Keep reading what the demo prints: a closed pipe would end it at its
    // next line (a warning under load, say).
    std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
    let list_path = list.replacen(&base, "", 1);
    Demo {
        child,
        base,
        password,
        list_path,
    }
}

/// The bedside phone on the demo ward (tests/browser/phone_flow.mjs): the
/// list as cards with no sideways scroll, the first card's name, bed, HR
/// and SpO₂ on the first screen, every target at least 44 px, a desktop's
/// edit on the phone's card within 1 s and said in the polite live region,
/// a mistaken tick undone, no tick by a stray tap; sign-in lands on the
/// ward list; desktop density at 1440×900.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_round_on_the_demo_ward() {
    let Some(tools) = browser_tools() else {
        return;
    };
    let demo = start_demo();
    let summary = run_script(
        &tools,
        "phone_flow.mjs",
        &[
            ("ROUNDS_URL", demo.base.clone()),
            ("ROUNDS_USER", "demo".to_owned()),
            ("ROUNDS_PASSWORD", demo.password.clone()),
            ("ROUNDS_LIST_PATH", demo.list_path.clone()),
        ],
        Control::None,
    )
    .await;
    let ms = summary["desktopEditSeenAfterMs"].as_u64().expect("a time");
    assert!(ms <= 1000, "the phone saw the desktop's edit after {ms} ms");
    assert!(
        summary["smallestTarget"]["size"].as_u64().unwrap_or(0) >= 44,
        "{summary}"
    );
    for shot in [
        "list-demo-375x812.png",
        "list-demo-1440x900.png",
        "list-demo-1920x1080.png",
    ] {
        let meta = std::fs::metadata(artifact(shot)).expect("screenshot written");
        assert!(meta.len() > 10_000, "{shot} is suspiciously small");
    }
    drop(demo);
}

/// Accessibility on the demo ward (tests/browser/a11y_flow.mjs): axe-core
/// finds no serious or critical violation of WCAG 2.2 AA on sign-in, both
/// password pages, the teams and team pages, the list (desktop and phone,
/// with notes, an editor and an EHR value's details open) and the patient
/// page; a keyboard-only round keeps the focus after sorting, Notes,
/// closing the details and saving a field, on the list and the patient page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accessible_pages_on_the_demo_ward() {
    let Some(tools) = browser_tools() else {
        return;
    };
    let demo = start_demo();
    let summary = run_script(
        &tools,
        "a11y_flow.mjs",
        &[
            ("ROUNDS_URL", demo.base.clone()),
            ("ROUNDS_USER", "demo".to_owned()),
            ("ROUNDS_PASSWORD", demo.password.clone()),
            ("ROUNDS_LIST_PATH", demo.list_path.clone()),
        ],
        Control::None,
    )
    .await;
    let states = summary["axe"].as_object().expect("axe results");
    assert!(
        states.len() >= 12,
        "every page state was audited: {summary}"
    );
    for (state, result) in states {
        assert_eq!(result["serious"], 0, "{state}: {result}");
    }
    drop(demo);
}
