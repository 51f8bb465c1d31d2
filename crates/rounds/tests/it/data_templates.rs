//! Team templates: each built-in template provisions a team whose lists,
//! columns (with choices and colours, EHR columns) and saved column sets
//! are as the template describes; a failed creation leaves nothing.
//!
//! (Over 500 lines: the scenarios of one feature, team templates; each test one
//! way a template is used or made.)

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

/// Runs `rounds ARGS --database-url URL`; (success, stdout, stderr).
fn rounds(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rounds"))
        .args(args)
        .args(["--database-url", &app.db.url])
        .output()
        .expect("run rounds");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const CARDIOLOGY_TOML: &str = r##"# A site's own template, as a file a site administrator installs.
id = "cardiology"
name = "Cardiology ward"
description = "Telemetry beds and the cath lab list."

[[columns]]
key = "rhythm"
label = "Rhythm"
type = "choice"
options = [{ label = "Sinus", color = "#2e7d32" }, { label = "AF", color = "#c62828" }]

[[columns]]
key = "troponin"
label = "Troponin"
type = "number"
unit = "ng/L"

[[lists]]
name = "Telemetry"
default = true
columns = ["name", "ageSex", "location", "rhythm", "heartRate", "troponin"]

[[lists]]
name = "Cath lab"
columns = ["name", "mrn", "rhythm"]

[[columnSets]]
name = "Monitoring"
columns = ["name", "rhythm", "heartRate", "bloodPressure"]
"##;

/// A site template installed from a file by the console: faults named by
/// line and column or by field, then offered on the new-team form and in
/// the API, and a team made from it is as the file says.
async fn site_template_installed_from_a_file(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.user("lead", false).await;
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_owned()
    };

    // A misspelt field: its line and column, and what is allowed.
    let typo = write(
        "typo.toml",
        &CARDIOLOGY_TOML.replace("unit = \"ng/L\"", "units = \"ng/L\""),
    );
    let (ok, _, err) = rounds(&app, &["team", "add-template", &typo]);
    assert!(!ok);
    assert!(
        err.contains("typo.toml") && err.contains("line 16") && err.contains("units"),
        "{err}"
    );
    // Broken JSON: where.
    let broken = write(
        "broken.json",
        "{\"id\": \"x\",\n \"name\": \"X\",\n \"lists\": [}\n",
    );
    let (ok, _, err) = rounds(&app, &["team", "add-template", &broken]);
    assert!(!ok);
    assert!(err.contains("line 3, column"), "{err}");
    // Reads, but does not check: the field and the fault.
    let unknown = write(
        "unknown.toml",
        &CARDIOLOGY_TOML.replace("\"mrn\", \"rhythm\"]", "\"mrn\", \"rythm\"]"),
    );
    let (ok, _, err) = rounds(&app, &["team", "add-template", &unknown]);
    assert!(!ok);
    assert!(
        err.contains("field lists") && err.contains("\"rythm\"") && err.contains("Cath lab"),
        "{err}"
    );
    let builtin_id = write(
        "icu.toml",
        &CARDIOLOGY_TOML.replace("id = \"cardiology\"", "id = \"icu\""),
    );
    let (ok, _, err) = rounds(&app, &["team", "add-template", &builtin_id]);
    assert!(!ok && err.contains("built-in"), "{err}");
    let lead = app.client("lead").await;
    assert_eq!(
        lead.get("/api/v1/team-templates")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        5,
        "nothing was installed"
    );

    // The good file installs, once; again only with --replace.
    let good = write("cardiology.toml", CARDIOLOGY_TOML);
    let (ok, out, err) = rounds(&app, &["team", "add-template", &good]);
    assert!(ok, "{err}");
    assert!(out.contains("installed site template cardiology"), "{out}");
    let (ok, _, err) = rounds(&app, &["team", "add-template", &good]);
    assert!(!ok && err.contains("replace"), "{err}");
    let (ok, out, _) = rounds(&app, &["team", "add-template", &good, "--replace"]);
    assert!(ok && out.contains("replaced"), "{out}");
    let (_, out, _) = rounds(&app, &["team", "templates"]);
    assert!(
        out.contains("cardiology\tCardiology ward\tTelemetry, Cath lab\tsite"),
        "{out}"
    );

    // Offered in the API and on the new-team form.
    let offered = lead.get("/api/v1/team-templates").await.body;
    let cardio = offered
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "cardiology")
        .expect("offered");
    assert_eq!(cardio["source"], "site");
    assert_eq!(cardio["lists"], json!(["Telemetry", "Cath lab"]));
    assert_eq!(offered[0]["source"], "builtin");
    let page = lead.get("/teams").await;
    assert!(
        page.text
            .contains("<option value=\"cardiology\">Cardiology ward (this site's)</option>"),
        "{}",
        page.text
    );

    // A team made from it, from the page's API.
    let r = lead
        .post(
            "/api/v1/teams/from-template",
            json!({"name": "Cardiology", "template": "cardiology"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let team = r.body["id"].as_str().unwrap();
    let lists = lead.get(&format!("/api/v1/teams/{team}/lists")).await.body;
    assert_eq!(lists[0]["name"], "Telemetry");
    assert_eq!(lists[0]["isDefault"], true);
    let view = lead
        .get(&format!(
            "/api/v1/teams/{team}/lists/{}",
            lists[0]["id"].as_str().unwrap()
        ))
        .await
        .body;
    let labels: Vec<&str> = view["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels[3], "Rhythm", "{labels:?}");
    assert_eq!(labels.len(), 6, "{labels:?}");
    let rhythm = &view["columns"][3];
    assert_eq!(rhythm["options"][1]["label"], "AF");
    assert_eq!(rhythm["options"][1]["color"], "#c62828");
    assert_eq!(view["columns"][5]["unit"], "ng/L");

    // Removed from the console: no longer offered.
    let (ok, out, _) = rounds(&app, &["team", "remove-template", "cardiology"]);
    assert!(ok && out.contains("removed"), "{out}");
    let (ok, _, err) = rounds(&app, &["team", "remove-template", "icu"]);
    assert!(!ok && err.contains("built-in"), "{err}");
    assert_eq!(
        lead.get("/api/v1/team-templates")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        5
    );
    app.stop().await;
}
both!(site_template_installed_from_a_file);

/// An owner saves the team's set-up as a template (API and page); a team
/// made from it has the same lists, columns and column sets, and nothing
/// of the patients.
async fn team_setup_saved_as_a_template(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.user("lead", false).await;
    app.user("helper", false).await;
    let lead = app.client("lead").await;
    let r = lead
        .post(
            "/api/v1/teams/from-template",
            json!({"name": "ICU 2", "template": "icu"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let team = r.body["id"].as_str().unwrap().to_owned();
    lead.post(
        &format!("/api/v1/teams/{team}/members"),
        json!({"username": "helper", "role": "member"}),
    )
    .await;
    let lists = lead.get(&format!("/api/v1/teams/{team}/lists")).await.body;
    let first = lists[0]["id"].as_str().unwrap().to_owned();
    let r = lead
        .post(
            &format!("/api/v1/teams/{team}/lists/{first}/columns"),
            json!({"label": "Sedation", "type": "choice", "options": [
                {"label": "Light", "color": "#2e7d32"}, {"label": "Deep", "color": "#1565c0"}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = lead
        .post(
            &format!("/api/v1/teams/{team}/lists/{first}/patients"),
            json!({"fields": {"family": "Secretname", "mrn": "S-1"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);

    // A member may not; the owner may.
    let helper = app.client("helper").await;
    let path = format!("/api/v1/teams/{team}/save-as-template");
    let r = helper.post(&path, json!({"name": "Not mine"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = lead
        .post(
            &path,
            json!({"name": "Our ICU", "description": "as we run it"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["id"], "our-icu");
    assert_eq!(r.body["source"], "site");
    assert_eq!(r.body["lists"], json!(["ICU beds", "Step-down"]));
    let r = lead.post(&path, json!({"name": "Our ICU"})).await;
    assert_eq!(
        r.status,
        StatusCode::CONFLICT,
        "the name is taken: {}",
        r.text
    );
    let r = lead.post(&path, json!({"name": "  "})).await;
    assert_eq!(
        (r.status, r.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "name")
    );

    // The same from the team page's form (owners see it, members do not).
    let page = lead.get(&format!("/teams/{team}")).await.text;
    assert!(page.contains("Save as a template"));
    let helper_page = helper.get(&format!("/teams/{team}")).await.text;
    assert!(!helper_page.contains("save-as-template"));
    let marker = "name=\"csrf_token\" value=\"";
    let start = page.find(marker).unwrap() + marker.len();
    let csrf = &page[start..start + page[start..].find('"').unwrap()];
    let resp = lead
        .http
        .post(format!("{}/teams/{team}/save-as-template", lead.base()))
        .form(&[
            ("csrf_token", csrf),
            ("name", "Page ICU"),
            ("description", ""),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_success() || resp.status().is_redirection(),
        "{}",
        resp.status()
    );
    let offered = lead.get("/api/v1/team-templates").await.body;
    assert!(offered
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["id"] == "page-icu"));
    // A refused name is said on the page, at the form.
    let resp = lead
        .http
        .post(format!("{}/teams/{team}/save-as-template", lead.base()))
        .form(&[("csrf_token", csrf), ("name", "Page ICU")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(resp.text().await.unwrap().contains("choose another name"));

    // A team from the saved template has the original's set-up.
    let r = lead
        .post(
            "/api/v1/teams/from-template",
            json!({"name": "ICU 3", "template": "our-icu"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let copy = r.body["id"].as_str().unwrap().to_owned();
    let shape = |team: String| {
        let lead = &lead;
        async move {
            let lists = lead.get(&format!("/api/v1/teams/{team}/lists")).await.body;
            let mut out = Vec::new();
            for l in lists.as_array().unwrap() {
                let view = lead
                    .get(&format!(
                        "/api/v1/teams/{team}/lists/{}",
                        l["id"].as_str().unwrap()
                    ))
                    .await
                    .body;
                let columns: Vec<Value> = view["columns"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|c| c["hidden"] != true)
                    .map(|c| {
                        let options: Vec<Value> = c["options"]
                            .as_array()
                            .map(|o| o.iter().map(|o| json!([o["label"], o["color"]])).collect())
                            .unwrap_or_default();
                        json!([c["label"], c["source"], c["type"], c["unit"], options])
                    })
                    .collect();
                out.push(json!({"name": l["name"], "default": l["isDefault"], "columns": columns, "rows": view["rows"].as_array().unwrap().len()}));
            }
            let sets = lead
                .get(&format!("/api/v1/teams/{team}/schemas"))
                .await
                .body;
            let sets: Vec<Value> = sets
                .as_array()
                .unwrap()
                .iter()
                .map(|s| json!([s["name"], s["columns"].as_array().unwrap().len()]))
                .collect();
            (out, sets)
        }
    };
    let (orig_lists, orig_sets) = shape(team.clone()).await;
    let (copy_lists, copy_sets) = shape(copy).await;
    assert_eq!(copy_sets, orig_sets);
    assert_eq!(copy_lists.len(), orig_lists.len());
    for (c, o) in copy_lists.iter().zip(&orig_lists) {
        assert_eq!(c["name"], o["name"]);
        assert_eq!(c["default"], o["default"]);
        assert_eq!(c["columns"], o["columns"], "{}", o["name"]);
        assert_eq!(c["rows"], 0, "no patients in a template");
    }
    assert!(orig_lists[0]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c[0] == "Sedation"));
    app.stop().await;
}
both!(team_setup_saved_as_a_template);
