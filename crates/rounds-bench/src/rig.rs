//! The rig the benchmarks share: Rounds served on 127.0.0.1 and signed in
//! as the benchmark's user, the API calls that set up teams, lists and
//! patients, and sign-ins for feeds opened by other clients.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use reqwest::{Method, StatusCode};
use rounds_app::{App, AppConfig, Caller, DbOptions, NewUserInput};
use serde_json::{json, Value};

use crate::Api;

pub(crate) const PASSWORD: &str = "benchmark password 1";

/// The kinds of the team columns the benchmarks add, in turn.
const COLUMN_KINDS: [&str; 8] = [
    "text", "number", "choice", "checkbox", "date", "longText", "dateTime", "text",
];

/// Opens Rounds over `url`; when `fresh`, with the benchmark's user
/// (`bench`, [`PASSWORD`]) created.
pub(crate) async fn open_app(
    url: &str,
    options: &DbOptions,
    config: AppConfig,
    fresh: bool,
) -> anyhow::Result<App> {
    let app = App::open(url, options, config)
        .await
        .context("open the database")?;
    if fresh {
        app.create_user(
            Caller::Console,
            &NewUserInput {
                username: "bench".into(),
                display_name: "Bench".into(),
                password: Some(PASSWORD.into()),
                admin: false,
            },
        )
        .await?;
    }
    Ok(app)
}

/// The pool of 20 database connections the `lists` and `scale` benchmarks
/// open Rounds with.
pub(crate) fn twenty_connections() -> DbOptions {
    DbOptions {
        max_connections: 20,
        ..DbOptions::default()
    }
}

/// Rounds on 127.0.0.1, signed in as `bench`.
pub(crate) struct Rig {
    pub(crate) app: App,
    pub(crate) api: Api,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Rig {
    pub(crate) async fn open(
        url: &str,
        fresh: bool,
        max_connections: usize,
    ) -> anyhow::Result<Self> {
        Self::open_with(url, fresh, max_connections, AppConfig::default()).await
    }

    /// Rounds over one SQLite file (20 database connections, at most
    /// `max_connections` HTTP connections), with the application's settings.
    pub(crate) async fn open_with(
        url: &str,
        fresh: bool,
        max_connections: usize,
        config: AppConfig,
    ) -> anyhow::Result<Self> {
        let app = open_app(url, &twenty_connections(), config, fresh).await?;
        let mut web = rounds_web::WebConfig::default();
        web.limits.max_connections = max_connections;
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .pool_max_idle_per_host(64)
            .build()?;
        Self::serve(app, web, http).await
    }

    /// Serves `app` on 127.0.0.1 and signs `bench` in on `http` (which
    /// keeps the session cookie).
    pub(crate) async fn serve(
        app: App,
        web: rounds_web::WebConfig,
        http: reqwest::Client,
    ) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = rounds_web::AppState::new(app.clone(), web);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(rounds_web::serve(listener, state, async {
            let _ = stopped.await;
        }));
        let base = format!("http://{addr}");
        let signed = http
            .post(format!("{base}/api/v1/session"))
            .json(&json!({"username": "bench", "password": PASSWORD}))
            .send()
            .await?;
        if signed.status() != StatusCode::OK {
            bail!("sign-in failed: {}", signed.status());
        }
        let csrf = signed.json::<Value>().await?["csrfToken"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        Ok(Self {
            app,
            api: Api { http, base, csrf },
            stop: Some(stop),
            server,
        })
    }

    /// Stops serving (the live feeds closed, the server awaited for 10 s
    /// at most); the application stays open.
    pub(crate) async fn stop(mut self) -> App {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.app.close_live_feeds();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.server).await;
        self.app
    }

    /// Stops serving and closes the application.
    pub(crate) async fn close(self) {
        self.stop().await.close().await;
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.api.send(Method::POST, path, Some(body)).await
    }

