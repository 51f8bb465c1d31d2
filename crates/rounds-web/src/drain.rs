//! Request bodies a handler did not read.
//!
//! A handler may answer before it reads the body: a 401 for a missing
//! session, a 403 for a wrong CSRF token, a 404 for an unknown team. hyper
//! then reads what of the body has already arrived and, when more is still
//! on its way, closes the connection after the answer; but the answer may
//! already have gone out without `Connection: close`, so a keep-alive
//! client sends its next request on a connection that is closing and gets
//! no answer at all. Here the rest of such a body is read (up to the body
//! limit, for a moment) before the answer leaves, and when that is not
//! possible the answer says `Connection: close`, so the client knows to
//! open a new connection.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

use crate::BODY_LIMIT;

/// How long the rest of an unread body may take to arrive.
const DRAIN_WAIT: Duration = Duration::from_secs(1);

type Slot = Arc<Mutex<Option<Body>>>;

/// The request's body as the handler sees it; the body itself stays in the
/// slot, so what the handler leaves unread can be read afterwards.
struct Lent(Slot);

impl HttpBody for Lent {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match slot.as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        let slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        slot.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        let slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        slot.as_ref()
            .map_or_else(|| http_body::SizeHint::with_exact(0), HttpBody::size_hint)
    }
}

fn has_body(req: &Request) -> bool {
    let headers = req.headers();
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

/// Middleware: after the handler answered, reads what it left of the
/// request body, or marks the answer `Connection: close`.
pub async fn finish_reading(req: Request, next: Next) -> Response {
    if !has_body(&req) {
        return next.run(req).await;
    }
    // A client waiting for "100 Continue" sends nothing until the body is
    // asked for: do not ask for a body nobody wants.
    let awaits_continue = req
        .headers()
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let (parts, body) = req.into_parts();
    let slot: Slot = Arc::new(Mutex::new(Some(body)));
    let lent = Body::new(Lent(Arc::clone(&slot)));
    let mut response = next.run(Request::from_parts(parts, lent)).await;
    let left = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
    let Some(left) = left.filter(|b| !b.is_end_stream()) else {
        return response;
    };
    let drained = !awaits_continue
        && matches!(
            tokio::time::timeout(DRAIN_WAIT, axum::body::to_bytes(left, BODY_LIMIT)).await,
            Ok(Ok(_))
        );
    if !drained {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}
