//! Care teams: owners manage members; a team keeps at least one owner;
//! someone removed loses access at once.

use reqwest::StatusCode;
use serde_json::json;

use crate::both;
use crate::common::{Backend, TestApp};

async fn membership_lifecycle(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for u in ["charge", "nurse", "doctor"] {
        app.user(u, false).await;
    }
    let charge = app.client("charge").await;
    let nurse = app.client("nurse").await;
    let team = charge.create_team("Ward 7B").await;
    let members = format!("/api/v1/teams/{team}/members");

    // Not yet a member: the team does not exist for the nurse.
    assert_eq!(
        nurse.get(&format!("/api/v1/teams/{team}")).await.status,
        StatusCode::NOT_FOUND
    );
    let added = charge.post(&members, json!({"username": "nurse"})).await;
    assert_eq!(
        (added.status, &added.body["role"]),
        (StatusCode::CREATED, &json!("member")),
        "{}",
        added.text
    );
    let nurse_id = added.body["userId"].as_str().unwrap().to_owned();
    let seen = nurse.get(&format!("/api/v1/teams/{team}")).await;
    assert_eq!(seen.status, StatusCode::OK);
    assert_eq!(seen.body["myRole"], "member");
    assert_eq!(seen.body["members"].as_array().unwrap().len(), 2);
    let listed = nurse.get("/api/v1/teams").await;
    assert_eq!(listed.body[0]["name"], "Ward 7B");
    assert_eq!(listed.body[0]["memberCount"], 2);

    // A member cannot manage members.
    let refused = nurse.post(&members, json!({"username": "doctor"})).await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    // Adding twice is a conflict; an unknown account is named.
    assert_eq!(
        charge
            .post(&members, json!({"username": "nurse"}))
            .await
            .status,
        StatusCode::CONFLICT
    );
    let unknown = charge.post(&members, json!({"username": "nobody"})).await;
    assert_eq!(
        (unknown.status, unknown.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "username")
    );

    // The only owner cannot step down or leave.
    let charge_id = app
        .app
        .user_by_username("charge")
        .await
        .unwrap()
        .id
        .to_string();
    let step_down = charge
        .patch(&format!("{members}/{charge_id}"), json!({"role": "member"}))
        .await;
    assert_eq!(step_down.status, StatusCode::CONFLICT, "{}", step_down.text);
    assert_eq!(
        charge
            .delete(&format!("{members}/{charge_id}"))
            .await
            .status,
        StatusCode::CONFLICT
    );
    // With a second owner, the first may step down.
    assert_eq!(
        charge
            .patch(&format!("{members}/{nurse_id}"), json!({"role": "owner"}))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        charge
            .patch(&format!("{members}/{charge_id}"), json!({"role": "member"}))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let bad_role = nurse
        .patch(&format!("{members}/{charge_id}"), json!({"role": "boss"}))
        .await;
    assert_eq!(
        (bad_role.status, bad_role.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "role")
    );

    // Removed: access ends at once, and the team is gone from their view.
    assert_eq!(
        nurse.delete(&format!("{members}/{charge_id}")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        charge.get(&format!("/api/v1/teams/{team}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(charge.get("/api/v1/teams").await.body, json!([]));
    app.stop().await;
}
both!(membership_lifecycle);

async fn team_names_are_unique_without_case(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.user("ann", false).await;
    app.user("ben", false).await;
    let a = app.client("ann").await;
    let b = app.client("ben").await;
    a.create_team("ICU North").await;
    let dup = b.post("/api/v1/teams", json!({"name": "icu north"})).await;
    assert_eq!(
        (dup.status, dup.code(), dup.field()),
        (StatusCode::CONFLICT, "duplicate", "name")
    );
    // Nothing half-written: ben is in no team, and no TeamCreate was recorded for ben.
    assert_eq!(b.get("/api/v1/teams").await.body, json!([]));
    let admin = app.admin().await;
    assert!(admin
        .audit("operation=TeamCreate&username=ben")
        .await
        .is_empty());
    assert_eq!(
        admin.audit("operation=TeamCreate&username=ann").await.len(),
        1
    );
    app.stop().await;
}
both!(team_names_are_unique_without_case);
