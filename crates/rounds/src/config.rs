//! Settings. Each one is a single field of an `Args` struct below, where its
//! flag, its `ROUNDS_*` environment variable, its help, its check and its
//! default are written once (the defaults are the constants of the crate
//! that uses the setting). A TOML file named by `--config` / `ROUNDS_CONFIG`
//! sets the same settings under the field's name: [`with_file_defaults`]
//! makes its values the arguments' defaults before the command line is
//! parsed, so a flag beats the environment, which beats the file, which
//! beats the built-in default — clap does the layering (rounds-config's,
//! shared with `rounds gateway`). README.md's
//! "Configuration" table is tested against these definitions (below).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::bail;
use clap::builder::RangedU64ValueParser;
use clap::{value_parser, ArgAction, Args, ValueEnum};

use rounds_app::ehr::EhrSettings;
use rounds_app::sso::SsoSettings;
use rounds_app::{AppConfig, DbOptions};
use rounds_web::ServerLimits;

/// Where the data lives; shared by every command that uses the database.
#[derive(Debug, Clone, Args)]
pub struct StorageArgs {
    /// TOML file with settings (keys as in README's table, e.g. `listen = "0.0.0.0:8080"`)
    #[arg(long, env = "ROUNDS_CONFIG", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory for Rounds' own files (the SQLite database by default)
    #[arg(
        long,
        env = "ROUNDS_DATA_DIR",
        global = true,
        value_name = "DIR",
        default_value = "./rounds-data"
    )]
    pub data_dir: PathBuf,
    /// Database URL: sqlite://PATH or postgres://USER:PASSWORD@HOST/DB [default: SQLite file rounds.db in the data directory]
    #[arg(
        long,
        env = "ROUNDS_DATABASE_URL",
        global = true,
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// Most database connections held open
    #[arg(
        long,
        env = "ROUNDS_DB_MAX_CONNECTIONS",
        global = true,
        value_name = "N",
        default_value_t = DbOptions::DEFAULT_MAX_CONNECTIONS,
        value_parser = value_parser!(u32).range(1..)
    )]
    pub db_max_connections: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Settings of `rounds serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address and port to listen on
    #[arg(
        long,
        env = "ROUNDS_LISTEN",
        value_name = "ADDR",
        default_value = "127.0.0.1:8080"
    )]
    pub listen: SocketAddr,
    /// The address people use to reach Rounds, e.g. https://rounds.hospital.example; an https address marks cookies Secure [default: the listen address]
    #[arg(long, env = "ROUNDS_PUBLIC_URL", value_name = "URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,
    /// Rounds is served over HTTPS by a proxy in front of it: mark cookies Secure
    #[arg(long, env = "ROUNDS_BEHIND_TLS", value_name = "BOOL", action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", default_value_t = false)]
    pub behind_tls: bool,
    /// Take the client address from X-Forwarded-For (only behind a proxy that sets it)
    #[arg(long, env = "ROUNDS_TRUST_FORWARDED_FOR", value_name = "BOOL", action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", default_value_t = false)]
    pub trust_forwarded_for: bool,
    /// Seconds of inactivity after which a session ends
    #[arg(long, env = "ROUNDS_SESSION_IDLE_TIMEOUT", value_name = "SECONDS",
          default_value_t = AppConfig::DEFAULT_SESSION_IDLE_SECS, value_parser = value_parser!(u64).range(1..))]
    pub session_idle_timeout: u64,
    /// Seconds after sign-in at which a session ends regardless
    #[arg(long, env = "ROUNDS_SESSION_ABSOLUTE_TIMEOUT", value_name = "SECONDS",
          default_value_t = AppConfig::DEFAULT_SESSION_ABSOLUTE_SECS, value_parser = value_parser!(u64).range(1..))]
    pub session_absolute_timeout: u64,
    /// Failed sign-ins per account before it is locked for the window
    #[arg(long, env = "ROUNDS_SIGNIN_MAX_FAILURES", value_name = "N",
          default_value_t = AppConfig::DEFAULT_SIGNIN_MAX_FAILURES_PER_ACCOUNT, value_parser = value_parser!(u32).range(1..))]
    pub signin_max_failures: u32,
    /// Failed sign-ins per client address before it is locked for the window
    #[arg(long, env = "ROUNDS_SIGNIN_MAX_FAILURES_PER_ADDRESS", value_name = "N",
          default_value_t = AppConfig::DEFAULT_SIGNIN_MAX_FAILURES_PER_ADDRESS, value_parser = value_parser!(u32).range(1..))]
    pub signin_max_failures_per_address: u32,
    /// Seconds over which failed sign-ins are counted, and the lockout length
    #[arg(long, env = "ROUNDS_SIGNIN_WINDOW", value_name = "SECONDS",
          default_value_t = AppConfig::DEFAULT_SIGNIN_WINDOW_SECS, value_parser = value_parser!(u64).range(1..))]
    pub signin_window: u64,
    /// Log format (logs go to stderr; the level comes from ROUNDS_LOG, e.g. debug)
    #[arg(
        long,
        env = "ROUNDS_LOG_FORMAT",
        value_name = "FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,
    /// Address and port for Prometheus metrics at /metrics, apart from the main listener (e.g. 127.0.0.1:9090) [default: no metrics]
    #[arg(long, env = "ROUNDS_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// With metrics_listen: a token (at least 16 characters) scrapers must send as `Authorization: Bearer TOKEN` [default: none; the address alone guards the metrics]
    #[arg(
        long,
        env = "ROUNDS_METRICS_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub metrics_token: Option<String>,
    /// On PostgreSQL, wake live feeds at once with LISTEN/NOTIFY when another instance commits a change; turn off where LISTEN does not work (a PgBouncer in transaction mode), live feeds then poll every 250 ms
    #[arg(long, env = "ROUNDS_LIVE_NOTIFY", value_name = "BOOL", action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", default_value_t = AppConfig::DEFAULT_LIVE_NOTIFY)]
    pub live_notify: bool,
    #[command(flatten)]
    pub edge: EdgeArgs,
    #[command(flatten)]
    pub ehr: EhrArgs,
    #[command(flatten)]
    pub sso: SsoArgs,
}

/// Single sign-on settings (the providers themselves are the TOML file's
/// `[[sso_providers]]` tables, see [`FileSections`], or on the admin page).
#[derive(Debug, Clone, Args)]
pub struct SsoArgs {
    /// Let people sign in with a Rounds username and password; false leaves that only to break_glass_admins
    #[arg(long, env = "ROUNDS_LOCAL_SIGN_IN", value_name = "BOOL", action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", default_value_t = SsoSettings::DEFAULT_LOCAL_SIGN_IN)]
    pub local_sign_in: bool,
    /// With local_sign_in = false: the site administrators (usernames, comma-separated) who may still sign in with a password [default: none]
    #[arg(
        long,
        env = "ROUNDS_BREAK_GLASS_ADMINS",
        value_name = "USERNAMES",
        value_delimiter = ','
    )]
    pub break_glass_admins: Vec<String>,
    /// Seconds of clock difference tolerated on ID token times
    #[arg(long, env = "ROUNDS_SSO_CLOCK_SKEW", value_name = "SECONDS",
          default_value_t = SsoSettings::DEFAULT_CLOCK_SKEW_SECS)]
    pub sso_clock_skew: u64,
}

/// The server's edge: forwarded addresses and connection limits.
#[derive(Debug, Clone, Args)]
pub struct EdgeArgs {
    /// With trust_forwarded_for: the address ranges of the proxies in front of Rounds, comma-separated; X-Forwarded-For is then read only from a peer inside them, skipping their entries from the right [default: the immediate peer only, whose rightmost entry is taken]
    #[arg(
        long,
        env = "ROUNDS_TRUSTED_PROXIES",
        value_name = "CIDRS",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<String>,
    /// Seconds a connection may take to send a request's headers
    #[arg(long, env = "ROUNDS_HEADER_READ_TIMEOUT", value_name = "SECONDS",
          default_value_t = ServerLimits::DEFAULT_HEADER_READ_TIMEOUT_SECS, value_parser = value_parser!(u64).range(1..))]
    pub header_read_timeout: u64,
    /// Seconds a request may take to send its body
    #[arg(long, env = "ROUNDS_BODY_READ_TIMEOUT", value_name = "SECONDS",
          default_value_t = ServerLimits::DEFAULT_BODY_READ_TIMEOUT_SECS, value_parser = value_parser!(u64).range(1..))]
    pub body_read_timeout: u64,
    /// Most client connections open at once; further ones wait to be accepted
    #[arg(long, env = "ROUNDS_MAX_CONNECTIONS", value_name = "N",
          default_value_t = ServerLimits::DEFAULT_MAX_CONNECTIONS,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_connections: usize,
}

/// EHR mode's settings.
#[derive(Debug, Clone, Args)]
pub struct EhrArgs {
    /// The key file sealing EHR connection secrets; created (mode 0600) on first start. ROUNDS_SECRET_KEY (base64 of 32 bytes) takes its place [default: secret.key in the data directory]
    #[arg(long, env = "ROUNDS_SECRET_KEY_FILE", value_name = "FILE")]
    pub secret_key_file: Option<PathBuf>,
    /// Address ranges EHR connections may reach, comma-separated (e.g. 10.20.0.0/16,192.168.5.0/24); cloud metadata and link-local addresses are always refused [default: any]
    #[arg(
        long,
        env = "ROUNDS_EHR_ALLOWED_NETWORKS",
        value_name = "CIDRS",
        value_delimiter = ','
    )]
    pub ehr_allowed_networks: Vec<String>,
    /// Seconds after which a list re-reads a patient's EHR data
    #[arg(long, env = "ROUNDS_EHR_REFRESH", value_name = "SECONDS",
          default_value_t = EhrSettings::DEFAULT_REFRESH_SECS, value_parser = value_parser!(u64).range(1..))]
    pub ehr_refresh: u64,
    /// Seconds EHR data is kept in memory at most (it is never written to disk)
    #[arg(long, env = "ROUNDS_EHR_CACHE_TTL", value_name = "SECONDS",
          default_value_t = EhrSettings::DEFAULT_CACHE_TTL_SECS, value_parser = value_parser!(u64).range(1..))]
    pub ehr_cache_ttl: u64,
    /// Patients whose EHR data is kept in memory at most
    #[arg(long, env = "ROUNDS_EHR_CACHE_MAX_PATIENTS", value_name = "N",
          default_value_t = EhrSettings::DEFAULT_CACHE_MAX_PATIENTS,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub ehr_cache_max_patients: usize,
    /// Seconds a list waits for the EHR before showing what it has
    #[arg(long, env = "ROUNDS_EHR_LIST_WAIT", value_name = "SECONDS",
          default_value_t = EhrSettings::DEFAULT_LIST_WAIT_SECS, value_parser = value_parser!(u64).range(1..))]
    pub ehr_list_wait: u64,
    /// Seconds one FHIR request may take
    #[arg(long, env = "ROUNDS_EHR_TIMEOUT", value_name = "SECONDS",
          default_value_t = EhrSettings::DEFAULT_REQUEST_TIMEOUT_SECS, value_parser = value_parser!(u64).range(1..))]
    pub ehr_timeout: u64,
    /// A PEM file of extra CA certificates for EHR servers with a private CA
    #[arg(long, env = "ROUNDS_EHR_CA_FILE", value_name = "FILE")]
    pub ehr_ca_file: Option<PathBuf>,
    /// Let EHR connections reach loopback addresses (127.0.0.0/8, ::1), e.g. an EHR on the same host
    #[arg(long, env = "ROUNDS_EHR_ALLOW_LOOPBACK", value_name = "BOOL", action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", default_value_t = false)]
    pub ehr_allow_loopback: bool,
}

fn parse_public_url(url: &str) -> Result<String, String> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(url.to_owned())
    } else {
        Err("it must start with http:// or https://".into())
    }
}

// ------------------------------------------------------- resolved settings

/// Storage settings as the application uses them.
#[derive(Debug, Clone)]
pub struct Storage {
    pub data_dir: PathBuf,
    /// The database is the default SQLite file inside `data_dir`.
    pub in_data_dir: bool,
    pub database_url: String,
    pub db_max_connections: u32,
}

impl Storage {
    pub fn resolve(args: &StorageArgs) -> Self {
        let database_url = args
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", args.data_dir.join("rounds.db").display()));
        Self {
            data_dir: args.data_dir.clone(),
            in_data_dir: args.database_url.is_none(),
            database_url,
            db_max_connections: args.db_max_connections,
        }
    }

    /// The URL without its password, for messages.
    pub fn database_url_redacted(&self) -> String {
        redact_url(&self.database_url)
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`
/// (rounds-db's, which the gateway uses too).
pub use rounds_store::redact_url;

