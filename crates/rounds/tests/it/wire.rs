//! Bytes on the wire: JSON and static files compressed as the client
//! accepts (gzip, brotli), never the live feed nor an answer carrying a
//! secret (pages, the session); static files under content-hashed names,
//! cached for a year, imports between them naming the hashed files.

use reqwest::StatusCode;
use serde_json::json;

use crate::both;
use crate::common::{Backend, TestApp};

/// A hashed static path named in `text` for `stem` (`list` → `/static/list.<hash>.js`).
fn hashed_path(text: &str, stem: &str, ext: &str) -> Option<String> {
    text.split(&format!("\"/static/{stem}."))
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .find(|tail| {
            tail.strip_suffix(&format!(".{ext}"))
                .is_some_and(|h| h.len() == 10 && h.chars().all(|c| c.is_ascii_hexdigit()))
        })
        .map(|tail| format!("/static/{stem}.{tail}"))
}

async fn wire_and_static_files(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.user("nurse", false).await;
    let nurse = app.client("nurse").await;
    let team = nurse.create_team("Ward 9").await;
    let r = nurse
        .post(
            &format!("/api/v1/teams/{team}/lists"),
            json!({"name": "Ward 9 list"}),
        )
        .await;
    let list = r.body["id"].as_str().unwrap().to_owned();
    for i in 0..20 {
        let r = nurse
            .post(
                &format!("/api/v1/teams/{team}/lists/{list}/patients"),
                json!({"fields": {"family": format!("Family{i}"), "given": "Given", "mrn": format!("M{i:04}")}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
    let get = |path: String, encoding: &'static str| {
        nurse
            .http
            .get(app.url(&path))
            .header("Accept-Encoding", encoding)
            .send()
    };
    let encoding = |r: &reqwest::Response| {
        r.headers()
            .get("content-encoding")
            .map(|v| v.to_str().unwrap().to_owned())
    };

    // JSON: compressed as asked, and smaller.
    let api = format!("/api/v1/teams/{team}/lists/{list}");
    let plain = get(api.clone(), "identity").await.unwrap();
    assert_eq!(encoding(&plain), None);
    let plain = plain.bytes().await.unwrap();
    for enc in ["gzip", "br"] {
        let r = get(api.clone(), enc).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(encoding(&r).as_deref(), Some(enc), "{enc}");
        let packed = r.bytes().await.unwrap();
        assert!(
            packed.len() * 3 < plain.len(),
            "{enc}: {} of {} bytes",
            packed.len(),
            plain.len()
        );
        if enc == "gzip" {
            assert_eq!(&packed[..2], &[0x1f, 0x8b], "a gzip stream");
        }
    }

    // The page: never compressed (it carries the CSRF token), and it names
    // its script and style sheet by hashed names.
    let page = get(format!("/teams/{team}/lists/{list}"), "gzip, br")
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(encoding(&page), None, "a page is never compressed");
    let html = page.text().await.unwrap();
    let script = hashed_path(&html, "list", "js").unwrap_or_else(|| panic!("{html}"));
    assert!(hashed_path(&html, "style", "css").is_some(), "{html}");
    assert!(!html.contains("\"/static/list.js\""), "{html}");

    // The hashed script: a year's cache, compressed, its imports hashed.
    let r = get(script.clone(), "identity").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let text = r.text().await.unwrap();
    assert!(hashed_path(&text, "live", "js").is_some(), "{text}");
    assert!(!text.contains("\"/static/live.js\""), "{text}");
    let r = get(script.clone(), "br").await.unwrap();
    assert_eq!(encoding(&r).as_deref(), Some("br"));
    // The plain name still answers, with a short cache.
    let r = get("/static/list.js".into(), "identity").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "public, max-age=300");
    // A hash that is not the current one is not found.
    let r = get("/static/list.0123456789.js".into(), "identity")
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // The session answer carries the CSRF token: never compressed.
    let r = get("/api/v1/me".into(), "gzip, br").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().contains_key("content-type"));
    assert_eq!(encoding(&r), None, "the session answer is never compressed");

    // The live feed: never compressed.
    let r = get(format!("{api}/events"), "gzip, br").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    assert_eq!(encoding(&r), None, "the live feed is never compressed");
    drop(r);
    app.stop().await;
}
both!(wire_and_static_files);
