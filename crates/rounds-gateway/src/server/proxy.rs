//! The FHIR proxy's front half: the route's tenant, the caller's token,
//! the checks (tenant allowed, rate limit, read-only, size), and the audit
//! record of every request; [`super::forward`] sends it upstream.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;

use crate::audit::AuditEntry;
use crate::rewrite::Rewriter;
use crate::token::{Refusal, Validated};
use crate::upstream::Upstream;
use crate::Gateway;

use super::forward::{send, Forward};
use super::{bearer_challenge, elapsed_ms, internal, outcome, with_header, FORWARD_REQUEST};

pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The FHIR proxy (every path not routed above).
pub(super) async fn fhir(
    State(gw): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let raw_path = parts.uri.path().to_owned();
    let (route_tenant, fhir_path) = match split_path(&raw_path) {
        Some(split) => split,
        None => {
            return outcome(
                StatusCode::NOT_FOUND,
                "not-found",
                "no such FHIR route on this gateway",
            )
        }
    };
    let mut entry = AuditEntry {
        method: parts.method.as_str().to_owned(),
        resource_type: resource_type(&fhir_path),
        path: raw_path.clone(),
        client_addr: Some(peer.ip().to_string()),
        tenant_id: route_tenant.clone(),
        ..AuditEntry::default()
    };
    let answer = proxy(&gw, &parts, body, route_tenant, fhir_path, &mut entry).await;
    entry.status = answer.status().as_u16();
    entry.duration_ms = elapsed_ms(started);
    gw.metrics
        .request(entry.tenant_id.as_deref(), entry.status, started.elapsed());
    let audit_started = Instant::now();
    if let Err(e) = gw.audit.append(&entry).await {
        // No answer goes out unaudited.
        return internal(&e);
    }
    gw.metrics.phase("audit", audit_started.elapsed());
    answer
}

/// `/tenant/{id}/rest` → (Some(id), rest); `/rest` → (None, rest).
fn split_path(path: &str) -> Option<(Option<String>, String)> {
    let trimmed = path.trim_start_matches('/');
    if let Some(rest) = trimmed.strip_prefix("tenant/") {
        let (tenant, rest) = rest.split_once('/').unwrap_or((rest, ""));
        crate::registry::check_tenant_id(tenant).ok()?;
        return Some((Some(tenant.to_owned()), rest.to_owned()));
    }
    Some((None, trimmed.to_owned()))
}

pub(super) fn resource_type(fhir_path: &str) -> Option<String> {
    let first = fhir_path.split('/').next().unwrap_or_default();
    first
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_uppercase())
        .then(|| first.chars().take(64).collect())
}

async fn proxy(
    gw: &Gateway,
    parts: &axum::http::request::Parts,
    body: Body,
    route_tenant: Option<String>,
    fhir_path: String,
    entry: &mut AuditEntry,
) -> Response {
    let valid = match authorize(gw, &parts.headers, route_tenant.as_deref(), entry).await {
        Ok(v) => v,
        Err(answer) => return answer,
    };
    entry.tenant_id = Some(valid.tenant.clone());
    let upstream = match admit(gw, &valid, entry).await {
        Ok(u) => u,
        Err(answer) => return answer,
    };
    // 5. The body, bounded.
    let body = match axum::body::to_bytes(body, gw.settings.max_request_bytes).await {
        Ok(b) => b,
        Err(_) => {
            entry.outcome = "request_too_large".into();
            return outcome(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-costly",
                &format!(
                    "the request body is larger than {} bytes",
                    gw.settings.max_request_bytes
                ),
            );
        }
    };
    // 6. Reads only, unless the tenant allows writes.
    if !upstream.tenant.allow_writes && !is_read(&parts.method, &fhir_path, &body) {
        entry.outcome = "write_refused".into();
        return with_header(
            outcome(StatusCode::METHOD_NOT_ALLOWED, "not-supported", "this tenant is read-only through the gateway (reads, searches and batches of reads)"),
            header::ALLOW,
            "GET, HEAD, POST",
        );
    }
    let public_base = match &route_tenant {
        Some(t) => format!("{}/tenant/{t}", gw.settings.public_url),
        None => gw.settings.public_url.clone(),
    };
    let inward = Rewriter::new(&public_base, &upstream.base);
    let mut headers = HeaderMap::new();
    for name in FORWARD_REQUEST {
        if let Some(v) = parts.headers.get(&name) {
            let value = v
                .to_str()
                .ok()
                .and_then(|text| HeaderValue::from_str(&inward.text(text)).ok())
                .unwrap_or_else(|| v.clone());
            headers.insert(name, value);
        }
    }
    let forwarded = Forward {
        method: parts.method.clone(),
        path: fhir_path,
        query: parts.uri.query().map(|q| inward.text(q).into_owned()),
        headers,
        body: inward.body(body),
        public_base,
    };
    let answer = send(gw, &upstream, &forwarded).await;
    entry.outcome =
        if answer.status().is_server_error() || answer.status() == StatusCode::BAD_GATEWAY {
            "upstream_error".into()
        } else {
            "ok".into()
        };
    answer
}

