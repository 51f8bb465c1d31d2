//! The FHIR proxy's back half: the request sent to the tenant's server
//! with the upstream's own credentials, the answer read within its size
//! and time bounds, and upstream URLs rewritten to the gateway's.

use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;

use crate::error::Result;
use crate::rewrite::Rewriter;
use crate::Gateway;

use super::{outcome, FORWARD_RESPONSE};

/// A request as it goes upstream.
pub(super) struct Forward {
    pub(super) method: Method,
    /// Relative to the FHIR base, no leading slash.
    pub(super) path: String,
    pub(super) query: Option<String>,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
    /// The base the caller used, for rewriting.
    pub(super) public_base: String,
}

/// Sends `f` to the upstream and turns the answer into the caller's:
/// upstream URLs rewritten, size bounded, errors as OperationOutcomes.
pub(super) async fn send(
    gw: &Gateway,
    upstream: &crate::upstream::Upstream,
    f: &Forward,
) -> Response {
    let tenant = upstream.tenant.id.as_str();
    let mut target = format!("{}/{}", upstream.base, f.path);
    if let Some(q) = &f.query {
        target.push('?');
        target.push_str(q);
    }
    let Ok(url) = url::Url::parse(&target) else {
        return outcome(
            StatusCode::BAD_REQUEST,
            "invalid",
            "the request address is not valid",
        );
    };
    if let Err(e) = gw.upstreams.outbound.check_url(&url) {
        tracing::warn!(tenant, error = %e, "upstream refused by the outbound policy");
        gw.metrics.upstream_error(tenant, "refused");
        return outcome(
            StatusCode::BAD_GATEWAY,
            "exception",
            "the tenant's FHIR server is outside the addresses this gateway may reach",
        );
    }
    let mut attempt = 0;
    let sent_at = Instant::now();
    let response = loop {
        attempt += 1;
        let auth = match gw.upstreams.authorization(upstream).await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(tenant, error = %e, "cannot authenticate upstream");
                gw.metrics.upstream_error(tenant, "auth");
                return outcome(
                    StatusCode::BAD_GATEWAY,
                    "exception",
                    "the gateway could not authenticate to the tenant's FHIR server",
                );
            }
        };
        let mut req = gw
            .upstreams
            .client
            .request(f.method.clone(), url.clone())
            .headers(f.headers.clone())
            .timeout(gw.settings.upstream_timeout);
        if !f.headers.contains_key(header::ACCEPT) {
            req = req.header(header::ACCEPT, "application/fhir+json");
        }
        let used_token = auth.as_ref().and_then(|(_, t)| t.clone());
        if let Some((value, _)) = auth {
            req = req.header(header::AUTHORIZATION, value);
        }
        if !f.body.is_empty() {
            req = req.body(f.body.clone());
        }
        let sent = req.send().await;
        match sent {
            Ok(r)
                if r.status() == StatusCode::UNAUTHORIZED
                    && attempt == 1
                    && used_token.is_some() =>
            {
                // A token the upstream no longer takes: renew once.
                if let Some(t) = &used_token {
                    gw.upstreams.token_refused(upstream, t).await;
                }
                continue;
            }
            Ok(r) => break r,
            Err(e) if e.is_timeout() => {
                gw.metrics.upstream_error(tenant, "timeout");
                return outcome(
                    StatusCode::GATEWAY_TIMEOUT,
                    "timeout",
                    &format!(
                        "the tenant's FHIR server did not answer within {} s",
                        gw.settings.upstream_timeout.as_secs()
                    ),
                );
            }
            Err(e) => {
                tracing::warn!(tenant, error = %e, "upstream request failed");
                gw.metrics.upstream_error(tenant, "connect");
                return outcome(
                    StatusCode::BAD_GATEWAY,
                    "transient",
                    "the tenant's FHIR server could not be reached",
                );
            }
        }
    };
    let status = response.status();
    let upstream_headers = response.headers().clone();
    let body = read_bounded(
        response,
        gw.settings.max_response_bytes,
        gw.settings.upstream_timeout,
    )
    .await;
    gw.metrics.phase("upstream", sent_at.elapsed());
    let body = match body {
        Ok(b) => b,
        Err(ReadError::TooLarge) => {
            gw.metrics.upstream_error(tenant, "too_large");
            return outcome(
                StatusCode::BAD_GATEWAY,
                "too-costly",
                &format!(
                    "the tenant's FHIR server answered more than {} bytes",
                    gw.settings.max_response_bytes
                ),
            );
        }
        Err(ReadError::Timeout) => {
            gw.metrics.upstream_error(tenant, "timeout");
            return outcome(
                StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                "the tenant's FHIR server did not finish its answer in time",
            );
        }
        Err(ReadError::Broken) => {
            gw.metrics.upstream_error(tenant, "connect");
            return outcome(
                StatusCode::BAD_GATEWAY,
                "transient",
                "the tenant's FHIR server broke off its answer",
            );
        }
    };
    if status.is_server_error() {
        gw.metrics.upstream_error(tenant, "status_5xx");
    }
    let rewrite_started = Instant::now();
    let outward = Rewriter::new(&upstream.base, &f.public_base);
    let mut answer = Response::new(Body::from(outward.body(body)));
    *answer.status_mut() = status;
    for name in FORWARD_RESPONSE {
        for v in upstream_headers.get_all(&name) {
            let value = match v.to_str() {
                Ok(text) => match HeaderValue::from_str(&outward.text(text)) {
                    Ok(v) => v,
                    Err(_) => continue,
                },
                Err(_) => continue,
            };
            answer.headers_mut().append(name.clone(), value);
        }
    }
    gw.metrics.phase("rewrite", rewrite_started.elapsed());
    answer
}

enum ReadError {
    TooLarge,
    Timeout,
    Broken,
}

async fn read_bounded(
    mut response: reqwest::Response,
    max: usize,
    timeout: Duration,
) -> Result<Bytes, ReadError> {
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err(ReadError::TooLarge);
    }
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let chunk = tokio::time::timeout_at(deadline, response.chunk()).await;
        match chunk {
            Err(_) => return Err(ReadError::Timeout),
            Ok(Err(e)) if e.is_timeout() => return Err(ReadError::Timeout),
            Ok(Err(_)) => return Err(ReadError::Broken),
            Ok(Ok(None)) => return Ok(Bytes::from(out)),
            Ok(Ok(Some(c))) => {
                if out.len() + c.len() > max {
                    return Err(ReadError::TooLarge);
                }
                out.extend_from_slice(&c);
            }
        }
    }
}
