//! Single sign-on: OpenID Connect providers and "sign in with the EHR"
//! (SMART App Launch, standalone, `openid fhirUser`).
//!
//! - [`providers`]: the providers a site administrator configures (file and
//!   admin page), their client secrets sealed at rest, group mappings.
//! - [`discovery`]: the provider's endpoints and keys (OpenID discovery, or
//!   a FHIR server's `.well-known/smart-configuration`), the token and
//!   userinfo requests.
//! - [`id_token`]: the ID token's checks (signature against the JWKS, issuer,
//!   audience, expiry, nonce).
//! - [`flow`]: the authorization code flow with PKCE, `state` and `nonce`,
//!   from the sign-in button to a Rounds session.
//! - [`directory`]: accounts from claims and roles and teams from groups.
//!
//! Reading the EHR with the person's own SMART access token (a later step)
//! would keep that token in memory only, beside the session (a map from the
//! session's token hash to the access token and its expiry, dropped at
//! sign-out and session end, never written to the database), and a team
//! would choose it as its connection's authentication kind ("each person's
//! own EHR sign-in") instead of client credentials.

mod directory;
mod discovery;
mod flow;
mod id_token;
mod identities;
mod mappings;
mod providers;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use thiserror::Error;

pub use flow::{SsoCallback, SsoSignedIn, SsoStart};
pub use identities::IdentityView;
pub use mappings::{MappingInput, MappingView};
pub use providers::{ProviderInput, ProviderKind, ProviderView, SignInButton};

/// Site-wide single sign-on settings.
#[derive(Debug, Clone)]
pub struct SsoSettings {
    /// Local accounts may sign in with a password. Off: only the
    /// break-glass administrators below may.
    pub local_sign_in: bool,
    /// Usernames of site administrators who may sign in with a password
    /// when local sign-in is off.
    pub break_glass_admins: Vec<String>,
    /// Clock difference tolerated on ID token times.
    pub clock_skew: Duration,
    /// How long one request to a provider may take.
    pub request_timeout: Duration,
    /// How long a sign-in may stay at the provider before it has to start over.
    pub login_ttl_secs: u64,
    /// How long a provider's discovery document is used before it is read again.
    pub discovery_ttl: Duration,
}

impl SsoSettings {
    // The defaults, written once (also the settings' defaults of `rounds serve`).
    pub const DEFAULT_LOCAL_SIGN_IN: bool = true;
    pub const DEFAULT_CLOCK_SKEW_SECS: u64 = 60;
}

impl Default for SsoSettings {
    fn default() -> Self {
        Self {
            local_sign_in: Self::DEFAULT_LOCAL_SIGN_IN,
            break_glass_admins: Vec::new(),
            clock_skew: Duration::from_secs(Self::DEFAULT_CLOCK_SKEW_SECS),
            request_timeout: Duration::from_secs(10),
            login_ttl_secs: 600,
            discovery_ttl: Duration::from_secs(300),
        }
    }
}

impl SsoSettings {
    /// Whether `username` (lower case) may use the password form.
    pub fn may_use_password(&self, username: &str) -> bool {
        self.local_sign_in
            || self
                .break_glass_admins
                .iter()
                .any(|b| b.trim().eq_ignore_ascii_case(username))
    }
}

/// The in-memory side: one HTTP client, and what was discovered about each
/// provider (endpoints and keys), by provider id.
#[derive(Default)]
pub(crate) struct SsoState {
    http: std::sync::OnceLock<reqwest::Client>,
    discovered: Mutex<HashMap<String, Arc<discovery::Discovered>>>,
}

