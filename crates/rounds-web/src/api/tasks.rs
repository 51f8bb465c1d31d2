//! Tasks per patient, "My tasks", and the team's own live feed (urgent
//! notes and tasks, for screens that show no one list).

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use rounds_app::{MyTasks, NewTaskInput, TaskChange, TaskOnPatient};
use rounds_core::tasks::{Task, TaskSummary};
use rounds_core::{PatientId, TaskId, TeamId};
use rounds_core::{Timestamp, UserId};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::parse_id;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiActor, ApiJson, ApiPath, ApiSession};
use crate::AppState;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskDto {
    pub id: String,
    pub patient_id: String,
    pub body: String,
    /// The member it is assigned to; null when unassigned.
    pub owner_id: Option<String>,
    pub owner_name: Option<String>,
    /// RFC 3339; null when it has no due time.
    pub due_at: Option<String>,
    /// Open and past its due time.
    pub overdue: bool,
    pub done: bool,
    pub done_by: Option<String>,
    pub done_by_name: Option<String>,
    pub done_at: Option<String>,
    /// Send as baseVersion when changing it.
    pub version: i64,
    pub created_at: String,
    pub created_by: Option<String>,
    pub updated_at: String,
}

impl From<&Task> for TaskDto {
    fn from(t: &Task) -> Self {
        Self {
            id: t.id.to_string(),
            patient_id: t.patient_id.to_string(),
            body: t.body.clone(),
            owner_id: t.owner_id.map(|o| o.to_string()),
            owner_name: t.owner_name.clone(),
            due_at: t.due_at.map(Timestamp::to_rfc3339),
            overdue: t.is_overdue(Timestamp::now()),
            done: t.done.is_some(),
            done_by: t.done.as_ref().and_then(|d| d.by).map(|u| u.to_string()),
            done_by_name: t.done.as_ref().and_then(|d| d.by_name.clone()),
            done_at: t.done.as_ref().map(|d| d.at.to_rfc3339()),
            version: t.version,
            created_at: t.created_at.to_rfc3339(),
            created_by: t.created_by.map(|u| u.to_string()),
            updated_at: t.updated_at.to_rfc3339(),
        }
    }
}

/// A list row's tasks.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskSummaryDto {
    /// Open tasks.
    pub open: usize,
    /// The earliest due time among them (RFC 3339).
    pub next_due: Option<String>,
    /// Open tasks past their due time.
    pub overdue: usize,
}

