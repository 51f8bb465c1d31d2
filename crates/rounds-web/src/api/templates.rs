//! Team templates: the ones offered, creating a team from one, and saving
//! a team's set-up as a site template.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rounds_app::templates::TeamTemplate;
use rounds_app::App;
use rounds_core::TeamId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::dto::TeamDto;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiActor, ApiJson, ApiPath};
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
    /// `builtin`, or `site` for the site's own (installed or saved).
    pub source: String,
}

impl From<TeamTemplate> for TemplateSummaryDto {
    fn from(t: TeamTemplate) -> Self {
        Self {
            lists: t.lists.iter().map(|l| l.name.clone()).collect(),
            columns: t.columns.iter().map(|c| c.label.clone()).collect(),
            column_sets: t.column_sets.iter().map(|s| s.name.clone()).collect(),
            source: if t.site { "site" } else { "builtin" }.to_owned(),
            id: t.id,
            name: t.name,
            description: t.description,
        }
    }
}

pub async fn summaries(app: &App) -> Result<Vec<TemplateSummaryDto>, rounds_app::AppError> {
    Ok(app
        .team_templates()
        .await?
        .into_iter()
        .map(TemplateSummaryDto::from)
        .collect())
}

/// The templates a new team can start from.
#[utoipa::path(get, path = "/api/v1/team-templates", operation_id = "listTeamTemplates", tag = "teams",
    security(("session" = [])),
    responses((status = 200, body = Vec<TemplateSummaryDto>)))]
pub async fn list_team_templates(
    State(state): State<AppState>,
    ApiActor(_actor): ApiActor,
) -> ApiResult<Json<Vec<TemplateSummaryDto>>> {
    Ok(Json(summaries(&state.app).await?))
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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SaveAsTemplate {
    /// The template's name (its id is made of it).
    pub name: String,
    #[serde(default)]
    pub description: String,
}

/// Save the team's set-up as a site template (owners): its team columns
/// with choices and colours, its lists and the columns they show, the
/// default list and the saved column sets; no patients, values or members.
/// Offered from then on to everyone creating a team.
#[utoipa::path(post, path = "/api/v1/teams/{teamId}/save-as-template", operation_id = "saveTeamAsTemplate", tag = "teams",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path)),
    request_body = SaveAsTemplate,
    responses((status = 201, body = TemplateSummaryDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn save_team_as_template(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(team): ApiPath<TeamId>,
    ApiJson(body): ApiJson<SaveAsTemplate>,
) -> ApiResult<(StatusCode, Json<TemplateSummaryDto>)> {
    let template = state
        .app
        .save_team_as_template(&actor, team, &body.name, &body.description)
        .await?;
    Ok((StatusCode::CREATED, Json(template.into())))
}
