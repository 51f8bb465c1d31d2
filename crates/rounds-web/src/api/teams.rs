use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rounds_core::model::TeamRole;
use rounds_core::{TeamId, UserId};

use super::dto::{
    AddMemberRequest, CreateTeamRequest, MemberDto, TeamDetailDto, TeamDto, TeamSummaryDto,
    UpdateMemberRequest,
};
use super::parse_choice;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiActor, ApiJson, ApiPath};
use crate::AppState;

fn role(raw: Option<&str>) -> ApiResult<TeamRole> {
    raw.map_or(Ok(TeamRole::Member), |r| {
        parse_choice("role", r, "owner, member")
    })
}

/// The teams you belong to.
#[utoipa::path(get, path = "/api/v1/teams", operation_id = "listTeams", tag = "teams",
    security(("session" = [])),
    responses((status = 200, body = Vec<TeamSummaryDto>), (status = 401, body = ErrorBody)))]
pub async fn list_teams(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> ApiResult<Json<Vec<TeamSummaryDto>>> {
    let teams = state.app.list_teams(&actor).await?;
    Ok(Json(teams.iter().map(TeamSummaryDto::from).collect()))
}

/// Create a care team; you become its first owner.
#[utoipa::path(post, path = "/api/v1/teams", operation_id = "createTeam", tag = "teams",
    security(("session" = [], "csrf" = [])),
    request_body = CreateTeamRequest,
    responses(
        (status = 201, body = TeamDto),
        (status = 409, body = ErrorBody, description = "A team of that name exists (`duplicate`)"),
        (status = 422, body = ErrorBody),
    ))]
pub async fn create_team(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(body): ApiJson<CreateTeamRequest>,
) -> ApiResult<(StatusCode, Json<TeamDto>)> {
    let team = state.app.create_team(&actor, &body.name).await?;
    Ok((StatusCode::CREATED, Json(TeamDto::from(&team))))
}

/// A team and its members (members only; 404 for anyone else).
#[utoipa::path(get, path = "/api/v1/teams/{teamId}", operation_id = "getTeam", tag = "teams",
    security(("session" = [])),
    params(("teamId" = String, Path, description = "The team's id")),
    responses((status = 200, body = TeamDetailDto), (status = 404, body = ErrorBody)))]
pub async fn get_team(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(team_id): ApiPath<TeamId>,
) -> ApiResult<Json<TeamDetailDto>> {
    let detail = state.app.get_team(&actor, team_id).await?;
    Ok(Json(TeamDetailDto {
        team: TeamDto::from(&detail.team),
        my_role: detail.my_role.as_str().to_owned(),
        members: detail.members.iter().map(MemberDto::from).collect(),
    }))
}

/// Add an account to the team (owners only).
#[utoipa::path(post, path = "/api/v1/teams/{teamId}/members", operation_id = "addTeamMember", tag = "teams",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path, description = "The team's id")),
    request_body = AddMemberRequest,
    responses(
        (status = 201, body = MemberDto),
        (status = 403, body = ErrorBody, description = "You are a member, not an owner"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Already a member"),
    ))]
pub async fn add_team_member(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(team_id): ApiPath<TeamId>,
    ApiJson(body): ApiJson<AddMemberRequest>,
) -> ApiResult<(StatusCode, Json<MemberDto>)> {
    let team = team_id;
    let role = role(body.role.as_deref())?;
    let member = state
        .app
        .add_member(&actor, team, &body.username, role)
        .await?;
    Ok((StatusCode::CREATED, Json(MemberDto::from(&member))))
}

/// Change a member's role (owners only). The last owner cannot step down.
#[utoipa::path(patch, path = "/api/v1/teams/{teamId}/members/{userId}", operation_id = "updateTeamMember", tag = "teams",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path, description = "The team's id"), ("userId" = String, Path, description = "The member's user id")),
    request_body = UpdateMemberRequest,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update_team_member(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team_id, user_id)): ApiPath<(TeamId, UserId)>,
    ApiJson(body): ApiJson<UpdateMemberRequest>,
) -> ApiResult<StatusCode> {
    let team = team_id;
    let user = user_id;
    let role = role(Some(&body.role))?;
    state.app.update_member(&actor, team, user, role).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a member (owners only). The last owner stays.
#[utoipa::path(delete, path = "/api/v1/teams/{teamId}/members/{userId}", operation_id = "removeTeamMember", tag = "teams",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path, description = "The team's id"), ("userId" = String, Path, description = "The member's user id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn remove_team_member(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team_id, user_id)): ApiPath<(TeamId, UserId)>,
) -> ApiResult<StatusCode> {
    let team = team_id;
    let user = user_id;
    state.app.remove_member(&actor, team, user).await?;
    Ok(StatusCode::NO_CONTENT)
}
