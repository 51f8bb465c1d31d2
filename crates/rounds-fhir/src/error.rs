//! The one error type of the client.
//!
//! Policy: an error never carries a secret (no token, no client secret, no
//! request body) and never a full URL with its query string (a query can hold
//! an MRN or a name): only the request's method and path, through
//! [`RequestLabel`]. Each variant says through [`FhirError::should_retry`]
//! whether trying the same request again later can help.

use std::time::Duration;

use crate::version::FhirVersion;

/// What a failed request was, safe to show and log: method, resource path
/// without query string. `GET Observation`, `POST (batch)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestLabel(pub String);

impl std::fmt::Display for RequestLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Everything that can go wrong talking to a FHIR server or its token endpoint.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FhirError {
    /// The server could not be reached or the connection broke.
    #[error("{request}: network error: {detail}")]
    Network {
        /// What was asked.
        request: RequestLabel,
        /// What went wrong, without URLs.
        detail: String,
    },

    /// No complete answer within the configured time.
    #[error("{request}: no answer within {:.1} s", .after.as_secs_f64())]
    Timeout {
        /// What was asked.
        request: RequestLabel,
        /// The limit that passed.
        after: Duration,
    },

    /// The TLS handshake failed (unknown CA, wrong host name, ...).
    #[error("{request}: TLS error: {detail}")]
    Tls {
        /// What was asked.
        request: RequestLabel,
        /// The handshake failure.
        detail: String,
    },

    /// An HTTP error status; `diagnostics` are the OperationOutcome's
    /// `issue[].diagnostics` (or details text) when the server sent one.
    #[error("{request}: HTTP {status}{}", fmt_diagnostics(.diagnostics))]
    Status {
        /// What was asked.
        request: RequestLabel,
        /// The HTTP status.
        status: u16,
        /// The OperationOutcome's diagnostics, if any.
        diagnostics: Vec<String>,
        /// The server's `Retry-After`, when it gave one (429, 503).
        retry_after: Option<Duration>,
    },

    /// The answer is not what FHIR says it should be: not JSON, truncated,
    /// wrong shape, or larger than the configured limit.
    #[error("{request}: malformed response: {detail}")]
    Malformed {
        /// What was asked.
        request: RequestLabel,
        /// What was wrong with it.
        detail: String,
    },

    /// `metadata` names a FHIR version this client does not speak, or none.
    #[error("unsupported FHIR version: {found}")]
    UnsupportedVersion {
        /// `fhirVersion` as found (bounded).
        found: String,
    },

    /// A version this client knows, used where it makes no sense.
    #[error("operation not offered for FHIR {version}: {what}")]
    NotOffered {
        /// The server's version.
        version: FhirVersion,
        /// What was asked for.
        what: String,
    },

    /// The token endpoint refused our credentials, or the server refused the
    /// token even after one renewal.
    #[error("authentication refused: {detail}")]
    AuthRefused {
        /// The token endpoint's error code and description, or what the server said.
        detail: String,
    },

    /// The configuration cannot work (bad URL, unreadable CA or key file).
    #[error("configuration: {0}")]
    Config(String),

    /// A `next` link or reference that leaves the server's own origin.
    #[error("refused to follow a link to another origin: {origin}")]
    ForeignLink {
        /// The other origin.
        origin: String,
    },
}

fn fmt_diagnostics(d: &[String]) -> String {
    if d.is_empty() {
        String::new()
    } else {
        format!(": {}", d.join("; "))
    }
}

impl FhirError {
    /// Whether the same request may succeed if tried again later.
    pub fn should_retry(&self) -> bool {
        match self {
            FhirError::Network { .. } | FhirError::Timeout { .. } => true,
            FhirError::Status { status, .. } => {
                matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
            }
            FhirError::Tls { .. }
            | FhirError::Malformed { .. }
            | FhirError::UnsupportedVersion { .. }
            | FhirError::NotOffered { .. }
            | FhirError::AuthRefused { .. }
            | FhirError::Config(_)
            | FhirError::ForeignLink { .. } => false,
        }
    }

    /// How long the server asked us to wait before retrying, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FhirError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The HTTP status, for [`FhirError::Status`].
    pub fn status(&self) -> Option<u16> {
        match self {
            FhirError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub(crate) fn malformed(request: &RequestLabel, detail: impl Into<String>) -> Self {
        FhirError::Malformed {
            request: request.clone(),
            detail: detail.into(),
        }
    }

    /// Classifies a reqwest error without keeping its URL (which may carry
    /// search parameters).
    pub(crate) fn from_reqwest(
        request: &RequestLabel,
        err: reqwest::Error,
        timeout: Duration,
    ) -> Self {
        let err = err.without_url();
        if err.is_timeout() {
            return FhirError::Timeout {
                request: request.clone(),
                after: timeout,
            };
        }
        let chain = error_chain(&err);
        let lower = chain.to_ascii_lowercase();
        if lower.contains("certificate")
            || lower.contains("tls")
            || lower.contains("handshake")
            || lower.contains("invalid peer")
        {
            return FhirError::Tls {
                request: request.clone(),
                detail: chain,
            };
        }
        // is_body: the connection broke while reading; that is the network.
        if err.is_decode() {
            return FhirError::Malformed {
                request: request.clone(),
                detail: chain,
            };
        }
        FhirError::Network {
            request: request.clone(),
            detail: chain,
        }
    }
}

/// The error and its sources as one line.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label() -> RequestLabel {
        RequestLabel("GET Patient".into())
    }

    #[test]
    fn retry_policy() {
        let status = |s| FhirError::Status {
            request: label(),
            status: s,
            diagnostics: vec![],
            retry_after: None,
        };
        assert!(status(503).should_retry());
        assert!(status(429).should_retry());
        assert!(!status(404).should_retry());
        assert!(!status(401).should_retry());
        assert!(FhirError::Timeout {
            request: label(),
            after: Duration::from_secs(1)
        }
        .should_retry());
        assert!(!FhirError::malformed(&label(), "x").should_retry());
        assert!(!FhirError::AuthRefused { detail: "x".into() }.should_retry());
    }

    #[test]
    fn status_shows_diagnostics() {
        let e = FhirError::Status {
            request: label(),
            status: 400,
            diagnostics: vec!["bad date".into(), "bad gender".into()],
            retry_after: None,
        };
        assert_eq!(e.to_string(), "GET Patient: HTTP 400: bad date; bad gender");
    }
}
