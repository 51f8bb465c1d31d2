//! Lists, a list's view (its columns and rows, as JSON or the kept
//! answer) and the live feed of a list. Changing columns is columns.rs,
//! saved column sets schemas.rs; the wire types are dto.rs.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rounds_app::{AppError, PatientRow};
use rounds_core::view::ViewSpec;
use rounds_core::{ListId, TeamId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

mod dto;
pub use dto::*;

use super::parse_id;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiActor, ApiJson, ApiPath, ApiSession};
use crate::AppState;

/// The lists of a team, in order.
#[utoipa::path(get, path = "/api/v1/teams/{teamId}/lists", operation_id = "listLists", tag = "lists",
    security(("session" = [])),
    params(("teamId" = String, Path, description = "The team's id")),
    responses((status = 200, body = Vec<ListDto>), (status = 404, body = ErrorBody)))]
pub async fn list_lists(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(team): ApiPath<TeamId>,
) -> ApiResult<Json<Vec<ListDto>>> {
    let lists = state.app.list_lists(&actor, team).await?;
    Ok(Json(lists.iter().map(ListDto::from).collect()))
}

/// Create a list (with the default columns, or a saved column set's).
#[utoipa::path(post, path = "/api/v1/teams/{teamId}/lists", operation_id = "createList", tag = "lists",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path, description = "The team's id")),
    request_body = CreateListRequest,
    responses((status = 201, body = ListDto), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_list(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(team): ApiPath<TeamId>,
    ApiJson(body): ApiJson<CreateListRequest>,
) -> ApiResult<(StatusCode, Json<ListDto>)> {
    let schema = body
        .schema_id
        .as_deref()
        .map(|s| parse_id("schemaId", s))
        .transpose()?;
    let list = state
        .app
        .create_list(&actor, team, &body.name, schema)
        .await?;
    Ok((StatusCode::CREATED, Json(ListDto::from(&list))))
}

/// Rename a list.
#[utoipa::path(patch, path = "/api/v1/teams/{teamId}/lists/{listId}", operation_id = "renameList", tag = "lists",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path), ("listId" = String, Path)),
    request_body = RenameListRequest,
    responses((status = 200, body = ListDto), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn rename_list(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, list)): ApiPath<(TeamId, ListId)>,
    ApiJson(body): ApiJson<RenameListRequest>,
) -> ApiResult<Json<ListDto>> {
    let list = state
        .app
        .rename_list(&actor, team, list, &body.name)
        .await?;
    Ok(Json(ListDto::from(&list)))
}

/// Delete a list (owners only). Its patients stay in the team.
#[utoipa::path(delete, path = "/api/v1/teams/{teamId}/lists/{listId}", operation_id = "deleteList", tag = "lists",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path), ("listId" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_list(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, list)): ApiPath<(TeamId, ListId)>,
) -> ApiResult<StatusCode> {
    state.app.delete_list(&actor, team, list).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Make a list the team's default (it opens first).
#[utoipa::path(put, path = "/api/v1/teams/{teamId}/lists/{listId}/default", operation_id = "setDefaultList", tag = "lists",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path), ("listId" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn set_default_list(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, list)): ApiPath<(TeamId, ListId)>,
) -> ApiResult<StatusCode> {
    state.app.set_default_list(&actor, team, list).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The view a query string asks for: `sort=name,-<columnId>` (two keys at
/// most, `-` descending), `filter=<column>:<op>:<value>` (repeatable; op
/// contains, is, checked, from, to), `q=<search>`.
pub fn view_spec(query: Option<&str>) -> ApiResult<ViewSpec> {
    let mut sort = None;
    let mut filters = Vec::new();
    let mut search = None;
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "sort" => sort = Some(v.into_owned()),
            "filter" => filters.push(v.into_owned()),
            "q" => search = Some(v.into_owned()),
            "refresh" => {}
            _ => {}
        }
    }
    ViewSpec::parse(sort.as_deref(), &filters, search.as_deref())
        .map_err(|e| ApiError::from(rounds_app::AppError::from(e)))
}

/// A list: its columns and its patients in view order (recorded as
/// PatientListView). Query: `sort`, `filter` (repeatable), `q`.
#[utoipa::path(get, path = "/api/v1/teams/{teamId}/lists/{listId}", operation_id = "getList", tag = "lists",
    security(("session" = [])),
    params(("teamId" = String, Path), ("listId" = String, Path),
        ("sort" = Option<String>, Query, description = "Column keys, comma-separated, `-` for descending, at most two: `name,-<columnId>`"),
        ("filter" = Option<Vec<String>>, Query, description = "Repeatable `<column>:<op>:<value>`; op is contains, is, checked, from or to"),
        ("q" = Option<String>, Query, description = "Search the visible columns, name and MRN"),
        ("refresh" = Option<bool>, Query, description = "Re-read the EHR data of the list's EHR patients now instead of using what is in memory")),
    responses((status = 200, body = ListViewDto), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn get_list(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, list)): ApiPath<(TeamId, ListId)>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let spec = view_spec(query.as_deref())?;
    let refresh = super::wants_refresh(query.as_deref());
    let answer = state
        .app
        .get_list_answer(&actor, team, list, &spec, refresh, render_rows)
        .await?;
    Ok(list_view_response(&answer))
}

