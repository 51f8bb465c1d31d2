//! Team templates: the ones offered, and creating a team from one.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rounds_app::App;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::dto::TeamDto;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiActor, ApiJson};
use crate::AppState;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateSummaryDto {
    pub id: String,
    pub name: String,
    pub description: String,
    /// The lists a team made from it starts with.
    pub lists: Vec<String>,
    /// Its team columns' labels.
    pub columns: Vec<String>,
    /// Its saved column sets.
    pub column_sets: Vec<String>,
}

pub fn summaries(app: &App) -> Vec<TemplateSummaryDto> {
    app.team_templates()
        .into_iter()
        .map(|t| TemplateSummaryDto {
            lists: t.lists.iter().map(|l| l.name.clone()).collect(),
            columns: t.columns.iter().map(|c| c.label.clone()).collect(),
            column_sets: t.column_sets.iter().map(|s| s.name.clone()).collect(),
            id: t.id,
            name: t.name,
            description: t.description,
        })
        .collect()
}

/// The templates a new team can start from.
#[utoipa::path(get, path = "/api/v1/team-templates", operation_id = "listTeamTemplates", tag = "teams",
    security(("session" = [])),
    responses((status = 200, body = Vec<TemplateSummaryDto>)))]
pub async fn list_team_templates(
    State(state): State<AppState>,
    ApiActor(_actor): ApiActor,
) -> Json<Vec<TemplateSummaryDto>> {
    Json(summaries(&state.app))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TeamFromTemplate {
    pub name: String,
    /// A template's id (see listTeamTemplates).
    pub template: String,
}

/// Create a team (you become its owner) provisioned from a template: its
/// lists, team columns, EHR columns and saved column sets, in one transaction.
#[utoipa::path(post, path = "/api/v1/teams/from-template", operation_id = "createTeamFromTemplate", tag = "teams",
    security(("session" = [], "csrf" = [])),
    request_body = TeamFromTemplate,
    responses((status = 201, body = TeamDto), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_team_from_template(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(body): ApiJson<TeamFromTemplate>,
) -> ApiResult<(StatusCode, Json<TeamDto>)> {
    let team = state
        .app
        .create_team_from_template(&actor, &body.name, &body.template)
        .await?;
    Ok((StatusCode::CREATED, Json(TeamDto::from(&team))))
}
