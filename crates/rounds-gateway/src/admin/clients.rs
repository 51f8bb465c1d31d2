//! `/admin/api/v1/clients`: clients and their secrets.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::Json;

use crate::db::now_millis;
use crate::{Gateway, GatewayError};

use super::access::{finish, Admin};
use super::dto::{
    AddSecretRequest, ClientDto, CreateClientRequest, CreatedClientDto, NewSecretDto,
    UpdateClientRequest,
};
use super::error::{ApiError, ErrorBody};

/// Every client.
#[utoipa::path(get, path = "/admin/api/v1/clients", operation_id = "listClients", tag = "clients",
    security(("adminKey" = [])), responses((status = 200, body = Vec<ClientDto>), (status = 401, body = ErrorBody)))]
pub(super) async fn list_clients(State(gw): State<Arc<Gateway>>, mut admin: Admin) -> Response {
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
pub(super) async fn create_client(
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
pub(super) async fn get_client(
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
pub(super) async fn update_client(
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
pub(super) async fn delete_client(
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
pub(super) async fn add_secret(
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
pub(super) async fn revoke_secret(
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
