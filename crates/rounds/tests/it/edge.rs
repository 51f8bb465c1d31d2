//! The server's edge: which client address is believed behind proxies, and
//! how long a connection may take over its headers and body.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use rounds_app::AppConfig;
use rounds_web::{ServerLimits, WebConfig};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::both;
use crate::common::{Backend, TestApp, PASSWORD};

fn behind_proxy(trusted: &[&str]) -> WebConfig {
    WebConfig {
        trust_forwarded_for: true,
        trusted_proxies: trusted.iter().map(|n| n.parse().unwrap()).collect(),
        ..WebConfig::default()
    }
}

/// A sign-in through the API with the X-Forwarded-For value a proxy passed on.
async fn sign_in_via(
    app: &TestApp,
    forwarded: &[u8],
    username: &str,
    password: &str,
) -> StatusCode {
    reqwest::Client::new()
        .post(app.url("/api/v1/session"))
        .header(
            "x-forwarded-for",
            reqwest::header::HeaderValue::from_bytes(forwarded).unwrap(),
        )
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
}

/// The addresses of the sign-in records, oldest first.
async fn sign_in_addresses(app: &TestApp) -> Vec<Value> {
    let auditor = app.client("auditor").await;
    let mut records = auditor.audit("limit=500").await;
    records.reverse();
    records
        .into_iter()
        .filter(|r| {
            r["operation"]
                .as_str()
                .is_some_and(|o| o.starts_with("SignIn"))
        })
        .map(|r| r["clientAddr"].clone())
        .collect()
}

