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
    let mut settings = rounds_gateway::config::Settings::resolve(
        &Default::default(),
        &rounds_gateway::config::FileSettings::default(),
    )
    .unwrap();
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
        let r = owner
            .post(
                &format!("/api/v1/teams/{team}/lists"),
                json!({"name": "Round"}),
            )
            .await;
        let list = r.body["id"].as_str().unwrap().to_owned();
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
