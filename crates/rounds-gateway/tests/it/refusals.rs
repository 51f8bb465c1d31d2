//! What the gateway refuses itself, each with the right status and a FHIR
//! OperationOutcome: missing, forged, expired and revoked tokens, the wrong
//! tenant, a tenant without mapping, rate limits, size bounds, upstream
//! timeouts; and revocation shared by two instances on one PostgreSQL.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both;
use crate::common::{client_assertion, client_key, issue_code, Backend, TestGateway};

fn challenge(h: &reqwest::header::HeaderMap) -> String {
    h.get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

async fn assert_invalid_token(t: &TestGateway, token: &str, what: &str) {
    let (s, h, body) = t.get("Patient", Some(token)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{what}: {body}");
    assert_eq!(issue_code(&body), "login", "{what}");
    assert!(
        challenge(&h).contains("error=\"invalid_token\""),
        "{what}: {h:?}"
    );
}

fn sign_with(claims: &Value, kid: &str, key: &jsonwebtoken::EncodingKey) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

async fn forged_and_wrong_tokens(backend: Backend) {
    let t = TestGateway::start(backend).await;
    t.add_hospitals().await;
    let (id, secret, _) = t.client(&["a"]).await;
    let (s, h, body) = t.get("Patient", None).await;
    assert_eq!((s, issue_code(&body)), (StatusCode::UNAUTHORIZED, "login"));
    assert_eq!(challenge(&h), "Bearer realm=\"rounds-gateway\"");

    let good = t.token(&id, &secret, "a").await;
    let parts: Vec<&str> = good.split('.').collect();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let kid = header["kid"].as_str().unwrap();

    assert_invalid_token(&t, "not-a-jwt", "garbage").await;
    // alg none, with and without a signature.
    let none_header =
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "JWT", "kid": kid}).to_string());
    assert_invalid_token(&t, &format!("{none_header}.{}.", parts[1]), "alg none").await;
    assert_invalid_token(
        &t,
        &format!("{none_header}.{}.{}", parts[1], parts[2]),
        "alg none, old signature",
    )
    .await;
    // HS256 with the public key as secret (algorithm confusion).
    let hs = jsonwebtoken::encode(
        &jsonwebtoken::Header {
            kid: Some(kid.into()),
            ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
        },
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(kid.as_bytes()),
    )
    .unwrap();
    assert_invalid_token(&t, &hs, "HS256").await;
    // Altered claims under the real signature.
    let mut altered = claims.clone();
    altered["tenant"] = json!("b");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(altered.to_string()),
        parts[2]
    );
    assert_invalid_token(&t, &forged, "altered claims").await;
    // Another key under our kid.
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &rng,
    )
    .unwrap();
    let foreign = jsonwebtoken::EncodingKey::from_ec_der(pkcs8.as_ref());
    assert_invalid_token(&t, &sign_with(&claims, kid, &foreign), "wrong key").await;
    assert_invalid_token(
        &t,
        &sign_with(&claims, "unknown-kid", &foreign),
        "unknown kid",
    )
    .await;
    // Signed with the gateway's own key but expired, or for another issuer.
    let (kid, key) = t.gw.keys.signer().await.unwrap();
    let now = rounds_gateway::db::now_millis() / 1000;
    let mut expired = claims.clone();
    expired["iat"] = json!(now - 600);
    expired["exp"] = json!(now - 60);
    assert_invalid_token(&t, &sign_with(&expired, &kid, &key), "expired").await;
    let mut other_iss = claims.clone();
    other_iss["iss"] = json!("https://elsewhere.example");
    assert_invalid_token(&t, &sign_with(&other_iss, &kid, &key), "other issuer").await;
    // The gateway's own key and a real client, but a tenant the client may
    // not use: 403.
    let mut other_tenant = claims.clone();
    other_tenant["tenant"] = json!("b");
    let (s, _, body) = t
        .get("Patient", Some(&sign_with(&other_tenant, &kid, &key)))
        .await;
    assert_eq!(
        (s, issue_code(&body)),
        (StatusCode::FORBIDDEN, "forbidden"),
        "{body}"
    );
    // The good token still works.
    let (s, _, _) = t.get("Patient", Some(&good)).await;
    assert_eq!(s, StatusCode::OK);

    // Audit: the refusals are recorded too.
    let recs = t.gw.audit.search(&Default::default()).await.unwrap();
    assert!(recs.iter().filter(|r| r.outcome == "invalid_token").count() >= 8);
    assert!(recs
        .iter()
        .any(|r| r.outcome == "no_token" && r.status == 401));
    t.assert_no_upstream_address();
}
both!(forged_and_wrong_tokens);

