//! One sqlx code path over SQLite and PostgreSQL, as Rounds' own database
//! (rounds-store) and the gateway's registry (rounds-gateway) both use it:
//! - [`Backend`]: which database a URL names;
//! - [`Database::open`]: the pool (SQLite files created if missing, in WAL
//!   mode with foreign keys, a busy timeout and `synchronous = FULL`);
//! - [`Database::migrate`]: twin migrations embedded in the binary, one
//!   [`Step`] per schema version with its SQLite and its PostgreSQL text;
//! - [`Database::write`]: serialised write transactions ([`WriteTx`]),
//!   each database naming its own lock ([`WriterLock`]).
//!
//! Errors are sqlx's own; each crate maps them into its error type.

#![warn(missing_docs)]

mod migrate;

use std::sync::Arc;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Connection, Executor, Transaction};
use tokio::sync::{Mutex, MutexGuard};

pub use migrate::Step;

/// Which database a [`Database`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file (one instance).
    Sqlite,
    /// PostgreSQL (several instances may share it).
    Postgres,
}

impl Backend {
    /// The backend a URL names; otherwise [`OpenError::UnsupportedUrl`]
    /// naming the URL's scheme (never the rest, which may hold a password).
    pub fn from_url(url: &str) -> Result<Self, OpenError> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            let scheme = url.split(':').next().unwrap_or_default();
            Err(OpenError::UnsupportedUrl(format!("scheme {scheme:?}")))
        }
    }

    /// `sqlite` or `postgres`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// A database URL fit for messages and logs: `postgres://user:secret@host/db`
/// becomes `postgres://user:***@host/db`; a URL without a password stays.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((creds, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match creds.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// Why a database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The URL names no supported backend (the text names its scheme).
    #[error("unsupported database URL: {0}")]
    UnsupportedUrl(String),
    /// The database could not be reached or opened.
    #[error("cannot open the database: {0}")]
    Open(#[source] sqlx::Error),
}

/// The pool's size and patience.
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// The most connections held open.
    pub max_connections: u32,
    /// How long a caller waits for a free connection.
    pub acquire_timeout: Duration,
}

impl DbOptions {
    /// The default pool size (also the default of the `db_max_connections`
    /// settings of Rounds and of its gateway).
    pub const DEFAULT_MAX_CONNECTIONS: u32 = 10;

    /// The default options with `max_connections` connections.
    pub fn with_max_connections(max_connections: u32) -> Self {
        Self {
            max_connections,
            ..Self::default()
        }
    }
}

impl Default for DbOptions {
    fn default() -> Self {
        Self {
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

/// When a SQLite commit is on disk (PostgreSQL connections ignore it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synchronous {
    /// `synchronous = FULL`: before the commit returns.
    Full,
    /// `synchronous = NORMAL`: atomic and safe from the process ending, on
    /// disk at the next sync of the write-ahead log (a power loss or OS
    /// crash before it loses the newest commits, never the file's
    /// integrity).
    Normal,
}

/// How writers to one database are kept apart: a row every SQLite writer
/// touches first (so it takes the write lock at once and never meets a
/// stale snapshot), and a PostgreSQL advisory lock key, which also holds
/// across several instances.
#[derive(Debug, Clone, Copy)]
pub struct WriterLock {
    /// A statement that writes (without changing it) a row of the schema.
    pub sqlite_claim: &'static str,
    /// The advisory lock's key, distinct per kind of database.
    pub postgres_key: i64,
}

/// A pool plus what it takes to write to it safely.
#[derive(Clone)]
pub struct Database {
    pool: AnyPool,
    backend: Backend,
    /// Kept for connections outside the pool (a listener, a second pool).
    url: Arc<str>,
    writer: Arc<Mutex<()>>,
    lock: WriterLock,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Database {
    /// Opens (for SQLite: creates if missing) the database at `url`.
    pub async fn open(url: &str, options: &DbOptions, lock: WriterLock) -> Result<Self, OpenError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let pool = pool_options(backend, options, Synchronous::Full)
            .connect(&connect_url(url))
            .await
            .map_err(OpenError::Open)?;
        Ok(Self {
            pool,
            backend,
            url: Arc::from(url),
            writer: Arc::new(Mutex::new(())),
            lock,
        })
    }

    /// A second pool on the same database with its own options, opened on
    /// first use (the gateway's audit batches, written `Synchronous::Normal`).
    pub fn side_pool(
        &self,
        options: &DbOptions,
        synchronous: Synchronous,
    ) -> Result<AnyPool, sqlx::Error> {
        pool_options(self.backend, options, synchronous).connect_lazy(&connect_url(&self.url))
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL the database was opened with.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Connections in the pool: (open, idle).
    pub fn pool_use(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }

    /// The most connections the pool opens.
    pub fn max_connections(&self) -> u32 {
        self.pool.options().get_max_connections()
    }

    /// Applies the steps that have not run yet.
    pub async fn migrate(&self, steps: &'static [Step]) -> Result<(), sqlx::migrate::MigrateError> {
        migrate::run(&self.pool, self.backend, steps).await
    }

    /// Checks that the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        self.read().await?.ping().await
    }

    /// A pooled connection for reads and single-statement writes.
    pub async fn read(&self) -> Result<PoolConnection<Any>, sqlx::Error> {
        self.pool.acquire().await
    }

    /// Starts a write transaction. Writers are serialised: on SQLite by this
    /// process (SQLite has one writer anyway) and by the lock's claim, taken
    /// at once; on PostgreSQL by a transaction-scoped advisory lock.
    pub async fn write(&self) -> Result<WriteTx<'_>, sqlx::Error> {
        self.write_on(&self.pool).await
    }

    /// [`Database::write`] on a connection of `pool` (a [`Database::side_pool`]).
    pub async fn write_on(&self, pool: &AnyPool) -> Result<WriteTx<'_>, sqlx::Error> {
        let guard = self.writer.lock().await;
        let mut tx = pool.begin().await?;
        match self.backend {
            Backend::Sqlite => {
                sqlx::query(self.lock.sqlite_claim)
                    .execute(&mut *tx)
                    .await?;
            }
            Backend::Postgres => {
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(self.lock.postgres_key)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        Ok(WriteTx {
            tx,
            backend: self.backend,
            _guard: Some(guard),
        })
    }

    /// A write transaction that takes no writer lock (on SQLite, where
    /// writers must queue anyway, [`Database::write`]): for statements that
    /// need no order among writers.
    pub async fn write_unordered(&self) -> Result<WriteTx<'_>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.write().await,
            Backend::Postgres => Ok(WriteTx {
                tx: self.pool.begin().await?,
                backend: self.backend,
                _guard: None,
            }),
        }
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The pool options of a backend: SQLite connections in WAL mode with
/// foreign keys, a busy timeout and the given `synchronous`, reading the
/// file through a memory map (up to 256 MiB): a connection's page cache is
/// dropped whenever another connection commits, and pages then come from
/// the map instead of being copied in again by a read call each.
fn pool_options(backend: Backend, options: &DbOptions, synchronous: Synchronous) -> AnyPoolOptions {
    let pool = AnyPoolOptions::new()
        .max_connections(options.max_connections.max(1))
        .acquire_timeout(options.acquire_timeout);
    if backend != Backend::Sqlite {
        return pool;
    }
    let pragmas = match synchronous {
        Synchronous::Full => {
            "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; \
             PRAGMA busy_timeout = 10000; PRAGMA synchronous = FULL; \
             PRAGMA mmap_size = 268435456;"
        }
        Synchronous::Normal => {
            "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; \
             PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL; \
             PRAGMA mmap_size = 268435456;"
        }
    };
    pool.after_connect(move |conn, _meta| {
        Box::pin(async move {
            conn.execute(pragmas).await?;
            Ok(())
        })
    })
}

/// SQLite URLs get `mode=rwc` so a new data directory starts with a new file.
fn connect_url(url: &str) -> String {
    if url.starts_with("sqlite:") && !url.contains("mode=") && !url.contains(":memory:") {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}mode=rwc")
    } else {
        url.to_owned()
    }
}

/// A write transaction holding the writer lock until commit or drop
/// (dropping it rolls back).
pub struct WriteTx<'a> {
    tx: Transaction<'static, Any>,
    backend: Backend,
    _guard: Option<MutexGuard<'a, ()>>,
}

