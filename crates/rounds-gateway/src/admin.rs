//! The admin page (`/admin`, a thin client of the API holding the key in
//! the tab's session storage) and the administration API under `/admin/api/v1`, described by OpenAPI at
//! `/admin/api/openapi.json` (generated from the same code through
//! utoipa-axum). Callers authenticate with an administration key
//! (`Authorization: Bearer rga_...`, made by `rounds gateway admin-token
//! create`); the gateway's access tokens for FHIR callers are no admin keys.
//! Every call is audited. Errors share Rounds' shape:
//! `{"error": {"code", "message", "field"?}}`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::AuditEntry;
use crate::db::now_millis;
use crate::registry::{Client, SecretInfo};
use crate::tenants::{Tenant, TenantInput, UpstreamAuth};
use crate::{Gateway, GatewayError};

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
                    include_str!("../static/admin.html"),
                    "text/html; charset=utf-8",
                )
            }),
        )
        .route(
            "/admin/admin.js",
            axum::routing::get(|| {
                page(
                    include_str!("../static/admin.js"),
                    "text/javascript; charset=utf-8",
                )
            }),
        )
        .route(
            "/admin/admin.css",
            axum::routing::get(|| {
                page(
                    include_str!("../static/admin.css"),
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

// ---------------------------------------------------------------- errors

/// The error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
struct ErrorDetail {
    code: String,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
}

/// An error answer of the admin API.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            Json(ErrorBody {
                error: ErrorDetail {
                    code: self.code.into(),
                    message: self.message,
                    field: self.field,
                },
            }),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"rounds-gateway-admin\""),
            );
        }
        r
    }
}

impl From<GatewayError> for ApiError {
    fn from(e: GatewayError) -> Self {
        match e {
            GatewayError::Invalid { field, message } => Self {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                code: "invalid",
                message,
                field: Some(field.to_owned()),
            },
            GatewayError::NotFound(what) => Self::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{what} not found"),
            ),
            GatewayError::Conflict(m) => Self::new(StatusCode::CONFLICT, "conflict", m),
            other => {
                tracing::error!(error = %other, "admin API error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the gateway could not do that now",
                )
            }
        }
    }
}

type ApiResult<T> = Result<T, ApiError>;

// -------------------------------------------------------- authentication

/// A caller holding a live administration key; the call is audited when
/// the guard is dropped.
pub struct Admin {
    gw: Arc<Gateway>,
    entry: Option<AuditEntry>,
    started: Instant,
}

impl Drop for Admin {
    fn drop(&mut self) {
        if let Some(mut entry) = self.entry.take() {
            entry.duration_ms =
                i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX);
            let gw = self.gw.clone();
            tokio::spawn(async move {
                if let Err(e) = gw.audit.append(&entry).await {
                    tracing::error!(error = %e, "cannot audit an admin call");
                }
            });
        }
    }
}

impl Admin {
    fn done(&mut self, status: StatusCode) {
        if let Some(e) = self.entry.as_mut() {
            e.status = status.as_u16();
            e.outcome = if status.is_success() {
                "ok".into()
            } else {
                "refused".into()
            };
        }
    }
}

impl FromRequestParts<Arc<Gateway>> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        gw: &Arc<Gateway>,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        let mut entry = AuditEntry {
            method: parts.method.as_str().to_owned(),
            path: parts.uri.path().to_owned(),
            client_addr: peer,
            status: 401,
            outcome: "admin_unauthenticated".into(),
            ..AuditEntry::default()
        };
        let refuse = |gw: &Arc<Gateway>, entry: AuditEntry, msg: &str| {
            let gw = gw.clone();
            tokio::spawn(async move {
                let _ = gw.audit.append(&entry).await;
            });
            ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", msg)
        };
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(s, _)| s.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim().to_owned());
        let Some(token) = token else {
            return Err(refuse(
                gw,
                entry,
                "an administration key is required (Authorization: Bearer rga_...)",
            ));
        };
        match gw.registry.check_admin_token(&token).await {
            Ok(Some(key)) => {
                entry.client_id = Some(format!("admin:{}", key.id));
                entry.status = 200;
                entry.outcome = "ok".into();
                Ok(Admin {
                    gw: gw.clone(),
                    entry: Some(entry),
                    started: Instant::now(),
                })
            }
            Ok(None) => Err(refuse(gw, entry, "this is not a live administration key")),
            Err(e) => Err(e.into()),
        }
    }
}

