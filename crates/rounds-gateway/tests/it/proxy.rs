//! Routing to two real FHIR servers, URL rewriting, paging through the
//! gateway, batch, metadata, and Rounds' own FHIR client through it.
//!
//! (Over 500 lines: the scenarios of one job, proxying; each test one story of
//! calls through the gateway.)

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both;
use crate::common::{families, Backend, TestGateway};

async fn each_tenant_sees_its_own_hospital(backend: Backend) {
    let t = TestGateway::start(backend).await;
    let h = t.add_hospitals().await;
    let (id, secret, _) = t.client(&["a", "b"]).await;
    let ta = t.token(&id, &secret, "a").await;
    let tb = t.token(&id, &secret, "b").await;

    let (s, _, a) = t.get("Patient?_count=50", Some(&ta)).await;
    assert_eq!(s, StatusCode::OK, "{a}");
    let fa = families(&a);
    assert_eq!(fa.len(), 5, "{a}");
    assert!(fa.iter().all(|f| f == "Alpha"), "{fa:?}");
    // Hospital B needs its own client credentials: the gateway has them,
    // the caller's token is not passed on.
    let (s, _, b) = t.get("Patient?_count=50", Some(&tb)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let fb = families(&b);
    assert_eq!(fb.len(), 2, "{b}");
    assert!(fb.iter().all(|f| f == "Bravo"), "{fb:?}");
    // The caller's token on B's server itself is refused there.
    let direct = t
        .http
        .get(format!("{}/Patient", h.b.base))
        .bearer_auth(&tb)
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), StatusCode::UNAUTHORIZED);

    // fullUrl points at the gateway.
    let first = &a["entry"][0];
    let full = first["fullUrl"].as_str().unwrap();
    assert!(full.starts_with(&format!("{}/Patient/", t.url)), "{full}");
    // A read by id, on the plain route and the tenant's own route.
    let pid = &h.b.patients[0].0;
    let (s, _, p) = t.get(&format!("Patient/{pid}"), Some(&tb)).await;
    assert_eq!(
        (s, p["id"].as_str()),
        (StatusCode::OK, Some(pid.as_str())),
        "{p}"
    );
    let (s, _, p) = t.get(&format!("tenant/b/Patient/{pid}"), Some(&tb)).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    // A's patient is not found through B's token.
    let (s, _, _) = t
        .get(&format!("Patient/{}", h.a.patients[0].0), Some(&tb))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Each request is audited with client, tenant, method and type.
    let recs = t.gw.audit.search(&Default::default()).await.unwrap();
    let reads: Vec<_> = recs
        .iter()
        .filter(|r| r.path.starts_with("/Patient") && r.status == 200)
        .collect();
    assert!(reads.iter().any(
        |r| r.tenant_id.as_deref() == Some("a") && r.client_id.as_deref() == Some(id.as_str())
    ));
    assert!(reads
        .iter()
        .any(|r| r.tenant_id.as_deref() == Some("b")
            && r.resource_type.as_deref() == Some("Patient")));
    assert!(t.gw.audit.verify().await.unwrap().is_ok());
    t.assert_no_upstream_address();
}
both!(each_tenant_sees_its_own_hospital);

