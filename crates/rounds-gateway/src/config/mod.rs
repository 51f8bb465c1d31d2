//! The gateway's settings, from (highest first) command-line flags,
//! `ROUNDS_GATEWAY_*` environment variables, an optional TOML file, and
//! built-in defaults; the same layering as `rounds serve`, with names of its
//! own so a gateway and a Rounds server on one machine never share a data
//! directory or database by accident.

mod commands;

pub use commands::{
    AdminTokenCommand, AuditCommand, AuditQueryArgs, ClientCommand, GatewayCli, GatewayCommand,
    KeysCommand, TenantAddArgs, TenantCommand,
};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use serde::Deserialize;

use crate::tenants::UpstreamAuth;

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
    /// Directory for the gateway's own files [default: ./rounds-gateway-data]
    #[arg(
        long,
        env = "ROUNDS_GATEWAY_DATA_DIR",
        global = true,
        value_name = "DIR"
    )]
    pub data_dir: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://USER:PASSWORD@HOST/DB (PostgreSQL for several instances) [default: gateway.db in the data directory]
    #[arg(
        long,
        env = "ROUNDS_GATEWAY_DATABASE_URL",
        global = true,
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// Most database connections held open [default: 10]
    #[arg(
        long,
        env = "ROUNDS_GATEWAY_DB_MAX_CONNECTIONS",
        global = true,
        value_name = "N"
    )]
    pub db_max_connections: Option<u32>,
    /// Key file sealing upstream credentials and signing keys; created (mode 0600) on first use. ROUNDS_GATEWAY_SECRET_KEY (base64 of 32 bytes) takes its place [default: secret.key in the data directory]
    #[arg(
        long,
        env = "ROUNDS_GATEWAY_SECRET_KEY_FILE",
        global = true,
        value_name = "FILE"
    )]
    pub secret_key_file: Option<PathBuf>,
}

/// `rounds gateway serve`
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// Address and port to listen on [default: 127.0.0.1:8090]
    #[arg(long, env = "ROUNDS_GATEWAY_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// The address callers use, e.g. https://gateway.example; the FHIR base, the token URL's origin and the tokens' issuer [default: http://LISTEN]
    #[arg(long, env = "ROUNDS_GATEWAY_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// Seconds an access token is valid [default: 300]
    #[arg(long, env = "ROUNDS_GATEWAY_TOKEN_LIFETIME", value_name = "SECONDS")]
    pub token_lifetime: Option<u64>,
    /// Seconds a token's client and secret state is cached; bounds how long a revocation takes to reach every instance [default: 5]
    #[arg(long, env = "ROUNDS_GATEWAY_REVOCATION_CHECK", value_name = "SECONDS")]
    pub revocation_check: Option<u64>,
    /// Seconds an upstream request may take before the caller gets 504 [default: 30]
    #[arg(long, env = "ROUNDS_GATEWAY_UPSTREAM_TIMEOUT", value_name = "SECONDS")]
    pub upstream_timeout: Option<u64>,
    /// Largest request body accepted, bytes [default: 1048576]
    #[arg(long, env = "ROUNDS_GATEWAY_MAX_REQUEST_BYTES", value_name = "BYTES")]
    pub max_request_bytes: Option<usize>,
    /// Largest upstream answer passed on, bytes [default: 33554432]
    #[arg(long, env = "ROUNDS_GATEWAY_MAX_RESPONSE_BYTES", value_name = "BYTES")]
    pub max_response_bytes: Option<usize>,
    /// Address ranges upstreams may be in, comma-separated; link-local and cloud metadata addresses are always refused [default: any]
    #[arg(
        long,
        env = "ROUNDS_GATEWAY_ALLOWED_NETWORKS",
        value_name = "CIDRS",
        value_delimiter = ','
    )]
    pub allowed_networks: Option<Vec<String>>,
    /// Requests per client per minute on the FHIR routes; 0 for no limit [default: 600]
    #[arg(long, env = "ROUNDS_GATEWAY_RATE_LIMIT", value_name = "N")]
    pub rate_limit: Option<u32>,
    /// When an audit record is on disk: "commit" (before the answer goes out, so a power loss loses no record of an answered request) or "batched" (faster: committed before the answer, on disk within about a second; a power loss or OS crash, on PostgreSQL also a crash of the database server, can lose the last second's records, never the chain) [default: commit]
    #[arg(long, env = "ROUNDS_GATEWAY_AUDIT_SYNC", value_name = "MODE")]
    pub audit_sync: Option<String>,
    /// Log format: text or json [default: text]
    #[arg(long, env = "ROUNDS_GATEWAY_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<String>,
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

/// The TOML file: the same settings, snake_case, and `[[tenants]]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub db_max_connections: Option<u32>,
    pub secret_key_file: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub public_url: Option<String>,
    pub token_lifetime: Option<u64>,
    pub revocation_check: Option<u64>,
    pub upstream_timeout: Option<u64>,
    pub max_request_bytes: Option<usize>,
    pub max_response_bytes: Option<usize>,
    pub allowed_networks: Option<Vec<String>>,
    pub rate_limit: Option<u32>,
    pub audit_sync: Option<String>,
    pub log_format: Option<String>,
    #[serde(default)]
    pub tenants: Vec<FileTenant>,
}

