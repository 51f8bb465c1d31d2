use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use minijinja::context;
use rounds_app::{Caller, NewUserInput, UserChange};
use rounds_core::model::SiteRole;
use rounds_core::UserId;
use serde::Deserialize;

use super::{message, render, CheckedForm, NoFields, PageActor, PagePath, PageResult};
use crate::api::audit::{export_response, AuditParams};
use crate::api::dto::{AuditRecordDto, UserDto};
use crate::error::ApiError;
use crate::AppState;

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

#[derive(Default, serde::Serialize)]
struct NewUserDraft {
    username: String,
    display_name: String,
    admin: bool,
}

struct UsersView<'a> {
    draft: NewUserDraft,
    error: Option<minijinja::Value>,
    /// A one-time password to show once, with whose it is.
    issued: Option<(&'a str, String)>,
    notice: Option<&'static str>,
}

async fn users_view(
    state: &AppState,
    page: &PageActor,
    status: StatusCode,
    view: UsersView<'_>,
) -> PageResult {
    let users = state.app.list_users(Caller::User(&page.actor)).await?;
    let users: Vec<UserDto> = users.iter().map(UserDto::from).collect();
    let (me, csrf) = page.page_context();
    let issued = view
        .issued
        .map(|(username, password)| context! { username, password });
    Ok(render(
        state,
        status,
        "admin_users.html",
        context! { me, csrf, users, draft => view.draft, error => view.error, issued, notice => view.notice },
    ))
}

pub async fn users_page(
    State(state): State<AppState>,
    page: PageActor,
    Query(q): Query<Done>,
) -> PageResult {
    let notice = match q.done.as_deref() {
        Some("updated") => Some("Account updated."),
        _ => None,
    };
    users_view(
        &state,
        &page,
        StatusCode::OK,
        UsersView {
            draft: NewUserDraft::default(),
            error: None,
            issued: None,
            notice,
        },
    )
    .await
}

#[derive(Deserialize)]
pub struct CreateUserForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    admin: Option<String>,
}

pub async fn create_user(
    State(state): State<AppState>,
    page: PageActor,
    CheckedForm(form): CheckedForm<CreateUserForm>,
) -> PageResult {
    let input = NewUserInput {
        username: form.username.clone(),
        display_name: form.display_name.clone(),
        password: None,
        admin: form.admin.is_some(),
    };
    match state
        .app
        .create_user(Caller::User(&page.actor), &input)
        .await
    {
        Ok((user, Some(password))) => {
            let username = user.username.to_string();
            let view = UsersView {
                draft: NewUserDraft::default(),
                error: None,
                issued: Some((&username, password.expose().to_owned())),
                notice: None,
            };
            users_view(&state, &page, StatusCode::CREATED, view).await
        }
        Ok((_, None)) => Ok(Redirect::to("/admin/users?done=updated").into_response()),
        Err(err @ rounds_app::AppError::Forbidden { .. }) => Err(err.into()),
        Err(err) => {
            let api = ApiError::from(err);
            let draft = NewUserDraft {
                username: form.username,
                display_name: form.display_name,
                admin: form.admin.is_some(),
            };
            let error = Some(context! { field => api.field, text => api.message });
            users_view(
                &state,
                &page,
                StatusCode::UNPROCESSABLE_ENTITY,
                UsersView {
                    draft,
                    error,
                    issued: None,
                    notice: None,
                },
            )
            .await
        }
    }
}

#[derive(Deserialize)]
pub struct UserActionForm {
    action: String,
}

pub async fn update_user(
    State(state): State<AppState>,
    page: PageActor,
    PagePath(id): PagePath<UserId>,
    CheckedForm(form): CheckedForm<UserActionForm>,
) -> PageResult {
    let change = match form.action.as_str() {
        "disable" => UserChange {
            disabled: Some(true),
            ..UserChange::default()
        },
        "enable" => UserChange {
            disabled: Some(false),
            ..UserChange::default()
        },
        "make-admin" => UserChange {
            site_role: Some(SiteRole::Admin),
            ..UserChange::default()
        },
        "make-user" => UserChange {
            site_role: Some(SiteRole::User),
            ..UserChange::default()
        },
        _ => {
            return Ok(message(
                &state,
                Some(&page.session),
                StatusCode::BAD_REQUEST,
                "Unknown action",
                "That action is not one this page offers.",
            ))
        }
    };
    state
        .app
        .update_user(Caller::User(&page.actor), id, &change)
        .await?;
    Ok(Redirect::to("/admin/users?done=updated").into_response())
}

pub async fn reset_password(
    State(state): State<AppState>,
    page: PageActor,
    PagePath(id): PagePath<UserId>,
    CheckedForm(_): CheckedForm<NoFields>,
) -> PageResult {
    let password = state
        .app
        .reset_password(Caller::User(&page.actor), id)
        .await?;
    let users = state
        .app
        .list_users(Caller::User(&page.actor))
        .await
        .unwrap_or_default();
    let username = users
        .iter()
        .find(|u| u.id == id)
        .map(|u| u.username.to_string())
        .unwrap_or_default();
    let view = UsersView {
        draft: NewUserDraft::default(),
        error: None,
        issued: Some((&username, password.expose().to_owned())),
        notice: None,
    };
    users_view(&state, &page, StatusCode::OK, view).await
}

pub async fn audit_page(
    State(state): State<AppState>,
    page: PageActor,
    Query(params): Query<AuditParams>,
) -> PageResult {
    let (me, csrf) = page.page_context();
    let query = match params.to_query() {
        Ok(q) => q,
        Err(api) => {
            // Check the right to search first, so a non-admin sees the refusal.
            state.app.require_admin(&page.actor, "searchAudit").await?;
            let error = context! { field => api.field, text => api.message };
            return Ok(render(
                &state,
                StatusCode::UNPROCESSABLE_ENTITY,
                "admin_audit.html",
                context! { me, csrf, params => filters(&params), records => Vec::<AuditRecordDto>::new(), error, operations => operation_names() },
            ));
        }
    };
    let records = state.app.search_audit(&page.actor, &query).await?;
    let page_size = usize::try_from(query.limit.unwrap_or(100)).unwrap_or(100);
    let older = (records.len() == page_size)
        .then(|| records.last().map(|r| r.seq))
        .flatten();
    let records: Vec<AuditRecordDto> = records.iter().map(AuditRecordDto::from).collect();
    Ok(render(
        &state,
        StatusCode::OK,
        "admin_audit.html",
        context! { me, csrf, params => filters(&params), records, older, operations => operation_names() },
    ))
}

fn operation_names() -> Vec<&'static str> {
    rounds_core::audit::Operation::ALL
        .iter()
        .map(|o| o.as_str())
        .collect()
}

/// The filters as typed, to refill the form and build links.
fn filters(p: &AuditParams) -> minijinja::Value {
    context! {
        username => p.username.clone().unwrap_or_default(),
        team_id => p.team_id.clone().unwrap_or_default(),
        patient_ref => p.patient_ref.clone().unwrap_or_default(),
        operation => p.operation.clone().unwrap_or_default(),
        outcome => p.outcome.clone().unwrap_or_default(),
        from => p.from.clone().unwrap_or_default(),
        to => p.to.clone().unwrap_or_default(),
    }
}

pub async fn audit_export(
    State(state): State<AppState>,
    page: PageActor,
    Query(params): Query<AuditParams>,
) -> PageResult {
    Ok(match export_response(&state, &page.actor, &params).await {
        Ok(response) => response,
        Err(api) => message(
            &state,
            Some(&page.session),
            api.status,
            "Export not made",
            &api.message,
        ),
    })
}