async fn tenants_clients_and_routes(backend: Backend) {
    let t = TestGateway::start(backend).await;
    t.add_hospitals().await;
    let h = crate::common::hospitals();
    let (id, secret, _) = t.client(&["a", "b"]).await;
    let ta = t.token(&id, &secret, "a").await;
    // A token for tenant A on tenant B's route.
    let (s, hd, body) = t.get("tenant/b/Patient", Some(&ta)).await;
    assert_eq!(
        (s, issue_code(&body)),
        (StatusCode::FORBIDDEN, "forbidden"),
        "{body}"
    );
    assert!(challenge(&hd).contains("insufficient_scope"));
    // The client loses tenant A: its A tokens are refused (403) within the
    // cache's second, B still works.
    let tb = t.token(&id, &secret, "b").await;
    t.gw.registry.set_tenants(&id, &["b".into()]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (s, _, body) = t.get("Patient", Some(&ta)).await;
    assert_eq!(
        (s, issue_code(&body)),
        (StatusCode::FORBIDDEN, "forbidden"),
        "{body}"
    );
    let (s, _, _) = t.get("Patient", Some(&tb)).await;
    assert_eq!(s, StatusCode::OK);
    // A tenant whose mapping is removed: 404.
    t.add_tenant(
        "c",
        &h.a.base,
        rounds_gateway::tenants::UpstreamAuth::None,
        None,
    )
    .await;
    t.gw.registry
        .set_tenants(&id, &["b".into(), "c".into()])
        .await
        .unwrap();
    let tc = t.token(&id, &secret, "c").await;
    // (Validation caches the client's tenants for a second.)
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (s, _, _) = t.get("Patient", Some(&tc)).await;
    assert_eq!(s, StatusCode::OK);
    t.gw.tenants.delete("c").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (s, _, body) = t.get("Patient", Some(&tc)).await;
    assert_eq!(
        (s, issue_code(&body)),
        (StatusCode::NOT_FOUND, "not-found"),
        "{body}"
    );
    // A disabled client's tokens are refused.
    t.gw.registry.set_disabled(&id, true).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (s, _, body) = t.get("Patient", Some(&tb)).await;
    assert_eq!(
        (s, issue_code(&body)),
        (StatusCode::UNAUTHORIZED, "login"),
        "{body}"
    );
    // A path that is no FHIR route.
    let (s, _, body) = t.get("tenant/bad%20id/Patient", Some(&tb)).await;
    assert_eq!((s, issue_code(&body)), (StatusCode::NOT_FOUND, "not-found"));
    t.assert_no_upstream_address();
}
both!(tenants_clients_and_routes);

async fn rate_limits_and_size_bounds(backend: Backend) {
    let t = TestGateway::start_with(backend, |s| {
        s.rate_limit = 5;
        s.max_request_bytes = 2048;
        s.max_response_bytes = 2048;
    })
    .await;
    t.add_hospitals().await;
    let (id, secret, _) = t.client(&["a"]).await;
    let ta = t.token(&id, &secret, "a").await;
    // A small answer passes; a large one is refused with 502.
    let (s, _, body) = t.get("Patient?_count=1&_elements=id", Some(&ta)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, _, body) = t.get("Patient?_count=50", Some(&ta)).await;
    assert_eq!(
        (s, issue_code(&body)),
        (StatusCode::BAD_GATEWAY, "too-costly"),
        "{body}"
    );
    // A large request body: 413.
    let big = "x".repeat(5000);
    let (s, _, body) = t
        .send(
            t.http
                .post(format!("{}/Patient/_search", t.url))
                .bearer_auth(&ta)
                .form(&[("name", big.as_str())]),
        )
        .await;
    assert_eq!(
        (s, issue_code(&body)),
        (StatusCode::PAYLOAD_TOO_LARGE, "too-costly"),
        "{body}"
    );
    // Five requests a minute: the sixth is throttled.
    for _ in 0..2 {
        let (s, _, _) = t.get("Patient?_count=1&_elements=id", Some(&ta)).await;
        assert_eq!(s, StatusCode::OK);
    }
    let (s, h, body) = t.get("Patient?_count=1&_elements=id", Some(&ta)).await;
    assert_eq!(
        (s, issue_code(&body)),
        (StatusCode::TOO_MANY_REQUESTS, "throttled"),
        "{body}"
    );
    let wait: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait));
    // Another client is not throttled.
    let (id2, secret2, _) = t.client(&["a"]).await;
    let t2 = t.token(&id2, &secret2, "a").await;
    let (s, _, _) = t.get("Patient?_count=1&_elements=id", Some(&t2)).await;
    assert_eq!(s, StatusCode::OK);
    t.assert_no_upstream_address();
}
both!(rate_limits_and_size_bounds);