    /// A new team's id.
    pub(crate) async fn new_team(&self, name: &str) -> anyhow::Result<String> {
        Ok(
            self.post("/api/v1/teams", json!({ "name": name })).await?["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    }

    /// A team ("Bench ward") and a list with `columns` team columns; the
    /// list's API path and the columns' keys and kinds.
    pub(crate) async fn list_with_columns(
        &self,
        columns: usize,
    ) -> anyhow::Result<(String, Vec<(String, &'static str)>)> {
        let team = self.new_team("Bench ward").await?;
        let list = self.new_list(&team, "Big list").await?;
        let mut keys = Vec::new();
        for i in 0..columns {
            let kind = COLUMN_KINDS[i % COLUMN_KINDS.len()];
            let mut body = json!({"label": format!("Column {i}"), "type": kind});
            if kind == "choice" {
                body["options"] = json!([{"label": "Stable", "color": "#2e7d32"}, {"label": "Watch", "color": "#f9a825"}, {"label": "Critical", "color": "#c62828"}]);
            }
            let c = self.post(&format!("{list}/columns"), body).await?;
            keys.push((c["key"].as_str().unwrap_or_default().to_owned(), kind));
        }
        Ok((list, keys))
    }

    /// A new list of the team (given by its id or any API path under it);
    /// the list's API path.
    pub(crate) async fn new_list(
        &self,
        team_path_or_id: &str,
        name: &str,
    ) -> anyhow::Result<String> {
        let team = team_of(team_path_or_id);
        let list = self
            .post(
                &format!("/api/v1/teams/{team}/lists"),
                json!({ "name": name }),
            )
            .await?["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        Ok(format!("/api/v1/teams/{team}/lists/{list}"))
    }

    /// Adds patient number `p` with every field filled; the time it took.
    pub(crate) async fn add(
        &self,
        list: &str,
        p: usize,
        columns: &[(String, &'static str)],
    ) -> anyhow::Result<(Duration, Value)> {
        let body = json!({ "fields": patient_fields(p, columns) });
        let t = Instant::now();
        let added = self.post(&format!("{list}/patients"), body).await?;
        Ok((t.elapsed(), added))
    }
}

/// The team id in an API path under `/api/v1/teams/` (or the id itself).
pub(crate) fn team_of(path_or_id: &str) -> &str {
    path_or_id
        .trim_start_matches("/api/v1/teams/")
        .split('/')
        .next()
        .unwrap_or_default()
}

/// The id of the patient an addPatient answer added.
pub(crate) fn added_patient_id(added: &Value) -> String {
    added["row"]["patientId"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Patient number `p`'s fields: every built-in one and each team column
/// filled with a value of its kind.
fn patient_fields(p: usize, columns: &[(String, &'static str)]) -> Value {
    let mut fields = json!({
        "family": format!("Family{p:04}"), "given": "Given", "mrn": format!("M{p:06}"),
        "birthDate": format!("19{:02}-0{}-1{}", 30 + p % 60, 1 + p % 9, p % 9),
        "sex": if p.is_multiple_of(2) { "female" } else { "male" },
        "ward": "7", "room": format!("{}", p % 40), "bed": format!("{}", p % 4),
    });
    for (key, kind) in columns {
        fields[key] = match *kind {
            "number" => json!(36.0 + (p % 30) as f64 / 10.0),
            "choice" => json!(["Stable", "Watch", "Critical"][p % 3]),
            "checkbox" => json!(p.is_multiple_of(2)),
            "date" => json!(format!("2026-11-{:02}", 1 + p % 28)),
            "dateTime" => json!(format!("2026-11-{:02}T08:{:02}:00Z", 1 + p % 28, p % 60)),
            _ => json!(format!("value {p} of a column with some words")),
        };
    }
    fields
}

/// The session cookie of `api`'s client, for feeds opened by another client.
pub(crate) async fn session_cookie(api: &Api) -> anyhow::Result<String> {
    sign_in_cookie(&api.base, "bench").await
}

/// Signs `username` in on a bare client (to see the Set-Cookie header) and
/// returns the session cookie, for feeds opened by another client.
pub(crate) async fn sign_in_cookie(base: &str, username: &str) -> anyhow::Result<String> {
    let resp = reqwest::Client::new()
        .post(format!("{base}/api/v1/session"))
        .json(&json!({"username": username, "password": PASSWORD}))
        .send()
        .await?;
    if resp.status() != StatusCode::OK {
        bail!("sign-in of {username} failed: {}", resp.status());
    }
    let cookies: Vec<String> = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .map(str::to_owned)
        .collect();
    if cookies.is_empty() {
        bail!("no session cookie");
    }
    Ok(cookies.join("; "))
}
