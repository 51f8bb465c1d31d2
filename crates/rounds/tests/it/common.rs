//! The test harness: a real Rounds server on 127.0.0.1 over a fresh
//! database (a SQLite file in a temporary directory, or a new PostgreSQL
//! database on the server named by ROUNDS_TEST_POSTGRES_URL), and an HTTP
//! client that signs in like any API user.

use std::net::SocketAddr;

use reqwest::{Method, StatusCode};
use rounds_app::{App, AppConfig, Caller, DbOptions, NewUserInput};
use serde_json::{json, Value};
use sqlx::Connection;
use tokio::sync::oneshot;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs an async test body once per backend: `both!(name, body_fn)`.
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

pub const PASSWORD: &str = "a long test password 1";

/// A database of its own for one test.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("rounds.db").display()
                );
                Self {
                    url,
                    _dir: Some(dir),
                }
            }
            Backend::Postgres => {
                let admin = std::env::var("ROUNDS_TEST_POSTGRES_URL").expect(
                    "ROUNDS_TEST_POSTGRES_URL is not set: run the tests with scripts/test.sh, \
                     which starts a throwaway PostgreSQL, or point it at one that may CREATE DATABASE",
                );
                let name = format!("rounds_test_{}", uuid_like());
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .expect("connect to the test PostgreSQL");
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .expect("create a test database");
                let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
                Self {
                    url: format!("{base}/{name}"),
                    _dir: None,
                }
            }
        }
    }
}

/// A PostgreSQL test database is dropped when its test is done with it, so
/// a shared development server does not fill up with them (on its own
/// thread and runtime: `Drop` cannot wait on the test's runtime).
impl Drop for TestDb {
    fn drop(&mut self) {
        if self._dir.is_some() {
            return;
        }
        let (Ok(admin), Some((_, name))) = (
            std::env::var("ROUNDS_TEST_POSTGRES_URL"),
            self.url.rsplit_once('/'),
        ) else {
            return;
        };
        let name = name.to_owned();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&admin).await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
                    .ok()
            })
        });
        let _ = dropped.join();
    }
}

/// 32 random hex digits (a random UUID without its hyphens).
fn uuid_like() -> String {
    rounds_core::TeamId::new_random()
        .to_string()
        .replace('-', "")
}

/// A running server.
pub struct TestApp {
    pub addr: SocketAddr,
    pub app: App,
    pub db: TestDb,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, AppConfig::default()).await
    }

    pub async fn spawn_with(backend: Backend, config: AppConfig) -> Self {
        Self::spawn_web(backend, config, rounds_web::WebConfig::default()).await
    }

    /// With web-layer settings of its own (forwarded addresses, limits).
    pub async fn spawn_web(
        backend: Backend,
        config: AppConfig,
        web: rounds_web::WebConfig,
    ) -> Self {
        let db = TestDb::new(backend).await;
        Self::spawn_on(db, config, web).await
    }

    /// A second instance (its own App, pool and server) on this one's
    /// database, as when several Rounds run on one PostgreSQL.
    pub async fn spawn_sharing(&self, config: AppConfig) -> Self {
        let db = TestDb {
            url: self.db.url.clone(),
            _dir: None,
        };
        Self::spawn_on(db, config, rounds_web::WebConfig::default()).await
    }

    async fn spawn_on(db: TestDb, config: AppConfig, web: rounds_web::WebConfig) -> Self {
        // Server logs show up with a failing test's output.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
            .with_test_writer()
            .try_init();
        let options = DbOptions {
            max_connections: 5,
            ..DbOptions::default()
        };
        let app = App::open(&db.url, &options, config)
            .await
            .expect("open the test database");
        install_test_key(&app).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let (stop, stopped) = oneshot::channel::<()>();
        let state = rounds_web::AppState::new(app.clone(), web);
        let server = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            rounds_web::serve(listener, state, shutdown)
                .await
                .expect("server");
        });
        Self {
            addr,
            app,
            db,
            stop: Some(stop),
            server: Some(server),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Creates an account from the console with the standard test password.
    pub async fn user(&self, username: &str, admin: bool) -> String {
        let input = NewUserInput {
            username: username.into(),
            display_name: format!("{username} display"),
            password: Some(PASSWORD.into()),
            admin,
        };
        let (user, _) = self
            .app
            .create_user(Caller::Console, &input)
            .await
            .expect("create user");
        user.id.to_string()
    }

    /// A client signed in as `username` (with the standard test password).
    pub async fn client(&self, username: &str) -> Client {
        let mut c = Client::new(self);
        let r = c.sign_in(username, PASSWORD).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "sign-in of {username}: {}",
            r.body
        );
        c
    }

    /// A site administrator "root", signed in.
    pub async fn admin(&self) -> Client {
        self.user("root", true).await;
        self.client("root").await
    }

    /// Stops the server (open live feeds get `closed`, as on a real
    /// restart) but keeps the database and `self.app` usable, so a test can
    /// change data while no server runs; `restart_server` serves again.
    pub async fn stop_server(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    /// After `stop_server`: opens the same database afresh and serves it on
    /// the same address (pages that were open reconnect to it).
    pub async fn restart_server(&mut self) {
        self.stop_server().await;
        self.app.close().await;
        let options = DbOptions {
            max_connections: 5,
            ..DbOptions::default()
        };
        let app = App::open(&self.db.url, &options, AppConfig::default())
            .await
            .expect("reopen the test database");
        install_test_key(&app).await;
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .unwrap_or_else(|e| panic!("bind {} again: {e}", self.addr));
        let (stop, stopped) = oneshot::channel::<()>();
        let state = rounds_web::AppState::new(app.clone(), rounds_web::WebConfig::default());
        self.server = Some(tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            rounds_web::serve(listener, state, shutdown)
                .await
                .expect("server");
        }));
        self.stop = Some(stop);
        self.app = app;
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        self.app.close().await;
    }
}

