//! Patients on lists, their fields, and their notes.

use rounds_core::{ListId, NoteId, TeamId};
use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rounds_app::NewPatient;
use rounds_core::lists::Note;
use rounds_core::PatientId;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::lists::{ColumnDto, FieldDto, ListDto, RowDto};
use super::parse_id;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiActor, ApiJson, ApiPath};
use crate::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddPatientRequest {
    /// Put a patient the team already has on this list…
    #[serde(default)]
    pub patient_id: Option<String>,
    /// …or make a new one: patient fields (family, given, mrn, birthDate
    /// YYYY-MM-DD, sex female|male|other|unknown, ward, room, bed) and team
    /// column ids, each with its value.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
    /// …or a patient of the team's EHR, by FHIR Patient id (the team's
    /// patient for that record is reused when it has one).
    #[serde(default)]
    pub ehr_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddPatientResponse {
    pub row: RowDto,
    /// Other patients of the team with the same MRN: check it is not the same person twice.
    pub duplicate_mrn_of: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PatientDto {
    pub patient_id: String,
    #[schema(value_type = Object)]
    pub fields: BTreeMap<String, FieldDto>,
    #[schema(value_type = Object)]
    pub display: BTreeMap<String, String>,
    pub duplicate_mrn: bool,
    /// The team's lists holding the patient.
    pub lists: Vec<ListDto>,
    /// Every team column, to show the patient's values by.
    pub columns: Vec<ColumnDto>,
    /// For EHR patients: every EHR section as read.
    pub ehr: Option<super::ehr::PatientEhrDto>,
    pub cells: BTreeMap<String, super::ehr::EhrCellDto>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FieldEdit {
    /// The new value (null or "" clears it).
    #[schema(value_type = Object)]
    pub value: Value,
    /// The version the editor started from (0 for a field never set).
    pub base_version: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdatePatientRequest {
    /// Field key → new value and the version it was edited from.
    #[schema(value_type = Object)]
    pub fields: BTreeMap<String, FieldEdit>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdatePatientResponse {
    #[schema(value_type = Object)]
    pub fields: BTreeMap<String, FieldDto>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MovePatientRequest {
    pub to_list_id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReorderRequest {
    /// Every patient of the list, once, in the new order.
    pub patient_ids: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NoteDto {
    pub id: String,
    pub patient_id: String,
    pub author_id: String,
    pub author_name: String,
    pub body: String,
    /// Send as baseVersion when editing.
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
    pub edited: bool,
    /// For an urgent note: whom it alerts and who acknowledged it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub urgent: Option<super::urgent::UrgentDto>,
    /// For a note whose author asked for a read receipt: how many saw it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt: Option<super::urgent::ReceiptCountDto>,
}

impl From<&Note> for NoteDto {
    fn from(n: &Note) -> Self {
        Self {
            id: n.id.to_string(),
            patient_id: n.patient_id.to_string(),
            author_id: n.author_id.to_string(),
            author_name: n.author_name.clone(),
            body: n.body.clone(),
            version: n.version,
            created_at: n.created_at.to_rfc3339(),
            updated_at: n.updated_at.to_rfc3339(),
            edited: n.version > 1,
            urgent: None,
            receipt: None,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddNoteRequest {
    /// 1 to 10,000 characters.
    pub body: String,
    /// Mark it urgent: it alerts whom `to` says until one acknowledges it.
    #[serde(default)]
    pub urgent: Option<super::urgent::UrgentRequestDto>,
    /// Ask for a read receipt: the note shows who has seen it and when.
    #[serde(default)]
    pub receipt: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateNoteRequest {
    pub body: String,
    pub base_version: i64,
}

fn fields_dto(
    values: &std::collections::HashMap<String, rounds_core::lists::FieldValue>,
) -> BTreeMap<String, FieldDto> {
    values
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                FieldDto {
                    value: v.value.clone(),
                    version: v.version,
                },
            )
        })
        .collect()
}

/// Add a patient to a list: a new one (`fields`) or one the team has (`patientId`).
#[utoipa::path(post, path = "/api/v1/teams/{teamId}/lists/{listId}/patients", operation_id = "addPatient", tag = "patients",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path), ("listId" = String, Path)),
    request_body = AddPatientRequest,
    responses((status = 201, body = AddPatientResponse), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_patient(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, list)): ApiPath<(TeamId, ListId)>,
    ApiJson(body): ApiJson<AddPatientRequest>,
) -> ApiResult<(StatusCode, Json<AddPatientResponse>)> {
    let existing = body
        .patient_id
        .as_deref()
        .map(|p| parse_id("patientId", p))
        .transpose()?;
    let new = NewPatient {
        existing,
        fields: body.fields,
        ehr_id: body.ehr_id,
    };
    let (row, same) = state.app.add_patient(&actor, team, list, &new).await?;
    Ok((
        StatusCode::CREATED,
        Json(AddPatientResponse {
            row: RowDto::from(&row),
            duplicate_mrn_of: same.iter().map(PatientId::to_string).collect(),
        }),
    ))
}

/// A patient's fields and the lists holding them (recorded as PatientView).
#[utoipa::path(get, path = "/api/v1/teams/{teamId}/patients/{patientId}", operation_id = "getPatient", tag = "patients",
    security(("session" = [])),
    params(("teamId" = String, Path), ("patientId" = String, Path),
        ("refresh" = Option<bool>, Query, description = "Re-read the patient's EHR data now instead of using what is in memory")),
    responses((status = 200, body = PatientDto), (status = 404, body = ErrorBody)))]
pub async fn get_patient(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, patient)): ApiPath<(TeamId, PatientId)>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> ApiResult<Json<PatientDto>> {
    let refresh = super::wants_refresh(query.as_deref());
    let d = state
        .app
        .get_patient_with(&actor, team, patient, refresh)
        .await?;
    let columns = ColumnDto::of_team_columns(&d.team_columns);
    Ok(Json(PatientDto {
        patient_id: d.patient_id.to_string(),
        fields: fields_dto(&d.values),
        display: d.display.clone(),
        duplicate_mrn: d.duplicate_mrn,
        lists: d.lists.iter().map(ListDto::from).collect(),
        columns,
        ehr: d.ehr.as_ref().map(super::ehr::PatientEhrDto::from),
        cells: super::ehr::cells_dto(&d.cells),
    }))
}

/// Change fields of a patient. Each edit names the version it started
/// from; if someone saved that field since, nothing is saved and the 409
/// answer (`edit_conflict`) lists both values. Edits of different fields
/// at the same time both succeed.
#[utoipa::path(patch, path = "/api/v1/teams/{teamId}/patients/{patientId}", operation_id = "updatePatient", tag = "patients",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path), ("patientId" = String, Path)),
    request_body = UpdatePatientRequest,
    responses((status = 200, body = UpdatePatientResponse), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_patient(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, patient)): ApiPath<(TeamId, PatientId)>,
    ApiJson(body): ApiJson<UpdatePatientRequest>,
) -> ApiResult<Json<UpdatePatientResponse>> {
    let edits: Vec<(String, Value, i64)> = body
        .fields
        .into_iter()
        .map(|(k, e)| (k, e.value, e.base_version))
        .collect();
    let values = state
        .app
        .update_patient(&actor, team, patient, &edits)
        .await?;
    Ok(Json(UpdatePatientResponse {
        fields: fields_dto(&values),
    }))
}

/// Take a patient off a list (the patient stays in the team and on other lists).
#[utoipa::path(delete, path = "/api/v1/teams/{teamId}/lists/{listId}/patients/{patientId}", operation_id = "removePatientFromList", tag = "patients",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path), ("listId" = String, Path), ("patientId" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn remove_patient_from_list(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, list, patient)): ApiPath<(TeamId, ListId, PatientId)>,
) -> ApiResult<StatusCode> {
    state
        .app
        .remove_patient_from_list(&actor, team, list, patient)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Move a patient to another list of the team.
#[utoipa::path(post, path = "/api/v1/teams/{teamId}/lists/{listId}/patients/{patientId}/move", operation_id = "movePatient", tag = "patients",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path), ("listId" = String, Path), ("patientId" = String, Path)),
    request_body = MovePatientRequest,
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn move_patient(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, list, patient)): ApiPath<(TeamId, ListId, PatientId)>,
    ApiJson(body): ApiJson<MovePatientRequest>,
) -> ApiResult<StatusCode> {
    let to = parse_id("toListId", &body.to_list_id)?;
    state
        .app
        .move_patient(&actor, team, list, patient, to)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Put the list's patients in a new hand order.
#[utoipa::path(put, path = "/api/v1/teams/{teamId}/lists/{listId}/order", operation_id = "reorderPatients", tag = "patients",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path), ("listId" = String, Path)),
    request_body = ReorderRequest,
    responses((status = 204), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn reorder_patients(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, list)): ApiPath<(TeamId, ListId)>,
    ApiJson(body): ApiJson<ReorderRequest>,
) -> ApiResult<StatusCode> {
    let order = body
        .patient_ids
        .iter()
        .map(|p| parse_id("patientIds", p))
        .collect::<Result<Vec<PatientId>, _>>()?;
    state
        .app
        .reorder_patients(&actor, team, list, &order)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The patient's notes, newest first (recorded as PatientView).
#[utoipa::path(get, path = "/api/v1/teams/{teamId}/patients/{patientId}/notes", operation_id = "listNotes", tag = "notes",
    security(("session" = [])),
    params(("teamId" = String, Path), ("patientId" = String, Path)),
    responses((status = 200, body = Vec<NoteDto>), (status = 404, body = ErrorBody)))]
pub async fn list_notes(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, patient)): ApiPath<(TeamId, PatientId)>,
) -> ApiResult<Json<Vec<NoteDto>>> {
    let (team, patient) = (team, patient);
    let notes = state.app.list_notes(&actor, team, patient).await?;
    let urgent = state.app.urgent_of_patient(&actor, team, patient).await?;
    let receipts = state.app.receipt_counts(&actor, team, patient).await?;
    Ok(Json(
        notes
            .iter()
            .map(|n| NoteDto {
                urgent: urgent.get(&n.id).map(super::urgent::UrgentDto::from),
                receipt: receipts
                    .get(&n.id)
                    .map(|(seen, mine)| super::urgent::ReceiptCountDto {
                        seen: *seen,
                        seen_by_me: *mine,
                    }),
                ..NoteDto::from(n)
            })
            .collect(),
    ))
}

