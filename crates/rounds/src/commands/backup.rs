//! `rounds backup FILE` and `rounds restore FILE`: a consistent copy of a
//! SQLite database while Rounds runs, and putting one back in place of a
//! missing database. PostgreSQL is backed up with pg_dump (README).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use rounds_app::AppConfig;

use super::open_app;
use crate::config::{Storage, StorageArgs};

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub storage: StorageArgs,
    /// The new file to write the copy to (it must not exist)
    pub file: PathBuf,
}

pub async fn backup(args: BackupArgs) -> anyhow::Result<ExitCode> {
    let app = open_app(&args.storage, AppConfig::default()).await?;
    let result = app.backup_to(&args.file).await;
    app.close().await;
    result.with_context(|| format!("cannot back up to {}", args.file.display()))?;
    println!(
        "backed up the database to {} (readable by you only). The EHR secrets in it are sealed: keep a copy of the secret key \
         (secret.key or ROUNDS_SECRET_KEY) apart from it; a restore needs both",
        args.file.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn restore(args: BackupArgs) -> anyhow::Result<ExitCode> {
    let storage = Storage::resolve(&args.storage);
    let target = sqlite_path(&storage.database_url).with_context(|| {
        format!(
            "rounds restore puts back SQLite databases; {} is not one (restore PostgreSQL with pg_restore, see README)",
            storage.database_url_redacted()
        )
    })?;
    let (_, options) = super::prepare_storage(&args.storage)?;
    let app =
        rounds_app::backup::restore_sqlite(&args.file, &target, &options, AppConfig::default())
            .await
            .with_context(|| format!("cannot restore {}", args.file.display()))?;
    let report = app.verify_audit().await;
    app.close().await;
    let report = report?;
    println!("restored {} to {}", args.file.display(), target.display());
    match report.first_break {
        None => {
            println!("audit log intact: {} records verified", report.checked);
            Ok(ExitCode::SUCCESS)
        }
        Some(broken) => {
            println!("audit log BROKEN in the backup: {broken}");
            Ok(ExitCode::from(2))
        }
    }
}

/// The file of a `sqlite://PATH[?options]` URL.
fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| Path::new(path).to_path_buf())
}
