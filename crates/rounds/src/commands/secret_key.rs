//! `rounds secret-key`: which key seals this database's EHR secrets, and
//! replacing it while nothing is sealed.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use rounds_app::AppConfig;

use super::{load_secret_key, open_app};
use crate::config::StorageArgs;

#[derive(Debug, Args)]
pub struct SecretKeyArgs {
    #[command(flatten)]
    pub storage: StorageArgs,
    #[command(flatten)]
    pub key: KeyArgs,
    #[command(subcommand)]
    pub command: SecretKeyCommand,
}

/// Where the key is: the same setting as `serve`'s.
#[derive(Debug, Args)]
pub struct KeyArgs {
    /// The key file [default: secret.key in the data directory]; ROUNDS_SECRET_KEY (base64) takes its place
    #[arg(
        long,
        env = "ROUNDS_SECRET_KEY_FILE",
        value_name = "FILE",
        global = true
    )]
    pub secret_key_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum SecretKeyCommand {
    /// Print the fingerprint the database expects and that of the key configured here
    Show,
    /// Make the configured key (created if missing) the database's key; refused while EHR secrets are sealed
    Replace,
}

pub async fn run(args: SecretKeyArgs) -> anyhow::Result<ExitCode> {
    let app = open_app(&args.storage, AppConfig::default()).await?;
    let key_file = args.key.secret_key_file.as_deref();
    let result = async {
        let (expected, sealed) = app.secret_key_check().await?;
        match args.command {
            SecretKeyCommand::Show => {
                println!(
                    "the database expects: {} ({sealed} EHR connection(s) or sign-in provider(s) hold sealed secrets)",
                    expected
                        .as_deref()
                        .unwrap_or("no key yet (recorded at the next start)")
                );
                match load_secret_key(&app, &args.storage, key_file, false).await {
                    Ok((key, origin)) => {
                        println!("configured here:      {} from {origin}", key.fingerprint())
                    }
                    Err(err) => println!("configured here:      none usable ({err:#})"),
                }
                Ok(ExitCode::SUCCESS)
            }
            SecretKeyCommand::Replace => {
                let (key, origin) = load_secret_key(&app, &args.storage, key_file, true).await?;
                let fingerprint = key.fingerprint();
                app.replace_secret_key(key)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot replace the secret key: {e}"))?;
                println!("the database's secret key is now {fingerprint} (from {origin})");
                Ok(ExitCode::SUCCESS)
            }
        }
    }
    .await;
    app.close().await;
    result
}
