//! Authentication against a real OAuth 2.0 server: oidc-provider (npm),
//! started once for this file. A local responder stands in for a FHIR server
//! that requires the token: it checks each bearer token with the provider's
//! introspection endpoint, as a resource server would.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use rounds_fhir::{
    AuthConfig, ClientAuthMethod, ClientConfig, FhirClient, FhirError, JwtAlgorithm, Secret,
};
use serde_json::{json, Value};

use crate::common::{free_port, spawn_watched, wait_http, workspace_root};
use crate::responder::{self, handler, Reply, Responder};

const BASIC_SECRET: &str = "basic-secret-0123456789abcdef";
const POST_SECRET: &str = "post-secret-0123456789abcdef";
const SHORT_SECRET: &str = "short-secret-0123456789abcdef";
/// Token lifetime at the provider for the client "rounds-short" (others: 300 s):
/// renewal is due after 4.5 s (three quarters).
const TTL_SECS: u64 = 6;

pub struct Oidc {
    pub issuer: String,
    pub dir: tempfile::TempDir,
    /// Kills the provider when the test binary exits.
    _watchdog: std::process::Child,
}

fn peers_node() -> PathBuf {
    let p = std::env::var("ROUNDS_TEST_PEERS_NODE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace_root().join(".peers-node"));
    assert!(
        p.join("node_modules/oidc-provider/package.json").exists(),
        "oidc-provider is not installed: run scripts/test.sh (it installs it into .peers-node) or set ROUNDS_TEST_PEERS_NODE"
    );
    p
}

pub fn oidc() -> &'static Oidc {
    static OIDC: OnceLock<Oidc> = OnceLock::new();
    OIDC.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/oidc.mjs");
        let module = peers_node().join("node_modules/oidc-provider");
        let log = dir.path().join("oidc.log");
        let watchdog = spawn_watched(
            "node",
            &[script.to_str().unwrap()],
            dir.path(),
            &[
                ("OIDC_PORT", port.to_string()),
                ("OIDC_TOKEN_TTL", TTL_SECS.to_string()),
                ("ROUNDS_OIDC_MODULE", module.to_str().unwrap().to_owned()),
            ],
            &log,
        );
        let issuer = format!("http://127.0.0.1:{port}");
        wait_http(
            &format!("{issuer}/.well-known/openid-configuration"),
            Duration::from_secs(30),
            &log,
        );
        Oidc {
            issuer,
            dir,
            _watchdog: watchdog,
        }
    })
}

impl Oidc {
    pub fn token_url(&self) -> String {
        format!("{}/token", self.issuer)
    }

    pub async fn stats(&self) -> Value {
        reqwest::get(format!("{}/test/stats", self.issuer))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Revokes a token at the provider (as an administrator would).
    pub async fn revoke(&self, token: &str) {
        let r = reqwest::Client::new()
            .post(format!("{}/token/revocation", self.issuer))
            .basic_auth("rounds-basic", Some(BASIC_SECRET))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }

    /// Introspection: whether the token is active, and its scope.
    pub async fn introspect(&self, token: &str) -> (bool, String) {
        let v: Value = reqwest::Client::new()
            .post(format!("{}/token/introspection", self.issuer))
            .basic_auth("rounds-basic", Some(BASIC_SECRET))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (
            v["active"] == json!(true),
            v["scope"].as_str().unwrap_or_default().to_owned(),
        )
    }
}

/// A protected R4 server: metadata (open) names the provider's token URL;
/// `Patient/{id}` answers only to an active token carrying `tenant:acme`.
/// `always_401` makes it refuse every token.
async fn protected_server(always_401: bool) -> Responder {
    let o = oidc();
    let token_url = o.token_url();
    responder::start(handler(move |hit| {
        let token_url = token_url.clone();
        async move {
            if hit.fhir_path() == "metadata" {
                return Reply::json(200, &responder::metadata("4.0.1", &["Patient"], false, Some(&token_url)));
            }
            if hit.fhir_path().starts_with(".well-known") {
                return Reply::json(404, &json!({}));
            }
            let token = hit.authorization.as_deref().and_then(|a| a.strip_prefix("Bearer ")).unwrap_or_default();
            let (active, scope) = oidc().introspect(token).await;
            if always_401 || !active || !scope.split(' ').any(|s| s == "tenant:acme") {
                return Reply::json(401, &json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "login", "diagnostics": "token not accepted"}]}));
            }
            let id = hit.fhir_path().strip_prefix("Patient/").unwrap_or("x").to_owned();
            Reply::json(200, &json!({"resourceType": "Patient", "id": id, "name": [{"family": "Token"}]}))
        }
    }))
    .await
}

