//! The token endpoint: both client_secret methods, the answer's shape, and
//! RFC 6749 §5.2 errors; secret rotation; signing key rotation.

use reqwest::StatusCode;
use serde_json::Value;

use crate::both;
use crate::common::{Backend, TestGateway};

fn oauth_error(status: StatusCode, body: &Value, code: &str, want: StatusCode) {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["error"], code, "{body}");
    assert!(body["error_description"].is_string(), "{body}");
}

async fn token_flow_and_errors(backend: Backend) {
    let t = TestGateway::start(backend).await;
    t.add_hospitals().await;
    let (id, secret, _) = t.client(&["a", "b"]).await;
    let cc = ("grant_type", "client_credentials");

    // client_secret_basic
    let (s, h, body) = t
        .token_request(Some((&id, &secret)), &[cc, ("scope", "a")])
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 300);
    assert_eq!(body["scope"], "a");
    assert_eq!(h["cache-control"], "no-store");
    let token = body["access_token"].as_str().unwrap();
    // The claims hold the client and the tenant; the header names our key.
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    let jwks: Value = t
        .http
        .get(format!("{}/.well-known/jwks.json", t.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"].as_str() == header.kid.as_deref())
            .unwrap()
            .clone(),
    )
    .unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    v.set_audience(&[&t.url]);
    v.set_issuer(&[&t.url]);
    let claims = jsonwebtoken::decode::<Value>(
        token,
        &jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap(),
        &v,
    )
    .unwrap()
    .claims;
    assert_eq!(claims["client_id"], id.as_str());
    assert_eq!(claims["sub"], id.as_str());
    assert_eq!(claims["tenant"], "a");

    // client_secret_post, tenant:<id> form, SMART scopes kept.
    let (s, _, body) = t
        .token_request(
            None,
            &[
                cc,
                ("client_id", &id),
                ("client_secret", &secret),
                ("scope", "system/*.read tenant:b"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "system/*.read b");

    // Errors, each as RFC 6749 §5.2 says.
    let (s, h, body) = t
        .token_request(Some((&id, "rgw_wrong")), &[cc, ("scope", "a")])
        .await;
    oauth_error(s, &body, "invalid_client", StatusCode::UNAUTHORIZED);
    assert!(
        h["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic realm="),
        "{h:?}"
    );
    let (s, _, body) = t
        .token_request(Some(("no-such-client", &secret)), &[cc, ("scope", "a")])
        .await;
    oauth_error(s, &body, "invalid_client", StatusCode::UNAUTHORIZED);
    let (s, h, body) = t
        .token_request(
            None,
            &[
                cc,
                ("client_id", &id),
                ("client_secret", "wrong"),
                ("scope", "a"),
            ],
        )
        .await;
    oauth_error(s, &body, "invalid_client", StatusCode::UNAUTHORIZED);
    assert!(
        h.get("www-authenticate").is_none(),
        "no Basic challenge when Basic was not used"
    );
    let (s, _, body) = t.token_request(None, &[cc, ("scope", "a")]).await;
    oauth_error(s, &body, "invalid_client", StatusCode::UNAUTHORIZED);
    let (s, _, body) = t
        .token_request(Some((&id, &secret)), &[("scope", "a")])
        .await;
    oauth_error(s, &body, "invalid_request", StatusCode::BAD_REQUEST);
    let (s, _, body) = t
        .token_request(
            Some((&id, &secret)),
            &[("grant_type", "password"), ("scope", "a")],
        )
        .await;
    oauth_error(s, &body, "unsupported_grant_type", StatusCode::BAD_REQUEST);
    let (s, _, body) = t
        .token_request(Some((&id, &secret)), &[cc, cc, ("scope", "a")])
        .await;
    oauth_error(s, &body, "invalid_request", StatusCode::BAD_REQUEST);
    let (s, _, body) = t
        .token_request(
            Some((&id, &secret)),
            &[cc, ("client_id", &id), ("client_secret", &secret)],
        )
        .await;
    oauth_error(s, &body, "invalid_request", StatusCode::BAD_REQUEST);
    // Several tenants allowed and none asked for; one not allowed; two at once.
    let (s, _, body) = t.token_request(Some((&id, &secret)), &[cc]).await;
    oauth_error(s, &body, "invalid_scope", StatusCode::BAD_REQUEST);
    let (s, _, body) = t
        .token_request(Some((&id, &secret)), &[cc, ("scope", "c")])
        .await;
    oauth_error(s, &body, "invalid_scope", StatusCode::BAD_REQUEST);
    let (s, _, body) = t
        .token_request(Some((&id, &secret)), &[cc, ("scope", "a b")])
        .await;
    oauth_error(s, &body, "invalid_scope", StatusCode::BAD_REQUEST);
    // A client allowed a tenant the gateway does not serve.
    let (ghost, ghost_secret, _) = t.client(&["ghost"]).await;
    let (s, _, body) = t.token_request(Some((&ghost, &ghost_secret)), &[cc]).await;
    oauth_error(s, &body, "invalid_scope", StatusCode::BAD_REQUEST);
    // A client with no tenant at all.
    let (none, none_secret, _) = t.client(&[]).await;
    let (s, _, body) = t
        .token_request(Some((&none, &none_secret)), &[cc, ("scope", "a")])
        .await;
    oauth_error(s, &body, "unauthorized_client", StatusCode::BAD_REQUEST);
    // JSON instead of a form.
    let r = t
        .http
        .post(format!("{}/token", t.url))
        .basic_auth(&id, Some(&secret))
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    // A disabled client.
    t.gw.registry.set_disabled(&id, true).await.unwrap();
    let (s, _, body) = t
        .token_request(Some((&id, &secret)), &[cc, ("scope", "a")])
        .await;
    oauth_error(s, &body, "invalid_client", StatusCode::UNAUTHORIZED);

    // Every token request is audited, with why it failed.
    let records = t.gw.audit.search(&Default::default()).await.unwrap();
    assert!(records
        .iter()
        .any(|r| r.outcome == "wrong_secret" && r.client_id.as_deref() == Some(id.as_str())));
    assert!(records.iter().any(|r| r.outcome == "unknown_client"));
    assert!(records.iter().any(|r| r.outcome == "client_disabled"));
    assert!(records.iter().filter(|r| r.outcome == "issued").count() >= 2);
    assert!(t.gw.audit.verify().await.unwrap().is_ok());
    t.assert_no_upstream_address();
}
both!(token_flow_and_errors);

async fn secret_rotation_without_downtime(backend: Backend) {
    let t = TestGateway::start(backend).await;
    t.add_hospitals().await;
    let (id, old, old_id) = t.client(&["a"]).await;
    let old_token = t.token(&id, &old, "a").await;
    // A second secret; both work at once.
    let new = t.gw.registry.add_secret(&id, None).await.unwrap();
    let new_token = t.token(&id, &new.client_secret, "a").await;
    t.token(&id, &old, "a").await;
    // No third live secret.
    let third = t.gw.registry.add_secret(&id, None).await;
    assert!(third.unwrap_err().to_string().contains("revoke one first"));
    for tok in [&old_token, &new_token] {
        let (s, _, body) = t.get("Patient?_count=1", Some(tok)).await;
        assert_eq!(s, StatusCode::OK, "{body}");
    }
    // Revoke the old one: its secret and its tokens are refused (after the
    // one-second validation cache), the new ones keep working.
    t.gw.registry.revoke_secret(&id, &old_id).await.unwrap();
    let (s, _, body) = t
        .token_request(Some((&id, &old)), &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(
        (s, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let (s, h, body) = t.get("Patient?_count=1", Some(&old_token)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        h["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\""),
        "{h:?}"
    );
    let (s, _, _) = t.get("Patient?_count=1", Some(&new_token)).await;
    assert_eq!(s, StatusCode::OK);
    t.assert_no_upstream_address();
}
both!(secret_rotation_without_downtime);

async fn expired_secrets_do_not_authenticate(backend: Backend) {
    let t = TestGateway::start(backend).await;
    t.add_hospitals().await;
    let (c, s) =
        t.gw.registry
            .create_client(
                "short-lived",
                &["a".into()],
                Some(rounds_gateway::db::now_millis() + 1500),
            )
            .await
            .unwrap();
    t.token(&c.id, &s.client_secret, "a").await;
    tokio::time::sleep(std::time::Duration::from_millis(1700)).await;
    let (st, _, body) = t
        .token_request(
            Some((&c.id, &s.client_secret)),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(
        (st, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    // An expired secret does not count as live: a new one may be added twice.
    t.gw.registry.add_secret(&c.id, None).await.unwrap();
    t.gw.registry.add_secret(&c.id, None).await.unwrap();
}
both!(expired_secrets_do_not_authenticate);

async fn signing_key_rotation(backend: Backend) {
    let t = TestGateway::start(backend).await;
    t.add_hospitals().await;
    let (id, secret, _) = t.client(&["a"]).await;
    let before = t.token(&id, &secret, "a").await;
    let kid_before = jsonwebtoken::decode_header(&before).unwrap().kid.unwrap();
    let kid_after = t.gw.keys.rotate().await.unwrap();
    assert_ne!(kid_before, kid_after);
    let after = t.token(&id, &secret, "a").await;
    assert_eq!(
        jsonwebtoken::decode_header(&after).unwrap().kid.unwrap(),
        kid_after
    );
    // The JWKS publishes both; the old key's tokens still verify.
    let jwks: Value = t
        .http
        .get(format!("{}/.well-known/jwks.json", t.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(
        kids.contains(&kid_before.as_str()) && kids.contains(&kid_after.as_str()),
        "{jwks}"
    );
    for tok in [&before, &after] {
        let (s, _, body) = t.get("Patient?_count=1", Some(tok)).await;
        assert_eq!(s, StatusCode::OK, "{body}");
    }
}
both!(signing_key_rotation);

/// SMART Backend Services: `private_key_jwt` with the client's registered
/// JWKS (ES384), replay and audience checks, and disabling.
async fn private_key_jwt(backend: Backend) {
    use base64::Engine;
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P384_SHA384_FIXED_SIGNING};
    let t = TestGateway::start(backend).await;
    t.add_hospitals().await;
    let (id, _, _) = t.client(&["a"]).await;
    let rng = ring::rand::SystemRandom::new();
    let make_key = || {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let pt = pair.public_key().as_ref().to_vec();
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let jwk = serde_json::json!({"kty": "EC", "crv": "P-384", "x": b64(&pt[1..49]), "y": b64(&pt[49..97]), "kid": "k1", "alg": "ES384"});
        (jsonwebtoken::EncodingKey::from_ec_der(pkcs8.as_ref()), jwk)
    };
    let (key, jwk) = make_key();
    let (other_key, _) = make_key();
    t.gw.registry
        .set_jwks(&id, Some(&serde_json::json!({"keys": [jwk]})))
        .await
        .unwrap();
    let token_url = format!("{}/token", t.url);
    let assertion = |key: &jsonwebtoken::EncodingKey, jti: &str, aud: &str| {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES384);
        h.kid = Some("k1".into());
        let now = rounds_gateway::db::now_millis() / 1000;
        jsonwebtoken::encode(
            &h,
            &serde_json::json!({"iss": id, "sub": id, "aud": aud, "exp": now + 60, "jti": jti}),
            key,
        )
        .unwrap()
    };
    let kind = (
        "client_assertion_type",
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    );
    let cc = ("grant_type", "client_credentials");
    let a1 = assertion(&key, "one", &token_url);
    let (s, _, body) = t
        .token_request(
            None,
            &[
                cc,
                kind,
                ("client_assertion", &a1),
                ("scope", "system/*.read a"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let access = body["access_token"].as_str().unwrap().to_owned();
    let (s, _, _) = t.get("Patient?_count=1", Some(&access)).await;
    assert_eq!(s, StatusCode::OK);
    // The same assertion again: a replay.
    let (s, _, body) = t
        .token_request(None, &[cc, kind, ("client_assertion", &a1), ("scope", "a")])
        .await;
    oauth_error(s, &body, "invalid_client", StatusCode::UNAUTHORIZED);
    // For another audience, signed by another key, without its type.
    let (s, _, body) = t
        .token_request(
            None,
            &[
                cc,
                kind,
                (
                    "client_assertion",
                    &assertion(&key, "two", "https://elsewhere/token"),
                ),
            ],
        )
        .await;
    oauth_error(s, &body, "invalid_client", StatusCode::UNAUTHORIZED);
    let (s, _, body) = t
        .token_request(
            None,
            &[
                cc,
                kind,
                (
                    "client_assertion",
                    &assertion(&other_key, "three", &token_url),
                ),
            ],
        )
        .await;
    oauth_error(s, &body, "invalid_client", StatusCode::UNAUTHORIZED);
    let (s, _, body) = t
        .token_request(
            None,
            &[
                cc,
                ("client_assertion", &assertion(&key, "four", &token_url)),
            ],
        )
        .await;
    oauth_error(s, &body, "invalid_request", StatusCode::BAD_REQUEST);
    // A client without a JWKS.
    let (plain, _, _) = t.client(&["a"]).await;
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES384);
    h.kid = Some("k1".into());
    let now = rounds_gateway::db::now_millis() / 1000;
    let forged = jsonwebtoken::encode(&h, &serde_json::json!({"iss": plain, "sub": plain, "aud": token_url, "exp": now + 60, "jti": "x"}), &key).unwrap();
    let (s, _, body) = t
        .token_request(None, &[cc, kind, ("client_assertion", &forged)])
        .await;
    oauth_error(s, &body, "invalid_client", StatusCode::UNAUTHORIZED);
    // Disabled: its tokens end too.
    t.gw.registry.set_disabled(&id, true).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let (s, _, _) = t.get("Patient?_count=1", Some(&access)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}
both!(private_key_jwt);