async fn paging_search_and_batch_through_the_gateway(backend: Backend) {
    let t = TestGateway::start(backend).await;
    let h = t.add_hospitals().await;
    let (id, secret, _) = t.client(&["a"]).await;
    let ta = t.token(&id, &secret, "a").await;
    // Follow `next` links, each rewritten to the tenant route used.
    let mut url = format!("{}/tenant/a/Patient?_count=2", t.url);
    let mut seen = Vec::new();
    for _ in 0..10 {
        let (s, _, page) = t.get(&url, Some(&ta)).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        for e in page["entry"].as_array().into_iter().flatten() {
            seen.push(e["resource"]["id"].as_str().unwrap().to_owned());
            assert!(e["fullUrl"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{}/tenant/a/", t.url)));
        }
        let next = page["link"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["relation"] == "next");
        match next {
            Some(l) => {
                url = l["url"].as_str().unwrap().to_owned();
                assert!(url.starts_with(&format!("{}/tenant/a", t.url)), "{url}");
            }
            None => break,
        }
    }
    seen.sort();
    let mut want: Vec<String> = h.a.patients.iter().map(|(id, _)| id.clone()).collect();
    want.sort();
    assert_eq!(seen, want);

    // POST _search.
    let (s, _, b) = t
        .send(
            t.http
                .post(format!("{}/Patient/_search", t.url))
                .bearer_auth(&ta)
                .form(&[("family", "Alpha"), ("_count", "50")]),
        )
        .await;
    assert_eq!((s, families(&b).len()), (StatusCode::OK, 5), "{b}");
    // A batch of 20 reads.
    let entries: Vec<Value> = (0..20)
        .map(|i| json!({"request": {"method": "GET", "url": format!("Patient/{}", h.a.patients[i % 5].0)}}))
        .collect();
    let (s, _, b) = t
        .send(
            t.http
                .post(&t.url)
                .bearer_auth(&ta)
                .header("content-type", "application/fhir+json")
                .body(
                    json!({"resourceType": "Bundle", "type": "batch", "entry": entries})
                        .to_string(),
                ),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let answers = b["entry"].as_array().unwrap();
    assert_eq!(answers.len(), 20);
    assert!(
        answers
            .iter()
            .all(|e| e["response"]["status"].as_str().unwrap().starts_with("200")),
        "{b}"
    );
    // Writes are refused: the tenant is read-only.
    let (s, h2, b) = t
        .send(
            t.http
                .post(format!("{}/Patient", t.url))
                .bearer_auth(&ta)
                .header("content-type", "application/fhir+json")
                .body(r#"{"resourceType":"Patient"}"#),
        )
        .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED, "{b}");
    assert_eq!(crate::common::issue_code(&b), "not-supported");
    assert!(h2.contains_key("allow"));
    let write_batch = json!({"resourceType": "Bundle", "type": "batch",
        "entry": [{"request": {"method": "DELETE", "url": format!("Patient/{}", h.a.patients[0].0)}}]});
    let (s, _, _) = t
        .send(
            t.http
                .post(&t.url)
                .bearer_auth(&ta)
                .header("content-type", "application/fhir+json")
                .body(write_batch.to_string()),
        )
        .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    let (s, _, _) = t
        .get(&format!("Patient/{}", h.a.patients[0].0), Some(&ta))
        .await;
    assert_eq!(s, StatusCode::OK, "the patient is still there");
    t.assert_no_upstream_address();
}
both!(paging_search_and_batch_through_the_gateway);

async fn metadata_and_discovery(backend: Backend) {
    let t = TestGateway::start(backend).await;
    t.add_hospitals().await;
    let token_url = format!("{}/token", t.url);
    let oauth_token = |v: &Value| -> Option<String> {
        v["rest"][0]["security"]["extension"]
            .as_array()?
            .iter()
            .find(|e| {
                e["url"] == "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
            })?["extension"]
            .as_array()?
            .iter()
            .find(|e| e["url"] == "token")?["valueUri"]
            .as_str()
            .map(str::to_owned)
    };
    // No token: the gateway's own statement.
    let (s, _, own) = t.get("metadata", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(own["resourceType"], "CapabilityStatement");
    assert_eq!(own["fhirVersion"], "4.0.1");
    assert_eq!(oauth_token(&own).as_deref(), Some(token_url.as_str()));
    // A tenant's route: that server's statement, with the gateway's security.
    let (s, _, b) = t.get("tenant/b/metadata", None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(oauth_token(&b).as_deref(), Some(token_url.as_str()));
    assert!(
        b["rest"][0]["resource"]
            .as_array()
            .is_some_and(|r| !r.is_empty()),
        "{b}"
    );
    assert_eq!(b["implementation"]["url"], format!("{}/tenant/b", t.url));
    let (s, _, _) = t.get("tenant/nowhere/metadata", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // With a token: the token's tenant's statement.
    let (id, secret, _) = t.client(&["a"]).await;
    let ta = t.token(&id, &secret, "a").await;
    let (s, _, a) = t.get("metadata", Some(&ta)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        a["rest"][0]["resource"]
            .as_array()
            .is_some_and(|r| !r.is_empty()),
        "{a}"
    );
    assert_eq!(oauth_token(&a).as_deref(), Some(token_url.as_str()));
    // SMART configuration, at the root and under a tenant.
    for path in [
        ".well-known/smart-configuration",
        "tenant/a/.well-known/smart-configuration",
    ] {
        let (s, _, smart) = t.get(path, None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(smart["token_endpoint"], token_url.as_str());
        assert!(smart["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("client_credentials")));
    }
    // Health.
    for p in ["healthz", "readyz", "metrics"] {
        let r = t.http.get(format!("{}/{p}", t.url)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{p}");
    }
    let metrics = crate::common::metrics(&t.http, &t.url).await;
    assert!(
        metrics.contains("gateway_token_requests_total{outcome=\"issued\"} 1"),
        "{metrics}"
    );
    t.assert_no_upstream_address();
}
both!(metadata_and_discovery);

/// Rounds' own FHIR client (rounds-fhir), in EHR mode's configuration:
/// client credentials with the tenant in the scope, discovery through the
/// gateway's metadata, search, read, and summaries (batch).
async fn rounds_fhir_client_through_the_gateway(backend: Backend) {
    let t = TestGateway::start(backend).await;
    let h = t.add_hospitals().await;
    let (id, secret, _) = t.client(&["a", "b"]).await;
    for (tenant, base, family, count) in [
        ("a", format!("{}/tenant/a", t.url), "Alpha", 5),
        ("b", t.url.clone(), "Bravo", 2),
    ] {
        let mut config = rounds_fhir::ClientConfig::new(&base).unwrap();
        config.auth = rounds_fhir::AuthConfig::ClientCredentials {
            client_id: id.clone(),
            client_secret: rounds_fhir::Secret::new(secret.clone()),
            method: rounds_fhir::ClientAuthMethod::ClientSecretBasic,
            scope: Some(format!("system/*.read {tenant}")),
            token_url: None,
        };
        let client = rounds_fhir::FhirClient::connect(config).await.unwrap();
        assert_eq!(
            client.capabilities().token_endpoint(),
            Some(format!("{}/token", t.url).as_str())
        );
        let found = client
            .search_patients(&rounds_fhir::PatientQuery {
                family: Some(family.into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(found.patients.len(), count, "tenant {tenant}");
        let other = if tenant == "a" { "Bravo" } else { "Alpha" };
        let none = client
            .search_patients(&rounds_fhir::PatientQuery {
                family: Some(other.into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(none.patients.is_empty(), "tenant {tenant} sees {other}");
        let pid = if tenant == "a" {
            &h.a.patients[1].0
        } else {
            &h.b.patients[1].0
        };
        let p = client.read_patient(pid).await.unwrap();
        assert_eq!(&p.id, pid);
        let summaries = client.summaries(std::slice::from_ref(pid)).await;
        assert!(summaries[0].is_ok(), "{:?}", summaries[0]);
        let everything = format!("{found:?} {p:?} {summaries:?} {:?}", client.capabilities());
        for addr in [h.a.address(), h.b.address()] {
            assert!(!everything.contains(&addr), "{everything}");
        }
    }
}
both!(rounds_fhir_client_through_the_gateway);

/// The Python interpreter with Authlib and fhirpy (scripts/test.sh
/// installs them into .venv-peers beside sekmet).
fn python() -> std::path::PathBuf {
    std::env::var("ROUNDS_TEST_PEERS_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| {
            let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../.venv-peers/bin/python3");
            assert!(
                p.exists(),
                "no Python with Authlib and fhirpy: run scripts/test.sh or set ROUNDS_TEST_PEERS_PYTHON"
            );
            p
        })
}

/// Independent callers: Authlib's client credentials flow (basic and
/// post, and its reading of invalid_client / invalid_scope) and fhirpy
/// paging through the gateway's rewritten links, on both tenants.
async fn python_callers(backend: Backend) {
    let t = TestGateway::start(backend).await;
    t.add_hospitals().await;
    let (id, secret, _) = t.client(&["a", "b"]).await;
    for (tenant, family, count) in [("a", "Alpha", 5), ("b", "Bravo", 2)] {
        let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/peers/python_callers.py");
        let args = [
            script.display().to_string(),
            t.url.clone(),
            id.clone(),
            secret.clone(),
            tenant.into(),
            family.into(),
            count.to_string(),
        ];
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new(python())
                .args(&args)
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "tenant {tenant}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_str(stdout.trim()).unwrap();
        assert_eq!(report["fhirpy_count"], count, "{report}");
    }
    // fhirpy's paging went through the gateway: pages of two, audited.
    let recs = t.gw.audit.search(&Default::default()).await.unwrap();
    let pages = recs
        .iter()
        .filter(|r| r.path == "/Patient" && r.tenant_id.as_deref() == Some("a"))
        .count();
    assert!(pages >= 3, "fhirpy read {pages} pages of tenant a");
}
both!(python_callers);

/// Upstream authentication by SMART Backend Services: the gateway signs a
/// client assertion (ES384) with the tenant's private key, sealed at rest,
/// and a real server (sekmet, with the public key registered) answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_backend_services() {
    use base64::Engine;
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P384_SHA384_FIXED_SIGNING};
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let pt = pair.public_key().as_ref().to_vec();
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let jwks = json!({"keys": [{"kty": "EC", "crv": "P-384", "x": b64(&pt[1..49]), "y": b64(&pt[49..97]), "kid": "gw-key", "alg": "ES384", "use": "sig"}]});
    let body = base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref());
    let lines: Vec<String> = body
        .as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    );
    let settings = format!(
        "validation:\n  inbound: warn\nserver_auth:\n  types: [smart, bearer]\n  tokens: [seed-c]\n  smart_clients:\n    - client_id: gateway-bs\n      jwks: {jwks}\n      scopes: \"system/*.read\"\n"
    );
    let c = tokio::task::spawn_blocking(move || {
        crate::common::Sekmet::start(&settings, &[("Charlie", 3)], Some("seed-c"))
    })
    .await
    .unwrap();
    let t = TestGateway::start(Backend::Sqlite).await;
    t.add_tenant(
        "c",
        &c.base,
        rounds_gateway::tenants::UpstreamAuth::BackendServices {
            client_id: "gateway-bs".into(),
            algorithm: "ES384".into(),
            key_id: Some("gw-key".into()),
            token_url: None,
            scope: Some("system/*.read".into()),
        },
        Some(&pem),
    )
    .await;
    let (id, secret, _) = t.client(&["c"]).await;
    let tc = t.token(&id, &secret, "c").await;
    let (s, _, bundle) = t.get("Patient?_count=50", Some(&tc)).await;
    assert_eq!(s, StatusCode::OK, "{bundle}");
    assert_eq!(families(&bundle), vec!["Charlie", "Charlie", "Charlie"]);
    // Without the gateway's credentials the server refuses.
    let direct = t
        .http
        .get(format!("{}/Patient", c.base))
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), StatusCode::UNAUTHORIZED);
    for text in t.seen.lock().unwrap().iter() {
        assert!(!text.contains(&c.address()), "{text}");
    }
    drop(c);
}

/// An upstream at `http://127.0.0.1:P/fhir` that names itself in every form
/// the same base can take (the other scheme, upper-case letters, the JSON
/// escaped solidus) in Bundle links, fullUrls, references and the
/// `Location`, `Content-Location` and `Link` headers, and that records the
/// query strings it receives.
async fn self_naming_upstream() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    tokio::task::JoinHandle<()>,
) {
    use axum::response::IntoResponse;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let queries = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = queries.clone();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let seen = seen.clone();
        async move {
            seen.lock()
                .unwrap()
                .push(uri.query().unwrap_or_default().to_owned());
            let plain = format!("http://{addr}/fhir");
            let tls = format!("https://{addr}/fhir");
            let upper = format!("HTTP://{addr}/fhir");
            let escaped = format!("http:\\/\\/{addr}\\/fhir");
            // Another server on the same host: not this base, left alone.
            let elsewhere = format!("http://{}:{}/fhir", addr.ip(), addr.port() + 1);
            let body = format!(
                r#"{{"resourceType":"Bundle","type":"searchset","total":1,
                "link":[{{"relation":"self","url":"{plain}/Patient?_count=1"}},
                        {{"relation":"next","url":"{tls}?_getpages=abc&_offset=1"}}],
                "entry":[{{"fullUrl":"{upper}/Patient/p1",
                  "resource":{{"resourceType":"Patient","id":"p1",
                    "managingOrganization":{{"reference":"{escaped}\/Organization\/o1"}},
                    "generalPractitioner":[{{"reference":"{tls}/Practitioner/d1"}}],
                    "link":[{{"other":{{"reference":"{elsewhere}/Patient/x"}},"type":"seealso"}}],
                    "extension":[{{"url":"urn:test:weight","valueDecimal":1.50}}]}}}}]}}"#
            );
            (
                [
                    (
                        axum::http::header::CONTENT_TYPE,
                        "application/fhir+json".to_owned(),
                    ),
                    (
                        axum::http::header::LOCATION,
                        format!("{tls}/Patient/p1/_history/1"),
                    ),
                    (
                        axum::http::header::CONTENT_LOCATION,
                        format!("{upper}/Patient/p1/_history/1"),
                    ),
                    (
                        axum::http::header::LINK,
                        format!("<{plain}/Patient?_getpages=abc&_offset=1>; rel=\"next\""),
                    ),
                ],
                body,
            )
                .into_response()
        }
    });
    let task = tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    (format!("http://{addr}/fhir"), queries, task)
}

/// Requirement 9 in every form: whatever way the upstream writes its own
/// base, the caller sees only the gateway's; a caller's gateway URL in a
/// query reaches the upstream as the upstream's own.
async fn every_form_of_the_upstream_base_is_rewritten(backend: Backend) {
    let t = TestGateway::start(backend).await;
    let (base, queries, task) = self_naming_upstream().await;
    t.add_tenant(
        "forms",
        &base,
        rounds_gateway::tenants::UpstreamAuth::None,
        None,
    )
    .await;
    let (id, secret, _) = t.client(&["forms"]).await;
    let tok = t.token(&id, &secret, "forms").await;
    let gw = format!("{}/tenant/forms", t.url);
    let (s, h, b) = t
        .get(
            &format!("{gw}/Patient?subject={gw}/Patient/p1&other=https://elsewhere.example/fhir"),
            Some(&tok),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["link"][0]["url"], format!("{gw}/Patient?_count=1"));
    assert_eq!(b["link"][1]["url"], format!("{gw}?_getpages=abc&_offset=1"));
    let entry = &b["entry"][0];
    assert_eq!(entry["fullUrl"], format!("{gw}/Patient/p1"));
    assert_eq!(
        entry["resource"]["managingOrganization"]["reference"],
        format!("{gw}/Organization/o1")
    );
    assert_eq!(
        entry["resource"]["generalPractitioner"][0]["reference"],
        format!("{gw}/Practitioner/d1")
    );
    let port = url::Url::parse(&base).unwrap().port().unwrap();
    assert_eq!(
        entry["resource"]["link"][0]["other"]["reference"],
        format!("http://127.0.0.1:{}/fhir/Patient/x", port + 1),
        "another server's address is not this upstream's"
    );
    let header = |name: &str| h.get(name).unwrap().to_str().unwrap().to_owned();
    assert_eq!(header("location"), format!("{gw}/Patient/p1/_history/1"));
    assert_eq!(
        header("content-location"),
        format!("{gw}/Patient/p1/_history/1")
    );
    assert_eq!(
        header("link"),
        format!("<{gw}/Patient?_getpages=abc&_offset=1>; rel=\"next\"")
    );
    // The decimal kept its precision (the body is rewritten as text).
    let raw = t.seen.lock().unwrap().last().unwrap().clone();
    assert!(raw.contains(r#""valueDecimal":1.50"#), "{raw}");
    // No answer names the upstream, in any letter case.
    let upstream = format!("127.0.0.1:{port}/");
    for text in t.seen.lock().unwrap().iter() {
        assert!(
            !text.to_ascii_lowercase().contains(&upstream),
            "an answer names the upstream:\n{text}"
        );
    }
    // Inward: the gateway's URL in the query became the upstream's.
    let got = queries.lock().unwrap().last().unwrap().clone();
    assert!(
        got.contains(&format!("subject={base}/Patient/p1")),
        "the upstream got {got}"
    );
    assert!(
        got.contains("other=https://elsewhere.example/fhir"),
        "{got}"
    );
    task.abort();
}
both!(every_form_of_the_upstream_base_is_rewritten);

/// Requirement 8 with HTTP Basic: the gateway sends the tenant's own user
/// and password (sealed at rest), never the caller's token; an upstream
/// that refuses them is a 401 the caller sees as the upstream's answer,
/// not as its own credentials.
async fn upstream_http_basic(backend: Backend) {
    use axum::response::IntoResponse;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let record = seen.clone();
    let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap| {
        let record = record.clone();
        async move {
            let auth = headers
                .get("authorization")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            record.lock().unwrap().push(auth.clone());
            // "ward:pa ss:wörd" as RFC 7617 has it (UTF-8, then base64).
            if auth == "Basic d2FyZDpwYSBzczp3w7ZyZA==" {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/fhir+json")],
                    r#"{"resourceType":"Patient","id":"p1"}"#,
                )
                    .into_response()
            } else {
                axum::http::StatusCode::UNAUTHORIZED.into_response()
            }
        }
    });
    let task = tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    let t = TestGateway::start(backend).await;
    let base = format!("http://{addr}/fhir");
    t.add_tenant(
        "basic",
        &base,
        rounds_gateway::tenants::UpstreamAuth::Basic {
            username: "ward".into(),
        },
        Some("pa ss:wörd"),
    )
    .await;
    t.add_tenant(
        "wrong",
        &base,
        rounds_gateway::tenants::UpstreamAuth::Basic {
            username: "ward".into(),
        },
        Some("not it"),
    )
    .await;
    let (id, secret, _) = t.client(&["basic", "wrong"]).await;
    let tok = t.token(&id, &secret, "basic").await;
    let (s, _, b) = t.get("Patient/p1", Some(&tok)).await;
    assert_eq!((s, b["id"].as_str()), (StatusCode::OK, Some("p1")), "{b}");
    let wrong = t.token(&id, &secret, "wrong").await;
    let (s, _, _) = t.get("Patient/p1", Some(&wrong)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen.iter().all(|a| a.starts_with("Basic ")), "{seen:?}");
    assert!(
        seen.iter()
            .all(|a| !a.contains(&tok) && !a.contains(&wrong)),
        "the caller's token reached the upstream"
    );
    // Sealed at rest: the password is not in the database as text.
    let mut conn = t.gw.db.read().await.unwrap();
    let sealed: String = sqlx::Row::get(
        &sqlx::query("SELECT auth_secret FROM tenants WHERE id = 'basic'")
            .fetch_one(&mut *conn)
            .await
            .unwrap(),
        "auth_secret",
    );
    assert!(!sealed.is_empty() && !sealed.contains("wörd") && !sealed.contains("pa ss"));
    task.abort();
}
both!(upstream_http_basic);
