//! The HTTP side: the token endpoint, JWKS, SMART configuration, metadata,
//! health and metrics, and the FHIR proxy.
//!
//! FHIR routes: `/{path}` sends the request to the server of the tenant in
//! the token; `/tenant/{id}/{path}` names the tenant in the URL (for callers
//! that keep one base URL per tenant, and for tenants on different FHIR
//! versions) and refuses a token for another tenant with 403. Everything the
//! gateway refuses itself is a FHIR `OperationOutcome`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use crate::audit::AuditEntry;
use crate::error::Result;
use crate::rewrite::Rewriter;
use crate::token::{Refusal, TokenRequest};
use crate::Gateway;

const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";
const REALM: &str = "rounds-gateway";
const TOKEN_BODY_LIMIT: usize = 64 * 1024;
/// Request headers passed to the upstream (never `Authorization` or cookies).
const FORWARD_REQUEST: [HeaderName; 8] = [
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
const FORWARD_RESPONSE: [HeaderName; 7] = [
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

fn with_header(mut r: Response, name: HeaderName, value: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
    r
}

fn bearer_challenge(error: Option<(&str, &str)>) -> String {
    match error {
        None => format!("Bearer realm=\"{REALM}\""),
        Some((code, description)) => format!(
            "Bearer realm=\"{REALM}\", error=\"{code}\", error_description=\"{}\"",
            description.replace(['"', '\\'], "'")
        ),
    }
}

fn internal(err: &crate::GatewayError) -> Response {
    tracing::error!(error = %err, "gateway error");
    outcome(
        StatusCode::SERVICE_UNAVAILABLE,
        "transient",
        "the gateway cannot serve this request now",
    )
}

// ---------------------------------------------------------------- token

async fn token(
    State(gw): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let oauth = |status: StatusCode, code: &str, description: &str| {
        let body = json!({"error": code, "error_description": description});
        (
            status,
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-store"),
                (header::PRAGMA, "no-cache"),
            ],
            body.to_string(),
        )
            .into_response()
    };
    let form_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    let mut entry = AuditEntry {
        method: "POST".into(),
        path: "/token".into(),
        client_addr: Some(peer.ip().to_string()),
        ..AuditEntry::default()
    };
    let answer = if !form_type {
        gw.metrics.token("invalid_request");
        entry.outcome = "invalid_request".into();
        oauth(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the token request must be application/x-www-form-urlencoded",
        )
    } else {
        match axum::body::to_bytes(body, TOKEN_BODY_LIMIT).await {
            Err(_) => {
                entry.outcome = "invalid_request".into();
                gw.metrics.token("invalid_request");
                oauth(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "the request body is too large",
                )
            }
            Ok(bytes) => {
                let req = token_request(&parts.headers, &bytes);
                entry.client_id = req.basic.as_ref().map(|(id, _)| id.clone()).or_else(|| {
                    req.form
                        .iter()
                        .find(|(k, _)| k == "client_id")
                        .map(|(_, v)| v.clone())
                });
                match gw.tokens.issue(&req).await {
                    Err(e) => {
                        entry.outcome = "error".into();
                        internal(&e)
                    }
                    Ok(Ok(answer)) => {
                        gw.metrics.token("issued");
                        entry.outcome = "issued".into();
                        entry.client_id = Some(answer.client_id.clone());
                        entry.tenant_id = Some(answer.tenant.clone());
                        let body = serde_json::to_string(&answer).unwrap_or_default();
                        (
                            StatusCode::OK,
                            [
                                (header::CONTENT_TYPE, "application/json"),
                                (header::CACHE_CONTROL, "no-store"),
                                (header::PRAGMA, "no-cache"),
                            ],
                            body,
                        )
                            .into_response()
                    }
                    Ok(Err(e)) => {
                        gw.metrics.token(e.code);
                        entry.outcome = e.reason.into();
                        let status =
                            StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
                        let mut r = oauth(status, e.code, &e.description);
                        if e.basic_challenge {
                            r = with_header(
                                r,
                                header::WWW_AUTHENTICATE,
                                &format!("Basic realm=\"{REALM}\", charset=\"UTF-8\""),
                            );
                        }
                        r
                    }
                }
            }
        }
    };
    entry.status = answer.status().as_u16();
    entry.duration_ms = elapsed_ms(started);
    if let Err(e) = gw.audit.append(&entry).await {
        return internal(&e);
    }
    answer
}

fn elapsed_ms(started: Instant) -> i64 {
    i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX)
}

