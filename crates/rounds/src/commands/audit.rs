use std::process::ExitCode;

use clap::Subcommand;
use rounds_app::AppConfig;

use super::open_app;
use crate::config::StorageArgs;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain of the whole log; names the first broken record
    Verify,
}

pub async fn run(storage: &StorageArgs, cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    let app = open_app(storage, AppConfig::default()).await?;
    let AuditCommand::Verify = cmd;
    let report = app.verify_audit().await;
    app.close().await;
    let report = report?;
    match report.first_break {
        None => {
            println!("audit log intact: {} records verified", report.checked);
            Ok(ExitCode::SUCCESS)
        }
        Some(broken) => {
            println!("audit log BROKEN: {broken}");
            println!("({} records before it verified)", report.checked);
            Ok(ExitCode::from(2))
        }
    }
}
