//! Client settings. Every limit has a default that suits a hospital network;
//! tests shorten them.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::auth::AuthConfig;
use crate::error::FhirError;
use crate::outbound::OutboundPolicy;
use crate::shape::BatchShape;

/// How several queries go out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BatchMode {
    /// Batch Bundles when `metadata` declares `batch`, else concurrent GETs.
    #[default]
    Auto,
    /// Always concurrent GETs, even if the server offers batch.
    Never,
    /// Batch Bundles even if the server does not declare `batch`.
    Always,
}

/// Everything a [`crate::FhirClient`] needs to reach one server.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// The FHIR base, e.g. `https://ehr.example.org/fhir/R4`.
    pub base_url: Url,
    /// How to authenticate (none by default).
    pub auth: AuthConfig,
    /// Whole-request limit: connect, send, and read the full body.
    pub request_timeout: Duration,
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Larger bodies are refused as malformed (they are read no further).
    pub max_response_bytes: usize,
    /// A PEM file with extra CA certificates, trusted besides the system's.
    pub extra_ca_file: Option<PathBuf>,
    /// Batch Bundles or concurrent GETs.
    pub batch_mode: BatchMode,
    /// Entries per batch Bundle when no [`BatchShape`] is set.
    pub batch_chunk_size: usize,
    /// The shape runs of several queries take from the start (None: chunks
    /// of `batch_chunk_size`, half of `max_concurrency` in flight); see
    /// [`crate::FhirClient::set_shape`].
    pub batch_shape: Option<BatchShape>,
    /// The most entries one batch Bundle holds (the server's declared cap
    /// narrows it).
    pub max_batch_entries: usize,
    /// Requests in flight at once on the concurrent-GET path.
    pub max_concurrency: usize,
    /// `_count` for list sections (conditions, medications, ...).
    pub page_size: u32,
    /// Pages read per section by following `next` links (1 = no paging).
    pub max_pages: usize,
    /// Retries after 429/503 (waiting as `Retry-After` says, capped).
    pub max_retries: u32,
    /// Longest wait honoured from a `Retry-After`; longer asks fail at once.
    pub max_retry_wait: Duration,
    /// Where the client may connect (base URL, token URL, paging links).
    /// The default refuses link-local and cloud metadata addresses only;
    /// a site's allowed ranges narrow it.
    pub outbound: Arc<OutboundPolicy>,
}

impl ClientConfig {
    /// Defaults for `base_url`, no authentication.
    pub fn new(base_url: &str) -> Result<Self, FhirError> {
        let base_url = parse_base_url(base_url)?;
        Ok(ClientConfig {
            base_url,
            auth: AuthConfig::None,
            request_timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(5),
            max_response_bytes: 16 * 1024 * 1024,
            extra_ca_file: None,
            batch_mode: BatchMode::Auto,
            batch_chunk_size: 20,
            batch_shape: None,
            max_batch_entries: 1000,
            max_concurrency: 8,
            page_size: 50,
            max_pages: 3,
            max_retries: 2,
            max_retry_wait: Duration::from_secs(10),
            outbound: Arc::new(OutboundPolicy::default()),
        })
    }
}

/// A base URL: http or https, no query or fragment, no credentials.
pub fn parse_base_url(value: &str) -> Result<Url, FhirError> {
    let url = Url::parse(value.trim())
        .map_err(|e| FhirError::Config(format!("the FHIR base URL is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(FhirError::Config(
            "the FHIR base URL must be http or https".into(),
        ));
    }
    if url.host_str().is_none() {
        return Err(FhirError::Config("the FHIR base URL has no host".into()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(FhirError::Config(
            "the FHIR base URL must not have a query or fragment".into(),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(FhirError::Config(
            "put credentials in the auth settings, not in the base URL".into(),
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert!(parse_base_url("http://127.0.0.1:8090/fhir").is_ok());
        assert!(parse_base_url("https://ehr.example/fhir/R4/").is_ok());
        assert!(parse_base_url("ftp://x/fhir").is_err());
        assert!(parse_base_url("http://u:p@x/fhir").is_err());
        assert!(parse_base_url("http://x/fhir?a=b").is_err());
        assert!(parse_base_url("not a url").is_err());
    }
}
