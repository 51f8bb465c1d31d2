//! The admin page in a real browser: headless Chromium driven by
//! playwright-core from `tests/browser/admin_flow.mjs` against a real
//! gateway (a site administrator maps a tenant, registers a client and sees
//! its secret once, rotates and revokes, disables, enables and deletes it;
//! axe-core finds no serious or critical violation). Needs
//! `ROUNDS_TEST_CHROMIUM` and `ROUNDS_TEST_NODE_MODULES` (playwright-core
//! and axe-core), which scripts/test.sh installs and sets with
//! `ROUNDS_TEST_BROWSER_REQUIRED=1`; without them a plain `cargo test` says
//! the test was skipped.

use std::path::PathBuf;
use std::process::Command;

use crate::common::{Backend, TestGateway};

fn setting(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_page_in_chromium() {
    let required = setting("ROUNDS_TEST_BROWSER_REQUIRED").is_some_and(|v| v == "1");
    let (Some(chromium), Some(modules)) = (
        setting("ROUNDS_TEST_CHROMIUM"),
        setting("ROUNDS_TEST_NODE_MODULES"),
    ) else {
        assert!(
            !required,
            "the browser test needs ROUNDS_TEST_CHROMIUM and ROUNDS_TEST_NODE_MODULES"
        );
        eprintln!("skipped: run scripts/test.sh (it installs chromium and playwright-core)");
        return;
    };
    for needed in ["playwright-core", "axe-core/axe.min.js"] {
        assert!(
            PathBuf::from(&modules).join(needed).exists(),
            "no {needed} in ROUNDS_TEST_NODE_MODULES={modules}"
        );
    }
    let t = TestGateway::start(Backend::Sqlite).await;
    let (_, key) =
        t.gw.registry
            .create_admin_token("site administrator")
            .await
            .unwrap();
    let upstream = "http://127.0.0.1:9/fhir";
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let artifacts = manifest.join("../../target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let node = setting("ROUNDS_TEST_NODE").unwrap_or_else(|| "node".into());
    let script = manifest.join("tests/browser/admin_flow.mjs");
    let url = t.url.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(&node)
            .arg(&script)
            .env("GATEWAY_URL", url)
            .env("GATEWAY_ADMIN_KEY", key)
            .env("GATEWAY_UPSTREAM", upstream)
            .env("ROUNDS_CHROMIUM", chromium)
            .env("ROUNDS_NODE_MODULES", modules)
            .env("ROUNDS_ARTIFACTS", artifacts)
            .output()
            .unwrap_or_else(|e| panic!("cannot start {node} (Node.js is needed): {e}"))
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stderr}");
    assert!(
        output.status.success(),
        "the browser run failed:\n{stderr}\n{stdout}"
    );
    let summary: serde_json::Value = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no summary from the browser run: {stdout}"));
    assert_eq!(summary["ok"], true, "{summary}");
    // What the page did is in the registry.
    let tenant = t.gw.tenants.get("hospital-a").await.unwrap().unwrap();
    assert_eq!(tenant.base_url, upstream);
    let client_id = summary["clientId"].as_str().unwrap();
    assert!(t.gw.registry.client(client_id).await.unwrap().is_none());
    // The token requests the page's actions caused are in the audit log.
    let records =
        t.gw.audit
            .search(&rounds_gateway::audit::AuditFilter {
                client_id: Some(client_id.to_owned()),
                ..Default::default()
            })
            .await
            .unwrap();
    assert!(
        records.iter().any(|r| r.outcome == "issued")
            && records.iter().any(|r| r.outcome != "issued"),
        "{records:?}"
    );
}
