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

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::db::now_millis;
use crate::error::Result;
use crate::keys::SigningKeys;
use crate::registry::{random_id, AuthFailure, Registry};
use crate::tenants::Tenants;

/// Scope words that are SMART or OpenID scopes, not tenant ids.
const NON_TENANT_SCOPES: [&str; 5] = [
    "openid",
    "fhirUser",
    "launch",
    "offline_access",
    "online_access",
];
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Entries kept in the validation caches before they are emptied.
const CACHE_MAX: usize = 10_000;
/// Seconds of clock difference allowed on `exp`.
const LEEWAY: i64 = 5;

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
type CachedGrant = (Instant, Option<Vec<String>>);

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
    /// Tokens whose signature and claims were checked, by their text.
    verified: std::sync::Mutex<HashMap<String, Arc<Claims>>>,
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
            verified: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The token URL.
    pub fn token_url(&self) -> &str {
        &self.token_url
    }

    /// Answers a token request.
    pub async fn issue(&self, req: &TokenRequest) -> Result<Result<TokenAnswer, OAuthError>> {
        // RFC 6749 §3.2: parameters must not repeat.
        let mut params: HashMap<&str, &str> = HashMap::new();
        for (k, v) in &req.form {
            if params.insert(k.as_str(), v.as_str()).is_some() {
                return Ok(Err(OAuthError::new(
                    "invalid_request",
                    format!("the parameter {k} is repeated"),
                )));
            }
        }
        if req.bad_authorization {
            return Ok(Err(OAuthError::client(
                "the Authorization header is not HTTP Basic with a client id and secret",
                true,
                "bad_authorization",
            )));
        }
        let Some(grant) = params.get("grant_type") else {
            return Ok(Err(OAuthError::new(
                "invalid_request",
                "grant_type is missing",
            )));
        };
        if *grant != "client_credentials" {
            return Ok(Err(OAuthError::new(
                "unsupported_grant_type",
                "this server issues tokens for grant_type=client_credentials only",
            )));
        }
        let body_secret = params.get("client_secret").copied();
        let assertion = params.get("client_assertion").copied();
        let methods = usize::from(req.basic.is_some())
            + usize::from(body_secret.is_some())
            + usize::from(assertion.is_some());
        if methods > 1 {
            return Ok(Err(OAuthError::new(
                "invalid_request",
                "use one client authentication method, not several",
            )));
        }
        let basic = req.basic.is_some();
        let authenticated = if let Some((id, secret)) = &req.basic {
            if params.get("client_id").is_some_and(|c| c != id) {
                return Ok(Err(OAuthError::new(
                    "invalid_request",
                    "client_id in the body differs from the HTTP Basic user",
                )));
            }
            self.registry.authenticate(id, secret).await?
        } else if let Some(secret) = body_secret {
            let Some(id) = params.get("client_id") else {
                return Ok(Err(OAuthError::new(
                    "invalid_request",
                    "client_id is missing",
                )));
            };
            self.registry.authenticate(id, secret).await?
        } else if let Some(assertion) = assertion {
            if params.get("client_assertion_type") != Some(&ASSERTION_TYPE) {
                return Ok(Err(OAuthError::new(
                    "invalid_request",
                    format!("client_assertion_type must be {ASSERTION_TYPE}"),
                )));
            }
            match self
                .check_assertion(assertion, params.get("client_id").copied())
                .await?
            {
                Ok(client_id) => match self.registry.client(&client_id).await? {
                    Some(c) if !c.disabled => Ok((c, "jwks".to_owned())),
                    Some(_) => Err(AuthFailure::Disabled),
                    None => Err(AuthFailure::UnknownClient),
                },
                Err(e) => return Ok(Err(e)),
            }
        } else {
            return Ok(Err(OAuthError::client(
                "client authentication is missing (client_secret_basic, client_secret_post or private_key_jwt)",
                false,
                "no_client_authentication",
            )));
        };
        let (client, secret_id) = match authenticated {
            Ok(ok) => ok,
            Err(why) => {
                return Ok(Err(OAuthError::client(
                    "client authentication failed",
                    basic,
                    why.as_str(),
                )))
            }
        };
        if client.tenants.is_empty() {
            return Ok(Err(OAuthError::new(
                "unauthorized_client",
                "this client may not use any tenant",
            )));
        }
        let scope = params.get("scope").copied().unwrap_or_default();
        let (tenant, granted) = match pick_tenant(scope, &client.tenants) {
            Ok(t) => t,
            Err(e) => return Ok(Err(e)),
        };
        if self.tenants.get(&tenant).await?.is_none() {
            return Ok(Err(OAuthError::new(
                "invalid_scope",
                format!("the tenant {tenant} is not served by this gateway"),
            )));
        }
        let now = now_millis() / 1000;
        let lifetime = i64::try_from(self.lifetime.as_secs()).unwrap_or(300);
        let claims = Claims {
            iss: self.issuer.clone(),
            sub: client.id.clone(),
            aud: self.issuer.clone(),
            exp: now + lifetime,
            iat: now,
            jti: random_id()?,
            client_id: client.id.clone(),
            tenant: tenant.clone(),
            scope: granted.clone(),
            sid: secret_id,
        };
        let (kid, key) = self.keys.signer().await?;
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid);
        header.typ = Some("at+jwt".into());
        let token = jsonwebtoken::encode(&header, &claims, &key)
            .map_err(|e| crate::GatewayError::Crypto(format!("cannot sign a token: {e}")))?;
        Ok(Ok(TokenAnswer {
            access_token: token,
            token_type: "Bearer",
            expires_in: self.lifetime.as_secs(),
            scope: granted,
            client_id: client.id,
            tenant,
        }))
    }

    /// Checks a bearer token.
    pub async fn validate(&self, token: &str) -> Result<Result<Validated, Refusal>> {
        let bad = |why: &str| Ok(Err(Refusal::InvalidToken(why.to_owned())));
        // A token verified before (the very same bytes) is not verified
        // again until it expires: its signature cannot have changed, and
        // revocation is checked below either way.
        let known = self
            .verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(token)
            .cloned();
        let claims = match known {
            Some(claims) if claims.exp + LEEWAY > now_millis() / 1000 => claims,
            Some(_) => return bad("the token has expired"),
            None => match self.verify(token).await? {
                Ok(claims) => {
                    let claims = Arc::new(claims);
                    let mut verified = self
                        .verified
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    if verified.len() >= CACHE_MAX {
                        let now = now_millis() / 1000;
                        verified.retain(|_, c| c.exp + LEEWAY > now);
                        if verified.len() >= CACHE_MAX {
                            verified.clear();
                        }
                    }
                    verified.insert(token.to_owned(), claims.clone());
                    claims
                }
                Err(why) => return bad(why),
            },
        };
        let state = self.grant_state(&claims.client_id, &claims.sid).await?;
        match state {
            None => bad("the token was revoked (its secret was revoked or its client disabled)"),
            Some(tenants) if !tenants.contains(&claims.tenant) => {
                Ok(Err(Refusal::TenantNotAllowed {
                    client_id: claims.client_id.clone(),
                    tenant: claims.tenant.clone(),
                }))
            }
            Some(_) => Ok(Ok(Validated {
                client_id: claims.client_id.clone(),
                tenant: claims.tenant.clone(),
            })),
        }
    }

    /// Checks a token's signature and claims; answers them, or why not.
    async fn verify(&self, token: &str) -> Result<Result<Claims, &'static str>> {
        let Ok(header) = jsonwebtoken::decode_header(token) else {
            return Ok(Err("the token is not a JWT this gateway issued"));
        };
        if header.alg != Algorithm::ES256 {
            return Ok(Err("the token is not signed with this gateway's algorithm"));
        }
        let Some(kid) = header.kid.as_deref() else {
            return Ok(Err("the token names no signing key"));
        };
        let Some(key) = self.keys.verifier(kid).await? else {
            return Ok(Err("the token is not signed by a key of this gateway"));
        };
        let mut validation = Validation::new(Algorithm::ES256);
        validation.leeway = LEEWAY.unsigned_abs();
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = match jsonwebtoken::decode::<Claims>(token, &key, &validation) {
            Ok(data) => data.claims,
            Err(e) => {
                return Ok(Err(match e.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => "the token has expired",
                    jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                        "the token's signature is not valid"
                    }
                    _ => "the token is not valid",
                }))
            }
        };
        if claims.sub != claims.client_id {
            return Ok(Err("the token is not valid"));
        }
        Ok(Ok(claims))
    }

    async fn grant_state(&self, client_id: &str, sid: &str) -> Result<Option<Vec<String>>> {
        let key = (client_id.to_owned(), sid.to_owned());
        if let Some((at, state)) = self.cache.lock().await.get(&key) {
            if at.elapsed() < self.check_every {
                return Ok(state.clone());
            }
        }
        let state = if sid == "jwks" {
            match self.registry.client(client_id).await? {
                Some(c) if !c.disabled && c.has_jwks => Some(c.tenants),
                _ => None,
            }
        } else {
            self.registry.grant_state(client_id, sid).await?
        };
        let mut cache = self.cache.lock().await;
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(key, (Instant::now(), state.clone()));
        Ok(state)
    }

    /// private_key_jwt: verifies the assertion against the client's JWKS;
    /// answers the client id.
    async fn check_assertion(
        &self,
        assertion: &str,
        client_id: Option<&str>,
    ) -> Result<Result<String, OAuthError>> {
        let fail = |why: &str, reason: &'static str| {
            Ok(Err(OAuthError::client(why.to_owned(), false, reason)))
        };
        let Ok(header) = jsonwebtoken::decode_header(assertion) else {
            return fail("the client assertion is not a JWT", "bad_assertion");
        };
        if !matches!(
            header.alg,
            Algorithm::RS384 | Algorithm::ES384 | Algorithm::RS256 | Algorithm::ES256
        ) {
            return fail(
                "the client assertion's algorithm is not accepted",
                "bad_assertion",
            );
        }
        // Which client: the form's client_id, else the unverified `sub`
        // (only to find the keys; the signature is checked below).
        let mut peek = Validation::new(header.alg);
        peek.insecure_disable_signature_validation();
        peek.validate_exp = false;
        peek.validate_aud = false;
        peek.set_required_spec_claims::<&str>(&[]);
        let unverified = jsonwebtoken::decode::<serde_json::Value>(
            assertion,
            &jsonwebtoken::DecodingKey::from_secret(&[]),
            &peek,
        );
        let Ok(unverified) = unverified else {
            return fail("the client assertion is not a JWT", "bad_assertion");
        };
        let id = match client_id.or_else(|| unverified.claims["sub"].as_str()) {
            Some(id) => id.to_owned(),
            None => return fail("the client assertion names no client", "bad_assertion"),
        };
        let Some(jwks) = self.registry.jwks(&id).await? else {
            return fail("client authentication failed", "no_jwks");
        };
        let Ok(set) = serde_json::from_value::<jsonwebtoken::jwk::JwkSet>(jwks) else {
            return fail("client authentication failed", "bad_jwks");
        };
        let candidates: Vec<&jsonwebtoken::jwk::Jwk> = match header.kid.as_deref() {
            Some(kid) => set
                .keys
                .iter()
                .filter(|k| k.common.key_id.as_deref() == Some(kid))
                .collect(),
            None => set.keys.iter().collect(),
        };
        let mut validation = Validation::new(header.alg);
        validation.leeway = 5;
        validation.set_audience(&[&self.token_url]);
        validation.set_issuer(&[&id]);
        validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
        for jwk in candidates {
            let Ok(key) = jsonwebtoken::DecodingKey::from_jwk(jwk) else {
                continue;
            };
            let Ok(data) = jsonwebtoken::decode::<serde_json::Value>(assertion, &key, &validation)
            else {
                continue;
            };
            if data.claims["sub"].as_str() != Some(id.as_str()) {
                return fail(
                    "the client assertion's sub must be the client id",
                    "bad_assertion",
                );
            }
            let exp = data.claims["exp"].as_i64().unwrap_or(0);
            if exp > now_millis() / 1000 + 300 {
                return fail(
                    "the client assertion lives longer than five minutes",
                    "bad_assertion",
                );
            }
            let Some(jti) = data.claims["jti"].as_str() else {
                return fail("the client assertion has no jti", "bad_assertion");
            };
            if jti.is_empty() || jti.len() > 256 {
                return fail("the client assertion's jti is not usable", "bad_assertion");
            }
            if !self.registry.first_use_of_assertion(&id, jti, exp).await? {
                return fail("the client assertion was used before", "assertion_replay");
            }
            return Ok(Ok(id));
        }
        fail("client authentication failed", "bad_assertion_signature")
    }
}

