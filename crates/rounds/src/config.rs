//! Settings, from (highest first) command-line flags, `ROUNDS_*` environment
//! variables, an optional TOML file, and built-in defaults. README.md's
//! "Configuration" table lists every one; `rounds serve --help` too.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
use serde::Deserialize;

/// Where the data lives; shared by every command.
#[derive(Debug, Clone, Args)]
pub struct StorageArgs {
    /// TOML file with settings (keys as in README's table, e.g. `listen = "0.0.0.0:8080"`)
    #[arg(long, env = "ROUNDS_CONFIG", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory for Rounds' own files (the SQLite database by default) [default: ./rounds-data]
    #[arg(long, env = "ROUNDS_DATA_DIR", global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://USER:PASSWORD@HOST/DB [default: SQLite file rounds.db in the data directory]
    #[arg(
        long,
        env = "ROUNDS_DATABASE_URL",
        global = true,
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// Most database connections held open [default: 10]
    #[arg(
        long,
        env = "ROUNDS_DB_MAX_CONNECTIONS",
        global = true,
        value_name = "N"
    )]
    pub db_max_connections: Option<u32>,
}

/// Settings of `rounds serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address and port to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "ROUNDS_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// The address people use to reach Rounds, e.g. https://rounds.hospital.example; an https address marks cookies Secure
    #[arg(long, env = "ROUNDS_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// Rounds is served over HTTPS by a proxy in front of it: mark cookies Secure
    #[arg(long, env = "ROUNDS_BEHIND_TLS", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub behind_tls: Option<bool>,
    /// Take the client address from X-Forwarded-For (only behind a proxy that sets it)
    #[arg(long, env = "ROUNDS_TRUST_FORWARDED_FOR", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub trust_forwarded_for: Option<bool>,
    /// Seconds of inactivity after which a session ends [default: 1800]
    #[arg(long, env = "ROUNDS_SESSION_IDLE_TIMEOUT", value_name = "SECONDS")]
    pub session_idle_timeout: Option<u64>,
    /// Seconds after sign-in at which a session ends regardless [default: 43200]
    #[arg(long, env = "ROUNDS_SESSION_ABSOLUTE_TIMEOUT", value_name = "SECONDS")]
    pub session_absolute_timeout: Option<u64>,
    /// Failed sign-ins per account before it is locked for the window [default: 5]
    #[arg(long, env = "ROUNDS_SIGNIN_MAX_FAILURES", value_name = "N")]
    pub signin_max_failures: Option<u32>,
    /// Failed sign-ins per client address before it is locked for the window [default: 20]
    #[arg(long, env = "ROUNDS_SIGNIN_MAX_FAILURES_PER_ADDRESS", value_name = "N")]
    pub signin_max_failures_per_address: Option<u32>,
    /// Seconds over which failed sign-ins are counted, and the lockout length [default: 900]
    #[arg(long, env = "ROUNDS_SIGNIN_WINDOW", value_name = "SECONDS")]
    pub signin_window: Option<u64>,
    /// Log format: text or json [default: text]
    #[arg(long, env = "ROUNDS_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Address and port for Prometheus metrics at /metrics, apart from the main listener (e.g. 127.0.0.1:9090) [default: no metrics]
    #[arg(long, env = "ROUNDS_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// With metrics_listen: a token scrapers must send as `Authorization: Bearer TOKEN` [default: none; the address alone guards the metrics]
    #[arg(
        long,
        env = "ROUNDS_METRICS_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub metrics_token: Option<String>,
    /// On PostgreSQL, wake live feeds at once with LISTEN/NOTIFY when another instance commits a change; turn off where LISTEN does not work (a PgBouncer in transaction mode), live feeds then poll every 250 ms [default: true]
    #[arg(long, env = "ROUNDS_LIVE_NOTIFY", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub live_notify: Option<bool>,
    #[command(flatten)]
    pub edge: EdgeArgs,
    #[command(flatten)]
    pub ehr: EhrArgs,
}