fn finish<T: IntoResponse>(admin: &mut Admin, r: ApiResult<T>) -> Response {
    let resp = match r {
        Ok(v) => v.into_response(),
        Err(e) => e.into_response(),
    };
    admin.done(resp.status());
    resp
}

// ---------------------------------------------------------------- DTOs

/// A client as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientDto {
    client_id: String,
    name: String,
    tenants: Vec<String>,
    disabled: bool,
    created_at: i64,
    has_jwks: bool,
    secrets: Vec<SecretDto>,
}

/// A secret (never the secret itself).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretDto {
    secret_id: String,
    created_at: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    live: bool,
}

impl From<&SecretInfo> for SecretDto {
    fn from(s: &SecretInfo) -> Self {
        Self {
            secret_id: s.id.clone(),
            created_at: s.created_at,
            expires_at: s.expires_at,
            revoked_at: s.revoked_at,
            live: s.is_live(now_millis()),
        }
    }
}

impl From<Client> for ClientDto {
    fn from(c: Client) -> Self {
        Self {
            secrets: c.secrets.iter().map(SecretDto::from).collect(),
            client_id: c.id,
            name: c.name,
            tenants: c.tenants,
            disabled: c.disabled,
            created_at: c.created_at,
            has_jwks: c.has_jwks,
        }
    }
}

/// A new secret: shown in this answer only.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewSecretDto {
    client_id: String,
    secret_id: String,
    client_secret: String,
    expires_at: Option<i64>,
}

/// Registering a client.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateClientRequest {
    name: String,
    #[serde(default)]
    tenants: Vec<String>,
    /// Seconds until the first secret expires; never when absent.
    #[serde(default)]
    secret_expires_in: Option<u64>,
}

/// A new client and its first secret.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedClientDto {
    client: ClientDto,
    secret: NewSecretDto,
}

/// Changing a client.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateClientRequest {
    #[serde(default)]
    disabled: Option<bool>,
    #[serde(default)]
    tenants: Option<Vec<String>>,
    /// The client's JWKS for private_key_jwt; `null` removes it.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    jwks: Option<serde_json::Value>,
}

/// Adding a secret (rotation).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddSecretRequest {
    #[serde(default)]
    expires_in: Option<u64>,
}

/// A tenant as the API shows it (never the upstream secret).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantDto {
    tenant_id: String,
    base_url: String,
    fhir_version: String,
    #[schema(value_type = Object)]
    auth: UpstreamAuth,
    has_secret: bool,
    allow_writes: bool,
    origin: String,
    updated_at: i64,
}

impl From<Tenant> for TenantDto {
    fn from(t: Tenant) -> Self {
        Self {
            tenant_id: t.id,
            base_url: t.base_url,
            fhir_version: t.fhir_version,
            auth: t.auth,
            has_secret: t.has_secret,
            allow_writes: t.allow_writes,
            origin: t.origin,
            updated_at: t.updated_at,
        }
    }
}

/// Adding or replacing a tenant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PutTenantRequest {
    base_url: String,
    #[serde(default = "default_version")]
    fhir_version: String,
    /// `{"kind": "none"}`, `{"kind": "basic", "username"}`,
    /// `{"kind": "client_credentials", "client_id", "token_url"?, "scope"?, "secret_in_body"?}`,
    /// `{"kind": "backend_services", "client_id", "algorithm", "key_id"?, "token_url"?, "scope"?}`.
    #[serde(default = "no_auth")]
    #[schema(value_type = Object)]
    auth: UpstreamAuth,
    /// The password, client secret or private key (PEM); write-only.
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    allow_writes: bool,
}

fn default_version() -> String {
    "4.0.1".into()
}

fn no_auth() -> UpstreamAuth {
    UpstreamAuth::None
}