/// Picks the tenant from `scope`: its one word that is not a SMART or
/// OpenID scope (plain, or `tenant:<id>`); with none, the client's only
/// tenant. Answers the tenant and the granted scope.
fn pick_tenant(scope: &str, allowed: &[String]) -> Result<(String, String), OAuthError> {
    let mut tenants = Vec::new();
    let mut others = Vec::new();
    for word in scope.split(' ').filter(|w| !w.is_empty()) {
        if word.contains('/') || NON_TENANT_SCOPES.contains(&word) {
            others.push(word);
        } else {
            tenants.push(word.strip_prefix("tenant:").unwrap_or(word));
        }
    }
    let tenant = match tenants.as_slice() {
        [one] => (*one).to_owned(),
        [] if allowed.len() == 1 => allowed[0].clone(),
        [] => {
            return Err(OAuthError::new(
                "invalid_scope",
                "name the tenant in scope (this client may use several)",
            ))
        }
        _ => {
            return Err(OAuthError::new(
                "invalid_scope",
                "name one tenant per token",
            ))
        }
    };
    if !allowed.contains(&tenant) {
        return Err(OAuthError::new(
            "invalid_scope",
            "this client may not use the tenant it asked for",
        ));
    }
    others.push(&tenant);
    Ok((tenant.clone(), others.join(" ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_from_scope() {
        let allowed = vec!["a".to_owned(), "b".to_owned()];
        assert_eq!(
            pick_tenant("a", &allowed).unwrap(),
            ("a".into(), "a".into())
        );
        assert_eq!(
            pick_tenant("system/*.read tenant:b", &allowed).unwrap(),
            ("b".into(), "system/*.read b".into())
        );
        assert_eq!(pick_tenant("", &allowed).unwrap_err().code, "invalid_scope");
        assert_eq!(
            pick_tenant("a b", &allowed).unwrap_err().code,
            "invalid_scope"
        );
        assert_eq!(
            pick_tenant("c", &allowed).unwrap_err().code,
            "invalid_scope"
        );
        let one = vec!["a".to_owned()];
        assert_eq!(pick_tenant("system/*.read", &one).unwrap().0, "a");
    }
}