/// Settings of the server as the application uses them.
#[derive(Debug, Clone)]
pub struct Serve {
    pub listen: SocketAddr,
    pub public_url: Option<String>,
    pub cookie_secure: bool,
    pub trust_forwarded_for: bool,
    pub app: rounds_app::AppConfig,
    pub log_format: LogFormat,
    pub edge: Edge,
    /// Where `/metrics` is served, and the token it asks for.
    pub metrics_listen: Option<SocketAddr>,
    pub metrics_token: Option<String>,
}

/// The edge settings as the server uses them.
#[derive(Debug, Clone)]
pub struct Edge {
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub limits: rounds_web::ServerLimits,
}

/// Address ranges (or single addresses) from a list setting; blank entries
/// are left out.
fn networks(name: &str, entries: &[String]) -> anyhow::Result<Vec<ipnet::IpNet>> {
    let mut nets = Vec::new();
    for entry in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
        let net = entry
            .parse::<ipnet::IpNet>()
            .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map_err(|_| {
                anyhow::anyhow!("{name}: {entry:?} is not an address range like 10.0.0.0/24")
            })?;
        nets.push(net);
    }
    Ok(nets)
}

impl Edge {
    pub fn resolve(args: &EdgeArgs) -> anyhow::Result<Self> {
        use std::time::Duration;
        Ok(Self {
            trusted_proxies: networks("trusted_proxies", &args.trusted_proxies)?,
            limits: rounds_web::ServerLimits {
                header_read_timeout: Duration::from_secs(args.header_read_timeout),
                body_read_timeout: Duration::from_secs(args.body_read_timeout),
                max_connections: args.max_connections,
            },
        })
    }
}

