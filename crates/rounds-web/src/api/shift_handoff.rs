//! Shift hand-off of a list from one person to another.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rounds_app::{HandoffWhich, ShiftHandoffView};
use rounds_core::{ListId, ShiftHandoffId, TeamId};
use rounds_core::{PatientId, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::parse_id;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiActor, ApiJson, ApiPath, ApiQuery};
use crate::AppState;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HandoffPatientDto {
    pub patient_id: String,
    pub name: String,
    pub location: String,
    /// When the giver marked the patient ready (RFC 3339); null: not yet.
    pub ready_at: Option<String>,
    /// When the receiver acknowledged the patient; null: not yet.
    pub acknowledged_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShiftHandoffDto {
    pub id: String,
    pub list_id: String,
    pub list_name: String,
    pub giver_id: String,
    pub giver_name: String,
    pub receiver_id: String,
    pub receiver_name: String,
    pub started_at: String,
    /// Until every patient is acknowledged (or it is cancelled).
    pub open: bool,
    pub closed_at: Option<String>,
    pub cancelled: bool,
    pub ready: usize,
    pub acknowledged: usize,
    /// Send as baseVersion with the next step.
    pub version: i64,
    /// The patients on the list when the hand-off started, in its order.
    pub patients: Vec<HandoffPatientDto>,
}

impl From<&ShiftHandoffView> for ShiftHandoffDto {
    fn from(v: &ShiftHandoffView) -> Self {
        let h = &v.handoff;
        Self {
            id: h.id.to_string(),
            list_id: h.list_id.to_string(),
            list_name: v.list_name.clone(),
            giver_id: h.giver_id.to_string(),
            giver_name: h.giver_name.clone(),
            receiver_id: h.receiver_id.to_string(),
            receiver_name: h.receiver_name.clone(),
            started_at: h.started_at.to_rfc3339(),
            open: v.is_open(),
            closed_at: h.closed_at.map(Timestamp::to_rfc3339),
            cancelled: h.cancelled,
            ready: v.ready_count(),
            acknowledged: v.acked_count(),
            version: h.version,
            patients: v
                .patients
                .iter()
                .map(|p| HandoffPatientDto {
                    patient_id: p.patient_id.to_string(),
                    name: p.name.clone(),
                    location: p.location.clone(),
                    ready_at: p.ready_at.map(Timestamp::to_rfc3339),
                    acknowledged_at: p.acked_at.map(Timestamp::to_rfc3339),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartShiftHandoffRequest {
    /// The member who takes the list over.
    pub receiver_id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ShiftHandoffStepRequest {
    /// The hand-off's version this step was made from.
    pub base_version: i64,
    /// The patients this step is about; leave out (or send `all: true`)
    /// for every patient of the hand-off.
    #[serde(default)]
    pub patient_ids: Option<Vec<String>>,
    #[serde(default)]
    pub all: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CancelShiftHandoffRequest {
    pub base_version: i64,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct OpenHandoffParams {
    /// Only the hand-offs of this list.
    pub list_id: Option<String>,
}

fn which(body: &ShiftHandoffStepRequest) -> Result<HandoffWhich, ApiError> {
    match (&body.patient_ids, body.all) {
        (Some(_), true) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "patientIds: send either patientIds or all, not both",
        )
        .with_field("patientIds")),
        (Some(ids), false) if ids.is_empty() => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "patientIds: name at least one patient",
        )
        .with_field("patientIds")),
        (Some(ids), false) => Ok(HandoffWhich::Some(
            ids.iter()
                .map(|i| parse_id::<rounds_core::id::PatientKind>("patientIds", i))
                .collect::<Result<Vec<PatientId>, _>>()?,
        )),
        (None, _) => Ok(HandoffWhich::All),
    }
}

/// The open shift hand-offs you give or receive (all of the team's for an
/// owner), optionally of one list; their patients are recorded as viewed.
#[utoipa::path(get, path = "/api/v1/teams/{teamId}/handoffs", operation_id = "listShiftHandoffs", tag = "tasks",
    security(("session" = [])),
    params(("teamId" = String, Path), OpenHandoffParams),
    responses((status = 200, body = Vec<ShiftHandoffDto>), (status = 404, body = ErrorBody)))]
pub async fn list_shift_handoffs(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(team): ApiPath<TeamId>,
    ApiQuery(params): ApiQuery<OpenHandoffParams>,
) -> ApiResult<Json<Vec<ShiftHandoffDto>>> {
    let list = params
        .list_id
        .as_deref()
        .map(|l| parse_id("listId", l))
        .transpose()?;
    let found = state.app.open_shift_handoffs(&actor, team, list).await?;
    Ok(Json(found.iter().map(ShiftHandoffDto::from).collect()))
}

/// Start a shift hand-off of the list to a member of the team; it covers
/// the patients on the list now. 409 when you already have one open for
/// this list.
#[utoipa::path(post, path = "/api/v1/teams/{teamId}/lists/{listId}/handoffs", operation_id = "startShiftHandoff", tag = "tasks",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path), ("listId" = String, Path)),
    request_body = StartShiftHandoffRequest,
    responses((status = 201, body = ShiftHandoffDto), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn start_shift_handoff(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, list)): ApiPath<(TeamId, ListId)>,
    ApiJson(body): ApiJson<StartShiftHandoffRequest>,
) -> ApiResult<(StatusCode, Json<ShiftHandoffDto>)> {
    let started = state
        .app
        .start_shift_handoff(
            &actor,
            team,
            list,
            parse_id("receiverId", &body.receiver_id)?,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(ShiftHandoffDto::from(&started))))
}

/// One shift hand-off (its giver, its receiver and the team's owners).
#[utoipa::path(get, path = "/api/v1/teams/{teamId}/handoffs/{handoffId}", operation_id = "getShiftHandoff", tag = "tasks",
    security(("session" = [])),
    params(("teamId" = String, Path), ("handoffId" = String, Path)),
    responses((status = 200, body = ShiftHandoffDto), (status = 404, body = ErrorBody)))]