/// Audit filters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct AuditQuery {
    client: Option<String>,
    tenant: Option<String>,
    since: Option<i64>,
    until: Option<i64>,
    limit: Option<i64>,
    /// `json` (default), `jsonl`, `csv` or `fhir`.
    format: Option<String>,
}

// ---------------------------------------------------------------- clients

/// Every client.
#[utoipa::path(get, path = "/admin/api/v1/clients", operation_id = "listClients", tag = "clients",
    security(("adminKey" = [])), responses((status = 200, body = Vec<ClientDto>), (status = 401, body = ErrorBody)))]
async fn list_clients(State(gw): State<Arc<Gateway>>, mut admin: Admin) -> Response {
    let r = gw
        .registry
        .clients()
        .await
        .map(|cs| Json(cs.into_iter().map(ClientDto::from).collect::<Vec<_>>()))
        .map_err(ApiError::from);
    finish(&mut admin, r)
}

/// Register a client; the answer holds its first secret, shown only here.
#[utoipa::path(post, path = "/admin/api/v1/clients", operation_id = "createClient", tag = "clients",
    security(("adminKey" = [])), request_body = CreateClientRequest,
    responses((status = 201, body = CreatedClientDto), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_client(
    State(gw): State<Arc<Gateway>>,
    mut admin: Admin,
    body: Result<Json<CreateClientRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let r = async {
        let Json(body) = body.map_err(|e| {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.body_text())
        })?;
        let expires = body.secret_expires_in.map(|s| {
            now_millis().saturating_add(i64::try_from(s).unwrap_or(i64::MAX / 2000) * 1000)
        });
        let (client, secret) = gw
            .registry
            .create_client(&body.name, &body.tenants, expires)
            .await?;
        Ok((
            StatusCode::CREATED,
            [(header::CACHE_CONTROL, "no-store")],
            Json(CreatedClientDto {
                secret: NewSecretDto {
                    client_id: client.id.clone(),
                    secret_id: secret.secret_id,
                    client_secret: secret.client_secret,
                    expires_at: secret.expires_at,
                },
                client: client.into(),
            }),
        ))
    }
    .await;
    finish(&mut admin, r)
}

/// One client.
#[utoipa::path(get, path = "/admin/api/v1/clients/{clientId}", operation_id = "getClient", tag = "clients",
    security(("adminKey" = [])), params(("clientId" = String, Path)),
    responses((status = 200, body = ClientDto), (status = 404, body = ErrorBody)))]
async fn get_client(
    State(gw): State<Arc<Gateway>>,
    mut admin: Admin,
    Path(id): Path<String>,
) -> Response {
    let r = async {
        let c = gw
            .registry
            .client(&id)
            .await?
            .ok_or_else(|| GatewayError::NotFound(format!("client {id}")))?;
        Ok::<_, ApiError>(Json(ClientDto::from(c)))
    }
    .await;
    finish(&mut admin, r)
}

/// Disable or enable a client, replace its tenants, register its JWKS.
#[utoipa::path(patch, path = "/admin/api/v1/clients/{clientId}", operation_id = "updateClient", tag = "clients",
    security(("adminKey" = [])), params(("clientId" = String, Path)), request_body = UpdateClientRequest,
    responses((status = 200, body = ClientDto), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_client(
    State(gw): State<Arc<Gateway>>,
    mut admin: Admin,
    Path(id): Path<String>,
    body: Result<Json<serde_json::Value>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let r = async {
        let Json(raw) = body.map_err(|e| {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.body_text())
        })?;
        let jwks_given = raw.get("jwks").is_some();
        let body: UpdateClientRequest = serde_json::from_value(raw).map_err(|e| {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.to_string())
        })?;
        if let Some(d) = body.disabled {
            gw.registry.set_disabled(&id, d).await?;
        }
        if let Some(t) = &body.tenants {
            gw.registry.set_tenants(&id, t).await?;
        }
        if jwks_given {
            gw.registry
                .set_jwks(&id, body.jwks.as_ref().filter(|v| !v.is_null()))
                .await?;
        }
        let c = gw
            .registry
            .client(&id)
            .await?
            .ok_or_else(|| GatewayError::NotFound(format!("client {id}")))?;
        Ok::<_, ApiError>(Json(ClientDto::from(c)))
    }
    .await;
    finish(&mut admin, r)
}

