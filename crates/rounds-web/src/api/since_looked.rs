//! "What changed since I last looked" on a list and on a patient.

use axum::extract::State;
use axum::Json;
use rounds_app::SinceLooked;
use rounds_core::{ListId, PatientId, TeamId};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiActor, ApiPath};
use crate::AppState;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangeMarkDto {
    /// `added` (new on the list), `field` (a field value), `note`,
    /// `urgent` (an urgent note sent), `urgentAcknowledged`, `task`, or
    /// `ehr` (an EHR value measured since).
    pub kind: String,
    /// The field key, note id, task id or EHR column key.
    pub key: Option<String>,
    /// When it changed (for `ehr`: the value's effective time), RFC 3339.
    pub at: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PatientChangesDto {
    pub patient_id: String,
    pub changes: Vec<ChangeMarkDto>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangesDto {
    /// When you last marked it seen (your first look, if never).
    pub since: String,
    /// How many patients have changes.
    pub count: usize,
    /// Changes made by others since then, per patient, newest first.
    pub patients: Vec<PatientChangesDto>,
}

impl From<&SinceLooked> for ChangesDto {
    fn from(s: &SinceLooked) -> Self {
        let mut patients: Vec<PatientChangesDto> = s
            .patients
            .iter()
            .map(|(p, marks)| {
                let mut marks = marks.clone();
                marks.sort_by_key(|m| std::cmp::Reverse(m.at));
                PatientChangesDto {
                    patient_id: p.to_string(),
                    changes: marks
                        .iter()
                        .map(|m| ChangeMarkDto {
                            kind: m.kind.to_owned(),
                            key: m.key.clone(),
                            at: m.at.to_rfc3339(),
                        })
                        .collect(),
                }
            })
            .collect();
        patients.sort_by(|a, b| a.patient_id.cmp(&b.patient_id));
        Self {
            since: s.since.to_rfc3339(),
            count: s.count(),
            patients,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeenDto {
    /// The new mark: changes after this time count as new.
    pub since: String,
}

/// What others changed on the list's patients since you last marked the
/// list (or the patient) seen; recorded as PatientListView.
#[utoipa::path(get, path = "/api/v1/teams/{teamId}/lists/{listId}/changes", operation_id = "listChanges", tag = "lists",
    security(("session" = [])),
    params(("teamId" = String, Path), ("listId" = String, Path)),
    responses((status = 200, body = ChangesDto), (status = 404, body = ErrorBody)))]
pub async fn list_changes(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, list)): ApiPath<(TeamId, ListId)>,
) -> ApiResult<Json<ChangesDto>> {
    let found = state.app.list_changes(&actor, team, list).await?;
    Ok(Json(ChangesDto::from(&found)))
}

/// Mark everything on the list seen ("mark all seen").
#[utoipa::path(post, path = "/api/v1/teams/{teamId}/lists/{listId}/seen", operation_id = "markListSeen", tag = "lists",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path), ("listId" = String, Path)),
    responses((status = 200, body = SeenDto), (status = 404, body = ErrorBody)))]
pub async fn mark_list_seen(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, list)): ApiPath<(TeamId, ListId)>,
) -> ApiResult<Json<SeenDto>> {
    let at = state.app.mark_list_seen(&actor, team, list).await?;
    Ok(Json(SeenDto {
        since: at.to_rfc3339(),
    }))
}

/// What others changed about the patient since you last marked it (or a
/// list holding it) seen; recorded as PatientView.
#[utoipa::path(get, path = "/api/v1/teams/{teamId}/patients/{patientId}/changes", operation_id = "patientChanges", tag = "patients",
    security(("session" = [])),
    params(("teamId" = String, Path), ("patientId" = String, Path)),
    responses((status = 200, body = ChangesDto), (status = 404, body = ErrorBody)))]
pub async fn patient_changes(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, patient)): ApiPath<(TeamId, PatientId)>,
) -> ApiResult<Json<ChangesDto>> {
    let found = state.app.patient_changes(&actor, team, patient).await?;
    Ok(Json(ChangesDto::from(&found)))
}

/// Mark everything about the patient seen.
#[utoipa::path(post, path = "/api/v1/teams/{teamId}/patients/{patientId}/seen", operation_id = "markPatientSeen", tag = "patients",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path), ("patientId" = String, Path)),
    responses((status = 200, body = SeenDto), (status = 404, body = ErrorBody)))]
pub async fn mark_patient_seen(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, patient)): ApiPath<(TeamId, PatientId)>,
) -> ApiResult<Json<SeenDto>> {
    let at = state.app.mark_patient_seen(&actor, team, patient).await?;
    Ok(Json(SeenDto {
        since: at.to_rfc3339(),
    }))
}