/// Write a note about a patient, for the whole team.
#[utoipa::path(post, path = "/api/v1/teams/{teamId}/patients/{patientId}/notes", operation_id = "addNote", tag = "notes",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path), ("patientId" = String, Path)),
    request_body = AddNoteRequest,
    responses((status = 201, body = NoteDto), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_note(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, patient)): ApiPath<(TeamId, PatientId)>,
    ApiJson(body): ApiJson<AddNoteRequest>,
) -> ApiResult<(StatusCode, Json<NoteDto>)> {
    let urgent = body.urgent.as_ref().map(|u| u.parse()).transpose()?;
    let (team, patient) = (team, patient);
    let note = state
        .app
        .add_note_marked(
            &actor,
            team,
            patient,
            &body.body,
            urgent.as_ref(),
            body.receipt,
        )
        .await?;
    let mut dto = NoteDto::from(&note);
    if body.receipt {
        dto.receipt = Some(super::urgent::ReceiptCountDto {
            seen: 0,
            seen_by_me: false,
        });
    }
    if urgent.is_some() {
        let states = state.app.urgent_of_patient(&actor, team, patient).await?;
        dto.urgent = states.get(&note.id).map(super::urgent::UrgentDto::from);
    }
    Ok((StatusCode::CREATED, Json(dto)))
}