/// Why a single sign-on did not go through, in words the person can act on.
/// Every refusal is audited (`SignInRefused`, with the provider).
#[derive(Debug, Error)]
pub enum SsoError {
    #[error("there is no sign-in provider named {0:?}")]
    UnknownProvider(String),
    /// The provider did not answer (down, wrong address, network).
    #[error("{label} cannot be reached right now")]
    Unreachable { label: String },
    /// The provider answered, but not as OpenID Connect or SMART says.
    #[error("{label} gave an answer Rounds cannot use: {detail}")]
    BadAnswer { label: String, detail: String },
    /// The answer does not belong to a sign-in this browser started: an
    /// old tab, a second sign-in started meanwhile, or a replay.
    #[error("this sign-in was not started here, was already used, or is too old")]
    StaleState,
    /// The person (or the provider) declined.
    #[error("{label} did not sign you in: {detail}")]
    Declined { label: String, detail: String },
    /// The ID token failed a check.
    #[error("the sign-in answer from {label} failed a security check: {detail}")]
    TokenRefused { label: String, detail: String },
    /// The ID token's times are off by more than the tolerated skew.
    #[error("the clocks of Rounds and {label} disagree")]
    ClockSkew { label: String },
    /// Just-in-time creation is off and the person has no account.
    #[error("you do not have a Rounds account yet")]
    NoAccount { label: String },
    /// An account with the name from the claims exists but is not linked.
    #[error("an account named {username} exists but is not linked to your {label} sign-in")]
    NameTaken { label: String, username: String },
    /// The claims do not give a usable username.
    #[error("{label} did not say who you are in a way Rounds can use: {detail}")]
    BadClaims { label: String, detail: String },
    #[error("your Rounds account is disabled")]
    Disabled,
    #[error(transparent)]
    App(#[from] crate::AppError),
}

impl From<rounds_store::StoreError> for SsoError {
    fn from(e: rounds_store::StoreError) -> Self {
        Self::App(e.into())
    }
}

impl SsoError {
    /// A short reason for the audit log (no secrets: never a code or token).
    pub fn audit_reason(&self) -> String {
        match self {
            Self::App(_) => "internal error".into(),
            other => other.to_string(),
        }
    }

    /// The page's title and the text saying what to do.
    pub fn advice(&self) -> (&'static str, String) {
        match self {
            Self::UnknownProvider(_) => (
                "No such sign-in",
                "This sign-in button is no longer configured. Go back to the sign-in page and choose again.".into(),
            ),
            Self::Unreachable { label } => (
                "Sign-in service unreachable",
                format!("Rounds cannot reach {label} at the moment. Try again in a few minutes; if it keeps happening, tell your IT service desk that {label} does not answer Rounds."),
            ),
            Self::BadAnswer { label, detail } => (
                "Sign-in service problem",
                format!("{label} answered in a way Rounds cannot use ({detail}). Tell your IT service desk; they can see the details in the Rounds audit log."),
            ),
            Self::StaleState => (
                "Sign-in expired",
                "This sign-in answer does not belong to a sign-in started in this browser just now: perhaps it came from an old tab, or you started another sign-in meanwhile. Start again from the sign-in page.".into(),
            ),
            Self::Declined { label, detail } => (
                "Sign-in not completed",
                format!("{label} did not sign you in ({detail}). If you cancelled or refused consent, start again from the sign-in page and accept; otherwise ask your IT service desk."),
            ),
            Self::TokenRefused { label, detail } => (
                "Sign-in refused",
                format!("The answer from {label} failed a security check ({detail}), so Rounds did not sign you in. Try again; if it keeps happening, tell your IT service desk."),
            ),
            Self::ClockSkew { label } => (
                "Clocks disagree",
                format!("The time on the Rounds server and at {label} differ too much to trust the sign-in. Tell your IT service desk to check the clocks (NTP) of both; then try again."),
            ),
            Self::NoAccount { label } => (
                "No Rounds account",
                format!("{label} signed you in, but you do not have a Rounds account and this site does not create them on first sign-in. Ask your Rounds administrator to create or link your account, then try again."),
            ),
            Self::NameTaken { label, username } => (
                "Account not linked",
                format!("There is a Rounds account named {username}, but it is not linked to your {label} sign-in. Ask your Rounds administrator to link it."),
            ),
            Self::BadClaims { label, detail } => (
                "Sign-in incomplete",
                format!("{label} signed you in but did not say who you are in a way Rounds can use ({detail}). Tell your Rounds administrator."),
            ),
            Self::Disabled => (
                "Account disabled",
                "Your Rounds account is disabled. Ask your Rounds administrator if you think this is wrong.".into(),
            ),
            Self::App(_) => (
                "Something went wrong",
                "Rounds could not finish the sign-in. Try again shortly; the cause is in the server log.".into(),
            ),
        }
    }

    /// The HTTP status of the page.
    pub fn status(&self) -> u16 {
        match self {
            Self::UnknownProvider(_) => 404,
            Self::Unreachable { .. } => 503,
            Self::BadAnswer { .. } => 502,
            Self::StaleState | Self::TokenRefused { .. } | Self::ClockSkew { .. } => 400,
            Self::Declined { .. }
            | Self::NoAccount { .. }
            | Self::NameTaken { .. }
            | Self::BadClaims { .. }
            | Self::Disabled => 403,
            Self::App(crate::AppError::Busy { .. }) => 503,
            Self::App(_) => 500,
        }
    }
}
