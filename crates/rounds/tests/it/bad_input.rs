//! Bad input gets a 4xx JSON error naming the problem, and nothing is
//! half-written.

use reqwest::StatusCode;
use serde_json::json;

use crate::both;
use crate::common::{Backend, TestApp};

async fn bad_bodies_and_ids(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin().await;
    let csrf = admin.csrf.clone().unwrap();
    let raw = |body: &'static str, content_type: &'static str| {
        admin
            .http
            .post(app.url("/api/v1/teams"))
            .header("X-CSRF-Token", csrf.clone())
            .header("Content-Type", content_type)
            .body(body)
    };
    let malformed =
        crate::common::Client::reply(raw("{\"name\": ", "application/json").send().await.unwrap())
            .await;
    assert_eq!(
        (malformed.status, malformed.code()),
        (StatusCode::BAD_REQUEST, "malformed_json"),
        "{}",
        malformed.text
    );
    let not_json = crate::common::Client::reply(
        raw("name=x", "application/x-www-form-urlencoded")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (not_json.status, not_json.code()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    );

    let unknown = admin
        .post("/api/v1/teams", json!({"name": "Ward", "colour": "red"}))
        .await;
    assert_eq!(
        (unknown.status, unknown.code(), unknown.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", "colour"),
        "{}",
        unknown.text
    );
    let missing = admin.post("/api/v1/teams", json!({})).await;
    assert_eq!(
        (missing.status, missing.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "name"),
        "{}",
        missing.text
    );
    let long = admin
        .post("/api/v1/teams", json!({"name": "x".repeat(101)}))
        .await;
    assert_eq!(
        (long.status, long.code(), long.field()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "name"
        )
    );
    assert!(
        long.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 100"),
        "{}",
        long.text
    );
    let blank = admin.post("/api/v1/teams", json!({"name": "   "})).await;
    assert_eq!(blank.field(), "name");
    let huge = admin
        .post("/api/v1/teams", json!({"name": "y".repeat(70_000)}))
        .await;
    assert_eq!(
        (huge.status, huge.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        "{}",
        huge.text
    );

    let bad_id = admin.get("/api/v1/teams/not-a-team").await;
    assert_eq!(
        (bad_id.status, bad_id.code(), bad_id.field()),
        (StatusCode::BAD_REQUEST, "invalid_id", "teamId")
    );
    let no_route = admin.get("/api/v1/nothing-here").await;
    assert_eq!(
        (no_route.status, no_route.code()),
        (StatusCode::NOT_FOUND, "not_found")
    );

    // None of that created a team.
    assert_eq!(admin.get("/api/v1/teams").await.body, json!([]));
    app.stop().await;
}
both!(bad_bodies_and_ids);

async fn bad_users(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin().await;
    let cases = [
        (json!({"username": "x", "displayName": "X"}), "username"),
        (
            json!({"username": "has space", "displayName": "X"}),
            "username",
        ),
        (
            json!({"username": "a".repeat(65), "displayName": "X"}),
            "username",
        ),
        (
            json!({"username": "okname", "displayName": "z".repeat(101)}),
            "displayName",
        ),
        (
            json!({"username": "okname", "displayName": "X", "password": "short"}),
            "password",
        ),
        (
            json!({"username": "okname", "displayName": "X", "siteRole": "king"}),
            "siteRole",
        ),
    ];
    for (body, field) in cases {
        let r = admin.post("/api/v1/users", body.clone()).await;
        assert_eq!(
            (r.status, r.field()),
            (StatusCode::UNPROCESSABLE_ENTITY, field),
            "{body}: {}",
            r.text
        );
    }
    let first = admin
        .post(
            "/api/v1/users",
            json!({"username": "Nurse.One", "displayName": "Nurse One"}),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(first.body["user"]["username"], "nurse.one");
    let dup = admin
        .post(
            "/api/v1/users",
            json!({"username": "NURSE.ONE", "displayName": "Other"}),
        )
        .await;
    assert_eq!(
        (dup.status, dup.code(), dup.field()),
        (StatusCode::CONFLICT, "duplicate", "username")
    );
    let users = admin.get("/api/v1/users").await;
    assert_eq!(
        users.body.as_array().unwrap().len(),
        2,
        "root and nurse.one only: {}",
        users.text
    );
    let bad_user = admin
        .patch("/api/v1/users/123", json!({"disabled": true}))
        .await;
    assert_eq!(
        (bad_user.status, bad_user.field()),
        (StatusCode::BAD_REQUEST, "userId")
    );
    let ghost = admin
        .patch(
            &format!("/api/v1/users/{}", rounds_core::UserId::new_random()),
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(ghost.status, StatusCode::NOT_FOUND);
    app.stop().await;
}
both!(bad_users);
