use std::sync::Arc;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Connection, Executor, Transaction};
use tokio::sync::{Mutex, MutexGuard};

use crate::migrations::Embedded;
use crate::StoreError;

/// Which database a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            let scheme = url.split(':').next().unwrap_or_default();
            Err(StoreError::UnsupportedUrl(format!("scheme {scheme:?}")))
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

#[derive(Debug, Clone)]
pub struct DbOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl DbOptions {
    /// The default pool size (also the default of the `db_max_connections` setting).
    pub const DEFAULT_MAX_CONNECTIONS: u32 = 10;
}

impl Default for DbOptions {
    fn default() -> Self {
        Self {
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

/// The database: a pool plus what it takes to write to it safely.
#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// Kept for connections outside the pool (the change feed's listener).
    url: Arc<str>,
    writer: Arc<Mutex<()>>,
}

/// Arbitrary constant naming Rounds' writer lock among PostgreSQL advisory locks.
const PG_WRITER_LOCK: i64 = 0x526f_756e_6473;

impl Db {
    /// Opens (for SQLite: creates if missing) the database at `url`.
    pub async fn open(url: &str, options: &DbOptions) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let mut pool_options = AnyPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout);
        if backend == Backend::Sqlite {
            pool_options = pool_options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; \
                         PRAGMA busy_timeout = 10000; PRAGMA synchronous = FULL;",
                    )
                    .await?;
                    Ok(())
                })
            });
        }
        let pool = pool_options
            .connect(&sqlite_create_if_missing(url))
            .await
            .map_err(StoreError::Open)?;
        Ok(Self {
            pool,
            backend,
            url: Arc::from(url),
            writer: Arc::new(Mutex::new(())),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Connections in the pool: (open, idle).
    pub fn pool_use(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }

    /// The most connections the pool opens.
    pub fn max_connections(&self) -> u32 {
        self.pool.options().get_max_connections()
    }

    /// The URL the database was opened with (for the change feed's
    /// listener, which needs a connection of its own).
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Applies the embedded migrations that have not run yet, then makes
    /// the names' comparison keys again if their rule changed.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = sqlx::migrate::Migrator::new(Embedded(self.backend))
            .await
            .map_err(StoreError::Migrate)?;
        migrator
            .run(&self.pool)
            .await
            .map_err(StoreError::Migrate)?;
        let rekeyed = crate::names::rekey(self).await?;
        if rekeyed > 0 {
            tracing::info!(rekeyed, "name comparison keys made again");
        }
        Ok(())
    }

    /// Checks that the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.read().await?;
        conn.ping().await.map_err(StoreError::from)
    }

    /// A pooled connection for reads and single-statement writes.
    pub async fn read(&self) -> Result<PoolConnection<Any>, StoreError> {
        self.pool.acquire().await.map_err(StoreError::from)
    }

    /// Starts a write transaction. Writers are serialised: on SQLite by this
    /// process (SQLite has one writer anyway) and by taking the write lock
    /// at once, so a transaction that reads before it writes never meets a
    /// stale snapshot; on PostgreSQL by a transaction-scoped advisory lock,
    /// which also holds across several Rounds instances.
    pub async fn write(&self) -> Result<WriteTx<'_>, StoreError> {
        let guard = self.writer.lock().await;
        let mut tx = self.pool.begin().await?;
        match self.backend {
            Backend::Sqlite => {
                sqlx::query(
                    "UPDATE site_state SET state_value = state_value WHERE state_key = 'writer'",
                )
                .execute(&mut *tx)
                .await?;
            }
            Backend::Postgres => {
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(PG_WRITER_LOCK)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        Ok(WriteTx {
            tx,
            backend: self.backend,
            _guard: guard,
        })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Writes a consistent copy of a SQLite database to `path` (a new
    /// file) while it stays in use (`VACUUM INTO`). SQLite only: PostgreSQL
    /// is backed up with its own tools (`pg_dump`).
    pub async fn backup_into(&self, path: &str) -> Result<(), StoreError> {
        let mut conn = self.read().await?;
        sqlx::query("VACUUM INTO $1")
            .bind(path)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}

/// Whether the SQLite file at `path` is a Rounds database: how many schema
/// migrations it has applied, or `None` for any other file. Read-only: the
/// file is not changed (a backup is checked before it is restored).
pub async fn inspect_sqlite(path: &str) -> Result<Option<i64>, StoreError> {
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{path}?mode=ro");
    let Ok(mut conn) = AnyConnection::connect(&url).await else {
        return Ok(None);
    };
    let tables: Result<i64, _> = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' \
         AND name IN ('_sqlx_migrations', 'audit_log', 'users', 'teams')",
    )
    .fetch_one(&mut conn)
    .await;
    if !matches!(tables, Ok(4)) {
        let _ = conn.close().await;
        return Ok(None);
    }
    let applied: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success = TRUE")
            .fetch_one(&mut conn)
            .await?;
    let _ = conn.close().await;
    Ok(Some(applied))
}

/// SQLite URLs get `mode=rwc` so a new data directory starts with a new file.
fn sqlite_create_if_missing(url: &str) -> String {
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
    _guard: MutexGuard<'a, ()>,
}

impl WriteTx<'_> {
    pub fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await.map_err(StoreError::from)
    }
}
