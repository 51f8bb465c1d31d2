//! Patient lists in manual mode, through the API: lists, patients, columns,
//! sort and filter, notes, conflicts and live sync.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both;
use crate::common::{Backend, Client, TestApp};

/// A team "Ward 7" with owner "charge" and member "nurse", and a list.
struct Ward {
    app: TestApp,
    charge: Client,
    nurse: Client,
    team: String,
    list: String,
}

impl Ward {
    async fn new(backend: Backend) -> Self {
        let app = TestApp::spawn(backend).await;
        app.user("charge", false).await;
        app.user("nurse", false).await;
        let charge = app.client("charge").await;
        let team = charge.create_team("Ward 7").await;
        charge.add_member(&team, json!({"username": "nurse"})).await;
        let nurse = app.client("nurse").await;
        let list = charge.create_list(&team, "Morning round").await;
        Self {
            app,
            charge,
            nurse,
            team,
            list,
        }
    }

    fn path(&self, rest: &str) -> String {
        format!("/api/v1/teams/{}{rest}", self.team)
    }

    fn list_path(&self, rest: &str) -> String {
        format!("/api/v1/teams/{}/lists/{}{rest}", self.team, self.list)
    }

    async fn add(&self, fields: Value) -> String {
        let r = self
            .nurse
            .post(&self.list_path("/patients"), json!({ "fields": fields }))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.body["row"]["patientId"].as_str().unwrap().to_owned()
    }

    async fn view(&self, query: &str) -> Value {
        let r = self
            .nurse
            .get(&format!("{}?{query}", self.list_path("")))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        r.body
    }
}

