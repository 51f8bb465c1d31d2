//! Authentication towards the FHIR server: none, OAuth 2.0 client
//! credentials (`client_secret_basic`, `client_secret_post`), or SMART
//! Backend Services (`private_key_jwt`, RS384/ES384).
//!
//! Tokens are cached and renewed before they expire. Renewal is single-flight:
//! the cache sits behind an async mutex held across the token request, so 50
//! concurrent requests that find the token stale cause one token request; the
//! other 49 wait and take its result.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION};
use serde_json::Value;
use tokio::sync::Mutex;
use url::Url;

use crate::error::{FhirError, RequestLabel};
use crate::outbound::OutboundPolicy;
use crate::parse;
use crate::secret::Secret;

/// How the client proves itself at the token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuthMethod {
    /// HTTP Basic with the form-encoded id and secret.
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

/// Signing algorithm of the SMART Backend Services client assertion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JwtAlgorithm {
    /// RSA with SHA-384.
    Rs384,
    /// ECDSA P-384 with SHA-384.
    Es384,
}

/// Authentication settings.
#[derive(Clone, Debug, Default)]
pub enum AuthConfig {
    /// Open servers (sandboxes).
    #[default]
    None,
    /// OAuth 2.0 client credentials with a shared secret.
    ClientCredentials {
        /// The client id registered at the token endpoint.
        client_id: String,
        /// The shared secret.
        client_secret: Secret,
        /// How the secret is presented.
        method: ClientAuthMethod,
        /// Sent as `scope`; carries the tenant hint where a gateway wants one.
        scope: Option<String>,
        /// Overrides the token URL found by discovery.
        token_url: Option<Url>,
    },
    /// SMART Backend Services: a JWT signed with our private key.
    BackendServices {
        /// The client id; also the JWT's `iss` and `sub`.
        client_id: String,
        /// PKCS#8 PEM (RSA for RS384, P-384 for ES384).
        private_key_pem: Secret,
        /// Must match the key type.
        algorithm: JwtAlgorithm,
        /// `kid` header: which of our published keys signed.
        key_id: Option<String>,
        /// Sent as `scope`.
        scope: Option<String>,
        /// Overrides the token URL found by discovery.
        token_url: Option<Url>,
    },
}

impl AuthConfig {
    /// Short name for reports: `none`, `client_secret_basic`, ...
    pub fn method_name(&self) -> &'static str {
        match self {
            AuthConfig::None => "none",
            AuthConfig::ClientCredentials {
                method: ClientAuthMethod::ClientSecretBasic,
                ..
            } => "client_secret_basic",
            AuthConfig::ClientCredentials {
                method: ClientAuthMethod::ClientSecretPost,
                ..
            } => "client_secret_post",
            AuthConfig::BackendServices {
                algorithm: JwtAlgorithm::Rs384,
                ..
            } => "private_key_jwt (RS384)",
            AuthConfig::BackendServices {
                algorithm: JwtAlgorithm::Es384,
                ..
            } => "private_key_jwt (ES384)",
        }
    }

    pub(crate) fn configured_token_url(&self) -> Option<&Url> {
        match self {
            AuthConfig::None => None,
            AuthConfig::ClientCredentials { token_url, .. }
            | AuthConfig::BackendServices { token_url, .. } => token_url.as_ref(),
        }
    }
}

/// An issued access token; prints as `[redacted]`.
pub type AccessToken = Secret;

#[derive(Debug)]
struct Cached {
    token: AccessToken,
    renew_at: Instant,
}

