//! What a page handler takes from the request: the signed-in person
//! ([`PageActor`], [`PageSession`]) and a posted form whose CSRF token
//! matches the session's ([`CheckedForm`]).

use axum::extract::rejection::FormRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use rounds_app::{Actor, SessionInfo};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::api::dto::UserDto;
use crate::extract::{actor_in, session_of, tokens_match};
use crate::AppState;

use super::failure::SessionSlot;
use super::{masked_csrf, message};

/// A signed-in person on a page; anyone else is sent to sign in, and
/// someone with a one-time password to choose their own first.
pub struct PageActor {
    pub actor: Actor,
    pub session: SessionInfo,
}

impl PageActor {
    pub fn page_context(&self) -> (UserDto, String) {
        (
            UserDto::from(&self.actor.user),
            masked_csrf(&self.session.csrf_token),
        )
    }
}

/// The session part of [`PageActor`], without the password-change rule.
pub struct PageSession(pub PageActor);

impl FromRequestParts<AppState> for PageSession {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let session = match session_of(parts, state).await {
            Ok(Some(session)) => session,
            Ok(None) => {
                let next = parts.uri.path_and_query().map_or("/teams", |p| p.as_str());
                let target = format!("/sign-in?next={}", urlencode(next));
                return Err(Redirect::to(&target).into_response());
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot read the session");
                return Err((
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Rounds cannot reach its database; try again shortly.",
                )
                    .into_response());
            }
        };
        parts.extensions.insert(session.clone());
        SessionSlot::fill(parts, &session);
        Ok(Self(PageActor {
            actor: actor_in(parts, state, &session).await,
            session,
        }))
    }
}

impl FromRequestParts<AppState> for PageActor {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let PageSession(page) = PageSession::from_request_parts(parts, state).await?;
        if page.actor.user.must_change_password {
            return Err(Redirect::to("/account/password").into_response());
        }
        Ok(page)
    }
}

/// A posted form whose `csrf_token` field matches the session's (taken after a
/// [`PageActor`] or [`PageSession`] in the handler's arguments); the handler
/// gets the other fields as `T`.
pub struct CheckedForm<T>(pub T);

#[derive(Deserialize)]
struct WithCsrf<T> {
    csrf_token: String,
    #[serde(flatten)]
    form: T,
}

/// A form with nothing but its CSRF token.
#[derive(Deserialize)]
pub struct NoFields {}

impl<T: DeserializeOwned> FromRequest<AppState> for CheckedForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let session = req.extensions().get::<SessionInfo>().cloned();
        let Some(session) = session else {
            return Err(Redirect::to("/sign-in").into_response());
        };
        let form: Result<Form<WithCsrf<T>>, FormRejection> = Form::from_request(req, state).await;
        match form {
            Ok(Form(value)) if tokens_match(&value.csrf_token, &session.csrf_token) => Ok(Self(value.form)),
            Ok(_) => Err(message(
                state,
                Some(&session),
                StatusCode::FORBIDDEN,
                "Form expired",
                "This form was not sent from your current session (its security token does not match). Go back, reload the page and try again.",
            )),
            Err(rejection) => Err(message(
                state,
                Some(&session),
                StatusCode::BAD_REQUEST,
                "Form not understood",
                &rejection.body_text(),
            )),
        }
    }
}

fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
