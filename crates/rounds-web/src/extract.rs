//! Request extractors: the client's address and agent, JSON bodies, query
//! strings and path parameters whose rejections use the API's error shape,
//! and the signed-in actor.

use std::net::{IpAddr, SocketAddr};

use axum::extract::path::ErrorKind;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use axum_extra::extract::CookieJar;
use ipnet::IpNet;
use rounds_app::{Actor, AppError, SessionInfo};
use rounds_core::audit::ClientInfo;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::path::{BadPath, PathParams};
use crate::AppState;

pub const SESSION_COOKIE: &str = "rounds_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Where a request came from: the peer address (or, behind a trusted proxy,
/// the address that proxy saw, from X-Forwarded-For; see [`client_addr`])
/// and the user agent, cut to 256 characters.
pub struct Client(pub ClientInfo);

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        // Read byte-wise: a client's non-ASCII entry on the left must not
        // hide the entries proxies appended after it.
        let joined: Vec<String> = if state.web.trust_forwarded_for {
            parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect()
        } else {
            Vec::new()
        };
        let forwarded: Vec<&str> = joined.iter().flat_map(|v| v.split(',')).collect();
        let addr = client_addr(peer, &forwarded, &state.web.trusted_proxies);
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(256).collect());
        Ok(Self(ClientInfo {
            addr: addr.map(|ip| ip.to_string()),
            user_agent,
        }))
    }
}

/// The client's address from the connection's `peer` and the entries of its
/// X-Forwarded-For headers, in order (empty unless the header is trusted).
///
/// Each proxy appends the address it received the request from, so only the
/// right end of the list was written by proxies; anything further left may
/// have come from the client. Without `trusted` ranges the peer is the one
/// trusted proxy and the rightmost entry (the one it appended) is the
/// client. With ranges, the header counts only when the peer is inside one,
/// and entries inside them are skipped from the right: the first one outside
/// is the client. An entry that is not an address stops the walk: the client
/// is then the last trusted hop seen.
fn client_addr(peer: Option<IpAddr>, forwarded: &[&str], trusted: &[IpNet]) -> Option<IpAddr> {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(&unmapped(*ip)));
    if forwarded.is_empty() || (!trusted.is_empty() && !peer.is_some_and(|p| is_trusted(&p))) {
        return peer;
    }
    let mut client = peer;
    for entry in forwarded.iter().rev() {
        let Some(ip) = forwarded_ip(entry) else {
            return client;
        };
        client = Some(ip);
        if trusted.is_empty() || !is_trusted(&ip) {
            return client;
        }
    }
    client
}

/// One X-Forwarded-For entry as an address: `203.0.113.7`, `2001:db8::1`,
/// and the forms with a port, `203.0.113.7:4711` and `[2001:db8::1]:4711`.
fn forwarded_ip(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .map(unmapped)
}

/// `::ffff:a.b.c.d` as the IPv4 address it stands for.
fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// A JSON body; malformed JSON, a wrong content type and fields that do not
/// fit come back in the API's error shape, naming the field where serde can.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

fn json_rejection(rejection: &JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(e) => {
            let detail =
                std::error::Error::source(e).map_or_else(|| e.body_text(), |s| s.to_string());
            let mut err = ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                format!("the request body does not fit: {detail}"),
            );
            if let Some(field) = backticked(&detail) {
                err = err.with_field(field);
            }
            err
        }
        JsonRejection::JsonSyntaxError(e) => {
            let detail =
                std::error::Error::source(e).map_or_else(|| e.body_text(), |s| s.to_string());
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("the request body is not valid JSON: {detail}"),
            )
        }
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with Content-Type: application/json",
        ),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is too large (at most 64 KiB)",
        ),
        other => ApiError::new(other.status(), "invalid_body", other.body_text()),
    }
}

/// Query parameters; a value that does not fit (`limit=99999999999999999999`)
/// comes back in the API's error shape naming the parameter.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(Self)
            .map_err(|e| {
                let field = e.path().to_string();
                let mut err = ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_query",
                    format!("the query parameter {field} does not fit: {}", e.inner()),
                );
                if field != "." {
                    err = err.with_field(field);
                }
                err
            })
    }
}

/// Path parameters, typed ([`PathParams`]: ids and text in route order);
/// one that does not parse, or is not UTF-8 once percent-decoded, comes back
/// in the API's error shape naming the parameter.
pub struct ApiPath<T>(pub T);

impl<T: PathParams + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = match Path::<Vec<(String, String)>>::from_request_parts(parts, state).await {
            Ok(Path(params)) => params,
            Err(rejection) => return Err(path_rejection(rejection)),
        };
        match T::from_params(&params) {
            Ok(value) => Ok(Self(value)),
            Err(BadPath::Param { key, reason, .. }) => Err(ApiError::invalid_id(&key, reason)),
            Err(BadPath::Mismatch(m)) => {
                Err(AppError::Internal(format!("path parameters: {m}")).into())
            }
        }
    }
}