/// The answer to one request.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
    pub fn field(&self) -> &str {
        self.body["error"]["field"].as_str().unwrap_or("")
    }
}

/// An HTTP client with its own cookie jar that sends the CSRF token it was
/// given at sign-in.
pub struct Client {
    pub http: reqwest::Client,
    base: String,
    pub csrf: Option<String>,
}

impl Client {
    pub fn new(app: &TestApp) -> Self {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        Self {
            http,
            base: app.url(""),
            csrf: None,
        }
    }

    /// The same client (cookies, CSRF token) talking to another instance.
    pub fn on(&self, app: &TestApp) -> Self {
        Self {
            http: self.http.clone(),
            base: app.url(""),
            csrf: self.csrf.clone(),
        }
    }

    /// A client of its own (e.g. trusting a test certificate) for `base`.
    pub fn with_http(http: reqwest::Client, base: &str) -> Self {
        Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            csrf: None,
        }
    }

    /// The same client (cookies, CSRF token) talking to the server at `base`.
    pub fn at(&self, base: &str) -> Self {
        Self {
            http: self.http.clone(),
            base: base.trim_end_matches('/').to_owned(),
            csrf: self.csrf.clone(),
        }
    }

    /// The server this client talks to.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub async fn sign_in(&mut self, username: &str, password: &str) -> Reply {
        let r = self
            .send(
                Method::POST,
                "/api/v1/session",
                Some(json!({"username": username, "password": password})),
            )
            .await;
        if r.status == StatusCode::OK {
            self.csrf = r.body["csrfToken"].as_str().map(str::to_owned);
        }
        r
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(csrf) = &self.csrf {
            req = req.header("X-CSRF-Token", csrf);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        Self::reply(req.send().await.expect("request")).await
    }

    pub async fn reply(resp: reqwest::Response) -> Reply {
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    /// Only the status and headers, for answers that never end (live streams).
    pub async fn status_only(&self, path: &str) -> Reply {
        let resp = self
            .http
            .get(format!("{}{}", self.base, path))
            .send()
            .await
            .expect("request");
        let status = resp.status();
        let headers = resp.headers().clone();
        if status.is_success() {
            return Reply {
                status,
                headers,
                body: Value::Null,
                text: String::new(),
            };
        }
        Self::reply(resp).await
    }

    /// Opens a list's live feed (Server-Sent Events).
    pub async fn events(&self, path: &str, last_event_id: Option<i64>) -> Events {
        let mut req = self
            .http
            .get(format!("{}{}", self.base, path))
            .header("Accept", "text/event-stream");
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        let resp = req.send().await.expect("open event stream");
        assert_eq!(resp.status(), StatusCode::OK, "event stream");
        Events {
            resp,
            buffer: String::new(),
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(body)).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.send(Method::PATCH, path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.send(Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None).await
    }

    /// Creates a team and returns its id.
    pub async fn create_team(&self, name: &str) -> String {
        let r = self.post("/api/v1/teams", json!({ "name": name })).await;
        assert_eq!(r.status, StatusCode::CREATED, "create team: {}", r.text);
        r.body["id"].as_str().expect("team id").to_owned()
    }

    /// Creates a list of `team` and returns its id.
    pub async fn create_list(&self, team: &str, name: &str) -> String {
        let r = self
            .post(
                &format!("/api/v1/teams/{team}/lists"),
                json!({ "name": name }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.body["id"].as_str().expect("list id").to_owned()
    }

    /// Adds a member to `team` (`member`: the username, and the role if
    /// given) and checks that it was added.
    pub async fn add_member(&self, team: &str, member: Value) {
        let r = self
            .post(&format!("/api/v1/teams/{team}/members"), member)
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }

    /// Audit records matching `query` (as a site administrator).
    pub async fn audit(&self, query: &str) -> Vec<Value> {
        let r = self.get(&format!("/api/v1/audit?{query}")).await;
        assert_eq!(r.status, StatusCode::OK, "audit search: {}", r.text);
        r.body["records"].as_array().cloned().unwrap_or_default()
    }
}

/// One Server-Sent Event.
/// A cookie-keeping HTTP client signed in at the Rounds server at `base`
/// (for servers run as a `rounds` process rather than a [`TestApp`]), and
/// the sign-in's answer.
pub async fn signed_in(base: &str, username: &str, password: &str) -> (reqwest::Client, Reply) {
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let r = http
        .post(format!("{base}/api/v1/session"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    let reply = Client::reply(r).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    (http, reply)
}

/// A team of `owner` with `member` in it, its EHR connection (named
/// `connection`) to the FHIR server at `base`, and a new list: the owner's
/// client, the team id and the list id.
pub async fn ehr_team(
    app: &TestApp,
    base: &str,
    team: &str,
    connection: &str,
    list: &str,
) -> (Client, String, String) {
    app.user("owner", false).await;
    app.user("member", false).await;
    let owner = app.client("owner").await;
    let team = owner.create_team(team).await;
    owner
        .add_member(&team, json!({"username": "member", "role": "member"}))
        .await;
    let r = owner
        .put(
            &format!("/api/v1/teams/{team}/ehr-connection"),
            json!({"name": connection, "baseUrl": base, "auth": {"kind": "none"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let list = owner.create_list(&team, list).await;
    (owner, team, list)
}

#[derive(Debug, Clone)]
pub struct Sse {
    pub id: Option<i64>,
    pub event: String,
    pub data: Value,
}

/// A reader of a Server-Sent Events stream.
pub struct Events {
    resp: reqwest::Response,
    buffer: String,
}

impl Events {
    /// Reads an answer already known to be an event stream.
    pub fn from_response(resp: reqwest::Response) -> Self {
        Self {
            resp,
            buffer: String::new(),
        }
    }

    /// The next event, or None if none comes within `wait`.
    pub async fn next(&mut self, wait: std::time::Duration) -> Option<Sse> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut sse = Sse {
                    id: None,
                    event: "message".into(),
                    data: Value::Null,
                };
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        sse.id = v.trim().parse().ok();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        sse.event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() && sse.id.is_none() && sse.event == "message" {
                    continue; // a keep-alive comment
                }
                sse.data = serde_json::from_str(&data).unwrap_or(Value::String(data));
                return Some(sse);
            }
            let chunk = tokio::time::timeout_at(deadline, self.resp.chunk())
                .await
                .ok()?
                .ok()??;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// The next event that is not a ping.
    pub async fn next_change(&mut self, wait: std::time::Duration) -> Option<Sse> {
        loop {
            let e = self.next(wait).await?;
            if e.event != "ping" {
                return Some(e);
            }
        }
    }
}

/// The key sealing EHR connection secrets in tests: one per test process.
pub const TEST_SECRET_KEY: &str = "dGVzdCBrZXkgb2YgdGhlIHJvdW5kcyB0ZXN0IHN1aXQ=";

async fn install_test_key(app: &App) {
    let key = rounds_app::secret_box::SecretBox::from_base64_key(TEST_SECRET_KEY)
        .expect("the test secret key");
    app.install_secret_key(key)
        .await
        .expect("install the test key");
}

/// A real FHIR R4 server, sekmet-fhir (installed by scripts/test.sh, path in
/// ROUNDS_TEST_SEKMET), in its own working directory; killed when dropped.
pub struct Sekmet {
    child: std::process::Child,
    pub base: String,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Drop for Sekmet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn sekmet_exe() -> std::path::PathBuf {
    std::env::var("ROUNDS_TEST_SEKMET")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| {
            let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../.venv-peers/bin/sekmet");
            assert!(
                p.exists(),
                "sekmet-fhir is not installed: run scripts/test.sh or set ROUNDS_TEST_SEKMET"
            );
            p
        })
}

impl Sekmet {
    /// Starts sekmet on a free port of 127.0.0.1 and waits until it answers.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self::start_in(dir, port)
    }

    /// Starts sekmet over the data of `dir` on `port` (again, after `stop`).
    pub fn start_in(dir: tempfile::TempDir, port: u16) -> Self {
        use std::process::{Command, Stdio};
        let base = format!("http://127.0.0.1:{port}/fhir");
        let child = Command::new(sekmet_exe())
            .args(["serve", "--host", "127.0.0.1", "--port", &port.to_string()])
            .current_dir(dir.path())
            .env("SEKMET_BASE_URL", &base)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let s = Sekmet {
            child,
            base,
            port,
            dir,
        };
        let started = std::time::Instant::now();
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "sekmet did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        s
    }

    /// Freezes (SIGSTOP) or thaws (SIGCONT) the server: a slow EHR.
    pub fn signal(&self, signal: &str) {
        let ok = std::process::Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success(), "kill {signal}");
    }

    /// Kills the server, keeping its data directory for `start_in`.
    pub fn stop(mut self) -> (tempfile::TempDir, u16) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let port = self.port;
        // Take the directory out without running Drop's kill again.
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        (dir, port)
    }

    /// Posts a transaction Bundle; panics unless it is accepted.
    pub async fn load(&self, bundle: &Value) -> Value {
        let r = reqwest::Client::new()
            .post(&self.base)
            .header("content-type", "application/fhir+json")
            .json(bundle)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        assert!(
            status.is_success(),
            "sekmet refused the Bundle: {status} {body}"
        );
        body
    }
}
