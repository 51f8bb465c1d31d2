use rounds_core::validate::InvalidInput;
use rounds_core::Timestamp;
use rounds_store::StoreError;
use thiserror::Error;

/// One field a stale save would have overwritten.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldConflict {
    pub field: String,
    /// What the refused save wanted (in stored form).
    pub yours: Option<String>,
    /// What is saved now.
    pub current: Option<String>,
    pub current_version: i64,
    pub your_base_version: i64,
    pub updated_by: Option<String>,
    pub updated_at: Timestamp,
}

/// Why a use case did not go through. Each variant carries a message that
/// can be shown to the person who asked, except `Unavailable` and
/// `Internal`, whose detail stays in the server's log. Storage failures
/// arrive here as one of those two (see `From<StoreError>`): callers of
/// the application never see the store's own error type.
#[derive(Debug, Error)]
pub enum AppError {
    #[error("{0}")]
    Invalid(#[from] InvalidInput),
    #[error("{message}")]
    Duplicate {
        field: &'static str,
        message: String,
    },
    #[error("{what} not found")]
    NotFound { what: &'static str },
    #[error("{message}")]
    Forbidden { message: String },
    #[error("sign in first")]
    Unauthenticated,
    #[error("wrong username or password")]
    BadCredentials,
    #[error("too many failed sign-ins; try again after {until}")]
    SignInLocked { until: Timestamp },
    /// Too many requests wait for the same bounded work (password hashing);
    /// worth retrying in a few seconds.
    #[error("{message}")]
    Busy { message: String },
    /// A new password that is too easy to guess; the message says why and
    /// how to choose a better one.
    #[error("{message}")]
    WeakPassword {
        field: &'static str,
        message: String,
    },
    #[error("choose a new password before doing anything else")]
    PasswordChangeRequired,
    #[error("{message}")]
    Conflict { message: String },
    /// The team's EHR did not answer as needed; the message says why in
    /// words an IT admin can act on.
    #[error("{message}")]
    EhrUnavailable { message: String },
    /// Someone saved these fields since the editor loaded them; nothing was
    /// saved, so the person can choose.
    #[error("changed by someone else meanwhile: {}", conflicts.iter().map(|c| c.field.as_str()).collect::<Vec<_>>().join(", "))]
    EditConflict { conflicts: Vec<FieldConflict> },
    /// A failure inside the server (randomness, hashing, writing an
    /// export); the detail is for the log.
    #[error("internal error: {0}")]
    Internal(String),
    /// The database is busy or unreachable: worth retrying shortly. The
    /// detail is for the log.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
}

impl From<StoreError> for AppError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) => Self::Unavailable(err.to_string()),
            // A uniqueness rule the use case did not check first, a corrupt
            // row, a failed statement: the server's fault, not the caller's.
            other => Self::Internal(format!("storage: {other}")),
        }
    }
}

impl AppError {
    /// A save of the whole `what` (the I-PASS hand-off, a shift hand-off)
    /// made from `base_version` when `current_version` is saved now.
    pub(crate) fn stale_whole(
        what: &str,
        current_version: i64,
        base_version: i64,
        updated_by: Option<String>,
        updated_at: Timestamp,
    ) -> Self {
        Self::EditConflict {
            conflicts: vec![FieldConflict {
                field: what.into(),
                yours: None,
                current: None,
                current_version,
                your_base_version: base_version,
                updated_by,
                updated_at,
            }],
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden {
            message: message.into(),
        }
    }
}
