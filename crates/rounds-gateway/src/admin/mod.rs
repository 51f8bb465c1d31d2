//! The admin page (`/admin`, a thin client of the API holding the key in
//! the tab's session storage) and the administration API under `/admin/api/v1`, described by OpenAPI at
//! `/admin/api/openapi.json` (generated from the same code through
//! utoipa-axum). Callers authenticate with an administration key
//! (`Authorization: Bearer rga_...`, made by `rounds gateway admin-token
//! create`); the gateway's access tokens for FHIR callers are no admin keys.
//! Every call is audited. Errors share Rounds' shape:
//! `{"error": {"code", "message", "field"?}}`.

mod access;
mod clients;
mod dto;
mod error;
mod keys_audit;
mod tenants;

pub use access::Admin;
pub use dto::{
    AddSecretRequest, AuditQuery, ClientDto, CreateClientRequest, CreatedClientDto, NewSecretDto,
    PutTenantRequest, SecretDto, TenantDto, UpdateClientRequest,
};
pub use error::{ApiError, ErrorBody};

use std::sync::Arc;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::Gateway;

use clients::*;
use keys_audit::*;
use tenants::*;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Rounds gateway administration API",
        description = "Clients (callers of the token endpoint) and their secrets, tenants (tenant id → \
                       upstream FHIR server), signing keys and the audit log. Authenticate with an \
                       administration key: Authorization: Bearer rga_... (rounds gateway admin-token create). \
                       Errors share one shape: {\"error\": {\"code\", \"message\", \"field\"?}}."
    ),
    modifiers(&AdminKey),
    tags(
        (name = "clients", description = "Clients and their secrets"),
        (name = "tenants", description = "Tenants and their upstreams"),
        (name = "keys", description = "Token signing keys"),
        (name = "audit", description = "The audit log"),
    )
)]
struct ApiDoc;

struct AdminKey;

impl Modify for AdminKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "adminKey",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The admin routes and the OpenAPI document.
pub fn router() -> Router<Arc<Gateway>> {
    let (router, api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(list_clients, create_client))
        .routes(routes!(get_client, update_client, delete_client))
        .routes(routes!(add_secret))
        .routes(routes!(revoke_secret))
        .routes(routes!(list_tenants))
        .routes(routes!(put_tenant, delete_tenant))
        .routes(routes!(list_keys, rotate_key))
        .routes(routes!(search_audit))
        .routes(routes!(verify_audit))
        .split_for_parts();
    let doc = api.to_pretty_json().unwrap_or_default();
    router
        .route(
            "/admin",
            axum::routing::get(|| {
                page(
                    include_str!("../../static/admin.html"),
                    "text/html; charset=utf-8",
                )
            }),
        )
        .route(
            "/admin/admin.js",
            axum::routing::get(|| {
                page(
                    include_str!("../../static/admin.js"),
                    "text/javascript; charset=utf-8",
                )
            }),
        )
        .route(
            "/admin/admin.css",
            axum::routing::get(|| {
                page(
                    include_str!("../../static/admin.css"),
                    "text/css; charset=utf-8",
                )
            }),
        )
        .route(
            "/admin/api/openapi.json",
            axum::routing::get(move || {
                let doc = doc.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], doc) }
            }),
        )
}

/// One of the admin page's files, under a strict content security policy
/// (its own script and style only; nothing inline, no other origin).
async fn page(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}
