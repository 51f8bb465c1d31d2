//! What Rounds learns from a provider: its endpoints (OpenID discovery, or
//! a FHIR server's `.well-known/smart-configuration`), its signing keys
//! (JWKS, read again when a token names a key not seen yet), and the token
//! and userinfo requests. No code, token or secret is ever logged.

use std::sync::{Arc, RwLock};
use std::time::Instant;

use jsonwebtoken::jwk::JwkSet;
use rounds_store::sso::ProviderRow;
use serde::Deserialize;
use serde_json::Value;

use super::{SsoError, SsoState};
use crate::{App, AppError};

/// The endpoints and keys of one provider.
pub(crate) struct Discovered {
    /// The provider row it was discovered for (a change discovers again).
    pub for_issuer: String,
    pub for_updated_at: i64,
    pub fetched_at: Instant,
    /// The issuer ID tokens must name.
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: Option<String>,
    pub end_session_endpoint: Option<String>,
    pub jwks_uri: String,
    /// Signing algorithms the provider says it uses for ID tokens.
    pub id_token_algs: Vec<String>,
    /// Client authentication at the token endpoint: basic unless only post is offered.
    pub secret_post: bool,
    pub jwks: RwLock<JwkSet>,
}

#[derive(Deserialize)]
struct OpenIdConfiguration {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: Option<String>,
    userinfo_endpoint: Option<String>,
    end_session_endpoint: Option<String>,
    jwks_uri: Option<String>,
    #[serde(default)]
    id_token_signing_alg_values_supported: Vec<String>,
    #[serde(default)]
    token_endpoint_auth_methods_supported: Vec<String>,
}

/// The parts of a SMART configuration Rounds reads.
#[derive(Deserialize)]
struct SmartConfiguration {
    issuer: Option<String>,
    jwks_uri: Option<String>,
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: Option<String>,
    end_session_endpoint: Option<String>,
    #[serde(default)]
    token_endpoint_auth_methods_supported: Vec<String>,
}

/// The token endpoint's answer.
#[derive(Deserialize)]
pub(crate) struct TokenAnswer {
    pub id_token: Option<String>,
    pub access_token: Option<String>,
}

impl SsoState {
    pub(crate) fn http(&self, timeout: std::time::Duration) -> Result<&reqwest::Client, AppError> {
        if let Some(c) = self.http.get() {
            return Ok(c);
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Rounds/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                AppError::Internal(format!("cannot build the sign-in HTTP client: {e}"))
            })?;
        Ok(self.http.get_or_init(|| client))
    }
}

fn unreachable(p: &ProviderRow, err: &reqwest::Error) -> SsoError {
    // Without the URL: it may carry a code.
    tracing::warn!(provider = %p.id, error = %err.without_url_ref(), "sign-in provider unreachable");
    SsoError::Unreachable {
        label: p.label.clone(),
    }
}

trait WithoutUrl {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    fn without_url_ref(&self) -> String {
        let mut kind = if self.is_timeout() {
            "timed out".to_owned()
        } else if self.is_connect() {
            "connection failed".to_owned()
        } else if self.is_decode() {
            "answer not understood".to_owned()
        } else {
            "request failed".to_owned()
        };
        if let Some(status) = self.status() {
            kind.push_str(&format!(" (HTTP {status})"));
        }
        kind
    }
}

fn bad(p: &ProviderRow, detail: impl Into<String>) -> SsoError {
    let detail = detail.into();
    tracing::warn!(provider = %p.id, detail = %detail, "sign-in provider answer not usable");
    SsoError::BadAnswer {
        label: p.label.clone(),
        detail,
    }
}

impl App {
    fn sso_http(&self) -> Result<&reqwest::Client, AppError> {
        self.sso.http(self.config.sso.request_timeout)
    }

    pub(super) fn forget_discovery(&self, provider_id: &str) {
        self.sso
            .discovered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(provider_id);
    }

