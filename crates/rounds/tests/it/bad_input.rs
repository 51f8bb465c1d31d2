//! Bad input gets a 4xx JSON error naming the problem, and nothing is
//! half-written.
//!
//! (Over 500 lines: one rule checked route by route, bad input refused whole;
//! each test one kind of bad input, its small helpers beside it.)

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

/// A team "Ward 7" (owner: root, a site administrator), a list with a text
/// and a long-text column, and a patient on it.
struct Ward {
    app: TestApp,
    admin: crate::common::Client,
    team: String,
    list: String,
    text_col: String,
    long_col: String,
    patient: String,
}

impl Ward {
    async fn new(backend: Backend) -> Self {
        let app = TestApp::spawn(backend).await;
        let admin = app.admin().await;
        let team = admin.create_team("Ward 7").await;
        let list = admin.create_list(&team, "Morning round").await;
        let mut cols = Vec::new();
        for (label, kind) in [("Plan", "text"), ("History", "longText")] {
            let r = admin
                .post(
                    &format!("/api/v1/teams/{team}/lists/{list}/columns"),
                    json!({"label": label, "type": kind}),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
            cols.push(r.body["key"].as_str().unwrap().to_owned());
        }
        let r = admin
            .post(
                &format!("/api/v1/teams/{team}/lists/{list}/patients"),
                json!({"fields": {"family": "Dunn", "mrn": "A1"}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let patient = r.body["row"]["patientId"].as_str().unwrap().to_owned();
        Self {
            app,
            admin,
            team,
            list,
            long_col: cols.pop().unwrap(),
            text_col: cols.pop().unwrap(),
            patient,
        }
    }

    fn team_path(&self, rest: &str) -> String {
        format!("/api/v1/teams/{}{rest}", self.team)
    }

    fn list_path(&self, rest: &str) -> String {
        format!("/api/v1/teams/{}/lists/{}{rest}", self.team, self.list)
    }

    /// Sets one field of the patient from version 0 (never set).
    async fn edit(&self, key: &str, value: serde_json::Value) -> crate::common::Reply {
        self.admin
            .patch(
                &self.team_path(&format!("/patients/{}", self.patient)),
                json!({"fields": {key: {"value": value, "baseVersion": 0}}}),
            )
            .await
    }
}

/// Asserts a 422 naming `field`, with the offending code point in the message.
fn refused(r: &crate::common::Reply, field: &str, what: &str) {
    assert_eq!(
        (r.status, r.code(), r.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", field),
        "{what}: {}",
        r.text
    );
    assert!(
        r.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("U+")),
        "{what}: the message names the character: {}",
        r.text
    );
}

/// A NUL (or another control character) is refused with a 422 naming the
/// field on both databases alike, wherever text comes in; PostgreSQL cannot
/// store it, so before this it answered 500 there and stored it on SQLite.
async fn control_characters_refused_everywhere(backend: Backend) {
    let w = Ward::new(backend).await;
    let a = &w.admin;
    let nul = "ad\u{0}min";

    let r = a.post("/api/v1/teams", json!({"name": nul})).await;
    refused(&r, "name", "team name");
    let r = a
        .post(
            "/api/v1/users",
            json!({"username": "okname", "displayName": "Nurse\u{0}One"}),
        )
        .await;
    refused(&r, "displayName", "display name");
    let r = a
        .post(&w.team_path("/lists"), json!({"name": "Round\u{0}"}))
        .await;
    refused(&r, "name", "list name");
    let r = a
        .patch(&w.list_path(""), json!({"name": "Round\u{0}"}))
        .await;
    refused(&r, "name", "list rename");
    let r = a
        .post(
            &w.list_path("/columns"),
            json!({"label": "Plan\u{0}", "type": "text"}),
        )
        .await;
    refused(&r, "label", "column label");
    let r = a
        .post(
            &w.list_path("/columns"),
            json!({"label": "Temp", "type": "number", "unit": "°\u{0}C"}),
        )
        .await;
    refused(&r, "unit", "column unit");
    let r = a
        .post(
            &w.list_path("/columns"),
            json!({"label": "Status", "type": "choice", "options": [{"label": "Sta\u{0}ble"}]}),
        )
        .await;
    refused(&r, "options", "choice option");
    let r = a
        .post(
            &w.team_path("/schemas"),
            json!({"name": "Set\u{0}", "fromListId": w.list}),
        )
        .await;
    refused(&r, "name", "column set name");
    let r = a
        .post(
            &w.list_path("/patients"),
            json!({"fields": {"family": "Du\u{0}nn"}}),
        )
        .await;
    refused(&r, "family", "new patient's name");
    for field in ["given", "mrn", "ward", "room", "bed"] {
        let r = w.edit(field, json!(format!("x\u{0}y"))).await;
        refused(&r, field, field);
    }
    // A text value is one line; a long text keeps line breaks and tabs.
    for bad in [nul, "two\nlines", "tab\there"] {
        let r = w.edit(&w.text_col, json!(bad)).await;
        refused(&r, &w.text_col, "text value");
    }
    let r = w.edit(&w.long_col, json!("one\u{0}two")).await;
    refused(&r, &w.long_col, "long-text value");
    let r = w.edit(&w.long_col, json!("one\r\ntwo\n\tthree")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        r.body["fields"][&w.long_col]["value"], "one\ntwo\n\tthree",
        "CR LF is stored as LF: {}",
        r.text
    );

    let notes = w.team_path(&format!("/patients/{}/notes", w.patient));
    let r = a.post(&notes, json!({"body": "Seen\u{0}."})).await;
    refused(&r, "body", "note");
    let r = a.post(&notes, json!({"body": "Seen\u{1b}[2J."})).await;
    refused(&r, "body", "note with an escape sequence");
    let r = a
        .post(&notes, json!({"body": "Seen.\r\nPlan:\n\t- walk"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["body"], "Seen.\nPlan:\n\t- walk");
    let note = r.body["id"].as_str().unwrap();
    let r = a
        .patch(
            &w.team_path(&format!("/notes/{note}")),
            json!({"body": "x\u{0}", "baseVersion": 1}),
        )
        .await;
    refused(&r, "body", "note edit");

    let connection = w.team_path("/ehr-connection");
    let cases = [
        (
            json!({"name": "EHR\u{0}", "baseUrl": "https://ehr.example/fhir", "auth": {"kind": "none"}}),
            "name",
        ),
        (
            json!({"name": "EHR", "baseUrl": "https://ehr.example/fhir",
                "auth": {"kind": "clientCredentials", "clientId": "ro\u{0}unds", "clientSecret": "s3cret"}}),
            "auth.clientId",
        ),
        (
            json!({"name": "EHR", "baseUrl": "https://ehr.example/fhir",
                "auth": {"kind": "clientCredentials", "clientId": "rounds", "clientSecret": "s3cret",
                         "scope": "system/*.read\u{0}"}}),
            "auth.scope",
        ),
    ];
    for (body, field) in cases {
        let r = a.put(&connection, body).await;
        refused(&r, field, field);
    }
    let r = a.get(&connection).await;
    assert_eq!(r.body["connected"], false, "nothing was saved: {}", r.text);
    // With a connection (never reached), a search term is checked first.
    let r = a
        .put(
            &connection,
            json!({"name": "EHR", "baseUrl": "https://ehr.example/fhir", "auth": {"kind": "none"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = a
        .post(&w.list_path("/ehr-search"), json!({"family": "Du\u{0}nn"}))
        .await;
    refused(&r, "family", "EHR search");

    // Query parameters: the audit search, the list's view, the team's patients.
    for (query, field) in [
        ("username=ad%00min", "username"),
        ("patientRef=p%00", "patientRef"),
    ] {
        let r = a.get(&format!("/api/v1/audit?{query}")).await;
        refused(&r, field, query);
        let r = a.get(&format!("/api/v1/audit/export?{query}")).await;
        refused(&r, field, query);
    }
    for (query, field) in [
        ("q=Du%00nn", "q"),
        ("filter=name:contains:Du%00nn", "filter"),
        ("sort=name%00", "sort"),
    ] {
        let r = a.get(&format!("{}?{query}", w.list_path(""))).await;
        refused(&r, field, query);
    }
    let r = a.get(&w.team_path("/patients?q=Du%00nn")).await;
    refused(&r, "q", "team patients search");

    // Nothing of that was stored.
    let teams = a.get("/api/v1/teams").await;
    assert_eq!(
        teams.body.as_array().map(Vec::len),
        Some(1),
        "{}",
        teams.text
    );
    let lists = a.get(&w.team_path("/lists")).await;
    assert_eq!(
        lists.body.as_array().map(Vec::len),
        Some(1),
        "{}",
        lists.text
    );
    w.app.stop().await;
}
both!(control_characters_refused_everywhere);

/// A sign-in with a NUL in the username is an ordinary refused sign-in:
/// 401 and a SignInRefused record (PostgreSQL answered 500 and recorded
/// nothing, as the typed name went into the audit record as it was).
async fn sign_in_with_a_nul(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin().await;
    let mut anon = crate::common::Client::new(&app);
    let r = anon.sign_in("ad\u{0}min", "whatever password").await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "bad_credentials"),
        "{}",
        r.text
    );
    let records = admin.audit("operation=SignInRefused").await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["actorUsername"], "ad\u{fffd}min");
    assert_eq!(records[0]["outcome"], "refused");
    app.stop().await;
}
both!(sign_in_with_a_nul);

/// Names hold no direction overrides or invisible characters, and two
/// names that look alike (a no-break space, full-width letters, case) are
/// the same name.
async fn misleading_names(backend: Backend) {
    let w = Ward::new(backend).await;
    let a = &w.admin;
    for bad in [
        "Ward\u{202e}B7",
        "Ward\u{2066}7",
        "Ward\u{200f}7",
        "Ward\u{61c}7",
    ] {
        let r = a.post("/api/v1/teams", json!({"name": bad})).await;
        refused(&r, "name", bad);
    }
    let r = a
        .post(
            "/api/v1/users",
            json!({"username": "eve", "displayName": "Eve\u{202e}nimda"}),
        )
        .await;
    refused(&r, "displayName", "display name");
    let r = a
        .post(
            &w.list_path("/patients"),
            json!({"fields": {"family": "Smith\u{202e}", "given": "Ann"}}),
        )
        .await;
    refused(&r, "family", "patient's name");
    let r = w.edit("given", json!("A\u{200b}nn")).await;
    refused(&r, "given", "zero-width space in a patient's name");
    for bad in ["Morning\u{200d}round", "Night\u{200b}", "\u{feff}Evening"] {
        let r = a.post(&w.team_path("/lists"), json!({"name": bad})).await;
        refused(&r, "name", bad);
    }

    let first = a.post("/api/v1/teams", json!({"name": "Ward 7B"})).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    for same in ["Ward\u{a0}7B", "Ｗａｒｄ 7B", "WARD  7b"] {
        let r = a.post("/api/v1/teams", json!({"name": same})).await;
        assert_eq!(
            (r.status, r.code(), r.field()),
            (StatusCode::CONFLICT, "duplicate", "name"),
            "{same:?}: {}",
            r.text
        );
    }
    let r = a
        .post(
            &w.team_path("/lists"),
            json!({"name": "Ｍｏｒｎｉｎｇ\u{a0}ROUND"}),
        )
        .await;
    assert_eq!(
        (r.status, r.field()),
        (StatusCode::CONFLICT, "name"),
        "{}",
        r.text
    );
    let r = a
        .post(
            &w.list_path("/columns"),
            json!({"label": "Status", "type": "choice",
                "options": [{"label": "Stable"}, {"label": "ＳＴＡＢＬＥ"}]}),
        )
        .await;
    assert_eq!(
        (r.status, r.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "options"),
        "{}",
        r.text
    );
    w.app.stop().await;
}
both!(misleading_names);

/// Runs one statement with text parameters on the test database itself.
async fn execute(app: &TestApp, backend: Backend, sql: &str, binds: &[&str]) {
    use sqlx::Connection;
    match backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&app.db.url).await.unwrap();
            let mut q = sqlx::query(sql);
            for b in binds {
                q = q.bind(*b);
            }
            q.execute(&mut conn).await.unwrap();
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
            let mut q = sqlx::query(sql);
            for b in binds {
                q = q.bind(*b);
            }
            q.execute(&mut conn).await.unwrap();
        }
    }
}

/// Keys stored under the old rule (lower case only) are made again when
/// the database is opened, so an old "Ward\u{a0}7B" meets a new "Ｗａｒｄ 7B".
async fn stored_name_keys_are_made_again(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let admin = app.admin().await;
    admin.create_team("Ward\u{a0}7B").await;
    app.stop_server().await;
    // As a database of the old rule has it.
    execute(
        &app,
        backend,
        "UPDATE teams SET name_key = $1",
        &["ward\u{a0}7b"],
    )
    .await;
    execute(
        &app,
        backend,
        "DELETE FROM site_state WHERE state_key = $1",
        &["name_key_rule"],
    )
    .await;
    app.restart_server().await;
    let admin = app.client("root").await;
    let r = admin
        .post("/api/v1/teams", json!({"name": "Ｗａｒｄ 7B"}))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "duplicate"),
        "{}",
        r.text
    );
    app.stop().await;
}
both!(stored_name_keys_are_made_again);

/// A user agent that is a spreadsheet formula comes out of the audit CSV
/// export as text (a leading '), read back with a CSV reader.
async fn csv_export_neutralises_formulas(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin().await;
    app.user("nurse", false).await;
    let formula = "=HYPERLINK(\"http://evil.example\",\"x\")";
    let http = reqwest::Client::builder()
        .user_agent(formula)
        .build()
        .unwrap();
    let r = http
        .post(app.url("/api/v1/session"))
        .json(&json!({"username": "nurse", "password": crate::common::PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let export = admin
        .get("/api/v1/audit/export?format=csv&username=nurse")
        .await;
    assert_eq!(export.status, StatusCode::OK, "{}", export.text);
    let mut reader = csv::Reader::from_reader(export.text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let agent = headers.iter().position(|h| h == "user_agent").unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1, "{}", export.text);
    assert_eq!(rows[0].get(agent), Some(format!("'{formula}").as_str()));
    for cell in rows[0].iter() {
        assert!(
            !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
            "{cell:?} in {}",
            export.text
        );
    }
    app.stop().await;
}
both!(csv_export_neutralises_formulas);

/// Query strings and paths that do not fit answer in the JSON error shape
/// naming the parameter; a filter on an unknown column names `filter`.
async fn query_and_path_errors(backend: Backend) {
    let w = Ward::new(backend).await;
    let a = &w.admin;
    let r = a.get("/api/v1/audit?limit=99999999999999999999").await;
    assert_eq!(
        (r.status, r.code(), r.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_query", "limit"),
        "{}",
        r.text
    );
    let r = a.get("/api/v1/audit?before=soon").await;
    assert_eq!(
        (r.code(), r.field()),
        ("invalid_query", "before"),
        "{}",
        r.text
    );
    let r = a.get("/api/v1/teams/%FF%FE").await;
    assert_eq!(
        (r.status, r.code(), r.field()),
        (StatusCode::BAD_REQUEST, "invalid_path", "teamId"),
        "{}",
        r.text
    );
    let r = a
        .get(&format!("/api/v1/teams/{}/lists/%C3%28", w.team))
        .await;
    assert_eq!(
        (r.code(), r.field()),
        ("invalid_path", "listId"),
        "{}",
        r.text
    );

    let ghost = rounds_core::ColumnId::new_random();
    let r = a
        .get(&format!("{}?filter={ghost}:contains:x", w.list_path("")))
        .await;
    assert_eq!(
        (r.status, r.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "filter"),
        "{}",
        r.text
    );
    let r = a.get(&format!("{}?sort={ghost}", w.list_path(""))).await;
    assert_eq!(r.field(), "sort", "{}", r.text);
    w.app.stop().await;
}
both!(query_and_path_errors);

/// Choice options take `color`, as the OpenAPI document says; the old
/// spelling `colour` is still accepted.
async fn choice_option_colours(backend: Backend) {
    let w = Ward::new(backend).await;
    let r = w
        .admin
        .post(
            &w.list_path("/columns"),
            json!({"label": "Status", "type": "choice", "options": [
                {"label": "Stable", "color": "#22aa55"},
                {"label": "Critical", "colour": "#cc2222"},
                {"label": "Unknown"}
            ]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let colours: Vec<&str> = r.body["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["color"].as_str().unwrap())
        .collect();
    assert_eq!(colours, ["#22aa55", "#cc2222", "#6b7280"]);
    let doc = w.admin.get("/api/openapi.json").await.body;
    let option = &doc["components"]["schemas"]["ChoiceOptionDto"];
    assert!(option["properties"]["color"].is_object(), "{option}");
    assert!(option["properties"].get("colour").is_none());
    let request = &doc["components"]["schemas"]["ColumnRequest"]["properties"]["options"];
    assert!(
        request.to_string().contains("ChoiceOptionDto"),
        "the request's options are described: {request}"
    );
    let dto = &doc["components"]["schemas"]["ColumnDto"]["properties"]["options"];
    assert!(dto.to_string().contains("ChoiceOptionDto"), "{dto}");
    w.app.stop().await;
}
both!(choice_option_colours);

/// Past the failure limit, the sign-in page's 429 says when to try again,
/// as the API's does.
async fn locked_sign_in_says_when(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.user("nurse", false).await;
    let mut api = crate::common::Client::new(&app);
    for _ in 0..5 {
        api.sign_in("nurse", "not the password at all").await;
    }
    let r = api.sign_in("nurse", "not the password at all").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    assert!(r.headers.contains_key("retry-after"));

    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = browser
        .get(app.url("/sign-in"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let marker = "name=\"csrf_token\" value=\"";
    let start = form.find(marker).unwrap() + marker.len();
    let csrf = &form[start..start + form[start..].find('"').unwrap()];
    let page = browser
        .post(app.url("/sign-in"))
        .form(&[
            ("username", "nurse"),
            ("password", crate::common::PASSWORD),
            ("csrf_token", csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS);
    let secs: u64 = page.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=15 * 60 + 1).contains(&secs), "{secs}");
    app.stop().await;
}
both!(locked_sign_in_says_when);

/// One HTTP/1.1 answer read from a raw connection: status, whether it
/// said `Connection: close`.
fn read_answer(stream: &mut std::net::TcpStream) -> std::io::Result<(u16, bool)> {
    use std::io::Read;
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the connection closed without an answer",
            ));
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_lowercase();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body)?;
    let close = head
        .lines()
        .any(|l| l.starts_with("connection:") && l.contains("close"));
    Ok((status, close))
}

/// A request with a body, refused before the body is read (no session),
/// on a keep-alive connection: every one of 50 gets its answer, and a
/// connection the server closes was announced with `Connection: close`.
/// The body is sent a moment after the head, as a slow client would.
async fn early_refusals_keep_connections_usable(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let addr = app.addr;
    let outcome = tokio::task::spawn_blocking(move || -> Result<usize, String> {
        use std::io::Write;
        let connect = || {
            let s = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
            s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(s)
        };
        let mut stream = connect()?;
        let mut reconnects = 0;
        let body = r#"{"name": "Ward 9"}"#;
        for i in 0..50 {
            let head = format!(
                "POST /api/v1/teams HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            let sent = stream
                .write_all(head.as_bytes())
                .and_then(|()| stream.flush())
                .and_then(|()| {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    stream.write_all(body.as_bytes())
                });
            let answer = sent.and_then(|()| read_answer(&mut stream));
            match answer {
                Ok((401, close)) => {
                    if close {
                        reconnects += 1;
                        stream = connect()?;
                    }
                }
                Ok((status, _)) => return Err(format!("request {i}: status {status}")),
                Err(e) => return Err(format!("request {i}: {e}")),
            }
        }
        Ok(reconnects)
    })
    .await
    .unwrap();
    let reconnects = outcome.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reconnects, 0, "small bodies are read, the connection kept");
    app.stop().await;
}
both!(early_refusals_keep_connections_usable);
