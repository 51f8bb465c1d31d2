//! The test harness: real FHIR servers (two sekmet-fhir processes with
//! different patients; the second requires client credentials of its own),
//! a real gateway on 127.0.0.1 over a fresh database (a SQLite file, or a
//! new PostgreSQL database on ROUNDS_TEST_POSTGRES_URL), and an HTTP client
//! that records every answer so a test can check that no upstream address
//! reached a caller.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use rounds_gateway::config::Settings;
use rounds_gateway::db::Db;
use rounds_gateway::tenants::{TenantInput, UpstreamAuth};
use rounds_gateway::Gateway;
use serde_json::{json, Value};
use sqlx::Connection;
use tokio::sync::oneshot;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs an async test body once per backend: `both!(name)`.
#[macro_export]
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::common::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::common::Backend::Postgres).await;
            }
        }
    };
}

/// The key sealing secrets in tests.
pub const TEST_KEY: &str = "dGVzdCBrZXkgb2YgdGhlIGdhdGV3YXkgdGVzdCBzdWk=";

pub fn sealer() -> Arc<rounds_secrets::SecretBox> {
    Arc::new(rounds_secrets::SecretBox::from_base64_key(TEST_KEY).unwrap())
}

/// A database of its own for one test.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("gateway.db").display());
                Self {
                    url,
                    _dir: Some(dir),
                }
            }
            Backend::Postgres => {
                let admin = std::env::var("ROUNDS_TEST_POSTGRES_URL").expect(
                    "ROUNDS_TEST_POSTGRES_URL is not set: run the tests with scripts/test.sh",
                );
                let name = format!(
                    "gateway_test_{}",
                    rounds_gateway::registry::random_id().unwrap()
                );
                let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
                Self {
                    url: format!("{base}/{name}"),
                    _dir: None,
                }
            }
        }
    }
}

// ------------------------------------------------------------- sekmet

pub fn sekmet_exe() -> PathBuf {
    std::env::var("ROUNDS_TEST_SEKMET")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv-peers/bin/sekmet");
            assert!(
                p.exists(),
                "sekmet-fhir is not installed: run scripts/test.sh or set ROUNDS_TEST_SEKMET"
            );
            p
        })
}

/// A sekmet-fhir server with its patients.
pub struct Sekmet {
    pub base: String,
    pub port: u16,
    /// (id, family name) of the patients loaded.
    pub patients: Vec<(String, String)>,
    _dir: tempfile::TempDir,
    _child: Child,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts sekmet under a watchdog that kills it once this test process is
/// gone (the servers live in a `static`).
fn spawn_sekmet(dir: &std::path::Path, port: u16, base: &str) -> Child {
    let script = r#"
"$@" &
child=$!
trap 'kill -KILL $child 2>/dev/null; exit 0' TERM INT
while kill -0 "$ROUNDS_TEST_PARENT" 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 0.5; done
kill $child 2>/dev/null
wait $child 2>/dev/null
"#;
    let log = std::fs::File::create(dir.join("serve.log")).unwrap();
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("watchdog")
        .arg(sekmet_exe())
        .args(["serve", "--host", "127.0.0.1", "--port", &port.to_string()])
        .current_dir(dir)
        .env("ROUNDS_TEST_PARENT", std::process::id().to_string())
        .env("SEKMET_BASE_URL", base)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap()
}

fn block_on_thread<T: Send + 'static>(
    f: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    })
    .join()
    .unwrap()
}

/// Upstream B's own OAuth client (sekmet's SMART client with a secret).
pub const B_CLIENT: &str = "gateway-at-b";
// No characters that form-encoding changes: sekmet does not form-decode
// HTTP Basic credentials (RFC 6749 §2.3.1 says to).
pub const B_SECRET: &str = "upstream-secret-of-hospital-B";
const B_SEED_TOKEN: &str = "seed-token-of-b";

