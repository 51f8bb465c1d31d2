//! EHR data is not stored at rest: a whole session of `rounds serve` with a
//! patient of a distinctive name read from a real FHIR server leaves that
//! name neither in the database files nor in the log; the connection
//! secret is sealed; without its key file Rounds refuses to start.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::Sekmet;
use crate::ehr_mode::{ward_bundle, FAMILY, GIVEN, MRN};

fn serve(dir: &Path, log: &Path) -> (Child, String, String) {
    let log_file = std::fs::File::create(log).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rounds"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        // The test's FHIR server runs on 127.0.0.1.
        .arg("--ehr-allow-loopback")
        .env_remove("ROUNDS_DATABASE_URL")
        .env_remove("ROUNDS_CONFIG")
        .env_remove("ROUNDS_SECRET_KEY")
        .env_remove("ROUNDS_SECRET_KEY_FILE")
        // The most talkative log Rounds has, database statements included.
        .env("ROUNDS_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .unwrap();
    let (base, printed) = crate::cli::wait_until_running(&mut child);
    (child, base, printed)
}

struct Api {
    http: reqwest::Client,
    base: String,
    csrf: String,
}

impl Api {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("X-CSRF-Token", &self.csrf);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

fn files_containing(dir: &Path, needles: &[&str]) -> Vec<String> {
    let mut hits = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            hits.extend(files_containing(&path, needles));
            continue;
        }
        let mut bytes = Vec::new();
        std::fs::File::open(&path)
            .unwrap()
            .read_to_end(&mut bytes)
            .unwrap();
        let text = String::from_utf8_lossy(&bytes).to_lowercase();
        for n in needles {
            if text.contains(&n.to_lowercase()) {
                hits.push(format!("{} contains {n}", path.display()));
            }
        }
    }
    hits
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ehr_data_is_not_stored_at_rest() {
    let sekmet = Sekmet::start();
    sekmet.load(&ward_bundle()).await;
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let log = work.path().join("rounds.log");
    let (child, base, printed) = serve(&data, &log);
    let password = printed
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("one-time password:")
                .map(|p| p.trim().to_owned())
        })
        .unwrap();

    // The key file was made with mode 0600.
    let key_file = data.join("secret.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "key file mode {mode:o}");
    }

    let http = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let r: Value = http
        .post(format!("{base}/api/v1/session"))
        .json(&json!({"username": "admin", "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut api = Api {
        http,
        base: base.clone(),
        csrf: r["csrfToken"].as_str().unwrap().to_owned(),
    };
    let new_password = "a new long password for the admin";
    let (s, _) = api
        .send(
            reqwest::Method::POST,
            "/api/v1/me/password",
            Some(json!({"currentPassword": password, "newPassword": new_password})),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let r: Value = api
        .http
        .post(format!("{base}/api/v1/session"))
        .json(&json!({"username": "admin", "password": new_password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    api.csrf = r["csrfToken"].as_str().unwrap().to_owned();

    let (s, team) = api
        .send(
            reqwest::Method::POST,
            "/api/v1/teams",
            Some(json!({"name": "Ward 3"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{team}");
    let team = team["id"].as_str().unwrap().to_owned();
    let client_secret = "client-secret-never-on-disk-4242";
    let (s, body) = api
        .send(
            reqwest::Method::PUT,
            &format!("/api/v1/teams/{team}/ehr-connection"),
            Some(json!({"name": "EHR", "baseUrl": sekmet.base, "auth": {"kind": "none"}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    // A second team holds a connection with a client secret (not used).
    let (_, other) = api
        .send(
            reqwest::Method::POST,
            "/api/v1/teams",
            Some(json!({"name": "Gateway team"})),
        )
        .await;
    let other = other["id"].as_str().unwrap().to_owned();
    let (s, body) = api
        .send(
            reqwest::Method::PUT,
            &format!("/api/v1/teams/{other}/ehr-connection"),
            Some(json!({"name": "Gateway", "baseUrl": "https://gateway.example/fhir",
                "auth": {"kind": "clientCredentials", "clientId": "rounds", "clientSecret": client_secret}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (_, list) = api
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/teams/{team}/lists"),
            Some(json!({"name": "Ward round"})),
        )
        .await;
    let list = list["id"].as_str().unwrap().to_owned();
    // Searched by MRN: a search's query is recorded (it is what the user
    // typed); the name comes only from the EHR.
    let (s, found) = api
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/teams/{team}/lists/{list}/ehr-search"),
            Some(json!({"mrn": MRN})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{found}");
    assert!(found["results"][0]["name"]
        .as_str()
        .unwrap()
        .contains(FAMILY));
    let ehr_id = found["results"][0]["ehrId"].as_str().unwrap().to_owned();
    let (s, added) = api
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/teams/{team}/lists/{list}/patients"),
            Some(json!({"ehrId": ehr_id})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{added}");
    let patient = added["row"]["patientId"].as_str().unwrap().to_owned();
    // The list, made in a team with an EHR, shows the vital signs, problems,
    // allergies and medications from the start; the GP is added.
    for key in ["gp"] {
        let (s, _) = api
            .send(
                reqwest::Method::POST,
                &format!("/api/v1/teams/{team}/lists/{list}/columns"),
                Some(json!({"key": key})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let (s, view) = api
        .send(
            reqwest::Method::GET,
            &format!("/api/v1/teams/{team}/lists/{list}?refresh=true"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        view.to_string().contains(&FAMILY.to_uppercase()),
        "the name was shown"
    );
    let (s, detail) = api
        .send(
            reqwest::Method::GET,
            &format!("/api/v1/teams/{team}/patients/{patient}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(detail.to_string().contains("Penicillin"));
    let (s, _) = api
        .send(
            reqwest::Method::GET,
            &format!("/teams/{team}/patients/{patient}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "the patient page");
    let (s, _) = api
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/teams/{team}/patients/{patient}/notes"),
            Some(json!({"body": "typed by the team: mobilising"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    crate::cli::stop_server(child);

    let needles = [
        FAMILY,
        GIVEN,
        "Penicillin",
        "Clarithromycin",
        "Community acquired pneumonia",
        client_secret,
    ];
    let stored = files_containing(&data, &needles);
    assert!(
        stored.is_empty(),
        "EHR data or a secret at rest: {stored:?}"
    );
    let logged = files_containing(work.path().join("rounds.log").parent().unwrap(), &needles)
        .into_iter()
        .filter(|h| h.contains("rounds.log"))
        .collect::<Vec<_>>();
    assert!(
        logged.is_empty(),
        "EHR data or a secret in the log: {logged:?}"
    );
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(
        log_text.contains("listening"),
        "the log was written: {log_text}"
    );
    // What the team typed is stored (so the scan could find text at all).
    assert!(!files_containing(&data, &["mobilising"]).is_empty());

    // Without the key file, Rounds refuses to start rather than lose the
    // secrets or make a new key.
    std::fs::remove_file(&key_file).unwrap();
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_rounds"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env_remove("ROUNDS_SECRET_KEY")
        .env_remove("ROUNDS_DATABASE_URL")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("secret key is missing") && err.contains("secret.key"),
        "{err}"
    );
    assert!(!key_file.exists(), "no new key was made");
}