fn client_credentials(base: &str, method: ClientAuthMethod) -> ClientConfig {
    let mut c = ClientConfig::new(base).unwrap();
    let (id, secret) = match method {
        ClientAuthMethod::ClientSecretBasic => ("rounds-basic", BASIC_SECRET),
        ClientAuthMethod::ClientSecretPost => ("rounds-post", POST_SECRET),
    };
    c.auth = AuthConfig::ClientCredentials {
        client_id: id.into(),
        client_secret: Secret::new(secret),
        method,
        scope: Some("system/*.read tenant:acme".into()),
        token_url: None,
    };
    c
}

fn bearer_tokens(server: &Responder) -> Vec<String> {
    let mut t: Vec<String> = server
        .hits()
        .iter()
        .filter_map(|h| {
            h.authorization
                .as_deref()?
                .strip_prefix("Bearer ")
                .map(str::to_owned)
        })
        .collect();
    t.dedup();
    t
}

#[tokio::test]
async fn client_credentials_basic_and_post_with_the_tenant_hint() {
    for method in [
        ClientAuthMethod::ClientSecretBasic,
        ClientAuthMethod::ClientSecretPost,
    ] {
        let server = protected_server(false).await;
        // The token URL comes from the metadata's oauth-uris extension.
        let client = FhirClient::connect(client_credentials(&server.base, method))
            .await
            .unwrap();
        assert_eq!(
            client.token_source().unwrap().token_url().as_str(),
            oidc().token_url()
        );
        assert_eq!(
            client.capabilities().oauth.token.as_deref(),
            Some(oidc().token_url().as_str())
        );
        let p = client.read_patient("p1").await.unwrap();
        assert_eq!(p.family.as_deref(), Some("Token"));
        // Discovery went out without a token.
        let hits = server.hits();
        assert!(hits
            .iter()
            .find(|h| h.fhir_path() == "metadata")
            .unwrap()
            .authorization
            .is_none());
        let stats = oidc().stats().await;
        assert!(stats["scopes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "system/*.read tenant:acme"));
        // The client, and its errors, never show the token or the secret.
        let token = bearer_tokens(&server).pop().unwrap();
        let debug = format!("{client:?}");
        assert!(
            !debug.contains(&token) && !debug.contains("secret-0123"),
            "{debug}"
        );
    }
}

#[tokio::test]
async fn a_token_is_reused_and_renewed_before_it_expires() {
    let server = protected_server(false).await;
    let mut config = client_credentials(&server.base, ClientAuthMethod::ClientSecretBasic);
    if let AuthConfig::ClientCredentials {
        client_id,
        client_secret,
        ..
    } = &mut config.auth
    {
        *client_id = "rounds-short".into();
        *client_secret = Secret::new(SHORT_SECRET);
    }
    let client = FhirClient::connect(config).await.unwrap();
    for _ in 0..3 {
        client.read_patient("p1").await.unwrap();
    }
    assert_eq!(client.token_source().unwrap().tokens_issued(), 1, "reused");
    // Past three quarters of the 6 s lifetime, before its end: renewed.
    tokio::time::sleep(Duration::from_millis(4_700)).await;
    client.read_patient("p1").await.unwrap();
    assert_eq!(
        client.token_source().unwrap().tokens_issued(),
        2,
        "renewed before expiry"
    );
    let tokens = bearer_tokens(&server);
    assert_eq!(tokens.len(), 2);
    // Every request was accepted: no expired token was ever sent.
    assert_eq!(
        server
            .hits()
            .iter()
            .filter(|h| h.fhir_path().starts_with("Patient"))
            .count(),
        4
    );
}

#[tokio::test]
async fn fifty_concurrent_requests_cause_one_token_request() {
    let server = protected_server(false).await;
    let client = FhirClient::connect(client_credentials(
        &server.base,
        ClientAuthMethod::ClientSecretPost,
    ))
    .await
    .unwrap();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..50 {
        let client = client.clone();
        set.spawn(async move { client.read_patient(&format!("p{i}")).await });
    }
    let mut ok = 0;
    while let Some(r) = set.join_next().await {
        r.unwrap().unwrap();
        ok += 1;
    }
    assert_eq!(ok, 50);
    assert_eq!(client.token_source().unwrap().tokens_issued(), 1);
    assert_eq!(bearer_tokens(&server).len(), 1);
}

#[tokio::test]
async fn a_401_renews_the_token_once_and_retries_once() {
    let o = oidc();
    let server = protected_server(false).await;
    let client = FhirClient::connect(client_credentials(
        &server.base,
        ClientAuthMethod::ClientSecretBasic,
    ))
    .await
    .unwrap();
    client.read_patient("p1").await.unwrap();
    let first = bearer_tokens(&server).pop().unwrap();
    o.revoke(&first).await;
    // The server now refuses the cached token: renew, retry, succeed.
    client.read_patient("p2").await.unwrap();
    assert_eq!(client.token_source().unwrap().tokens_issued(), 2);
    let tokens = bearer_tokens(&server);
    assert_eq!(tokens.len(), 2);
    assert_ne!(tokens[1], first);

    // A server that refuses every token: exactly one renewal and one retry.
    let refusing = protected_server(true).await;
    let client = FhirClient::connect(client_credentials(
        &refusing.base,
        ClientAuthMethod::ClientSecretBasic,
    ))
    .await
    .unwrap();
    let err = client.read_patient("p1").await.unwrap_err();
    assert!(matches!(err, FhirError::AuthRefused { .. }), "{err:?}");
    assert!(!err.should_retry());
    let reads = refusing
        .hits()
        .iter()
        .filter(|h| h.fhir_path().starts_with("Patient"))
        .count();
    assert_eq!(reads, 2, "one try, one retry after renewal");
    assert_eq!(client.token_source().unwrap().tokens_issued(), 2);
    for t in bearer_tokens(&refusing) {
        assert!(!err.to_string().contains(&t));
    }
}

#[tokio::test]
async fn wrong_credentials_are_refused_without_showing_them() {
    let server = protected_server(false).await;
    let mut c = client_credentials(&server.base, ClientAuthMethod::ClientSecretPost);
    let wrong = "wrong-secret-do-not-print-me";
    if let AuthConfig::ClientCredentials { client_secret, .. } = &mut c.auth {
        *client_secret = Secret::new(wrong);
    }
    let client = FhirClient::connect(c).await.unwrap();
    let err = client.read_patient("p1").await.unwrap_err();
    assert!(matches!(err, FhirError::AuthRefused { .. }), "{err:?}");
    let text = format!("{err} {err:?}");
    assert!(text.contains("invalid_client"), "{text}");
    assert!(!text.contains(wrong));
    // A scope the client may not have is refused too.
    let mut c = client_credentials(&server.base, ClientAuthMethod::ClientSecretBasic);
    if let AuthConfig::ClientCredentials { scope, .. } = &mut c.auth {
        *scope = Some("tenant:elsewhere".into());
    }
    let err = FhirClient::connect(c)
        .await
        .unwrap()
        .read_patient("p1")
        .await
        .unwrap_err();
    assert!(matches!(err, FhirError::AuthRefused { .. }), "{err:?}");
}

#[tokio::test]
async fn smart_backend_services_with_rs384_and_es384() {
    let o = oidc();
    for (client_id, file, algorithm) in [
        ("rounds-rs384", "rs384.pem", JwtAlgorithm::Rs384),
        ("rounds-es384", "es384.pem", JwtAlgorithm::Es384),
    ] {
        let server = protected_server(false).await;
        let pem = std::fs::read_to_string(o.dir.path().join(file)).unwrap();
        let mut c = ClientConfig::new(&server.base).unwrap();
        c.auth = AuthConfig::BackendServices {
            client_id: client_id.into(),
            private_key_pem: Secret::new(pem.clone()),
            algorithm,
            key_id: Some(format!("rounds-{}", file.trim_end_matches(".pem"))),
            scope: Some("system/*.read tenant:acme".into()),
            token_url: Some(o.token_url().parse().unwrap()),
        };
        let debug = format!("{c:?}");
        assert!(!debug.contains("PRIVATE KEY"), "{debug}");
        let client = FhirClient::connect(c).await.unwrap();
        let p = client.read_patient("p9").await.unwrap();
        assert_eq!(p.id, "p9");
        assert_eq!(client.token_source().unwrap().tokens_issued(), 1);
    }
    // A key the provider does not know is refused.
    let other = std::fs::read_to_string(o.dir.path().join("es384.pem")).unwrap();
    let server = protected_server(false).await;
    let mut c = ClientConfig::new(&server.base).unwrap();
    c.auth = AuthConfig::BackendServices {
        client_id: "rounds-rs384".into(),
        private_key_pem: Secret::new(other),
        algorithm: JwtAlgorithm::Es384,
        key_id: None,
        scope: Some("system/*.read".into()),
        token_url: None,
    };
    let err = FhirClient::connect(c)
        .await
        .unwrap()
        .read_patient("p1")
        .await
        .unwrap_err();
    assert!(matches!(err, FhirError::AuthRefused { .. }), "{err:?}");
}

#[tokio::test]
async fn no_token_url_anywhere_is_a_configuration_error() {
    let server = responder::start(responder::sync_handler(|_| {
        Reply::json(
            200,
            &responder::metadata("4.0.1", &["Patient"], false, None),
        )
    }))
    .await;
    let err = FhirClient::connect(client_credentials(
        &server.base,
        ClientAuthMethod::ClientSecretBasic,
    ))
    .await
    .unwrap_err();
    assert!(matches!(err, FhirError::Config(_)), "{err:?}");
}
