//! The token server (OAuth 2.0 client credentials, RFC 6749 §4.4) and the
//! validation of the tokens it issues.
//!
//! A token is an ES256 JWT: `iss` and `aud` are the gateway's public URL,
//! `sub` and `client_id` the client, `tenant` the tenant, `scope` the
//! granted scope, `sid` the secret it was issued under, `jti` a random id.
//! Validation checks the signature against the gateway's own keys (ES256
//! only: `alg: none` and every other algorithm are refused), the expiry,
//! issuer and audience, and then asks the registry whether the client is
//! still enabled, the secret not revoked and the tenant still allowed. That
//! answer is cached for a few seconds (`revocation_check`), which bounds how
//! long a revocation on one instance takes to reach the others.

mod assertion;
mod issue;
mod validate;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use std::sync::Mutex;

use crate::keys::SigningKeys;
use crate::registry::Registry;
use crate::tenants::Tenants;

/// Scope words that are SMART or OpenID scopes, not tenant ids.
pub(super) const NON_TENANT_SCOPES: [&str; 5] = [
    "openid",
    "fhirUser",
    "launch",
    "offline_access",
    "online_access",
];
pub(super) const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Entries kept in the validation caches before they are emptied.
pub(super) const CACHE_MAX: usize = 10_000;
/// Seconds of clock difference allowed on `exp`.
pub(super) const LEEWAY: i64 = 5;

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The gateway's public URL.
    pub iss: String,
    /// The client id.
    pub sub: String,
    /// The gateway's public URL.
    pub aud: String,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Random token id.
    pub jti: String,
    /// The client id (as SMART tokens carry it).
    pub client_id: String,
    /// The tenant the token is for.
    pub tenant: String,
    /// The granted scope.
    pub scope: String,
    /// The id of the client secret (or `jwks` for private_key_jwt) the
    /// token was issued under.
    pub sid: String,
}

/// An RFC 6749 §5.2 error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// `invalid_request`, `invalid_client`, ...
    pub code: &'static str,
    /// Human-readable; never holds a secret.
    pub description: String,
    /// 400 or 401.
    pub status: u16,
    /// Answer `WWW-Authenticate: Basic` (the client used HTTP Basic).
    pub basic_challenge: bool,
    /// Why, for the audit log (e.g. `wrong_secret`), beyond the code.
    pub reason: &'static str,
}

impl OAuthError {
    fn new(code: &'static str, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
            status: 400,
            basic_challenge: false,
            reason: code,
        }
    }

    fn client(description: impl Into<String>, basic: bool, reason: &'static str) -> Self {
        Self {
            code: "invalid_client",
            description: description.into(),
            status: 401,
            basic_challenge: basic,
            reason,
        }
    }
}

/// A successful token answer.
#[derive(Debug, Clone, Serialize)]
pub struct TokenAnswer {
    /// The JWT.
    pub access_token: String,
    /// `Bearer`.
    pub token_type: &'static str,
    /// Seconds.
    pub expires_in: u64,
    /// The granted scope.
    pub scope: String,
    /// The client, for the audit log (not serialised).
    #[serde(skip)]
    pub client_id: String,
    /// The tenant, for the audit log (not serialised).
    #[serde(skip)]
    pub tenant: String,
}

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validated {
    /// The client.
    pub client_id: String,
    /// The tenant.
    pub tenant: String,
}

/// Why a bearer token is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 401 `invalid_token`: malformed, forged, expired, revoked.
    InvalidToken(String),
    /// 403: the client may no longer use the token's tenant.
    TenantNotAllowed {
        /// The client.
        client_id: String,
        /// The tenant.
        tenant: String,
    },
}

/// When a grant was read, and what it said (`None`: revoked or disabled;
/// else the client's tenants).
type CachedGrant = (Instant, Option<Arc<[String]>>);

/// The token server and validator.
pub struct TokenService {
    registry: Registry,
    tenants: Tenants,
    keys: Arc<SigningKeys>,
    issuer: String,
    token_url: String,
    lifetime: Duration,
    check_every: Duration,
    cache: Mutex<HashMap<(String, String), CachedGrant>>,
    /// Tokens whose signature and claims were checked, by the SHA-256 of
    /// their text; at most [`CACHE_MAX`], expired ones dropped first.
    verified: Mutex<HashMap<[u8; 32], Arc<Claims>>>,
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenService")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// What the token endpoint received.
#[derive(Debug, Default)]
pub struct TokenRequest {
    /// The form's parameters, in order.
    pub form: Vec<(String, String)>,
    /// The HTTP Basic credentials (form-decoded), if the header was given.
    pub basic: Option<(String, String)>,
    /// An `Authorization` header that is not usable Basic.
    pub bad_authorization: bool,
}

impl TokenService {
    /// A token service issuing for `issuer` (the public URL).
    pub fn new(
        registry: Registry,
        tenants: Tenants,
        keys: Arc<SigningKeys>,
        issuer: String,
        lifetime: Duration,
        check_every: Duration,
    ) -> Self {
        let token_url = format!("{issuer}/token");
        Self {
            registry,
            tenants,
            keys,
            issuer,
            token_url,
            lifetime,
            check_every,
            cache: Mutex::new(HashMap::new()),
            verified: Mutex::new(HashMap::new()),
        }
    }

    /// The token URL.
    pub fn token_url(&self) -> &str {
        &self.token_url
    }
}
