//! The live feeds' common set-up (a list's, `listEvents`, and the team's,
//! `teamEvents`): who may open one, where it resumes, and the stream of
//! server-sent events itself.
//!
//! Each message arrives already framed (`rounds_app::LiveMessage`: the
//! frame is made once per event and shared by all its streams), so the
//! stream only hands the bytes on; the connection reads the feed itself. A quiet stream is sent a `ping` by the
//! feed itself every 15 s, well inside proxies' read timeouts.

use std::convert::Infallible;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rounds_app::{Actor, AppError, LiveFeed};
use tokio_stream::StreamExt;

use crate::error::ApiError;

/// Whether `actor` may open a feed: as for every other route, not someone
/// signed in with a one-time password (the session is kept so the feed
/// ends with it).
pub(crate) fn may_follow(actor: &Actor) -> Result<(), ApiError> {
    if actor.user.must_change_password {
        return Err(AppError::PasswordChangeRequired.into());
    }
    Ok(())
}

/// The event after which the feed resumes: the `Last-Event-ID` header (a
/// reconnecting browser's), else the `lastEventId` query parameter.
pub(crate) fn last_event_id(
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Option<i64>, ApiError> {
    let from_query = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == "lastEventId")
        .map(|(_, v)| v.into_owned());
    let from_header = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match from_header.or(from_query) {
        None => Ok(None),
        Some(raw) => raw.trim().parse::<i64>().map(Some).map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_id",
                format!("lastEventId: {raw:?} is not an event id"),
            )
            .with_field("lastEventId")
        }),
    }
}

/// The stream of a feed's messages as `text/event-stream`.
pub(crate) fn event_stream(feed: LiveFeed) -> Response {
    let frames = feed.map(|m| Ok::<_, Infallible>(m.into_frame()));
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        Body::from_stream(frames),
    )
        .into_response()
}
