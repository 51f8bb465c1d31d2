pub mod audit;
pub mod ehr;
pub mod serve;
pub mod user;

use anyhow::Context;
use rounds_app::{App, AppConfig, DbOptions};

use crate::config::{FileSettings, Storage, StorageArgs};

/// Opens the database the settings point at, migrating it, with a message
/// that says which database failed and why.
pub async fn open_app(
    args: &StorageArgs,
    file: &FileSettings,
    config: AppConfig,
) -> anyhow::Result<App> {
    let storage = Storage::resolve(args, file)?;
    if storage.in_data_dir {
        create_private_dir(&storage.data_dir).with_context(|| {
            format!(
                "cannot create the data directory {}",
                storage.data_dir.display()
            )
        })?;
    }
    let options = DbOptions {
        max_connections: storage.db_max_connections,
        ..DbOptions::default()
    };
    App::open(&storage.database_url, &options, config)
        .await
        .with_context(|| {
            format!(
                "cannot use the database {}",
                storage.database_url_redacted()
            )
        })
}

fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}
