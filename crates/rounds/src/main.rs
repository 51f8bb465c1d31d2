//! `rounds`: the one binary. `rounds serve` runs the web server; the other
//! subcommands administer the same database from the console.

mod commands;
mod config;

use std::process::ExitCode;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::{ServeArgs, StorageArgs};

#[derive(Debug, Parser)]
#[command(
    name = "rounds",
    version,
    about = "Shared patient lists for hospital care teams"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The commands that use Rounds' database take its settings; `demo` and
/// `ehr` use none and do not offer them.
#[derive(Debug, Args)]
struct ServeCommand {
    #[command(flatten)]
    storage: StorageArgs,
    #[command(flatten)]
    args: ServeArgs,
}

#[derive(Debug, Args)]
struct UserArgs {
    #[command(flatten)]
    storage: StorageArgs,
    #[command(subcommand)]
    command: commands::user::UserCommand,
}

#[derive(Debug, Args)]
struct TeamArgs {
    #[command(flatten)]
    storage: StorageArgs,
    #[command(subcommand)]
    command: commands::team::TeamCommand,
}

#[derive(Debug, Args)]
struct AuditArgs {
    #[command(flatten)]
    storage: StorageArgs,
    #[command(subcommand)]
    command: commands::audit::AuditCommand,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the web server (creates the first administrator on an empty database)
    Serve(Box<ServeCommand>),
    /// Try Rounds: a demo team and ward list fed by a built-in sandbox EHR, in a throwaway directory
    Demo(commands::demo::DemoArgs),
    /// Manage accounts from the console
    User(UserArgs),
    /// Work with the audit log
    Audit(AuditArgs),
    /// Create teams from the console, from a template if asked (`rounds team templates`)
    Team(TeamArgs),
    /// Write a consistent copy of the SQLite database to a new file while Rounds runs
    Backup(commands::backup::BackupArgs),
    /// Put a backup in place of a missing SQLite database (Rounds stopped), and verify its audit log
    Restore(commands::backup::BackupArgs),
    /// The key that seals EHR connection secrets: show its fingerprint, replace it
    SecretKey(commands::secret_key::SecretKeyArgs),
    /// Talk to a FHIR server as EHR mode does: probe, search, patient, check
    #[command(subcommand)]
    Ehr(Box<commands::ehr::EhrCommand>),
    /// The interoperability gateway: token server, tenant-routed FHIR proxy (see `rounds gateway --help`)
    Gateway(commands::gateway::GatewayArgs),
}

/// mimalloc rather than glibc's malloc: with many short-lived answer
/// buffers (FHIR Bundles, proxied answers), glibc spent about a fifth of
/// the time in malloc, free and malloc_consolidate.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // The gateway has settings of its own: its arguments go to its parser.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let gateway = commands::gateway::is_gateway(&args);
    let cli = if gateway {
        None
    } else {
        // The configuration file's settings become the arguments' defaults.
        let cmd = match config::with_file_defaults(Cli::command(), &args) {
            Ok(cmd) => cmd,
            Err(err) => {
                eprintln!("error: {err:#}");
                return ExitCode::FAILURE;
            }
        };
        let matches = cmd.get_matches_from(&args);
        match Cli::from_arg_matches(&matches) {
            Ok(cli) => Some(cli),
            Err(err) => err.exit(),
        }
    };
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
            Command::Serve(serve) => commands::serve::run(&serve.storage, &serve.args).await,
            Command::Demo(args) => commands::demo::run(&args).await,
            Command::User(user) => commands::user::run(&user.storage, user.command).await,
            Command::Audit(audit) => commands::audit::run(&audit.storage, audit.command).await,
            Command::Team(team) => commands::team::run(&team.storage, team.command).await,
            Command::Backup(args) => commands::backup::backup(args).await,
            Command::Restore(args) => commands::backup::restore(args).await,
            Command::SecretKey(args) => commands::secret_key::run(args).await,
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
