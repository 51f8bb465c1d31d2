//! Data in and out in a real browser (`tests/browser/data_flow.mjs`):
//! Chromium prints the list's sheet to PDF on A4 and Letter, read back here
//! with pdftotext and pdfinfo (Debian's poppler-utils, which scripts/test.sh
//! installs): every patient's name, the header again on page 2, the page
//! numbers, who printed it, landscape pages of the right size. Then the
//! import page: a problem by row and column, fixed by the mapping,
//! confirmed, the rows on the list; axe-clean; screenshots at 1440 and
//! 375 px in target/test-artifacts/.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::json;

use crate::browser::{browser_tools, run_script, Control};
use crate::common::{Backend, TestApp, PASSWORD};

/// Runs a poppler tool; its stdout.
fn poppler(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool).args(args).output().unwrap_or_else(|e| {
        panic!("cannot run {tool} ({e}): install Debian's poppler-utils (scripts/test.sh does)")
    });
    assert!(
        out.status.success(),
        "{tool}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const GIVEN: [&str; 9] = [
    "Ada", "Bea", "Cai", "Dov", "Eli", "Fen", "Gus", "Hal", "Ida",
];
const FAMILY: [&str; 5] = ["Aalto", "Berg", "Costa", "Dahl", "Eze"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_in_and_out_in_chromium() {
    let Some(tools) = browser_tools() else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.user("charge", false).await;
    let charge = app.client("charge").await;
    let team = charge.create_team("Ward 9").await;
    let list = charge.create_list(&team, "Night round").await;
    let path = |rest: &str| format!("/api/v1/teams/{team}/lists/{list}{rest}");
    for (label, kind) in [("Score", "number"), ("Plan", "text")] {
        let r = charge
            .post(&path("/columns"), json!({"label": label, "type": kind}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
    // 45 patients: more than one landscape page holds.
    let mut names = Vec::new();
    for (i, family) in FAMILY.iter().enumerate() {
        for (j, given) in GIVEN.iter().enumerate() {
            let family = format!("{family}{}", ["", "sen", "ton"][j % 3]);
            let r = charge
                .post(
                    &path("/patients"),
                    json!({"fields": {"family": family, "given": given, "mrn": format!("W-{i}{j}"), "bed": format!("{}", i * 9 + j + 1)}}),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
            names.push(format!("{}, {given}", family.to_uppercase()));
        }
    }

    let summary = run_script(
        &tools,
        "data_flow.mjs",
        &[
            ("ROUNDS_URL", app.url("")),
            ("ROUNDS_TEAM_ID", team.clone()),
            ("ROUNDS_LIST_ID", list.clone()),
            ("ROUNDS_USER", "charge".to_owned()),
            ("ROUNDS_PASSWORD", PASSWORD.to_owned()),
        ],
        Control::None,
    )
    .await;

    // The PDFs, read back by an independent reader.
    let pdfs: Vec<String> = summary["pdfs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(pdfs.len(), 2, "{summary}");
    // A4 and Letter, landscape, in points.
    for (pdf, size) in pdfs.iter().zip([(841.9, 595.3), (792.0, 612.0)]) {
        let info = poppler("pdfinfo", &[pdf]);
        let pages: usize = info
            .lines()
            .find_map(|l| l.strip_prefix("Pages:"))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("{info}"));
        assert!(pages >= 2, "{pdf}: {pages} page(s)");
        let page_size = info
            .lines()
            .find_map(|l| l.strip_prefix("Page size:"))
            .unwrap_or_default();
        let wh: Vec<f64> = page_size
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        assert!(
            wh.len() == 2 && (wh[0] - size.0).abs() < 2.0 && (wh[1] - size.1).abs() < 2.0,
            "{pdf}: landscape {size:?} pt, got {page_size}"
        );
        let text = poppler("pdftotext", &["-layout", pdf, "-"]);
        let by_page: Vec<&str> = text
            .split('\u{c}')
            .filter(|p| !p.trim().is_empty())
            .collect();
        assert_eq!(by_page.len(), pages, "{pdf}");
        for name in &names {
            assert!(text.contains(name.as_str()), "{pdf}: {name} is missing");
        }
        for (n, page) in by_page.iter().enumerate() {
            let n = n + 1;
            // The table's header again on every page, the footer with who
            // printed it, and the page number of the number of pages.
            assert!(
                page.contains("Name") && page.contains("MRN") && page.contains("Score"),
                "{pdf}: no header on page {n}:\n{page}"
            );
            assert!(
                page.contains("Printed by charge display"),
                "{pdf}: no footer on page {n}:\n{page}"
            );
            assert!(
                page.contains(&format!("Page {n} of {pages}")),
                "{pdf}: no page number on page {n}:\n{page}"
            );
        }
        assert!(by_page[0].contains("Night round"), "the list's name");
    }

    // The imported rows, as the API sees them.
    let rows = charge.get(&path("")).await.body["rows"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(rows.len(), 48);
    for shot in [
        "import-problem-1440.png",
        "import-ready-1440.png",
        "import-375.png",
    ] {
        let file = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../target/test-artifacts")
            .join(shot);
        let meta = std::fs::metadata(&file).expect("screenshot written");
        assert!(meta.len() > 10_000, "{shot} is suspiciously small");
    }
    app.stop().await;
}
