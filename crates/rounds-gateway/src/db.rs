//! The registry database: rounds-db's one sqlx code path over SQLite and
//! PostgreSQL (shared with rounds-store), with the gateway's own schema and
//! writer lock, and a second path for audit batches that need not be on
//! disk before their commit returns ([`crate::audit::AuditSync::Batched`]).

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool};

pub use rounds_db::Backend;
use rounds_db::{Database, DbOptions, OpenError, Step, Synchronous, WriterLock};

use crate::error::{GatewayError, Result};

const STEPS: &[Step] = &[
    Step {
        version: 1,
        name: "gateway",
        sqlite: include_str!("../migrations/sqlite/0001_gateway.sql"),
        postgres: include_str!("../migrations/postgres/0001_gateway.sql"),
    },
    Step {
        version: 2,
        name: "shared_limits",
        sqlite: include_str!("../migrations/sqlite/0002_shared_limits.sql"),
        postgres: include_str!("../migrations/postgres/0002_shared_limits.sql"),
    },
];

/// The gateway's writer lock: the `gateway_state` row every SQLite writer
/// claims, and an advisory lock key other than Rounds' own, should they
/// share a PostgreSQL server.
const WRITER_LOCK: WriterLock = WriterLock {
    sqlite_claim: "UPDATE gateway_state SET state_value = state_value WHERE state_key = 'writer'",
    postgres_key: 0x0047_6174_6577_6179,
};

impl From<OpenError> for GatewayError {
    fn from(err: OpenError) -> Self {
        match err {
            OpenError::UnsupportedUrl(scheme) => Self::UnsupportedUrl(scheme),
            OpenError::Open(e) => Self::Open(e),
        }
    }
}

/// The database: a pool plus what it takes to write to it safely.
#[derive(Clone)]
pub struct Db {
    inner: Database,
    /// SQLite only: one connection with `synchronous = NORMAL` for audit
    /// batches written in [`crate::audit::AuditSync::Batched`] mode.
    audit_pool: Option<AnyPool>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend())
            .finish()
    }
}

impl Db {
    /// Opens (for SQLite: creates if missing) the database at `url` and
    /// applies the migrations that have not run yet.
    pub async fn open(url: &str, max_connections: u32) -> Result<Self> {
        let inner = Database::open(
            url,
            &DbOptions::with_max_connections(max_connections),
            WRITER_LOCK,
        )
        .await?;
        let audit_pool = match inner.backend() {
            Backend::Sqlite => Some(
                inner
                    .side_pool(&DbOptions::with_max_connections(1), Synchronous::Normal)
                    .map_err(GatewayError::Open)?,
            ),
            Backend::Postgres => None,
        };
        inner.migrate(STEPS).await.map_err(GatewayError::Migrate)?;
        Ok(Self { inner, audit_pool })
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.inner.backend()
    }

    /// Checks that the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<()> {
        Ok(self.inner.ping().await?)
    }

    /// A pooled connection for reads.
    pub async fn read(&self) -> Result<PoolConnection<Any>> {
        Ok(self.inner.read().await?)
    }

    /// Starts a write transaction. Writers are serialised: on SQLite by this
    /// process and by taking the write lock at once; on PostgreSQL by a
    /// transaction-scoped advisory lock, which holds across instances.
    pub async fn write(&self) -> Result<WriteTx<'_>> {
        Ok(WriteTx(self.inner.write().await?))
    }

    /// Starts a write transaction for an audit batch, ordered like
    /// [`Db::write`]. With `sync_each`, its commit is on disk before it
    /// returns (SQLite `synchronous = FULL`, PostgreSQL's default). Without,
    /// the commit is atomic and survives the gateway's process ending, but
    /// reaches the disk later: on SQLite (`synchronous = NORMAL` in WAL
    /// mode) at the next [`Db::sync_audit`]; on PostgreSQL
    /// (`synchronous_commit = off` for this transaction only) within three
    /// times `wal_writer_delay` (0.6 s by default). Neither can corrupt the
    /// database or break the chain; what a crash before that sync can lose
    /// is the newest records: on SQLite a power loss or OS crash, on
    /// PostgreSQL also a crash of the database server.
    pub async fn write_audit(&self, sync_each: bool) -> Result<WriteTx<'_>> {
        let mut tx = match (&self.audit_pool, sync_each) {
            (Some(audit), false) => self.inner.write_on(audit).await?,
            _ => self.inner.write().await?,
        };
        if self.backend() == Backend::Postgres && !sync_each {
            sqlx::query("SET LOCAL synchronous_commit TO OFF")
                .execute(tx.conn())
                .await?;
        }
        Ok(WriteTx(tx))
    }

    /// Puts audit batches committed without `sync_each` on disk. On SQLite:
    /// a passive checkpoint (which moves committed pages into the database
    /// file and keeps the write-ahead log short), then an fsync of the
    /// write-ahead log itself, because a passive checkpoint skips its own
    /// sync when readers hold back every new page. On PostgreSQL nothing:
    /// its WAL writer does it on its own.
    pub async fn sync_audit(&self) -> Result<()> {
        let Some(audit) = &self.audit_pool else {
            return Ok(());
        };
        let mut conn = audit.acquire().await?;
        sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&mut *conn)
            .await?;
        let file: Option<String> =
            sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                .fetch_optional(&mut *conn)
                .await?;
        drop(conn);
        let Some(file) = file.filter(|f| !f.is_empty()) else {
            return Ok(()); // an in-memory database
        };
        let wal = format!("{file}-wal");
        let synced = tokio::task::spawn_blocking(move || match std::fs::File::open(&wal) {
            Ok(f) => f.sync_data(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        })
        .await;
        match synced {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(GatewayError::Db(sqlx::Error::Io(e))),
            Err(e) => Err(GatewayError::Db(sqlx::Error::Io(std::io::Error::other(e)))),
        }
    }

    /// Starts a write transaction whose statements need no order among
    /// writers (an upsert, an insert that may conflict): on SQLite the same
    /// as [`Db::write`] (one writer at a time); on PostgreSQL without the
    /// advisory lock, so it does not wait behind another instance's audit
    /// batch.
    pub async fn write_unordered(&self) -> Result<WriteTx<'_>> {
        Ok(WriteTx(self.inner.write_unordered().await?))
    }

    /// Closes the pools.
    pub async fn close(&self) {
        if let Some(audit) = &self.audit_pool {
            audit.close().await;
        }
        self.inner.close().await;
    }
}

/// A write transaction holding the writer lock until commit or drop
/// (dropping it rolls back).
pub struct WriteTx<'a>(rounds_db::WriteTx<'a>);

impl WriteTx<'_> {
    /// The transaction's connection.
    pub fn conn(&mut self) -> &mut AnyConnection {
        self.0.conn()
    }

    /// Commits.
    pub async fn commit(self) -> Result<()> {
        Ok(self.0.commit().await?)
    }
}

/// Now, in Unix milliseconds.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
