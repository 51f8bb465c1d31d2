use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, Connection};

pub use rounds_db::{redact_url, Backend, DbOptions};
use rounds_db::{Database, OpenError, WriterLock};

use crate::migrations::STEPS;
use crate::StoreError;

impl From<OpenError> for StoreError {
    fn from(err: OpenError) -> Self {
        match err {
            OpenError::UnsupportedUrl(scheme) => Self::UnsupportedUrl(scheme),
            OpenError::Open(e) => Self::Open(e),
        }
    }
}

/// Rounds' writer lock: the `site_state` row every SQLite writer claims,
/// and an arbitrary constant among PostgreSQL advisory locks.
const WRITER_LOCK: WriterLock = WriterLock {
    sqlite_claim: "UPDATE site_state SET state_value = state_value WHERE state_key = 'writer'",
    postgres_key: 0x526f_756e_6473,
};

/// The database: a pool plus what it takes to write to it safely
/// (rounds-db's [`Database`] with Rounds' schema and writer lock).
#[derive(Clone)]
pub struct Db {
    inner: Database,
}

impl Db {
    /// Opens (for SQLite: creates if missing) the database at `url`.
    pub async fn open(url: &str, options: &DbOptions) -> Result<Self, StoreError> {
        Ok(Self {
            inner: Database::open(url, options, WRITER_LOCK).await?,
        })
    }

    pub fn backend(&self) -> Backend {
        self.inner.backend()
    }

    /// Connections in the pool: (open, idle).
    pub fn pool_use(&self) -> (u32, usize) {
        self.inner.pool_use()
    }

    /// The most connections the pool opens.
    pub fn max_connections(&self) -> u32 {
        self.inner.max_connections()
    }

    /// The URL the database was opened with (for the change feed's
    /// listener, which needs a connection of its own).
    pub(crate) fn url(&self) -> &str {
        self.inner.url()
    }

    /// Applies the embedded migrations that have not run yet, then makes
    /// the names' comparison keys again if their rule changed.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.inner
            .migrate(STEPS)
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
        self.inner.ping().await.map_err(StoreError::from)
    }

    /// A pooled connection for reads and single-statement writes.
    pub async fn read(&self) -> Result<PoolConnection<Any>, StoreError> {
        self.inner.read().await.map_err(StoreError::from)
    }

    /// Starts a write transaction. Writers are serialised: on SQLite by this
    /// process (SQLite has one writer anyway) and by taking the write lock
    /// at once, so a transaction that reads before it writes never meets a
    /// stale snapshot; on PostgreSQL by a transaction-scoped advisory lock,
    /// which also holds across several Rounds instances.
    pub async fn write(&self) -> Result<WriteTx<'_>, StoreError> {
        Ok(WriteTx(self.inner.write().await?))
    }

    pub async fn close(&self) {
        self.inner.close().await;
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

/// A write transaction holding the writer lock until commit or drop
/// (dropping it rolls back).
pub struct WriteTx<'a>(rounds_db::WriteTx<'a>);

impl WriteTx<'_> {
    pub fn conn(&mut self) -> &mut AnyConnection {
        self.0.conn()
    }

    pub fn backend(&self) -> Backend {
        self.0.backend()
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        self.0.commit().await.map_err(StoreError::from)
    }
}