/// The server's edge: forwarded addresses and connection limits.
#[derive(Debug, Clone, Default, Args)]
pub struct EdgeArgs {
    /// With trust_forwarded_for: the address ranges of the proxies in front of Rounds, comma-separated; X-Forwarded-For is then read only from a peer inside them, skipping their entries from the right [default: the immediate peer only, whose rightmost entry is taken]
    #[arg(
        long,
        env = "ROUNDS_TRUSTED_PROXIES",
        value_name = "CIDRS",
        value_delimiter = ','
    )]
    pub trusted_proxies: Option<Vec<String>>,
    /// Seconds a connection may take to send a request's headers [default: 10]
    #[arg(long, env = "ROUNDS_HEADER_READ_TIMEOUT", value_name = "SECONDS")]
    pub header_read_timeout: Option<u64>,
    /// Seconds a request may take to send its body [default: 30]
    #[arg(long, env = "ROUNDS_BODY_READ_TIMEOUT", value_name = "SECONDS")]
    pub body_read_timeout: Option<u64>,
    /// Most client connections open at once; further ones wait to be accepted [default: 1024]
    #[arg(long, env = "ROUNDS_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,
}

/// EHR mode's settings (shared by `serve` and `demo`).
#[derive(Debug, Clone, Default, Args)]
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
    pub ehr_allowed_networks: Option<Vec<String>>,
    /// Seconds after which a list re-reads a patient's EHR data [default: 60]
    #[arg(long, env = "ROUNDS_EHR_REFRESH", value_name = "SECONDS")]
    pub ehr_refresh: Option<u64>,
    /// Seconds EHR data is kept in memory at most (it is never written to disk) [default: 300]
    #[arg(long, env = "ROUNDS_EHR_CACHE_TTL", value_name = "SECONDS")]
    pub ehr_cache_ttl: Option<u64>,
    /// Patients whose EHR data is kept in memory at most [default: 5000]
    #[arg(long, env = "ROUNDS_EHR_CACHE_MAX_PATIENTS", value_name = "N")]
    pub ehr_cache_max_patients: Option<usize>,
    /// Seconds a list waits for the EHR before showing what it has [default: 5]
    #[arg(long, env = "ROUNDS_EHR_LIST_WAIT", value_name = "SECONDS")]
    pub ehr_list_wait: Option<u64>,
    /// Seconds one FHIR request may take [default: 15]
    #[arg(long, env = "ROUNDS_EHR_TIMEOUT", value_name = "SECONDS")]
    pub ehr_timeout: Option<u64>,
    /// A PEM file of extra CA certificates for EHR servers with a private CA
    #[arg(long, env = "ROUNDS_EHR_CA_FILE", value_name = "FILE")]
    pub ehr_ca_file: Option<PathBuf>,
    /// Let EHR connections reach loopback addresses (127.0.0.0/8, ::1), e.g. an EHR on the same host [default: false]
    #[arg(long, env = "ROUNDS_EHR_ALLOW_LOOPBACK", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub ehr_allow_loopback: Option<bool>,
}

/// The TOML file: the same settings, snake_case.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub db_max_connections: Option<u32>,
    pub listen: Option<SocketAddr>,
    pub public_url: Option<String>,
    pub behind_tls: Option<bool>,
    pub trust_forwarded_for: Option<bool>,
    pub session_idle_timeout: Option<u64>,
    pub session_absolute_timeout: Option<u64>,
    pub signin_max_failures: Option<u32>,
    pub signin_max_failures_per_address: Option<u32>,
    pub signin_window: Option<u64>,
    pub log_format: Option<String>,
    pub secret_key_file: Option<PathBuf>,
    pub ehr_allowed_networks: Option<Vec<String>>,
    pub ehr_refresh: Option<u64>,
    pub ehr_cache_ttl: Option<u64>,
    pub ehr_cache_max_patients: Option<usize>,
    pub ehr_list_wait: Option<u64>,
    pub ehr_timeout: Option<u64>,
    pub ehr_ca_file: Option<PathBuf>,
    pub ehr_allow_loopback: Option<bool>,
    pub trusted_proxies: Option<Vec<String>>,
    pub header_read_timeout: Option<u64>,
    pub body_read_timeout: Option<u64>,
    pub max_connections: Option<usize>,
    pub metrics_listen: Option<SocketAddr>,
    pub metrics_token: Option<String>,
    pub live_notify: Option<bool>,
}

impl FileSettings {
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the configuration file {}", path.display()))?;
        toml::from_str(&text)
            .with_context(|| format!("the configuration file {} is not valid", path.display()))
    }
}

