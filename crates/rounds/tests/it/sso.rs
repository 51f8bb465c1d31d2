//! Single sign-on against a real OpenID Connect provider: oidc-provider
//! (npm), started per test from `tests/peers/sso_provider.mjs` with a
//! confidential client, PKCE required, a groups and a fhirUser claim, its
//! own login form (filled in over HTTP here, and by Chromium in the browser
//! test), key rotation and forged answers. Rounds is reached through a real
//! HTTP client with a cookie jar that follows every redirect by hand.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use rounds_app::sso::{MappingInput, ProviderInput, SsoSettings};
use rounds_app::{AppConfig, Caller, UserChange};
use serde_json::{json, Value};

use crate::both;
use crate::common::{Backend, Client, TestApp, PASSWORD};

/// A running test provider; killed when dropped.
pub(crate) struct Idp {
    child: std::process::Child,
    pub(crate) issuer: String,
    dir: tempfile::TempDir,
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn oidc_module() -> PathBuf {
    let peers = std::env::var("ROUNDS_TEST_PEERS_NODE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.peers-node"));
    let module = peers.join("node_modules/oidc-provider");
    assert!(
        module.exists(),
        "oidc-provider is not installed: run scripts/test.sh"
    );
    module
}

/// The people the provider knows.
fn people() -> Value {
    json!({
        "sub-ada": {"preferred_username": "ada.nurse", "name": "Ada Nurse",
                    "email": "ada@hospital.example", "groups": ["ward-7b-nurses", "staff"]},
        "sub-bob": {"preferred_username": "bob", "name": "Bob Physician", "groups": ["staff"]},
        "sub-root": {"preferred_username": "root", "name": "Root Admin", "groups": []},
        "sub-cho": {"preferred_username": "cho", "name": "Cho Practitioner",
                    "fhirUser": "Practitioner/prac-17", "groups": []},
    })
}

/// The addresses a Rounds at `app` has for providers `ids`: their callbacks,
/// and where the provider's sign-out comes back to.
fn client_uris(app: &TestApp, ids: &[&str]) -> (Vec<String>, String) {
    let redirects = ids
        .iter()
        .map(|id| app.url(&format!("/sign-in/sso/{id}/callback")))
        .collect();
    (redirects, app.url("/sign-in?done=signed-out"))
}

impl Idp {
    async fn start(port: u16, app: &TestApp, ids: &[&str], env: &[(&str, String)]) -> Self {
        let (redirects, post_logout) = client_uris(app, ids);
        Self::start_with(port, &redirects, &post_logout, env).await
    }

    /// A provider whose client is not yet told a Rounds' addresses (see
    /// [`Idp::serve`]).
    pub(crate) async fn start_unbound() -> Self {
        let nowhere = "http://127.0.0.1:9/nowhere".to_owned();
        Self::start_with(free_port(), std::slice::from_ref(&nowhere), &nowhere, &[]).await
    }

    /// From now on the client is the one of the Rounds at `app`, providers `ids`.
    pub(crate) async fn serve(&self, app: &TestApp, ids: &[&str]) {
        let (redirects, post_logout) = client_uris(app, ids);
        let r = self
            .post(
                "/test/client",
                json!({"redirectUris": redirects, "postLogoutUris": [post_logout]}),
            )
            .await;
        assert_eq!(r["ok"], true, "{r}");
    }