impl Serve {
    pub fn resolve(args: &ServeArgs) -> anyhow::Result<Self> {
        let https_public = args
            .public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"));
        let app = rounds_app::AppConfig {
            session_idle_secs: args.session_idle_timeout,
            session_absolute_secs: args.session_absolute_timeout,
            signin_max_failures_per_account: args.signin_max_failures,
            signin_max_failures_per_address: args.signin_max_failures_per_address,
            signin_window_secs: args.signin_window,
            ehr: ehr_settings(&args.ehr)?,
            live_notify: args.live_notify,
            sso: sso_settings(&args.sso),
            ..rounds_app::AppConfig::default()
        };
        let metrics_token = args.metrics_token.as_deref().map(|t| t.trim().to_owned());
        match (&args.metrics_listen, &metrics_token) {
            (None, Some(_)) => bail!(
                "metrics_token is set but metrics_listen is not: the metrics are served only on their own address (set metrics_listen too)"
            ),
            (_, Some(t)) if t.len() < 16 => {
                bail!("metrics_token must be at least 16 characters")
            }
            _ => {}
        }
        Ok(Self {
            listen: args.listen,
            public_url: args.public_url.clone(),
            cookie_secure: args.behind_tls || https_public,
            trust_forwarded_for: args.trust_forwarded_for,
            app,
            log_format: args.log_format,
            edge: Edge::resolve(&args.edge)?,
            metrics_listen: args.metrics_listen,
            metrics_token,
        })
    }
}