fn path_rejection(rejection: PathRejection) -> ApiError {
    let failed = match rejection {
        PathRejection::FailedToDeserializePathParams(failed)
            if !failed.status().is_server_error() =>
        {
            failed
        }
        // The route and its handler disagree: a bug, not the client's
        // fault (logged as an internal failure).
        other => {
            return AppError::Internal(format!("path parameters: {}", other.body_text())).into()
        }
    };
    let field = match failed.kind() {
        ErrorKind::InvalidUtf8InPathParam { key } | ErrorKind::ParseErrorAtKey { key, .. } => {
            Some(key.clone())
        }
        _ => None,
    };
    let message = match &field {
        Some(key) => format!("the path parameter {key} is not valid: {}", failed.kind()),
        None => format!("the path is not valid: {}", failed.kind()),
    };
    let mut err = ApiError::new(failed.status(), "invalid_path", message);
    err.field = field;
    err
}

/// serde names fields in backticks: "unknown field `foo`", "missing field `bar`".
fn backticked(detail: &str) -> Option<String> {
    let start = detail.find('`')? + 1;
    let len = detail[start..].find('`')?;
    Some(detail[start..start + len].to_owned())
}

/// The live session behind the request's cookie, if any.
pub async fn session_of(parts: &Parts, state: &AppState) -> Result<Option<SessionInfo>, AppError> {
    let jar = CookieJar::from_headers(&parts.headers);
    match jar.get(SESSION_COOKIE) {
        Some(cookie) if !cookie.value().is_empty() => {
            state.app.resolve_session(cookie.value()).await
        }
        _ => Ok(None),
    }
}

fn is_state_changing(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether a CSRF token `sent` with a request is `token`: the token itself
/// or a masking of it (pages carry masked ones, see
/// [`crate::pages::masked_csrf`]); in constant time.
pub fn tokens_match(sent: &str, token: &str) -> bool {
    rounds_app::token_matches(sent, token)
}

/// The one acting in `session`: its user, from the client this request
/// came from.
pub async fn actor_in(parts: &mut Parts, state: &AppState, session: &SessionInfo) -> Actor {
    let Client(client) = Client::from_request_parts(parts, state)
        .await
        .unwrap_or_else(|e| match e {});
    Actor {
        user: session.user.clone(),
        client,
    }
}

/// Any signed-in API caller, even one who must still change a one-time
/// password. State-changing requests must carry the session's CSRF token.
pub struct ApiSession {
    pub session: SessionInfo,
    pub actor: Actor,
}

impl FromRequestParts<AppState> for ApiSession {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let session = session_of(parts, state)
            .await?
            .ok_or_else(ApiError::unauthenticated)?;
        if is_state_changing(&parts.method) {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !tokens_match(sent, &session.csrf_token) {
                return Err(ApiError::csrf());
            }
        }
        let actor = actor_in(parts, state, &session).await;
        Ok(Self { session, actor })
    }
}

/// A signed-in API caller who may use the whole API.
pub struct ApiActor(pub Actor);

impl FromRequestParts<AppState> for ApiActor {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ApiSession { actor, .. } = ApiSession::from_request_parts(parts, state).await?;
        if actor.user.must_change_password {
            return Err(AppError::PasswordChangeRequired.into());
        }
        Ok(Self(actor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn the_proxy_appended_entry_is_the_client() {
        let peer = Some(ip("10.0.0.5"));
        // Without ranges: the rightmost entry, whatever the client put before it.
        assert_eq!(
            client_addr(peer, &["203.0.113.7", " 198.51.100.20 "], &[]),
            Some(ip("198.51.100.20"))
        );
        assert_eq!(client_addr(peer, &[], &[]), peer);
        assert_eq!(
            client_addr(peer, &["[2001:db8::1]:4711"], &[]),
            Some(ip("2001:db8::1"))
        );
        assert_eq!(
            client_addr(peer, &["198.51.100.20:80"], &[]),
            Some(ip("198.51.100.20"))
        );
        // Two proxy hops inside the trusted ranges are skipped.
        let two = nets(&["10.0.0.0/24", "192.168.9.0/24"]);
        assert_eq!(
            client_addr(peer, &["203.0.113.7", "198.51.100.20", "192.168.9.3"], &two),
            Some(ip("198.51.100.20"))
        );
        // A peer outside the ranges is the client: its header is not trusted.
        assert_eq!(
            client_addr(Some(ip("198.51.100.99")), &["203.0.113.7"], &two),
            Some(ip("198.51.100.99"))
        );
        // Every entry trusted: the leftmost one.
        assert_eq!(
            client_addr(peer, &["192.168.9.7", "10.0.0.4"], &two),
            Some(ip("192.168.9.7"))
        );
        // A mapped peer address counts as its IPv4 address.
        assert_eq!(
            client_addr(Some(ip("::ffff:10.0.0.5")), &["198.51.100.20"], &two),
            Some(ip("198.51.100.20"))
        );
    }

    #[test]
    fn garbage_entries_stop_the_walk() {
        let peer = Some(ip("10.0.0.5"));
        for junk in [
            "",
            "unknown",
            "not an address",
            "999.1.1.1",
            "\u{1F600}",
            "1.2.3.4.5",
        ] {
            assert_eq!(
                client_addr(peer, &["203.0.113.7", junk], &[]),
                peer,
                "{junk:?}"
            );
        }
        let two = nets(&["10.0.0.0/24", "192.168.9.0/24"]);
        assert_eq!(
            client_addr(peer, &["203.0.113.7", "garbage", "192.168.9.3"], &two),
            Some(ip("192.168.9.3"))
        );
        assert_eq!(client_addr(None, &["garbage"], &[]), None);
    }
}
