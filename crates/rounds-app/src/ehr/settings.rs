//! The limits of EHR mode.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rounds_fhir::OutboundPolicy;

/// Limits of EHR mode; the defaults suit a hospital network.
#[derive(Debug, Clone)]
pub struct EhrSettings {
    /// A list re-reads a patient's EHR data older than this.
    pub refresh_after: Duration,
    /// EHR data is dropped from memory this long after it was read (it is
    /// shown, with its age, while the EHR does not answer).
    pub cache_ttl: Duration,
    /// At most this many patients' EHR data in memory (oldest dropped).
    pub cache_max_patients: usize,
    /// How long a list waits for EHR data before it shows what it has
    /// (the read goes on; the next look shows the rest).
    pub list_wait: Duration,
    /// After the EHR failed, wait this long before trying again.
    pub retry_after_failure: Duration,
    /// Whole-request limit for one FHIR request.
    pub request_timeout: Duration,
    /// Where connections may go.
    pub outbound: Arc<OutboundPolicy>,
    /// Extra CA certificates for hospital servers with a private CA.
    pub extra_ca_file: Option<PathBuf>,
}

impl EhrSettings {
    // The defaults, written once (also the settings' defaults of `rounds serve`).
    pub const DEFAULT_REFRESH_SECS: u64 = 60;
    pub const DEFAULT_CACHE_TTL_SECS: u64 = 300;
    pub const DEFAULT_CACHE_MAX_PATIENTS: usize = 5000;
    pub const DEFAULT_LIST_WAIT_SECS: u64 = 5;
    pub const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 15;
}

impl Default for EhrSettings {
    fn default() -> Self {
        Self {
            refresh_after: Duration::from_secs(Self::DEFAULT_REFRESH_SECS),
            cache_ttl: Duration::from_secs(Self::DEFAULT_CACHE_TTL_SECS),
            cache_max_patients: Self::DEFAULT_CACHE_MAX_PATIENTS,
            list_wait: Duration::from_secs(Self::DEFAULT_LIST_WAIT_SECS),
            retry_after_failure: Duration::from_secs(15),
            request_timeout: Duration::from_secs(Self::DEFAULT_REQUEST_TIMEOUT_SECS),
            outbound: Arc::new(OutboundPolicy::default()),
            extra_ca_file: None,
        }
    }
}
