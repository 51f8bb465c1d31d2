use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rounds_app::{Caller, NewUserInput, UserChange};
use rounds_core::model::SiteRole;
use rounds_core::UserId;

use super::dto::{
    CreateUserRequest, CreateUserResponse, PasswordResetResponse, UpdateUserRequest, UserDto,
};
use super::parse_choice;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiActor, ApiJson, ApiPath};
use crate::AppState;

/// All accounts (site administrators only).
#[utoipa::path(get, path = "/api/v1/users", operation_id = "listUsers", tag = "users",
    security(("session" = [])),
    responses((status = 200, body = Vec<UserDto>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_users(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> ApiResult<Json<Vec<UserDto>>> {
    let users = state.app.list_users(Caller::User(&actor)).await?;
    Ok(Json(users.iter().map(UserDto::from).collect()))
}

/// Create an account (site administrators only). Without a password, a
/// one-time password is returned and must be changed at first sign-in.
#[utoipa::path(post, path = "/api/v1/users", operation_id = "createUser", tag = "users",
    security(("session" = [], "csrf" = [])),
    request_body = CreateUserRequest,
    responses(
        (status = 201, body = CreateUserResponse),
        (status = 409, body = ErrorBody, description = "Username taken (`duplicate`)"),
        (status = 422, body = ErrorBody, description = "A field breaks its rule; `field` names it"),
    ))]
pub async fn create_user(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(body): ApiJson<CreateUserRequest>,
) -> ApiResult<(StatusCode, Json<CreateUserResponse>)> {
    let admin = match body.site_role.as_deref() {
        None => false,
        Some(raw) => parse_choice::<SiteRole>("siteRole", raw, "admin, user")? == SiteRole::Admin,
    };
    let input = NewUserInput {
        username: body.username,
        display_name: body.display_name,
        password: body.password,
        admin,
    };
    let (user, one_time) = state.app.create_user(Caller::User(&actor), &input).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreateUserResponse {
            user: UserDto::from(&user),
            one_time_password: one_time.map(|p| p.expose().to_owned()),
        }),
    ))
}

/// Disable or enable an account, or change its site role (site
/// administrators only). Disabling ends the account's sessions.
#[utoipa::path(patch, path = "/api/v1/users/{userId}", operation_id = "updateUser", tag = "users",
    security(("session" = [], "csrf" = [])),
    params(("userId" = String, Path, description = "The user's id")),
    request_body = UpdateUserRequest,
    responses((status = 200, body = UserDto), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update_user(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(user_id): ApiPath<UserId>,
    ApiJson(body): ApiJson<UpdateUserRequest>,
) -> ApiResult<Json<UserDto>> {
    let id = user_id;
    let site_role = body
        .site_role
        .as_deref()
        .map(|raw| parse_choice::<SiteRole>("siteRole", raw, "admin, user"))
        .transpose()?;
    let change = UserChange {
        disabled: body.disabled,
        site_role,
    };
    let user = state
        .app
        .update_user(Caller::User(&actor), id, &change)
        .await?;
    Ok(Json(UserDto::from(&user)))
}

/// Give an account a new one-time password and end its sessions (site
/// administrators only).
#[utoipa::path(post, path = "/api/v1/users/{userId}/password-reset", operation_id = "resetUserPassword", tag = "users",
    security(("session" = [], "csrf" = [])),
    params(("userId" = String, Path, description = "The user's id")),
    responses((status = 200, body = PasswordResetResponse), (status = 404, body = ErrorBody)))]
pub async fn reset_user_password(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(user_id): ApiPath<UserId>,
) -> ApiResult<Json<PasswordResetResponse>> {
    let id = user_id;
    let password = state.app.reset_password(Caller::User(&actor), id).await?;
    Ok(Json(PasswordResetResponse {
        one_time_password: password.expose().to_owned(),
    }))
}
