//! Compressed answers (gzip or brotli, as the client accepts) for the JSON
//! API and the static files; never for the live feed, and never where
//! BREACH could read a secret.
//!
//! BREACH: an attacker who can make a victim's browser send requests with
//! text of the attacker's choosing, and who sees the size of the
//! compressed answers on the wire, learns a secret in the answer one
//! character at a time when the chosen text is reflected next to it
//! (a match compresses better). Only answers that carry a secret *and*
//! may reflect request input are at risk, so these are sent uncompressed:
//! - every page (HTML): each carries the session's CSRF token and many
//!   reflect what was asked (a search, a form's values);
//! - the session answers (`/api/v1/session…`, `/api/v1/me…`), which carry
//!   the CSRF token;
//! - the account answers (`/api/v1/users…`), which may carry a one-time
//!   password next to the username that was sent.
//!
//! The rest of the JSON API carries no secret (the session cookie and the
//! CSRF token travel in headers, which are not compressed) and the static
//! files are public. The live feed (`text/event-stream`) is never
//! compressed: a compressor would hold events back to fill its blocks.

use axum::extract::Request;
use axum::http::{header, Response};
use axum::middleware::Next;
use tower_http::compression::predicate::Predicate;
use tower_http::compression::CompressionLayer;

/// Marks an answer that must go uncompressed.
#[derive(Debug, Clone, Copy)]
struct Uncompressed;

/// Whether an answer to `path` may carry a secret (see the module text).
fn may_carry_secret(path: &str) -> bool {
    let api_or_static = path.starts_with("/api/") || path.starts_with("/static/");
    !api_or_static
        || path.starts_with("/api/v1/session")
        || path.starts_with("/api/v1/me")
        || path.starts_with("/api/v1/users")
}

/// Marks the answers to paths that may carry a secret.
pub(crate) async fn mark_secret_answers(req: Request, next: Next) -> axum::response::Response {
    let secret = may_carry_secret(req.uri().path());
    let mut response = next.run(req).await;
    if secret {
        response.extensions_mut().insert(Uncompressed);
    }
    response
}

/// JSON, scripts and style sheets of some size, unless marked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Compressible;

impl Predicate for Compressible {
    fn should_compress<B>(&self, response: &Response<B>) -> bool
    where
        B: http_body::Body,
    {
        if response.extensions().get::<Uncompressed>().is_some() {
            return false;
        }
        let kind = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let textual = kind.starts_with("application/json")
            || kind.starts_with("text/javascript")
            || kind.starts_with("text/css");
        // Small answers gain nothing (and tiny ones may grow).
        let big_enough = http_body::Body::size_hint(response.body())
            .exact()
            .is_none_or(|n| n >= 512);
        textual && big_enough && !kind.starts_with("text/event-stream")
    }
}

pub(crate) fn layer() -> CompressionLayer<Compressible> {
    CompressionLayer::new()
        .gzip(true)
        .br(true)
        .no_deflate()
        .no_zstd()
        .compress_when(Compressible)
}

#[cfg(test)]
mod tests {
    use super::may_carry_secret;

    #[test]
    fn pages_and_session_answers_are_never_compressed() {
        for path in [
            "/teams/1/lists/2",
            "/sign-in",
            "/api/v1/session",
            "/api/v1/me",
            "/api/v1/users/3/reset-password",
        ] {
            assert!(may_carry_secret(path), "{path}");
        }
        for path in ["/api/v1/teams/1/lists/2", "/static/list.js"] {
            assert!(!may_carry_secret(path), "{path}");
        }
    }
}
