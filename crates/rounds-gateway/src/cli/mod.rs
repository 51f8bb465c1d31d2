//! The console side of `rounds gateway`: serve, and administer clients,
//! tenants, keys and the audit log in the same database.

mod clients_tenants;
mod keys_audit;

use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context};
use rounds_config::process::{create_private_dir, shutdown_signal};

use crate::config::{
    FileSections, FileTenant, GatewayCli, GatewayCommand, Settings, Storage, StorageArgs,
};
use crate::db::Db;
use crate::tenants::{TenantInput, Tenants};

use clients_tenants::{client, tenant};
use keys_audit::{admin_token, audit, keys};

/// Runs one `rounds gateway` command line (`argv` from `gateway` on).
pub async fn run_args(argv: &[std::ffi::OsString]) -> anyhow::Result<ExitCode> {
    run(crate::config::parse(argv)?).await
}

/// Runs one `rounds gateway` command.
pub async fn run(cli: GatewayCli) -> anyhow::Result<ExitCode> {
    let s = &cli.storage;
    match cli.command {
        GatewayCommand::Serve(args) => serve(s, &args).await,
        GatewayCommand::Client(cmd) => client(s, cmd).await,
        GatewayCommand::Tenant(cmd) => tenant(s, cmd).await,
        GatewayCommand::Keys(cmd) => keys(s, cmd).await,
        GatewayCommand::Audit(cmd) => audit(s, cmd).await,
        GatewayCommand::AdminToken(cmd) => admin_token(s, cmd).await,
    }
}

fn init_logging(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("ROUNDS_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Opens (and migrates) the database the settings point at.
pub async fn open_db(args: &StorageArgs) -> anyhow::Result<(Db, Storage)> {
    let storage = Storage::resolve(args);
    if storage.in_data_dir {
        create_private_dir(&storage.data_dir).with_context(|| {
            format!(
                "cannot create the data directory {}",
                storage.data_dir.display()
            )
        })?;
    }
    let db = Db::open(&storage.database_url, storage.db_max_connections)
        .await
        .with_context(|| {
            format!(
                "cannot use the database {}",
                storage.database_url_redacted()
            )
        })?;
    Ok((db, storage))
}

/// The site key: ROUNDS_GATEWAY_SECRET_KEY, else the key file (made on
/// first use).
pub fn load_sealer(storage: &Storage) -> anyhow::Result<Arc<rounds_secrets::SecretBox>> {
    let env = std::env::var("ROUNDS_GATEWAY_SECRET_KEY")
        .ok()
        .filter(|v| !v.trim().is_empty());
    if env.is_none() {
        if let Some(dir) = storage
            .secret_key_file
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            create_private_dir(dir).with_context(|| {
                format!(
                    "cannot create the directory of the key file {}",
                    storage.secret_key_file.display()
                )
            })?;
        }
    }
    let (key, _) = rounds_secrets::SecretBox::load_or_create_named(
        "ROUNDS_GATEWAY_SECRET_KEY",
        env.as_deref(),
        &storage.secret_key_file,
    )
    .context("cannot load the gateway's secret key")?;
    Ok(Arc::new(key))
}

async fn serve(
    storage_args: &StorageArgs,
    args: &crate::config::ServeArgs,
) -> anyhow::Result<ExitCode> {
    let mut settings = Settings::resolve(args)?;
    init_logging(settings.json_logs);
    let file = FileSections::load(storage_args.config.as_deref())?;
    let (db, storage) = open_db(storage_args).await?;
    let sealer = load_sealer(&storage)?;
    sync_file_tenants(&Tenants::new(db.clone()), &file.tenants, &sealer).await?;
    let listen = settings.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let local = listener.local_addr()?;
    if args.public_url.is_none() {
        // No public address given: the one bound (port 0 is a real port now).
        settings.public_url = format!("http://{local}");
    }
    let gateway = crate::Gateway::new(db.clone(), sealer, settings)
        .await
        .context("cannot start the gateway")?;
    tracing::info!(address = %local, public_url = %gateway.settings.public_url, "gateway listening");
    // Tests and scripts read this line to learn the port.
    println!("rounds gateway listening on {local}");
    gateway
        .serve(listener, shutdown_signal("shutting down")?)
        .await?;
    db.close().await;
    Ok(ExitCode::SUCCESS)
}

pub(super) fn read_secret(
    env: Option<&str>,
    file: Option<&std::path::Path>,
) -> anyhow::Result<Option<String>> {
    match (env, file) {
        (Some(_), Some(_)) => {
            bail!("give the upstream secret by environment variable or by file, not both")
        }
        (Some(var), None) => {
            let v = std::env::var(var).with_context(|| {
                format!("the environment variable {var} (the upstream secret) is not set")
            })?;
            Ok(Some(v))
        }
        (None, Some(path)) => {
            let mut text = String::new();
            if path.as_os_str() == "-" {
                std::io::stdin().read_to_string(&mut text)?;
            } else {
                text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the secret file {}", path.display()))?;
            }
            // One trailing newline is the file's, not the secret's.
            let trimmed = text.strip_suffix('\n').unwrap_or(&text);
            let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
            Ok(Some(trimmed.to_owned()))
        }
        (None, None) => Ok(None),
    }
}

/// Makes the database's configuration-file tenants what the file says:
/// adds or replaces each, removes those no longer in it. Tenants added by an
/// administrator are left alone.
pub async fn sync_file_tenants(
    tenants: &Tenants,
    file: &[FileTenant],
    sealer: &rounds_secrets::SecretBox,
) -> anyhow::Result<()> {
    for t in file {
        let secret = read_secret(t.secret_env.as_deref(), t.secret_file.as_deref())
            .with_context(|| format!("tenant {} in the configuration file", t.id))?;
        let input = TenantInput {
            id: t.id.clone(),
            base_url: t.base_url.clone(),
            fhir_version: t.fhir_version.clone(),
            auth: t.auth.clone(),
            secret,
            allow_writes: t.allow_writes,
        };
        tenants
            .put(&input, "config", sealer)
            .await
            .with_context(|| format!("tenant {} in the configuration file", t.id))?;
    }
    for existing in tenants.list().await? {
        if existing.origin == "config" && !file.iter().any(|t| t.id == existing.id) {
            tenants.delete(&existing.id).await?;
        }
    }
    Ok(())
}

pub(super) fn when(ms: Option<i64>) -> String {
    ms.and_then(|m| time::OffsetDateTime::from_unix_timestamp(m / 1000).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "-".into())
}