/// Single sign-on settings as the application uses them.
pub fn sso_settings(args: &SsoArgs) -> SsoSettings {
    let break_glass_admins: Vec<String> = args
        .break_glass_admins
        .iter()
        .map(|n| n.trim().to_lowercase())
        .filter(|n| !n.is_empty())
        .collect();
    if !args.local_sign_in && break_glass_admins.is_empty() {
        tracing::warn!(
            "local_sign_in is off and no break_glass_admins are named: only single sign-on can sign anyone in"
        );
    }
    SsoSettings {
        local_sign_in: args.local_sign_in,
        break_glass_admins,
        clock_skew: std::time::Duration::from_secs(args.sso_clock_skew),
        ..SsoSettings::default()
    }
}

/// EHR mode's limits and outbound policy as the application uses them.
pub fn ehr_settings(args: &EhrArgs) -> anyhow::Result<EhrSettings> {
    use std::time::Duration;
    let allowed: Vec<String> = args
        .ehr_allowed_networks
        .iter()
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .collect();
    let mut outbound = rounds_fhir::OutboundPolicy::parse_allowed(&allowed)
        .map_err(|e| anyhow::anyhow!("ehr_allowed_networks: {e}"))?;
    outbound.allow_loopback = args.ehr_allow_loopback;
    Ok(EhrSettings {
        refresh_after: Duration::from_secs(args.ehr_refresh),
        cache_ttl: Duration::from_secs(args.ehr_cache_ttl),
        cache_max_patients: args.ehr_cache_max_patients,
        list_wait: Duration::from_secs(args.ehr_list_wait),
        request_timeout: Duration::from_secs(args.ehr_timeout),
        outbound: std::sync::Arc::new(outbound),
        extra_ca_file: args.ehr_ca_file.clone(),
        ..EhrSettings::default()
    })
}

/// Where the key sealing EHR connection secrets lives.
pub fn secret_key_file(configured: Option<&Path>, storage: &Storage) -> PathBuf {
    configured
        .map(Path::to_path_buf)
        .unwrap_or_else(|| storage.data_dir.join("secret.key"))
}

mod file;
pub use file::{with_file_defaults, FileProvider, FileSections};

#[cfg(test)]
mod tests;
