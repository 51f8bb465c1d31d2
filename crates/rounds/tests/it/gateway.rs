//! Rounds' EHR mode through the interoperability gateway (`rounds gateway`):
//! two real FHIR servers (sekmet) behind one gateway as tenants "north" and
//! "south"; two teams, each connected to the gateway's one address with
//! client credentials and its own tenant in the scope; each sees only its
//! hospital's patients. And `rounds ehr check` passes through the gateway.

use std::sync::Arc;

use reqwest::StatusCode;
use rounds_gateway::tenants::{TenantInput, UpstreamAuth};
use serde_json::{json, Value};

use crate::both;
use crate::common::{Backend, Sekmet, TestApp, TestDb};
use crate::ehr_mode::{ward_bundle, FAMILY, MRN};

const SOUTH_FAMILY: &str = "Southgate-Pemberton";

fn south_bundle() -> Value {
    json!({"resourceType": "Bundle", "type": "transaction", "entry": [{
        "fullUrl": "urn:uuid:5a0e0000-0000-4000-8000-000000000001",
        "resource": {"resourceType": "Patient", "active": true,
            "identifier": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}, "system": "urn:oid:1.2.3.4.5.1", "value": "SG0001"}],
            "name": [{"use": "official", "family": SOUTH_FAMILY, "given": ["Ottilie"]}],
            "gender": "female", "birthDate": "1961-03-04"},
        "request": {"method": "POST", "url": "Patient"}}]})
}

