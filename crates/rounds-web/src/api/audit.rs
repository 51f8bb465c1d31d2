use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rounds_app::{AuditQuery, ExportFormat};
use rounds_core::audit::Operation;
use rounds_core::Timestamp;
use serde::Deserialize;
use utoipa::IntoParams;

use super::dto::{AuditPage, AuditRecordDto};
use super::parse_id;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiActor, ApiQuery};
use crate::AppState;

/// Search filters; every one given must match.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// The acting user's username (or the name typed at a refused sign-in).
    pub username: Option<String>,
    /// A team's id.
    pub team_id: Option<String>,
    /// A patient reference: `server|resource-id` for EHR patients, or a manual patient's id.
    pub patient_ref: Option<String>,
    /// An operation name, e.g. `SignIn`, `PatientView`, `AccessRefused`.
    pub operation: Option<String>,
    /// `success` or `refused`.
    pub outcome: Option<String>,
    /// From this time (RFC 3339 or YYYY-MM-DD), inclusive.
    pub from: Option<String>,
    /// Up to this time (RFC 3339 or YYYY-MM-DD), exclusive.
    pub to: Option<String>,
    /// Only records older than this sequence number (paging).
    pub before: Option<i64>,
    /// Page size, 1 to 500 (default 100).
    pub limit: Option<i64>,
    /// Export format: `csv` (default), `jsonl` (the records as stored),
    /// `fhir` (FHIR R4 AuditEvents in a collection Bundle) or `ndjson`
    /// (AuditEvents, one per line).
    pub format: Option<String>,
}

fn invalid(field: &str, message: String) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        message,
    )
    .with_field(field)
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl AuditParams {
    /// The query these parameters ask for, or which parameter is wrong.
    pub fn to_query(&self) -> ApiResult<AuditQuery> {
        let time = |field: &str, v: &Option<String>| -> ApiResult<Option<Timestamp>> {
            non_empty(v)
                .map(|raw| {
                    Timestamp::parse(raw).ok_or_else(|| {
                        invalid(field, format!("{field}: {raw:?} is not a time; use RFC 3339 (2026-11-22T08:00:00Z) or a date (2026-11-22)"))
                    })
                })
                .transpose()
        };
        let operation = non_empty(&self.operation)
            .map(|raw| {
                raw.parse::<Operation>()
                    .map_err(|e| invalid("operation", format!("operation: {e}")))
            })
            .transpose()?;
        let outcome = non_empty(&self.outcome)
            .map(|raw| match raw {
                "success" | "refused" => Ok(raw.to_owned()),
                _ => Err(invalid(
                    "outcome",
                    format!("outcome: {raw:?} is not one of success, refused"),
                )),
            })
            .transpose()?;
        if let Some(limit) = self.limit {
            if !(1..=500).contains(&limit) {
                return Err(invalid(
                    "limit",
                    format!("limit: {limit} is outside 1 to 500"),
                ));
            }
        }
        Ok(AuditQuery {
            username: non_empty(&self.username).map(str::to_owned),
            team_id: non_empty(&self.team_id)
                .map(|raw| parse_id("teamId", raw))
                .transpose()?,
            patient_ref: non_empty(&self.patient_ref).map(str::to_owned),
            operation,
            outcome,
            from: time("from", &self.from)?,
            to: time("to", &self.to)?,
            before_seq: self.before,
            limit: self.limit,
        })
    }

    pub fn export_format(&self) -> ApiResult<ExportFormat> {
        match non_empty(&self.format) {
            None | Some("csv") => Ok(ExportFormat::Csv),
            Some("jsonl") => Ok(ExportFormat::JsonLines),
            Some("fhir") => Ok(ExportFormat::FhirBundle),
            Some("ndjson") => Ok(ExportFormat::FhirNdjson),
            Some(other) => Err(invalid(
                "format",
                format!("format: {other:?} is not one of csv, jsonl, fhir, ndjson"),
            )),
        }
    }
}

/// Search the audit log, newest first (site administrators only).
#[utoipa::path(get, path = "/api/v1/audit", operation_id = "searchAudit", tag = "audit",
    security(("session" = [])),
    params(AuditParams),
    responses((status = 200, body = AuditPage), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn search_audit(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> ApiResult<Json<AuditPage>> {
    let query = params.to_query()?;
    let records = state.app.search_audit(&actor, &query).await?;
    let page_size = usize::try_from(query.limit.unwrap_or(100)).unwrap_or(100);
    let next_before = (records.len() == page_size)
        .then(|| records.last().map(|r| r.seq))
        .flatten();
    Ok(Json(AuditPage {
        records: records.iter().map(AuditRecordDto::from).collect(),
        next_before,
    }))
}

/// Export every matching record, oldest first, as CSV, JSON lines or FHIR
/// AuditEvents (site administrators only). The export is itself audited (ExportInitiation).
#[utoipa::path(get, path = "/api/v1/audit/export", operation_id = "exportAudit", tag = "audit",
    security(("session" = [])),
    params(AuditParams),
    responses(
        (status = 200, content_type = "text/csv", description = "CSV with a header row; JSON lines with `format=jsonl`; a FHIR Bundle of AuditEvents with `format=fhir`, or NDJSON of them with `format=ndjson`"),
        (status = 403, body = ErrorBody),
    ))]
pub async fn export_audit(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> ApiResult<Response> {
    export_response(&state, &actor, &params).await
}

/// The export as a download; shared with the admin page.
pub async fn export_response(
    state: &AppState,
    actor: &rounds_app::Actor,
    params: &AuditParams,
) -> ApiResult<Response> {
    let query = params.to_query()?;
    let format = params.export_format()?;
    let export = state.app.export_audit(actor, &query, format).await?;
    let (content_type, ext) = match export.format {
        ExportFormat::Csv => ("text/csv; charset=utf-8", "csv"),
        ExportFormat::JsonLines => ("application/x-ndjson", "jsonl"),
        ExportFormat::FhirBundle => ("application/fhir+json", "json"),
        ExportFormat::FhirNdjson => ("application/fhir+ndjson", "ndjson"),
    };
    let stamp = Timestamp::now().to_rfc3339().replace(':', "");
    let disposition = format!("attachment; filename=\"rounds-audit-{stamp}.{ext}\"");
    let mut response = export.body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}
