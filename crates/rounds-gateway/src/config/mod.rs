//! The gateway's settings, from (highest first) command-line flags,
//! `ROUNDS_GATEWAY_*` environment variables, an optional TOML file, and
//! built-in defaults: the same layering as `rounds serve` (rounds-config's),
//! with names of its own so a gateway and a Rounds server on one machine
//! never share a data directory or database by accident. Each setting is
//! one field below, its default one constant of [`Settings`] or
//! [`Storage`]; the file sets the same settings under the field's name,
//! and its `[[tenants]]` tables ([`FileSections`]).

mod commands;

pub use commands::{
    AdminTokenCommand, AuditCommand, AuditQueryArgs, ClientCommand, GatewayCli, GatewayCommand,
    KeysCommand, TenantAddArgs, TenantCommand,
};

use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::builder::RangedU64ValueParser;
use clap::{value_parser, Args, CommandFactory, FromArgMatches, Parser, ValueEnum};
use rounds_config::Layering;
use serde::Deserialize;

use crate::audit::{AsyncLimits, AuditSync};
use crate::tenants::UpstreamAuth;

/// The gateway's configuration file: `ROUNDS_GATEWAY_*` settings and
/// `[[tenants]]`.
pub const LAYERING: Layering = Layering {
    program: "the gateway",
    env_prefix: "ROUNDS_GATEWAY_",
    config_arg: "config",
    sections: &["tenants"],
    listed_in: "`rounds gateway --help` and `rounds gateway serve --help`",
};

/// Where the gateway keeps its registry; shared by every subcommand.
#[derive(Debug, Clone, Args)]
pub struct StorageArgs {
    /// TOML file with settings (the flags' long names in snake_case, plus [[tenants]])
    #[arg(
        long,
        env = "ROUNDS_GATEWAY_CONFIG",
        global = true,
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,
    /// Directory for the gateway's own files
    #[arg(long, env = "ROUNDS_GATEWAY_DATA_DIR", global = true, value_name = "DIR",
          default_value = Storage::DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// Database URL: sqlite://PATH or postgres://USER:PASSWORD@HOST/DB (PostgreSQL for several instances) [default: gateway.db in the data directory]
    #[arg(
        long,
        env = "ROUNDS_GATEWAY_DATABASE_URL",
        global = true,
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// Most database connections held open
    #[arg(long, env = "ROUNDS_GATEWAY_DB_MAX_CONNECTIONS", global = true, value_name = "N",
          default_value_t = Storage::DEFAULT_DB_MAX_CONNECTIONS, value_parser = value_parser!(u32).range(1..))]
    pub db_max_connections: u32,
    /// Key file sealing upstream credentials and signing keys; created (mode 0600) on first use. ROUNDS_GATEWAY_SECRET_KEY (base64 of 32 bytes) takes its place [default: secret.key in the data directory]
    #[arg(
        long,
        env = "ROUNDS_GATEWAY_SECRET_KEY_FILE",
        global = true,
        value_name = "FILE"
    )]
    pub secret_key_file: Option<PathBuf>,
}

/// The log's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Lines for people.
    Text,
    /// One JSON object per line.
    Json,
}

