//! The per-patient access report lists exactly the accesses made to one
//! patient: views, searches, edits, exports and a refused reach.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both;
use crate::common::Backend;
use crate::data_export::Ward;

fn summary(report: &Value) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = report["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["record"]["actorUsername"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
                e["action"].as_str().unwrap().to_owned(),
                e["record"]["operation"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

async fn access_report_lists_every_access(backend: Backend) {
    let w = Ward::new(backend).await;
    let admin = w.app.admin().await;
    let zola = w.add(json!({"family": "Zola", "mrn": "M-1"})).await;
    let other = w.add(json!({"family": "Other", "mrn": "M-2"})).await;
    let team_path = |rest: &str| format!("/api/v1/teams/{}{rest}", w.team);
    // The owner opens Zola; the nurse searches, edits and exports.
    assert_eq!(
        w.charge
            .get(&team_path(&format!("/patients/{zola}")))
            .await
            .status,
        StatusCode::OK
    );
    let found = w.nurse.get(&team_path("/patients?q=zola")).await;
    assert_eq!(found.status, StatusCode::OK);
    let r = w
        .nurse
        .patch(
            &team_path(&format!("/patients/{zola}")),
            json!({"fields": {"bed": {"value": "4", "baseVersion": 0}}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = w.nurse.get(&w.list_path("/export?format=csv")).await;
    assert_eq!(r.status, StatusCode::OK);
    // Someone of another team reaches for Zola through their own team.
    w.app.user("stranger", false).await;
    let stranger = w.app.client("stranger").await;
    let theirs = stranger.create_team("Ward 9").await;
    let r = stranger
        .get(&format!("/api/v1/teams/{theirs}/patients/{zola}"))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Accesses to the other patient are not Zola's.
    w.charge
        .get(&team_path(&format!("/patients/{other}")))
        .await;

    let path = format!("/api/v1/audit/patient-access?patientId={zola}");
    let expected = vec![
        (
            "charge".to_owned(),
            "viewed".to_owned(),
            "PatientView".to_owned(),
        ),
        ("nurse".into(), "edited".into(), "PatientDetailsEdit".into()),
        (
            "nurse".into(),
            "edited".into(),
            "PatientListAddPatient".into(),
        ),
        ("nurse".into(), "exported".into(), "ExportInitiation".into()),
        ("nurse".into(), "searched".into(), "PatientSearch".into()),
        ("nurse".into(), "viewed".into(), "PatientListView".into()),
        ("stranger".into(), "refused".into(), "AccessRefused".into()),
    ];
    // The refusal is recorded in the background: wait for it.
    let mut report = Value::Null;
    for _ in 0..50 {
        report = admin.get(&path).await.body;
        if summary(&report).len() >= expected.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(summary(&report), expected, "{report:#}");
    for e in report["entries"].as_array().unwrap() {
        assert!(e["record"]["time"].as_str().is_some_and(|t| !t.is_empty()));
        assert_eq!(e["record"]["clientAddr"], "127.0.0.1");
    }
    assert_eq!(report["patients"][0]["teamId"], w.team.as_str());

    // As CSV, itself recorded; the page shows it; members may not see it.
    let csv = admin.get(&format!("{path}&format=csv")).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.text.starts_with('\u{feff}'));
    assert_eq!(csv.text.lines().count(), expected.len() + 1);
    let exports = admin
        .audit("operation=ExportInitiation&username=root")
        .await;
    assert_eq!(exports.len(), 1);
    let page = admin
        .get(&format!("/admin/audit/patient?patientId={zola}"))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("stranger") && page.text.contains("refused"));
    assert_eq!(w.nurse.get(&path).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        w.nurse
            .get(&format!("/admin/audit/patient?patientId={zola}"))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let bad = admin.get("/api/v1/audit/patient-access").await;
    assert_eq!(
        (bad.status, bad.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "patientId")
    );
    w.app.stop().await;
}
both!(access_report_lists_every_access);
