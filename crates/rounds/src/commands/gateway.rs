//! `rounds gateway`: the interoperability gateway (crate rounds-gateway),
//! with settings of its own (`ROUNDS_GATEWAY_*`, its own data directory and
//! database), so its arguments are parsed by its own command line.

use std::ffi::OsString;
use std::process::ExitCode;

/// What `rounds --help` lists; the arguments go to the gateway's parser.
#[derive(Debug, clap::Args)]
#[command(disable_help_flag = true)]
pub struct GatewayArgs {
    /// The gateway's subcommand and options (see `rounds gateway --help`)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    pub args: Vec<OsString>,
}

/// Whether the command line is `rounds gateway ...`.
pub fn is_gateway(args: &[OsString]) -> bool {
    args.get(1).is_some_and(|a| a == "gateway")
}

/// Runs `rounds gateway ARGS` (`args` from `gateway` on), its
/// configuration file layered under the environment and the flags as for
/// `rounds serve` (rounds-config).
pub async fn run(args: Vec<OsString>) -> anyhow::Result<ExitCode> {
    rounds_gateway::cli::run_args(&args).await
}