/// The rows of a list view as getList answers them. A row's note line
/// shows its latest note: one that asks for a read receipt says so, so
/// that the screen showing it reports it seen.
fn render_rows(rows: Vec<PatientRow>, receipts: &rounds_app::Receipts) -> Result<String, AppError> {
    let mut out: Vec<RowDto> = rows.into_iter().map(RowDto::from).collect();
    for row in &mut out {
        if let Some(note) = row.latest_note.as_mut() {
            let found = note
                .id
                .parse()
                .ok()
                .and_then(|id: rounds_core::NoteId| receipts.get(&id));
            if let Some((seen, mine)) = found {
                note.receipt = Some(super::urgent::ReceiptCountDto {
                    seen: *seen,
                    seen_by_me: *mine,
                });
            }
        }
    }
    serde_json::to_string(&out).map_err(|e| AppError::Internal(format!("list rows: {e}")))
}

/// [`ListViewDto`] without its rows, which are put in as serialised.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListViewHead {
    list: ListDto,
    columns: Vec<ColumnDto>,
    total: usize,
    last_event_id: i64,
    ehr: super::ehr::ListEhrDto,
}

/// getList's answer: the [`ListViewDto`] shape, the rows as kept.
fn list_view_response(answer: &rounds_app::ListAnswer) -> Response {
    let head = ListViewHead {
        list: ListDto::from(&answer.list),
        columns: answer.columns.iter().map(ColumnDto::from).collect(),
        total: answer.total,
        last_event_id: answer.last_event_id,
        ehr: super::ehr::ListEhrDto::from(&answer.ehr),
    };
    let head = match serde_json::to_vec(&head) {
        Ok(h) => h,
        Err(e) => {
            return ApiError::from(AppError::Internal(format!("list view: {e}"))).into_response()
        }
    };
    // `{…head…}` becomes `{…head…,"rows":[…]}`.
    let mut body = Vec::with_capacity(head.len() + answer.rows.len() + 16);
    body.extend_from_slice(head.strip_suffix(b"}").unwrap_or(&head));
    body.extend_from_slice(b",\"rows\":");
    body.extend_from_slice(answer.rows.as_bytes());
    body.push(b'}');
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// The live feed of a list, as Server-Sent Events. Each change comes as an
/// event with an id; reconnect with `Last-Event-ID` (or `lastEventId`) to
/// get what you missed. Control events: `ready`, `resync` (reload the list),
/// `ping`, `closed` (access ended: `reason` says why in words, `code` as
/// signedOut, sessionEnded, sessionExpired, sessionIdle, passwordChanged,
/// passwordReset, accountDisabled, notMember or serverClosing). The feed
/// ends within 2 seconds of its session or team membership ending.
#[utoipa::path(get, path = "/api/v1/teams/{teamId}/lists/{listId}/events", operation_id = "listEvents", tag = "lists",
    security(("session" = [])),
    params(("teamId" = String, Path), ("listId" = String, Path),
        ("lastEventId" = Option<i64>, Query, description = "Replay events after this one (the Last-Event-ID header does the same)")),
    responses((status = 200, content_type = "text/event-stream", description = "The event stream"), (status = 404, body = ErrorBody)))]
pub async fn list_events(
    State(state): State<AppState>,
    ApiSession { session, actor }: ApiSession,
    ApiPath((team, list)): ApiPath<(TeamId, ListId)>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    super::events::may_follow(&actor)?;
    let last_seen = super::events::last_event_id(&headers, query.as_deref())?;
    let rx = state
        .app
        .follow_list(&session, &actor, team, list, last_seen)
        .await?;
    Ok(super::events::event_stream(rx))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReorderListsRequest {
    /// Every list of the team, once, in the new order.
    pub list_ids: Vec<String>,
}

/// Put the team's lists in a new order.
#[utoipa::path(put, path = "/api/v1/teams/{teamId}/list-order", operation_id = "reorderLists", tag = "lists",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path)),
    request_body = ReorderListsRequest,
    responses((status = 200, body = Vec<ListDto>), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn reorder_lists(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(team): ApiPath<TeamId>,
    ApiJson(body): ApiJson<ReorderListsRequest>,
) -> ApiResult<Json<Vec<ListDto>>> {
    let order = body
        .list_ids
        .iter()
        .map(|l| parse_id("listIds", l))
        .collect::<Result<Vec<rounds_core::ListId>, _>>()?;
    let lists = state.app.reorder_lists(&actor, team, &order).await?;
    Ok(Json(lists.iter().map(ListDto::from).collect()))
}
