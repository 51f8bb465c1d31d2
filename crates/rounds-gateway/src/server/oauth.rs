//! `POST /token` (OAuth 2.0 client credentials: the form, HTTP Basic
//! credentials, the audit of each attempt) and discovery: the JWKS and
//! `.well-known/smart-configuration`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::audit::AuditEntry;
use crate::token::TokenRequest;
use crate::Gateway;

use super::{elapsed_ms, internal, with_header, REALM, TOKEN_BODY_LIMIT};

pub(super) async fn token(
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

pub(super) async fn jwks(State(gw): State<Arc<Gateway>>) -> Response {
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

pub(super) async fn smart_configuration(State(gw): State<Arc<Gateway>>) -> Response {
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

#[cfg(test)]
mod tests {
    use super::*;

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
