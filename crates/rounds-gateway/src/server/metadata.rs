//! `GET /metadata` and `GET /tenant/{id}/metadata`: the gateway's own
//! CapabilityStatement, or the tenant's, rewritten, with the gateway's
//! security block (see the crate's documentation for what each declares).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::audit::AuditEntry;
use crate::Gateway;

use super::forward::{send, Forward};
use super::proxy::bearer;
use super::{elapsed_ms, internal, outcome, FHIR_JSON};

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
pub(super) async fn metadata(
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
pub(super) async fn tenant_metadata(
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
