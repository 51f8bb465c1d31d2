//! The meeting view of a list: its data (masked when asked), its column
//! set and the presenter's focus.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use rounds_app::{MeetingColumn, MeetingRow, MeetingView, NOTE_KEY};
use rounds_core::{ListId, TeamId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ehr::{cells_dto, EhrCellDto, ListEhrDto};
use super::lists::{view_spec, ColumnDto, ListDto};
use super::parse_id;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiActor, ApiJson, ApiPath};
use crate::AppState;

/// A column of the meeting view: a list column, or `latestNote` (source
/// `meeting`), the patient's newest note.
pub(crate) fn column_dto(c: &MeetingColumn) -> ColumnDto {
    match c {
        MeetingColumn::Column(r) => ColumnDto::from(r),
        MeetingColumn::LatestNote => ColumnDto {
            key: NOTE_KEY.to_owned(),
            label: c.label().to_owned(),
            builtin: true,
            source: "meeting".to_owned(),
            r#type: None,
            unit: None,
            options: Vec::new(),
            hidden: false,
            width: None,
            position: 0,
        },
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeetingNoteDto {
    pub body: String,
    pub author_name: String,
    pub created_at: String,
    /// The note is longer than shown (its whole text is on the patient page).
    pub shortened: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeetingEhrDto {
    /// ok, pending, failed or otherServer.
    pub state: String,
    pub fetched_at: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeetingRowDto {
    pub patient_id: String,
    /// The name; in mask mode the initials.
    pub label: String,
    /// The text of each meeting column (in mask mode without names and MRNs).
    #[schema(value_type = Object)]
    pub display: std::collections::BTreeMap<String, String>,
    /// The stored values of the meeting's team columns (choice option ids…).
    #[schema(value_type = Object)]
    pub fields: std::collections::BTreeMap<String, FieldValueDto>,
    /// EHR-derived cells of the meeting columns: state, age, why empty.
    #[schema(value_type = Object)]
    pub cells: std::collections::BTreeMap<String, EhrCellDto>,
    pub ehr: Option<MeetingEhrDto>,
    pub latest_note: Option<MeetingNoteDto>,
    /// The I-PASS illness severity: stable, watcher or unstable.
    pub severity: Option<String>,
    /// Urgent notes about the patient nobody has acknowledged yet.
    pub urgent: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FieldValueDto {
    pub value: String,
}

impl From<&MeetingRow> for MeetingRowDto {
    fn from(r: &MeetingRow) -> Self {
        Self {
            patient_id: r.patient_id.to_string(),
            label: r.label.clone(),
            display: r.display.clone(),
            fields: r
                .values
                .iter()
                .map(|(k, v)| (k.clone(), FieldValueDto { value: v.clone() }))
                .collect(),
            cells: cells_dto(&r.cells),
            ehr: r.ehr.as_ref().map(|e| MeetingEhrDto {
                state: e.state.as_str().to_owned(),
                fetched_at: e.fetched_at.map(|t| t.to_rfc3339()),
                reason: e.reason.clone(),
            }),
            latest_note: r.latest_note.as_ref().map(|n| MeetingNoteDto {
                body: n.body.clone(),
                author_name: n.author_name.clone(),
                created_at: n.created_at.to_rfc3339(),
                shortened: n.shortened,
            }),
            severity: r.severity.map(|s| s.as_str().to_owned()),
            urgent: r.urgent,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeetingDto {
    pub list: ListDto,
    /// The meeting's columns, in order (without MRN and birth date in mask mode).
    pub columns: Vec<ColumnDto>,
    /// No column set was chosen: these are the defaults.
    pub is_default: bool,
    /// Every column the set may hold (for the picker).
    pub available: Vec<ColumnDto>,
    pub rows: Vec<MeetingRowDto>,
    /// The highlighted patient, when one is and is on the list.
    pub focus: Option<String>,
    pub masked: bool,
    /// Follow the list's events from here (meetingFocus among them).
    pub last_event_id: i64,
    pub ehr: ListEhrDto,
}

impl From<&MeetingView> for MeetingDto {
    fn from(v: &MeetingView) -> Self {
        Self {
            list: ListDto::from(&v.list),
            columns: v.columns.iter().map(column_dto).collect(),
            is_default: v.is_default,
            available: v.available.iter().map(column_dto).collect(),
            rows: v.rows.iter().map(MeetingRowDto::from).collect(),
            focus: v.focus.map(|f| f.to_string()),
            masked: v.masked,
            last_event_id: v.last_event_id,
            ehr: ListEhrDto::from(&v.ehr),
        }
    }
}

/// `masked=true` (or `1`) in a query.
pub(crate) fn wants_masked(query: Option<&str>) -> bool {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .any(|(k, v)| (k == "masked" || k == "mask") && (v == "true" || v == "1"))
}

/// The meeting view of a list: its columns and patients, the newest note
/// of each, and the highlighted patient (recorded as PatientListView). In
/// mask mode (`masked=true`) names are initials, and no name or MRN is in
/// the answer (MRN and birth date columns are left out, and names and
/// MRNs of the list's patients are blotted out of every text).
#[utoipa::path(get, path = "/api/v1/teams/{teamId}/lists/{listId}/meeting", operation_id = "getMeeting", tag = "lists",
    security(("session" = [])),
    params(("teamId" = String, Path), ("listId" = String, Path),
        ("masked" = Option<bool>, Query, description = "Initials and bed instead of names and MRNs"),
        ("sort" = Option<String>, Query, description = "As for getList"),
        ("filter" = Option<Vec<String>>, Query, description = "As for getList"),
        ("q" = Option<String>, Query, description = "As for getList")),
    responses((status = 200, body = MeetingDto), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn get_meeting(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, list)): ApiPath<(TeamId, ListId)>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<MeetingDto>> {
    let spec = view_spec(query.as_deref())?;
    let view = state
        .app
        .get_meeting(&actor, team, list, &spec, wants_masked(query.as_deref()))
        .await?;
    Ok(Json(MeetingDto::from(&view)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MeetingColumnsRequest {
    /// Column keys in order (a list's column keys, other team columns, EHR
    /// columns, `latestNote`), with `name` among them; null: back to the
    /// default set.
    pub columns: Option<Vec<String>>,
}

/// Choose the meeting view's columns; every open meeting view of the list
/// reloads (event `meetingColumnsChanged`).
#[utoipa::path(put, path = "/api/v1/teams/{teamId}/lists/{listId}/meeting/columns", operation_id = "setMeetingColumns", tag = "lists",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path), ("listId" = String, Path)),
    request_body = MeetingColumnsRequest,
    responses((status = 204), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_meeting_columns(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, list)): ApiPath<(TeamId, ListId)>,
    ApiJson(body): ApiJson<MeetingColumnsRequest>,
) -> ApiResult<StatusCode> {
    state
        .app
        .set_meeting_columns(&actor, team, list, body.columns.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MeetingFocusRequest {
    /// A patient on the list; null: nobody.
    pub patient_id: Option<String>,
}

/// Highlight a patient on every open meeting view of the list (event
/// `meetingFocus` with the patientId).
#[utoipa::path(put, path = "/api/v1/teams/{teamId}/lists/{listId}/meeting/focus", operation_id = "setMeetingFocus", tag = "lists",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path), ("listId" = String, Path)),
    request_body = MeetingFocusRequest,
    responses((status = 204), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_meeting_focus(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, list)): ApiPath<(TeamId, ListId)>,
    ApiJson(body): ApiJson<MeetingFocusRequest>,
) -> ApiResult<StatusCode> {
    let patient = body
        .patient_id
        .as_deref()
        .map(|p| parse_id("patientId", p))
        .transpose()?;
    state
        .app
        .set_meeting_focus(&actor, team, list, patient)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
