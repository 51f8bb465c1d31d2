//! `rounds-gateway`: the interoperability gateway behind `rounds gateway`.
//!
//! One public FHIR endpoint for many tenants: callers get a token at
//! `POST /token` (OAuth 2.0 client credentials, the tenant in the scope),
//! and each request with that token goes to the FHIR server registered for
//! the tenant, authenticated with that server's own credentials, with every
//! upstream URL in the answer rewritten to the gateway's, and audited in a
//! hash-chained log.
//!
//! - [`registry`]: clients, their secrets (two live at once for rotation),
//!   the tenants each may use
//! - [`tenants`]: tenant → upstream base URL, FHIR version, credentials
//!   (sealed at rest), writes allowed or not
//! - [`keys`]: ES256 signing keys, sealed at rest, published as a JWKS,
//!   rotated
//! - [`token`]: the token endpoint's logic (RFC 6749 §5.2 errors) and token
//!   validation with a short revocation cache
//! - [`upstream`], [`rewrite`], [`server`]: the proxy
//! - [`audit`]: the hash-chained audit log, search, export, verify
//! - [`ops`]: rate limits and metrics
//!
//! Routes: `POST /token`; `/.well-known/jwks.json`;
//! `/.well-known/smart-configuration` (also under `/tenant/{id}/`); FHIR at
//! the root (the token's tenant) and under `/tenant/{id}/` (that tenant; a
//! token for another is refused with 403); `/healthz`, `/readyz`,
//! `/metrics`; `/admin` and `/admin/api/v1` ([`admin`]).
//!
//! What `GET /metadata` declares: without a token, the gateway's own
//! CapabilityStatement — `fhirVersion` the tenants' common version (R4 when
//! they differ, with a note pointing to the per-tenant statements), no
//! resource list (a reader takes every type as offered and searches find
//! out), `batch`, and the security block with the oauth-uris extension
//! naming the gateway's token URL. With a valid token: the token's tenant's
//! own statement, read from its server with the gateway's credentials,
//! URLs rewritten and its security replaced by the gateway's.
//! `GET /tenant/{id}/metadata` answers that tenant's statement the same way
//! without a token, so a caller with one base URL per tenant (Rounds' EHR
//! mode, tenants on different FHIR versions) discovers the right version
//! and resources before it has a token.
//!
//! Several instances share the registry (PostgreSQL): a revocation,
//! disabling, tenant change or signing key rotation on one reaches the
//! others within `revocation_check` seconds (5 by default). Rate limits and
//! the replay check of private_key_jwt assertions hold across instances
//! too: both are kept in the database (a rate-limit window per client,
//! taken by instances in small leases; the assertion ids already used).
//!
//! No answer goes out before its audit record is committed. By default
//! (`audit_sync = "commit"`) the record is also on disk by then, so a
//! power loss loses no record of an answered request. `audit_sync =
//! "batched"` (faster: no disk sync in the request's path) puts records on
//! disk within about a second after the answer; a power loss or OS crash
//! (on PostgreSQL also a crash of the database server) can lose that last
//! second's records, never the chain's integrity. `audit_sync = "async"`
//! answers without waiting for the database at all: records take their
//! place in the chain in memory and a background writer commits them in
//! batches, within bounds (`audit_queue` records, `audit_max_lag` ms;
//! beyond either, requests wait) that state what a crash of the gateway
//! process can lose; a graceful shutdown writes them all. See
//! [`audit::AuditSync`].
//!
//! The gateway depends on rounds-fhir (outbound address policy, upstream
//! token sources), rounds-core (the audit chain's genesis and breaks) and
//! rounds-secrets (sealing); not on teams or lists.

#![warn(missing_docs)]

pub mod admin;
pub mod audit;
pub mod cli;
#[allow(missing_docs)]
pub mod config;
pub mod db;
mod error;
pub mod keys;
pub mod ops;
pub mod registry;
pub mod rewrite;
pub mod server;
pub mod tenants;
pub mod token;
pub mod upstream;

use std::sync::Arc;

pub use error::{GatewayError, Result};

use crate::audit::Audit;
use crate::config::Settings;
use crate::db::Db;
use crate::keys::SigningKeys;
use crate::ops::{Metrics, RateLimiter};
use crate::registry::Registry;
use crate::tenants::Tenants;
use crate::token::TokenService;
use crate::upstream::Upstreams;

/// A running gateway's state, shared by every request.
pub struct Gateway {
    /// The settings in force.
    pub settings: Settings,
    /// The registry database.
    pub db: Db,
    /// Clients.
    pub registry: Registry,
    /// Tenants.
    pub tenants: Tenants,
    /// Signing keys.
    pub keys: Arc<SigningKeys>,
    /// Token issue and validation.
    pub tokens: TokenService,
    /// The audit log.
    pub audit: Audit,
    /// Upstreams per tenant.
    pub upstreams: Upstreams,
    /// Metrics.
    pub metrics: Metrics,
    /// Rate limits.
    pub limiter: RateLimiter,
    /// The site key.
    pub sealer: Arc<rounds_secrets::SecretBox>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("public_url", &self.settings.public_url)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// A gateway over `db`, sealing with `sealer`.
    pub async fn new(
        db: Db,
        sealer: Arc<rounds_secrets::SecretBox>,
        settings: Settings,
    ) -> Result<Arc<Self>> {
        let registry = Registry::new(db.clone());
        let tenants = Tenants::new(db.clone());
        let keys =
            Arc::new(SigningKeys::open(db.clone(), sealer.clone(), settings.token_lifetime).await?);
        let tokens = TokenService::new(
            registry.clone(),
            tenants.clone(),
            keys.clone(),
            settings.public_url.clone(),
            settings.token_lifetime,
            settings.revocation_check,
        );
        let upstreams = Upstreams::new(
            tenants.clone(),
            sealer.clone(),
            settings.outbound.clone(),
            settings.upstream_timeout,
            settings.max_response_bytes,
            settings.revocation_check,
        )?;
        Ok(Arc::new(Self {
            audit: Audit::with_options(db.clone(), settings.audit_sync, settings.audit_async),
            limiter: RateLimiter::new(settings.rate_limit, db.clone()),
            metrics: Metrics::default(),
            settings,
            db,
            registry,
            tenants,
            keys,
            tokens,
            upstreams,
            sealer,
        }))
    }

    /// Serves on `listener` until `shutdown` resolves.
    pub async fn serve(
        self: Arc<Self>,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let app = server::router(self.clone());
        let served = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await;
        // Every request answered is audited before the process ends
        // (audit_sync = "async" holds records not yet committed).
        let left = self.audit.flush(Self::AUDIT_FLUSH_TIMEOUT).await;
        if left > 0 {
            tracing::error!(
                records = left,
                "audit records could not be written before the shutdown"
            );
        }
        served
    }

    /// How long a graceful shutdown waits for the audit writer.
    pub const AUDIT_FLUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
}
