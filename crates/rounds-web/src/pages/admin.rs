use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use rounds_app::{Caller, NewUserInput, UserChange};
use rounds_core::model::SiteRole;
use serde::Deserialize;

use super::{app_error_page, message, page_id, render, CheckedForm, NoFields, PageActor};
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
) -> Response {
    let users = match state.app.list_users(Caller::User(&page.actor)).await {
        Ok(u) => u,
        Err(err) => return app_error_page(state, &page.session, err),
    };
    let users: Vec<UserDto> = users.iter().map(UserDto::from).collect();
    let (me, csrf) = page.page_context();
    let issued = view
        .issued
        .map(|(username, password)| context! { username, password });
    render(
        state,
        status,
        "admin_users.html",
        context! { me, csrf, users, draft => view.draft, error => view.error, issued, notice => view.notice },
    )
}

pub async fn users_page(
    State(state): State<AppState>,
    page: PageActor,
    Query(q): Query<Done>,
) -> Response {
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
) -> Response {
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
        Ok((_, None)) => Redirect::to("/admin/users?done=updated").into_response(),
        Err(err @ rounds_app::AppError::Forbidden { .. }) => {
            app_error_page(&state, &page.session, err)
        }
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
    Path(raw): Path<String>,
    CheckedForm(form): CheckedForm<UserActionForm>,
) -> Response {
    let id = match page_id(&state, &page, &raw) {
        Ok(id) => id,
        Err(r) => return r,
    };
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
            return message(
                &state,
                Some(&page.session),
                StatusCode::BAD_REQUEST,
                "Unknown action",
                "That action is not one this page offers.",
            )
        }
    };
    match state
        .app
        .update_user(Caller::User(&page.actor), id, &change)
        .await
    {
        Ok(_) => Redirect::to("/admin/users?done=updated").into_response(),
        Err(err) => app_error_page(&state, &page.session, err),
    }
}

pub async fn reset_password(
    State(state): State<AppState>,
    page: PageActor,
    Path(raw): Path<String>,
    CheckedForm(_): CheckedForm<NoFields>,
) -> Response {
    let id = match page_id(&state, &page, &raw) {
        Ok(id) => id,
        Err(r) => return r,
    };
    match state
        .app
        .reset_password(Caller::User(&page.actor), id)
        .await
    {
        Ok(password) => {
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
        Err(err) => app_error_page(&state, &page.session, err),
    }
}

pub async fn audit_page(
    State(state): State<AppState>,
    page: PageActor,
    Query(params): Query<AuditParams>,
) -> Response {
    let (me, csrf) = page.page_context();
    let query = match params.to_query() {
        Ok(q) => q,
        Err(api) => {
            // Check the right to search first, so a non-admin sees the refusal.
            if let Err(err) = state.app.require_admin(&page.actor, "searchAudit").await {
                return app_error_page(&state, &page.session, err);
            }
            let error = context! { field => api.field, text => api.message };
            return render(
                &state,
                StatusCode::UNPROCESSABLE_ENTITY,
                "admin_audit.html",
                context! { me, csrf, params => filters(&params), records => Vec::<AuditRecordDto>::new(), error, operations => operation_names() },
            );
        }
    };
    match state.app.search_audit(&page.actor, &query).await {
        Ok(records) => {
            let page_size = usize::try_from(query.limit.unwrap_or(100)).unwrap_or(100);
            let older = (records.len() == page_size)
                .then(|| records.last().map(|r| r.seq))
                .flatten();
            let records: Vec<AuditRecordDto> = records.iter().map(AuditRecordDto::from).collect();
            render(
                &state,
                StatusCode::OK,
                "admin_audit.html",
                context! { me, csrf, params => filters(&params), records, older, operations => operation_names() },
            )
        }
        Err(err) => app_error_page(&state, &page.session, err),
    }
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
) -> Response {
    match export_response(&state, &page.actor, &params).await {
        Ok(response) => response,
        Err(api) => message(
            &state,
            Some(&page.session),
            api.status,
            "Export not made",
            &api.message,
        ),
    }
}