impl WriteTx<'_> {
    /// The transaction's connection.
    pub fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    /// Which database it writes to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Commits.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_backend() {
        assert_eq!(
            Backend::from_url("sqlite://x.db").ok(),
            Some(Backend::Sqlite)
        );
        assert_eq!(
            Backend::from_url("postgresql://u@h/d").ok(),
            Some(Backend::Postgres)
        );
        let err = Backend::from_url("mysql://u:pw@h/d")
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("unsupported database URL: scheme \"mysql\"")
        );
        assert_eq!(
            redact_url("postgres://gw:s3cret@db.example:5432/gw"),
            "postgres://gw:***@db.example:5432/gw"
        );
        assert_eq!(redact_url("postgres://gw@db/gw"), "postgres://gw@db/gw");
        assert_eq!(redact_url("sqlite:///a/b.db"), "sqlite:///a/b.db");
        assert_eq!(connect_url("sqlite:///a/b.db"), "sqlite:///a/b.db?mode=rwc");
        assert_eq!(connect_url("sqlite::memory:"), "sqlite::memory:");
        assert_eq!(
            connect_url("sqlite://a.db?mode=ro"),
            "sqlite://a.db?mode=ro"
        );
    }

    const STEPS: &[Step] = &[
        Step {
            version: 1,
            name: "one",
            sqlite: "CREATE TABLE state (k TEXT PRIMARY KEY, v TEXT NOT NULL); \
                     INSERT INTO state (k, v) VALUES ('writer', '');",
            postgres: "",
        },
        Step {
            version: 2,
            name: "two",
            sqlite: "CREATE TABLE things (n BIGINT NOT NULL);",
            postgres: "",
        },
    ];

    #[tokio::test]
    async fn migrates_once_and_writes_in_turn() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let lock = WriterLock {
            sqlite_claim: "UPDATE state SET v = v WHERE k = 'writer'",
            postgres_key: 1,
        };
        let db = Database::open(&url, &DbOptions::default(), lock).await?;
        db.migrate(STEPS).await?;
        db.migrate(STEPS).await?;
        let mut tx = db.write().await?;
        sqlx::query("INSERT INTO things (n) VALUES (1)")
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
        let side = db.side_pool(&DbOptions::with_max_connections(1), Synchronous::Normal)?;
        let mut tx = db.write_on(&side).await?;
        sqlx::query("INSERT INTO things (n) VALUES (2)")
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
        let mut conn = db.read().await?;
        let total: i64 = sqlx::query_scalar("SELECT SUM(n) FROM things")
            .fetch_one(&mut *conn)
            .await?;
        assert_eq!(total, 3);
        let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(&mut *conn)
            .await?;
        assert_eq!(applied, 2);
        Ok(())
    }
}
