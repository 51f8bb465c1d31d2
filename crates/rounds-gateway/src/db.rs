//! The registry database: one sqlx code path over SQLite and PostgreSQL
//! (the Any driver), the embedded twin migrations, and serialised writes.
//! The same pattern as rounds-store's `Db`, with the gateway's own schema.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Connection, Executor, Transaction};
use tokio::sync::{Mutex, MutexGuard};

use crate::error::{GatewayError, Result};

/// Which database a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file (one instance).
    Sqlite,
    /// PostgreSQL (several instances may share it).
    Postgres,
}

impl Backend {
    /// The backend a URL names.
    pub fn from_url(url: &str) -> Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            let scheme = url.split(':').next().unwrap_or_default();
            Err(GatewayError::UnsupportedUrl(format!("scheme {scheme:?}")))
        }
    }
}

struct Step {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

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

#[derive(Debug)]
struct Embedded(Backend);

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 's>> {
        Box::pin(async move {
            Ok(STEPS
                .iter()
                .map(|step| {
                    let sql = match self.0 {
                        Backend::Sqlite => step.sqlite,
                        Backend::Postgres => step.postgres,
                    };
                    Migration::new(
                        step.version,
                        Cow::Borrowed(step.name),
                        MigrationType::Simple,
                        Cow::Borrowed(sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

/// The database: a pool plus what it takes to write to it safely.
#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    /// SQLite only: one connection with `synchronous = NORMAL` for audit
    /// batches written in [`crate::audit::AuditSync::Batched`] mode.
    audit_pool: Option<AnyPool>,
    backend: Backend,
    writer: Arc<Mutex<()>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .finish()
    }
}

/// Arbitrary constant naming the gateway's writer lock among PostgreSQL
/// advisory locks (another than Rounds' own, should they share a server).
const PG_WRITER_LOCK: i64 = 0x0047_6174_6577_6179;

impl Db {
    /// Opens (for SQLite: creates if missing) the database at `url` and
    /// applies the migrations that have not run yet.
    pub async fn open(url: &str, max_connections: u32) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let mut options = AnyPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10));
        if backend == Backend::Sqlite {
            options = options.after_connect(|conn, _meta| {
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
        let pool = options
            .connect(&sqlite_create_if_missing(url))
            .await
            .map_err(GatewayError::Open)?;
        let audit_pool = if backend == Backend::Sqlite {
            Some(
                AnyPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(10))
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; \
                                 PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect_lazy(&sqlite_create_if_missing(url))
                    .map_err(GatewayError::Open)?,
            )
        } else {
            None
        };
        let db = Self {
            pool,
            audit_pool,
            backend,
            writer: Arc::new(Mutex::new(())),
        };
        let migrator = sqlx::migrate::Migrator::new(Embedded(backend))
            .await
            .map_err(GatewayError::Migrate)?;
        migrator
            .run(&db.pool)
            .await
            .map_err(GatewayError::Migrate)?;
        Ok(db)
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Checks that the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<()> {
        let mut conn = self.read().await?;
        conn.ping().await.map_err(GatewayError::from)
    }

    /// A pooled connection for reads.
    pub async fn read(&self) -> Result<PoolConnection<Any>> {
        self.pool.acquire().await.map_err(GatewayError::from)
    }

    /// Starts a write transaction. Writers are serialised: on SQLite by this
    /// process and by taking the write lock at once; on PostgreSQL by a
    /// transaction-scoped advisory lock, which holds across instances.
    pub async fn write(&self) -> Result<WriteTx<'_>> {
        let guard = self.writer.lock().await;
        let mut tx = self.pool.begin().await?;
        match self.backend {
            Backend::Sqlite => {
                sqlx::query(
                    "UPDATE gateway_state SET state_value = state_value WHERE state_key = 'writer'",
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
            _guard: Some(guard),
        })
    }

    /// Starts a write transaction for an audit batch, ordered like
    /// [`Db::write`]. With `sync_each`, its commit is on disk before it
    /// returns (SQLite `synchronous = FULL`, PostgreSQL's default). Without,
    /// the commit is atomic and survives the process ending, but reaches the
    /// disk later: on SQLite (`synchronous = NORMAL` in WAL mode) at the next
    /// [`Db::sync_audit`] or checkpoint; on PostgreSQL
    /// (`synchronous_commit = off` for this transaction only) within three
    /// times `wal_writer_delay` (0.6 s by default). Neither can corrupt the
    /// database or break the chain: a power loss can only lose the newest
    /// records since the last sync.
    pub async fn write_audit(&self, sync_each: bool) -> Result<WriteTx<'_>> {
        let guard = self.writer.lock().await;
        let pool = match (&self.audit_pool, sync_each) {
            (Some(audit), false) => audit,
            _ => &self.pool,
        };
        let mut tx = pool.begin().await?;
        match self.backend {
            Backend::Sqlite => {
                sqlx::query(
                    "UPDATE gateway_state SET state_value = state_value WHERE state_key = 'writer'",
                )
                .execute(&mut *tx)
                .await?;
            }
            Backend::Postgres => {
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(PG_WRITER_LOCK)
                    .execute(&mut *tx)
                    .await?;
                if !sync_each {
                    sqlx::query("SET LOCAL synchronous_commit TO OFF")
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        Ok(WriteTx {
            tx,
            _guard: Some(guard),
        })
    }

    /// Puts audit batches committed without `sync_each` on disk: on SQLite
    /// a passive checkpoint, which syncs the write-ahead log first; on
    /// PostgreSQL nothing (its WAL writer does it on its own).
    pub async fn sync_audit(&self) -> Result<()> {
        if let Some(audit) = &self.audit_pool {
            let mut conn = audit.acquire().await?;
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    /// Starts a write transaction whose statements need no order among
    /// writers (an upsert, an insert that may conflict): on SQLite the same
    /// as [`Db::write`] (one writer at a time); on PostgreSQL without the
    /// advisory lock, so it does not wait behind another instance's audit
    /// batch.
    pub async fn write_unordered(&self) -> Result<WriteTx<'_>> {
        match self.backend {
            Backend::Sqlite => self.write().await,
            Backend::Postgres => Ok(WriteTx {
                tx: self.pool.begin().await?,
                _guard: None,
            }),
        }
    }

    /// Closes the pools.
    pub async fn close(&self) {
        if let Some(audit) = &self.audit_pool {
            audit.close().await;
        }
        self.pool.close().await;
    }
}

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
    _guard: Option<MutexGuard<'a, ()>>,
}

impl WriteTx<'_> {
    /// The transaction's connection.
    pub fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    /// Commits.
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await.map_err(GatewayError::from)
    }
}

/// Now, in Unix milliseconds.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
