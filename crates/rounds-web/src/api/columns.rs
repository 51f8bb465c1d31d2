//! A list's columns: show a built-in, EHR or team column, make a new team
//! column, rename, hide, reorder, resize and remove.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rounds_app::ColumnSpec;
use rounds_core::lists::ChoiceOption;
use rounds_core::{ListId, TeamId};
use serde::Deserialize;
use utoipa::ToSchema;

use super::lists::{ChoiceOptionDto, ColumnDto};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiActor, ApiJson, ApiPath};
use crate::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ColumnRequest {
    /// Show a built-in column or an existing team column by its key…
    #[serde(default)]
    pub key: Option<String>,
    /// …or make a new team column: its label and type (addColumn), or a new label (updateColumn).
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub r#type: Option<String>,
    /// Number columns: the unit shown after values (up to 20 characters).
    #[serde(default)]
    pub unit: Option<String>,
    /// Choice columns: the options, each with a label and a color
    /// (#rrggbb); keep an option's id to keep its values.
    #[serde(default)]
    pub options: Option<Vec<ChoiceOptionDto>>,
    #[serde(default)]
    pub hidden: Option<bool>,
    /// 40 to 1200 pixels.
    #[serde(default)]
    pub width: Option<i64>,
    /// New place among the list's columns, 0 first (updateColumn).
    #[serde(default)]
    pub position: Option<i64>,
    /// A label the team already has a column of is refused (409,
    /// `duplicate`, field `label`) unless this is true: then a second,
    /// separate column of that label is made (or renamed to).
    #[serde(default)]
    pub allow_same_label: bool,
}

impl ColumnRequest {
    fn spec(self) -> ColumnSpec {
        ColumnSpec {
            key: self.key,
            label: self.label,
            kind: self.r#type,
            unit: self.unit,
            options: self
                .options
                .map(|o| o.into_iter().map(ChoiceOption::from).collect()),
            hidden: self.hidden,
            width: self.width,
            position: self.position,
            allow_same_label: self.allow_same_label,
        }
    }
}

/// Add a column to a list: `{"key": "birthDate"}` or `{"key": "<team column id>"}`
/// shows an existing one; `{"label": "Status", "type": "choice", "options": [...]}` makes a new team column.
#[utoipa::path(post, path = "/api/v1/teams/{teamId}/lists/{listId}/columns", operation_id = "addColumn", tag = "lists",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path), ("listId" = String, Path)),
    request_body = ColumnRequest,
    responses((status = 201, body = ColumnDto), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_column(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, list)): ApiPath<(TeamId, ListId)>,
    ApiJson(body): ApiJson<ColumnRequest>,
) -> ApiResult<(StatusCode, Json<ColumnDto>)> {
    let column = state
        .app
        .add_column(&actor, team, list, &body.spec())
        .await?;
    Ok((StatusCode::CREATED, Json(ColumnDto::from(&column))))
}

/// Rename a team column (everywhere), change its unit or options, or hide,
/// resize or move it on this list.
#[utoipa::path(patch, path = "/api/v1/teams/{teamId}/lists/{listId}/columns/{columnKey}", operation_id = "updateColumn", tag = "lists",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path), ("listId" = String, Path), ("columnKey" = String, Path)),
    request_body = ColumnRequest,
    responses((status = 200, body = ColumnDto), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_column(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, list, key)): ApiPath<(TeamId, ListId, String)>,
    ApiJson(body): ApiJson<ColumnRequest>,
) -> ApiResult<Json<ColumnDto>> {
    if body.key.is_some() || body.r#type.is_some() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "type: a column's type cannot change; add a new column instead",
        )
        .with_field("type"));
    }
    let column = state
        .app
        .update_column(&actor, team, list, &key, &body.spec())
        .await?;
    Ok(Json(ColumnDto::from(&column)))
}

/// Stop showing a column on a list (a team column's values stay with the patients).
#[utoipa::path(delete, path = "/api/v1/teams/{teamId}/lists/{listId}/columns/{columnKey}", operation_id = "removeColumn", tag = "lists",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path), ("listId" = String, Path), ("columnKey" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn remove_column(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, list, key)): ApiPath<(TeamId, ListId, String)>,
) -> ApiResult<StatusCode> {
    state.app.remove_column(&actor, team, list, &key).await?;
    Ok(StatusCode::NO_CONTENT)
}
