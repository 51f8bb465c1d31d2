//! The administration API: who may call it (the access matrix), what it
//! does to the registry, its OpenAPI document, and the audit log it keeps
//! (search, export in every format, verify, tampering found).
//!
//! (Over 500 lines: the scenarios of one API, the administration API; the access
//! matrix test runs in steps, the helpers of those steps after it.)

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::Connection;

use crate::both;
use crate::common::{Backend, TestGateway};

async fn call(
    t: &TestGateway,
    key: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = t
        .http
        .request(method, format!("{}/admin/api/v1{path}", t.url));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    // (Administrators see upstream addresses: these answers are not
    // recorded for the scan of what FHIR callers see.)
    let r = req.send().await.unwrap();
    let s = r.status();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn access_matrix(backend: Backend) {
    let t = TestGateway::start(backend).await;
    t.add_hospitals().await;
    let (key, key_value) =
        t.gw.registry
            .create_admin_token("test admin")
            .await
            .unwrap();
    let (id, secret, _) = t.client(&["a"]).await;
    let fhir_token = t.token(&id, &secret, "a").await;
    let (other, other_value) =
        t.gw.registry
            .create_admin_token("revoked admin")
            .await
            .unwrap();
    t.gw.registry.revoke_admin_token(&other.id).await.unwrap();
    let refused = refused_without_a_key(
        &t,
        &id,
        [
            ("a FHIR access token", fhir_token.as_str()),
            ("a made-up key", "rga_not-a-key"),
            ("the client's secret", secret.as_str()),
            ("a revoked key", other_value.as_str()),
        ],
    )
    .await;
    // Nothing changed: the client is still there and enabled.
    let c = t.gw.registry.client(&id).await.unwrap().unwrap();
    assert!(!c.disabled);
    assert_eq!(t.gw.tenants.list().await.unwrap().len(), 2);

    // With the key.
    let k = Some(key_value.as_str());
    let new_id = clients_with_the_key(&t, k).await;
    tenants_with_the_key(&t, k).await;
    // Keys.
    let (s, rotated) = call(&t, k, Method::POST, "/keys", None).await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, keys) = call(&t, k, Method::GET, "/keys", None).await;
    assert_eq!(keys[0]["kid"], rotated["kid"]);
    // Delete the client.
    let (s, _) = call(&t, k, Method::DELETE, &format!("/clients/{new_id}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    admin_calls_audited(&t, k, &key.id, refused).await;
    openapi_and_admin_page(&t, &id).await;
    t.assert_no_upstream_address();
}

/// Every route refuses a call without the key, with another credential or
/// with a revoked key: how many calls were refused.
async fn refused_without_a_key(t: &TestGateway, id: &str, others: [(&str, &str); 4]) -> usize {
    let routes: Vec<(Method, String)> = vec![
        (Method::GET, "/clients".into()),
        (Method::POST, "/clients".into()),
        (Method::GET, format!("/clients/{id}")),
        (Method::PATCH, format!("/clients/{id}")),
        (Method::DELETE, format!("/clients/{id}")),
        (Method::POST, format!("/clients/{id}/secrets")),
        (Method::DELETE, format!("/clients/{id}/secrets/x")),
        (Method::GET, "/tenants".into()),
        (Method::PUT, "/tenants/z".into()),
        (Method::DELETE, "/tenants/a".into()),
        (Method::GET, "/keys".into()),
        (Method::POST, "/keys".into()),
        (Method::GET, "/audit".into()),
        (Method::GET, "/audit/verify".into()),
    ];
    for (m, p) in &routes {
        let credentials = others.iter().map(|(who, k)| (*who, Some(*k)));
        for (who, k) in std::iter::once(("nobody", None)).chain(credentials) {
            let (s, body) = call(t, k, m.clone(), p, Some(json!({}))).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{who} on {m} {p}: {body}");
            assert_eq!(body["error"]["code"], "unauthenticated", "{body}");
        }
    }
    routes.len() * 5
}

/// A client made, listed, its secrets rotated, disabled and moved with the
/// key; the new client's id.
async fn clients_with_the_key(t: &TestGateway, k: Option<&str>) -> String {
    let (s, created) = call(
        t,
        k,
        Method::POST,
        "/clients",
        Some(json!({"name": "Integrator", "tenants": ["a", "b"]})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let new_id = created["client"]["clientId"].as_str().unwrap().to_owned();
    let new_secret = created["secret"]["clientSecret"]
        .as_str()
        .unwrap()
        .to_owned();
    let first_secret_id = created["secret"]["secretId"].as_str().unwrap().to_owned();
    t.token(&new_id, &new_secret, "b").await;
    let (s, list) = call(t, k, Method::GET, "/clients", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        !list.to_string().contains(&new_secret),
        "a listing shows no secret"
    );
    assert_eq!(list.as_array().unwrap().len(), 2);
    // Rotate: a second secret; a third is refused.
    let (s, second) = call(
        t,
        k,
        Method::POST,
        &format!("/clients/{new_id}/secrets"),
        Some(json!({"expiresIn": 3600})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{second}");
    assert!(second["expiresAt"].as_i64().is_some());
    let (s, body) = call(
        t,
        k,
        Method::POST,
        &format!("/clients/{new_id}/secrets"),
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("conflict")),
        "{body}"
    );
    let (s, _) = call(
        t,
        k,
        Method::DELETE,
        &format!("/clients/{new_id}/secrets/{first_secret_id}"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, body) = t
        .token_request(
            Some((&new_id, &new_secret)),
            &[("grant_type", "client_credentials"), ("scope", "a")],
        )
        .await;
    assert_eq!(
        (s, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    t.token(&new_id, second["clientSecret"].as_str().unwrap(), "a")
        .await;
    // Disable, change tenants.
    let (s, c) = call(
        t,
        k,
        Method::PATCH,
        &format!("/clients/{new_id}"),
        Some(json!({"disabled": true, "tenants": ["a"]})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert_eq!(
        (c["disabled"].as_bool(), c["tenants"].clone()),
        (Some(true), json!(["a"]))
    );
    let (s, body) = call(
        t,
        k,
        Method::PATCH,
        &format!("/clients/{new_id}"),
        Some(json!({"tenants": ["bad tenant"]})),
    )
    .await;
    assert_eq!(
        (s, body["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("tenant")),
        "{body}"
    );
    let (s, _) = call(t, k, Method::GET, "/clients/nope", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    new_id
}

async fn tenants_with_the_key(t: &TestGateway, k: Option<&str>) {
    // Tenants: the upstream secret goes in and never comes out.
    let h = crate::common::hospitals();
    let (s, tenant) = call(t, k, Method::PUT, "/tenants/z", Some(json!({
        "baseUrl": h.b.base, "auth": {"kind": "client_credentials", "client_id": crate::common::B_CLIENT},
        "secret": crate::common::B_SECRET}))).await;
    assert_eq!(s, StatusCode::OK, "{tenant}");
    assert_eq!(tenant["hasSecret"], true);
    let (s, tenants) = call(t, k, Method::GET, "/tenants", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(!tenants.to_string().contains(crate::common::B_SECRET));
    let (s, body) = call(
        t,
        k,
        Method::PUT,
        "/tenants/y",
        Some(json!({"baseUrl": "ftp://x/fhir"})),
    )
    .await;
    assert_eq!(
        (s, body["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("base_url")),
        "{body}"
    );
    let (s, body) = call(
        t,
        k,
        Method::PUT,
        "/tenants/y",
        Some(json!({"baseUrl": h.b.base, "auth": {"kind": "basic", "username": "u"}})),
    )
    .await;
    assert_eq!(
        (s, body["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("secret")),
        "{body}"
    );
    // The sealed secret works: a client of z reads B's patients.
    let (zid, zsecret, _) = t.client(&["z"]).await;
    let tz = t.token(&zid, &zsecret, "z").await;
    let (s, _, bundle) = t.get("Patient", Some(&tz)).await;
    assert_eq!(s, StatusCode::OK, "{bundle}");
    assert_eq!(crate::common::families(&bundle), vec!["Bravo", "Bravo"]);
    let (s, _) = call(t, k, Method::DELETE, "/tenants/z", None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = call(t, k, Method::DELETE, "/tenants/z", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

async fn admin_calls_audited(t: &TestGateway, k: Option<&str>, key_id: &str, refused: usize) {
    // Admin calls are audited, refused ones too.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (s, recs) = call(
        t,
        k,
        Method::GET,
        &format!("/audit?client=admin:{}", key_id),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        recs.as_array()
            .unwrap()
            .iter()
            .any(|r| r["method"] == "POST"
                && r["path"] == "/admin/api/v1/clients"
                && r["status"] == 201),
        "{recs}"
    );
    let all = t.gw.audit.search(&Default::default()).await.unwrap();
    assert!(
        all.iter()
            .filter(|r| r.outcome == "admin_unauthenticated")
            .count()
            >= refused
    );
}

async fn openapi_and_admin_page(t: &TestGateway, id: &str) {
    // OpenAPI lists every route.
    let doc: Value = t
        .http
        .get(format!("{}/admin/api/openapi.json", t.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for p in [
        "/admin/api/v1/clients",
        "/admin/api/v1/clients/{clientId}",
        "/admin/api/v1/clients/{clientId}/secrets",
        "/admin/api/v1/clients/{clientId}/secrets/{secretId}",
        "/admin/api/v1/tenants",
        "/admin/api/v1/tenants/{tenantId}",
        "/admin/api/v1/keys",
        "/admin/api/v1/audit",
        "/admin/api/v1/audit/verify",
    ] {
        assert!(
            doc["paths"][p].is_object(),
            "{p} missing from the OpenAPI document"
        );
    }
    // The admin page: its own files only, under a strict policy; it holds
    // no data itself (it reads the API with the key).
    for (path, kind) in [
        ("/admin", "text/html"),
        ("/admin/admin.js", "text/javascript"),
        ("/admin/admin.css", "text/css"),
    ] {
        let r = t.http.get(format!("{}{path}", t.url)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with(kind));
        let csp = r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            csp.contains("script-src 'self'") && csp.contains("default-src 'none'"),
            "{csp}"
        );
        let text = r.text().await.unwrap();
        assert!(!text.contains(id), "{path} holds no client data");
    }
}

both!(access_matrix);

async fn audit_export_verify_and_tampering(backend: Backend) {
    let t = TestGateway::start(backend).await;
    t.add_hospitals().await;
    let (_, key) = t.gw.registry.create_admin_token("auditor").await.unwrap();
    let (id, secret, _) = t.client(&["a"]).await;
    let tok = t.token(&id, &secret, "a").await;
    for p in [
        "Patient?_count=1",
        "Patient/none-such",
        "Observation?_count=1",
    ] {
        t.get(p, Some(&tok)).await;
    }
    let k = Some(key.as_str());
    let (_, v) = call(&t, k, Method::GET, "/audit/verify", None).await;
    assert_eq!(v["intact"], true, "{v}");
    // Per request: client, tenant, method, type, status, duration.
    let (_, recs) = call(
        &t,
        k,
        Method::GET,
        &format!("/audit?client={id}&tenant=a"),
        None,
    )
    .await;
    let recs = recs.as_array().unwrap().clone();
    let obs = recs
        .iter()
        .find(|r| r["resource_type"] == "Observation")
        .unwrap_or_else(|| panic!("{recs:?}"));
    assert_eq!(
        (obs["method"].as_str(), obs["status"].as_i64()),
        (Some("GET"), Some(200))
    );
    assert!(obs["duration_ms"].is_i64(), "{obs}");
    assert!(recs
        .iter()
        .any(|r| r["path"] == "/Patient/none-such" && r["status"] == 404));
    // Exports.
    for (format, check) in [
        ("csv", "seq,at,client_id"),
        ("jsonl", "\"prev_hash\""),
        ("fhir", "\"AuditEvent\""),
    ] {
        let r = t
            .http
            .get(format!(
                "{}/admin/api/v1/audit?format={format}&client={id}",
                t.url
            ))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let text = r.text().await.unwrap();
        assert!(text.contains(check), "{format}: {text}");
        assert!(text.contains(&id));
    }
    let r = t
        .http
        .get(format!("{}/admin/api/v1/audit?format=fhir", t.url))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    let bundle: Value = r.json().await.unwrap();
    assert_eq!(bundle["resourceType"], "Bundle");
    assert!(bundle["entry"][0]["resource"]["agent"][0]["who"]["identifier"]["value"].is_string());
    // Someone edits a record in the database: verify finds it.
    let mut conn = sqlx::AnyConnection::connect(&t.db_url).await.unwrap();
    sqlx::query("UPDATE gateway_audit SET status = 200 WHERE path = '/Patient/none-such'")
        .execute(&mut conn)
        .await
        .unwrap();
    let (_, v) = call(&t, k, Method::GET, "/audit/verify", None).await;
    assert_eq!(v["intact"], false, "{v}");
    assert!(v["break"].as_str().unwrap().contains("was altered"), "{v}");
    let broken = t.gw.audit.verify().await.unwrap();
    assert!(
        matches!(
            broken,
            Err(rounds_core::audit::ChainBreak::ContentChanged { .. })
        ),
        "{broken:?}"
    );
}
both!(audit_export_verify_and_tampering);

/// Concurrent requests are audited together (group commit) in one intact
/// chain, each record written before its request is answered.
async fn concurrent_audit_keeps_one_chain(backend: Backend) {
    let t = TestGateway::start(backend).await;
    t.add_hospitals().await;
    let (id, secret, _) = t.client(&["a"]).await;
    let tok = t.token(&id, &secret, "a").await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let http = t.http.clone();
        let url = format!("{}/Patient?_count=1&n={i}", t.url);
        let tok = tok.clone();
        tasks.push(tokio::spawn(async move {
            http.get(url)
                .bearer_auth(tok)
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), StatusCode::OK);
    }
    // Every request's record is there at once (none written after its answer).
    let recs = t.gw.audit.search(&Default::default()).await.unwrap();
    assert_eq!(recs.iter().filter(|r| r.path == "/Patient").count(), 40);
    assert_eq!(t.gw.audit.verify().await.unwrap().unwrap(), 41);
}
both!(concurrent_audit_keeps_one_chain);

/// In the default (batched) mode an audit record is committed before the
/// answer and reaches the database file itself within about a second
/// (the background sync checkpoints the write-ahead log); in "commit"
/// mode each batch is synced before its answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_audit_records_reach_the_database_file() {
    for sync in [
        rounds_gateway::audit::AuditSync::Batched,
        rounds_gateway::audit::AuditSync::EveryCommit,
    ] {
        let t = TestGateway::start_with(Backend::Sqlite, |s| s.audit_sync = sync).await;
        let (s, _, _) = t
            .token_request(None, &[("grant_type", "client_credentials")])
            .await;
        assert_eq!(s, reqwest::StatusCode::UNAUTHORIZED);
        let records =
            t.gw.audit
                .search(&rounds_gateway::audit::AuditFilter::default())
                .await
                .unwrap();
        let hash = records[0].hash.clone();
        assert!(t.gw.audit.verify().await.unwrap().is_ok());
        if sync == rounds_gateway::audit::AuditSync::EveryCommit {
            continue;
        }
        let file = t.db_url.trim_start_matches("sqlite://").to_owned();
        let mut found = false;
        for _ in 0..30 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            let bytes = std::fs::read(&file).unwrap();
            if bytes.windows(hash.len()).any(|w| w == hash.as_bytes()) {
                found = true;
                break;
            }
        }
        assert!(
            found,
            "the record is not in {file} within 3 s (only in the write-ahead log)"
        );
    }
}