impl FileSettings {
    /// Reads the file, if one is named.
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
    pub fn resolve(args: &StorageArgs, file: &FileSettings) -> Self {
        let data_dir = args
            .data_dir
            .clone()
            .or_else(|| file.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from("./rounds-gateway-data"));
        let configured = args
            .database_url
            .clone()
            .or_else(|| file.database_url.clone());
        let in_data_dir = configured.is_none();
        let database_url = configured
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("gateway.db").display()));
        let secret_key_file = args
            .secret_key_file
            .clone()
            .or_else(|| file.secret_key_file.clone())
            .unwrap_or_else(|| data_dir.join("secret.key"));
        Self {
            data_dir,
            in_data_dir,
            database_url,
            db_max_connections: args
                .db_max_connections
                .or(file.db_max_connections)
                .unwrap_or(10),
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
    pub audit_sync: crate::audit::AuditSync,
    pub json_logs: bool,
}

impl Settings {
    pub fn resolve(args: &ServeArgs, file: &FileSettings) -> anyhow::Result<Self> {
        let listen = args
            .listen
            .or(file.listen)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8090)));
        let public_url = args
            .public_url
            .clone()
            .or_else(|| file.public_url.clone())
            .unwrap_or_else(|| format!("http://{listen}"));
        let parsed = url::Url::parse(&public_url)
            .with_context(|| format!("public_url {public_url:?} is not a URL"))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.query().is_some() {
            bail!("public_url {public_url:?} must be an http or https address without a query");
        }
        let public_url = public_url.trim_end_matches('/').to_owned();
        let secs = |a: Option<u64>, f: Option<u64>, default: u64, name: &str| match a.or(f) {
            Some(0) => bail!("{name} must be at least 1 second"),
            Some(n) => Ok(Duration::from_secs(n)),
            None => Ok(Duration::from_secs(default)),
        };
        let networks: Vec<String> = args
            .allowed_networks
            .clone()
            .or_else(|| file.allowed_networks.clone())
            .unwrap_or_default();
        let outbound = rounds_fhir::OutboundPolicy::parse_allowed(&networks)
            .map_err(|e| anyhow::anyhow!("allowed_networks: {e}"))?;
        let json_logs = match args
            .log_format
            .as_deref()
            .or(file.log_format.as_deref())
            .unwrap_or("text")
        {
            "text" => false,
            "json" => true,
            other => bail!("log_format {other:?} must be text or json"),
        };
        Ok(Self {
            listen,
            public_url,
            token_lifetime: secs(
                args.token_lifetime,
                file.token_lifetime,
                300,
                "token_lifetime",
            )?,
            revocation_check: secs(
                args.revocation_check,
                file.revocation_check,
                5,
                "revocation_check",
            )?,
            upstream_timeout: secs(
                args.upstream_timeout,
                file.upstream_timeout,
                30,
                "upstream_timeout",
            )?,
            max_request_bytes: args
                .max_request_bytes
                .or(file.max_request_bytes)
                .unwrap_or(1 << 20),
            max_response_bytes: args
                .max_response_bytes
                .or(file.max_response_bytes)
                .unwrap_or(32 << 20),
            outbound,
            rate_limit: args.rate_limit.or(file.rate_limit).unwrap_or(600),
            audit_sync: match args
                .audit_sync
                .as_deref()
                .or(file.audit_sync.as_deref())
                .unwrap_or("commit")
            {
                "batched" => crate::audit::AuditSync::Batched,
                "commit" => crate::audit::AuditSync::EveryCommit,
                other => {
                    anyhow::bail!("audit_sync must be \"batched\" or \"commit\", not {other:?}")
                }
            },
            json_logs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_sync_modes() {
        let file = FileSettings::default();
        let mut args = ServeArgs::default();
        // The default: every record on disk before its answer.
        assert_eq!(
            Settings::resolve(&args, &file).unwrap().audit_sync,
            crate::audit::AuditSync::EveryCommit
        );
        assert_eq!(
            crate::audit::AuditSync::default(),
            crate::audit::AuditSync::EveryCommit
        );
        args.audit_sync = Some("batched".into());
        assert_eq!(
            Settings::resolve(&args, &file).unwrap().audit_sync,
            crate::audit::AuditSync::Batched
        );
        args.audit_sync = Some("sometimes".into());
        let err = Settings::resolve(&args, &file).unwrap_err().to_string();
        assert!(err.contains("audit_sync"), "{err}");
        let from_file: FileSettings = toml::from_str("audit_sync = \"batched\"").unwrap();
        assert_eq!(
            Settings::resolve(&ServeArgs::default(), &from_file)
                .unwrap()
                .audit_sync,
            crate::audit::AuditSync::Batched
        );
    }

    #[test]
    fn file_with_tenants() {
        let f: FileSettings = toml::from_str(
            r#"
listen = "0.0.0.0:9000"
public_url = "https://gw.example/"
[[tenants]]
id = "hospital-a"
base_url = "http://a.example/fhir"
[[tenants]]
id = "hospital-b"
base_url = "http://b.example/fhir"
fhir_version = "3.0.2"
secret_env = "B_SECRET"
auth = { kind = "client_credentials", client_id = "gw" }
"#,
        )
        .unwrap();
        assert_eq!(f.tenants.len(), 2);
        assert_eq!(f.tenants[0].auth, UpstreamAuth::None);
        assert!(matches!(
            f.tenants[1].auth,
            UpstreamAuth::ClientCredentials { .. }
        ));
        let s = Settings::resolve(&ServeArgs::default(), &f).unwrap();
        assert_eq!(s.public_url, "https://gw.example");
        assert_eq!(s.listen.port(), 9000);
        assert!(toml::from_str::<FileSettings>("listne = 1").is_err());
    }

    #[test]
    fn defaults_do_not_meet_rounds_own() {
        let s = Storage::resolve(
            &StorageArgs {
                config: None,
                data_dir: None,
                database_url: None,
                db_max_connections: None,
                secret_key_file: None,
            },
            &FileSettings::default(),
        );
        assert!(
            s.database_url.ends_with("rounds-gateway-data/gateway.db"),
            "{}",
            s.database_url
        );
    }
}
