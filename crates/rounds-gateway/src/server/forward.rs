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
    let url = match target_url(gw, upstream, f) {
        Ok(url) => url,
        Err(answer) => return answer,
    };
    let sent_at = Instant::now();
    let response = match exchange(gw, upstream, f, &url).await {
        Ok(r) => r,
        Err(answer) => return answer,
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
        Err(e) => return read_failure(gw, tenant, e),
    };
    if status.is_server_error() {
        gw.metrics.upstream_error(tenant, "status_5xx");
    }
    let rewrite_started = Instant::now();
    let answer = rewrite_answer(upstream, f, status, &upstream_headers, body);
    gw.metrics.phase("rewrite", rewrite_started.elapsed());
    answer
}

/// The upstream address of `f`, if the outbound policy lets the gateway
/// reach it.
fn target_url(
    gw: &Gateway,
    upstream: &crate::upstream::Upstream,
    f: &Forward,
) -> Result<url::Url, Response> {
    let tenant = upstream.tenant.id.as_str();
    let mut target = format!("{}/{}", upstream.base, f.path);
    if let Some(q) = &f.query {
        target.push('?');
        target.push_str(q);
    }
    let Ok(url) = url::Url::parse(&target) else {
        return Err(outcome(
            StatusCode::BAD_REQUEST,
            "invalid",
            "the request address is not valid",
        ));
    };
    if let Err(e) = gw.upstreams.outbound.check_url(&url) {
        tracing::warn!(tenant, error = %e, "upstream refused by the outbound policy");
        gw.metrics.upstream_error(tenant, "refused");
        return Err(outcome(
            StatusCode::BAD_GATEWAY,
            "exception",
            "the tenant's FHIR server is outside the addresses this gateway may reach",
        ));
    }
    Ok(url)
}

/// Sends `f` to `url` with the upstream's own credentials (a token the
/// upstream refuses is renewed once); the upstream's answer, or the
/// caller's error answer.
async fn exchange(
    gw: &Gateway,
    upstream: &crate::upstream::Upstream,
    f: &Forward,
    url: &url::Url,
) -> Result<reqwest::Response, Response> {
    let tenant = upstream.tenant.id.as_str();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let auth = match gw.upstreams.authorization(upstream).await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(tenant, error = %e, "cannot authenticate upstream");
                gw.metrics.upstream_error(tenant, "auth");
                return Err(outcome(
                    StatusCode::BAD_GATEWAY,
                    "exception",
                    "the gateway could not authenticate to the tenant's FHIR server",
                ));
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
        match req.send().await {
            Ok(r)
                if r.status() == StatusCode::UNAUTHORIZED
                    && attempt == 1
                    && used_token.is_some() =>
            {
                // A token the upstream no longer takes: renew once.
                if let Some(t) = &used_token {
                    gw.upstreams.token_refused(upstream, t).await;
                }
            }
            Ok(r) => return Ok(r),
            Err(e) if e.is_timeout() => {
                gw.metrics.upstream_error(tenant, "timeout");
                return Err(outcome(
                    StatusCode::GATEWAY_TIMEOUT,
                    "timeout",
                    &format!(
                        "the tenant's FHIR server did not answer within {} s",
                        gw.settings.upstream_timeout.as_secs()
                    ),
                ));
            }
            Err(e) => {
                tracing::warn!(tenant, error = %e, "upstream request failed");
                gw.metrics.upstream_error(tenant, "connect");
                return Err(outcome(
                    StatusCode::BAD_GATEWAY,
                    "transient",
                    "the tenant's FHIR server could not be reached",
                ));
            }
        }
    }
}

/// The caller's answer when the upstream's answer could not be read whole.
fn read_failure(gw: &Gateway, tenant: &str, error: ReadError) -> Response {
    match error {
        ReadError::TooLarge => {
            gw.metrics.upstream_error(tenant, "too_large");
            outcome(
                StatusCode::BAD_GATEWAY,
                "too-costly",
                &format!(
                    "the tenant's FHIR server answered more than {} bytes",
                    gw.settings.max_response_bytes
                ),
            )
        }
        ReadError::Timeout => {
            gw.metrics.upstream_error(tenant, "timeout");
            outcome(
                StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                "the tenant's FHIR server did not finish its answer in time",
            )
        }
        ReadError::Broken => {
            gw.metrics.upstream_error(tenant, "connect");
            outcome(
                StatusCode::BAD_GATEWAY,
                "transient",
                "the tenant's FHIR server broke off its answer",
            )
        }
    }
}

/// The upstream's answer as the caller gets it: the same status, the body
/// and the passed-on headers with every upstream URL rewritten.
fn rewrite_answer(
    upstream: &crate::upstream::Upstream,
    f: &Forward,
    status: StatusCode,
    upstream_headers: &HeaderMap,
    body: Bytes,
) -> Response {
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
    // An answer that comes in one chunk (most do) is passed on as it is;
    // only one in several chunks is copied, once, into one buffer.
    let mut first: Option<Bytes> = None;
    let mut more: Option<bytes::BytesMut> = None;
    let mut len = 0;
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let chunk = tokio::time::timeout_at(deadline, response.chunk()).await;
        match chunk {
            Err(_) => return Err(ReadError::Timeout),
            Ok(Err(e)) if e.is_timeout() => return Err(ReadError::Timeout),
            Ok(Err(_)) => return Err(ReadError::Broken),
            Ok(Ok(None)) => {
                return Ok(match (first, more) {
                    (_, Some(buf)) => buf.freeze(),
                    (Some(one), None) => one,
                    (None, None) => Bytes::new(),
                })
            }
            Ok(Ok(Some(c))) => {
                len += c.len();
                if len > max {
                    return Err(ReadError::TooLarge);
                }
                match (&mut first, &mut more) {
                    (None, None) => first = Some(c),
                    (_, Some(buf)) => buf.extend_from_slice(&c),
                    (Some(one), None) => {
                        let hint = response.content_length().unwrap_or(0) as usize;
                        let mut buf = bytes::BytesMut::with_capacity(hint.max(len).min(max));
                        buf.extend_from_slice(one);
                        buf.extend_from_slice(&c);
                        first = None;
                        more = Some(buf);
                    }
                }
            }
        }
    }
}
