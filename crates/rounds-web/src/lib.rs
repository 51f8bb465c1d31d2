//! The HTTP face of Rounds: the JSON API (with its generated OpenAPI
//! document), the server-rendered pages, health checks, and the session,
//! CSRF and security-header rules around them. No SQL here: everything goes
//! through `rounds_app::App`.

mod api;
mod compress;
mod drain;
mod error;
mod extract;
mod pages;
mod path;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use rounds_app::App;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

pub use error::{ApiError, ErrorBody};
pub use extract::{CSRF_HEADER, SESSION_COOKIE};

/// Settings of the web layer.
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    /// Mark cookies `Secure`: Rounds is reached over HTTPS (directly or
    /// through a TLS-terminating proxy).
    pub cookie_secure: bool,
    /// Take the client address from X-Forwarded-For (only behind a proxy
    /// that sets it; otherwise clients could choose their own address).
    pub trust_forwarded_for: bool,
    /// The proxies in front of Rounds, when more than the immediate peer:
    /// the header is then trusted only from a peer in these ranges, and
    /// entries in them are skipped from the right. Empty: the peer is the
    /// one proxy, and the entry it appended (the rightmost) is the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// How long clients may take and how many may be connected.
    pub limits: ServerLimits,
    /// The address people reach Rounds at (e.g. https://rounds.hospital.example),
    /// for the single sign-on callback address. None: taken from the
    /// request's Host header.
    pub public_url: Option<String>,
}

/// Limits on client connections, so that slow or idle clients cannot hold
/// the server's connections open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLimits {
    /// Time for a request's headers to arrive (also the longest idle wait
    /// for the next request on a kept-alive connection); then the
    /// connection is closed.
    pub header_read_timeout: Duration,
    /// Longest pause while a request's body arrives; then the request fails
    /// and the connection is closed.
    pub body_read_timeout: Duration,
    /// Most connections served at once; further ones wait to be accepted.
    pub max_connections: usize,
}

impl ServerLimits {
    // The defaults, written once (also the settings' defaults of `rounds serve`).
    pub const DEFAULT_HEADER_READ_TIMEOUT_SECS: u64 = 10;
    pub const DEFAULT_BODY_READ_TIMEOUT_SECS: u64 = 30;
    pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(Self::DEFAULT_HEADER_READ_TIMEOUT_SECS),
            body_read_timeout: Duration::from_secs(Self::DEFAULT_BODY_READ_TIMEOUT_SECS),
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// Shared by every request.
#[derive(Clone)]
pub struct AppState {
    pub app: App,
    pub web: Arc<WebConfig>,
    templates: Arc<minijinja::Environment<'static>>,
}

impl AppState {
    pub fn new(app: App, web: WebConfig) -> Self {
        Self {
            app,
            web: Arc::new(web),
            templates: Arc::new(pages::templates()),
        }
    }
}

/// The largest request body accepted anywhere.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The whole application as a router (no socket), for `serve` and for tests.
pub fn router(state: AppState) -> Router {
    let (api, openapi) = api::router().split_for_parts();
    let openapi = Arc::new(openapi);
    Router::new()
        .merge(api)
        .route(
            "/api/openapi.json",
            get(move || {
                let doc = Arc::clone(&openapi);
                async move { Json(doc.as_ref().clone()) }
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .merge(pages::router().layer(middleware::from_fn_with_state(
            state.clone(),
            pages::render_failures,
        )))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), count_request))
        .layer(middleware::from_fn(compress::mark_secret_answers))
        .layer(compress::layer())
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn(drain::finish_reading))
        .layer(middleware::from_fn(security_headers))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            // The path only: query strings may carry search terms.
            tracing::info_span!("http", method = %req.method(), path = %req.uri().path())
        }))
        .with_state(state)
}

/// Counts the request for the metrics, by its route template (never the
/// path, which holds ids); requests no route matched count as `unmatched`.
async fn count_request(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    // Known methods only: a label per made-up method would grow without end.
    let method: &'static str = match req.method().as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let response = next.run(req).await;
    state.app.record_request(
        method,
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.app.ready().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
    }
}

