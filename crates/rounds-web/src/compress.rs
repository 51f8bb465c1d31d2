//! Compressed answers (gzip or brotli, as the client accepts) for the JSON
//! API and the static files; never for the live feed, and never where
//! BREACH could read a secret.
//!
//! BREACH: an attacker who can make a victim's browser send requests with
//! text of the attacker's choosing, and who sees the size of the
//! compressed answers on the wire, learns a secret in the answer one
//! character at a time when the chosen text is reflected next to it
//! (a match compresses better). Only answers that carry a secret *and*
//! may reflect request input are at risk. How each kind of answer stands:
//! - the JSON API (but the answers below) carries no token (the session
//!   cookie and the CSRF token travel in headers, which are not
//!   compressed), and the session cookie is `SameSite=Lax`: another site
//!   cannot have the browser fetch it signed in. Compressed.
//! - the session answers (`/api/v1/session…`, `/api/v1/me…`) carry the
//!   CSRF token itself, and the account answers (`/api/v1/users…`) may
//!   carry a one-time password next to the username that was sent: never
//!   compressed.
//! - pages (HTML) carry the CSRF token and patient data, and many reflect
//!   what was asked (a search, a form's values); a `SameSite=Lax` cookie is
//!   sent on a top-level navigation from another site, so another site
//!   *can* have them rendered signed in. Two defences, together:
//!   1. the CSRF token on a page is masked afresh for every answer (a
//!      random pad, sent as pad || token XOR pad, checked by unmasking;
//!      `rounds_app::mask_token`), so no page carries a stable token to
//!      guess at;
//!   2. a page is compressed only when the browser says the request came
//!      from Rounds itself or from the person (`Sec-Fetch-Site:
//!      same-origin` or `none`: a link in Rounds, the address bar, a
//!      bookmark). A request another site caused (`cross-site`,
//!      `same-site`), or one from a client that does not say, gets the page
//!      uncompressed, so the guesses an attacker makes the browser send
//!      yield no size oracle on the patient data next to the reflected
//!      text either. Browsers set the header themselves; a page's script
//!      cannot forge it.
//!
//!   Rendering fewer rows into the page was the other option; it would
//!   change what the page shows without JavaScript, and the rows the page
//!   carries are its bulk only uncompressed.
//! - static files are public. Compressed.
//!
//! The live feed (`text/event-stream`) is never compressed: a compressor
//! would hold events back to fill its blocks.

use axum::extract::Request;
use axum::http::{header, HeaderValue, Response};
use axum::middleware::Next;
use tower_http::compression::predicate::Predicate;
use tower_http::compression::CompressionLayer;

/// Marks an answer that must go uncompressed.
#[derive(Debug, Clone, Copy)]
struct Uncompressed;

/// Whether the answer to a request for `path`, whose `Sec-Fetch-Site`
/// header says `fetch_site`, must go uncompressed (see the module text).
fn must_not_compress(path: &str, fetch_site: Option<&str>) -> bool {
    if path.starts_with("/static/") {
        return false;
    }
    if path.starts_with("/api/") {
        return path.starts_with("/api/v1/session")
            || path.starts_with("/api/v1/me")
            || path.starts_with("/api/v1/users");
    }
    // A page: only when the request came from Rounds or the person.
    !matches!(fetch_site, Some("same-origin" | "none"))
}

/// Marks the answers that must go uncompressed.
pub(crate) async fn mark_secret_answers(req: Request, next: Next) -> axum::response::Response {
    let path = req.uri().path();
    let page = !path.starts_with("/api/") && !path.starts_with("/static/");
    let fetch_site = req
        .headers()
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok());
    let secret = must_not_compress(path, fetch_site);
    let mut response = next.run(req).await;
    if secret {
        response.extensions_mut().insert(Uncompressed);
    }
    if page {
        // Whether a page is compressed depends on this header too.
        response
            .headers_mut()
            .append(header::VARY, HeaderValue::from_static("sec-fetch-site"));
    }
    response
}

/// JSON, pages, scripts and style sheets of some size, unless marked.
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
            || kind.starts_with("text/html")
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
    use super::must_not_compress;

    #[test]
    fn secrets_and_pages_others_asked_for_go_uncompressed() {
        for path in [
            "/api/v1/session",
            "/api/v1/me",
            "/api/v1/users/3/reset-password",
        ] {
            for site in [None, Some("same-origin"), Some("none")] {
                assert!(must_not_compress(path, site), "{path} {site:?}");
            }
        }
        for path in ["/teams/1/lists/2", "/sign-in"] {
            for site in [None, Some("cross-site"), Some("same-site"), Some("x")] {
                assert!(must_not_compress(path, site), "{path} {site:?}");
            }
            for site in [Some("same-origin"), Some("none")] {
                assert!(!must_not_compress(path, site), "{path} {site:?}");
            }
        }
        for path in ["/api/v1/teams/1/lists/2", "/static/list.js"] {
            assert!(!must_not_compress(path, None), "{path}");
            assert!(!must_not_compress(path, Some("cross-site")), "{path}");
        }
    }
}
