//! sekmet's own peer client against the gateway: `sekmet peers test` (token
//! from the gateway's token URL found by discovery, then metadata), and its
//! REST conformance scenario (create, read, conditional create, search,
//! If-Match updates, history, transaction, _include, XML, paging, delete)
//! through a tenant that allows writes.

use reqwest::StatusCode;
use serde_json::Value;

use crate::common::{sekmet_exe, Backend, Sekmet, TestGateway};

fn run_sekmet(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(sekmet_exe())
        .args(args)
        .current_dir(dir)
        .env("SEKMET_CONFIG", dir.join("settings.yaml"))
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sekmet_peer_client_through_the_gateway() {
    let t = TestGateway::start(Backend::Sqlite).await;
    t.add_hospitals().await;
    // A server of its own for the scenario, which writes.
    let scratch = tokio::task::spawn_blocking(|| {
        Sekmet::start("validation:\n  inbound: warn\n", &[("Scratch", 1)], None)
    })
    .await
    .unwrap();
    t.gw.tenants
        .put(
            &rounds_gateway::tenants::TenantInput {
                id: "w".into(),
                base_url: scratch.base.clone(),
                fhir_version: "4.0.1".into(),
                auth: rounds_gateway::tenants::UpstreamAuth::None,
                secret: None,
                allow_writes: true,
            },
            "admin",
            &t.gw.sealer,
        )
        .await
        .unwrap();
    let (id, secret, _) = t.client(&["a", "w"]).await;
    let dir = tempfile::tempdir().unwrap();
    let peer = |scope: &str| {
        format!(
            "    base_url: {}\n    auth:\n      type: client_credentials\n      client_id: \"{id}\"\n      client_secret: \"{secret}\"\n      scope: \"{scope}\"\n",
            t.url
        )
    };
    std::fs::write(
        dir.path().join("settings.yaml"),
        format!(
            "peers:\n  gw:\n{}  gww:\n{}",
            peer("system/*.read a"),
            peer("system/*.read system/*.write w")
        ),
    )
    .unwrap();
    let path = dir.path().to_owned();
    let out = tokio::task::spawn_blocking(move || run_sekmet(&path, &["peers", "test", "gw"]))
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|_| panic!("{stdout}"));
    assert_eq!(report["token"]["token_type"], "Bearer", "{report}");
    assert_eq!(report["metadata_status"], 200, "{report}");
    assert!(
        report["security"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "SMART-on-FHIR"),
        "{report}"
    );
    assert!(
        !stdout.contains(&crate::common::hospitals().a.address()),
        "{stdout}"
    );

    let path = dir.path().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        run_sekmet(
            &path,
            &[
                "scenario",
                "run",
                "conformance_smoke",
                "--peer",
                "gww",
                "--no-serve",
                "--report-dir",
                "reports",
            ],
        )
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("1/1 scenarios passed") || stdout.contains("=> PASSED"),
        "{stdout}"
    );
    // Its requests went through the gateway, audited under the client.
    let recs = t.gw.audit.search(&Default::default()).await.unwrap();
    assert!(
        recs.iter()
            .filter(|r| r.tenant_id.as_deref() == Some("w")
                && r.client_id.as_deref() == Some(id.as_str()))
            .count()
            >= 15
    );
    assert!(recs.iter().any(|r| r.method == "DELETE" && r.status < 300));
    // The read-only tenant still refuses a write.
    let ta = t.token(&id, &secret, "a").await;
    let (s, _, _) = t
        .send(
            t.http
                .delete(format!("{}/Patient/x", t.url))
                .bearer_auth(&ta),
        )
        .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    drop(scratch);
}
