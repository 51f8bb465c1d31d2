//! `/admin/api/v1/keys` (signing keys) and `/admin/api/v1/audit` (search
//! and verify the audit log).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::Gateway;

use super::access::{finish, Admin};
use super::dto::AuditQuery;
use super::error::{ApiError, ErrorBody};

/// The signing keys.
#[utoipa::path(get, path = "/admin/api/v1/keys", operation_id = "listKeys", tag = "keys",
    security(("adminKey" = [])), responses((status = 200, body = Object)))]
pub(super) async fn list_keys(State(gw): State<Arc<Gateway>>, mut admin: Admin) -> Response {
    let r = gw.keys.list().await.map(Json).map_err(ApiError::from);
    finish(&mut admin, r)
}

/// Make a new signing key; the old ones verify until their tokens expire.
#[utoipa::path(post, path = "/admin/api/v1/keys", operation_id = "rotateKey", tag = "keys",
    security(("adminKey" = [])), responses((status = 201, body = Object)))]
pub(super) async fn rotate_key(State(gw): State<Arc<Gateway>>, mut admin: Admin) -> Response {
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
pub(super) async fn search_audit(
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
pub(super) async fn verify_audit(State(gw): State<Arc<Gateway>>, mut admin: Admin) -> Response {
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
