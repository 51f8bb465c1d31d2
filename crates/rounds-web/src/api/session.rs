use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use axum_extra::extract::cookie::{Cookie, SameSite};
use axum_extra::extract::CookieJar;

use super::dto::{ChangePasswordRequest, MeResponse, SignInRequest, SignInResponse, UserDto};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiSession, Client, SESSION_COOKIE};
use crate::AppState;

/// The session cookie: HttpOnly, SameSite=Lax, Secure when served over TLS.
pub fn session_cookie(state: &AppState, token: String) -> Cookie<'static> {
    let mut cookie = Cookie::new(SESSION_COOKIE, token);
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Lax);
    cookie.set_secure(state.web.cookie_secure);
    cookie.set_path("/");
    cookie
}

pub fn clear_session_cookie(state: &AppState) -> Cookie<'static> {
    let mut cookie = session_cookie(state, String::new());
    cookie.make_removal();
    cookie
}

/// Sign in with a username and password. Sets the session cookie and
/// returns the CSRF token to send with every later change. Failed attempts
/// are limited per account and per address (429 with Retry-After past it).
#[utoipa::path(post, path = "/api/v1/session", operation_id = "signIn", tag = "session",
    request_body = SignInRequest,
    responses(
        (status = 200, body = SignInResponse, description = "Signed in; the Set-Cookie header carries the session"),
        (status = 401, body = ErrorBody, description = "Wrong username or password (`bad_credentials`)"),
        (status = 429, body = ErrorBody, description = "Too many failed sign-ins (`rate_limited`)"),
        (status = 503, body = ErrorBody, description = "Too many password checks at once (`busy`); retry after Retry-After"),
    ))]
pub async fn sign_in(
    State(state): State<AppState>,
    Client(client): Client,
    jar: CookieJar,
    ApiJson(body): ApiJson<SignInRequest>,
) -> ApiResult<Response> {
    let signed_in = state
        .app
        .sign_in(&body.username, &body.password, &client)
        .await?;
    let jar = jar.add(session_cookie(&state, signed_in.token));
    let body = SignInResponse {
        user: UserDto::from(&signed_in.user),
        csrf_token: signed_in.csrf_token,
        expires_at: signed_in.expires_at.to_rfc3339(),
    };
    Ok((jar, Json(body)).into_response())
}

/// Sign out: ends the session and clears its cookie.
#[utoipa::path(delete, path = "/api/v1/session", operation_id = "signOut", tag = "session",
    security(("session" = [], "csrf" = [])),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, body = ErrorBody),
    ))]
pub async fn sign_out(
    State(state): State<AppState>,
    s: ApiSession,
    jar: CookieJar,
) -> ApiResult<Response> {
    state.app.sign_out(&s.session, &s.actor.client).await?;
    Ok((
        StatusCode::NO_CONTENT,
        jar.add(clear_session_cookie(&state)),
    )
        .into_response())
}

/// The signed-in user, and the session's CSRF token.
#[utoipa::path(get, path = "/api/v1/me", operation_id = "getMe", tag = "session",
    security(("session" = [])),
    responses((status = 200, body = MeResponse), (status = 401, body = ErrorBody)))]
pub async fn get_me(s: ApiSession) -> Json<MeResponse> {
    Json(MeResponse {
        user: UserDto::from(&s.actor.user),
        csrf_token: s.session.csrf_token,
    })
}

/// Change your own password (also how a one-time password is replaced).
/// Every other session of the account ends; this one stays.
#[utoipa::path(post, path = "/api/v1/me/password", operation_id = "changePassword", tag = "session",
    security(("session" = [], "csrf" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Changed"),
        (status = 422, body = ErrorBody, description = "Current password wrong, or the new one too short or too easy to guess (`weak_password`, the message says why)"),
        (status = 429, body = ErrorBody, description = "Too many wrong current passwords (`rate_limited`, counted with failed sign-ins)"),
        (status = 503, body = ErrorBody, description = "Too many password checks at once (`busy`); retry after Retry-After"),
    ))]
pub async fn change_password(
    State(state): State<AppState>,
    s: ApiSession,
    ApiJson(body): ApiJson<ChangePasswordRequest>,
) -> ApiResult<StatusCode> {
    state
        .app
        .change_password(
            &s.session,
            &s.actor,
            &body.current_password,
            &body.new_password,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
