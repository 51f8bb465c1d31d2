//! The command line's shape: `rounds gateway` and its subcommands
//! (`serve`, `client`, `tenant`, `keys`, `audit`, `admin-token`); what
//! each does is in [`crate::cli`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use super::{ServeArgs, StorageArgs};

/// `rounds gateway`: the command line.
#[derive(Debug, Parser)]
#[command(
    name = "rounds gateway",
    bin_name = "rounds gateway",
    version,
    about = "The interoperability gateway: one authenticated, tenant-routed FHIR endpoint in front of one or more FHIR servers",
    long_about = "The interoperability gateway: an OAuth 2.0 token endpoint (client credentials, the tenant in the scope), \
                  a registry of clients and tenants, and a FHIR proxy that sends each request to its tenant's server, \
                  rewriting upstream URLs and auditing every request.\n\n\
                  Quick start:\n  \
                  rounds gateway tenant add hospital-a --base-url http://fhir.hospital-a.example/fhir\n  \
                  rounds gateway client add --name \"Rounds\" --tenant hospital-a\n  \
                  rounds gateway serve --listen 0.0.0.0:8090 --public-url https://gateway.example"
)]
pub struct GatewayCli {
    #[command(flatten)]
    pub storage: StorageArgs,
    #[command(subcommand)]
    pub command: GatewayCommand,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum GatewayCommand {
    /// Run the gateway
    Serve(Box<ServeArgs>),
    /// Manage clients (callers of the token endpoint) and their secrets
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage tenants (tenant id → upstream FHIR server)
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Token signing keys
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The audit log of proxied requests
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Keys of the administration API (/admin/api/v1)
    #[command(subcommand)]
    AdminToken(AdminTokenCommand),
}

/// `rounds gateway admin-token ...`
#[derive(Debug, Subcommand)]
pub enum AdminTokenCommand {
    /// Make an administration key (shown once)
    Create {
        /// A name for people (who or what uses it)
        #[arg(long)]
        name: String,
    },
    /// List administration keys
    List,
    /// Revoke an administration key
    Revoke {
        /// The key's id
        id: String,
    },
}

/// `rounds gateway client ...`
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints its client_id and first secret (shown once)
    Add {
        /// A name for people
        #[arg(long)]
        name: String,
        /// A tenant the client may ask for (repeat for several)
        #[arg(long = "tenant", value_name = "TENANT")]
        tenants: Vec<String>,
        /// The secret expires after this many seconds [default: never]
        #[arg(long, value_name = "SECONDS")]
        expires_in: Option<u64>,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// List clients and their secrets (never the secrets themselves)
    List {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Add a second secret for rotation without downtime (shown once); revoke the old one after the caller switched
    Rotate {
        /// The client_id
        client_id: String,
        /// The new secret expires after this many seconds [default: never]
        #[arg(long, value_name = "SECONDS")]
        expires_in: Option<u64>,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Revoke one secret; tokens issued under it are refused within seconds on every instance
    Revoke {
        /// The client_id
        client_id: String,
        /// The secret's id (from `client list`)
        secret_id: String,
    },
    /// Disable a client: no new tokens, its tokens refused
    Disable {
        /// The client_id
        client_id: String,
    },
    /// Enable a disabled client again
    Enable {
        /// The client_id
        client_id: String,
    },
    /// Replace the tenants a client may ask for
    Tenants {
        /// The client_id
        client_id: String,
        /// A tenant (repeat for several; none: no tenant)
        #[arg(long = "tenant", value_name = "TENANT")]
        tenants: Vec<String>,
    },
    /// Register the client's public keys (a JWKS file) for private_key_jwt (SMART Backend Services)
    Jwks {
        /// The client_id
        client_id: String,
        /// The JWKS file; `-` for standard input
        file: PathBuf,
    },
    /// Delete a client and its secrets
    Delete {
        /// The client_id
        client_id: String,
    },
}

/// `rounds gateway tenant ...`
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Add or replace a tenant
    Add(Box<TenantAddArgs>),
    /// List tenants
    List {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Remove a tenant
    Remove {
        /// The tenant id
        id: String,
    },
}

/// `rounds gateway tenant add`
#[derive(Debug, Args)]
pub struct TenantAddArgs {
    /// The tenant id (e.g. a directory tenant GUID)
    pub id: String,
    /// The upstream FHIR base URL
    #[arg(long)]
    pub base_url: String,
    /// The upstream's FHIR version [default: 4.0.1]
    #[arg(long, default_value = "4.0.1")]
    pub fhir_version: String,
    /// How the gateway authenticates upstream: none, basic, client_credentials, backend_services
    #[arg(long, default_value = "none")]
    pub auth: String,
    /// basic: the user name
    #[arg(long)]
    pub username: Option<String>,
    /// client_credentials, backend_services: our client id upstream
    #[arg(long)]
    pub client_id: Option<String>,
    /// The upstream's token URL [default: what it publishes]
    #[arg(long)]
    pub token_url: Option<String>,
    /// The scope to ask the upstream for
    #[arg(long)]
    pub scope: Option<String>,
    /// client_credentials: send the secret in the body (client_secret_post) instead of HTTP Basic
    #[arg(long)]
    pub secret_in_body: bool,
    /// backend_services: RS384 or ES384
    #[arg(long, default_value = "RS384")]
    pub algorithm: String,
    /// backend_services: the kid of our published key
    #[arg(long)]
    pub key_id: Option<String>,
    /// The environment variable holding the password, client secret or private key (PEM)
    #[arg(long, value_name = "VAR")]
    pub secret_env: Option<String>,
    /// The file holding the password, client secret or private key (PEM)
    #[arg(long, value_name = "FILE")]
    pub secret_file: Option<PathBuf>,
    /// Let writes (PUT, POST of resources, transactions, DELETE) through; read-only otherwise
    #[arg(long)]
    pub allow_writes: bool,
}

/// `rounds gateway keys ...`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys
    List,
    /// Make a new signing key; the old ones keep verifying until their tokens expire
    Rotate,
}

/// `rounds gateway audit ...`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain
    Verify,
    /// Print records, newest first
    Search(AuditQueryArgs),
    /// Export records: csv, jsonl or fhir (a Bundle of AuditEvents)
    Export {
        /// csv, jsonl or fhir
        #[arg(long, default_value = "jsonl")]
        format: String,
        #[command(flatten)]
        query: AuditQueryArgs,
    },
}

/// Audit filters.
#[derive(Debug, Clone, Args)]
pub struct AuditQueryArgs {
    /// Only this client
    #[arg(long)]
    pub client: Option<String>,
    /// Only this tenant
    #[arg(long)]
    pub tenant: Option<String>,
    /// Only records at or after this Unix time in milliseconds
    #[arg(long)]
    pub since: Option<i64>,
    /// At most this many
    #[arg(long)]
    pub limit: Option<i64>,
}
