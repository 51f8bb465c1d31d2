//! The upstreams: for each tenant, its FHIR base and how the gateway
//! authenticates there (none, HTTP Basic, or a bearer token from
//! rounds-fhir's [`TokenSource`], client credentials or SMART Backend
//! Services), with one shared HTTP client that connects only where the
//! outbound address policy allows and follows no redirects.
//!
//! Tenants are re-read from the registry every few seconds, so a change made
//! on one instance reaches the others; an unchanged tenant keeps its token
//! source (and its cached upstream token).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::HeaderValue;
use rounds_fhir::{
    AuthConfig, ClientAuthMethod, JwtAlgorithm, OutboundPolicy, Secret, TokenSource,
};
use url::Url;

use crate::error::{GatewayError, Result};
use crate::tenants::{Tenant, Tenants, UpstreamAuth};

/// How requests to one upstream are authenticated.
pub enum UpstreamCredentials {
    /// Nothing.
    None,
    /// `Authorization: Basic ...`.
    Basic(HeaderValue),
    /// `Authorization: Bearer` with a token from the upstream's token endpoint.
    Token(Arc<TokenSource>),
}

/// One tenant's upstream, ready for requests.
pub struct Upstream {
    /// The tenant.
    pub tenant: Tenant,
    /// Its base URL, without trailing slash.
    pub base: String,
    /// How to authenticate.
    pub credentials: UpstreamCredentials,
}

/// Why an upstream cannot be used now.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The registry failed.
    #[error(transparent)]
    Registry(#[from] GatewayError),
    /// The tenant's upstream settings do not work (logged, not shown).
    #[error("{0}")]
    Setup(String),
}

struct Cached {
    checked: Instant,
    updated_at: i64,
    upstream: Arc<Upstream>,
}

/// The upstreams of every tenant.
pub struct Upstreams {
    tenants: Tenants,
    sealer: Arc<rounds_secrets::SecretBox>,
    /// The shared HTTP client.
    pub client: reqwest::Client,
    /// Where upstreams may be.
    pub outbound: Arc<OutboundPolicy>,
    timeout: Duration,
    max_bytes: usize,
    recheck: Duration,
    /// A plain lock (held for a lookup, never across an await): a
    /// request's only wait on it is other requests' lookups.
    cache: std::sync::Mutex<HashMap<String, Cached>>,
}

