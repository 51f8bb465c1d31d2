//! Bytes on the wire: JSON, static files and pages compressed as the
//! client accepts (gzip, brotli), never the live feed nor the session
//! answers, and a page only when the browser says Rounds or the person
//! asked for it; the CSRF token on a page masked afresh each time; static
//! files under content-hashed names, cached for a year, imports between
//! them naming the hashed files.

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
    let list = nurse.create_list(&team, "Ward 9 list").await;
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

    // The page: uncompressed unless the browser says the request came from
    // Rounds itself or the person (Sec-Fetch-Site same-origin or none), and
    // it names its script and style sheet by hashed names.
    let page_path = format!("/teams/{team}/lists/{list}");
    let page = get(page_path.clone(), "gzip, br").await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(
        encoding(&page),
        None,
        "a client that does not say where from"
    );
    let html = page.text().await.unwrap();
    for site in ["cross-site", "same-site"] {
        let r = nurse
            .http
            .get(app.url(&page_path))
            .header("Accept-Encoding", "gzip, br")
            .header("Sec-Fetch-Site", site)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(encoding(&r), None, "another site's request: uncompressed");
    }
    let raw_token = nurse.csrf.clone().unwrap();
    for site in ["same-origin", "none"] {
        let r = nurse
            .http
            .get(app.url(&page_path))
            .header("Accept-Encoding", "gzip")
            .header("Sec-Fetch-Site", site)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(encoding(&r).as_deref(), Some("gzip"), "{site}");
        let vary: Vec<String> = r
            .headers()
            .get_all("vary")
            .iter()
            .map(|v| v.to_str().unwrap().to_ascii_lowercase())
            .collect();
        assert!(
            vary.iter().any(|v| v.contains("sec-fetch-site")),
            "{vary:?}"
        );
        let packed = r.bytes().await.unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&packed[..]), &mut text)
            .unwrap();
        assert!(
            packed.len() * 3 < text.len(),
            "{} of {}",
            packed.len(),
            text.len()
        );
        assert!(text.to_lowercase().contains("family19"), "the whole page");
        // What it carries is a masked token, never the session's own.
        assert!(text.contains("name=\"csrf-token\""));
        assert!(
            !text.contains(&raw_token),
            "the page carries the bare CSRF token"
        );
    }
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

/// The masked CSRF token of a page (its `csrf-token` meta).
fn page_token(html: &str) -> String {
    html.split("<meta name=\"csrf-token\" content=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no csrf-token in {html}"))
        .to_owned()
}

/// Every page carries the CSRF token masked afresh (pad || token XOR pad):
/// each verifies, in a header and in a form; one altered, one of another
/// session, or one of a session that ended is refused.
async fn csrf_token_masked_per_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.user("nurse", false).await;
    app.user("porter", false).await;
    let nurse = app.client("nurse").await;
    let porter = app.client("porter").await;
    let raw = nurse.csrf.clone().unwrap();
    let page = |c: &crate::common::Client| {
        let req = c.http.get(app.url("/teams"));
        async move { req.send().await.unwrap().text().await.unwrap() }
    };
    let a = page_token(&page(&nurse).await);
    let b = page_token(&page(&nurse).await);
    assert_ne!(a, b, "a fresh mask per page");
    assert_ne!(a, raw);
    assert!(!a.contains(&raw));
    let create = |c: &crate::common::Client, token: String, name: &'static str| {
        let req = c
            .http
            .post(app.url("/api/v1/teams"))
            .header("X-CSRF-Token", token)
            .json(&json!({ "name": name }));
        async move { req.send().await.unwrap().status() }
    };
    assert_eq!(
        create(&nurse, a.clone(), "Ward A").await,
        StatusCode::CREATED
    );
    assert_eq!(
        create(&nurse, b.clone(), "Ward B").await,
        StatusCode::CREATED
    );
    // The session's own token still does (API clients have it from sign-in).
    assert_eq!(
        create(&nurse, raw.clone(), "Ward C").await,
        StatusCode::CREATED
    );
    // Altered anywhere: refused.
    for i in [0, a.len() / 2, a.len() - 2] {
        let mut bytes = a.clone().into_bytes();
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(bytes).unwrap();
        assert_eq!(
            create(&nurse, altered, "Ward X").await,
            StatusCode::FORBIDDEN,
            "{i}"
        );
    }
    assert_eq!(
        create(&nurse, a[..a.len() - 4].to_owned(), "Ward X").await,
        StatusCode::FORBIDDEN
    );
    // Another session's masked token: refused.
    let p = page_token(&page(&porter).await);
    assert_eq!(
        create(&nurse, p.clone(), "Ward X").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        create(&porter, a.clone(), "Ward X").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(create(&porter, p, "Ward P").await, StatusCode::CREATED);
    // A form carries it too: signing out with a masked token works...
    let r = nurse
        .http
        .post(app.url("/sign-out"))
        .form(&[("csrf_token", b.as_str())])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    // ...and a token of that ended session, replayed on the next one, is refused.
    let mut again = crate::common::Client::new(&app);
    let r = again.sign_in("nurse", crate::common::PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        create(&again, a.clone(), "Ward X").await,
        StatusCode::FORBIDDEN
    );
    let fresh = page_token(&page(&again).await);
    assert_eq!(create(&again, fresh, "Ward D").await, StatusCode::CREATED);
    // None of the refused ones made a team.
    let teams = again.get("/api/v1/teams").await;
    let names: Vec<&str> = teams
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(!names.contains(&"Ward X"), "{names:?}");
    app.stop().await;
}
both!(csrf_token_masked_per_page);