/// `rounds gateway serve`
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address and port to listen on
    #[arg(long, env = "ROUNDS_GATEWAY_LISTEN", value_name = "ADDR",
          default_value_t = Settings::DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// The address callers use, e.g. https://gateway.example; the FHIR base, the token URL's origin and the tokens' issuer [default: http://LISTEN]
    #[arg(long, env = "ROUNDS_GATEWAY_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// Seconds an access token is valid
    #[arg(long, env = "ROUNDS_GATEWAY_TOKEN_LIFETIME", value_name = "SECONDS",
          default_value_t = Settings::DEFAULT_TOKEN_LIFETIME_SECS, value_parser = value_parser!(u64).range(1..))]
    pub token_lifetime: u64,
    /// Seconds a token's client and secret state is cached; bounds how long a revocation takes to reach every instance
    #[arg(long, env = "ROUNDS_GATEWAY_REVOCATION_CHECK", value_name = "SECONDS",
          default_value_t = Settings::DEFAULT_REVOCATION_CHECK_SECS, value_parser = value_parser!(u64).range(1..))]
    pub revocation_check: u64,
    /// Seconds an upstream request may take before the caller gets 504
    #[arg(long, env = "ROUNDS_GATEWAY_UPSTREAM_TIMEOUT", value_name = "SECONDS",
          default_value_t = Settings::DEFAULT_UPSTREAM_TIMEOUT_SECS, value_parser = value_parser!(u64).range(1..))]
    pub upstream_timeout: u64,
    /// Largest request body accepted, bytes
    #[arg(long, env = "ROUNDS_GATEWAY_MAX_REQUEST_BYTES", value_name = "BYTES",
          default_value_t = Settings::DEFAULT_MAX_REQUEST_BYTES,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_request_bytes: usize,
    /// Largest upstream answer passed on, bytes
    #[arg(long, env = "ROUNDS_GATEWAY_MAX_RESPONSE_BYTES", value_name = "BYTES",
          default_value_t = Settings::DEFAULT_MAX_RESPONSE_BYTES,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_response_bytes: usize,
    /// Address ranges upstreams may be in, comma-separated; link-local and cloud metadata addresses are always refused [default: any]
    #[arg(
        long,
        env = "ROUNDS_GATEWAY_ALLOWED_NETWORKS",
        value_name = "CIDRS",
        value_delimiter = ','
    )]
    pub allowed_networks: Vec<String>,
    /// Requests per client per minute on the FHIR routes; 0 for no limit
    #[arg(long, env = "ROUNDS_GATEWAY_RATE_LIMIT", value_name = "N",
          default_value_t = Settings::DEFAULT_RATE_LIMIT)]
    pub rate_limit: u32,
    /// When an audit record is written: "commit" (committed and on disk before the answer goes out, so no crash loses a record of an answered request), "batched" (committed before the answer, on disk within about a second: a power loss or OS crash, on PostgreSQL also a crash of the database server, can lose the last second's records), or "async" (the answer does not wait: a background writer commits records in batches; a crash of the gateway process or a power loss can lose the records of requests answered in the last audit_max_lag, at most audit_queue plus 512 records; flushed on a graceful shutdown). None of them can break the chain
    #[arg(long, env = "ROUNDS_GATEWAY_AUDIT_SYNC", value_name = "MODE", value_enum,
          hide_possible_values = true, default_value_t = AuditSync::default())]
    pub audit_sync: AuditSync,
    /// audit_sync = "async": audit records waiting for the writer at most; a request finding the queue full waits for room (no record is dropped)
    #[arg(long, env = "ROUNDS_GATEWAY_AUDIT_QUEUE", value_name = "RECORDS",
          default_value_t = AsyncLimits::DEFAULT_QUEUE,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    pub audit_queue: usize,
    /// audit_sync = "async": milliseconds the oldest uncommitted audit record may wait; beyond, every request waits for its own record's commit (as in "commit" mode), so a crash loses at most this long a stretch of records
    #[arg(long, env = "ROUNDS_GATEWAY_AUDIT_MAX_LAG", value_name = "MS",
          default_value_t = AsyncLimits::DEFAULT_MAX_LAG_MS, value_parser = value_parser!(u64).range(1..=60_000))]
    pub audit_max_lag: u64,
    /// Log format: text or json
    #[arg(long, env = "ROUNDS_GATEWAY_LOG_FORMAT", value_name = "FORMAT", value_enum,
          hide_possible_values = true, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// The command line of `rounds gateway` (`argv` from `gateway` on), with
/// the configuration file's settings as the arguments' defaults. A command
/// line clap refuses (or `--help`) ends the process as clap does.
pub fn parse(argv: &[OsString]) -> anyhow::Result<GatewayCli> {
    let cmd = LAYERING.with_file_defaults(GatewayCli::command(), argv)?;
    let matches = cmd.get_matches_from(argv);
    GatewayCli::from_arg_matches(&matches).map_err(|e| e.exit())
}

/// `serve`'s settings alone, for commands that need one of them (`keys`:
/// the token lifetime; `audit export`: the public URL).
#[derive(Debug, Parser)]
struct ServeOnly {
    #[command(flatten)]
    storage: StorageArgs,
    #[command(flatten)]
    serve: ServeArgs,
}

/// `serve`'s settings as the configuration file at `config` (if any), the
/// environment and the defaults give them.
pub fn serve_args(config: Option<&Path>) -> anyhow::Result<ServeArgs> {
    let mut argv: Vec<OsString> = vec!["rounds gateway".into()];
    if let Some(path) = config {
        argv.push("--config".into());
        argv.push(path.into());
    }
    let cmd = LAYERING.with_file_defaults(ServeOnly::command(), &argv)?;
    let matches = cmd.try_get_matches_from(&argv)?;
    Ok(ServeOnly::from_arg_matches(&matches)?.serve)
}

/// A tenant in the configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTenant {
    /// The tenant id.
    pub id: String,
    /// The upstream FHIR base URL.
    pub base_url: String,
    /// Its FHIR version.
    #[serde(default = "default_version")]
    pub fhir_version: String,
    /// Whether writes pass.
    #[serde(default)]
    pub allow_writes: bool,
    /// How to authenticate upstream.
    #[serde(default = "no_auth")]
    pub auth: UpstreamAuth,
    /// The environment variable with the upstream secret.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// The file with the upstream secret.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
}

fn default_version() -> String {
    "4.0.1".into()
}

fn no_auth() -> UpstreamAuth {
    UpstreamAuth::None
}

