//! The gateway's error type. Messages never hold a secret.

/// What can go wrong inside the gateway.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The database URL names a database the gateway cannot use.
    #[error("unsupported database URL: {0} (use sqlite://PATH or postgres://...)")]
    UnsupportedUrl(String),
    /// The database could not be opened.
    #[error("cannot open the database: {0}")]
    Open(#[source] sqlx::Error),
    /// A migration failed.
    #[error("cannot migrate the database: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// A stored row does not hold what the gateway wrote.
    #[error("a stored record is damaged: {0}")]
    Corrupt(String),
    /// Input that does not fit (a name, a URL, a flag), with the field.
    #[error("{message}")]
    Invalid {
        /// The field or option at fault.
        field: &'static str,
        /// What is wrong, in words.
        message: String,
    },
    /// No such client, secret or tenant.
    #[error("{0} not found")]
    NotFound(String),
    /// The request conflicts with what is there (a duplicate id, a third live secret).
    #[error("{0}")]
    Conflict(String),
    /// Sealing or opening a secret failed.
    #[error(transparent)]
    Secret(#[from] rounds_secrets::SecretError),
    /// The system's random source or a key operation failed.
    #[error("cryptography failed: {0}")]
    Crypto(String),
}

impl GatewayError {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }
}

/// The gateway's result type.
pub type Result<T, E = GatewayError> = std::result::Result<T, E>;
