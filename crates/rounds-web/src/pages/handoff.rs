//! Hand-off pages: "My tasks" of a team.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use rounds_core::model::TeamRole;
use rounds_core::TeamId;

use super::{app_error_page, page_id, render, PageActor};
use crate::api::dto::{MemberDto, TeamDto};
use crate::AppState;

/// "My tasks": the page loads the tasks from the API and keeps them live.
pub async fn my_tasks_page(
    State(state): State<AppState>,
    page: PageActor,
    Path(team_raw): Path<String>,
) -> Response {
    let team: TeamId = match page_id(&state, &page, &team_raw) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let detail = match state.app.get_team(&page.actor, team).await {
        Ok(d) => d,
        Err(err) => return app_error_page(&state, &page.session, err),
    };
    let (me, csrf) = page.page_context();
    render(
        &state,
        StatusCode::OK,
        "my_tasks.html",
        context! {
            me, csrf,
            team => TeamDto::from(&detail.team),
            members => detail.members.iter().map(MemberDto::from).collect::<Vec<_>>(),
            is_owner => detail.my_role == TeamRole::Owner,
        },
    )
}