/// The parts of the file that are not command-line settings.
#[derive(Debug, Default, Deserialize)]
pub struct FileSections {
    /// `[[tenants]]`: tenants kept as the file says.
    #[serde(default)]
    pub tenants: Vec<FileTenant>,
}

impl FileSections {
    /// The sections of the file at `path` (none without a file).
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        Ok(LAYERING.load_sections(path)?)
    }
}

/// Storage with every layer applied.
#[derive(Debug, Clone)]
pub struct Storage {
    pub data_dir: PathBuf,
    /// The database is the default SQLite file inside `data_dir`.
    pub in_data_dir: bool,
    pub database_url: String,
    pub db_max_connections: u32,
    pub secret_key_file: PathBuf,
}

impl Storage {
    /// Where the gateway's files are unless configured.
    pub const DEFAULT_DATA_DIR: &'static str = "./rounds-gateway-data";
    /// Database connections held open at most.
    pub const DEFAULT_DB_MAX_CONNECTIONS: u32 = 10;

    pub fn resolve(args: &StorageArgs) -> Self {
        let data_dir = args.data_dir.clone();
        let in_data_dir = args.database_url.is_none();
        let database_url = args
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("gateway.db").display()));
        let secret_key_file = args
            .secret_key_file
            .clone()
            .unwrap_or_else(|| data_dir.join("secret.key"));
        Self {
            data_dir,
            in_data_dir,
            database_url,
            db_max_connections: args.db_max_connections,
            secret_key_file,
        }
    }

    /// The URL without its password, for messages.
    pub fn database_url_redacted(&self) -> String {
        rounds_db::redact_url(&self.database_url)
    }
}

/// The server's settings with every layer applied.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    /// Without a trailing slash.
    pub public_url: String,
    pub token_lifetime: Duration,
    pub revocation_check: Duration,
    pub upstream_timeout: Duration,
    pub max_request_bytes: usize,
    pub max_response_bytes: usize,
    pub outbound: rounds_fhir::OutboundPolicy,
    /// Requests per client per minute; 0: none.
    pub rate_limit: u32,
    pub audit_sync: AuditSync,
    /// The bounds of `audit_sync = "async"`.
    pub audit_async: AsyncLimits,
    pub json_logs: bool,
}

impl Settings {
    /// Where the gateway listens unless configured.
    pub const DEFAULT_LISTEN: SocketAddr =
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 1), 8090));
    /// Seconds an access token is valid.
    pub const DEFAULT_TOKEN_LIFETIME_SECS: u64 = 300;
    /// Seconds a token's client and secret state is cached.
    pub const DEFAULT_REVOCATION_CHECK_SECS: u64 = 5;
    /// Seconds an upstream request may take.
    pub const DEFAULT_UPSTREAM_TIMEOUT_SECS: u64 = 30;
    /// Largest request body, bytes.
    pub const DEFAULT_MAX_REQUEST_BYTES: usize = 1 << 20;
    /// Largest upstream answer, bytes.
    pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 32 << 20;
    /// Requests per client per minute.
    pub const DEFAULT_RATE_LIMIT: u32 = 600;

    /// The built-in defaults (no file, no environment, no flags).
    pub fn defaults() -> anyhow::Result<Self> {
        let cmd = ServeOnly::command().mut_args(|a| a.env(None::<&'static str>));
        let matches = cmd.try_get_matches_from(["rounds gateway"])?;
        Self::resolve(&ServeOnly::from_arg_matches(&matches)?.serve)
    }

    pub fn resolve(args: &ServeArgs) -> anyhow::Result<Self> {
        let listen = args.listen;
        let public_url = args
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{listen}"));
        let parsed = url::Url::parse(&public_url)
            .with_context(|| format!("public_url {public_url:?} is not a URL"))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.query().is_some() {
            bail!("public_url {public_url:?} must be an http or https address without a query");
        }
        let public_url = public_url.trim_end_matches('/').to_owned();
        let networks: Vec<String> = args
            .allowed_networks
            .iter()
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .collect();
        let outbound = rounds_fhir::OutboundPolicy::parse_allowed(&networks)
            .map_err(|e| anyhow::anyhow!("allowed_networks: {e}"))?;
        Ok(Self {
            listen,
            public_url,
            token_lifetime: Duration::from_secs(args.token_lifetime),
            revocation_check: Duration::from_secs(args.revocation_check),
            upstream_timeout: Duration::from_secs(args.upstream_timeout),
            max_request_bytes: args.max_request_bytes,
            max_response_bytes: args.max_response_bytes,
            outbound,
            rate_limit: args.rate_limit,
            audit_sync: args.audit_sync,
            audit_async: AsyncLimits {
                queue: args.audit_queue,
                max_lag: Duration::from_millis(args.audit_max_lag),
            },
            json_logs: args.log_format == LogFormat::Json,
        })
    }
}

#[cfg(test)]
mod tests;
