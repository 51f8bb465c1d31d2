pub mod audit;
pub mod demo;
pub mod ehr;
pub mod gateway;
pub mod serve;
pub mod user;

use anyhow::Context;
use rounds_app::{App, AppConfig, DbOptions};

use crate::config::{EhrArgs, FileSettings, Storage, StorageArgs};

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

/// Gives the app the key that seals EHR connection secrets: from
/// ROUNDS_SECRET_KEY, else the key file (made on first start). A database
/// whose secrets were sealed with a key that is not here stops the start:
/// Rounds never makes a new key that could not open them, and never keeps
/// secrets in plain text.
pub async fn install_secret_key(
    app: &App,
    args: &StorageArgs,
    file: &FileSettings,
    ehr: &EhrArgs,
) -> anyhow::Result<()> {
    let storage = Storage::resolve(args, file)?;
    let path = crate::config::secret_key_file(ehr, file, &storage);
    let env = std::env::var("ROUNDS_SECRET_KEY")
        .ok()
        .filter(|v| !v.trim().is_empty());
    if env.is_none() && !path.exists() {
        if let (Some(fingerprint), sealed @ 1..) = app.secret_key_check().await? {
            anyhow::bail!(
                "the secret key is missing: this database holds the EHR connection secrets of {sealed} team(s), sealed with a key \
                 (fingerprint {fingerprint}), but ROUNDS_SECRET_KEY is not set and the key file {} does not exist. Restore the key \
                 file from your backup or set ROUNDS_SECRET_KEY to the key (base64); Rounds will not start without it",
                path.display()
            );
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir).with_context(|| {
                format!(
                    "cannot create the directory of the key file {}",
                    path.display()
                )
            })?;
        }
    }
    let (key, origin) = rounds_app::secret_box::SecretBox::load_or_create(env.as_deref(), &path)
        .with_context(|| "cannot load the secret key for EHR connection secrets".to_owned())?;
    let origin = match origin {
        rounds_app::secret_box::KeyOrigin::Env => "ROUNDS_SECRET_KEY".to_owned(),
        rounds_app::secret_box::KeyOrigin::File(p) => p.display().to_string(),
        rounds_app::secret_box::KeyOrigin::Created(p) => format!("{} (created now)", p.display()),
    };
    tracing::info!(key = %origin, fingerprint = %key.fingerprint(), "secret key for EHR connection secrets ready");
    app.install_secret_key(key)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}