/// The form and the HTTP Basic credentials (RFC 6749 §2.3.1: both parts
/// form-encoded before base64).
fn token_request(headers: &HeaderMap, body: &[u8]) -> TokenRequest {
    let form = form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut req = TokenRequest {
        form,
        ..TokenRequest::default()
    };
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        req.basic = basic_credentials(value);
        req.bad_authorization = req.basic.is_none();
    }
    req
}

fn basic_credentials(value: &HeaderValue) -> Option<(String, String)> {
    use base64::Engine;
    let text = value.to_str().ok()?;
    let (scheme, rest) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (id, secret) = raw.split_once(':')?;
    let decode = |s: &str| -> String {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let id = decode(id);
    if id.is_empty() {
        return None;
    }
    Some((id, decode(secret)))
}

// ------------------------------------------------------------ discovery

async fn jwks(State(gw): State<Arc<Gateway>>) -> Response {
    match gw.keys.jwks().await {
        Ok(set) => (
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "max-age=60"),
            ],
            set.to_string(),
        )
            .into_response(),
        Err(e) => internal(&e),
    }
}

async fn smart_configuration(State(gw): State<Arc<Gateway>>) -> Response {
    let base = &gw.settings.public_url;
    let body = json!({
        "issuer": base,
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "token_endpoint": gw.tokens.token_url(),
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384", "RS256", "ES256"],
        "grant_types_supported": ["client_credentials"],
        "scopes_supported": ["system/*.read", "system/*.rs"],
        "response_types_supported": [],
        "capabilities": ["client-confidential-symmetric", "client-confidential-asymmetric"],
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn readyz(State(gw): State<Arc<Gateway>>) -> Response {
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
        gw.metrics.render(),
    )
        .into_response()
}

/// The gateway's security block: SMART on FHIR with its own token URL.
fn security(gw: &Gateway, dstu2: bool) -> Value {
    let system = if dstu2 {
        "http://hl7.org/fhir/restful-security-service"
    } else {
        "http://terminology.hl7.org/CodeSystem/restful-security-service"
    };
    json!({
        "cors": false,
        "service": [{"coding": [{"system": system, "code": "SMART-on-FHIR"}], "text": "OAuth 2.0 client credentials (SMART Backend Services)"}],
        "extension": [{
            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
            "extension": [{"url": "token", "valueUri": gw.tokens.token_url()}],
        }],
    })
}

/// `GET /metadata`: with a valid token, the token's tenant's statement
/// (rewritten); without one, the gateway's own statement.
async fn metadata(
    State(gw): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let token = bearer(&headers);
    if let Some(token) = token {
        if let Ok(Ok(valid)) = gw.tokens.validate(token).await {
            let base = gw.settings.public_url.clone();
            return upstream_metadata(&gw, &valid.tenant, &base, Some(valid.client_id), peer).await;
        }
    }
    own_metadata(&gw).await
}

/// `GET /tenant/{id}/metadata`: that tenant's statement, rewritten, with
/// the gateway's security; no token needed (as for any FHIR server).
async fn tenant_metadata(
    State(gw): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(tenant): Path<String>,
) -> Response {
    let base = format!("{}/tenant/{tenant}", gw.settings.public_url);
    upstream_metadata(&gw, &tenant, &base, None, peer).await
}

async fn own_metadata(gw: &Gateway) -> Response {
    let tenants = match gw.tenants.list().await {
        Ok(t) => t,
        Err(e) => return internal(&e),
    };
    let mut versions: Vec<&str> = tenants.iter().map(|t| t.fhir_version.as_str()).collect();
    versions.sort_unstable();
    versions.dedup();
    let (version, note) = match versions.as_slice() {
        [one] => ((*one).to_owned(), String::new()),
        [] => ("4.0.1".to_owned(), String::new()),
        _ => (
            "4.0.1".to_owned(),
            " Tenants sit on servers of different FHIR versions: read /tenant/{id}/metadata, or /metadata with a token, for a tenant's own statement.".to_owned(),
        ),
    };
    let dstu2 = version.starts_with("1.0");
    let body = json!({
        "resourceType": if dstu2 { "Conformance" } else { "CapabilityStatement" },
        "status": "active",
        "date": time::OffsetDateTime::now_utc().date().to_string(),
        "kind": "instance",
        "software": {"name": "Rounds gateway", "version": env!("CARGO_PKG_VERSION")},
        "implementation": {
            "description": format!("Rounds interoperability gateway: one endpoint for every tenant; the tenant is chosen by the token's scope.{note}"),
            "url": gw.settings.public_url,
        },
        "fhirVersion": version,
        "format": ["json"],
        "rest": [{
            "mode": "server",
            "security": security(gw, dstu2),
            "interaction": [{"code": "batch"}],
        }],
    });
    ([(header::CONTENT_TYPE, FHIR_JSON)], body.to_string()).into_response()
}

async fn upstream_metadata(
    gw: &Gateway,
    tenant: &str,
    base: &str,
    client: Option<String>,
    peer: SocketAddr,
) -> Response {
    let started = Instant::now();
    let mut entry = AuditEntry {
        client_id: client,
        tenant_id: Some(tenant.to_owned()),
        method: "GET".into(),
        resource_type: None,
        path: "metadata".into(),
        client_addr: Some(peer.ip().to_string()),
        ..AuditEntry::default()
    };
    let upstream = match gw.upstreams.get(tenant).await {
        Ok(Some(u)) => u,
        Ok(None) => {
            return outcome(
                StatusCode::NOT_FOUND,
                "not-found",
                "this gateway has no FHIR server for that tenant",
            )
        }
        Err(e) => {
            tracing::warn!(tenant, error = %e, "upstream not usable");
            return outcome(
                StatusCode::BAD_GATEWAY,
                "exception",
                "the tenant's FHIR server cannot be used now",
            );
        }
    };
    let forwarded = Forward {
        method: Method::GET,
        path: "metadata".into(),
        query: None,
        headers: HeaderMap::new(),
        body: Bytes::new(),
        public_base: base.to_owned(),
    };
    let mut answer = send(gw, &upstream, &forwarded).await;
    if answer.status().is_success() {
        answer = replace_security(gw, answer, base).await;
    }
    entry.status = answer.status().as_u16();
    entry.duration_ms = elapsed_ms(started);
    entry.outcome = if answer.status().is_success() {
        "ok".into()
    } else {
        "upstream_error".into()
    };
    if let Err(e) = gw.audit.append(&entry).await {
        return internal(&e);
    }
    answer
}

/// Puts the gateway's security and address into an upstream statement.
async fn replace_security(gw: &Gateway, answer: Response, base: &str) -> Response {
    let (parts, body) = answer.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, gw.settings.max_response_bytes).await else {
        return outcome(
            StatusCode::BAD_GATEWAY,
            "exception",
            "the tenant's metadata could not be read",
        );
    };
    let Ok(mut v) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let dstu2 = v["resourceType"] == "Conformance";
    if let Some(rests) = v.get_mut("rest").and_then(Value::as_array_mut) {
        for rest in rests {
            rest["security"] = security(gw, dstu2);
        }
    }
    v["implementation"] = json!({"description": "Rounds interoperability gateway", "url": base});
    let mut r = Response::from_parts(parts, Body::from(v.to_string()));
    r.headers_mut().remove(header::CONTENT_LENGTH);
    r
}

// ---------------------------------------------------------------- proxy

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// A request as it goes upstream.
struct Forward {
    method: Method,
    /// Relative to the FHIR base, no leading slash.
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
    /// The base the caller used, for rewriting.
    public_base: String,
}

/// The FHIR proxy (every path not routed above).
async fn fhir(
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

fn resource_type(fhir_path: &str) -> Option<String> {
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
    // 1. The caller's token.
    let Some(token) = bearer(&parts.headers) else {
        entry.outcome = "no_token".into();
        return with_header(
            outcome(
                StatusCode::UNAUTHORIZED,
                "login",
                "a bearer token is required: get one at the token endpoint",
            ),
            header::WWW_AUTHENTICATE,
            &bearer_challenge(None),
        );
    };
    let token_started = Instant::now();
    let checked = gw.tokens.validate(token).await;
    gw.metrics.phase("token", token_started.elapsed());
    let valid = match checked {
        Err(e) => {
            entry.outcome = "error".into();
            return internal(&e);
        }
        Ok(Err(Refusal::InvalidToken(why))) => {
            entry.outcome = "invalid_token".into();
            return with_header(
                outcome(StatusCode::UNAUTHORIZED, "login", &why),
                header::WWW_AUTHENTICATE,
                &bearer_challenge(Some(("invalid_token", &why))),
            );
        }
        Ok(Err(Refusal::TenantNotAllowed { client_id, tenant })) => {
            entry.client_id = Some(client_id);
            entry.tenant_id = Some(tenant);
            entry.outcome = "tenant_not_allowed".into();
            return with_header(
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
            );
        }
        Ok(Ok(v)) => v,
    };
    entry.client_id = Some(valid.client_id.clone());
    // 2. The route's tenant must be the token's.
    if let Some(route) = &route_tenant {
        if *route != valid.tenant {
            entry.outcome = "wrong_tenant".into();
            return with_header(
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
            );
        }
    }
    entry.tenant_id = Some(valid.tenant.clone());
    // 3. Rate limit.
    let limited = match gw.limiter.check(&valid.client_id).await {
        Ok(l) => l,
        Err(e) => {
            entry.outcome = "error".into();
            return internal(&e);
        }
    };
    if let Err(wait) = limited {
        entry.outcome = "rate_limited".into();
        let secs = wait.as_secs().max(1);
        return with_header(
            outcome(
                StatusCode::TOO_MANY_REQUESTS,
                "throttled",
                &format!("too many requests from this client: try again in {secs} s"),
            ),
            header::RETRY_AFTER,
            &secs.to_string(),
        );
    }
    // 4. The tenant's upstream.
    let upstream = match gw.upstreams.get(&valid.tenant).await {
        Ok(Some(u)) => u,
        Ok(None) => {
            entry.outcome = "no_mapping".into();
            return outcome(
                StatusCode::NOT_FOUND,
                "not-found",
                "this gateway has no FHIR server for the token's tenant",
            );
        }
        Err(e) => {
            tracing::warn!(tenant = %valid.tenant, error = %e, "upstream not usable");
            gw.metrics.upstream_error(&valid.tenant, "setup");
            entry.outcome = "upstream_setup".into();
            return outcome(
                StatusCode::BAD_GATEWAY,
                "exception",
                "the tenant's FHIR server cannot be used now",
            );
        }
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
    let Ok(bundle) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    bundle["resourceType"] == "Bundle"
        && bundle["type"] == "batch"
        && bundle["entry"].as_array().is_none_or(|entries| {
            entries
                .iter()
                .all(|e| matches!(e["request"]["method"].as_str(), Some("GET" | "HEAD")))
        })
}

/// Sends `f` to the upstream and turns the answer into the caller's:
/// upstream URLs rewritten, size bounded, errors as OperationOutcomes.
async fn send(gw: &Gateway, upstream: &crate::upstream::Upstream, f: &Forward) -> Response {
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

    #[test]
    fn basic_header() {
        use base64::Engine;
        let enc = base64::engine::general_purpose::STANDARD.encode("my%20id:s%3Acret+x");
        let v = HeaderValue::from_str(&format!("Basic {enc}")).unwrap();
        assert_eq!(
            basic_credentials(&v),
            Some(("my id".into(), "s:cret x".into()))
        );
        assert_eq!(
            basic_credentials(&HeaderValue::from_static("Bearer x")),
            None
        );
    }
}