    async fn start_with(
        port: u16,
        redirects: &[String],
        post_logout: &str,
        env: &[(&str, String)],
    ) -> Self {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/sso_provider.mjs");
        let dir = tempfile::tempdir().unwrap();
        let mut command = std::process::Command::new("node");
        command
            .arg(&script)
            .current_dir(dir.path())
            .env("OIDC_PORT", port.to_string())
            .env("ROUNDS_OIDC_MODULE", oidc_module())
            .env("SSO_REDIRECT_URIS", redirects.join(","))
            .env("SSO_POST_LOGOUT_URIS", post_logout)
            .env("SSO_USERS", people().to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command.spawn().unwrap();
        let idp = Self {
            child,

            issuer: format!("http://127.0.0.1:{port}"),
            dir,
        };
        let started = Instant::now();
        let http = reqwest::Client::new();
        loop {
            let ok = http
                .get(format!("{}/.well-known/openid-configuration", idp.issuer))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "oidc-provider did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        idp
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> Value {
        reqwest::Client::new()
            .post(format!("{}{path}", self.issuer))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn stats(&self) -> Value {
        reqwest::get(format!("{}/test/stats", self.issuer))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    fn key_file(&self) -> String {
        self.dir
            .path()
            .join("signing-key.json")
            .display()
            .to_string()
    }

    /// Rounds' settings for this provider.
    pub(crate) fn provider(&self, id: &str, create_accounts: bool) -> ProviderInput {
        ProviderInput {
            id: id.into(),
            kind: Some("oidc".into()),
            label: format!("Hospital {id}"),
            issuer: self.issuer.clone(),
            client_id: "rounds".into(),
            client_secret: Some("rounds-client-secret-0123456789".into()),
            scopes: Some("openid profile email groups".into()),
            username_claim: None,
            display_name_claim: None,
            groups_claim: Some("groups".into()),
            create_accounts,
        }
    }
}

/// A browser: a cookie jar, redirects followed by hand.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn location(resp: &reqwest::Response, base: &str) -> String {
    let loc = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no Location from {} ({})", resp.url(), resp.status()));
    url::Url::parse(base)
        .unwrap()
        .join(loc)
        .unwrap()
        .to_string()
}

/// A page's answer.
struct Page {
    status: StatusCode,
    location: Option<String>,
    html: String,
}

async fn get(http: &reqwest::Client, url: &str) -> Page {
    let resp = http.get(url).send().await.unwrap();
    let status = resp.status();
    let loc = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Page {
        status,
        location: loc,
        html: unescape(&resp.text().await.unwrap()),
    }
}

/// The page's text with minijinja's escapes undone, to look for addresses.
fn unescape(html: &str) -> String {
    html.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

/// Clicks the provider's button: the authorization address Rounds sends the browser to.
async fn click_button(http: &reqwest::Client, app: &TestApp, provider: &str) -> String {
    let resp = http
        .get(app.url(&format!("/sign-in/sso/{provider}?next=/teams")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{}", resp.url());
    location(&resp, &app.url("/"))
}

/// At the provider: from the authorization address through its login form
/// (`login` fills it in; None refuses consent) to the callback address
/// back at Rounds, which is not fetched.
async fn at_provider(http: &reqwest::Client, authorize: &str, login: Option<&str>) -> String {
    let mut url = authorize.to_owned();
    for _ in 0..10 {
        let resp = http.get(&url).send().await.unwrap();
        if resp.status().is_redirection() {
            let next = location(&resp, &url);
            if next.contains("/sign-in/sso/") {
                return next;
            }
            url = next;
            continue;
        }
        let page_url = resp.url().to_string();
        let html = resp.text().await.unwrap();
        assert!(
            html.contains("Hospital sign-in"),
            "not the login page at {page_url}: {html}"
        );
        let post = match login {
            Some(who) => http
                .post(format!("{page_url}/login"))
                .form(&[("login", who)]),
            None => http.post(format!("{page_url}/refuse")),
        };
        let resp = post.send().await.unwrap();
        assert!(resp.status().is_redirection(), "login: {}", resp.status());
        url = location(&resp, &page_url);
    }
    panic!("the provider never sent the browser back");
}

/// A whole sign-in: button, provider, callback. The callback's page.
async fn sign_in(http: &reqwest::Client, app: &TestApp, provider: &str, login: &str) -> Page {
    let authorize = click_button(http, app, provider).await;
    let callback = at_provider(http, &authorize, Some(login)).await;
    get(http, &callback).await
}

async fn me(http: &reqwest::Client, app: &TestApp) -> Value {
    let resp = http.get(app.url("/api/v1/me")).send().await.unwrap();
    if resp.status() != StatusCode::OK {
        return Value::Null;
    }
    let body: Value = resp.json().await.unwrap();
    body["user"].clone()
}

/// An API client whose session single sign-on made: `login` signs in at
/// provider `provider` (button, provider's form, callback), and the client
/// carries the session's CSRF token.
pub(crate) async fn sso_client(app: &TestApp, provider: &str, login: &str) -> Client {
    let http = browser();
    let done = sign_in(&http, app, provider, login).await;
    assert_eq!(
        done.status,
        StatusCode::SEE_OTHER,
        "single sign-on of {login}: {}",
        done.html
    );
    let mut client = Client::with_http(http, &app.url(""));
    client.csrf = client.get("/api/v1/me").await.body["csrfToken"]
        .as_str()
        .map(str::to_owned);
    assert!(client.csrf.is_some(), "{login} has a session");
    client
}

async fn spawn(backend: Backend, sso: SsoSettings) -> TestApp {
    TestApp::spawn_with(
        backend,
        AppConfig {
            sso,
            ..AppConfig::default()
        },
    )
    .await
}

/// The first sign-in makes the account from the claims and puts the person
/// in the mapped team; a later one without the group takes them out again
/// (each change audited as a membership change); a team she joined by hand
/// stays; the admin group makes and unmakes a site administrator. Sign-in
/// records carry the provider; sign-out offers the provider's sign-out.
async fn code_flow_accounts_and_groups(backend: Backend) {
    let app = spawn(backend, SsoSettings::default()).await;
    let admin = app.admin().await;
    let ward = admin.create_team("Ward 7B").await;
    let hand = admin.create_team("Hand Team").await;
    let idp = Idp::start(free_port(), &app, &["hospital"], &[]).await;
    app.app
        .install_file_providers(&[(
            idp.provider("hospital", true),
            vec![
                MappingInput {
                    group: "ward-7b-nurses".into(),
                    team: Some("Ward 7B".into()),
                    team_id: None,
                    role: "member".into(),
                },
                MappingInput {
                    group: "rounds-admins".into(),
                    team: None,
                    team_id: None,
                    role: "admin".into(),
                },
            ],
        )])
        .await
        .unwrap();

    // The sign-in page shows the button.
    let http = browser();
    let page = get(&http, &app.url("/sign-in")).await;
    assert!(
        page.html.contains("/sign-in/sso/hospital?next=")
            && page.html.contains("Sign in with Hospital hospital"),
        "{}",
        page.html
    );
    let authorize = click_button(&http, &app, "hospital").await;
    let q: std::collections::HashMap<String, String> = url::Url::parse(&authorize)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert!(authorize.starts_with(&format!("{}/auth?", idp.issuer)));
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    assert!(q["state"].len() >= 43 && q["nonce"].len() >= 43);
    assert_eq!(q["redirect_uri"], app.url("/sign-in/sso/hospital/callback"));
    let callback = at_provider(&http, &authorize, Some("sub-ada")).await;
    let done = get(&http, &callback).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    assert_eq!(done.location.as_deref(), Some("/teams"));
    let who = me(&http, &app).await;
    assert_eq!(who["username"], "ada.nurse", "{who}");
    assert_eq!(who["displayName"], "Ada Nurse");
    let teams = get(&http, &app.url("/teams")).await;
    assert!(
        teams.html.contains("<strong>Ward 7B</strong>") && !teams.html.contains("Hand Team"),
        "{}",
        teams.html
    );

    // The code and state are good once: the same answer again is refused.
    let replay = get(&http, &callback).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert!(replay.html.contains("Sign-in expired"), "{}", replay.html);

    // Audited: the account made just in time, the membership by the directory,
    // the sign-in with its provider.
    let created = admin.audit("operation=UserCreate").await;
    assert!(
        created.iter().any(|r| r["detail"]["justInTime"] == true
            && r["detail"]["username"] == "ada.nurse"
            && r["actorUsername"] == "(directory hospital)"),
        "{created:?}"
    );
    let added = admin
        .audit(&format!("operation=TeamMemberAdd&teamId={ward}"))
        .await;
    assert!(
        added.iter().any(|r| r["detail"]["username"] == "ada.nurse"
            && r["detail"]["group"] == "ward-7b-nurses"
            && r["detail"]["role"] == "member"),
        "{added:?}"
    );
    let signins = admin.audit("operation=SignIn").await;
    assert!(
        signins
            .iter()
            .any(|r| r["detail"]["provider"] == "hospital" && r["actorUsername"] == "ada.nurse"),
        "{signins:?}"
    );

    // She joins a team by hand; the directory drops her ward group and makes
    // her an administrator.
    admin
        .post(
            &format!("/api/v1/teams/{hand}/members"),
            json!({"username": "ada.nurse", "role": "member"}),
        )
        .await;
    idp.post(
        "/test/users",
        json!({"sub-ada": {"preferred_username": "ada.nurse", "name": "Ada Nurse",
            "groups": ["staff", "rounds-admins"]}}),
    )
    .await;
    let http2 = browser();
    let done = sign_in(&http2, &app, "hospital", "sub-ada").await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    let who = me(&http2, &app).await;
    assert_eq!(who["siteRole"], "admin", "{who}");
    let teams = get(&http2, &app.url("/teams")).await;
    assert!(
        !teams.html.contains("<strong>Ward 7B</strong>") && teams.html.contains("Hand Team"),
        "{}",
        teams.html
    );
    let removed = admin
        .audit(&format!("operation=TeamMemberRemove&teamId={ward}"))
        .await;
    assert!(
        removed
            .iter()
            .any(|r| r["actorUsername"] == "(directory hospital)"),
        "{removed:?}"
    );
    // Out of the admin group again: no longer an administrator.
    idp.post(
        "/test/users",
        json!({"sub-ada": {"preferred_username": "ada.nurse", "name": "Ada Nurse", "groups": []}}),
    )
    .await;
    let http3 = browser();
    sign_in(&http3, &app, "hospital", "sub-ada").await;
    assert_eq!(me(&http3, &app).await["siteRole"], "user");
    let roles = admin.audit("operation=UserUpdate").await;
    assert!(
        roles
            .iter()
            .filter(|r| r["detail"]["provider"] == "hospital")
            .count()
            >= 2,
        "{roles:?}"
    );

    // Sign-out ends the Rounds session and offers the provider's sign-out.
    let account = get(&http3, &app.url("/account")).await;
    let csrf = account
        .html
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned();
    let out = http3
        .post(app.url("/sign-out"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::OK);
    let html = unescape(&out.text().await.unwrap());
    assert!(
        html.contains(&format!("{}/session/end?id_token_hint=eyJ", idp.issuer))
            && html.contains("&client_id=rounds&post_logout_redirect_uri="),
        "{html}"
    );
    assert_eq!(me(&http3, &app).await, Value::Null, "the session ended");
    // Other sessions (http) are untouched.
    assert_eq!(me(&http, &app).await["username"], "ada.nurse");
    app.stop().await;
}

both!(code_flow_accounts_and_groups);

/// Forged and broken answers, stale states, PKCE and consent: each refused
/// with a page saying what to do, no session, and audited.
async fn refusals(backend: Backend) {
    let app = spawn(backend, SsoSettings::default()).await;
    let admin = app.admin().await;
    let idp = Idp::start(free_port(), &app, &["hospital"], &[]).await;
    app.app
        .install_file_providers(&[(idp.provider("hospital", true), vec![])])
        .await
        .unwrap();

    for (mode, title) in [
        ("issuer", "Sign-in refused"),
        ("audience", "Sign-in refused"),
        ("expired", "Clocks disagree"),
        ("future", "Clocks disagree"),
        ("nonce", "Sign-in refused"),
        ("badsig", "Sign-in refused"),
        ("none", "Sign-in refused"),
        ("hs256", "Sign-in refused"),
    ] {
        let http = browser();
        let authorize = click_button(&http, &app, "hospital").await;
        let callback = at_provider(&http, &authorize, Some("sub-bob")).await;
        idp.post(&format!("/test/forge?mode={mode}"), json!({}))
            .await;
        let page = get(&http, &callback).await;
        assert_eq!(
            page.status,
            StatusCode::BAD_REQUEST,
            "{mode}: {}",
            page.html
        );
        assert!(page.html.contains(title), "{mode}: {}", page.html);
        assert!(!page.html.contains("callback?code"), "{mode}");
        assert_eq!(me(&http, &app).await, Value::Null, "{mode}: no session");
    }
    let refused = admin.audit("operation=SignInRefused").await;
    let reasons: Vec<String> = refused
        .iter()
        .map(|r| r["reason"].as_str().unwrap_or("").to_owned())
        .collect();
    for needle in [
        "another issuer",
        "another client",
        "clocks",
        "no nonce",
        "signature is not valid",
        "not a signed JWT",
        "HS256",
    ] {
        assert!(
            reasons.iter().any(|r| r.contains(needle)),
            "{needle} not in {reasons:?}"
        );
    }
    assert!(refused
        .iter()
        .all(|r| r["detail"]["provider"] == "hospital"));

    // A state this browser did not start (another browser's answer).
    let http = browser();
    let authorize = click_button(&http, &app, "hospital").await;
    let callback = at_provider(&http, &authorize, Some("sub-bob")).await;
    let stranger = browser();
    let page = get(&stranger, &callback).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.html.contains("Start again from the sign-in page"));
    // ... and the answer was used up by that try.
    assert_eq!(get(&http, &callback).await.status, StatusCode::BAD_REQUEST);

    // PKCE: a code obtained for one sign-in, brought back with the state of
    // another (whose verifier does not fit the code's challenge).
    let http = browser();
    let first = click_button(&http, &app, "hospital").await;
    let code_url = at_provider(&http, &first, Some("sub-bob")).await;
    let second = click_button(&http, &app, "hospital").await;
    let second_state = url::Url::parse(&second)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let mut swapped = url::Url::parse(&code_url).unwrap();
    let pairs: Vec<(String, String)> = swapped
        .query_pairs()
        .map(|(k, v)| {
            if k == "state" {
                (k.into_owned(), second_state.clone())
            } else {
                (k.into_owned(), v.into_owned())
            }
        })
        .collect();
    swapped.query_pairs_mut().clear().extend_pairs(pairs);
    let page = get(&http, swapped.as_str()).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.html);
    assert!(page.html.contains("invalid_grant"), "{}", page.html);
    assert_eq!(me(&http, &app).await, Value::Null);

    // Refused consent at the provider.
    let http = browser();
    let authorize = click_button(&http, &app, "hospital").await;
    let callback = at_provider(&http, &authorize, None).await;
    let page = get(&http, &callback).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(
        page.html.contains("access_denied") && page.html.contains("accept"),
        "{}",
        page.html
    );

    // No secret (client secret, code, token) reaches the audit log.
    let all = admin.audit("limit=500").await.to_vec();
    let text = serde_json::to_string(&all).unwrap();
    assert!(!text.contains("rounds-client-secret"));
    assert!(!text.contains("eyJ"), "a JWT in the audit log");
    app.stop().await;
}

both!(refusals);

/// The provider rotates its signing key while Rounds runs: the next sign-in
/// reads the keys again and goes through. A provider that does not answer
/// gives a page saying so.
async fn key_rotation_and_outage(backend: Backend) {
    let app = spawn(backend, SsoSettings::default()).await;
    let port = free_port();
    let idp = Idp::start(port, &app, &["hospital"], &[]).await;
    app.app
        .install_file_providers(&[(idp.provider("hospital", true), vec![])])
        .await
        .unwrap();
    let done = sign_in(&browser(), &app, "hospital", "sub-bob").await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    let before = idp.stats().await["jwksRequests"].as_i64().unwrap();
    idp.post("/test/rotate", json!({})).await;
    let http = browser();
    let done = sign_in(&http, &app, "hospital", "sub-bob").await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    assert_eq!(me(&http, &app).await["username"], "bob");
    let after = idp.stats().await["jwksRequests"].as_i64().unwrap();
    assert_eq!(after, before + 1, "the keys were read again once");

    // Down: the button says so instead of sending the browser nowhere.
    drop(idp);
    let down = ProviderInput {
        issuer: format!("http://127.0.0.1:{}", free_port()),
        ..Idp::provider_for_outage()
    };
    app.app
        .install_file_providers(&[(down, vec![])])
        .await
        .unwrap();
    let page = get(&browser(), &app.url("/sign-in/sso/hospital?next=/teams")).await;
    assert_eq!(
        page.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        page.html
    );
    assert!(
        page.html.contains("Sign-in service unreachable"),
        "{}",
        page.html
    );
    assert!(page.html.contains("Try again in a few minutes"));
    app.stop().await;
}

impl Idp {
    fn provider_for_outage() -> ProviderInput {
        ProviderInput {
            id: "hospital".into(),
            label: "Hospital hospital".into(),
            client_id: "rounds".into(),
            ..ProviderInput::default()
        }
    }
}

both!(key_rotation_and_outage);

/// With account creation off, an unknown person is told to ask their admin;
/// an administrator links their local account on the admin page, and then
/// they land in it. A disabled account signs in by no route.
async fn linking_and_disabled(backend: Backend) {
    let app = spawn(backend, SsoSettings::default()).await;
    let admin = app.admin().await;
    let bob_id = app.user("bob.local", false).await;
    let idp = Idp::start(free_port(), &app, &["hospital"], &[]).await;

    // Configured on the admin page (the secret sealed at rest).
    let page = admin
        .http
        .get(app.url("/admin/sign-in"))
        .send()
        .await
        .unwrap();
    let html = page.text().await.unwrap();
    let csrf = html
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned();
    let resp = admin
        .http
        .post(app.url("/admin/sign-in/providers"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("id", "hospital"),
            ("kind", "oidc"),
            ("label", "Hospital account"),
            ("issuer", idp.issuer.as_str()),
            ("client_id", "rounds"),
            ("client_secret", "rounds-client-secret-0123456789"),
            ("scopes", "openid profile groups"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::SEE_OTHER,
        "{}",
        resp.text().await.unwrap()
    );
    let page = admin
        .http
        .get(app.url("/admin/sign-in"))
        .send()
        .await
        .unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains("Hospital account") && html.contains("set (sealed)"));
    assert!(
        !html.contains("rounds-client-secret"),
        "the secret is never shown"
    );

    let http = browser();
    let page = sign_in(&http, &app, "hospital", "sub-bob").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.html);
    assert!(page.html.contains("No Rounds account"));
    assert!(
        page.html.contains("Ask your Rounds administrator"),
        "{}",
        page.html
    );
    assert_eq!(me(&http, &app).await, Value::Null);

    // The admin links bob.local to sub-bob.
    let resp = admin
        .http
        .post(app.url("/admin/sign-in/links"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("provider", "hospital"),
            ("subject", "sub-bob"),
            ("username", "bob.local"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let linked = admin.audit("operation=SSOIdentityLink").await;
    assert_eq!(linked.len(), 1, "{linked:?}");
    let page = sign_in(&http, &app, "hospital", "sub-bob").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    assert_eq!(me(&http, &app).await["username"], "bob.local");

    // Disabled: his session ends, and neither single sign-on nor his
    // password signs him in.
    let admin_actor = app.app.user_by_username("root").await.unwrap();
    let actor = rounds_app::Actor {
        user: admin_actor,
        client: Default::default(),
    };
    app.app
        .update_user(
            Caller::User(&actor),
            bob_id.parse().unwrap(),
            &UserChange {
                disabled: Some(true),
                ..UserChange::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(me(&http, &app).await, Value::Null);
    let again = browser();
    let page = sign_in(&again, &app, "hospital", "sub-bob").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.html);
    assert!(page.html.contains("Account disabled"));
    assert_eq!(me(&again, &app).await, Value::Null);
    let mut local = Client::new(&app);
    assert_eq!(
        local.sign_in("bob.local", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    let refused = admin.audit("operation=SignInRefused").await;
    assert!(
        refused
            .iter()
            .any(|r| r["reason"] == "your Rounds account is disabled"),
        "{refused:?}"
    );
    app.stop().await;
}

both!(linking_and_disabled);

/// Two providers at once, each its own oidc-provider with its own keys: each
/// button signs in at its own, and an ID token of one is refused by the other.
async fn two_providers(backend: Backend) {
    let app = spawn(backend, SsoSettings::default()).await;
    let one = Idp::start(free_port(), &app, &["one"], &[]).await;
    // `two` can forge with `one`'s signing key.
    let two = Idp::start(
        free_port(),
        &app,
        &["two"],
        &[
            ("SSO_FOREIGN_KEY", one.key_file()),
            ("SSO_FOREIGN_ISSUER", one.issuer.clone()),
        ],
    )
    .await;
    app.app
        .install_file_providers(&[
            (one.provider("one", true), vec![]),
            (two.provider("two", true), vec![]),
        ])
        .await
        .unwrap();
    let page = get(&browser(), &app.url("/sign-in")).await;
    assert!(
        page.html.contains("Sign in with Hospital one")
            && page.html.contains("Sign in with Hospital two")
    );

    let http = browser();
    let authorize = click_button(&http, &app, "two").await;
    assert!(authorize.starts_with(&two.issuer), "{authorize}");
    let done = get(
        &http,
        &at_provider(&http, &authorize, Some("sub-bob")).await,
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    let who = me(&http, &app).await;
    assert_eq!(who["username"], "bob");
    // The same sub at the other issuer is another person: not signed in to
    // bob's account (its name is taken, so an admin has to link it).
    let http1 = browser();
    let authorize = click_button(&http1, &app, "one").await;
    assert!(authorize.starts_with(&one.issuer), "{authorize}");
    let page = get(
        &http1,
        &at_provider(&http1, &authorize, Some("sub-bob")).await,
    )
    .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.html);
    assert!(page.html.contains("Account not linked"), "{}", page.html);
    let admin = app.admin().await;
    let users = admin.get("/api/v1/users").await;
    let bobs = users
        .body
        .as_array()
        .map_or(0, |u| u.iter().filter(|u| u["username"] == "bob").count());
    assert_eq!(bobs, 1, "{}", users.text);
    // Each issuer signs in its own: ada at `one`.
    let http1 = browser();
    let done = sign_in(&http1, &app, "one", "sub-ada").await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);

    // An ID token from `one`, answered by `two`.
    let http = browser();
    let authorize = click_button(&http, &app, "two").await;
    let callback = at_provider(&http, &authorize, Some("sub-ada")).await;
    two.post("/test/forge?mode=foreign", json!({})).await;
    let page = get(&http, &callback).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.html);
    assert!(page.html.contains("Sign-in refused"));
    assert_eq!(me(&http, &app).await, Value::Null);
    app.stop().await;
}

both!(two_providers);

/// Local sign-in turned off: a password signs in only the named break-glass
/// administrator; single sign-on still works.
async fn break_glass(backend: Backend) {
    let app = spawn(
        backend,
        SsoSettings {
            local_sign_in: false,
            break_glass_admins: vec!["root".into()],
            ..SsoSettings::default()
        },
    )
    .await;
    let admin = app.admin().await; // root: break-glass, signs in
    app.user("nurse", false).await;
    app.user("other.admin", true).await;
    for who in ["nurse", "other.admin"] {
        let mut c = Client::new(&app);
        let r = c.sign_in(who, PASSWORD).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{who}: {}", r.text);
        assert!(r.text.contains("turned off"), "{}", r.text);
    }
    let refused = admin.audit("operation=SignInRefused").await;
    assert!(refused
        .iter()
        .any(|r| r["reason"] == "local sign-in is turned off" && r["actorUsername"] == "nurse"));
    // The page says so too.
    let idp = Idp::start(free_port(), &app, &["hospital"], &[]).await;
    app.app
        .install_file_providers(&[(idp.provider("hospital", true), vec![])])
        .await
        .unwrap();
    let page = get(&browser(), &app.url("/sign-in")).await;
    assert!(
        page.html
            .contains("only for the site&#x27;s emergency administrators")
            || page
                .html
                .contains("only for the site's emergency administrators"),
        "{}",
        page.html
    );
    let http = browser();
    let done = sign_in(&http, &app, "hospital", "sub-ada").await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    assert_eq!(me(&http, &app).await["username"], "ada.nurse");
    app.stop().await;
}

both!(break_glass);

/// "Sign in with the EHR": the endpoints come from the FHIR server's
/// `.well-known/smart-configuration`; the request names the FHIR server
/// (`aud`) and asks for `openid fhirUser`; the person's fhirUser is kept on
/// the account and shown on their page.
async fn smart_standalone_launch(backend: Backend) {
    let app = spawn(backend, SsoSettings::default()).await;
    let idp = Idp::start(free_port(), &app, &["ehr"], &[]).await;
    let fhir = format!("{}/fhir", idp.issuer);
    app.app
        .install_file_providers(&[(
            ProviderInput {
                id: "ehr".into(),
                kind: Some("smart".into()),
                label: "Hospital EHR".into(),
                issuer: fhir.clone(),
                client_id: "rounds".into(),
                client_secret: Some("rounds-client-secret-0123456789".into()),
                scopes: None,
                // SMART's default: the username is the EHR's subject.
                username_claim: None,
                display_name_claim: None,
                groups_claim: None,
                create_accounts: true,
            },
            vec![],
        )])
        .await
        .unwrap();
    let http = browser();
    let authorize = click_button(&http, &app, "ehr").await;
    let q: std::collections::HashMap<String, String> = url::Url::parse(&authorize)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(q["aud"], fhir);
    assert_eq!(q["scope"], "openid fhirUser");
    let done = get(
        &http,
        &at_provider(&http, &authorize, Some("sub-cho")).await,
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    assert_eq!(me(&http, &app).await["username"], "sub-cho");
    let account = get(&http, &app.url("/account")).await;
    assert!(
        account.html.contains("Practitioner/prac-17"),
        "{}",
        account.html
    );
    let admin = app.admin().await;
    let signins = admin.audit("operation=SignIn").await;
    assert!(signins
        .iter()
        .any(|r| r["detail"]["fhirUser"] == "Practitioner/prac-17"
            && r["detail"]["provider"] == "ehr"));
    app.stop().await;
}

both!(smart_standalone_launch);

/// In Chromium: the sign-in page shows the providers' buttons; a click goes
/// to the provider's login form, and signing in there lands the nurse on
/// her team's ward list (the team her directory group gave her). At a
/// provider that makes no accounts, an unknown person is told to ask their
/// administrator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sso_in_chromium() {
    let required = std::env::var("ROUNDS_TEST_BROWSER_REQUIRED").is_ok_and(|v| v == "1");
    let (Ok(chromium), Ok(modules)) = (
        std::env::var("ROUNDS_TEST_CHROMIUM"),
        std::env::var("ROUNDS_TEST_NODE_MODULES"),
    ) else {
        assert!(
            !required,
            "the browser test needs ROUNDS_TEST_CHROMIUM and ROUNDS_TEST_NODE_MODULES"
        );
        eprintln!("skipped: run scripts/test.sh (it installs chromium and playwright-core)");
        return;
    };
    let app = spawn(Backend::Sqlite, SsoSettings::default()).await;
    let admin = app.admin().await;
    let ward = admin.create_team("Ward 7B").await;
    let list = admin
        .post(
            &format!("/api/v1/teams/{ward}/lists"),
            json!({"name": "Ward round"}),
        )
        .await;
    let list = list.body["id"].as_str().unwrap().to_owned();
    let r = admin
        .put(
            &format!("/api/v1/teams/{ward}/lists/{list}/default"),
            json!({}),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    let idp = Idp::start(free_port(), &app, &["hospital", "clinic"], &[]).await;
    app.app
        .install_file_providers(&[
            (
                idp.provider("hospital", true),
                vec![MappingInput {
                    group: "ward-7b-nurses".into(),
                    team: Some("Ward 7B".into()),
                    team_id: None,
                    role: "member".into(),
                }],
            ),
            // The same directory, but accounts are made by an administrator.
            (
                ProviderInput {
                    label: "Clinic".into(),
                    ..idp.provider("clinic", false)
                },
                vec![],
            ),
        ])
        .await
        .unwrap();
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let artifacts = manifest.join("../../target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let mut command = std::process::Command::new("node");
    command
        .arg(manifest.join("tests/browser/sso_flow.mjs"))
        .env("ROUNDS_URL", app.url(""))
        .env("ROUNDS_CHROMIUM", chromium)
        .env("ROUNDS_NODE_MODULES", modules)
        .env("ROUNDS_ARTIFACTS", &artifacts);
    // The server runs on this runtime: wait for the browser off it.
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::task::spawn_blocking(move || command.output()),
    )
    .await
    .expect("the browser run took too long")
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}\n{stdout}");
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap();
    assert_eq!(summary["ok"], true, "{summary}\n{stderr}");
    assert_eq!(summary["landed"], format!("/teams/{ward}/lists/{list}"));
    assert_eq!(summary["refusedStatus"], 403, "{summary}");
    // The refusal is audited, with the provider and the identity.
    let refused = admin.audit("operation=SignInRefused").await;
    assert!(
        refused.iter().any(|r| r["detail"]["provider"] == "clinic"
            && r["detail"]["identity"]["subject"] == "sub-bob"),
        "{refused:?}"
    );
    assert!(
        app.app.user_by_username("bob").await.is_err(),
        "no account made"
    );
    drop(idp);
    app.stop().await;
}

/// Sessions made by single sign-on follow the same idle limit as any other
/// (and the same absolute one: they are the same sessions).
async fn sso_sessions_follow_the_limits(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        AppConfig {
            session_idle_secs: 2,
            ..AppConfig::default()
        },
    )
    .await;
    let idp = Idp::start(free_port(), &app, &["hospital"], &[]).await;
    app.app
        .install_file_providers(&[(idp.provider("hospital", true), vec![])])
        .await
        .unwrap();
    let http = browser();
    let done = sign_in(&http, &app, "hospital", "sub-bob").await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    assert_eq!(me(&http, &app).await["username"], "bob");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(me(&http, &app).await, Value::Null, "idle too long");
    let page = get(&http, &app.url("/teams")).await;
    assert_eq!(page.location.as_deref(), Some("/sign-in?next=/teams"));
    app.stop().await;
}

both!(sso_sessions_follow_the_limits);

/// A provider's client secret is sealed with the site key like an EHR
/// secret: it is not stored in the clear, and the key cannot be replaced
/// while it holds one (that would make the secret unreadable).
async fn provider_secret_is_sealed(backend: Backend) {
    use rounds_app::secret_box::SecretBox;
    let app = spawn(backend, SsoSettings::default()).await;
    let idp = Idp::start(free_port(), &app, &["hospital"], &[]).await;
    let new_key = || SecretBox::from_base64_key(&SecretBox::new_key_base64().unwrap()).unwrap();
    // Nothing sealed yet: the key may be replaced.
    app.app.replace_secret_key(new_key()).await.unwrap();
    app.app
        .install_file_providers(&[(idp.provider("hospital", true), vec![])])
        .await
        .unwrap();
    let (_, sealed) = app.app.secret_key_check().await.unwrap();
    assert_eq!(sealed, 1);
    let err = app.app.replace_secret_key(new_key()).await.unwrap_err();
    assert!(err.to_string().contains("sign-in provider"), "{err}");
    // In the database only sealed.
    let dump = if backend == Backend::Sqlite {
        let path = app.db.url.trim_start_matches("sqlite://");
        let path = path.split('?').next().unwrap();
        String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned()
            + &String::from_utf8_lossy(&std::fs::read(format!("{path}-wal")).unwrap_or_default())
    } else {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
        let rows: Vec<(Option<String>,)> =
            sqlx::query_as("SELECT secret_sealed FROM sso_providers")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        format!("{rows:?}")
    };
    assert!(!dump.contains("rounds-client-secret-0123456789"));
    // And it still opens: a sign-in goes through.
    let done = sign_in(&browser(), &app, "hospital", "sub-bob").await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    app.stop().await;
}

both!(provider_secret_is_sealed);

/// A session made by single sign-on is an ordinary session to the access
/// rule and the CSRF check: the team the directory gave is readable, other
/// teams do not exist for her, and a change needs the session's CSRF token.
async fn sso_sessions_meet_the_access_rule(backend: Backend) {
    let app = spawn(backend, SsoSettings::default()).await;
    let admin = app.admin().await;
    let ward = admin.create_team("Ward 7B").await;
    let other = admin.create_team("Other Ward").await;
    let idp = Idp::start(free_port(), &app, &["hospital"], &[]).await;
    app.app
        .install_file_providers(&[(
            idp.provider("hospital", true),
            vec![MappingInput {
                group: "ward-7b-nurses".into(),
                team: Some("Ward 7B".into()),
                team_id: None,
                role: "member".into(),
            }],
        )])
        .await
        .unwrap();
    let http = browser();
    let done = sign_in(&http, &app, "hospital", "sub-ada").await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    let mut ada = Client::with_http(http.clone(), &app.url(""));
    assert_eq!(
        ada.get(&format!("/api/v1/teams/{ward}")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        ada.get(&format!("/api/v1/teams/{other}")).await.status,
        StatusCode::NOT_FOUND
    );
    // A change without the session's CSRF token is refused.
    let without_csrf = ada
        .post(
            &format!("/api/v1/teams/{ward}/lists"),
            json!({"name": "Morning round"}),
        )
        .await;
    assert_eq!(
        without_csrf.status,
        StatusCode::FORBIDDEN,
        "{}",
        without_csrf.text
    );
    ada.csrf = ada.get("/api/v1/me").await.body["csrfToken"]
        .as_str()
        .map(str::to_owned);
    let created = ada
        .post(
            &format!("/api/v1/teams/{ward}/lists"),
            json!({"name": "Morning round"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    // A member, not an owner: cannot add members (refused and audited).
    let r = ada
        .post(
            &format!("/api/v1/teams/{ward}/members"),
            json!({"username": "root", "role": "member"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let refused = admin.audit("operation=AccessRefused").await;
    assert!(
        refused.iter().any(|r| r["actorUsername"] == "ada.nurse"),
        "{refused:?}"
    );
    app.stop().await;
}

both!(sso_sessions_meet_the_access_rule);

/// The text of the first column of `sql`'s rows, read straight from the
/// database (what a copy of it would show).
async fn db_texts(app: &TestApp, backend: Backend, sql: &str) -> Vec<Option<String>> {
    use sqlx::{Connection, Row};
    let rows = if backend == Backend::Sqlite {
        let mut conn = sqlx::SqliteConnection::connect(&app.db.url).await.unwrap();
        sqlx::query(sql)
            .fetch_all(&mut conn)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<Option<String>, _>(0))
            .collect()
    } else {
        let mut conn = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
        sqlx::query(sql)
            .fetch_all(&mut conn)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<Option<String>, _>(0))
            .collect()
    };
    rows
}

/// A single sign-on lands where a password sign-in would: on the default
/// list of the one team the person is in (here the team her directory
/// group gave her); a page she asked for is still where she goes.
async fn sso_lands_on_the_default_list(backend: Backend) {
    let app = spawn(backend, SsoSettings::default()).await;
    let admin = app.admin().await;
    let ward = admin.create_team("Ward 7B").await;
    let list = admin
        .post(
            &format!("/api/v1/teams/{ward}/lists"),
            json!({"name": "Ward round"}),
        )
        .await;
    let list = list.body["id"].as_str().unwrap().to_owned();
    let r = admin
        .put(
            &format!("/api/v1/teams/{ward}/lists/{list}/default"),
            json!({}),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    let idp = Idp::start(free_port(), &app, &["hospital"], &[]).await;
    app.app
        .install_file_providers(&[(
            idp.provider("hospital", true),
            vec![MappingInput {
                group: "ward-7b-nurses".into(),
                team: Some("Ward 7B".into()),
                team_id: None,
                role: "member".into(),
            }],
        )])
        .await
        .unwrap();
    let http = browser();
    let done = sign_in(&http, &app, "hospital", "sub-ada").await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    let landing = format!("/teams/{ward}/lists/{list}");
    assert_eq!(done.location.as_deref(), Some(landing.as_str()));
    let page = get(&http, &app.url(&landing)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains("Ward round"), "{}", page.html);

    // A page of ours asked for (the sign-in page's next) is honoured.
    let http = browser();
    let resp = http
        .get(app.url(&format!("/sign-in/sso/hospital?next=/teams/{ward}")))
        .send()
        .await
        .unwrap();
    let authorize = location(&resp, &app.url("/"));
    let callback = at_provider(&http, &authorize, Some("sub-ada")).await;
    let done = get(&http, &callback).await;
    assert_eq!(
        done.location.as_deref(),
        Some(format!("/teams/{ward}").as_str())
    );

    // Someone in no team lands on the teams page.
    let http = browser();
    let done = sign_in(&http, &app, "hospital", "sub-bob").await;
    assert_eq!(done.location.as_deref(), Some("/teams"));
    app.stop().await;
}

both!(sso_lands_on_the_default_list);

/// A sign-in under way keeps its PKCE verifier sealed: the stored value is
/// not the verifier of the challenge sent to the provider, and it still
/// opens to finish the sign-in.
async fn pkce_verifier_is_sealed(backend: Backend) {
    use base64::Engine;
    use sha2::Digest;
    let app = spawn(backend, SsoSettings::default()).await;
    let idp = Idp::start(free_port(), &app, &["hospital"], &[]).await;
    app.app
        .install_file_providers(&[(idp.provider("hospital", true), vec![])])
        .await
        .unwrap();
    let http = browser();
    let authorize = click_button(&http, &app, "hospital").await;
    let challenge = url::Url::parse(&authorize)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code_challenge")
        .unwrap()
        .1
        .into_owned();
    let stored = db_texts(
        &app,
        backend,
        "SELECT pkce_verifier_sealed FROM sso_pending",
    )
    .await;
    assert_eq!(stored.len(), 1, "one sign-in under way");
    let stored = stored[0].clone().unwrap();
    let s256 = |v: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(v.as_bytes()))
    };
    assert_ne!(
        s256(&stored),
        challenge,
        "the verifier is stored in the clear"
    );
    assert!(
        stored.len() > 43 + 16,
        "sealed (nonce and tag besides): {stored}"
    );
    let done = get(
        &http,
        &at_provider(&http, &authorize, Some("sub-bob")).await,
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    assert_eq!(me(&http, &app).await["username"], "bob");
    app.stop().await;
}

both!(pkce_verifier_is_sealed);

/// Signing out of a session single sign-on made names the session at the
/// provider by its ID token (`id_token_hint`), which Rounds kept sealed
/// beside the session and drops with it; the provider accepts the hint. A
/// provider without RP-initiated sign-out gets no ID token kept.
async fn sign_out_names_the_session_at_the_provider(backend: Backend) {
    let app = spawn(backend, SsoSettings::default()).await;
    let idp = Idp::start(free_port(), &app, &["hospital", "ehr"], &[]).await;
    app.app
        .install_file_providers(&[
            (idp.provider("hospital", true), vec![]),
            (
                ProviderInput {
                    id: "ehr".into(),
                    kind: Some("smart".into()),
                    label: "Hospital EHR".into(),
                    issuer: format!("{}/fhir", idp.issuer),
                    client_id: "rounds".into(),
                    client_secret: Some("rounds-client-secret-0123456789".into()),
                    create_accounts: true,
                    ..ProviderInput::default()
                },
                vec![],
            ),
        ])
        .await
        .unwrap();
    let http = browser();
    let done = sign_in(&http, &app, "hospital", "sub-ada").await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    let kept = db_texts(&app, backend, "SELECT id_token_sealed FROM sso_sessions").await;
    assert_eq!(kept.len(), 1);
    let sealed = kept[0].clone().expect("the ID token is kept for sign-out");
    // A JWT's header starts `{"alg":` (base64 `eyJhbGciOi`); three letters
    // alone ("eyJ") turn up by chance in random ciphertext now and then.
    assert!(
        !sealed.contains("eyJhbGciOi") && sealed.split('.').count() != 3,
        "not a JWT in the clear: {sealed}"
    );

    let account = get(&http, &app.url("/account")).await;
    let csrf = account
        .html
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned();
    let out = http
        .post(app.url("/sign-out"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::OK);
    let html = unescape(&out.text().await.unwrap());
    let end = html
        .split("href=\"")
        .map(|r| r.split('"').next().unwrap_or(""))
        .find(|href| href.starts_with(&format!("{}/session/end?", idp.issuer)))
        .unwrap_or_else(|| panic!("no link to the provider's sign-out: {html}"))
        .to_owned();
    let q: std::collections::HashMap<String, String> = url::Url::parse(&end)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert!(
        q.get("id_token_hint").is_some_and(|t| t.starts_with("eyJ")),
        "{end}"
    );
    assert_eq!(
        q["post_logout_redirect_uri"],
        app.url("/sign-in?done=signed-out")
    );
    // The provider takes the hint (a wrong one is a 400 there) and asks to
    // confirm the sign-out.
    let at_idp = get(&http, &end).await;
    assert_eq!(at_idp.status, StatusCode::OK, "{}", at_idp.html);
    assert!(at_idp.html.contains("<form"), "{}", at_idp.html);
    let mut broken = url::Url::parse(&end).unwrap();
    let pairs: Vec<(String, String)> = broken
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "id_token_hint" {
                format!("{v}x")
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    broken.query_pairs_mut().clear().extend_pairs(pairs);
    assert_eq!(
        get(&http, broken.as_str()).await.status,
        StatusCode::BAD_REQUEST,
        "the provider checks the hint"
    );
    // Gone with the session.
    let kept = db_texts(&app, backend, "SELECT id_token_sealed FROM sso_sessions").await;
    assert!(kept.is_empty(), "{kept:?}");

    // SMART here has no end-session endpoint: nothing kept.
    let http = browser();
    let done = sign_in(&http, &app, "ehr", "sub-cho").await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    let kept = db_texts(&app, backend, "SELECT id_token_sealed FROM sso_sessions").await;
    assert_eq!(kept, vec![None]);
    app.stop().await;
}

both!(sign_out_names_the_session_at_the_provider);

/// The JSON API for sign-in providers (site administrators): add, change,
/// list, map groups, remove; the client secret is write-only and sealed,
/// every change is an SSOProviderSet record; everyone else is refused.
async fn provider_api(backend: Backend) {
    let app = spawn(backend, SsoSettings::default()).await;
    let admin = app.admin().await;
    let ward = admin.create_team("Ward 7B").await;
    app.user("nurse", false).await;
    let nurse = app.client("nurse").await;
    let idp = Idp::start(free_port(), &app, &["hospital", "filed"], &[]).await;
    const SECRET: &str = "rounds-client-secret-0123456789";

    let none = admin.get("/api/v1/sso/providers").await;
    assert_eq!(none.status, StatusCode::OK, "{}", none.text);
    assert_eq!(none.body, json!([]));
    let body = json!({
        "label": "Hospital account",
        "issuer": idp.issuer,
        "clientId": "rounds",
        "clientSecret": SECRET,
        "scopes": "openid profile groups",
        "groupsClaim": "groups",
        "createAccounts": true,
    });
    let added = admin
        .put("/api/v1/sso/providers/hospital", body.clone())
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    assert_eq!(added.body["id"], "hospital");
    assert_eq!(added.body["kind"], "oidc");
    assert_eq!(added.body["hasSecret"], true);
    assert_eq!(added.body["usernameClaim"], "preferred_username");
    assert!(!added.text.contains(SECRET), "the secret is write-only");
    // Changed without a secret: the stored one stays.
    let mut change = body.clone();
    change["label"] = json!("Hospital sign-in");
    change.as_object_mut().unwrap().remove("clientSecret");
    let changed = admin.put("/api/v1/sso/providers/hospital", change).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert_eq!(changed.body["label"], "Hospital sign-in");
    assert_eq!(changed.body["hasSecret"], true);

    // A group mapping by team id.
    let mapping = admin
        .post(
            "/api/v1/sso/providers/hospital/mappings",
            json!({"group": "ward-7b-nurses", "teamId": ward, "role": "member"}),
        )
        .await;
    assert_eq!(mapping.status, StatusCode::CREATED, "{}", mapping.text);
    assert_eq!(mapping.body["teamName"], "Ward 7B");
    let mapping_id = mapping.body["id"].as_str().unwrap().to_owned();
    let list = admin.get("/api/v1/sso/providers").await;
    assert_eq!(list.body[0]["mappings"][0]["group"], "ward-7b-nurses");
    assert_eq!(list.body[0]["mappings"][0]["teamId"], ward.as_str());
    assert!(!list.text.contains(SECRET));

    // It works: the sealed secret opens at the token request, the group
    // puts her in the team.
    let ada = sso_client(&app, "hospital", "sub-ada").await;
    assert_eq!(
        ada.get(&format!("/api/v1/teams/{ward}")).await.status,
        StatusCode::OK
    );
    let dump = db_texts(&app, backend, "SELECT secret_sealed FROM sso_providers").await;
    assert!(
        dump.iter().flatten().all(|s| !s.contains(SECRET)),
        "{dump:?}"
    );

    // What does not fit is refused, naming the field.
    for (bad, field) in [
        (
            json!({"label": "X", "issuer": "ftp://idp.example", "clientId": "rounds"}),
            "issuer",
        ),
        (
            json!({"label": "X", "issuer": "https://idp.example", "clientId": "rounds", "scopes": "profile"}),
            "scopes",
        ),
        (
            json!({"label": "", "issuer": "https://idp.example", "clientId": "rounds"}),
            "label",
        ),
    ] {
        let r = admin.put("/api/v1/sso/providers/other", bad).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        assert_eq!(r.field(), field, "{}", r.text);
    }
    let r = admin
        .put(
            "/api/v1/sso/providers/other",
            json!({"label": "X", "issuer": "https://idp.example", "clientId": "rounds", "secret": "x"}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown field: {}",
        r.text
    );
    let r = admin
        .put("/api/v1/sso/providers/Not%20an%20id", body.clone())
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    let r = admin
        .post(
            "/api/v1/sso/providers/hospital/mappings",
            json!({"group": "g", "teamId": "0192f0c8-0000-7000-8000-000000000000", "role": "member"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    let r = admin
        .post(
            "/api/v1/sso/providers/hospital/mappings",
            json!({"group": "g", "teamId": ward, "role": "admin"}),
        )
        .await;
    assert_eq!(r.field(), "role", "{}", r.text);
    let r = admin
        .post(
            "/api/v1/sso/providers/nowhere/mappings",
            json!({"group": "g", "role": "admin"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    assert_eq!(
        admin.delete("/api/v1/sso/providers/nowhere").await.status,
        StatusCode::NOT_FOUND
    );
    // A provider from the configuration file is changed there.
    app.app
        .install_file_providers(&[(idp.provider("filed", true), vec![])])
        .await
        .unwrap();
    let r = admin.put("/api/v1/sso/providers/filed", body.clone()).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(
        admin.delete("/api/v1/sso/providers/filed").await.status,
        StatusCode::CONFLICT
    );

    // Not a site administrator: refused (and audited); not signed in: 401.
    let anonymous = Client::new(&app);
    for client in [&nurse, &ada, &anonymous] {
        let want = if client.csrf.is_some() {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(client.get("/api/v1/sso/providers").await.status, want);
        assert_eq!(
            client
                .put("/api/v1/sso/providers/hospital", body.clone())
                .await
                .status,
            want
        );
        assert_eq!(
            client
                .post(
                    "/api/v1/sso/providers/hospital/mappings",
                    json!({"group": "g", "role": "admin"})
                )
                .await
                .status,
            want
        );
        assert_eq!(
            client
                .delete(&format!(
                    "/api/v1/sso/providers/hospital/mappings/{mapping_id}"
                ))
                .await
                .status,
            want
        );
        assert_eq!(
            client.delete("/api/v1/sso/providers/hospital").await.status,
            want
        );
    }
    let refused = admin.audit("operation=AccessRefused").await;
    assert_eq!(
        refused
            .iter()
            .filter(|r| r["actorUsername"] == "nurse" || r["actorUsername"] == "ada.nurse")
            .count(),
        10,
        "{refused:?}"
    );

    // Removed: the mapping, then the provider.
    let r = admin
        .delete(&format!(
            "/api/v1/sso/providers/hospital/mappings/{mapping_id}"
        ))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = admin
        .delete(&format!(
            "/api/v1/sso/providers/hospital/mappings/{mapping_id}"
        ))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = admin.delete("/api/v1/sso/providers/hospital").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let left = admin.get("/api/v1/sso/providers").await;
    let ids: Vec<&str> = left
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["filed"]);

    // Each change by the API is an SSOProviderSet record, no secret in any.
    let set = admin.audit("operation=SSOProviderSet").await;
    let by_admin: Vec<&Value> = set
        .iter()
        .filter(|r| r["actorUsername"] == "root")
        .collect();
    assert_eq!(by_admin.len(), 5, "{set:?}");
    assert!(by_admin
        .iter()
        .any(|r| r["detail"]["new"] == true && r["detail"]["secretChanged"] == true));
    assert!(by_admin
        .iter()
        .any(|r| r["detail"]["new"] == false && r["detail"]["secretChanged"] == false));
    assert!(by_admin
        .iter()
        .any(|r| r["detail"]["mappingAdded"]["group"] == "ward-7b-nurses"));
    assert!(by_admin
        .iter()
        .any(|r| r["detail"]["mappingRemoved"] == mapping_id.as_str()));
    assert!(by_admin.iter().any(|r| r["detail"]["removed"] == true));
    let text = serde_json::to_string(&set).unwrap();
    assert!(!text.contains(SECRET));

    // The OpenAPI document describes them; the secret is only in the request.
    let doc = admin.get("/api/openapi.json").await.body;
    for path in [
        "/api/v1/sso/providers",
        "/api/v1/sso/providers/{providerId}",
        "/api/v1/sso/providers/{providerId}/mappings",
        "/api/v1/sso/providers/{providerId}/mappings/{mappingId}",
    ] {
        assert!(doc["paths"][path].is_object(), "{path}");
    }
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["SetSsoProviderRequest"]["properties"]["clientSecret"].is_object());
    assert!(schemas["SsoProviderDto"]["properties"]["clientSecret"].is_null());
    assert!(schemas["SsoProviderDto"]["properties"]["hasSecret"].is_object());
    app.stop().await;
}

both!(provider_api);
