//! `/admin/api/v1/tenants`: tenants and their upstreams.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;

use crate::tenants::TenantInput;
use crate::Gateway;

use super::access::{finish, Admin};
use super::dto::{PutTenantRequest, TenantDto};
use super::error::{ApiError, ErrorBody};

/// Every tenant.
#[utoipa::path(get, path = "/admin/api/v1/tenants", operation_id = "listTenants", tag = "tenants",
    security(("adminKey" = [])), responses((status = 200, body = Vec<TenantDto>), (status = 401, body = ErrorBody)))]
pub(super) async fn list_tenants(State(gw): State<Arc<Gateway>>, mut admin: Admin) -> Response {
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
pub(super) async fn put_tenant(
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
pub(super) async fn delete_tenant(
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
