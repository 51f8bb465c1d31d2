use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use minijinja::context;
use rounds_core::model::TeamRole;
use rounds_core::{TeamId, UserId};
use serde::Deserialize;

use super::{render, CheckedForm, NoFields, PageActor, PagePath, PageResult};
use crate::api::dto::{MemberDto, TeamDto, TeamSummaryDto};
use crate::error::ApiError;
use crate::AppState;

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

fn notice(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "password" => Some("Your new password is set."),
        "added" => Some("Member added."),
        "role" => Some("Role changed."),
        "removed" => Some("Member removed."),
        "created" => Some("Team created. Add its members below."),
        "default" => Some("Default list set."),
        "list-deleted" => Some("List deleted."),
        "template" => Some(
            "The team's set-up is saved as a template: it is offered to everyone creating a team.",
        ),
        _ => None,
    }
}

/// A field error for the page, from anything the app refused.
fn form_error(err: rounds_app::AppError) -> minijinja::Value {
    let api = ApiError::from(err);
    context! { field => api.field, text => api.message }
}

async fn teams_view(
    state: &AppState,
    page: &PageActor,
    status: StatusCode,
    name: &str,
    error: Option<minijinja::Value>,
    done: Option<&str>,
) -> PageResult {
    let teams = state.app.list_teams(&page.actor).await?;
    let teams: Vec<TeamSummaryDto> = teams.iter().map(TeamSummaryDto::from).collect();
    let templates = crate::api::templates::summaries(&state.app).await?;
    let (me, csrf) = page.page_context();
    Ok(render(
        state,
        status,
        "teams.html",
        context! { me, csrf, teams, name, error, notice => notice(done), templates },
    ))
}

pub async fn teams_page(
    State(state): State<AppState>,
    page: PageActor,
    Query(q): Query<Done>,
) -> PageResult {
    teams_view(&state, &page, StatusCode::OK, "", None, q.done.as_deref()).await
}

#[derive(Deserialize)]
pub struct CreateTeamForm {
    #[serde(default)]
    name: String,
    /// A team template's id (empty: none).
    #[serde(default)]
    template: String,
}

pub async fn create_team(
    State(state): State<AppState>,
    page: PageActor,
    CheckedForm(form): CheckedForm<CreateTeamForm>,
) -> PageResult {
    let created = if form.template.trim().is_empty() {
        state.app.create_team(&page.actor, &form.name).await
    } else {
        state
            .app
            .create_team_from_template(&page.actor, &form.name, form.template.trim())
            .await
    };
    match created {
        Ok(team) => Ok(Redirect::to(&format!("/teams/{}?done=created", team.id)).into_response()),
        Err(err) => {
            teams_view(
                &state,
                &page,
                StatusCode::UNPROCESSABLE_ENTITY,
                &form.name,
                Some(form_error(err)),
                None,
            )
            .await
        }
    }
}

struct AddAttempt<'a> {
    username: &'a str,
    role: &'a str,
    error: minijinja::Value,
}

/// A new-list form that was refused: the typed name and the reason.
struct ListAttempt<'a> {
    name: &'a str,
    error: minijinja::Value,
}

/// The team page again, with the new-list form's error.
pub(crate) async fn team_view_with_list_error(
    state: &AppState,
    page: &PageActor,
    id: TeamId,
    name: &str,
    err: rounds_app::AppError,
) -> PageResult {
    let attempt = ListAttempt {
        name,
        error: form_error(err),
    };
    let attempts = Attempts {
        list: Some(attempt),
        ..Attempts::default()
    };
    team_view_full(
        state,
        page,
        id,
        StatusCode::UNPROCESSABLE_ENTITY,
        attempts,
        None,
    )
    .await
}

async fn team_view(
    state: &AppState,
    page: &PageActor,
    id: TeamId,
    status: StatusCode,
    attempt: Option<AddAttempt<'_>>,
    done: Option<&str>,
) -> PageResult {
    let attempts = Attempts {
        member: attempt,
        ..Attempts::default()
    };
    team_view_full(state, page, id, status, attempts, done).await
}

/// The forms of the team page that were refused, each with its reason.
#[derive(Default)]
struct Attempts<'a> {
    member: Option<AddAttempt<'a>>,
    list: Option<ListAttempt<'a>>,
    /// "Save as a template" (a name and its error, as a list's).
    template: Option<ListAttempt<'a>>,
}