/// Delete a client and its secrets.
#[utoipa::path(delete, path = "/admin/api/v1/clients/{clientId}", operation_id = "deleteClient", tag = "clients",
    security(("adminKey" = [])), params(("clientId" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_client(
    State(gw): State<Arc<Gateway>>,
    mut admin: Admin,
    Path(id): Path<String>,
) -> Response {
    let r = gw
        .registry
        .delete_client(&id)
        .await
        .map(|()| StatusCode::NO_CONTENT)
        .map_err(ApiError::from);
    finish(&mut admin, r)
}

/// Add a secret (rotation: at most two live at once); shown only here.
#[utoipa::path(post, path = "/admin/api/v1/clients/{clientId}/secrets", operation_id = "addSecret", tag = "clients",
    security(("adminKey" = [])), params(("clientId" = String, Path)), request_body = AddSecretRequest,
    responses((status = 201, body = NewSecretDto), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn add_secret(
    State(gw): State<Arc<Gateway>>,
    mut admin: Admin,
    Path(id): Path<String>,
    body: Option<Json<AddSecretRequest>>,
) -> Response {
    let r = async {
        let body = body.map(|Json(b)| b).unwrap_or_default();
        let expires = body.expires_in.map(|s| {
            now_millis().saturating_add(i64::try_from(s).unwrap_or(i64::MAX / 2000) * 1000)
        });
        let s = gw.registry.add_secret(&id, expires).await?;
        Ok::<_, ApiError>((
            StatusCode::CREATED,
            [(header::CACHE_CONTROL, "no-store")],
            Json(NewSecretDto {
                client_id: id.clone(),
                secret_id: s.secret_id,
                client_secret: s.client_secret,
                expires_at: s.expires_at,
            }),
        ))
    }
    .await;
    finish(&mut admin, r)
}

/// Revoke a secret: it and the tokens issued under it are refused within
/// seconds on every instance.
#[utoipa::path(delete, path = "/admin/api/v1/clients/{clientId}/secrets/{secretId}", operation_id = "revokeSecret", tag = "clients",
    security(("adminKey" = [])), params(("clientId" = String, Path), ("secretId" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn revoke_secret(
    State(gw): State<Arc<Gateway>>,
    mut admin: Admin,
    Path((id, secret)): Path<(String, String)>,
) -> Response {
    let r = gw
        .registry
        .revoke_secret(&id, &secret)
        .await
        .map(|()| StatusCode::NO_CONTENT)
        .map_err(ApiError::from);
    finish(&mut admin, r)
}

// ---------------------------------------------------------------- tenants

/// Every tenant.
#[utoipa::path(get, path = "/admin/api/v1/tenants", operation_id = "listTenants", tag = "tenants",
    security(("adminKey" = [])), responses((status = 200, body = Vec<TenantDto>), (status = 401, body = ErrorBody)))]
async fn list_tenants(State(gw): State<Arc<Gateway>>, mut admin: Admin) -> Response {
    let r = gw
        .tenants
        .list()
        .await
        .map(|ts| Json(ts.into_iter().map(TenantDto::from).collect::<Vec<_>>()))
        .map_err(ApiError::from);
    finish(&mut admin, r)
}

/// Add or replace a tenant (its upstream secret is sealed at rest).
#[utoipa::path(put, path = "/admin/api/v1/tenants/{tenantId}", operation_id = "putTenant", tag = "tenants",
    security(("adminKey" = [])), params(("tenantId" = String, Path)), request_body = PutTenantRequest,
    responses((status = 200, body = TenantDto), (status = 422, body = ErrorBody)))]
async fn put_tenant(
    State(gw): State<Arc<Gateway>>,
    mut admin: Admin,
    Path(id): Path<String>,
    body: Result<Json<PutTenantRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let r = async {
        let Json(b) = body.map_err(|e| {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.body_text())
        })?;
        let input = TenantInput {
            id,
            base_url: b.base_url,
            fhir_version: b.fhir_version,
            auth: b.auth,
            secret: b.secret,
            allow_writes: b.allow_writes,
        };
        let t = gw.tenants.put(&input, "admin", &gw.sealer).await?;
        Ok::<_, ApiError>(Json(TenantDto::from(t)))
    }
    .await;
    finish(&mut admin, r)
}

