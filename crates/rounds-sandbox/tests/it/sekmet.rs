//! The ward loaded into a real FHIR R4 server, sekmet-fhir, which validates
//! every resource (and rolls the whole transaction back if one is invalid);
//! then the Rounds client reads the same summaries from both.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rounds_fhir::{ClientConfig, FhirClient, PatientSummary};
use serde_json::Value;

use crate::common::{default_ward, start};

/// The sekmet executable: `ROUNDS_TEST_SEKMET` (as scripts/test.sh sets
/// it), else the one scripts/test.sh installs into `.venv-peers`.
fn sekmet_exe() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ROUNDS_TEST_SEKMET") {
        let p = PathBuf::from(p);
        assert!(
            p.exists(),
            "ROUNDS_TEST_SEKMET names {p:?}, which does not exist"
        );
        return Some(p);
    }
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv-peers/bin/sekmet");
    p.exists().then_some(p)
}

/// A sekmet server in its own temporary directory, stopped when dropped
/// (also when the test fails).
struct Sekmet {
    child: Child,
    base: String,
    dir: tempfile::TempDir,
}

impl Drop for Sekmet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sekmet {
    async fn start(exe: &std::path::Path) -> Sekmet {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let base = format!("http://127.0.0.1:{port}/fhir");
        let log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
        let child = Command::new(exe)
            .args(["serve", "--host", "127.0.0.1", "--port", &port.to_string()])
            .current_dir(dir.path())
            // Its links must name the address we use.
            .env("SEKMET_BASE_URL", &base)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {exe:?}: {e}"));
        let server = Sekmet { child, base, dir };
        let started = Instant::now();
        let http = reqwest::Client::new();
        loop {
            let up = http
                .get(format!("{}/metadata", server.base))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if up {
                return server;
            }
            if started.elapsed() > Duration::from_secs(60) {
                let log = std::fs::read_to_string(server.dir.path().join("serve.log"));
                panic!("sekmet did not start within 60 s: {log:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

async fn count(base: &str, rtype: &str) -> u64 {
    let v: Value = reqwest::get(format!("{base}/{rtype}?_summary=count"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["total"]
        .as_u64()
        .unwrap_or_else(|| panic!("{rtype}: {v}"))
}

/// A summary as JSON with the order of list sections left out (servers
/// order unsorted searches as they like).
fn normalised(sum: &PatientSummary) -> Value {
    let mut v = serde_json::to_value(sum).unwrap();
    for section in ["conditions", "allergies", "medications"] {
        if let Some(items) = v[section]["items"].as_array_mut() {
            items.sort_by_key(|i| i.to_string());
        }
    }
    v
}

#[tokio::test]
async fn a_real_fhir_server_accepts_the_ward_and_reads_the_same() {
    let Some(exe) = sekmet_exe() else {
        eprintln!(
            "SKIPPED: sekmet-fhir is not installed (set ROUNDS_TEST_SEKMET or run scripts/test.sh, \
             which installs it into .venv-peers)"
        );
        return;
    };
    let sandbox = start(default_ward()).await;
    let ward = &sandbox.ward;
    let stats = ward.stats();
    let sekmet = Sekmet::start(&exe).await;

    let loading = Instant::now();
    let response = reqwest::Client::new()
        .post(format!("{}/", sekmet.base))
        .header("content-type", "application/fhir+json")
        .timeout(Duration::from_secs(300))
        .body(ward.transaction_bundle().to_string())
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    let diagnostics: Vec<&Value> = body["issue"].as_array().into_iter().flatten().collect();
    assert_eq!(status, 200, "sekmet refused the ward: {diagnostics:#?}");
    eprintln!(
        "sekmet loaded {} resources ({stats}) in {:.1} s",
        stats.resources(),
        loading.elapsed().as_secs_f64()
    );
    assert_eq!(body["type"], "transaction-response");
    let entries = body["entry"].as_array().unwrap();
    assert_eq!(entries.len(), stats.resources());
    for e in entries {
        let s = e["response"]["status"].as_str().unwrap();
        assert!(s.starts_with("201") || s.starts_with("200"), "{e}");
    }
    assert_eq!(count(&sekmet.base, "Patient").await, stats.patients as u64);
    assert_eq!(
        count(&sekmet.base, "Observation").await,
        stats.observations as u64
    );
    assert_eq!(
        count(&sekmet.base, "Condition").await,
        stats.conditions as u64
    );

    // The sandbox's own answers are valid too: the CapabilityStatement, a
    // searchset, a batch-response and an OperationOutcome.
    let pid = &ward.patient_ids()[0];
    let http = reqwest::Client::new();
    let batch = serde_json::json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": format!("Patient/{pid}")}},
        {"request": {"method": "GET", "url": format!("Condition?patient={pid}&_count=2")}},
        {"request": {"method": "GET", "url": "Patient/nobody"}}]});
    let answers = [
        http.get(format!("{}/metadata", sandbox.base)),
        http.get(format!(
            "{}/Observation?patient={pid}&_count=5",
            sandbox.base
        )),
        http.post(format!("{}/", sandbox.base))
            .header("content-type", "application/fhir+json")
            .body(batch.to_string()),
        http.get(format!("{}/Patient/nobody", sandbox.base)),
    ];
    for request in answers {
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        let outcome: Value = http
            .post(format!("{}/$validate", sekmet.base))
            .header("content-type", "application/fhir+json")
            .body(answer.to_string())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let errors: Vec<&Value> = outcome["issue"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|i| matches!(i["severity"].as_str(), Some("error" | "fatal")))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", answer["resourceType"]);
        assert_eq!(outcome["resourceType"], "OperationOutcome", "{outcome}");
    }

    // The same summaries from the sandbox and from sekmet (a page large
    // enough for every vital sign, so that ties in time cannot differ).
    let ids: Vec<String> = ward.patient_ids().into_iter().take(8).collect();
    let mut read = Vec::new();
    for base in [&sandbox.base, &sekmet.base] {
        let mut c = ClientConfig::new(base).unwrap();
        c.request_timeout = Duration::from_secs(60);
        c.page_size = 200;
        let client = FhirClient::connect(c).await.unwrap();
        let sums: Vec<Value> = client
            .summaries(&ids)
            .await
            .iter()
            .map(|s| normalised(s.as_ref().unwrap()))
            .collect();
        read.push(sums);
    }
    for (i, (ours, theirs)) in read[0].iter().zip(&read[1]).enumerate() {
        assert_eq!(ours, theirs, "patient {}", ids[i]);
    }
    drop(sekmet);
}
