//! Linking a patient typed by hand to its EHR record, and unlinking it.

use rounds_core::{PatientId, TeamId};

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiActor, ApiJson, ApiPath};
use crate::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LinkRequest {
    /// The FHIR Patient id in the team's EHR.
    pub ehr_id: String,
}

/// Link a patient typed by hand to its EHR record; the team's fields and
/// notes stay (recorded as PatientDetailsEdit).
#[utoipa::path(put, path = "/api/v1/teams/{teamId}/patients/{patientId}/ehr-link", operation_id = "linkPatient", tag = "ehr",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path), ("patientId" = String, Path)),
    request_body = LinkRequest,
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub async fn link_patient(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, patient)): ApiPath<(TeamId, PatientId)>,
    ApiJson(body): ApiJson<LinkRequest>,
) -> ApiResult<StatusCode> {
    state
        .app
        .link_patient(&actor, team, patient, &body.ehr_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Unlink a patient from its EHR record; the team's fields and notes stay.
#[utoipa::path(delete, path = "/api/v1/teams/{teamId}/patients/{patientId}/ehr-link", operation_id = "unlinkPatient", tag = "ehr",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path), ("patientId" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn unlink_patient(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, patient)): ApiPath<(TeamId, PatientId)>,
) -> ApiResult<StatusCode> {
    state.app.unlink_patient(&actor, team, patient).await?;
    Ok(StatusCode::NO_CONTENT)
}