/// Storage settings with every layer applied.
#[derive(Debug, Clone)]
pub struct Storage {
    pub data_dir: PathBuf,
    /// The database is the default SQLite file inside `data_dir`.
    pub in_data_dir: bool,
    pub database_url: String,
    pub db_max_connections: u32,
}

impl Storage {
    pub fn resolve(args: &StorageArgs, file: &FileSettings) -> anyhow::Result<Self> {
        let data_dir = args
            .data_dir
            .clone()
            .or_else(|| file.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from("./rounds-data"));
        let configured = args
            .database_url
            .clone()
            .or_else(|| file.database_url.clone());
        let in_data_dir = configured.is_none();
        let database_url = configured
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("rounds.db").display()));
        Ok(Self {
            data_dir,
            in_data_dir,
            database_url,
            db_max_connections: args
                .db_max_connections
                .or(file.db_max_connections)
                .unwrap_or(10),
        })
    }

    /// The URL without its password, for messages.
    pub fn database_url_redacted(&self) -> String {
        redact_url(&self.database_url)
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((creds, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match creds.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Settings of the server with every layer applied.
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

/// The edge settings with every layer applied.
#[derive(Debug, Clone)]
pub struct Edge {
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub limits: rounds_web::ServerLimits,
}

impl Edge {
    pub fn resolve(args: &EdgeArgs, file: &FileSettings) -> anyhow::Result<Self> {
        let d = rounds_web::ServerLimits::default();
        let secs = |a: Option<u64>, f: Option<u64>, default, name: &str| match a.or(f) {
            Some(0) => bail!("{name} must be at least 1 second"),
            Some(n) => Ok(std::time::Duration::from_secs(n)),
            None => Ok(default),
        };
        let mut trusted_proxies = Vec::new();
        let listed = args
            .trusted_proxies
            .as_ref()
            .or(file.trusted_proxies.as_ref());
        for entry in listed.into_iter().flatten().map(|e| e.trim()) {
            if entry.is_empty() {
                continue;
            }
            let net = entry
                .parse::<ipnet::IpNet>()
                .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    anyhow::anyhow!(
                        "trusted_proxies: {entry:?} is not an address range like 10.0.0.0/24"
                    )
                })?;
            trusted_proxies.push(net);
        }
        let limits = rounds_web::ServerLimits {
            header_read_timeout: secs(
                args.header_read_timeout,
                file.header_read_timeout,
                d.header_read_timeout,
                "header_read_timeout",
            )?,
            body_read_timeout: secs(
                args.body_read_timeout,
                file.body_read_timeout,
                d.body_read_timeout,
                "body_read_timeout",
            )?,
            max_connections: args
                .max_connections
                .or(file.max_connections)
                .unwrap_or(d.max_connections),
        };
        if limits.max_connections == 0 {
            bail!("max_connections must be at least 1");
        }
        Ok(Self {
            trusted_proxies,
            limits,
        })
    }
}

impl Serve {
    pub fn resolve(args: &ServeArgs, file: &FileSettings) -> anyhow::Result<Self> {
        let defaults = rounds_app::AppConfig::default();
        let public_url = args.public_url.clone().or_else(|| file.public_url.clone());
        if let Some(url) = &public_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                bail!("public_url {url:?} must start with http:// or https://");
            }
        }
        let behind_tls = args.behind_tls.or(file.behind_tls).unwrap_or(false);
        let https_public = public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"));
        let log_format = match args
            .log_format
            .as_deref()
            .or(file.log_format.as_deref())
            .unwrap_or("text")
        {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => bail!("log_format {other:?} must be text or json"),
        };
        let app = rounds_app::AppConfig {
            session_idle_secs: args
                .session_idle_timeout
                .or(file.session_idle_timeout)
                .unwrap_or(defaults.session_idle_secs),
            session_absolute_secs: args
                .session_absolute_timeout
                .or(file.session_absolute_timeout)
                .unwrap_or(defaults.session_absolute_secs),
            signin_max_failures_per_account: args
                .signin_max_failures
                .or(file.signin_max_failures)
                .unwrap_or(defaults.signin_max_failures_per_account),
            signin_max_failures_per_address: args
                .signin_max_failures_per_address
                .or(file.signin_max_failures_per_address)
                .unwrap_or(defaults.signin_max_failures_per_address),
            signin_window_secs: args
                .signin_window
                .or(file.signin_window)
                .unwrap_or(defaults.signin_window_secs),
            password_hash_wait_secs: defaults.password_hash_wait_secs,
            ehr: ehr_settings(&args.ehr, file)?,
            live_notify: args
                .live_notify
                .or(file.live_notify)
                .unwrap_or(defaults.live_notify),
            urgent: defaults.urgent.clone(),
        };
        let metrics_listen = args.metrics_listen.or(file.metrics_listen);
        let metrics_token = args
            .metrics_token
            .clone()
            .or_else(|| file.metrics_token.clone())
            .map(|t| t.trim().to_owned());
        match (&metrics_listen, &metrics_token) {
            (None, Some(_)) => bail!(
                "metrics_token is set but metrics_listen is not: the metrics are served only on their own address (set metrics_listen too)"
            ),
            (_, Some(t)) if t.len() < 16 => {
                bail!("metrics_token must be at least 16 characters")
            }
            _ => {}
        }
        if app.session_idle_secs == 0 || app.session_absolute_secs == 0 {
            bail!("session timeouts must be at least 1 second");
        }
        if app.signin_max_failures_per_account == 0 || app.signin_max_failures_per_address == 0 {
            bail!("sign-in failure limits must be at least 1");
        }
        Ok(Self {
            listen: args
                .listen
                .or(file.listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            public_url,
            cookie_secure: behind_tls || https_public,
            trust_forwarded_for: args
                .trust_forwarded_for
                .or(file.trust_forwarded_for)
                .unwrap_or(false),
            app,
            log_format,
            edge: Edge::resolve(&args.edge, file)?,
            metrics_listen,
            metrics_token,
        })
    }
}