/// Obtains and caches access tokens for one client.
pub struct TokenSource {
    config: AuthConfig,
    token_url: Url,
    /// Signing key parsed once (backend services).
    signing_key: Option<EncodingKey>,
    cache: Mutex<Option<Cached>>,
    issued: AtomicU64,
    timeout: Duration,
    max_bytes: usize,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("method", &self.config.method_name())
            .field("token_url", &self.token_url.as_str())
            .field("issued", &self.issued.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    /// A token source for `config` at `token_url`; requests bounded by
    /// `timeout` and `max_bytes`. (Public for the gateway, which
    /// authenticates to its upstreams as the FHIR client does.)
    pub fn new(
        config: AuthConfig,
        token_url: Url,
        timeout: Duration,
        max_bytes: usize,
    ) -> Result<Self, FhirError> {
        let signing_key = match &config {
            AuthConfig::BackendServices {
                private_key_pem,
                algorithm,
                ..
            } => {
                let pem = private_key_pem.expose().as_bytes();
                let key = match algorithm {
                    JwtAlgorithm::Rs384 => EncodingKey::from_rsa_pem(pem),
                    JwtAlgorithm::Es384 => EncodingKey::from_ec_pem(pem),
                }
                .map_err(|e| {
                    FhirError::Config(format!(
                        "the private key is not a usable PEM key for {}: {}",
                        config.method_name(),
                        e.kind_name()
                    ))
                })?;
                Some(key)
            }
            _ => None,
        };
        Ok(TokenSource {
            config,
            token_url,
            signing_key,
            cache: Mutex::new(None),
            issued: AtomicU64::new(0),
            timeout,
            max_bytes,
        })
    }

    /// How many tokens this source has obtained so far.
    pub fn tokens_issued(&self) -> u64 {
        self.issued.load(Ordering::Relaxed)
    }

    /// The token endpoint in use.
    pub fn token_url(&self) -> &Url {
        &self.token_url
    }

    /// A valid token: the cached one, or a new one (one request at a time).
    /// The token URL (configured or discovered) must pass `outbound`.
    pub async fn token(
        &self,
        client: &reqwest::Client,
        outbound: &OutboundPolicy,
    ) -> Result<AccessToken, FhirError> {
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.as_ref() {
            if Instant::now() < c.renew_at {
                return Ok(c.token.clone());
            }
        }
        outbound.check_url(&self.token_url).map_err(|e| match e {
            FhirError::Config(reason) => FhirError::Config(format!("token endpoint: {reason}")),
            other => other,
        })?;
        let (token, lifetime) = self.request_token(client).await?;
        self.issued.fetch_add(1, Ordering::Relaxed);
        *cache = Some(Cached {
            token: token.clone(),
            renew_at: Instant::now() + renew_after(lifetime),
        });
        Ok(token)
    }

    /// Forgets `used` if it is still the cached token (a 401 showed it dead);
    /// a token renewed meanwhile by another request is kept.
    pub async fn invalidate(&self, used: &AccessToken) {
        let mut cache = self.cache.lock().await;
        if cache.as_ref().is_some_and(|c| &c.token == used) {
            *cache = None;
        }
    }

    async fn request_token(
        &self,
        client: &reqwest::Client,
    ) -> Result<(AccessToken, Duration), FhirError> {
        let request = RequestLabel("POST (token endpoint)".into());
        let builder = client
            .post(self.token_url.clone())
            .header(ACCEPT, "application/json")
            .timeout(self.timeout);
        let (builder, form) = self.with_credentials(builder)?;
        let response = builder
            .form(&form)
            .send()
            .await
            .map_err(|e| crate::http::send_error(&request, e, self.timeout))?;
        let status = response.status();
        let bytes = crate::http::read_bounded(
            response,
            self.max_bytes.min(1 << 20),
            &request,
            self.timeout,
        )
        .await?;
        let body = parse::json_object(&bytes, &request);
        if !status.is_success() {
            return Err(token_refused(status, body.as_ref().ok(), request));
        }
        token_of(&body?, &request)
    }

    /// The token request's form (the grant, the scope, the client's
    /// credentials) and the request with the client's Basic authorization
    /// where it authenticates so.
    fn with_credentials(
        &self,
        mut builder: reqwest::RequestBuilder,
    ) -> Result<(reqwest::RequestBuilder, TokenForm), FhirError> {
        let mut form: TokenForm = vec![("grant_type", "client_credentials".into())];
        match &self.config {
            AuthConfig::None => {
                return Err(FhirError::Config("no authentication configured".into()))
            }
            AuthConfig::ClientCredentials {
                client_id,
                client_secret,
                method,
                scope,
                ..
            } => {
                if let Some(scope) = scope {
                    form.push(("scope", scope.clone()));
                }
                match method {
                    ClientAuthMethod::ClientSecretBasic => {
                        // RFC 6749 2.3.1: form-encode both before Basic.
                        let user = form_encode(client_id);
                        let pass = form_encode(client_secret.expose());
                        let raw = format!("{user}:{pass}");
                        let mut value = HeaderValue::from_str(&format!(
                            "Basic {}",
                            base64_encode(raw.as_bytes())
                        ))
                        .map_err(|_| FhirError::Config("the client id is not usable".into()))?;
                        value.set_sensitive(true);
                        builder = builder.header(AUTHORIZATION, value);
                    }
                    ClientAuthMethod::ClientSecretPost => {
                        form.push(("client_id", client_id.clone()));
                        form.push(("client_secret", client_secret.expose().to_owned()));
                    }
                }
            }
            AuthConfig::BackendServices {
                client_id,
                algorithm,
                key_id,
                scope,
                ..
            } => {
                if let Some(scope) = scope {
                    form.push(("scope", scope.clone()));
                }
                let assertion = self.client_assertion(client_id, *algorithm, key_id.as_deref())?;
                form.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
                ));
                form.push(("client_assertion", assertion));
            }
        }
        Ok((builder, form))
    }

    fn client_assertion(
        &self,
        client_id: &str,
        algorithm: JwtAlgorithm,
        key_id: Option<&str>,
    ) -> Result<String, FhirError> {
        let Some(key) = &self.signing_key else {
            return Err(FhirError::Config("no signing key".into()));
        };
        let mut header = Header::new(match algorithm {
            JwtAlgorithm::Rs384 => Algorithm::RS384,
            JwtAlgorithm::Es384 => Algorithm::ES384,
        });
        header.kid = key_id.map(str::to_owned);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let claims = serde_json::json!({
            "iss": client_id,
            "sub": client_id,
            "aud": self.token_url.as_str(),
            // SMART: at most five minutes.
            "exp": now + 240,
            "iat": now,
            "jti": uuid::Uuid::new_v4().to_string(),
        });
        jsonwebtoken::encode(&header, &claims, key).map_err(|e| {
            FhirError::Config(format!(
                "cannot sign the client assertion: {}",
                e.kind_name()
            ))
        })
    }
}