/// Behind one proxy (nginx's `$proxy_add_x_forwarded_for`), the client
/// chooses the left of the header and the proxy appends the address it saw:
/// rotating the left part neither dodges the per-address limit nor reaches
/// the audit log.
async fn forwarded_for_takes_the_proxy_appended_entry(backend: Backend) {
    let config = AppConfig {
        signin_max_failures_per_address: 4,
        ..AppConfig::default()
    };
    let app = TestApp::spawn_web(backend, config, behind_proxy(&[])).await;
    app.user("auditor", true).await;
    for i in 0..4 {
        let header = format!("203.0.113.{i}, 198.51.100.20");
        let status = sign_in_via(
            &app,
            header.as_bytes(),
            &format!("nobody{i}"),
            "wrong password here",
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // A fifth spoofed left entry is still the same client: locked.
    let status = sign_in_via(&app, b"203.0.113.99, 198.51.100.20", "auditor", PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Another client behind the same proxy is not.
    let status = sign_in_via(&app, b"203.0.113.0, 198.51.100.21", "auditor", PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    // Garbage, also bytes that are not text, costs nothing and records the peer.
    for junk in [
        &b"garbage"[..],
        b"203.0.113.5, \xff\xfe",
        b"999.1.1.1",
        b",,,",
        b"[::1",
    ] {
        let status = sign_in_via(&app, junk, "auditor", PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{junk:?}");
    }
    // With a non-text left entry the proxy's entry still counts.
    let status = sign_in_via(&app, b"\xff\xfe, 198.51.100.22", "auditor", PASSWORD).await;
    assert_eq!(status, StatusCode::OK);

    let addrs = sign_in_addresses(&app).await;
    let want: Vec<Value> = [
        "198.51.100.20",
        "198.51.100.20",
        "198.51.100.20",
        "198.51.100.20",
        "198.51.100.20",
        "198.51.100.21",
        "127.0.0.1",
        "127.0.0.1",
        "127.0.0.1",
        "127.0.0.1",
        "127.0.0.1",
        "198.51.100.22",
        // The auditor's own sign-in (no header).
        "127.0.0.1",
    ]
    .iter()
    .map(|a| json!(a))
    .collect();
    assert_eq!(addrs, want);
    app.stop().await;
}
both!(forwarded_for_takes_the_proxy_appended_entry);

/// With the proxies' ranges configured, their entries are skipped from the
/// right; a peer outside them is believed over any header.
async fn forwarded_for_skips_configured_proxies(backend: Backend) {
    // Two hops: a load balancer at 192.168.9.3, then a proxy on 127.0.0.1.
    let app = TestApp::spawn_web(
        backend,
        AppConfig::default(),
        behind_proxy(&["127.0.0.0/8", "192.168.9.0/24"]),
    )
    .await;
    app.user("auditor", true).await;
    let status = sign_in_via(
        &app,
        b"203.0.113.7, 198.51.100.20, 192.168.9.3",
        "auditor",
        PASSWORD,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let status = sign_in_via(
        &app,
        b"198.51.100.30:4711, 192.168.9.3",
        "auditor",
        PASSWORD,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let addrs = sign_in_addresses(&app).await;
    assert_eq!(addrs[..2], [json!("198.51.100.20"), json!("198.51.100.30")]);
    app.stop().await;

    // Configured ranges that leave out the peer: the header is ignored.
    let app =
        TestApp::spawn_web(backend, AppConfig::default(), behind_proxy(&["10.0.0.0/8"])).await;
    app.user("auditor", true).await;
    let status = sign_in_via(&app, b"198.51.100.20", "auditor", PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sign_in_addresses(&app).await[0], json!("127.0.0.1"));
    app.stop().await;
}
both!(forwarded_for_skips_configured_proxies);

fn short_limits(max_connections: usize) -> WebConfig {
    WebConfig {
        limits: ServerLimits {
            header_read_timeout: Duration::from_secs(1),
            body_read_timeout: Duration::from_secs(1),
            max_connections,
        },
        ..WebConfig::default()
    }
}

/// Reads until the server closes the connection (or `limit` passes);
/// returns what came and how long it took.
async fn read_until_closed(
    what: &str,
    stream: &mut TcpStream,
    limit: Duration,
) -> (String, Duration) {
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((started + limit).into(), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!(
                "{what}: still open after {limit:?}; got {:?}",
                String::from_utf8_lossy(&got)
            ),
        }
    }
    (
        String::from_utf8_lossy(&got).into_owned(),
        started.elapsed(),
    )
}

/// A connection that stops halfway through its headers, or through a body
/// shorter than its Content-Length, is closed once the timeout passes.
async fn slow_clients_are_cut_off(backend: Backend) {
    let app = TestApp::spawn_web(backend, AppConfig::default(), short_limits(64)).await;
    // Partial headers.
    let mut partial = TcpStream::connect(app.addr).await.unwrap();
    partial
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: rounds\r\nX-Slow: ")
        .await
        .unwrap();
    let (_, took) = read_until_closed("partial", &mut partial, Duration::from_secs(5)).await;
    assert!(took >= Duration::from_millis(900), "closed after {took:?}");

    // Nothing at all after connecting.
    let mut silent = TcpStream::connect(app.addr).await.unwrap();
    let (_, took) = read_until_closed("silent", &mut silent, Duration::from_secs(5)).await;
    assert!(took >= Duration::from_millis(900), "closed after {took:?}");

    // A body shorter than announced.
    let mut short = TcpStream::connect(app.addr).await.unwrap();
    short
        .write_all(
            b"POST /api/v1/session HTTP/1.1\r\nHost: rounds\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"username\": \"a",
        )
        .await
        .unwrap();
    let (answer, took) = read_until_closed("short", &mut short, Duration::from_secs(5)).await;
    assert!(took >= Duration::from_millis(900), "closed after {took:?}");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 4"),
        "{answer}"
    );

    // A kept-alive connection that sends no further request.
    let mut idle = TcpStream::connect(app.addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: rounds\r\n\r\n")
        .await
        .unwrap();
    let (answer, took) = read_until_closed("idle", &mut idle, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(took >= Duration::from_millis(900), "closed after {took:?}");

    // A complete request on a fresh connection is answered at once.
    let mut ok = TcpStream::connect(app.addr).await.unwrap();
    ok.write_all(b"GET /healthz HTTP/1.1\r\nHost: rounds\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (answer, took) = read_until_closed("ok", &mut ok, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(took < Duration::from_millis(900), "{took:?}");
    app.stop().await;
}
both!(slow_clients_are_cut_off);

/// Beyond the connection cap a connection waits until one closes; the
/// connections already served keep working.
async fn connections_beyond_the_cap_wait(backend: Backend) {
    let mut web = short_limits(2);
    web.limits.header_read_timeout = Duration::from_secs(30);
    let app = TestApp::spawn_web(backend, AppConfig::default(), web).await;
    let request = b"GET /healthz HTTP/1.1\r\nHost: rounds\r\n\r\n";
    async fn answer(stream: &mut TcpStream) -> String {
        let mut buf = [0u8; 2048];
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
    let mut first = TcpStream::connect(app.addr).await.unwrap();
    let mut second = TcpStream::connect(app.addr).await.unwrap();
    for s in [&mut first, &mut second] {
        s.write_all(request).await.unwrap();
        assert!(answer(s).await.starts_with("HTTP/1.1 200"));
    }
    // The third connects (the kernel accepts it) but is not served yet.
    let mut third = TcpStream::connect(app.addr).await.unwrap();
    third.write_all(request).await.unwrap();
    let mut buf = [0u8; 2048];
    let waited = tokio::time::timeout(Duration::from_millis(700), third.read(&mut buf)).await;
    assert!(
        waited.is_err(),
        "the third connection was served beyond the cap"
    );
    // The first two still work (kept alive).
    for s in [&mut first, &mut second] {
        s.write_all(request).await.unwrap();
        assert!(answer(s).await.starts_with("HTTP/1.1 200"));
    }
    // Once one closes, the third is served.
    drop(first);
    assert!(answer(&mut third).await.starts_with("HTTP/1.1 200"));
    app.stop().await;
}
both!(connections_beyond_the_cap_wait);

/// A live feed outlasts the header and body timeouts.
async fn live_feeds_outlast_the_timeouts(backend: Backend) {
    let app = TestApp::spawn_web(backend, AppConfig::default(), short_limits(64)).await;
    app.user("nurse", false).await;
    let nurse = app.client("nurse").await;
    let team = nurse.create_team("Ward 3").await;
    let list = nurse
        .post(
            &format!("/api/v1/teams/{team}/lists"),
            json!({"name": "Round"}),
        )
        .await;
    let list = list.body["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/teams/{team}/lists/{list}");
    let mut events = nurse.events(&format!("{path}/events"), None).await;
    let ready = events.next_change(Duration::from_secs(5)).await;
    assert_eq!(ready.map(|e| e.event).as_deref(), Some("ready"));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let r = nurse
        .post(
            &format!("{path}/patients"),
            json!({"fields": {"family": "Ames"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let change = events.next_change(Duration::from_secs(5)).await;
    assert_eq!(
        change.as_ref().map(|e| e.event.as_str()),
        Some("patientAdded")
    );
    assert!(
        change.is_some(),
        "the feed still delivers after the timeouts"
    );
    app.stop().await;
}
both!(live_feeds_outlast_the_timeouts);