/// EHR mode's limits and outbound policy with every layer applied.
pub fn ehr_settings(
    args: &EhrArgs,
    file: &FileSettings,
) -> anyhow::Result<rounds_app::ehr::EhrSettings> {
    use std::time::Duration;
    let d = rounds_app::ehr::EhrSettings::default();
    let secs = |a: Option<u64>, f: Option<u64>, default: Duration, name: &str| match a.or(f) {
        Some(0) => bail!("{name} must be at least 1 second"),
        Some(n) => Ok(Duration::from_secs(n)),
        None => Ok(default),
    };
    let networks = args
        .ehr_allowed_networks
        .clone()
        .or_else(|| file.ehr_allowed_networks.clone())
        .unwrap_or_default();
    let networks: Vec<String> = networks
        .into_iter()
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .collect();
    let mut outbound = rounds_fhir::OutboundPolicy::parse_allowed(&networks)
        .map_err(|e| anyhow::anyhow!("ehr_allowed_networks: {e}"))?;
    outbound.allow_loopback = args
        .ehr_allow_loopback
        .or(file.ehr_allow_loopback)
        .unwrap_or(false);
    let settings = rounds_app::ehr::EhrSettings {
        refresh_after: secs(
            args.ehr_refresh,
            file.ehr_refresh,
            d.refresh_after,
            "ehr_refresh",
        )?,
        cache_ttl: secs(
            args.ehr_cache_ttl,
            file.ehr_cache_ttl,
            d.cache_ttl,
            "ehr_cache_ttl",
        )?,
        cache_max_patients: args
            .ehr_cache_max_patients
            .or(file.ehr_cache_max_patients)
            .unwrap_or(d.cache_max_patients),
        list_wait: secs(
            args.ehr_list_wait,
            file.ehr_list_wait,
            d.list_wait,
            "ehr_list_wait",
        )?,
        retry_after_failure: d.retry_after_failure,
        request_timeout: secs(
            args.ehr_timeout,
            file.ehr_timeout,
            d.request_timeout,
            "ehr_timeout",
        )?,
        outbound: std::sync::Arc::new(outbound),
        extra_ca_file: args
            .ehr_ca_file
            .clone()
            .or_else(|| file.ehr_ca_file.clone()),
    };
    if settings.cache_max_patients == 0 {
        bail!("ehr_cache_max_patients must be at least 1");
    }
    Ok(settings)
}