impl Upstreams {
    /// Upstreams over `tenants`; requests bounded by `timeout`.
    pub fn new(
        tenants: Tenants,
        sealer: Arc<rounds_secrets::SecretBox>,
        outbound: OutboundPolicy,
        timeout: Duration,
        max_bytes: usize,
        recheck: Duration,
    ) -> Result<Self> {
        let outbound = Arc::new(outbound);
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(rounds_fhir::PolicyResolver::new(outbound.clone())))
            .use_rustls_tls()
            .connect_timeout(Duration::from_secs(5).min(timeout))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .pool_max_idle_per_host(128)
            .user_agent(concat!("rounds-gateway/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| GatewayError::Crypto(format!("cannot set up HTTP: {e}")))?;
        Ok(Self {
            tenants,
            sealer,
            client,
            outbound,
            timeout,
            max_bytes,
            recheck,
            cache: std::sync::Mutex::new(HashMap::new()),
        })
    }

    /// The tenant's upstream; `None` when the tenant has no mapping.
    pub async fn get(&self, tenant_id: &str) -> Result<Option<Arc<Upstream>>, UpstreamError> {
        {
            let cache = self.cached();
            if let Some(c) = cache.get(tenant_id) {
                if c.checked.elapsed() < self.recheck {
                    return Ok(Some(c.upstream.clone()));
                }
            }
        }
        let Some(tenant) = self.tenants.get(tenant_id).await? else {
            self.cached().remove(tenant_id);
            return Ok(None);
        };
        let unchanged = {
            let mut cache = self.cached();
            match cache.get_mut(tenant_id) {
                Some(c) if c.updated_at == tenant.updated_at => {
                    c.checked = Instant::now();
                    Some(c.upstream.clone())
                }
                _ => None,
            }
        };
        if let Some(upstream) = unchanged {
            return Ok(Some(upstream));
        }
        let upstream = Arc::new(self.build(tenant_id).await?);
        self.cached().insert(
            tenant_id.to_owned(),
            Cached {
                checked: Instant::now(),
                updated_at: upstream.tenant.updated_at,
                upstream: upstream.clone(),
            },
        );
        Ok(Some(upstream))
    }

    fn cached(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached>> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn build(&self, tenant_id: &str) -> Result<Upstream, UpstreamError> {
        let Some((tenant, secret)) = self
            .tenants
            .get_with_secret(tenant_id, &self.sealer)
            .await?
        else {
            return Err(UpstreamError::Setup(format!(
                "tenant {tenant_id} disappeared"
            )));
        };
        let secret = secret.unwrap_or_default();
        let credentials = match &tenant.auth {
            UpstreamAuth::None => UpstreamCredentials::None,
            UpstreamAuth::Basic { username } => {
                use base64::Engine;
                let raw = format!("{username}:{secret}");
                let mut value = HeaderValue::from_str(&format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(raw)
                ))
                .map_err(|_| UpstreamError::Setup("the Basic credentials are not usable".into()))?;
                value.set_sensitive(true);
                UpstreamCredentials::Basic(value)
            }
            UpstreamAuth::ClientCredentials {
                client_id,
                token_url,
                scope,
                secret_in_body,
            } => {
                let token_url = self.token_url(&tenant, token_url.as_deref()).await?;
                let config = AuthConfig::ClientCredentials {
                    client_id: client_id.clone(),
                    client_secret: Secret::new(secret),
                    method: if *secret_in_body {
                        ClientAuthMethod::ClientSecretPost
                    } else {
                        ClientAuthMethod::ClientSecretBasic
                    },
                    scope: scope.clone(),
                    token_url: Some(token_url.clone()),
                };
                UpstreamCredentials::Token(Arc::new(
                    TokenSource::new(config, token_url, self.timeout, self.max_bytes)
                        .map_err(|e| UpstreamError::Setup(e.to_string()))?,
                ))
            }
            UpstreamAuth::BackendServices {
                client_id,
                algorithm,
                key_id,
                token_url,
                scope,
            } => {
                let token_url = self.token_url(&tenant, token_url.as_deref()).await?;
                let config = AuthConfig::BackendServices {
                    client_id: client_id.clone(),
                    private_key_pem: Secret::new(secret),
                    algorithm: if algorithm == "ES384" {
                        JwtAlgorithm::Es384
                    } else {
                        JwtAlgorithm::Rs384
                    },
                    key_id: key_id.clone(),
                    scope: scope.clone(),
                    token_url: Some(token_url.clone()),
                };
                UpstreamCredentials::Token(Arc::new(
                    TokenSource::new(config, token_url, self.timeout, self.max_bytes)
                        .map_err(|e| UpstreamError::Setup(e.to_string()))?,
                ))
            }
        };
        Ok(Upstream {
            base: tenant.base_url.clone(),
            tenant,
            credentials,
        })
    }

    /// The configured token URL, else the one the upstream publishes.
    async fn token_url(
        &self,
        tenant: &Tenant,
        configured: Option<&str>,
    ) -> Result<Url, UpstreamError> {
        if let Some(u) = configured {
            return Url::parse(u).map_err(|e| UpstreamError::Setup(format!("token_url: {e}")));
        }
        let mut config = rounds_fhir::ClientConfig::new(&tenant.base_url)
            .map_err(|e| UpstreamError::Setup(e.to_string()))?;
        config.outbound = self.outbound.clone();
        config.request_timeout = self.timeout;
        let caps = rounds_fhir::discover(&config).await.map_err(|e| {
            UpstreamError::Setup(format!("cannot read the upstream's metadata: {e}"))
        })?;
        let found = caps.token_endpoint().ok_or_else(|| {
            UpstreamError::Setup(
                "the upstream publishes no token URL and none is configured".into(),
            )
        })?;
        Url::parse(found)
            .map_err(|e| UpstreamError::Setup(format!("the upstream's token URL: {e}")))
    }

    /// The `Authorization` value for a request to `upstream`, if any.
    pub async fn authorization(
        &self,
        upstream: &Upstream,
    ) -> Result<Option<(HeaderValue, Option<Secret>)>, String> {
        match &upstream.credentials {
            UpstreamCredentials::None => Ok(None),
            UpstreamCredentials::Basic(v) => Ok(Some((v.clone(), None))),
            UpstreamCredentials::Token(source) => {
                let token = source
                    .token(&self.client, &self.outbound)
                    .await
                    .map_err(|e| e.to_string())?;
                let mut v = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
                    .map_err(|_| "the upstream's token is not usable".to_owned())?;
                v.set_sensitive(true);
                Ok(Some((v, Some(token))))
            }
        }
    }

    /// Forgets a token the upstream refused (401).
    pub async fn token_refused(&self, upstream: &Upstream, token: &Secret) {
        if let UpstreamCredentials::Token(source) = &upstream.credentials {
            source.invalidate(token).await;
        }
    }
}