impl Sekmet {
    pub fn start(
        settings_yaml: &str,
        families: &[(&str, usize)],
        seed_token: Option<&str>,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("settings.yaml"), settings_yaml).unwrap();
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}/fhir");
        let child = spawn_sekmet(dir.path(), port, &base);
        let started = Instant::now();
        let seed_token = seed_token.map(str::to_owned);
        let families: Vec<(String, usize)> = families
            .iter()
            .map(|(f, n)| ((*f).to_owned(), *n))
            .collect();
        let patients = block_on_thread({
            let base = base.clone();
            async move {
                let http = reqwest::Client::new();
                loop {
                    if http
                        .get(format!("{base}/metadata"))
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success())
                    {
                        break;
                    }
                    assert!(
                        started.elapsed() < Duration::from_secs(60),
                        "sekmet did not start"
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                let mut entries = Vec::new();
                for (family, n) in &families {
                    for i in 1..=*n {
                        entries.push(json!({
                            "fullUrl": format!("urn:uuid:{}", uuid_for(family, i)),
                            "resource": {"resourceType": "Patient", "active": true,
                                "name": [{"family": family, "given": [format!("{family}{i}")]}],
                                "gender": "female", "birthDate": "1970-01-01",
                                // A decimal whose precision must survive the proxy.
                                "extension": [{"url": "urn:test:weight", "valueDecimal": 1.50}]},
                            "request": {"method": "POST", "url": "Patient"}}));
                    }
                }
                let bundle =
                    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries});
                let mut req = http
                    .post(&base)
                    .header("content-type", "application/fhir+json")
                    // serde_json writes 1.50 as 1.5: keep the trailing zero.
                    .body(
                        bundle
                            .to_string()
                            .replace("\"valueDecimal\":1.5", "\"valueDecimal\":1.50"),
                    );
                if let Some(t) = &seed_token {
                    req = req.bearer_auth(t);
                }
                let r = req.send().await.unwrap();
                let status = r.status();
                let body: Value = r.json().await.unwrap();
                assert!(status.is_success(), "sekmet refused the Bundle: {body}");
                let mut ids = Vec::new();
                let mut i = 0;
                for (family, n) in &families {
                    for _ in 0..*n {
                        let loc = body["entry"][i]["response"]["location"].as_str().unwrap();
                        let parts: Vec<&str> = loc.split('/').collect();
                        let at = parts.iter().position(|p| *p == "Patient").unwrap();
                        ids.push((parts[at + 1].to_owned(), family.clone()));
                        i += 1;
                    }
                }
                ids
            }
        });
        Self {
            base,
            port,
            patients,
            _dir: dir,
            _child: child,
        }
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

fn uuid_for(family: &str, i: usize) -> String {
    let tag: u32 = family
        .bytes()
        .fold(7u32, |a, b| a.wrapping_mul(31).wrapping_add(u32::from(b)));
    format!("{tag:08x}-0000-4000-8000-{i:012}")
}

/// Hospital A (open, five "Alpha" patients) and hospital B (SMART client
/// credentials required, two "Bravo" patients), started once per test run.
pub struct Hospitals {
    pub a: Sekmet,
    pub b: Sekmet,
}

pub fn hospitals() -> &'static Hospitals {
    static H: OnceLock<Hospitals> = OnceLock::new();
    H.get_or_init(|| {
        let a = Sekmet::start("validation:\n  inbound: warn\n", &[("Alpha", 5)], None);
        let b_settings = format!(
            "validation:\n  inbound: warn\nserver_auth:\n  types: [smart, bearer]\n  tokens: [{B_SEED_TOKEN}]\n  smart_clients:\n    - client_id: {B_CLIENT}\n      client_secret: \"{B_SECRET}\"\n      scopes: \"system/*.read system/*.write\"\n"
        );
        let b = Sekmet::start(&b_settings, &[("Bravo", 2)], Some(B_SEED_TOKEN));
        Hospitals { a, b }
    })
}

// ------------------------------------------------------------ gateway