/// Steps 1 and 2 of [`proxy`]: the caller's token, valid, for the route's
/// tenant (if the route names one).
async fn authorize(
    gw: &Gateway,
    headers: &HeaderMap,
    route_tenant: Option<&str>,
    entry: &mut AuditEntry,
) -> Result<Validated, Response> {
    // 1. The caller's token.
    let Some(token) = bearer(headers) else {
        entry.outcome = "no_token".into();
        return Err(with_header(
            outcome(
                StatusCode::UNAUTHORIZED,
                "login",
                "a bearer token is required: get one at the token endpoint",
            ),
            header::WWW_AUTHENTICATE,
            &bearer_challenge(None),
        ));
    };
    let token_started = Instant::now();
    let checked = gw.tokens.validate(token).await;
    gw.metrics.phase("token", token_started.elapsed());
    let valid = match checked {
        Err(e) => {
            entry.outcome = "error".into();
            return Err(internal(&e));
        }
        Ok(Err(Refusal::InvalidToken(why))) => {
            entry.outcome = "invalid_token".into();
            return Err(with_header(
                outcome(StatusCode::UNAUTHORIZED, "login", &why),
                header::WWW_AUTHENTICATE,
                &bearer_challenge(Some(("invalid_token", &why))),
            ));
        }
        Ok(Err(Refusal::TenantNotAllowed { client_id, tenant })) => {
            entry.client_id = Some(client_id);
            entry.tenant_id = Some(tenant);
            entry.outcome = "tenant_not_allowed".into();
            return Err(with_header(
                outcome(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "this client may no longer use the token's tenant",
                ),
                header::WWW_AUTHENTICATE,
                &bearer_challenge(Some((
                    "insufficient_scope",
                    "the client may not use this tenant",
                ))),
            ));
        }
        Ok(Ok(v)) => v,
    };
    entry.client_id = Some(valid.client_id.clone());
    // 2. The route's tenant must be the token's.
    if let Some(route) = route_tenant {
        if route != valid.tenant {
            entry.outcome = "wrong_tenant".into();
            return Err(with_header(
                outcome(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "the token is for another tenant than this address",
                ),
                header::WWW_AUTHENTICATE,
                &bearer_challenge(Some((
                    "insufficient_scope",
                    "the token is for another tenant",
                ))),
            ));
        }
    }
    Ok(valid)
}

