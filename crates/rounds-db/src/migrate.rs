//! Schema steps embedded in the binary, each written once per backend
//! (`migrations/<backend>/NNNN_name.sql` in the crate that owns them), run
//! through sqlx's migrator.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::AnyPool;

use crate::Backend;

/// One schema version, in both dialects.
#[derive(Debug)]
pub struct Step {
    /// The version (1, 2, …).
    pub version: i64,
    /// What the step is, in words.
    pub name: &'static str,
    /// The SQLite text.
    pub sqlite: &'static str,
    /// The PostgreSQL text.
    pub postgres: &'static str,
}

/// The steps for one backend, as a sqlx migration source.
#[derive(Debug)]
struct Embedded {
    backend: Backend,
    steps: &'static [Step],
}

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 's>> {
        Box::pin(async move {
            Ok(self
                .steps
                .iter()
                .map(|step| {
                    let sql = match self.backend {
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

/// Applies the steps that have not run yet.
pub(crate) async fn run(
    pool: &AnyPool,
    backend: Backend,
    steps: &'static [Step],
) -> Result<(), sqlx::migrate::MigrateError> {
    Migrator::new(Embedded { backend, steps })
        .await?
        .run(pool)
        .await
}
