use thiserror::Error;

/// What went wrong in storage, in terms the layers above can act on.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The database URL names no backend Rounds supports.
    #[error("unsupported database URL: {0} (use sqlite://PATH or postgres://USER@HOST/DB)")]
    UnsupportedUrl(String),
    /// The database could not be reached or opened.
    #[error("cannot open the database: {0}")]
    Open(#[source] sqlx::Error),
    /// Applying the schema migrations failed.
    #[error("cannot migrate the database schema: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// A uniqueness rule was broken; `constraint` names what was duplicated.
    #[error("duplicate value for {constraint}")]
    Duplicate { constraint: String },
    /// A stored value could not be read back as the type it should be.
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    /// The database did not answer in time or the connection failed: a
    /// retry later may work.
    #[error("the database is unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// Any other database failure.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        if let Some(db_err) = err.as_database_error() {
            if db_err.is_unique_violation() {
                let constraint = db_err
                    .constraint()
                    .map(str::to_owned)
                    .unwrap_or_else(|| unique_target(db_err.message()));
                return Self::Duplicate { constraint };
            }
        }
        match err {
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
                Self::Corrupt(err.to_string())
            }
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                Self::Unavailable(err)
            }
            other => Self::Database(other),
        }
    }
}

/// SQLite reports a unique violation as "UNIQUE constraint failed: users.username";
/// PostgreSQL names the constraint ("users_username_key"). Both end up as
/// "table.column"-like text the caller can match on with `contains`.
fn unique_target(message: &str) -> String {
    message
        .rsplit_once(": ")
        .map_or(message, |(_, target)| target)
        .to_owned()
}

impl StoreError {
    /// True when a duplicate of `needle` (a table, column or constraint name) was refused.
    pub fn is_duplicate_of(&self, needle: &str) -> bool {
        matches!(self, Self::Duplicate { constraint } if constraint.contains(needle))
    }
}
