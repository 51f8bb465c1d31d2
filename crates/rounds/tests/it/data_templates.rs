//! Team templates: each built-in template provisions a team whose lists,
//! columns (with choices and colours, EHR columns) and saved column sets
//! are as the template describes; a failed creation leaves nothing.

use reqwest::StatusCode;
use rounds_app::templates::builtin_templates;
use rounds_core::lists::{BuiltinColumn, EhrColumn};
use serde_json::{json, Value};

use crate::both;
use crate::common::{Backend, TestApp};

async fn every_builtin_template_provisions_its_team(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.user("lead", false).await;
    let lead = app.client("lead").await;
    let offered = lead.get("/api/v1/team-templates").await.body;
    let ids: Vec<&str> = offered
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "medical-ward",
            "icu",
            "surgical-ward",
            "emergency-department",
            "interdisciplinary-meeting"
        ]
    );
    for template in builtin_templates() {
        let r = lead
            .post(
                "/api/v1/teams/from-template",
                json!({"name": format!("Team {}", template.id), "template": template.id}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}: {}", template.id, r.text);
        let team = r.body["id"].as_str().unwrap().to_owned();
        let lists = lead.get(&format!("/api/v1/teams/{team}/lists")).await.body;
        let names: Vec<&str> = lists
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["name"].as_str().unwrap())
            .collect();
        let wanted: Vec<&str> = template.lists.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, wanted, "{}", template.id);
        let default = template.lists.iter().position(|l| l.default).unwrap_or(0);
        assert_eq!(lists[default]["isDefault"], true, "{}", template.id);
        for (i, tl) in template.lists.iter().enumerate() {
            let id = lists[i]["id"].as_str().unwrap();
            let view = lead
                .get(&format!("/api/v1/teams/{team}/lists/{id}"))
                .await
                .body;
            let columns = view["columns"].as_array().unwrap();
            let labels: Vec<&str> = columns
                .iter()
                .map(|c| c["label"].as_str().unwrap())
                .collect();
            let expected: Vec<String> = tl
                .columns
                .iter()
                .map(|k| {
                    template
                        .columns
                        .iter()
                        .find(|c| &c.key == k)
                        .map(|c| c.label.clone())
                        .or_else(|| BuiltinColumn::from_key(k).map(|b| b.label().to_owned()))
                        .or_else(|| EhrColumn::from_key(k).map(|e| e.label().to_owned()))
                        .unwrap()
                })
                .collect();
            assert_eq!(labels, expected, "{} / {}", template.id, tl.name);
            // Team columns with their types, units, choices and colours.
            for c in columns.iter().filter(|c| c["source"] == "team") {
                let t = template
                    .columns
                    .iter()
                    .find(|t| t.label == c["label"].as_str().unwrap())
                    .unwrap();
                assert_eq!(c["type"], t.kind.as_str(), "{}", t.label);
                assert_eq!(c["unit"], json!(t.unit), "{}", t.label);
                let options: Vec<(String, String)> = c["options"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|o| {
                        (
                            o["label"].as_str().unwrap().to_owned(),
                            o["color"].as_str().unwrap().to_owned(),
                        )
                    })
                    .collect();
                let want: Vec<(String, String)> = t
                    .options
                    .iter()
                    .map(|o| (o.label.clone(), o.color.clone()))
                    .collect();
                assert_eq!(options, want, "{}", t.label);
            }
            assert!(
                columns.iter().any(|c| c["source"] == "ehr")
                    || tl.columns.iter().all(|k| EhrColumn::from_key(k).is_none()),
                "EHR columns are on the list"
            );
        }
        let sets = lead
            .get(&format!("/api/v1/teams/{team}/schemas"))
            .await
            .body;
        let set_names: Vec<&str> = sets
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        let mut want: Vec<&str> = template
            .column_sets
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        let mut got = set_names.clone();
        want.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, want, "{}", template.id);
        for s in sets.as_array().unwrap() {
            let t = template
                .column_sets
                .iter()
                .find(|t| t.name == s["name"].as_str().unwrap())
                .unwrap();
            assert_eq!(s["columns"].as_array().unwrap().len(), t.columns.len());
        }
    }
    // The creation is recorded with the template.
    let admin = app.admin().await;
    let created = admin.audit("operation=TeamCreate&username=lead").await;
    assert_eq!(created.len(), 5);
    let detail = |r: &Value| match &r["detail"] {
        Value::String(s) => serde_json::from_str::<Value>(s).unwrap(),
        other => other.clone(),
    };
    assert!(created.iter().any(|r| detail(r)["template"] == "icu"));

    // An unknown template is named; a taken name leaves nothing behind.
    let r = lead
        .post(
            "/api/v1/teams/from-template",
            json!({"name": "Other", "template": "zoo"}),
        )
        .await;
    assert_eq!(
        (r.status, r.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "template")
    );
    let r = lead
        .post(
            "/api/v1/teams/from-template",
            json!({"name": "Team icu", "template": "icu"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    let teams = lead.get("/api/v1/teams").await.body;
    assert_eq!(teams.as_array().unwrap().len(), 5);
    // The new-team form offers the templates.
    let page = lead.get("/teams").await;
    assert!(page
        .text
        .contains("<option value=\"icu\">Intensive care unit</option>"));
    app.stop().await;
}
both!(every_builtin_template_provisions_its_team);

/// `rounds team create --template` provisions the same team from the console.
async fn console_creates_a_team_from_a_template(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.user("lead", false).await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rounds"))
        .args([
            "team",
            "create",
            "Ward from console",
            "--owner",
            "lead",
            "--template",
            "emergency-department",
            "--database-url",
            &app.db.url,
        ])
        .output()
        .expect("run rounds");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lead = app.client("lead").await;
    let teams = lead.get("/api/v1/teams").await.body;
    let team = teams[0]["id"].as_str().unwrap();
    let lists = lead.get(&format!("/api/v1/teams/{team}/lists")).await.body;
    assert_eq!(lists[0]["name"], "Department board");
    assert_eq!(lists.as_array().unwrap().len(), 2);
    let listed = std::process::Command::new(env!("CARGO_BIN_EXE_rounds"))
        .args(["team", "templates", "--database-url", &app.db.url])
        .output()
        .expect("run rounds");
    assert!(String::from_utf8_lossy(&listed.stdout).contains("icu\tIntensive care unit"));
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_rounds"))
        .args([
            "team",
            "create",
            "X",
            "--owner",
            "lead",
            "--template",
            "zoo",
            "--database-url",
            &app.db.url,
        ])
        .output()
        .expect("run rounds");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("zoo"));
    app.stop().await;
}
both!(console_creates_a_team_from_a_template);