pub fn test_settings() -> Settings {
    let mut s = Settings::defaults().unwrap();
    s.revocation_check = Duration::from_secs(1);
    s.upstream_timeout = Duration::from_secs(10);
    s
}

/// A gateway on 127.0.0.1 over its own database.
pub struct TestGateway {
    pub gw: Arc<Gateway>,
    /// Where this instance listens (requests go here).
    pub url: String,
    pub db_url: String,
    pub http: reqwest::Client,
    /// Every answer seen: status line, headers and body.
    pub seen: Mutex<Vec<String>>,
    _db: Option<TestDb>,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

impl TestGateway {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, |_| {}).await
    }

    pub async fn start_with(backend: Backend, tune: impl FnOnce(&mut Settings)) -> Self {
        let db = TestDb::new(backend).await;
        let url = db.url.clone();
        let mut me = Self::start_on(&url, tune).await;
        me._db = Some(db);
        me
    }

    /// Another instance over the same database.
    pub async fn start_on(db_url: &str, tune: impl FnOnce(&mut Settings)) -> Self {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
            .with_test_writer()
            .try_init();
        let db = Db::open(db_url, 5).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut settings = test_settings();
        settings.listen = addr;
        settings.public_url = format!("http://{addr}");
        tune(&mut settings);
        let gw = Gateway::new(db, sealer(), settings).await.unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(gw.clone().serve(listener, async move {
            let _ = stopped.await;
        }));
        Self {
            gw,
            url: format!("http://{addr}"),
            db_url: db_url.to_owned(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            seen: Mutex::new(Vec::new()),
            _db: None,
            stop: Some(stop),
        }
    }

    /// Maps tenant `a` to hospital A (no upstream auth) and `b` to hospital
    /// B (client credentials of its own).
    pub async fn add_hospitals(&self) -> &'static Hospitals {
        let h = hospitals();
        self.add_tenant("a", &h.a.base, UpstreamAuth::None, None)
            .await;
        self.add_tenant(
            "b",
            &h.b.base,
            UpstreamAuth::ClientCredentials {
                client_id: B_CLIENT.into(),
                token_url: None,
                // sekmet counts a batch POST as a write: the gateway's own
                // read-only rule decides what passes.
                scope: Some("system/*.read system/*.write".into()),
                secret_in_body: false,
            },
            Some(B_SECRET),
        )
        .await;
        h
    }

    pub async fn add_tenant(&self, id: &str, base: &str, auth: UpstreamAuth, secret: Option<&str>) {
        self.gw
            .tenants
            .put(
                &TenantInput {
                    id: id.into(),
                    base_url: base.into(),
                    fhir_version: "4.0.1".into(),
                    auth,
                    secret: secret.map(str::to_owned),
                    allow_writes: false,
                },
                "admin",
                &self.gw.sealer,
            )
            .await
            .unwrap();
    }

    /// A client allowed `tenants`: (client_id, secret, secret_id).
    pub async fn client(&self, tenants: &[&str]) -> (String, String, String) {
        let tenants: Vec<String> = tenants.iter().map(|t| (*t).to_owned()).collect();
        let (c, s) = self
            .gw
            .registry
            .create_client("test client", &tenants, None)
            .await
            .unwrap();
        (c.id, s.client_secret, s.secret_id)
    }

    async fn record(
        &self,
        r: reqwest::Response,
    ) -> (StatusCode, reqwest::header::HeaderMap, String) {
        let status = r.status();
        let headers = r.headers().clone();
        let body = r.text().await.unwrap();
        let mut text = format!("{status}\n");
        for (k, v) in &headers {
            text.push_str(&format!("{k}: {}\n", v.to_str().unwrap_or("")));
        }
        text.push_str(&body);
        self.seen.lock().unwrap().push(text);
        (status, headers, body)
    }

    /// POST /token with a form and optional HTTP Basic.
    pub async fn token_request(
        &self,
        basic: Option<(&str, &str)>,
        form: &[(&str, &str)],
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut req = self.http.post(format!("{}/token", self.url)).form(form);
        if let Some((id, secret)) = basic {
            req = req.basic_auth(id, Some(secret));
        }
        let (s, h, b) = self.record(req.send().await.unwrap()).await;
        (s, h, serde_json::from_str(&b).unwrap_or(Value::Null))
    }

    /// A token for `tenant` (client_secret_basic).
    pub async fn token(&self, id: &str, secret: &str, scope: &str) -> String {
        let (s, _, body) = self
            .token_request(
                Some((id, secret)),
                &[("grant_type", "client_credentials"), ("scope", scope)],
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// GET `path` (relative to the gateway root) with a bearer token.
    pub async fn get(
        &self,
        path: &str,
        token: Option<&str>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}/{path}", self.url)
        };
        let mut req = self.http.get(url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let (s, h, b) = self.record(req.send().await.unwrap()).await;
        (s, h, serde_json::from_str(&b).unwrap_or(Value::Null))
    }

    /// Any request, recorded.
    pub async fn send(
        &self,
        req: reqwest::RequestBuilder,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let (s, h, b) = self.record(req.send().await.unwrap()).await;
        (s, h, serde_json::from_str(&b).unwrap_or(Value::Null))
    }

    /// No answer seen so far names an upstream's address.
    pub fn assert_no_upstream_address(&self) {
        let h = hospitals();
        let seen = self.seen.lock().unwrap();
        assert!(!seen.is_empty());
        for text in seen.iter() {
            for addr in [h.a.address(), h.b.address()] {
                assert!(
                    !text.contains(&addr),
                    "an answer names the upstream {addr}:\n{text}"
                );
            }
        }
    }
}