/// Remove a tenant.
#[utoipa::path(delete, path = "/admin/api/v1/tenants/{tenantId}", operation_id = "deleteTenant", tag = "tenants",
    security(("adminKey" = [])), params(("tenantId" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_tenant(
    State(gw): State<Arc<Gateway>>,
    mut admin: Admin,
    Path(id): Path<String>,
) -> Response {
    let r = gw
        .tenants
        .delete(&id)
        .await
        .map(|()| StatusCode::NO_CONTENT)
        .map_err(ApiError::from);
    finish(&mut admin, r)
}

// ------------------------------------------------------------ keys, audit

/// The signing keys.
#[utoipa::path(get, path = "/admin/api/v1/keys", operation_id = "listKeys", tag = "keys",
    security(("adminKey" = [])), responses((status = 200, body = Object)))]
async fn list_keys(State(gw): State<Arc<Gateway>>, mut admin: Admin) -> Response {
    let r = gw.keys.list().await.map(Json).map_err(ApiError::from);
    finish(&mut admin, r)
}

/// Make a new signing key; the old ones verify until their tokens expire.
#[utoipa::path(post, path = "/admin/api/v1/keys", operation_id = "rotateKey", tag = "keys",
    security(("adminKey" = [])), responses((status = 201, body = Object)))]
async fn rotate_key(State(gw): State<Arc<Gateway>>, mut admin: Admin) -> Response {
    let r = gw
        .keys
        .rotate()
        .await
        .map(|kid| (StatusCode::CREATED, Json(serde_json::json!({"kid": kid}))))
        .map_err(ApiError::from);
    finish(&mut admin, r)
}

/// Search or export the audit log (newest first).
#[utoipa::path(get, path = "/admin/api/v1/audit", operation_id = "searchAudit", tag = "audit",
    security(("adminKey" = [])), params(AuditQuery),
    responses((status = 200, body = Object), (status = 422, body = ErrorBody)))]
async fn search_audit(
    State(gw): State<Arc<Gateway>>,
    mut admin: Admin,
    Query(q): Query<AuditQuery>,
) -> Response {
    let r = async {
        let filter = crate::audit::AuditFilter {
            client_id: q.client,
            tenant_id: q.tenant,
            since: q.since,
            until: q.until,
            limit: Some(q.limit.unwrap_or(1000)),
        };
        let records = gw.audit.search(&filter).await?;
        let (format, content_type) = match q.format.as_deref().unwrap_or("json") {
            "json" => return Ok(Json(records).into_response()),
            "jsonl" => (
                crate::audit::ExportFormat::JsonLines,
                "application/x-ndjson",
            ),
            "csv" => (crate::audit::ExportFormat::Csv, "text/csv"),
            "fhir" => (crate::audit::ExportFormat::Fhir, "application/fhir+json"),
            _ => {
                return Err(ApiError {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    code: "invalid",
                    message: "format is json, jsonl, csv or fhir".into(),
                    field: Some("format".into()),
                })
            }
        };
        let mut out = Vec::new();
        crate::audit::export(&records, format, &gw.settings.public_url, &mut out)?;
        Ok::<_, ApiError>(([(header::CONTENT_TYPE, content_type)], out).into_response())
    }
    .await;
    finish(&mut admin, r)
}

/// Check the audit log's hash chain.
#[utoipa::path(get, path = "/admin/api/v1/audit/verify", operation_id = "verifyAudit", tag = "audit",
    security(("adminKey" = [])), responses((status = 200, body = Object)))]
async fn verify_audit(State(gw): State<Arc<Gateway>>, mut admin: Admin) -> Response {
    let r = gw
        .audit
        .verify()
        .await
        .map(|v| {
            Json(match v {
                Ok(n) => serde_json::json!({"intact": true, "records": n}),
                Err(b) => serde_json::json!({"intact": false, "break": b.to_string()}),
            })
        })
        .map_err(ApiError::from);
    finish(&mut admin, r)
}
