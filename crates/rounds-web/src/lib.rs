//! The HTTP face of Rounds: the JSON API (with its generated OpenAPI
//! document), the server-rendered pages, health checks, and the session,
//! CSRF and security-header rules around them. No SQL here: everything goes
//! through `rounds_app::App`.

mod api;
mod drain;
mod error;
mod extract;
mod pages;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
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
        .merge(pages::router())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn(drain::finish_reading))
        .layer(middleware::from_fn(security_headers))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            // The path only: query strings may carry search terms.
            tracing::info_span!("http", method = %req.method(), path = %req.uri().path())
        }))
        .with_state(state)
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
    if !is_static {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Serves `router` on `listener` until `shutdown` completes, then finishes
/// the requests in flight.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let live = state.app.clone();
    let app = router(state);
    // Live feeds never end by themselves: close them when shutdown starts,
    // so that the requests in flight can finish.
    let shutdown = async move {
        shutdown.await;
        live.close_live_feeds();
    };
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