/// An upstream that accepts connections and never answers.
async fn silent_upstream() -> (String, tokio::task::JoinHandle<()>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/fhir", l.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = l.accept().await {
            held.push(sock);
        }
    });
    (base, task)
}

async fn upstream_timeout_is_504(backend: Backend) {
    let t = TestGateway::start_with(backend, |s| s.upstream_timeout = Duration::from_secs(1)).await;
    let (base, task) = silent_upstream().await;
    t.add_tenant(
        "slow",
        &base,
        rounds_gateway::tenants::UpstreamAuth::None,
        None,
    )
    .await;
    let (id, secret, _) = t.client(&["slow"]).await;
    let tok = t.token(&id, &secret, "slow").await;
    let started = std::time::Instant::now();
    let (s, _, body) = t.get("Patient", Some(&tok)).await;
    assert_eq!(
        (s, issue_code(&body)),
        (StatusCode::GATEWAY_TIMEOUT, "timeout"),
        "{body}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    let port = base.split(':').nth(2).unwrap().split('/').next().unwrap();
    assert!(!body.to_string().contains(port), "{body}");
    let metrics = crate::common::metrics(&t.http, &t.url).await;
    assert!(
        metrics.contains("gateway_upstream_errors_total{tenant=\"slow\",kind=\"timeout\"} 1"),
        "{metrics}"
    );
    task.abort();
}
both!(upstream_timeout_is_504);

/// Two instances on one PostgreSQL: a token from one works on the other,
/// and a secret revoked on one is refused on the other within seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_revocations() {
    let one = TestGateway::start(Backend::Postgres).await;
    one.add_hospitals().await;
    // Behind one load balancer: one public address.
    let public = one.url.clone();
    let two = TestGateway::start_on(&one.db_url, move |s| s.public_url = public).await;
    let (id, secret, secret_id) = one.client(&["a"]).await;
    let tok = one.token(&id, &secret, "a").await;
    // Instance two verifies instance one's token (same keys, same registry).
    let (s, _, body) = two.get("Patient?_count=1", Some(&tok)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let tok2 = two.token(&id, &secret, "a").await;
    // Rotation of the signing key on one reaches two.
    one.gw.keys.rotate().await.unwrap();
    let tok3 = one.token(&id, &secret, "a").await;
    let (s, _, _) = two.get("Patient?_count=1", Some(&tok3)).await;
    assert_eq!(s, StatusCode::OK);
    // Revoke on one: refused on two within the cache's second.
    one.gw
        .registry
        .revoke_secret(&id, &secret_id)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    for t in [&tok, &tok2, &tok3] {
        let (s, _, body) = two.get("Patient?_count=1", Some(t)).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
    }
    let (s, _, body) = two
        .token_request(
            Some((&id, &secret)),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(
        (s, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    // Both instances audit into one chain.
    assert!(one.gw.audit.verify().await.unwrap().unwrap() >= 8);
    one.assert_no_upstream_address();
    two.assert_no_upstream_address();
}

/// Two instances on one PostgreSQL: a client's rate limit holds across
/// both (not once per instance), and a private_key_jwt assertion used on
/// one is a replay on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_rate_limits_and_replay_protection() {
    let one = TestGateway::start_with(Backend::Postgres, |s| s.rate_limit = 4).await;
    one.add_hospitals().await;
    let public = one.url.clone();
    let two = TestGateway::start_on(&one.db_url, move |s| {
        s.public_url = public;
        s.rate_limit = 4;
    })
    .await;
    let (id, secret, _) = one.client(&["a"]).await;
    let tok = one.token(&id, &secret, "a").await;
    // Four requests a minute, spread over both instances: the fifth and
    // sixth are refused on whichever instance they reach.
    for (i, t) in [&one, &two, &one, &two].iter().enumerate() {
        let (s, _, body) = t.get("Patient?_count=1&_elements=id", Some(&tok)).await;
        assert_eq!(s, StatusCode::OK, "request {i}: {body}");
    }
    for t in [&one, &two] {
        let (s, h, body) = t.get("Patient?_count=1&_elements=id", Some(&tok)).await;
        assert_eq!(
            (s, issue_code(&body)),
            (StatusCode::TOO_MANY_REQUESTS, "throttled"),
            "{body}"
        );
        let wait: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&wait), "{wait}");
    }

    // private_key_jwt: one assertion, two instances.
    let alg = jsonwebtoken::Algorithm::ES384;
    let (key, jwk) = client_key(alg, "k1");
    let (jid, _, _) = one.client(&["a"]).await;
    one.gw
        .registry
        .set_jwks(&jid, Some(&json!({"keys": [jwk]})))
        .await
        .unwrap();
    let aud = format!("{}/token", one.url);
    let assertion = client_assertion(&key, alg, "k1", &jid, &aud, "used-once");
    let form = [
        ("grant_type", "client_credentials"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion.as_str()),
        ("scope", "a"),
    ];
    let (s, _, body) = one.token_request(None, &form).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, _, body) = two.token_request(None, &form).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client")),
        "a replay on the other instance: {body}"
    );
    // The refusal is audited with its reason.
    let records = one
        .gw
        .audit
        .search(&rounds_gateway::audit::AuditFilter::default())
        .await
        .unwrap();
    assert_eq!(records[0].outcome, "assertion_replay", "{:?}", records[0]);
    one.assert_no_upstream_address();
    two.assert_no_upstream_address();
}

/// On one instance the replay check survives a restart (the ids are in the
/// database, not in memory).
async fn replay_protection_survives_a_restart(backend: Backend) {
    let first = TestGateway::start(backend).await;
    first.add_hospitals().await;
    let (jid, _, _) = first.client(&["a"]).await;
    let alg = jsonwebtoken::Algorithm::ES256;
    let (key, jwk) = client_key(alg, "p");
    first
        .gw
        .registry
        .set_jwks(&jid, Some(&json!({"keys": [jwk]})))
        .await
        .unwrap();
    let public = first.url.clone();
    let assertion = client_assertion(&key, alg, "p", &jid, &format!("{public}/token"), "again");
    let form = [
        ("grant_type", "client_credentials"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion.as_str()),
    ];
    let (s, _, body) = first.token_request(None, &form).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    // A fresh instance (as after a restart) on the same database.
    let again = TestGateway::start_on(&first.db_url, move |s| s.public_url = public).await;
    let (s, _, body) = again.token_request(None, &form).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client")),
        "{body}"
    );
}
both!(replay_protection_survives_a_restart);