/// An OperationOutcome's first issue code.
/// The text of the gateway's /metrics at `url`.
pub async fn metrics(http: &reqwest::Client, url: &str) -> String {
    http.get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

pub fn issue_code(body: &Value) -> &str {
    assert_eq!(body["resourceType"], "OperationOutcome", "{body}");
    body["issue"][0]["code"].as_str().unwrap_or_default()
}

/// Family names of the patients in a searchset.
pub fn families(bundle: &Value) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|x| {
                    x["resource"]["name"][0]["family"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A private_key_jwt client key: ES256 (P-256) or ES384 (P-384), as the
/// signing key and its public JWK with `kid`.
pub fn client_key(
    alg: jsonwebtoken::Algorithm,
    kid: &str,
) -> (jsonwebtoken::EncodingKey, serde_json::Value) {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use ring::signature::{
        EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING,
    };
    let (ring_alg, crv, half, name) = match alg {
        jsonwebtoken::Algorithm::ES256 => (&ECDSA_P256_SHA256_FIXED_SIGNING, "P-256", 32, "ES256"),
        _ => (&ECDSA_P384_SHA384_FIXED_SIGNING, "P-384", 48, "ES384"),
    };
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(ring_alg, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(ring_alg, pkcs8.as_ref(), &rng).unwrap();
    let pt = pair.public_key().as_ref().to_vec();
    let jwk = json!({"kty": "EC", "crv": crv, "x": URL_SAFE_NO_PAD.encode(&pt[1..=half]),
        "y": URL_SAFE_NO_PAD.encode(&pt[half + 1..]), "kid": kid, "alg": name});
    (jsonwebtoken::EncodingKey::from_ec_der(pkcs8.as_ref()), jwk)
}

/// A client assertion of `client` for the token URL `aud`, living a minute.
pub fn client_assertion(
    key: &jsonwebtoken::EncodingKey,
    alg: jsonwebtoken::Algorithm,
    kid: &str,
    client: &str,
    aud: &str,
    jti: &str,
) -> String {
    let mut header = jsonwebtoken::Header::new(alg);
    header.kid = Some(kid.into());
    let now = rounds_gateway::db::now_millis() / 1000;
    jsonwebtoken::encode(
        &header,
        &json!({"iss": client, "sub": client, "aud": aud, "exp": now + 60, "jti": jti}),
        key,
    )
    .unwrap()
}