/// A gateway in front of `north` and `south`, over its own database.
struct Gateway {
    url: String,
    client_id: String,
    secret: String,
    _db: TestDb,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn gateway(backend: Backend, north: &str, south: &str) -> Gateway {
    let db = TestDb::new(backend).await;
    let gdb = rounds_gateway::db::Db::open(&db.url, 5).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut settings = rounds_gateway::config::Settings::defaults().unwrap();
    settings.public_url = format!("http://{addr}");
    let sealer = Arc::new(
        rounds_secrets::SecretBox::from_base64_key(crate::common::TEST_SECRET_KEY).unwrap(),
    );
    let gw = rounds_gateway::Gateway::new(gdb, sealer, settings)
        .await
        .unwrap();
    for (id, base) in [("north", north), ("south", south)] {
        let input = TenantInput {
            id: id.into(),
            base_url: base.into(),
            fhir_version: "4.0.1".into(),
            auth: UpstreamAuth::None,
            secret: None,
            allow_writes: false,
        };
        gw.tenants.put(&input, "admin", &gw.sealer).await.unwrap();
    }
    let (client, secret) = gw
        .registry
        .create_client("Rounds", &["north".into(), "south".into()], None)
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(gw.clone().serve(listener, async move {
        let _ = stopped.await;
    }));
    Gateway {
        url: format!("http://{addr}"),
        client_id: client.id,
        secret: secret.client_secret,
        _db: db,
        _stop: stop,
    }
}

async fn teams_reach_their_own_hospital_through_the_gateway(backend: Backend) {
    let north = Sekmet::start();
    north.load(&ward_bundle()).await;
    let south = Sekmet::start();
    south.load(&south_bundle()).await;
    let gw = gateway(backend, &north.base, &south.base).await;
    let app = TestApp::spawn(backend).await;
    app.user("owner", false).await;
    let owner = app.client("owner").await;
    let mut wards = Vec::new();
    for tenant in ["north", "south"] {
        let team = owner.create_team(&format!("Ward {tenant}")).await;
        let r = owner
            .put(
                &format!("/api/v1/teams/{team}/ehr-connection"),
                json!({"name": "Hospital via gateway", "baseUrl": gw.url, "auth": {
                    "kind": "clientCredentials", "clientId": gw.client_id,
                    "clientSecret": gw.secret, "scope": format!("system/*.read {tenant}")}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let r = owner
            .post(
                &format!("/api/v1/teams/{team}/ehr-connection/test"),
                json!({}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["ok"], true, "{}", r.body);
        let list = owner.create_list(&team, "Round").await;
        wards.push((team, list));
    }
    let search = |team: &str, list: &str, q: Value| {
        let path = format!("/api/v1/teams/{team}/lists/{list}/ehr-search");
        let owner = &owner;
        async move {
            let r = owner.post(&path, q).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            r.body
        }
    };
    let (n_team, n_list) = &wards[0];
    let (s_team, s_list) = &wards[1];
    // North sees its patient, not south's; south the other way round.
    let found = search(n_team, n_list, json!({"mrn": MRN})).await;
    assert_eq!(found["total"], 1, "{found}");
    let n_ehr = found["results"][0]["ehrId"].as_str().unwrap().to_owned();
    let found = search(n_team, n_list, json!({"family": SOUTH_FAMILY})).await;
    assert_eq!(found["total"], 0, "{found}");
    let found = search(s_team, s_list, json!({"family": SOUTH_FAMILY})).await;
    assert_eq!(found["total"], 1, "{found}");
    let found = search(s_team, s_list, json!({"family": FAMILY})).await;
    assert_eq!(found["total"], 0, "{found}");
    // A north patient on a north list, with its EHR data read through the gateway.
    let r = owner
        .post(
            &format!("/api/v1/teams/{n_team}/lists/{n_list}/patients"),
            json!({"ehrId": n_ehr}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let patient = r.body["row"]["patientId"].as_str().unwrap().to_owned();
    let r = owner
        .get(&format!("/api/v1/teams/{n_team}/patients/{patient}"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.text.contains(FAMILY), "{}", r.text);
    // No upstream address reached Rounds.
    for addr in [
        format!("127.0.0.1:{}", north.port),
        format!("127.0.0.1:{}", south.port),
    ] {
        assert!(!r.text.contains(&addr));
    }
}
both!(teams_reach_their_own_hospital_through_the_gateway);

/// `rounds ehr check` (the Rounds FHIR contract checker) passes through the
/// gateway, with client credentials and the tenant in the scope.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ehr_check_passes_through_the_gateway() {
    let north = Sekmet::start();
    north.load(&ward_bundle()).await;
    let south = Sekmet::start();
    let gw = gateway(Backend::Sqlite, &north.base, &south.base).await;
    let (url, id, secret) = (gw.url.clone(), gw.client_id.clone(), gw.secret.clone());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_rounds"))
            .args([
                "ehr",
                "check",
                &url,
                "--auth",
                "client-secret-basic",
                "--scope",
                "north",
                "--json",
            ])
            .env("ROUNDS_EHR_CLIENT_ID", id)
            .env("ROUNDS_EHR_CLIENT_SECRET", secret)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !stdout.contains(&format!("127.0.0.1:{}", north.port)),
        "{stdout}"
    );
}

fn gateway_cmd(data: &std::path::Path, db_url: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_rounds"));
    cmd.arg("gateway")
        .env_remove("ROUNDS_GATEWAY_DATABASE_URL")
        .env_remove("ROUNDS_GATEWAY_CONFIG")
        .env("ROUNDS_GATEWAY_DATA_DIR", data)
        .env("ROUNDS_GATEWAY_SECRET_KEY", crate::common::TEST_SECRET_KEY)
        .env("ROUNDS_LOG", "warn");
    if !db_url.is_empty() {
        cmd.env("ROUNDS_GATEWAY_DATABASE_URL", db_url);
    }
    cmd
}

fn ok(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The README's walk-through, with the binary: a gateway in front of a FHIR
/// server (one tenant from the console, one from the configuration file),
/// a client registered, a token as curl gets it, a patient read through the
/// gateway; then rotation, revocation and disabling from the console, the
/// audit log verified and exported, and a clean stop.
async fn console_walkthrough(backend: Backend) {
    use std::io::BufRead;
    let sekmet = Sekmet::start();
    sekmet.load(&ward_bundle()).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("gateway-data");
    // SQLite: the default file in the data directory, as the README does.
    let db = TestDb::new(backend).await;
    let db_url = if backend == Backend::Sqlite {
        String::new()
    } else {
        db.url.clone()
    };
    let g = || gateway_cmd(&data, &db_url);
    let out = ok(g().args(["tenant", "add", "hospital-a", "--base-url", &sekmet.base]));
    assert!(out.contains("hospital-a"), "{out}");
    let out = ok(g().args([
        "client",
        "add",
        "--name",
        "Ward app",
        "--tenant",
        "hospital-a",
        "--tenant",
        "hospital-c",
        "--json",
    ]));
    let client: Value = serde_json::from_str(out.trim()).unwrap();
    let id = client["client_id"].as_str().unwrap().to_owned();
    let secret = client["client_secret"].as_str().unwrap().to_owned();
    let first_secret_id = client["secret_id"].as_str().unwrap().to_owned();
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        format!("[[tenants]]\nid = \"hospital-c\"\nbase_url = \"{}\"\nsecret_env = \"HOSPITAL_C_PASSWORD\"\nauth = {{ kind = \"basic\", username = \"gateway\" }}\n", sekmet.base),
    )
    .unwrap();
    let mut child = g()
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .env("HOSPITAL_C_PASSWORD", "c-password")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(stdout).lines();
    let addr = loop {
        let line = lines.next().expect("the gateway said nothing").unwrap();
        if let Some(a) = line.strip_prefix("rounds gateway listening on ") {
            break a.trim().to_owned();
        }
    };
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();
    let token = |id: String, secret: String, tenant: &'static str| {
        let http = http.clone();
        let base = base.clone();
        async move {
            // curl -u ID:SECRET -d grant_type=client_credentials -d scope=TENANT BASE/token
            let r = http
                .post(format!("{base}/token"))
                .basic_auth(id, Some(secret))
                .form(&[("grant_type", "client_credentials"), ("scope", tenant)])
                .send()
                .await
                .unwrap();
            let status = r.status();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    let (s, body) = token(id.clone(), secret.clone(), "hospital-a").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let access = body["access_token"].as_str().unwrap().to_owned();
    // curl -H "Authorization: Bearer TOKEN" BASE/Patient?identifier=MRN
    let r = http
        .get(format!("{base}/Patient?identifier={MRN}"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let bundle: Value = r.json().await.unwrap();
    assert_eq!(
        bundle["entry"][0]["resource"]["name"][0]["family"], FAMILY,
        "{bundle}"
    );
    let pid = bundle["entry"][0]["resource"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = http
        .get(format!("{base}/Patient/{pid}"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The configuration file's tenant serves too (its password sealed).
    let (s, body) = token(id.clone(), secret.clone(), "hospital-c").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let out = ok(g().args(["tenant", "list"]));
    assert!(
        out.contains("hospital-c") && out.contains("(config)") && out.contains("auth basic"),
        "{out}"
    );
    assert!(!out.contains("c-password"));

    // Rotation from the console: both secrets work, then the old one is revoked.
    let out = ok(g().args(["client", "rotate", &id, "--json"]));
    let rotated: Value = serde_json::from_str(out.trim()).unwrap();
    let new_secret = rotated["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(
        token(id.clone(), new_secret.clone(), "hospital-a").await.0,
        StatusCode::OK
    );
    assert_eq!(
        token(id.clone(), secret.clone(), "hospital-a").await.0,
        StatusCode::OK
    );
    let out = ok(g().args(["client", "list"]));
    assert_eq!(out.matches("live, expires -").count(), 2, "{out}");
    assert!(!out.contains(&new_secret) && !out.contains(&secret));
    ok(g().args(["client", "revoke", &id, &first_secret_id]));
    let (s, body) = token(id.clone(), secret.clone(), "hospital-a").await;
    assert_eq!(
        (s, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    ok(g().args(["client", "disable", &id]));
    let (s, body) = token(id.clone(), new_secret.clone(), "hospital-a").await;
    assert_eq!(
        (s, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    ok(g().args(["keys", "rotate"]));
    assert_eq!(ok(g().args(["keys", "list"])).lines().count(), 2);
    // The audit log: intact, searchable, exportable.
    let out = ok(g().args(["audit", "verify"]));
    assert!(out.starts_with("audit log intact: "), "{out}");
    let csv = ok(g().args(["audit", "export", "--format", "csv", "--client", &id]));
    assert!(
        csv.starts_with("seq,at,client_id") && csv.contains(&format!("/Patient/{pid}")),
        "{csv}"
    );
    let out = ok(g().args(["audit", "search", "--limit", "3"]));
    assert_eq!(out.lines().count(), 3, "{out}");
    // A clean stop.
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    // The key file was not needed (ROUNDS_GATEWAY_SECRET_KEY), and no
    // upstream secret is in the database in plain text.
    if backend == Backend::Sqlite {
        for file in ["gateway.db", "gateway.db-wal"] {
            let raw = std::fs::read(data.join(file)).unwrap_or_default();
            assert!(!raw.windows(10).any(|w| w == b"c-password"), "{file}");
        }
    }
}
both!(console_walkthrough);
