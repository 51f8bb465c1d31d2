//! `rounds`: the one binary. `rounds serve` runs the web server; the other
//! subcommands administer the same database from the console.

mod commands;
mod config;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{ServeArgs, StorageArgs};

#[derive(Debug, Parser)]
#[command(
    name = "rounds",
    version,
    about = "Shared patient lists for hospital care teams"
)]
struct Cli {
    #[command(flatten)]
    storage: StorageArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the web server (creates the first administrator on an empty database)
    Serve(Box<ServeArgs>),
    /// Try Rounds: a demo team and ward list fed by a built-in sandbox EHR, in a throwaway directory
    Demo(commands::demo::DemoArgs),
    /// Manage accounts from the console
    #[command(subcommand)]
    User(commands::user::UserCommand),
    /// Work with the audit log
    #[command(subcommand)]
    Audit(commands::audit::AuditCommand),
    /// Talk to a FHIR server as EHR mode does: probe, search, patient, check
    #[command(subcommand)]
    Ehr(Box<commands::ehr::EhrCommand>),
    /// The interoperability gateway: token server, tenant-routed FHIR proxy (see `rounds gateway --help`)
    Gateway(commands::gateway::GatewayArgs),
}

fn main() -> ExitCode {
    // The gateway has settings of its own: its arguments go to its parser.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let gateway = commands::gateway::is_gateway(&args);
    let cli = if gateway { None } else { Some(Cli::parse()) };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let Some(cli) = cli else {
            return commands::gateway::run(args.into_iter().skip(1).collect()).await;
        };
        match cli.command {
            Command::Serve(args) => commands::serve::run(&cli.storage, &args).await,
            Command::Demo(args) => commands::demo::run(&args).await,
            Command::User(cmd) => commands::user::run(&cli.storage, cmd).await,
            Command::Audit(cmd) => commands::audit::run(&cli.storage, cmd).await,
            Command::Ehr(cmd) => commands::ehr::run(*cmd).await,
            Command::Gateway(_) => Err(anyhow::anyhow!(
                "put the gateway's options after `gateway` (it has settings of its own): rounds gateway --help"
            )),
        }
    });
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
