pub mod audit;
pub mod backup;
pub mod demo;
pub mod ehr;
pub mod gateway;
pub mod secret_key;
pub mod serve;
pub mod team;
pub mod user;

use anyhow::Context;
use rounds_app::{App, AppConfig, DbOptions};
use rounds_config::process::create_private_dir;

use crate::config::{Storage, StorageArgs};

/// The storage settings with every layer applied, the data directory made
/// (mode 0700) when the database lives in it, and the pool's options.
pub(crate) fn prepare_storage(args: &StorageArgs) -> anyhow::Result<(Storage, DbOptions)> {
    let storage = Storage::resolve(args);
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
    Ok((storage, options))
}

/// Opens the database the settings point at, migrating it, with a message
/// that says which database failed and why.
pub async fn open_app(args: &StorageArgs, config: AppConfig) -> anyhow::Result<App> {
    let (storage, options) = prepare_storage(args)?;
    App::open(&storage.database_url, &options, config)
        .await
        .with_context(|| {
            format!(
                "cannot use the database {}",
                storage.database_url_redacted()
            )
        })
}

/// Lets only the owner into `dir` (mode 0700), as `create_private_dir` makes it.
pub(crate) fn make_private(dir: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Gives the app the key that seals EHR connection secrets: from
/// ROUNDS_SECRET_KEY, else the key file (made on first start). The database
/// records the fingerprint of its key at first start; an instance with
/// another key, or with none where the database expects one, does not start:
/// Rounds never makes a new key over one the database expects, and never
/// keeps secrets in plain text.
pub async fn install_secret_key(
    app: &App,
    args: &StorageArgs,
    key_file: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let (key, origin) = load_secret_key(app, args, key_file, false).await?;
    if let Err(err) = app.install_secret_key(key).await {
        anyhow::bail!(
            "{err}. Give every instance on this database the same key: the same ROUNDS_SECRET_KEY (base64), or a copy of \
             the key file (this instance used {origin}); `rounds secret-key show` prints both fingerprints. Only while no \
             EHR secret is sealed can `rounds secret-key replace` make this key the database's key"
        );
    }
    Ok(())
}

/// The key this instance is configured with (see `install_secret_key`) and
/// where it came from. Without `create_anyway`, a missing key is an error
/// when the database expects one.
pub async fn load_secret_key(
    app: &App,
    args: &StorageArgs,
    key_file: Option<&std::path::Path>,
    create_anyway: bool,
) -> anyhow::Result<(rounds_app::secret_box::SecretBox, String)> {
    let storage = Storage::resolve(args);
    let path = crate::config::secret_key_file(key_file, &storage);
    let env = std::env::var("ROUNDS_SECRET_KEY")
        .ok()
        .filter(|v| !v.trim().is_empty());
    if env.is_none() && !path.exists() {
        let (expected, sealed) = app.secret_key_check().await?;
        if let (Some(fingerprint), false) = (expected, create_anyway) {
            anyhow::bail!(
                "the secret key is missing: this database expects the key with fingerprint {fingerprint} ({sealed} EHR connection(s) or sign-in provider(s) \
                 hold secrets sealed with it), but ROUNDS_SECRET_KEY is not set and the key file {} does not \
                 exist. Restore the key file from your backup or set ROUNDS_SECRET_KEY to the key (base64), the same for \
                 every instance; Rounds will not start without it",
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
    Ok((key, origin))
}
