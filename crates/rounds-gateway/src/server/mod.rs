//! The HTTP side: the token endpoint, JWKS, SMART configuration, metadata,
//! health and metrics, and the FHIR proxy.
//!
//! FHIR routes: `/{path}` sends the request to the server of the tenant in
//! the token; `/tenant/{id}/{path}` names the tenant in the URL (for callers
//! that keep one base URL per tenant, and for tenants on different FHIR
//! versions) and refuses a token for another tenant with 403. Everything the
//! gateway refuses itself is a FHIR `OperationOutcome`.

mod forward;
mod metadata;
mod oauth;
mod proxy;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;

use crate::Gateway;

use metadata::{metadata, tenant_metadata};
use oauth::{jwks, smart_configuration, token};
use proxy::fhir;

pub(super) const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";
pub(super) const REALM: &str = "rounds-gateway";
pub(super) const TOKEN_BODY_LIMIT: usize = 64 * 1024;
/// Request headers passed to the upstream (never `Authorization` or cookies).
pub(super) const FORWARD_REQUEST: [HeaderName; 8] = [
    header::ACCEPT,
    header::CONTENT_TYPE,
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
    header::IF_MATCH,
    header::ACCEPT_LANGUAGE,
    HeaderName::from_static("prefer"),
    // Conditional create: a search query (rewritten like the query string).
    HeaderName::from_static("if-none-exist"),
];
/// Answer headers passed back (URLs in them rewritten).
pub(super) const FORWARD_RESPONSE: [HeaderName; 7] = [
    header::CONTENT_TYPE,
    header::ETAG,
    header::LAST_MODIFIED,
    header::LOCATION,
    header::CONTENT_LOCATION,
    header::LINK,
    header::RETRY_AFTER,
];

/// The gateway's router.
pub fn router(gw: Arc<Gateway>) -> Router {
    Router::new()
        .route("/token", post(token))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/.well-known/smart-configuration", get(smart_configuration))
        .route(
            "/tenant/{tenant}/.well-known/smart-configuration",
            get(smart_configuration),
        )
        .route("/metadata", get(metadata))
        .route("/tenant/{tenant}/metadata", get(tenant_metadata))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(crate::admin::router())
        .fallback(fhir)
        .with_state(gw)
}

/// A FHIR OperationOutcome with one error issue.
pub fn outcome(status: StatusCode, code: &str, diagnostics: &str) -> Response {
    let body = json!({
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": diagnostics}],
    });
    (
        status,
        [(header::CONTENT_TYPE, FHIR_JSON)],
        body.to_string(),
    )
        .into_response()
}

pub(super) fn with_header(mut r: Response, name: HeaderName, value: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
    r
}

pub(super) fn bearer_challenge(error: Option<(&str, &str)>) -> String {
    match error {
        None => format!("Bearer realm=\"{REALM}\""),
        Some((code, description)) => format!(
            "Bearer realm=\"{REALM}\", error=\"{code}\", error_description=\"{}\"",
            description.replace(['"', '\\'], "'")
        ),
    }
}

pub(super) fn internal(err: &crate::GatewayError) -> Response {
    tracing::error!(error = %err, "gateway error");
    outcome(
        StatusCode::SERVICE_UNAVAILABLE,
        "transient",
        "the gateway cannot serve this request now",
    )
}

pub(super) fn elapsed_ms(started: Instant) -> i64 {
    i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX)
}

async fn readyz(State(gw): State<Arc<Gateway>>) -> Response {
    if gw.audit.writer_state().failing {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the audit log cannot be written\n",
        )
            .into_response();
    }
    match gw.db.ping().await {
        Ok(()) => "ready\n".into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the registry database does not answer\n",
            )
                .into_response()
        }
    }
}

async fn metrics(State(gw): State<Arc<Gateway>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        gw.metrics.render_with(&gw.audit.writer_state()),
    )
        .into_response()
}
