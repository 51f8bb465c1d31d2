//! The audit trail: what is recorded, searching, export, and the hash chain
//! found broken by `rounds audit verify` after a row is altered directly.

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::Connection;

use crate::both;
use crate::common::{Backend, Client, TestApp, PASSWORD};

fn ops(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["operation"].as_str().unwrap().to_owned())
        .collect()
}

async fn records_each_operation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin().await;
    app.user("charge", false).await;
    app.user("nurse", false).await;
    let mut charge = app.client("charge").await;
    let team = charge.create_team("Ward 3").await;
    let r = charge
        .post(
            &format!("/api/v1/teams/{team}/members"),
            json!({"username": "nurse"}),
        )
        .await;
    let nurse_id = r.body["userId"].as_str().unwrap().to_owned();
    charge
        .patch(
            &format!("/api/v1/teams/{team}/members/{nurse_id}"),
            json!({"role": "owner"}),
        )
        .await;
    charge
        .delete(&format!("/api/v1/teams/{team}/members/{nurse_id}"))
        .await;
    let mut stranger = Client::new(&app);
    assert_eq!(
        stranger.sign_in("charge", "not my password!").await.status,
        StatusCode::UNAUTHORIZED
    );
    let intruder = app.client("nurse").await;
    assert_eq!(
        intruder.get(&format!("/api/v1/teams/{team}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        charge.delete("/api/v1/session").await.status,
        StatusCode::NO_CONTENT
    );
    charge.csrf = None;

    let charge_ops = ops(&admin.audit("username=charge&limit=500").await);
    for expected in [
        "SignIn",
        "TeamCreate",
        "TeamMemberAdd",
        "TeamMemberUpdate",
        "TeamMemberRemove",
        "SignInRefused",
        "SignOut",
    ] {
        assert!(
            charge_ops.contains(&expected.to_owned()),
            "{expected} missing from {charge_ops:?}"
        );
    }
    let refused = admin.audit("operation=AccessRefused").await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["actorUsername"], "nurse");
    assert_eq!(refused[0]["teamId"], team.as_str());
    assert_eq!(refused[0]["outcome"], "refused");
    assert!(refused[0]["clientAddr"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1"));
    let bad_sign_in = admin.audit("operation=SignInRefused").await;
    assert_eq!(bad_sign_in[0]["reason"], "wrong password");
    let created = admin.audit("operation=UserCreate").await;
    assert_eq!(created.len(), 3, "root, charge, nurse");

    // By team and time range.
    let by_team = ops(&admin.audit(&format!("teamId={team}")).await);
    assert!(
        by_team
            .iter()
            .all(|o| o.starts_with("Team") || o == "AccessRefused"),
        "{by_team:?}"
    );
    assert_eq!(by_team.len(), 5);
    assert!(admin
        .audit("from=2000-01-01&to=2000-01-02")
        .await
        .is_empty());
    assert!(!admin.audit("from=2000-01-01").await.is_empty());
    let bad = admin.get("/api/v1/audit?from=yesterday").await;
    assert_eq!(
        (bad.status, bad.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "from")
    );
    let bad_op = admin.get("/api/v1/audit?operation=Teleport").await;
    assert_eq!(
        (bad_op.status, bad_op.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "operation")
    );

    // Paging: newest first, then older.
    let first = admin.get("/api/v1/audit?limit=2").await;
    let next = first.body["nextBefore"].as_i64().unwrap();
    let older = admin
        .get(&format!("/api/v1/audit?limit=2&before={next}"))
        .await;
    assert!(older.body["records"][0]["seq"].as_i64().unwrap() < next);
    app.stop().await;
}
both!(records_each_operation);

async fn export_is_audited(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin().await;
    app.user("nurse", false).await;
    app.client("nurse").await;
    let csv = admin
        .get("/api/v1/audit/export?format=csv&username=nurse")
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert!(csv.headers["content-disposition"]
        .to_str()
        .unwrap()
        .contains("attachment"));
    let lines: Vec<&str> = csv.text.lines().collect();
    assert!(
        lines[0].starts_with("seq,time,operation,outcome"),
        "{}",
        lines[0]
    );
    assert_eq!(lines.len(), 2, "header and nurse's sign-in: {}", csv.text);
    assert!(lines[1].contains(",SignIn,success,"));

    let jsonl = admin.get("/api/v1/audit/export?format=jsonl").await;
    assert_eq!(jsonl.status, StatusCode::OK);
    let rows: Vec<Value> = jsonl
        .text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(rows.len() >= 4);
    assert!(
        rows.windows(2)
            .all(|w| w[0]["seq"].as_i64() < w[1]["seq"].as_i64()),
        "oldest first"
    );
    assert!(
        rows.windows(2).all(|w| w[0]["hash"] == w[1]["prevHash"]),
        "the chain is in the export"
    );

    let exports = admin.audit("operation=ExportInitiation").await;
    assert_eq!(exports.len(), 2);
    assert_eq!(exports[1]["detail"]["format"], "csv");
    assert_eq!(exports[1]["detail"]["filter"]["username"], "nurse");
    assert_eq!(
        admin.get("/api/v1/audit/export?format=pdf").await.field(),
        "format"
    );
    app.stop().await;
}
both!(export_is_audited);

/// The test peers' Python (beside sekmet in .venv-peers), which has
/// `fhir.resources`, an independent FHIR model and validator.
fn peers_python() -> std::path::PathBuf {
    let sekmet = crate::common::sekmet_exe();
    sekmet.with_file_name("python3")
}

async fn audit_as_fhir_audit_events(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin().await;
    app.user("nurse", false).await;
    let nurse = app.client("nurse").await;
    let team = nurse.create_team("Ward AE").await;
    // A refusal to export too: the nurse reaching for the audit log.
    assert_eq!(
        nurse.get("/api/v1/audit").await.status,
        StatusCode::FORBIDDEN
    );
    let bundle = admin.get("/api/v1/audit/export?format=fhir").await;
    assert_eq!(bundle.status, StatusCode::OK, "{}", bundle.text);
    assert!(bundle.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/fhir+json"));
    assert_eq!(bundle.body["type"], "collection");
    let events: Vec<&Value> = bundle.body["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .collect();
    let find = |op: &str| {
        events
            .iter()
            .find(|e| e["subtype"][0]["code"] == op)
            .unwrap_or_else(|| panic!("no {op} in {events:#?}"))
    };
    let created = find("TeamCreate");
    assert_eq!(created["agent"][0]["who"]["display"], "nurse");
    assert_eq!(
        created["entity"][0]["what"]["identifier"]["value"],
        team.as_str()
    );
    let sign_in = find("SignIn");
    assert_eq!(
        (
            sign_in["type"]["code"].as_str(),
            sign_in["outcome"].as_str()
        ),
        (Some("110114"), Some("0"))
    );
    assert_eq!(find("AccessRefused")["outcome"], "4");
    // One AuditEvent per record, in order, with the chain alongside.
    let ndjson = admin.get("/api/v1/audit/export?format=ndjson").await;
    assert!(ndjson.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/fhir+ndjson"));
    assert!(ndjson.text.lines().count() >= events.len());

    // An independent validator accepts every event (fhir.resources' R4B
    // AuditEvent model, whose structure is R4's).
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("audit.json");
    std::fs::write(&file, &bundle.text).unwrap();
    let out = std::process::Command::new(peers_python())
        .arg("-c")
        .arg(
            "import json, sys\n\
             from fhir.resources.R4B.auditevent import AuditEvent\n\
             b = json.load(open(sys.argv[1]))\n\
             n = 0\n\
             for e in b['entry']:\n\
             \x20   AuditEvent.model_validate(e['resource'])\n\
             \x20   n += 1\n\
             print(n)\n",
        )
        .arg(&file)
        .output()
        .expect("run the peers' python (scripts/test.sh installs fhir.resources)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        events.len().to_string()
    );
}
both!(audit_as_fhir_audit_events);

/// Runs `rounds audit verify` on the test database.
fn verify(app: &TestApp) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rounds"))
        .args(["audit", "verify", "--database-url", &app.db.url])
        .output()
        .expect("run rounds");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

async fn verify_finds_an_altered_row(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.user("nurse", false).await;
    for _ in 0..3 {
        let mut c = Client::new(&app);
        c.sign_in("nurse", PASSWORD).await;
    }
    let (ok, text) = verify(&app);
    assert!(ok, "{text}");
    assert!(text.contains("intact: 4 records"), "{text}");

    // The database refuses edits through SQL...
    let url = app.db.url.clone();
    let edit = "UPDATE audit_log SET actor_username = 'someone-else' WHERE seq = 3";
    match backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            assert!(
                sqlx::query(edit).execute(&mut conn).await.is_err(),
                "the trigger refuses updates"
            );
            // ...but someone with the file can drop the guard; the chain still tells.
            sqlx::query("DROP TRIGGER audit_log_no_update")
                .execute(&mut conn)
                .await
                .unwrap();
            sqlx::query(edit).execute(&mut conn).await.unwrap();
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            assert!(
                sqlx::query(edit).execute(&mut conn).await.is_err(),
                "the trigger refuses updates"
            );
            sqlx::query("ALTER TABLE audit_log DISABLE TRIGGER USER")
                .execute(&mut conn)
                .await
                .unwrap();
            sqlx::query(edit).execute(&mut conn).await.unwrap();
        }
    }
    let (ok, text) = verify(&app);
    assert!(!ok, "verify must fail: {text}");
    assert!(text.contains("record 3 was altered"), "{text}");
    app.stop().await;
}
both!(verify_finds_an_altered_row);
