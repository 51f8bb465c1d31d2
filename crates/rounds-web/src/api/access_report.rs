//! The per-patient access report (site administrators): who looked at,
//! searched for, edited, exported or was refused one patient, and when.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rounds_app::access_report::{AccessReport, PatientKey};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::dto::AuditRecordDto;
use super::parse_id;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiActor, ApiQuery};
use crate::AppState;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct AccessParams {
    /// A patient's id in Rounds (typed in by hand, or an EHR patient of a team).
    pub patient_id: Option<String>,
    /// An EHR Patient id: every team's patient with that record.
    pub ehr_id: Option<String>,
    /// `json` (default) or `csv` (a download, itself audited).
    pub format: Option<String>,
}

impl AccessParams {
    pub fn key(&self) -> ApiResult<PatientKey> {
        let given = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        match (given(&self.patient_id), given(&self.ehr_id)) {
            (Some(p), None) => Ok(PatientKey::Patient(parse_id("patientId", &p)?)),
            (None, Some(e)) => Ok(PatientKey::Ehr(e)),
            _ => Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "patientId: give either patientId or ehrId",
            )
            .with_field("patientId")),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessEntryDto {
    /// viewed, searched, edited, exported, refused or other.
    pub action: String,
    pub record: AuditRecordDto,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessReportDto {
    pub about: String,
    /// The team patients covered: {patientId, teamId}.
    pub patients: Vec<serde_json::Value>,
    /// Oldest first.
    pub entries: Vec<AccessEntryDto>,
    pub truncated: bool,
}

impl From<&AccessReport> for AccessReportDto {
    fn from(r: &AccessReport) -> Self {
        Self {
            about: r.key.describe(),
            patients: r
                .patients
                .iter()
                .map(|(p, t)| serde_json::json!({ "patientId": p.to_string(), "teamId": t.to_string() }))
                .collect(),
            entries: r
                .entries
                .iter()
                .map(|e| AccessEntryDto {
                    action: e.action.to_owned(),
                    record: AuditRecordDto::from(&e.record),
                })
                .collect(),
            truncated: r.truncated,
        }
    }
}

/// Everyone who viewed, searched for, edited, exported or was refused a
/// patient, oldest first (site administrators only); `format=csv` downloads
/// it (recorded as ExportInitiation).
#[utoipa::path(get, path = "/api/v1/audit/patient-access", operation_id = "patientAccessReport", tag = "audit",
    security(("session" = [])),
    params(AccessParams),
    responses((status = 200, body = AccessReportDto), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn patient_access_report(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiQuery(params): ApiQuery<AccessParams>,
) -> ApiResult<Response> {
    respond(&state, &actor, &params).await
}

/// The report as JSON or CSV; shared with the admin page's download.
pub async fn respond(
    state: &AppState,
    actor: &rounds_app::Actor,
    params: &AccessParams,
) -> ApiResult<Response> {
    let key = params.key()?;
    match params.format.as_deref().map(str::trim) {
        None | Some("" | "json") => {
            let report = state.app.patient_access_report(actor, &key).await?;
            Ok(Json(AccessReportDto::from(&report)).into_response())
        }
        Some("csv") => {
            let body = state.app.export_patient_access(actor, &key).await?;
            let mut response = body.into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            headers.insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"rounds-patient-access.csv\""),
            );
            Ok(response)
        }
        Some(other) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            format!("format: {other:?} is not one of json, csv"),
        )
        .with_field("format")),
    }
}