async fn team_view_full(
    state: &AppState,
    page: &PageActor,
    id: TeamId,
    status: StatusCode,
    attempts: Attempts<'_>,
    done: Option<&str>,
) -> PageResult {
    let Attempts {
        member: attempt,
        list: list_attempt,
        template: template_attempt,
    } = attempts;
    let detail = state.app.get_team(&page.actor, id).await?;
    let lists = super::lists::team_lists(state, page, id).await?;
    let (list_name, list_error) = match list_attempt {
        Some(a) => (a.name, Some(a.error)),
        None => ("", None),
    };
    let (template_name, template_error) = match template_attempt {
        Some(a) => (a.name, Some(a.error)),
        None => ("", None),
    };
    let (me, csrf) = page.page_context();
    let members: Vec<MemberDto> = detail.members.iter().map(MemberDto::from).collect();
    let (username, role, error) = match attempt {
        Some(a) => (a.username, a.role, Some(a.error)),
        None => ("", "member", None),
    };
    Ok(render(
        state,
        status,
        "team.html",
        context! {
            me, csrf, members,
            team => TeamDto::from(&detail.team),
            is_owner => detail.my_role == TeamRole::Owner,
            my_role => detail.my_role.as_str(),
            username, role, error,
            lists => lists.lists,
            schemas => lists.schemas,
            list_name, list_error,
            template_name, template_error,
            notice => notice(done),
        },
    ))
}

pub async fn team_page(
    State(state): State<AppState>,
    page: PageActor,
    PagePath(id): PagePath<TeamId>,
    Query(q): Query<Done>,
) -> PageResult {
    team_view(&state, &page, id, StatusCode::OK, None, q.done.as_deref()).await
}

#[derive(Deserialize)]
pub struct SaveTemplateForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
}

/// An owner saves the team's set-up as a site template.
pub async fn save_as_template(
    State(state): State<AppState>,
    page: PageActor,
    PagePath(id): PagePath<TeamId>,
    CheckedForm(form): CheckedForm<SaveTemplateForm>,
) -> PageResult {
    match state
        .app
        .save_team_as_template(&page.actor, id, &form.name, &form.description)
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/teams/{id}?done=template")).into_response()),
        Err(
            err @ (rounds_app::AppError::NotFound { .. } | rounds_app::AppError::Forbidden { .. }),
        ) => Err(err.into()),
        Err(err) => {
            let attempt = ListAttempt {
                name: &form.name,
                error: form_error(err),
            };
            let attempts = Attempts {
                template: Some(attempt),
                ..Attempts::default()
            };
            team_view_full(
                &state,
                &page,
                id,
                StatusCode::UNPROCESSABLE_ENTITY,
                attempts,
                None,
            )
            .await
        }
    }
}

#[derive(Deserialize)]
pub struct AddMemberForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    role: String,
}

fn parse_role(raw: &str) -> Result<TeamRole, rounds_app::AppError> {
    raw.parse().map_err(|()| {
        rounds_core::InvalidInput::new("role", format!("{raw:?} is not one of owner, member"))
            .into()
    })
}

pub async fn add_member(
    State(state): State<AppState>,
    page: PageActor,
    PagePath(id): PagePath<TeamId>,
    CheckedForm(form): CheckedForm<AddMemberForm>,
) -> PageResult {
    let result = match parse_role(&form.role) {
        Ok(role) => state
            .app
            .add_member(&page.actor, id, &form.username, role)
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/teams/{id}?done=added")).into_response()),
        Err(
            err @ (rounds_app::AppError::NotFound { .. } | rounds_app::AppError::Forbidden { .. }),
        ) => Err(err.into()),
        Err(err) => {
            let attempt = AddAttempt {
                username: &form.username,
                role: &form.role,
                error: form_error(err),
            };
            team_view(
                &state,
                &page,
                id,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(attempt),
                None,
            )
            .await
        }
    }
}

#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    role: String,
}

pub async fn update_member(
    State(state): State<AppState>,
    page: PageActor,
    PagePath((team, user)): PagePath<(TeamId, UserId)>,
    CheckedForm(form): CheckedForm<RoleForm>,
) -> PageResult {
    let result = match parse_role(&form.role) {
        Ok(role) => state.app.update_member(&page.actor, team, user, role).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/teams/{team}?done=role")).into_response()),
        Err(err) => Err(err.into()),
    }
}

pub async fn remove_member(
    State(state): State<AppState>,
    page: PageActor,
    PagePath((team, user)): PagePath<(TeamId, UserId)>,
    CheckedForm(_): CheckedForm<NoFields>,
) -> PageResult {
    match state.app.remove_member(&page.actor, team, user).await {
        Ok(()) if user == page.actor.user.id => Ok(Redirect::to("/teams").into_response()),
        Ok(()) => Ok(Redirect::to(&format!("/teams/{team}?done=removed")).into_response()),
        Err(err) => Err(err.into()),
    }
}

/// The team's EHR connection: owners set, test and remove it; members see
/// its name and health. The page is a shell: the script reads the
/// connection from the API (which gives members no address or secret).
pub async fn ehr_page(
    State(state): State<AppState>,
    page: PageActor,
    PagePath(id): PagePath<TeamId>,
) -> PageResult {
    let detail = state.app.get_team(&page.actor, id).await?;
    let (me, csrf) = page.page_context();
    Ok(render(
        &state,
        StatusCode::OK,
        "ehr.html",
        context! {
            me, csrf,
            team => TeamDto::from(&detail.team),
            is_owner => detail.my_role == TeamRole::Owner,
        },
    ))
}
