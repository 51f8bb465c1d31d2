//! How a page handler fails: it returns a [`PageError`] (with `?` from an
//! [`AppError`], or from a typed [`PagePath`] that did not parse), and
//! [`render_failures`], around every page route, draws it as the message
//! page for the person signed in. Handlers never build error pages by hand.

use std::sync::{Arc, OnceLock};

use axum::extract::path::Path;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rounds_app::{AppError, SessionInfo};

use super::message;
use crate::error::ApiError;
use crate::path::{BadPath, PathParams};
use crate::AppState;

/// What a page handler answers.
pub(crate) type PageResult = Result<Response, PageError>;

/// Why a page cannot be shown.
#[derive(Debug)]
pub(crate) enum PageError {
    /// The application refused or failed; shown with its message.
    App(AppError),
    /// The address names no such thing ("team", "list", …).
    NoSuch(&'static str),
    /// A page made already (a form shown again with its error, a redirect).
    Shown(Response),
}

impl From<AppError> for PageError {
    fn from(err: AppError) -> Self {
        Self::App(err)
    }
}

impl From<Response> for PageError {
    fn from(page: Response) -> Self {
        Self::Shown(page)
    }
}

/// The message a failure shows, carried on the response to [`render_failures`].
#[derive(Clone)]
struct Failure {
    title: &'static str,
    text: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, failure) = match self {
            Self::Shown(page) => return page,
            Self::NoSuch(what) => (
                StatusCode::NOT_FOUND,
                Failure {
                    title: "Not found",
                    text: format!("There is no such {what} here. The link may be old or mistyped."),
                },
            ),
            Self::App(err) => {
                let api = ApiError::from(err);
                let title = match api.status {
                    StatusCode::NOT_FOUND => "Not found",
                    StatusCode::FORBIDDEN => "Not allowed",
                    s if s.is_server_error() => "Something went wrong",
                    _ => "That did not work",
                };
                (
                    api.status,
                    Failure {
                        title,
                        text: api.message,
                    },
                )
            }
        };
        let mut response = status.into_response();
        response.extensions_mut().insert(failure);
        response
    }
}

/// Where the page's session is left for [`render_failures`], so the
/// message page shows who is signed in without reading the session again.
#[derive(Clone)]
pub(crate) struct SessionSlot(Arc<OnceLock<SessionInfo>>);

impl SessionSlot {
    pub(crate) fn fill(parts: &Parts, session: &SessionInfo) {
        if let Some(slot) = parts.extensions.get::<SessionSlot>() {
            let _ = slot.0.set(session.clone());
        }
    }
}

/// Middleware around the page routes: a failed handler's [`PageError`]
/// becomes the message page.
pub(crate) async fn render_failures(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let slot = Arc::new(OnceLock::new());
    req.extensions_mut().insert(SessionSlot(Arc::clone(&slot)));
    let mut response = next.run(req).await;
    match response.extensions_mut().remove::<Failure>() {
        Some(failure) => message(
            &state,
            slot.get(),
            response.status(),
            failure.title,
            &failure.text,
        ),
        None => response,
    }
}

/// A page's path parameters, typed ([`PathParams`]); one that does not parse
/// is the "not found" page naming what was looked for. Take it after the
/// [`super::PageActor`], so that the refusal shows who is signed in.
pub(crate) struct PagePath<T>(pub T);

impl<T: PathParams + Send, S: Send + Sync> FromRequestParts<S> for PagePath<T> {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Ok(Path(params)) =
            Path::<Vec<(String, String)>>::from_request_parts(parts, state).await
        else {
            return Err(PageError::NoSuch("page"));
        };
        match T::from_params(&params) {
            Ok(value) => Ok(Self(value)),
            Err(BadPath::Param { what, .. }) => Err(PageError::NoSuch(what)),
            Err(BadPath::Mismatch(m)) => Err(AppError::Internal(format!("page path: {m}")).into()),
        }
    }
}