/// Where the key sealing EHR connection secrets lives.
pub fn secret_key_file(args: &EhrArgs, file: &FileSettings, storage: &Storage) -> PathBuf {
    args.secret_key_file
        .clone()
        .or_else(|| file.secret_key_file.clone())
        .unwrap_or_else(|| storage.data_dir.join("secret.key"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://rounds:s3cret@db/rounds"),
            "postgres://rounds:***@db/rounds"
        );
        assert_eq!(redact_url("sqlite://./x.db"), "sqlite://./x.db");
    }

    #[derive(clap::Parser)]
    struct ServeCli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn serve_with(args: &[&str], file: &str) -> anyhow::Result<Serve> {
        use clap::Parser;
        let cli = ServeCli::try_parse_from(std::iter::once("rounds").chain(args.iter().copied()))?;
        Serve::resolve(&cli.serve, &toml::from_str(file)?)
    }

    #[test]
    fn edge_and_loopback_settings() {
        let d = serve_with(&[], "").unwrap();
        assert!(
            !d.app.ehr.outbound.allow_loopback,
            "serve refuses loopback by default"
        );
        assert!(d.edge.trusted_proxies.is_empty());
        assert_eq!(d.edge.limits, rounds_web::ServerLimits::default());
        assert_eq!(d.edge.limits.header_read_timeout.as_secs(), 10);
        assert_eq!(d.edge.limits.body_read_timeout.as_secs(), 30);
        assert_eq!(d.edge.limits.max_connections, 1024);

        let s = serve_with(
            &[
                "--ehr-allow-loopback",
                "--trusted-proxies",
                "10.0.0.0/24, 192.168.1.7",
                "--header-read-timeout",
                "5",
                "--body-read-timeout",
                "7",
                "--max-connections",
                "50",
            ],
            "",
        )
        .unwrap();
        assert!(s.app.ehr.outbound.allow_loopback);
        let nets: Vec<String> = s
            .edge
            .trusted_proxies
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(nets, ["10.0.0.0/24", "192.168.1.7/32"]);
        assert_eq!(s.edge.limits.header_read_timeout.as_secs(), 5);
        assert_eq!(s.edge.limits.body_read_timeout.as_secs(), 7);
        assert_eq!(s.edge.limits.max_connections, 50);

        let f = serve_with(
            &[],
            "ehr_allow_loopback = true\ntrusted_proxies = [\"fd00::/8\"]\nmax_connections = 9",
        )
        .unwrap();
        assert!(f.app.ehr.outbound.allow_loopback);
        assert_eq!(f.edge.trusted_proxies.len(), 1);
        assert_eq!(f.edge.limits.max_connections, 9);

        for bad in [
            &["--trusted-proxies", "the proxy"][..],
            &["--max-connections", "0"],
            &["--header-read-timeout", "0"],
            &["--body-read-timeout", "0"],
        ] {
            assert!(serve_with(bad, "").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn metrics_and_live_notify_settings() {
        let d = serve_with(&[], "").unwrap();
        assert!(d.metrics_listen.is_none(), "no metrics unless asked");
        assert!(d.metrics_token.is_none());
        assert!(d.app.live_notify, "LISTEN/NOTIFY on by default");

        let s = serve_with(
            &[
                "--metrics-listen",
                "127.0.0.1:9090",
                "--metrics-token",
                "0123456789abcdef-token",
                "--live-notify",
                "false",
            ],
            "",
        )
        .unwrap();
        assert_eq!(s.metrics_listen, Some("127.0.0.1:9090".parse().unwrap()));
        assert_eq!(s.metrics_token.as_deref(), Some("0123456789abcdef-token"));
        assert!(!s.app.live_notify);

        let f = serve_with(
            &[],
            "metrics_listen = \"127.0.0.1:9100\"\nlive_notify = false",
        )
        .unwrap();
        assert!(f.metrics_listen.is_some() && !f.app.live_notify);

        // A token alone would mean metrics on the main listener: refused.
        let alone = serve_with(&["--metrics-token", "0123456789abcdef-token"], "");
        assert!(alone.is_err_and(|e| e.to_string().contains("metrics_listen")));
        let short = serve_with(
            &[
                "--metrics-listen",
                "127.0.0.1:9090",
                "--metrics-token",
                "short",
            ],
            "",
        );
        assert!(short.is_err());
    }

    #[test]
    fn file_refuses_unknown_keys() {
        assert!(toml::from_str::<FileSettings>("listne = \"x\"").is_err());
        let ok: Result<FileSettings, _> =
            toml::from_str("listen = \"0.0.0.0:9000\"\nbehind_tls = true");
        assert!(ok.is_ok_and(|f| f.behind_tls == Some(true)));
    }
}