/// Steps 3 and 4 of [`proxy`]: the client's rate limit, and the token's
/// tenant's upstream.
async fn admit(
    gw: &Gateway,
    valid: &Validated,
    entry: &mut AuditEntry,
) -> Result<Arc<Upstream>, Response> {
    // 3. Rate limit.
    let limited = match gw.limiter.check(&valid.client_id).await {
        Ok(l) => l,
        Err(e) => {
            entry.outcome = "error".into();
            return Err(internal(&e));
        }
    };
    if let Err(wait) = limited {
        entry.outcome = "rate_limited".into();
        let secs = wait.as_secs().max(1);
        return Err(with_header(
            outcome(
                StatusCode::TOO_MANY_REQUESTS,
                "throttled",
                &format!("too many requests from this client: try again in {secs} s"),
            ),
            header::RETRY_AFTER,
            &secs.to_string(),
        ));
    }
    // 4. The tenant's upstream.
    let upstream = match gw.upstreams.get(&valid.tenant).await {
        Ok(Some(u)) => u,
        Ok(None) => {
            entry.outcome = "no_mapping".into();
            return Err(outcome(
                StatusCode::NOT_FOUND,
                "not-found",
                "this gateway has no FHIR server for the token's tenant",
            ));
        }
        Err(e) => {
            tracing::warn!(tenant = %valid.tenant, error = %e, "upstream not usable");
            gw.metrics.upstream_error(&valid.tenant, "setup");
            entry.outcome = "upstream_setup".into();
            return Err(outcome(
                StatusCode::BAD_GATEWAY,
                "exception",
                "the tenant's FHIR server cannot be used now",
            ));
        }
    };
    Ok(upstream)
}

/// Reads: GET/HEAD, POST `_search`, and batch Bundles of GETs.
fn is_read(method: &Method, path: &str, body: &[u8]) -> bool {
    if method == Method::GET || method == Method::HEAD {
        return true;
    }
    if method != Method::POST {
        return false;
    }
    if path.ends_with("_search") {
        return true;
    }
    if !path.trim_matches('/').is_empty() {
        return false;
    }
    // Only what decides it is read: the rest of the Bundle is skipped,
    // not built.
    #[derive(serde::Deserialize)]
    struct Request<'a> {
        #[serde(borrow)]
        method: Option<std::borrow::Cow<'a, str>>,
    }
    #[derive(serde::Deserialize)]
    struct Entry<'a> {
        #[serde(borrow)]
        request: Option<Request<'a>>,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Bundle<'a> {
        #[serde(borrow)]
        resource_type: Option<std::borrow::Cow<'a, str>>,
        #[serde(borrow, rename = "type")]
        kind: Option<std::borrow::Cow<'a, str>>,
        #[serde(borrow)]
        entry: Option<Vec<Entry<'a>>>,
    }
    let Ok(bundle) = serde_json::from_slice::<Bundle>(body) else {
        return false;
    };
    bundle.resource_type.as_deref() == Some("Bundle")
        && bundle.kind.as_deref() == Some("batch")
        && bundle.entry.unwrap_or_default().iter().all(|e| {
            matches!(
                e.request.as_ref().and_then(|r| r.method.as_deref()),
                Some("GET" | "HEAD")
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(split_path("/Patient/1"), Some((None, "Patient/1".into())));
        assert_eq!(
            split_path("/tenant/a-1/Patient"),
            Some((Some("a-1".into()), "Patient".into()))
        );
        assert_eq!(
            split_path("/tenant/a-1"),
            Some((Some("a-1".into()), String::new()))
        );
        assert_eq!(split_path("/tenant/a b/Patient"), None);
        assert_eq!(
            resource_type("Patient/1/_history/2").as_deref(),
            Some("Patient")
        );
        assert_eq!(resource_type("_search"), None);
    }

    #[test]
    fn reads_and_writes() {
        assert!(is_read(&Method::GET, "Patient/1", b""));
        assert!(is_read(&Method::POST, "Patient/_search", b"name=x"));
        let batch = br#"{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient/1"}}]}"#;
        assert!(is_read(&Method::POST, "", batch));
        let write = br#"{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"POST","url":"Patient"}}]}"#;
        assert!(!is_read(&Method::POST, "", write));
        let tx = br#"{"resourceType":"Bundle","type":"transaction","entry":[]}"#;
        assert!(!is_read(&Method::POST, "", tx));
        assert!(!is_read(&Method::POST, "Patient", b"{}"));
        assert!(!is_read(&Method::PUT, "Patient/1", b"{}"));
        assert!(!is_read(&Method::DELETE, "Patient/1", b""));
    }
}