/// Edit your note; the earlier text is kept in its history.
#[utoipa::path(patch, path = "/api/v1/teams/{teamId}/notes/{noteId}", operation_id = "updateNote", tag = "notes",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path), ("noteId" = String, Path)),
    request_body = UpdateNoteRequest,
    responses((status = 200, body = NoteDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update_note(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, note)): ApiPath<(TeamId, NoteId)>,
    ApiJson(body): ApiJson<UpdateNoteRequest>,
) -> ApiResult<Json<NoteDto>> {
    let note = state
        .app
        .update_note(&actor, team, note, &body.body, body.base_version)
        .await?;
    Ok(Json(NoteDto::from(&note)))
}

/// Delete your note; its text stays in the history.
#[utoipa::path(delete, path = "/api/v1/teams/{teamId}/notes/{noteId}", operation_id = "deleteNote", tag = "notes",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path), ("noteId" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_note(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, note)): ApiPath<(TeamId, NoteId)>,
) -> ApiResult<StatusCode> {
    state.app.delete_note(&actor, team, note).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TeamPatientDto {
    pub patient_id: String,
    pub name: String,
    pub mrn: String,
    pub birth_date: String,
    /// The lists the patient is on.
    pub list_ids: Vec<String>,
}

/// The team's patients whose name or MRN contains `q` (all without `q`),
/// by name, at most 100 — to put someone the team already has on a list.
/// Recorded as PatientSearch.
#[utoipa::path(get, path = "/api/v1/teams/{teamId}/patients", operation_id = "listTeamPatients", tag = "patients",
    security(("session" = [])),
    params(("teamId" = String, Path), ("q" = Option<String>, Query, description = "Part of a name or MRN")),
    responses((status = 200, body = Vec<TeamPatientDto>), (status = 404, body = ErrorBody)))]
pub async fn list_team_patients(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(team): ApiPath<TeamId>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> ApiResult<Json<Vec<TeamPatientDto>>> {
    let q = form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "q")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let found = state.app.find_team_patients(&actor, team, &q).await?;
    Ok(Json(
        found
            .iter()
            .map(|p| TeamPatientDto {
                patient_id: p.patient_id.to_string(),
                name: p.name.clone(),
                mrn: p.mrn.clone(),
                birth_date: p.birth_date.clone(),
                list_ids: p.lists.iter().map(|l| l.to_string()).collect(),
            })
            .collect(),
    ))
}