impl From<&TaskSummary> for TaskSummaryDto {
    fn from(s: &TaskSummary) -> Self {
        Self {
            open: s.open,
            next_due: s.next_due.map(Timestamp::to_rfc3339),
            overdue: s.overdue,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskOnPatientDto {
    pub task: TaskDto,
    pub patient_name: String,
    pub location: String,
    pub list_ids: Vec<String>,
}

impl From<&TaskOnPatient> for TaskOnPatientDto {
    fn from(t: &TaskOnPatient) -> Self {
        Self {
            task: TaskDto::from(&t.task),
            patient_name: t.patient_name.clone(),
            location: t.location.clone(),
            list_ids: t.lists.iter().map(|l| l.to_string()).collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MyTasksDto {
    /// Your open tasks (and those done in the last 12 hours), by due time.
    pub mine: Vec<TaskOnPatientDto>,
    /// The team's open tasks nobody owns yet.
    pub unassigned: Vec<TaskOnPatientDto>,
}

impl From<&MyTasks> for MyTasksDto {
    fn from(m: &MyTasks) -> Self {
        Self {
            mine: m.mine.iter().map(TaskOnPatientDto::from).collect(),
            unassigned: m.unassigned.iter().map(TaskOnPatientDto::from).collect(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddTaskRequest {
    /// 1 to 500 characters.
    pub body: String,
    /// A member of the team; leave out for unassigned.
    #[serde(default)]
    pub owner_id: Option<String>,
    /// RFC 3339 (e.g. 2026-12-01T14:30:00Z).
    #[serde(default)]
    pub due_at: Option<String>,
}

/// Tells a field left out (None) from one sent as null (Some(None)).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateTaskRequest {
    pub base_version: i64,
    #[serde(default)]
    pub body: Option<String>,
    /// A member, or null to unassign.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub owner_id: Option<Option<String>>,
    /// RFC 3339, or null for no due time.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub due_at: Option<Option<String>>,
    /// Tick it off (true) or open it again (false).
    #[serde(default)]
    pub done: Option<bool>,
}

fn parse_due(raw: &str) -> Result<Timestamp, ApiError> {
    match Timestamp::parse(raw.trim()) {
        Some(t) if raw.contains('T') => Ok(t),
        _ => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            format!("dueAt: {raw:?} is not a time such as 2026-12-01T14:30:00Z"),
        )
        .with_field("dueAt")),
    }
}

fn parse_owner(raw: &str) -> Result<UserId, ApiError> {
    parse_id("ownerId", raw)
}

/// The patient's tasks: open ones first by due time, then done ones
/// (recorded as PatientView).
#[utoipa::path(get, path = "/api/v1/teams/{teamId}/patients/{patientId}/tasks", operation_id = "listTasks", tag = "tasks",
    security(("session" = [])),
    params(("teamId" = String, Path), ("patientId" = String, Path)),
    responses((status = 200, body = Vec<TaskDto>), (status = 404, body = ErrorBody)))]
pub async fn list_tasks(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, patient)): ApiPath<(TeamId, PatientId)>,
) -> ApiResult<Json<Vec<TaskDto>>> {
    let found = state.app.list_tasks(&actor, team, patient).await?;
    Ok(Json(found.iter().map(TaskDto::from).collect()))
}

/// Add a task about a patient, assigned to a member or unassigned.
#[utoipa::path(post, path = "/api/v1/teams/{teamId}/patients/{patientId}/tasks", operation_id = "addTask", tag = "tasks",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path), ("patientId" = String, Path)),
    request_body = AddTaskRequest,
    responses((status = 201, body = TaskDto), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_task(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, patient)): ApiPath<(TeamId, PatientId)>,
    ApiJson(body): ApiJson<AddTaskRequest>,
) -> ApiResult<(StatusCode, Json<TaskDto>)> {
    let input = NewTaskInput {
        body: body.body,
        owner: body.owner_id.as_deref().map(parse_owner).transpose()?,
        due_at: body.due_at.as_deref().map(parse_due).transpose()?,
    };
    let task = state.app.add_task(&actor, team, patient, &input).await?;
    Ok((StatusCode::CREATED, Json(TaskDto::from(&task))))
}

/// Change a task: its text, owner, due time, or tick it off / open it
/// again (any member). 409 when it changed since baseVersion.
#[utoipa::path(patch, path = "/api/v1/teams/{teamId}/tasks/{taskId}", operation_id = "updateTask", tag = "tasks",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path), ("taskId" = String, Path)),
    request_body = UpdateTaskRequest,
    responses((status = 200, body = TaskDto), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_task(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, task)): ApiPath<(TeamId, TaskId)>,
    ApiJson(body): ApiJson<UpdateTaskRequest>,
) -> ApiResult<Json<TaskDto>> {
    let change = TaskChange {
        body: body.body,
        owner: body
            .owner_id
            .map(|o| o.as_deref().map(parse_owner).transpose())
            .transpose()?,
        due_at: body
            .due_at
            .map(|d| d.as_deref().map(parse_due).transpose())
            .transpose()?,
        done: body.done,
    };
    let saved = state
        .app
        .update_task(&actor, team, task, &change, body.base_version)
        .await?;
    Ok(Json(TaskDto::from(&saved)))
}

/// Delete a task (who added it, or an owner of the team).
#[utoipa::path(delete, path = "/api/v1/teams/{teamId}/tasks/{taskId}", operation_id = "deleteTask", tag = "tasks",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path), ("taskId" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_task(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, task)): ApiPath<(TeamId, TaskId)>,
) -> ApiResult<StatusCode> {
    state.app.delete_task(&actor, team, task).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Your tasks across all the team's lists, and the team's unassigned ones.
#[utoipa::path(get, path = "/api/v1/teams/{teamId}/my-tasks", operation_id = "myTasks", tag = "tasks",
    security(("session" = [])),
    params(("teamId" = String, Path)),
    responses((status = 200, body = MyTasksDto), (status = 404, body = ErrorBody)))]
pub async fn my_tasks(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(team): ApiPath<TeamId>,
) -> ApiResult<Json<MyTasksDto>> {
    let mine = state.app.my_tasks(&actor, team).await?;
    Ok(Json(MyTasksDto::from(&mine)))
}

/// The team's own live feed, as Server-Sent Events: `taskChanged` and
/// `urgentChanged` for every patient of the team, with the same ids,
/// resuming and control events as listEvents.
#[utoipa::path(get, path = "/api/v1/teams/{teamId}/events", operation_id = "teamEvents", tag = "tasks",
    security(("session" = [])),
    params(("teamId" = String, Path),
        ("lastEventId" = Option<i64>, Query, description = "Replay events after this one (the Last-Event-ID header does the same)")),
    responses((status = 200, content_type = "text/event-stream", description = "The event stream"), (status = 404, body = ErrorBody)))]
pub async fn team_events(
    State(state): State<AppState>,
    ApiSession { session, actor }: ApiSession,
    ApiPath(team): ApiPath<TeamId>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    super::events::may_follow(&actor)?;
    let last_seen = super::events::last_event_id(&headers, query.as_deref())?;
    let rx = state
        .app
        .follow_team(&session, &actor, team, last_seen)
        .await?;
    Ok(super::events::event_stream(rx))
}