pub async fn get_shift_handoff(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, handoff)): ApiPath<(TeamId, ShiftHandoffId)>,
) -> ApiResult<Json<ShiftHandoffDto>> {
    let found = state.app.get_shift_handoff(&actor, team, handoff).await?;
    Ok(Json(ShiftHandoffDto::from(&found)))
}

/// The giver marks patients ready (or all). 409 when the hand-off changed
/// since baseVersion or is closed.
#[utoipa::path(post, path = "/api/v1/teams/{teamId}/handoffs/{handoffId}/ready", operation_id = "markShiftHandoffReady", tag = "tasks",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path), ("handoffId" = String, Path)),
    request_body = ShiftHandoffStepRequest,
    responses((status = 200, body = ShiftHandoffDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn mark_shift_handoff_ready(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, handoff)): ApiPath<(TeamId, ShiftHandoffId)>,
    ApiJson(body): ApiJson<ShiftHandoffStepRequest>,
) -> ApiResult<Json<ShiftHandoffDto>> {
    let which = which(&body)?;
    let saved = state
        .app
        .mark_shift_handoff_ready(&actor, team, handoff, &which, body.base_version)
        .await?;
    Ok(Json(ShiftHandoffDto::from(&saved)))
}

/// The receiver acknowledges ready patients (or all ready ones); the
/// hand-off closes when every patient is acknowledged. 409 when a named
/// patient is not ready yet, or the hand-off changed since baseVersion.
#[utoipa::path(post, path = "/api/v1/teams/{teamId}/handoffs/{handoffId}/acknowledge", operation_id = "acknowledgeShiftHandoff", tag = "tasks",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path), ("handoffId" = String, Path)),
    request_body = ShiftHandoffStepRequest,
    responses((status = 200, body = ShiftHandoffDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn acknowledge_shift_handoff(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, handoff)): ApiPath<(TeamId, ShiftHandoffId)>,
    ApiJson(body): ApiJson<ShiftHandoffStepRequest>,
) -> ApiResult<Json<ShiftHandoffDto>> {
    let which = which(&body)?;
    let saved = state
        .app
        .acknowledge_shift_handoff(&actor, team, handoff, &which, body.base_version)
        .await?;
    Ok(Json(ShiftHandoffDto::from(&saved)))
}

/// The giver or an owner cancels an open hand-off.
#[utoipa::path(post, path = "/api/v1/teams/{teamId}/handoffs/{handoffId}/cancel", operation_id = "cancelShiftHandoff", tag = "tasks",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path), ("handoffId" = String, Path)),
    request_body = CancelShiftHandoffRequest,
    responses((status = 200, body = ShiftHandoffDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn cancel_shift_handoff(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, handoff)): ApiPath<(TeamId, ShiftHandoffId)>,
    ApiJson(body): ApiJson<CancelShiftHandoffRequest>,
) -> ApiResult<Json<ShiftHandoffDto>> {
    let saved = state
        .app
        .cancel_shift_handoff(&actor, team, handoff, body.base_version)
        .await?;
    Ok(Json(ShiftHandoffDto::from(&saved)))
}
