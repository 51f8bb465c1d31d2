//! The server-rendered pages, driven over HTTP as a browser would: forms,
//! redirects, CSRF tokens, escaping, and who may see what.

use reqwest::StatusCode;

use crate::both;
use crate::common::{Backend, TestApp, PASSWORD};

struct Browser {
    http: reqwest::Client,
    base: String,
}

struct Page {
    status: StatusCode,
    location: String,
    html: String,
}

impl Page {
    fn csrf(&self) -> String {
        let marker = "name=\"csrf_token\" value=\"";
        let start = self
            .html
            .find(marker)
            .unwrap_or_else(|| panic!("no csrf field in {}", self.html))
            + marker.len();
        let len = self.html[start..].find('"').unwrap();
        self.html[start..start + len].to_owned()
    }
}

impl Browser {
    fn new(app: &TestApp) -> Self {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            http,
            base: app.url(""),
        }
    }

    async fn page(resp: reqwest::Response) -> Page {
        let status = resp.status();
        let location = resp
            .headers()
            .get("location")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        Page {
            status,
            location,
            html: resp.text().await.unwrap(),
        }
    }

    async fn get(&self, path: &str) -> Page {
        Self::page(
            self.http
                .get(format!("{}{path}", self.base))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        Self::page(
            self.http
                .post(format!("{}{path}", self.base))
                .form(form)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    async fn sign_in(&self, username: &str, password: &str) -> Page {
        let form = self.get("/sign-in?next=/teams").await;
        let csrf = form.csrf();
        self.post(
            "/sign-in",
            &[
                ("username", username),
                ("password", password),
                ("csrf_token", &csrf),
                ("next", "/teams"),
            ],
        )
        .await
    }
}

async fn sign_in_teams_and_escaping(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.user("charge", false).await;
    let b = Browser::new(&app);

    let anon = b.get("/teams").await;
    assert_eq!(anon.status, StatusCode::SEE_OTHER);
    assert_eq!(anon.location, "/sign-in?next=/teams");

    let wrong = b.sign_in("charge", "not the right one").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.html.contains("wrong username or password"));
    assert!(
        wrong.html.contains("value=\"charge\""),
        "the typed username is kept"
    );

    // A sign-in form posted from elsewhere (no matching cookie) is refused.
    let forged = Browser::new(&app)
        .post(
            "/sign-in",
            &[
                ("username", "charge"),
                ("password", PASSWORD),
                ("csrf_token", "x"),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    let ok = b.sign_in("charge", PASSWORD).await;
    assert_eq!(
        (ok.status, ok.location.as_str()),
        (StatusCode::SEE_OTHER, "/teams")
    );
    let teams = b.get("/teams").await;
    assert_eq!(teams.status, StatusCode::OK);
    assert!(teams.html.contains("not in any care team yet"));
    let csrf = teams.csrf();

    // A forged form (wrong token) changes nothing.
    let forged = b
        .post("/teams", &[("name", "Forged"), ("csrf_token", "forged")])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(!b.get("/teams").await.html.contains("Forged"));

    // Too long: refused with the reason, and the typed name is still there.
    let long = "L".repeat(101);
    let refused = b
        .post("/teams", &[("name", &long), ("csrf_token", &csrf)])
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.html.contains("at most 100"));
    assert!(refused.html.contains(&long));

    // Names are shown escaped.
    let created = b
        .post(
            "/teams",
            &[
                ("name", "<script>alert(1)</script> & Co"),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.html);
    assert!(created.location.starts_with("/teams/"));
    let team = b.get(&created.location).await;
    assert_eq!(team.status, StatusCode::OK);
    assert!(
        team.html
            .contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt; &amp; Co"),
        "{}",
        team.html
    );
    assert!(!team.html.contains("<script>alert"));
    assert!(
        team.html.contains("Add a member"),
        "owners see the member form"
    );

    // Sign out through the form.
    let out = b.post("/sign-out", &[("csrf_token", &csrf)]).await;
    assert_eq!(
        (out.status, out.location.as_str()),
        (StatusCode::SEE_OTHER, "/sign-in?done=signed-out")
    );
    assert_eq!(b.get("/teams").await.status, StatusCode::SEE_OTHER);
    app.stop().await;
}
both!(sign_in_teams_and_escaping);

/// After sign-in only a path of this site is followed: whatever `next` a
/// link carried, the Location resolves to this server, and is a valid header.
async fn sign_in_goes_only_to_our_own_paths(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.user("charge", false).await;
    let base = url::Url::parse(&app.url("/sign-in")).unwrap();
    let cases = [
        // The form field decoded: a tab, which URL parsers drop.
        ("/\t/evil.example/", None),
        // Sent literally, %09 stays an encoded character of a path of ours.
        ("/%09/evil.example/", Some("/%09/evil.example/")),
        ("//evil.example", None),
        ("/\\evil.example", None),
        ("\\\\evil.example", None),
        ("https://evil.example", None),
        ("https://evil.example/teams", None),
        ("http://user@evil.example/", None),
        ("/%2F%2Fevil.example", Some("/%2F%2Fevil.example")),
        ("\n", None),
        ("/teams\r\nSet-Cookie: x=1", Some("/teamsSet-Cookie:%20x=1")),
        ("/ok?x=1", Some("/ok?x=1")),
        (
            "/teams/abc?done=created#top",
            Some("/teams/abc?done=created"),
        ),
    ];
    for (next, kept) in cases {
        let b = Browser::new(&app);
        let form = b.get("/sign-in").await;
        let ok = b
            .post(
                "/sign-in",
                &[
                    ("username", "charge"),
                    ("password", PASSWORD),
                    ("csrf_token", &form.csrf()),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(
            ok.status,
            StatusCode::SEE_OTHER,
            "next={next:?}: {}",
            ok.html
        );
        let resolved = base.join(&ok.location).unwrap();
        assert_eq!(
            resolved.origin(),
            base.origin(),
            "next={next:?} led to {:?}",
            ok.location
        );
        assert!(
            ok.location.starts_with('/') && !ok.location.starts_with("//"),
            "next={next:?} led to {:?}",
            ok.location
        );
        assert_eq!(ok.location, kept.unwrap_or("/teams"), "next={next:?}");
        // The form carries the same cleaned value.
        let shown = b.get(&format!("/sign-in?next={}", urlencode(next))).await;
        assert!(
            !shown.html.contains("evil.example") || kept.is_some(),
            "{}",
            shown.html
        );
    }
    app.stop().await;
}
both!(sign_in_goes_only_to_our_own_paths);

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn admin_pages_and_forced_password_change(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.user("root", true).await;
    app.user("nurse", false).await;
    let nurse = Browser::new(&app);
    nurse.sign_in("nurse", PASSWORD).await;
    assert_eq!(
        nurse.get("/admin/users").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        nurse.get("/admin/audit").await.status,
        StatusCode::FORBIDDEN
    );

    let admin = Browser::new(&app);
    admin.sign_in("root", PASSWORD).await;
    let users = admin.get("/admin/users").await;
    assert_eq!(users.status, StatusCode::OK);
    assert!(users.html.contains("nurse display"));
    let csrf = users.csrf();
    let created = admin
        .post(
            "/admin/users",
            &[
                ("username", "newbie"),
                ("display_name", "New Bie"),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let marker = "<p class=\"secret\"><code>";
    let start = created
        .html
        .find(marker)
        .expect("the one-time password is shown")
        + marker.len();
    let otp = created.html[start..start + 23].to_owned();

    let dup = admin
        .post(
            "/admin/users",
            &[
                ("username", "newbie"),
                ("display_name", "Again"),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(dup.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(dup.html.contains("taken"));

    let audit = admin.get("/admin/audit?operation=AccessRefused").await;
    assert_eq!(audit.status, StatusCode::OK);
    assert!(
        audit.html.contains("nurse"),
        "the nurse's refused visits are listed"
    );
    let export = admin.get("/admin/audit/export?format=csv").await;
    assert_eq!(export.status, StatusCode::OK);
    assert!(export.html.starts_with("seq,time,operation"));
    let bad = admin.get("/admin/audit?from=someday").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);

    // The new user must choose a password before anything else.
    let newbie = Browser::new(&app);
    let signed = newbie.sign_in("newbie", &otp).await;
    assert_eq!(signed.location, "/account/password");
    assert_eq!(newbie.get("/teams").await.location, "/account/password");
    let form = newbie.get("/account/password").await;
    let csrf = form.csrf();
    let mismatch = newbie
        .post(
            "/account/password",
            &[
                ("csrf_token", &csrf),
                ("current_password", &otp),
                ("new_password", "my new password 1"),
                ("confirm_password", "different one 1"),
            ],
        )
        .await;
    assert_eq!(mismatch.status, StatusCode::UNPROCESSABLE_ENTITY);
    let done = newbie
        .post(
            "/account/password",
            &[
                ("csrf_token", &csrf),
                ("current_password", &otp),
                ("new_password", "my new password 1"),
                ("confirm_password", "my new password 1"),
            ],
        )
        .await;
    assert_eq!(done.location, "/teams?done=password");
    assert_eq!(newbie.get("/teams").await.status, StatusCode::OK);
    app.stop().await;
}
both!(admin_pages_and_forced_password_change);

/// Sign-in lands on the ward list: a person in one team with a default
/// list goes straight to it; with no default list, or in several teams,
/// to the teams page; a `next` of ours is still honoured.
async fn sign_in_lands_on_the_default_list(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.user("charge", false).await;
    let api = app.client("charge").await;
    let team = api.create_team("Ward 7B").await;
    let b = Browser::new(&app);
    let ok = b.sign_in("charge", PASSWORD).await;
    assert_eq!(ok.location, "/teams", "no list yet");
    let r = api
        .post(
            &format!("/api/v1/teams/{team}/lists"),
            serde_json::json!({"name": "Ward round"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let list = r.body["id"].as_str().unwrap().to_owned();
    let r = api
        .put(
            &format!("/api/v1/teams/{team}/lists/{list}/default"),
            serde_json::json!({}),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    let b = Browser::new(&app);
    let ok = b.sign_in("charge", PASSWORD).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    assert_eq!(ok.location, format!("/teams/{team}/lists/{list}"));
    assert_eq!(b.get(&ok.location).await.status, StatusCode::OK);
    // A path asked for is where the sign-in goes.
    let b = Browser::new(&app);
    let form = b.get(&format!("/sign-in?next=/teams/{team}")).await;
    let asked = b
        .post(
            "/sign-in",
            &[
                ("username", "charge"),
                ("password", PASSWORD),
                ("csrf_token", &form.csrf()),
                ("next", &format!("/teams/{team}")),
            ],
        )
        .await;
    assert_eq!(asked.location, format!("/teams/{team}"));
    // In two teams: the teams page, to choose.
    api.create_team("Ward 8").await;
    let b = Browser::new(&app);
    assert_eq!(b.sign_in("charge", PASSWORD).await.location, "/teams");
    app.stop().await;
}

both!(sign_in_lands_on_the_default_list);