async fn not_found(req: Request) -> Response {
    if req.uri().path().starts_with("/api/") {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such API route; see /api/openapi.json",
        )
        .into_response()
    } else {
        pages::not_found_page()
    }
}

/// Pages and API answers carry patient data: never cached, never framed.
async fn security_headers(req: Request, next: Next) -> Response {
    let is_static = req.uri().path().starts_with("/static/");
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    let is_stream = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if is_stream {
        // Proxies pass a live feed on as it comes: not buffered (nginx
        // reads X-Accel-Buffering), not cached, not transformed.
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store, no-cache, no-transform"),
        );
        headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    } else if !is_static {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The metrics endpoint's own router (`GET /metrics`), for a listener of
/// its own. With `token`, a request must carry `Authorization: Bearer
/// TOKEN`.
pub fn metrics_router(app: App, token: Option<String>) -> Router {
    let token: Option<Arc<str>> = token.map(Arc::from);
    Router::new()
        .route(
            "/metrics",
            get(move |headers: axum::http::HeaderMap| {
                let app = app.clone();
                let token = token.clone();
                async move { metrics(&app, token.as_deref(), &headers) }
            }),
        )
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                "not found: the metrics are at /metrics\n",
            )
        })
}

fn metrics(app: &App, token: Option<&str>, headers: &axum::http::HeaderMap) -> Response {
    if let Some(expected) = token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !same_secret(given.trim().as_bytes(), expected.as_bytes()) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "the metrics need the metrics token (Authorization: Bearer ...)\n",
            )
                .into_response();
        }
    }
    (
        [
            (
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        app.metrics_text(),
    )
        .into_response()
}

/// Compares two secrets in time that depends only on their lengths.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Serves the metrics router on `listener` until `shutdown` completes.
pub async fn serve_metrics(
    listener: TcpListener,
    app: App,
    token: Option<String>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, metrics_router(app, token))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Serves `router` on `listener` until `shutdown` completes, then finishes
/// the requests in flight.
///
/// Each connection must send its headers within the header read timeout and
/// may pause a body for at most the body read timeout; at most
/// `max_connections` are served at once (the others wait to be accepted).
/// Live feeds answer at once and then stream: neither timeout applies to
/// them.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto;
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;
    use tokio::sync::Semaphore;

    let limits = state.web.limits.clone();
    let live = state.app.clone();
    // Urgent notes alert again on this instance's clock (see rounds-app urgent.rs).
    live.start_urgent_clock();
    let app = router(state).layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
        limits.body_read_timeout,
    ));
    // HTTP/1 only: browsers speak HTTP/2 only over TLS, which a proxy in
    // front of Rounds ends, and waiting to tell HTTP/2's preface from
    // HTTP/1 would let a silent connection stay open before any timeout runs.
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = accept(&listener, &slots) => accepted,
        };
        let Some((stream, peer, slot)) = accepted else {
            continue;
        };
        let service = TowerToHyperService::new(tower_http::add_extension::AddExtension::new(
            app.clone(),
            axum::extract::ConnectInfo(peer),
        ));
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
            drop(slot);
        });
    }
    // Live feeds never end by themselves: close them when shutdown starts,
    // so that the requests in flight can finish.
    drop(listener);
    live.close_live_feeds();
    graceful.shutdown().await;
    Ok(())
}

/// The next connection, once a slot is free. Accept errors (such as running
/// out of file descriptors) are logged and retried after a pause.
async fn accept(
    listener: &TcpListener,
    slots: &Arc<tokio::sync::Semaphore>,
) -> Option<(
    tokio::net::TcpStream,
    SocketAddr,
    tokio::sync::OwnedSemaphorePermit,
)> {
    let slot = Arc::clone(slots).acquire_owned().await.ok()?;
    match listener.accept().await {
        Ok((stream, peer)) => Some((stream, peer, slot)),
        Err(err) => {
            tracing::warn!(error = %err, "cannot accept a connection");
            tokio::time::sleep(Duration::from_millis(100)).await;
            None
        }
    }
}