    /// GETs `url` as JSON.
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        p: &ProviderRow,
        url: &str,
        what: &str,
    ) -> Result<T, SsoError> {
        let resp = self
            .sso_http()?
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| unreachable(p, &e))?;
        let status = resp.status();
        if status.is_server_error() {
            tracing::warn!(provider = %p.id, %status, what, "sign-in provider failed");
            return Err(SsoError::Unreachable {
                label: p.label.clone(),
            });
        }
        if !status.is_success() {
            return Err(bad(p, format!("{what} answered HTTP {status}")));
        }
        let bytes = resp.bytes().await.map_err(|e| unreachable(p, &e))?;
        serde_json::from_slice(&bytes).map_err(|e| bad(p, format!("{what} is not valid: {e}")))
    }

    /// The provider's endpoints and keys, discovered now or earlier (again
    /// after the discovery time-to-live or a change of the provider).
    pub(super) async fn discovered(&self, p: &ProviderRow) -> Result<Arc<Discovered>, SsoError> {
        let cached = self
            .sso
            .discovered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&p.id)
            .cloned();
        if let Some(d) = cached {
            if d.for_issuer == p.issuer
                && d.for_updated_at == p.updated_at.millis()
                && d.fetched_at.elapsed() < self.config.sso.discovery_ttl
            {
                return Ok(d);
            }
        }
        let d = Arc::new(self.discover(p).await?);
        self.sso
            .discovered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(p.id.clone(), Arc::clone(&d));
        Ok(d)
    }

    async fn discover(&self, p: &ProviderRow) -> Result<Discovered, SsoError> {
        let (config, expected_issuer) = if p.kind == "smart" {
            let url = format!("{}/.well-known/smart-configuration", p.issuer);
            let smart: SmartConfiguration = self.get_json(p, &url, "smart-configuration").await?;
            let issuer = smart.issuer.clone().ok_or_else(|| {
                bad(
                    p,
                    "the EHR's smart-configuration names no issuer, so it offers no OpenID Connect sign-in",
                )
            })?;
            let jwks_uri = match smart.jwks_uri.clone() {
                Some(j) => Some(j),
                None => {
                    let url = format!(
                        "{}/.well-known/openid-configuration",
                        issuer.trim_end_matches('/')
                    );
                    let oidc: OpenIdConfiguration =
                        self.get_json(p, &url, "openid-configuration").await?;
                    oidc.jwks_uri
                }
            };
            let config = OpenIdConfiguration {
                issuer: issuer.clone(),
                authorization_endpoint: smart.authorization_endpoint,
                token_endpoint: Some(smart.token_endpoint),
                userinfo_endpoint: smart.userinfo_endpoint,
                end_session_endpoint: smart.end_session_endpoint,
                jwks_uri,
                id_token_signing_alg_values_supported: Vec::new(),
                token_endpoint_auth_methods_supported: smart.token_endpoint_auth_methods_supported,
            };
            (config, issuer)
        } else {
            let url = format!("{}/.well-known/openid-configuration", p.issuer);
            let config: OpenIdConfiguration =
                self.get_json(p, &url, "openid-configuration").await?;
            (config, p.issuer.clone())
        };
        // OpenID Connect Discovery §4.3: the issuer must be the one asked.
        if config.issuer.trim_end_matches('/') != expected_issuer.trim_end_matches('/') {
            return Err(bad(
                p,
                format!(
                    "the discovery document names the issuer {} instead of {}",
                    config.issuer, expected_issuer
                ),
            ));
        }
        let token_endpoint = config
            .token_endpoint
            .ok_or_else(|| bad(p, "no token_endpoint"))?;
        let jwks_uri = config.jwks_uri.ok_or_else(|| bad(p, "no jwks_uri"))?;
        for url in [&config.authorization_endpoint, &token_endpoint, &jwks_uri] {
            if url::Url::parse(url).is_err() {
                return Err(bad(p, "an endpoint is not a valid address"));
            }
        }
        let jwks: JwkSet = self.get_json(p, &jwks_uri, "JWKS").await?;
        let methods = config.token_endpoint_auth_methods_supported;
        Ok(Discovered {
            for_issuer: p.issuer.clone(),
            for_updated_at: p.updated_at.millis(),
            fetched_at: Instant::now(),
            issuer: config.issuer,
            authorization_endpoint: config.authorization_endpoint,
            token_endpoint,
            userinfo_endpoint: config.userinfo_endpoint,
            end_session_endpoint: config.end_session_endpoint,
            jwks_uri,
            id_token_algs: config.id_token_signing_alg_values_supported,
            secret_post: !methods.is_empty()
                && !methods.iter().any(|m| m == "client_secret_basic")
                && methods.iter().any(|m| m == "client_secret_post"),
            jwks: RwLock::new(jwks),
        })
    }

    /// Reads the provider's keys again (a token named a key not seen yet:
    /// the provider rotated its keys).
    pub(super) async fn refetch_jwks(
        &self,
        p: &ProviderRow,
        d: &Discovered,
    ) -> Result<JwkSet, SsoError> {
        let jwks: JwkSet = self.get_json(p, &d.jwks_uri, "JWKS").await?;
        *d.jwks
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = jwks.clone();
        tracing::info!(provider = %p.id, keys = jwks.keys.len(), "sign-in provider keys read again");
        Ok(jwks)
    }

    /// The issuer ID tokens of this provider name (discovering it if needed).
    pub(super) async fn issuer_of(&self, p: &ProviderRow) -> Result<String, SsoError> {
        Ok(self.discovered(p).await?.issuer.clone())
    }

    /// Exchanges the code at the token endpoint (with the PKCE verifier and
    /// the client's secret, if it has one).
    pub(super) async fn exchange_code(
        &self,
        p: &ProviderRow,
        d: &Discovered,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> Result<TokenAnswer, SsoError> {
        let secret = match &p.secret_sealed {
            Some(sealed) => {
                let opened = self
                    .secret_box()?
                    .open(sealed, &super::providers::secret_context(&p.id))
                    .map_err(|e| {
                        AppError::Internal(format!(
                            "the client secret of sign-in provider {} cannot be opened: {e}",
                            p.id
                        ))
                    })?;
                Some(String::from_utf8(opened).map_err(|_| {
                    AppError::Internal(format!(
                        "the client secret of sign-in provider {} is not text",
                        p.id
                    ))
                })?)
            }
            None => None,
        };
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ];
        let mut req = self.sso_http()?.post(&d.token_endpoint);
        match &secret {
            Some(s) if !d.secret_post => {
                req = req.basic_auth(form_encode(&p.client_id), Some(form_encode(s)));
            }
            Some(s) => {
                form.push(("client_id", &p.client_id));
                form.push(("client_secret", s));
            }
            None => form.push(("client_id", &p.client_id)),
        }
        let resp = req
            .header("accept", "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|e| unreachable(p, &e))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| unreachable(p, &e))?;
        if status.is_server_error() {
            tracing::warn!(provider = %p.id, %status, "sign-in token endpoint failed");
            return Err(SsoError::Unreachable {
                label: p.label.clone(),
            });
        }
        if !status.is_success() {
            // RFC 6749 §5.2: error and error_description (no secrets).
            let err: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let code = err["error"].as_str().unwrap_or("no error code");
            let text = err["error_description"].as_str().unwrap_or("");
            let detail = format!("the token endpoint refused the code: {code} {text}")
                .trim()
                .to_owned();
            tracing::warn!(provider = %p.id, %status, error = code, "sign-in code refused");
            return Err(SsoError::TokenRefused {
                label: p.label.clone(),
                detail,
            });
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| bad(p, format!("the token answer is not valid: {e}")))
    }

    /// The userinfo claims, when the provider has the endpoint and answers.
    pub(super) async fn userinfo(
        &self,
        p: &ProviderRow,
        d: &Discovered,
        access_token: &str,
    ) -> Option<serde_json::Map<String, Value>> {
        let url = d.userinfo_endpoint.as_deref()?;
        let resp = self
            .sso_http()
            .ok()?
            .get(url)
            .bearer_auth(access_token)
            .header("accept", "application/json")
            .send()
            .await
            .ok()?;
        if !resp.status().is_success() {
            tracing::debug!(provider = %p.id, status = %resp.status(), "userinfo not available");
            return None;
        }
        let value: Value = resp.json().await.ok()?;
        match value {
            Value::Object(map) => Some(map),
            _ => None,
        }
    }
}

/// RFC 6749 §2.3.1: client id and secret are form-encoded before Basic.
fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