fn names(view: &Value) -> Vec<String> {
    view["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["display"]["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn lists_lifecycle(backend: Backend) {
    let w = Ward::new(backend).await;
    let second = w
        .nurse
        .post(&w.path("/lists"), json!({"name": "Discharges"}))
        .await;
    assert_eq!(second.status, StatusCode::CREATED);
    let second_id = second.body["id"].as_str().unwrap().to_owned();
    let dup = w
        .nurse
        .post(&w.path("/lists"), json!({"name": "discharges"}))
        .await;
    assert_eq!((dup.status, dup.field()), (StatusCode::CONFLICT, "name"));
    let long = w
        .nurse
        .post(&w.path("/lists"), json!({"name": "x".repeat(101)}))
        .await;
    assert_eq!(
        (long.status, long.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "name")
    );

    let renamed = w
        .nurse
        .patch(
            &format!("{}/{second_id}", w.path("/lists")),
            json!({"name": "Going home"}),
        )
        .await;
    assert_eq!(renamed.body["name"], "Going home");
    assert_eq!(
        w.nurse
            .send(
                reqwest::Method::PUT,
                &format!("{}/{second_id}/default", w.path("/lists")),
                None
            )
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let lists = w.nurse.get(&w.path("/lists")).await.body;
    assert_eq!(lists.as_array().unwrap().len(), 2);
    assert_eq!(lists[1]["isDefault"], true);
    assert_eq!(lists[0]["name"], "Morning round", "lists keep their order");
    let reordered = w
        .nurse
        .send(
            reqwest::Method::PUT,
            &w.path("/list-order"),
            Some(json!({"listIds": [second_id, w.list]})),
        )
        .await;
    assert_eq!(reordered.status, StatusCode::OK, "{}", reordered.text);
    assert_eq!(reordered.body[0]["name"], "Going home");
    let partial = w
        .nurse
        .send(
            reqwest::Method::PUT,
            &w.path("/list-order"),
            Some(json!({"listIds": [second_id]})),
        )
        .await;
    assert_eq!(
        (partial.status, partial.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "listIds")
    );

    // A screen re-reading the list it shows is one viewing in the audit log.
    for _ in 0..3 {
        w.view("").await;
    }
    let admin = w.app.admin().await;
    let views = admin
        .audit(&format!(
            "operation=PatientListView&username=nurse&teamId={}",
            w.team
        ))
        .await;
    assert_eq!(views.len(), 1, "{views:?}");
    // Only owners delete lists; the patients stay in the team.
    let pid = w.add(json!({"family": "Stays"})).await;
    assert_eq!(
        w.nurse.delete(&w.list_path("")).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        w.charge.delete(&w.list_path("")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        w.nurse.get(&w.list_path("")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        w.nurse
            .get(&w.path(&format!("/patients/{pid}")))
            .await
            .status,
        StatusCode::OK
    );

    let ops: Vec<String> = admin
        .audit(&format!("teamId={}&limit=500", w.team))
        .await
        .iter()
        .map(|r| r["operation"].as_str().unwrap().to_owned())
        .collect();
    for op in [
        "PatientListCreate",
        "PatientListRename",
        "PatientListSetDefault",
        "PatientListDelete",
        "PatientListAddPatient",
        "PatientView",
    ] {
        assert!(ops.contains(&op.to_owned()), "{op} missing: {ops:?}");
    }
    w.app.stop().await;
}
both!(lists_lifecycle);

async fn patients_on_lists(backend: Backend) {
    let w = Ward::new(backend).await;
    let other = w
        .nurse
        .post(&w.path("/lists"), json!({"name": "Handover"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ames = w.add(json!({"family": "Ames", "given": "Ada", "mrn": "M100", "birthDate": "1950-03-04", "sex": "female", "ward": "7", "bed": "12"})).await;
    let view = w.view("").await;
    assert_eq!(view["total"], 1);
    let row = &view["rows"][0];
    assert_eq!(row["display"]["name"], "AMES, Ada");
    assert!(row["display"]["ageSex"].as_str().unwrap().ends_with(" F"));
    assert_eq!(row["display"]["location"], "7 · 12");
    assert_eq!(row["fields"]["mrn"]["version"], 1);
    let columns: Vec<&str> = view["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    assert_eq!(columns, ["name", "ageSex", "mrn", "location"]);

    // The same patient on a second list is one record: an edit shows on both.
    let again = w
        .nurse
        .post(
            &format!("/api/v1/teams/{}/lists/{other}/patients", w.team),
            json!({"patientId": ames}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.text);
    let twice = w
        .nurse
        .post(&w.list_path("/patients"), json!({"patientId": ames}))
        .await;
    assert_eq!(
        (twice.status, twice.field()),
        (StatusCode::CONFLICT, "patientId")
    );
    let edit = w
        .nurse
        .patch(
            &w.path(&format!("/patients/{ames}")),
            json!({"fields": {"bed": {"value": "14", "baseVersion": 1}}}),
        )
        .await;
    assert_eq!(edit.status, StatusCode::OK, "{}", edit.text);
    let on_other = w
        .nurse
        .get(&format!("/api/v1/teams/{}/lists/{other}", w.team))
        .await
        .body;
    assert_eq!(on_other["rows"][0]["display"]["location"], "7 · 14");

    // The team's patients can be found to put on another list.
    let found = w.nurse.get(&w.path("/patients?q=ame")).await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.text);
    assert_eq!(found.body[0]["patientId"], ames.as_str());
    assert_eq!(found.body[0]["listIds"].as_array().unwrap().len(), 2);
    assert!(w
        .nurse
        .get(&w.path("/patients?q=zzz"))
        .await
        .body
        .as_array()
        .unwrap()
        .is_empty());
    // The same MRN twice is flagged, not refused or merged.
    let dup = w
        .nurse
        .post(
            &w.list_path("/patients"),
            json!({"fields": {"family": "Amis", "mrn": "M100"}}),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CREATED);
    assert_eq!(dup.body["duplicateMrnOf"], json!([ames]));
    let flagged = w.view("").await;
    assert!(flagged["rows"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["duplicateMrn"] == true));

    // Bad input names the field and writes nothing.
    let cases = [
        (
            json!({"fields": {"family": "X", "birthDate": "1950-02-30"}}),
            "birthDate",
        ),
        (json!({"fields": {"family": "X", "sex": "f"}}), "sex"),
        (
            json!({"fields": {"family": "X", "colour": "red"}}),
            "colour",
        ),
        (json!({"fields": {"family": "x".repeat(101)}}), "family"),
        (json!({"fields": {"ward": "7"}}), "family"),
        (json!({"patientId": "not-an-id"}), "patientId"),
    ];
    for (body, field) in cases {
        let r = w.nurse.post(&w.list_path("/patients"), body.clone()).await;
        assert!(r.status.is_client_error(), "{body}: {}", r.text);
        assert_eq!(r.field(), field, "{body}: {}", r.text);
    }
    assert_eq!(w.view("").await["total"], 2);

    // Move, remove, reorder.
    let byrne = w.add(json!({"family": "Byrne"})).await;
    let order = w
        .nurse
        .send(
            reqwest::Method::PUT,
            &w.list_path("/order"),
            Some(json!({"patientIds": [byrne, ames]})),
        )
        .await;
    assert_eq!(
        order.status,
        StatusCode::BAD_REQUEST.max(order.status),
        "{}",
        order.text
    );
    assert_eq!(
        (order.status, order.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "order"),
        "a patient is missing from the order"
    );
    let view = w.view("").await;
    let mut ids: Vec<String> = view["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["patientId"].as_str().unwrap().to_owned())
        .collect();
    ids.reverse();
    let ok = w
        .nurse
        .send(
            reqwest::Method::PUT,
            &w.list_path("/order"),
            Some(json!({ "patientIds": ids })),
        )
        .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT, "{}", ok.text);
    assert_eq!(names(&w.view("").await)[0], "BYRNE");

    let moved = w
        .nurse
        .post(
            &w.list_path(&format!("/patients/{byrne}/move")),
            json!({"toListId": other}),
        )
        .await;
    assert_eq!(moved.status, StatusCode::NO_CONTENT, "{}", moved.text);
    assert!(!names(&w.view("").await).contains(&"BYRNE".to_owned()));
    // A list of another team is no target.
    w.app.user("other", false).await;
    let stranger = w.app.client("other").await;
    let foreign_team = stranger.create_team("Ward 9").await;
    let foreign = stranger
        .post(
            &format!("/api/v1/teams/{foreign_team}/lists"),
            json!({"name": "Theirs"}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bad = w
        .nurse
        .post(
            &format!(
                "/api/v1/teams/{}/lists/{other}/patients/{byrne}/move",
                w.team
            ),
            json!({"toListId": foreign}),
        )
        .await;
    assert_eq!(
        (bad.status, bad.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "toListId")
    );
    let gone = w
        .nurse
        .delete(&w.list_path(&format!("/patients/{ames}")))
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    assert_eq!(
        w.nurse
            .delete(&w.list_path(&format!("/patients/{ames}")))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // Someone outside the team sees nothing of it.
    assert_eq!(
        stranger
            .get(&w.path(&format!("/patients/{ames}")))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    w.app.stop().await;
}
both!(patients_on_lists);

async fn columns_sort_and_filter(backend: Backend) {
    let w = Ward::new(backend).await;
    let status = w
        .nurse
        .post(
            &w.list_path("/columns"),
            json!({"label": "Status", "type": "choice", "options": [
                {"label": "Stable", "color": "#2e7d32"}, {"label": "Watch", "color": "#f9a825"}, {"label": "Critical", "color": "#c62828"}]}),
        )
        .await;
    assert_eq!(status.status, StatusCode::CREATED, "{}", status.text);
    let sid = status.body["key"].as_str().unwrap().to_owned();
    let temp = w
        .nurse
        .post(
            &w.list_path("/columns"),
            json!({"label": "Temp", "type": "number", "unit": "°C"}),
        )
        .await
        .body["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let iso = w
        .nurse
        .post(
            &w.list_path("/columns"),
            json!({"label": "Isolation", "type": "checkbox"}),
        )
        .await
        .body["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let due = w
        .nurse
        .post(
            &w.list_path("/columns"),
            json!({"label": "Due", "type": "date"}),
        )
        .await
        .body["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let bad_type = w
        .nurse
        .post(
            &w.list_path("/columns"),
            json!({"label": "X", "type": "colour"}),
        )
        .await;
    assert_eq!(bad_type.field(), "type");
    let no_options = w
        .nurse
        .post(
            &w.list_path("/columns"),
            json!({"label": "Y", "type": "choice"}),
        )
        .await;
    assert_eq!(no_options.field(), "options");

    let rows = [
        ("Émile", "critical", json!(38.5), true, "2026-11-20"),
        ("adams", "stable", json!(36.9), false, "2026-12-01"),
        ("Zola", "watch", Value::Null, false, ""),
        ("Eve", "", json!("37"), true, "2026-11-25"),
    ];
    for (family, st, t, isolated, due_on) in rows {
        let mut fields = json!({"family": family, &temp: t, &iso: isolated, &due: due_on});
        if !st.is_empty() {
            fields[&sid] = json!(st);
        }
        w.add(fields).await;
    }
    // Text sorts without case or accents; empty values go last both ways.
    assert_eq!(
        names(&w.view("sort=name").await),
        ["ADAMS", "ÉMILE", "EVE", "ZOLA"]
    );
    assert_eq!(
        names(&w.view(&format!("sort=-{temp}")).await),
        ["ÉMILE", "EVE", "ADAMS", "ZOLA"]
    );
    assert_eq!(
        names(&w.view(&format!("sort={temp}")).await),
        ["ADAMS", "EVE", "ÉMILE", "ZOLA"]
    );
    // Choices sort in option order; a second key breaks ties.
    assert_eq!(
        names(&w.view(&format!("sort=-{sid},name")).await),
        ["ÉMILE", "ZOLA", "ADAMS", "EVE"]
    );
    assert_eq!(
        names(&w.view(&format!("sort={iso},-name")).await),
        ["ZOLA", "ADAMS", "EVE", "ÉMILE"]
    );
    // Filters and search.
    assert_eq!(
        names(&w.view(&format!("filter={sid}:is:Critical")).await),
        ["ÉMILE"]
    );
    assert_eq!(
        names(
            &w.view(&format!("filter={iso}:checked:true&sort=name"))
                .await
        ),
        ["ÉMILE", "EVE"]
    );
    assert_eq!(
        names(
            &w.view(&format!(
                "filter={due}:from:2026-11-21&filter={due}:to:2026-11-30"
            ))
            .await
        ),
        ["EVE"]
    );
    assert_eq!(names(&w.view("q=emi").await), ["ÉMILE"]);
    let filtered = w.view("filter=name:contains:e&sort=name").await;
    assert_eq!(filtered["total"], 4);
    assert_eq!(names(&filtered), ["ÉMILE", "EVE"]);
    let bad = w.nurse.get(&format!("{}?sort=shoe", w.list_path(""))).await;
    assert_eq!(
        (bad.status, bad.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "sort")
    );
    let bad = w
        .nurse
        .get(&format!("{}?filter={due}:from:soon", w.list_path("")))
        .await;
    assert_eq!(
        (bad.status, bad.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "filter")
    );

    // Values must fit their column.
    let pid = w.add(json!({"family": "Fit"})).await;
    let patient = w.path(&format!("/patients/{pid}"));
    for (key, value) in [
        (&temp, json!("warm")),
        (&sid, json!("dying")),
        (&due, json!("2026-13-01")),
        (&iso, json!("yes")),
    ] {
        let r = w
            .nurse
            .patch(
                &patient,
                json!({"fields": {key.as_str(): {"value": value, "baseVersion": 0}}}),
            )
            .await;
        assert_eq!(
            (r.status, r.field()),
            (StatusCode::UNPROCESSABLE_ENTITY, key.as_str()),
            "{value}: {}",
            r.text
        );
    }
    // Rename, hide, move and remove columns.
    let renamed = w
        .nurse
        .patch(
            &w.list_path(&format!("/columns/{sid}")),
            json!({"label": "Condition"}),
        )
        .await;
    assert_eq!(renamed.body["label"], "Condition");
    let hidden = w
        .nurse
        .patch(
            &w.list_path("/columns/mrn"),
            json!({"hidden": true, "width": 80, "position": 0}),
        )
        .await;
    assert_eq!(
        (
            hidden.body["hidden"].clone(),
            hidden.body["position"].clone()
        ),
        (json!(true), json!(0))
    );
    let builtin_rename = w
        .nurse
        .patch(&w.list_path("/columns/name"), json!({"label": "Who"}))
        .await;
    assert_eq!(builtin_rename.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        w.nurse
            .delete(&w.list_path(&format!("/columns/{temp}")))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let view = w.view("").await;
    let keys: Vec<&str> = view["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys[0], "mrn");
    assert!(!keys.contains(&temp.as_str()));
    let dup = w
        .nurse
        .post(&w.list_path("/columns"), json!({"key": "mrn"}))
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    // Add back the removed team column: its values are still there.
    assert_eq!(
        w.nurse
            .post(&w.list_path("/columns"), json!({"key": temp}))
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(names(&w.view(&format!("sort=-{temp}")).await)[0], "ÉMILE");

    // A saved column set starts a new list with the same columns.
    let schema = w
        .nurse
        .post(
            &w.path("/schemas"),
            json!({"name": "Medical ward", "fromListId": w.list}),
        )
        .await;
    assert_eq!(schema.status, StatusCode::CREATED, "{}", schema.text);
    let sid2 = schema.body["id"].as_str().unwrap();
    let from = w
        .nurse
        .post(
            &w.path("/lists"),
            json!({"name": "Evening", "schemaId": sid2}),
        )
        .await;
    let evening = from.body["id"].as_str().unwrap();
    let cols = w
        .nurse
        .get(&format!("/api/v1/teams/{}/lists/{evening}", w.team))
        .await
        .body["columns"]
        .clone();
    assert_eq!(cols, view_columns(&w.view("").await));
    assert_eq!(
        w.nurse
            .get(&w.path("/schemas"))
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let renamed = w
        .nurse
        .patch(
            &w.path(&format!("/schemas/{sid2}")),
            json!({"name": "Medical ward (v2)", "columns": [{"key": "name"}, {"key": sid}]}),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
    assert_eq!(renamed.body["columns"].as_array().unwrap().len(), 2);
    let bad = w
        .nurse
        .patch(
            &w.path(&format!("/schemas/{sid2}")),
            json!({"columns": [{"key": "nonsense"}]}),
        )
        .await;
    assert_eq!(
        (bad.status, bad.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "columns")
    );
    w.app.stop().await;
}
both!(columns_sort_and_filter);

/// A new column named like one the team has already is refused (the
/// team's own is meant) unless a second one is asked for; so is renaming
/// a column to another's name.
async fn a_second_column_of_a_name_only_when_asked(backend: Backend) {
    let w = Ward::new(backend).await;
    let plan = w
        .nurse
        .post(
            &w.list_path("/columns"),
            json!({"label": "Plan", "type": "text"}),
        )
        .await;
    assert_eq!(plan.status, StatusCode::CREATED, "{}", plan.text);
    let plan_key = plan.body["key"].as_str().unwrap().to_owned();
    let again = w
        .nurse
        .post(
            &w.list_path("/columns"),
            json!({"label": " plan ", "type": "longText"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);
    assert_eq!(again.body["error"]["field"], "label");
    let message = again.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("Plan") && message.contains(&plan_key),
        "{message}"
    );
    let second = w
        .nurse
        .post(
            &w.list_path("/columns"),
            json!({"label": "Plan", "type": "text", "allowSameLabel": true}),
        )
        .await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.text);
    assert_ne!(second.body["key"], plan.body["key"]);
    let other = w
        .nurse
        .post(
            &w.list_path("/columns"),
            json!({"label": "Mobility", "type": "text"}),
        )
        .await;
    let other_key = other.body["key"].as_str().unwrap().to_owned();
    let renamed = w
        .nurse
        .patch(
            &w.list_path(&format!("/columns/{other_key}")),
            json!({"label": "PLAN"}),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::CONFLICT, "{}", renamed.text);
    // Its own name in another case is no clash.
    let recased = w
        .nurse
        .patch(
            &w.list_path(&format!("/columns/{other_key}")),
            json!({"label": "mobility"}),
        )
        .await;
    assert_eq!(recased.status, StatusCode::OK, "{}", recased.text);
}
both!(a_second_column_of_a_name_only_when_asked);

fn view_columns(view: &Value) -> Value {
    view["columns"].clone()
}

async fn concurrent_edits(backend: Backend) {
    let w = Ward::new(backend).await;
    let pid = w.add(json!({"family": "Cole", "ward": "7"})).await;
    let patient = w.path(&format!("/patients/{pid}"));
    // Both opened the patient at ward version 1, bed version 0.
    let a = w
        .nurse
        .patch(
            &patient,
            json!({"fields": {"ward": {"value": "8", "baseVersion": 1}}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let b = w
        .charge
        .patch(
            &patient,
            json!({"fields": {"ward": {"value": "9", "baseVersion": 1}}}),
        )
        .await;
    assert_eq!(
        (b.status, b.code(), b.field()),
        (StatusCode::CONFLICT, "edit_conflict", "ward"),
        "{}",
        b.text
    );
    let c = &b.body["error"]["conflicts"][0];
    assert_eq!(
        (
            c["yours"].clone(),
            c["current"].clone(),
            c["currentVersion"].clone()
        ),
        (json!("9"), json!("8"), json!(2))
    );
    assert_eq!(c["updatedBy"], "nurse display");
    // Different fields edited from the same versions both survive.
    let d = w
        .charge
        .patch(
            &patient,
            json!({"fields": {"bed": {"value": "3", "baseVersion": 0}}}),
        )
        .await;
    assert_eq!(d.status, StatusCode::OK);
    // A conflicting request saves none of its fields.
    let e = w.charge.patch(&patient, json!({"fields": {"room": {"value": "2", "baseVersion": 0}, "ward": {"value": "9", "baseVersion": 1}}})).await;
    assert_eq!(e.status, StatusCode::CONFLICT);
    let now = w.nurse.get(&patient).await.body;
    assert_eq!(
        (
            now["fields"]["ward"]["value"].clone(),
            now["fields"]["bed"]["value"].clone()
        ),
        (json!("8"), json!("3"))
    );
    assert!(now["fields"].get("room").is_none(), "nothing half-written");
    // Choosing: save again from the current version.
    let f = w
        .charge
        .patch(
            &patient,
            json!({"fields": {"ward": {"value": "9", "baseVersion": 2}}}),
        )
        .await;
    assert_eq!(
        f.body["fields"]["ward"],
        json!({"value": "9", "version": 3})
    );
    w.app.stop().await;
}
both!(concurrent_edits);

async fn notes_with_history(backend: Backend) {
    let w = Ward::new(backend).await;
    let pid = w.add(json!({"family": "Dunn"})).await;
    let notes = w.path(&format!("/patients/{pid}/notes"));
    let first = w
        .nurse
        .post(&notes, json!({"body": "Mobilised with frame."}))
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    tokio::time::sleep(Duration::from_millis(5)).await;
    w.charge
        .post(&notes, json!({"body": "Family meeting at 3pm."}))
        .await;
    let listed = w.nurse.get(&notes).await.body;
    assert_eq!(listed[0]["body"], "Family meeting at 3pm.", "newest first");
    assert_eq!(listed[1]["authorName"], "nurse display");
    let id = first.body["id"].as_str().unwrap();
    let note = w.path(&format!("/notes/{id}"));
    let not_author = w
        .charge
        .patch(&note, json!({"body": "x", "baseVersion": 1}))
        .await;
    assert_eq!(not_author.status, StatusCode::FORBIDDEN);
    let edited = w
        .nurse
        .patch(
            &note,
            json!({"body": "Mobilised with frame, 20 m.", "baseVersion": 1}),
        )
        .await;
    assert_eq!(
        (
            edited.body["version"].clone(),
            edited.body["edited"].clone()
        ),
        (json!(2), json!(true))
    );
    let stale = w
        .nurse
        .patch(&note, json!({"body": "Other text", "baseVersion": 1}))
        .await;
    assert_eq!(stale.code(), "edit_conflict");
    assert_eq!(
        w.nurse.post(&notes, json!({"body": "  "})).await.field(),
        "body"
    );
    assert_eq!(
        w.nurse
            .post(&notes, json!({"body": "n".repeat(10_001)}))
            .await
            .field(),
        "body"
    );
    assert_eq!(w.nurse.delete(&note).await.status, StatusCode::NO_CONTENT);
    assert_eq!(w.nurse.get(&notes).await.body.as_array().unwrap().len(), 1);
    // History is kept in the database: two earlier texts of the note.
    let admin = w.app.admin().await;
    let note_ops = admin.audit("operation=PatientNoteAdd").await;
    assert_eq!(note_ops.len(), 4, "two added, one edited, one deleted");
    w.app.stop().await;
}
both!(notes_with_history);

async fn live_sync(backend: Backend) {
    let w = Ward::new(backend).await;
    let pid = w.add(json!({"family": "Eames", "ward": "7"})).await;
    let mut screen = w.charge.events(&w.list_path("/events"), None).await;
    let ready = screen
        .next_change(Duration::from_secs(5))
        .await
        .expect("ready");
    assert_eq!(ready.event, "ready");

    // A change by one person reaches another's screen within a second.
    let started = Instant::now();
    let r = w
        .nurse
        .patch(
            &w.path(&format!("/patients/{pid}")),
            json!({"fields": {"bed": {"value": "5", "baseVersion": 0}}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let seen = screen
        .next_change(Duration::from_secs(1))
        .await
        .expect("the edit arrives within a second");
    let took = started.elapsed();
    assert_eq!(seen.event, "patientUpdated");
    assert_eq!(seen.data["fields"]["bed"]["value"], "5");
    assert_eq!(seen.data["by"]["name"], "nurse display");
    assert!(took < Duration::from_secs(1), "{took:?}");
    let last = seen.id.expect("events carry ids");

    // The screen drops; changes go on; on reconnecting it misses nothing.
    drop(screen);
    w.add(json!({"family": "Ford"})).await;
    w.nurse
        .post(
            &w.path(&format!("/patients/{pid}/notes")),
            json!({"body": "Seen by physio"}),
        )
        .await;
    w.nurse
        .post(
            &w.list_path("/columns"),
            json!({"label": "Diet", "type": "text"}),
        )
        .await;
    let mut screen = w.charge.events(&w.list_path("/events"), Some(last)).await;
    let mut kinds = Vec::new();
    while let Some(e) = screen.next_change(Duration::from_secs(2)).await {
        if e.event == "ready" {
            break;
        }
        kinds.push(e.event);
    }
    assert_eq!(kinds, ["patientAdded", "noteChanged", "columnsChanged"]);

    // A member removed from the team stops receiving.
    let mut nurse_screen = w.nurse.events(&w.list_path("/events"), None).await;
    assert_eq!(
        nurse_screen
            .next_change(Duration::from_secs(5))
            .await
            .map(|e| e.event)
            .as_deref(),
        Some("ready")
    );
    let nurse_id = w.app.app.user_by_username("nurse").await.unwrap().id;
    assert_eq!(
        w.charge
            .delete(&w.path(&format!("/members/{nurse_id}")))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    tokio::time::sleep(Duration::from_millis(2200)).await;
    w.charge
        .post(
            &w.list_path("/patients"),
            json!({"fields": {"family": "Secret"}}),
        )
        .await;
    let after = nurse_screen.next_change(Duration::from_secs(3)).await;
    assert_eq!(
        after.as_ref().map(|e| e.event.as_str()),
        Some("closed"),
        "{after:?}"
    );
    assert!(nurse_screen
        .next_change(Duration::from_millis(500))
        .await
        .is_none());
    // And cannot open it again.
    assert_eq!(
        w.nurse.status_only(&w.list_path("/events")).await.status,
        StatusCode::NOT_FOUND
    );
    // An id from before the feed's memory asks the screen to reload.
    let mut stale = w
        .charge
        .events(&w.list_path("/events"), Some(1_000_000))
        .await;
    assert_eq!(
        stale
            .next_change(Duration::from_secs(2))
            .await
            .map(|e| e.event)
            .as_deref(),
        Some("resync")
    );
    w.app.stop().await;
}
both!(live_sync);

/// getList answers a whole list from rows kept in memory: a change made
/// through another instance on the same database (a field, a note, a task
/// falling due, a column's unit, patients added and removed) shows in the
/// very next answer of the first instance, which is always the same as a
/// fresh read (`refresh=true` reads past what is kept).
async fn kept_rows_follow_changes_made_on_another_instance(backend: Backend) {
    let w = Ward::new(backend).await;
    let temp = w
        .nurse
        .post(
            &w.list_path("/columns"),
            json!({"label": "Temp", "type": "number", "unit": "°C"}),
        )
        .await
        .body["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let p1 = w
        .add(json!({"family": "Ames", "given": "Ann", "mrn": "K1", &temp: 37.5}))
        .await;
    let p2 = w
        .add(json!({"family": "Boyd", "given": "Bo", "mrn": "K2"}))
        .await;
    let second = w.app.spawn_sharing(rounds_app::AppConfig::default()).await;
    let other = second.client("charge").await;
    let list = w.list_path("");
    let team = |rest: &str| w.path(rest);
    let row = |view: &Value, p: &str| -> Value {
        view["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["patientId"] == p)
            .cloned()
            .unwrap_or(Value::Null)
    };
    // The first instance's answer, twice (the second from what it kept),
    // against a fresh read.
    let check = |what: &'static str| {
        let w = &w;
        async move {
            let kept = w.view("").await;
            let again = w.view("").await;
            let fresh = w.view("refresh=true").await;
            assert_eq!(kept["rows"], fresh["rows"], "{what}: kept rows are stale");
            assert_eq!(again["rows"], fresh["rows"], "{what}");
            assert_eq!(kept["total"], fresh["total"], "{what}");
            kept
        }
    };
    let v = check("first").await;
    assert_eq!(row(&v, &p1)["display"][&temp], "37.5 °C");

    let r = other
        .patch(
            &team(&format!("/patients/{p1}")),
            json!({"fields": {&temp: {"value": 39.1, "baseVersion": 1}}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let v = check("a field changed elsewhere").await;
    assert_eq!(row(&v, &p1)["display"][&temp], "39.1 °C");

    let r = other
        .post(
            &team(&format!("/patients/{p2}/notes")),
            json!({"body": "Seen by the registrar"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let v = check("a note written elsewhere").await;
    assert_eq!(row(&v, &p2)["latestNote"]["body"], "Seen by the registrar");

    let due = (time::OffsetDateTime::now_utc() + time::Duration::seconds(2))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let r = other
        .post(
            &team(&format!("/patients/{p2}/tasks")),
            json!({"body": "Bloods", "dueAt": due}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let v = check("a task added elsewhere").await;
    assert_eq!(row(&v, &p2)["tasks"]["overdue"], 0, "{}", row(&v, &p2));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let v = check("a task fallen due").await;
    assert_eq!(row(&v, &p2)["tasks"]["overdue"], 1, "{}", row(&v, &p2));

    let r = other
        .patch(&format!("{list}/columns/{temp}"), json!({"unit": "degC"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let v = check("a column's unit changed elsewhere").await;
    assert_eq!(row(&v, &p1)["display"][&temp], "39.1 degC");

    let r = other
        .post(
            &format!("{list}/patients"),
            json!({"fields": {"family": "Cole", "mrn": "K1"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let v = check("a patient added elsewhere").await;
    assert_eq!(v["rows"].as_array().unwrap().len(), 3);
    assert_eq!(
        row(&v, &p1)["duplicateMrn"],
        true,
        "the same MRN as the new one"
    );

    let r = other.delete(&format!("{list}/patients/{p1}")).await;
    assert!(r.status.is_success(), "{}", r.text);
    let v = check("a patient removed elsewhere").await;
    assert_eq!(row(&v, &p1), Value::Null);
    second.stop().await;
}
both!(kept_rows_follow_changes_made_on_another_instance);

/// The duplicate-MRN flag of a list's rows looks at the whole team (a
/// patient on another list only, changed on another instance) while the
/// list's own rows are kept; and each row counts its own patient's tasks.
async fn list_rows_see_duplicates_on_other_lists_and_own_tasks(backend: Backend) {
    let w = Ward::new(backend).await;
    let p1 = w
        .add(json!({"family": "Ames", "given": "Ann", "mrn": "D1"}))
        .await;
    let p2 = w
        .add(json!({"family": "Boyd", "given": "Bo", "mrn": "D2"}))
        .await;
    let r = w
        .charge
        .post(&w.path("/lists"), json!({"name": "Clinic"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let clinic = w.path(&format!("/lists/{}", r.body["id"].as_str().unwrap()));
    let second = w.app.spawn_sharing(rounds_app::AppConfig::default()).await;
    let other = second.client("charge").await;
    let flags = |view: &Value| -> Vec<(String, bool)> {
        view["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["patientId"].as_str().unwrap().to_owned(),
                    r["duplicateMrn"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    let (a, b) = (p1.clone(), p2.clone());
    let none = vec![(a.clone(), false), (b.clone(), false)];
    assert_eq!(flags(&w.view("").await), none);
    assert_eq!(flags(&w.view("").await), none, "kept");

    // A patient of the clinic list only, with Ames's MRN, added elsewhere.
    let r = other
        .post(
            &format!("{clinic}/patients"),
            json!({"fields": {"family": "Amis", "mrn": "D1"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let twin = r.body["row"]["patientId"].as_str().unwrap().to_owned();
    let flagged = vec![(a.clone(), true), (b.clone(), false)];
    assert_eq!(flags(&w.view("").await), flagged, "after the twin came");
    assert_eq!(flags(&w.view("").await), flagged, "kept after the twin");
    assert_eq!(flags(&w.view("sort=-name").await).len(), 2);
    assert!(flags(&w.view("sort=-name").await).contains(&(a.clone(), true)));

    // The twin's MRN corrected elsewhere: the flag goes.
    let r = other
        .patch(
            &w.path(&format!("/patients/{twin}")),
            json!({"fields": {"mrn": {"value": "D9", "baseVersion": 1}}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(flags(&w.view("").await), none, "after the correction");
    assert_eq!(flags(&w.view("").await), none, "kept after the correction");

    // Tasks: two for Boyd, one for Ames; each row counts its own.
    for (p, body) in [(&p2, "Bloods"), (&p2, "X-ray"), (&p1, "Fluids")] {
        let r = w
            .nurse
            .post(
                &w.path(&format!("/patients/{p}/tasks")),
                json!({ "body": body }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
    for query in ["", "sort=name", "sort=-tasks"] {
        let v = w.view(query).await;
        for r in v["rows"].as_array().unwrap() {
            let open = if r["patientId"] == p2.as_str() { 2 } else { 1 };
            assert_eq!(r["tasks"]["open"], open, "{query}: {r}");
            assert_eq!(r["display"]["tasks"], format!("{open} open"), "{query}");
        }
    }
    second.stop().await;
}
both!(list_rows_see_duplicates_on_other_lists_and_own_tasks);
/// The keys of the `COLUMN_TYPES` table in a served rounds.js, each with
/// the properties its entry sets (two-space keys, four-space properties).
fn column_type_table(script: &str) -> Vec<(String, Vec<String>)> {
    let start = script
        .find("export const COLUMN_TYPES = {")
        .unwrap_or_else(|| panic!("rounds.js has no COLUMN_TYPES table"));
    let body = &script[start..];
    let body = &body[..body.find("\n};").unwrap_or(body.len())];
    let mut table: Vec<(String, Vec<String>)> = Vec::new();
    for line in body.lines().skip(1) {
        let key = |indent: usize| {
            let rest = line.strip_prefix(&" ".repeat(indent))?;
            if rest.starts_with(' ') {
                return None;
            }
            let (name, _) = rest.split_once(':')?;
            name.chars()
                .all(|c| c.is_ascii_alphanumeric())
                .then(|| name.to_owned())
        };
        if let Some(name) = key(2) {
            table.push((name, Vec::new()));
        } else if let (Some(prop), Some(last)) = (key(4), table.last_mut()) {
            last.1.push(prop);
        }
    }
    table
}

/// Every team column type the server knows (the catalog, from
/// `ColumnType::ALL`) has its label and rules there, and an editor and a
/// filter in the browser's one table: a type added in rounds-core but not
/// in rounds.js fails here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_column_type_has_an_editor_and_a_filter_in_the_browser() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.user("nurse", false).await;
    let c = app.client("nurse").await;
    let r = c.get("/api/v1/catalog").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let types: Vec<Value> = r.body["columnTypes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = types.iter().filter_map(|t| t["type"].as_str()).collect();
    assert_eq!(
        names,
        ["text", "longText", "number", "date", "dateTime", "choice", "checkbox", "person"]
    );
    let of = |name: &str| {
        types
            .iter()
            .find(|t| t["type"] == name)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(of("dateTime")["label"], "Date and time");
    assert_eq!(of("number")["takesUnit"], true);
    assert_eq!(of("text")["takesUnit"], false);
    assert_eq!(of("choice")["takesOptions"], true);
    assert_eq!(of("person")["offeredOnImport"], false);
    assert_eq!(of("checkbox")["offeredOnImport"], true);

    let script = c.get("/static/rounds.js").await;
    assert_eq!(script.status, StatusCode::OK);
    let table = column_type_table(&script.text);
    for name in &names {
        let props = table
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, p)| p.clone())
            .unwrap_or_else(|| panic!("rounds.js COLUMN_TYPES has no entry for {name:?}"));
        for needed in ["input", "filter"] {
            assert!(
                props.iter().any(|p| p == needed),
                "COLUMN_TYPES.{name} has no {needed}: {props:?}"
            );
        }
    }
    let extra: Vec<&String> = table
        .iter()
        .map(|(k, _)| k)
        .filter(|k| !names.contains(&k.as_str()))
        .collect();
    assert!(
        extra.is_empty(),
        "COLUMN_TYPES has types the server does not: {extra:?}"
    );
}