/// Renew at three quarters of the lifetime, or one minute before the end for
/// long-lived tokens, whichever is later.
fn renew_after(lifetime: Duration) -> Duration {
    let three_quarters = lifetime * 3 / 4;
    let minute_before = lifetime.saturating_sub(Duration::from_secs(60));
    three_quarters.max(minute_before)
}

fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Extension trait so the jsonwebtoken error kind prints without key material.
trait KindName {
    fn kind_name(&self) -> String;
}

impl KindName for jsonwebtoken::errors::Error {
    fn kind_name(&self) -> String {
        format!("{:?}", self.kind())
            .chars()
            .take_while(|c| *c != '(')
            .collect()
    }
}

/// Reads the token endpoint from a SMART configuration document.
pub(crate) fn smart_token_endpoint(v: &Value) -> Option<String> {
    parse::text(parse::str_of(v, "token_endpoint"))
}

/// The fields of a token request's form.
type TokenForm = Vec<(&'static str, String)>;

/// The error of a token endpoint that did not issue a token: a status
/// error to retry on a 5xx or 429, else a refusal (with the RFC 6749 5.2
/// error code, safe to show, and its description, bounded).
fn token_refused(
    status: reqwest::StatusCode,
    body: Option<&Value>,
    request: RequestLabel,
) -> FhirError {
    let (code, description) = match body {
        Some(v) => (
            parse::text(parse::str_of(v, "error")),
            parse::text(parse::str_of(v, "error_description")),
        ),
        None => (None, None),
    };
    let detail = format!(
        "token endpoint answered HTTP {}{}{}",
        status.as_u16(),
        code.map(|c| format!(": {}", c.chars().take(80).collect::<String>()))
            .unwrap_or_default(),
        description
            .map(|d| format!(" ({})", d.chars().take(200).collect::<String>()))
            .unwrap_or_default()
    );
    if status.is_server_error() || status.as_u16() == 429 {
        FhirError::Status {
            request,
            status: status.as_u16(),
            diagnostics: vec![detail],
            retry_after: None,
        }
    } else {
        FhirError::AuthRefused { detail }
    }
}

/// The bearer token and its lifetime in a token endpoint's answer.
fn token_of(body: &Value, request: &RequestLabel) -> Result<(AccessToken, Duration), FhirError> {
    let token = parse::text(parse::str_of(body, "access_token"))
        .ok_or_else(|| FhirError::malformed(request, "no access_token in the answer"))?;
    if let Some(kind) = parse::str_of(body, "token_type") {
        if !kind.eq_ignore_ascii_case("bearer") {
            return Err(FhirError::malformed(
                request,
                "the token is not a bearer token",
            ));
        }
    }
    // Absent expires_in: assume five minutes, a common SMART lifetime.
    let lifetime = body
        .get("expires_in")
        .and_then(|v| v.as_u64().or_else(|| v.as_str()?.trim().parse().ok()))
        .unwrap_or(300);
    Ok((Secret::new(token), Duration::from_secs(lifetime)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_times() {
        assert_eq!(
            renew_after(Duration::from_secs(3600)),
            Duration::from_secs(3540)
        );
        assert_eq!(renew_after(Duration::from_secs(4)), Duration::from_secs(3));
        assert_eq!(renew_after(Duration::from_secs(0)), Duration::from_secs(0));
    }

    #[test]
    fn config_debug_hides_secret() {
        let c = AuthConfig::ClientCredentials {
            client_id: "rounds".into(),
            client_secret: Secret::new("s3cr3t-value"),
            method: ClientAuthMethod::ClientSecretBasic,
            scope: Some("system/*.read tenant:abc".into()),
            token_url: None,
        };
        let d = format!("{c:?}");
        assert!(!d.contains("s3cr3t-value"), "{d}");
        assert!(d.contains("rounds"));
    }

    #[test]
    fn bad_key_is_config_error() {
        let c = AuthConfig::BackendServices {
            client_id: "x".into(),
            private_key_pem: Secret::new(
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            ),
            algorithm: JwtAlgorithm::Es384,
            key_id: None,
            scope: None,
            token_url: None,
        };
        let url = Url::parse("http://h/token").unwrap();
        let e = TokenSource::new(c, url, Duration::from_secs(1), 1000).unwrap_err();
        assert!(matches!(e, FhirError::Config(_)));
        assert!(!e.to_string().contains("AAAA"));
    }
}
