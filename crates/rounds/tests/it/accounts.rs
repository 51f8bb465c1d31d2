//! Sign-in, sessions (idle and absolute expiry), CSRF, the sign-in rate
//! limit, one-time passwords and disabled accounts.

use std::time::Duration;

use reqwest::StatusCode;
use rounds_app::AppConfig;
use serde_json::json;

use crate::both;
use crate::common::{Backend, Client, TestApp, PASSWORD};

async fn sign_in_and_out(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.user("nurse", false).await;
    let mut c = Client::new(&app);
    let r = c.sign_in("Nurse", PASSWORD).await; // usernames ignore case
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let cookie = r
        .headers
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain http here: {cookie}");
    assert_eq!(c.get("/api/v1/me").await.body["user"]["username"], "nurse");
    assert_eq!(
        c.delete("/api/v1/session").await.status,
        StatusCode::NO_CONTENT
    );
    let after = c.get("/api/v1/me").await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(after.code(), "unauthenticated");
    app.stop().await;
}
both!(sign_in_and_out);

async fn idle_expiry(backend: Backend) {
    let config = AppConfig {
        session_idle_secs: 2,
        ..AppConfig::default()
    };
    let app = TestApp::spawn_with(backend, config).await;
    app.user("nurse", false).await;
    let c = app.client("nurse").await;
    // Activity keeps the session alive past the idle limit...
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(900)).await;
        assert_eq!(c.get("/api/v1/me").await.status, StatusCode::OK);
    }
    // ...and idleness ends it.
    tokio::time::sleep(Duration::from_millis(2300)).await;
    assert_eq!(c.get("/api/v1/me").await.status, StatusCode::UNAUTHORIZED);
    app.stop().await;
}
both!(idle_expiry);

async fn absolute_expiry(backend: Backend) {
    let config = AppConfig {
        session_idle_secs: 600,
        session_absolute_secs: 3,
        ..AppConfig::default()
    };
    let app = TestApp::spawn_with(backend, config).await;
    app.user("nurse", false).await;
    let c = app.client("nurse").await;
    let mut last = StatusCode::OK;
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        last = c.get("/api/v1/me").await.status;
        if last != StatusCode::OK {
            break;
        }
    }
    assert_eq!(
        last,
        StatusCode::UNAUTHORIZED,
        "the session outlived its absolute limit"
    );
    app.stop().await;
}
both!(absolute_expiry);

async fn csrf_is_required_for_changes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.user("nurse", false).await;
    let mut c = app.client("nurse").await;
    let good = c.csrf.take();
    let none = c.post("/api/v1/teams", json!({"name": "Ward 1"})).await;
    assert_eq!(
        (none.status, none.code()),
        (StatusCode::FORBIDDEN, "csrf_failed")
    );
    c.csrf = Some("forged".into());
    let wrong = c.post("/api/v1/teams", json!({"name": "Ward 1"})).await;
    assert_eq!(
        (wrong.status, wrong.code()),
        (StatusCode::FORBIDDEN, "csrf_failed")
    );
    // Reads need no token; nothing was created by the refused attempts.
    assert_eq!(c.get("/api/v1/teams").await.body, json!([]));
    c.csrf = good;
    assert_eq!(
        c.post("/api/v1/teams", json!({"name": "Ward 1"}))
            .await
            .status,
        StatusCode::CREATED
    );
    app.stop().await;
}
both!(csrf_is_required_for_changes);

async fn sign_in_rate_limit(backend: Backend) {
    let config = AppConfig {
        signin_max_failures_per_account: 3,
        signin_max_failures_per_address: 6,
        ..AppConfig::default()
    };
    let app = TestApp::spawn_with(backend, config).await;
    for u in ["nurse", "doctor", "clerk"] {
        app.user(u, false).await;
    }
    let mut c = Client::new(&app);
    for _ in 0..3 {
        assert_eq!(
            c.sign_in("nurse", "wrong password here").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    // Locked: even the right password is refused, with a time to come back.
    let locked = c.sign_in("nurse", PASSWORD).await;
    assert_eq!(
        (locked.status, locked.code()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    let retry: u64 = locked.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= 900, "Retry-After {retry}");
    // Another account from the same address still signs in...
    assert_eq!(c.sign_in("doctor", PASSWORD).await.status, StatusCode::OK);
    // ...until the address itself has failed too often.
    for _ in 0..3 {
        c.sign_in("no-such-user", "wrong password here").await;
    }
    let addr_locked = c.sign_in("clerk", PASSWORD).await;
    assert_eq!(
        addr_locked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        addr_locked.text
    );
    app.stop().await;
}
both!(sign_in_rate_limit);

async fn one_time_password_must_be_changed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin().await;
    let created = admin
        .post(
            "/api/v1/users",
            json!({"username": "newbie", "displayName": "New Bie"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let otp = created.body["oneTimePassword"].as_str().unwrap().to_owned();
    assert_eq!(created.body["user"]["mustChangePassword"], true);

    let mut c = Client::new(&app);
    assert_eq!(c.sign_in("newbie", &otp).await.status, StatusCode::OK);
    assert_eq!(c.get("/api/v1/me").await.status, StatusCode::OK);
    let blocked = c.get("/api/v1/teams").await;
    assert_eq!(
        (blocked.status, blocked.code()),
        (StatusCode::FORBIDDEN, "password_change_required")
    );
    let short = c
        .post(
            "/api/v1/me/password",
            json!({"currentPassword": otp, "newPassword": "short"}),
        )
        .await;
    assert_eq!(
        (short.status, short.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "newPassword")
    );
    let ok = c
        .post(
            "/api/v1/me/password",
            json!({"currentPassword": otp, "newPassword": "my own long password"}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT, "{}", ok.text);
    assert_eq!(c.get("/api/v1/teams").await.status, StatusCode::OK);
    // The one-time password no longer works.
    assert_eq!(
        Client::new(&app).sign_in("newbie", &otp).await.status,
        StatusCode::UNAUTHORIZED
    );
    app.stop().await;
}
both!(one_time_password_must_be_changed);

async fn disabling_ends_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin().await;
    let id = app.user("nurse", false).await;
    let nurse = app.client("nurse").await;
    let r = admin
        .patch(&format!("/api/v1/users/{id}"), json!({"disabled": true}))
        .await;
    assert_eq!(
        (r.status, &r.body["disabled"]),
        (StatusCode::OK, &json!(true)),
        "{}",
        r.text
    );
    assert_eq!(
        nurse.get("/api/v1/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        Client::new(&app).sign_in("nurse", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    // The last administrator cannot be disabled.
    let root = app.app.user_by_username("root").await.unwrap().id;
    let last = admin
        .patch(&format!("/api/v1/users/{root}"), json!({"disabled": true}))
        .await;
    assert_eq!(last.status, StatusCode::CONFLICT, "{}", last.text);
    app.stop().await;
}
both!(disabling_ends_sessions);
