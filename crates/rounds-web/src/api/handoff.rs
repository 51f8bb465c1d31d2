//! I-PASS hand-off per patient.

use axum::extract::State;
use axum::Json;
use rounds_app::IpassChange;
use rounds_core::ipass::{Ipass, Severity};
use rounds_core::Timestamp;
use rounds_core::{PatientId, TeamId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiActor, ApiJson, ApiPath};
use crate::AppState;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IpassDto {
    /// Illness severity: `stable`, `watcher` or `unstable`; null when not set.
    pub severity: Option<String>,
    /// Patient summary.
    pub summary: String,
    /// Situation awareness and contingency ("if … then …").
    pub contingency: String,
    /// Synthesis by the receiver.
    pub synthesis: String,
    /// Send as baseVersion when saving (0: never saved).
    pub version: i64,
    pub updated_at: Option<String>,
    pub updated_by: Option<String>,
}

impl From<&Ipass> for IpassDto {
    fn from(i: &Ipass) -> Self {
        Self {
            severity: i.severity.map(|s| s.as_str().to_owned()),
            summary: i.summary.clone(),
            contingency: i.contingency.clone(),
            synthesis: i.synthesis.clone(),
            version: i.version,
            updated_at: i.updated_at.map(Timestamp::to_rfc3339),
            updated_by: i.updated_by.clone(),
        }
    }
}

fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateIpassRequest {
    pub base_version: i64,
    /// `stable`, `watcher`, `unstable`, or null to clear.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub severity: Option<Option<String>>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub contingency: Option<String>,
    #[serde(default)]
    pub synthesis: Option<String>,
}

/// The patient's I-PASS hand-off (recorded as PatientView).
#[utoipa::path(get, path = "/api/v1/teams/{teamId}/patients/{patientId}/handoff", operation_id = "getHandoff", tag = "tasks",
    security(("session" = [])),
    params(("teamId" = String, Path), ("patientId" = String, Path)),
    responses((status = 200, body = IpassDto), (status = 404, body = ErrorBody)))]
pub async fn get_handoff(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, patient)): ApiPath<(TeamId, PatientId)>,
) -> ApiResult<Json<IpassDto>> {
    let found = state.app.get_ipass(&actor, team, patient).await?;
    Ok(Json(IpassDto::from(&found)))
}

/// Save parts of the patient's I-PASS hand-off (any member); 409 when it
/// changed since baseVersion.
#[utoipa::path(put, path = "/api/v1/teams/{teamId}/patients/{patientId}/handoff", operation_id = "setHandoff", tag = "tasks",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path), ("patientId" = String, Path)),
    request_body = UpdateIpassRequest,
    responses((status = 200, body = IpassDto), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_handoff(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, patient)): ApiPath<(TeamId, PatientId)>,
    ApiJson(body): ApiJson<UpdateIpassRequest>,
) -> ApiResult<Json<IpassDto>> {
    let severity = match body.severity {
        None => None,
        Some(None) => Some(None),
        Some(Some(s)) => Some(Some(super::parse_choice::<Severity>(
            "severity",
            &s,
            "stable, watcher, unstable",
        )?)),
    };
    let change = IpassChange {
        severity,
        summary: body.summary,
        contingency: body.contingency,
        synthesis: body.synthesis,
    };
    let saved = state
        .app
        .set_ipass(&actor, team, patient, &change, body.base_version)
        .await?;
    Ok(Json(IpassDto::from(&saved)))
}
