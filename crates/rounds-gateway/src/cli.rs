//! The console side of `rounds gateway`: serve, and administer clients,
//! tenants, keys and the audit log in the same database.

use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context};

use crate::audit::{AuditFilter, ExportFormat};
use crate::config::{
    AdminTokenCommand, AuditCommand, AuditQueryArgs, ClientCommand, FileSettings, FileTenant,
    GatewayCli, GatewayCommand, KeysCommand, Settings, Storage, StorageArgs, TenantAddArgs,
    TenantCommand,
};
use crate::db::{now_millis, Db};
use crate::registry::{Client, NewSecret, Registry};
use crate::tenants::{TenantInput, Tenants, UpstreamAuth};

/// Runs one `rounds gateway` command.
pub async fn run(cli: GatewayCli) -> anyhow::Result<ExitCode> {
    let file = FileSettings::load(cli.storage.config.as_deref())?;
    match cli.command {
        GatewayCommand::Serve(args) => serve(&cli.storage, &file, &args).await,
        GatewayCommand::Client(cmd) => client(&cli.storage, &file, cmd).await,
        GatewayCommand::Tenant(cmd) => tenant(&cli.storage, &file, cmd).await,
        GatewayCommand::Keys(cmd) => keys(&cli.storage, &file, cmd).await,
        GatewayCommand::Audit(cmd) => audit(&cli.storage, &file, cmd).await,
        GatewayCommand::AdminToken(cmd) => admin_token(&cli.storage, &file, cmd).await,
    }
}

fn init_logging(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("ROUNDS_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Opens (and migrates) the database the settings point at.
pub async fn open_db(args: &StorageArgs, file: &FileSettings) -> anyhow::Result<(Db, Storage)> {
    let storage = Storage::resolve(args, file);
    if storage.in_data_dir {
        create_private_dir(&storage.data_dir).with_context(|| {
            format!(
                "cannot create the data directory {}",
                storage.data_dir.display()
            )
        })?;
    }
    let db = Db::open(&storage.database_url, storage.db_max_connections)
        .await
        .with_context(|| {
            format!(
                "cannot use the database {}",
                storage.database_url_redacted()
            )
        })?;
    Ok((db, storage))
}

/// The site key: ROUNDS_GATEWAY_SECRET_KEY, else the key file (made on
/// first use).
pub fn load_sealer(storage: &Storage) -> anyhow::Result<Arc<rounds_secrets::SecretBox>> {
    let env = std::env::var("ROUNDS_GATEWAY_SECRET_KEY")
        .ok()
        .filter(|v| !v.trim().is_empty());
    if env.is_none() {
        if let Some(dir) = storage
            .secret_key_file
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            create_private_dir(dir).with_context(|| {
                format!(
                    "cannot create the directory of the key file {}",
                    storage.secret_key_file.display()
                )
            })?;
        }
    }
    let (key, _) = rounds_secrets::SecretBox::load_or_create_named(
        "ROUNDS_GATEWAY_SECRET_KEY",
        env.as_deref(),
        &storage.secret_key_file,
    )
    .context("cannot load the gateway's secret key")?;
    Ok(Arc::new(key))
}

async fn serve(
    storage_args: &StorageArgs,
    file: &FileSettings,
    args: &crate::config::ServeArgs,
) -> anyhow::Result<ExitCode> {
    let mut settings = Settings::resolve(args, file)?;
    init_logging(settings.json_logs);
    let (db, storage) = open_db(storage_args, file).await?;
    let sealer = load_sealer(&storage)?;
    sync_file_tenants(&Tenants::new(db.clone()), &file.tenants, &sealer).await?;
    let listen = settings.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let local = listener.local_addr()?;
    if args.public_url.is_none() && file.public_url.is_none() {
        // No public address given: the one bound (port 0 is a real port now).
        settings.public_url = format!("http://{local}");
    }
    let gateway = crate::Gateway::new(db.clone(), sealer, settings)
        .await
        .context("cannot start the gateway")?;
    tracing::info!(address = %local, public_url = %gateway.settings.public_url, "gateway listening");
    // Tests and scripts read this line to learn the port.
    println!("rounds gateway listening on {local}");
    gateway.serve(listener, shutdown_signal()?).await?;
    db.close().await;
    Ok(ExitCode::SUCCESS)
}

fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("cannot listen for Ctrl-C")?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
            tracing::info!("shutting down");
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

fn read_secret(
    env: Option<&str>,
    file: Option<&std::path::Path>,
) -> anyhow::Result<Option<String>> {
    match (env, file) {
        (Some(_), Some(_)) => {
            bail!("give the upstream secret by environment variable or by file, not both")
        }
        (Some(var), None) => {
            let v = std::env::var(var).with_context(|| {
                format!("the environment variable {var} (the upstream secret) is not set")
            })?;
            Ok(Some(v))
        }
        (None, Some(path)) => {
            let mut text = String::new();
            if path.as_os_str() == "-" {
                std::io::stdin().read_to_string(&mut text)?;
            } else {
                text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the secret file {}", path.display()))?;
            }
            // One trailing newline is the file's, not the secret's.
            let trimmed = text.strip_suffix('\n').unwrap_or(&text);
            let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
            Ok(Some(trimmed.to_owned()))
        }
        (None, None) => Ok(None),
    }
}

/// Makes the database's configuration-file tenants what the file says:
/// adds or replaces each, removes those no longer in it. Tenants added by an
/// administrator are left alone.
pub async fn sync_file_tenants(
    tenants: &Tenants,
    file: &[FileTenant],
    sealer: &rounds_secrets::SecretBox,
) -> anyhow::Result<()> {
    for t in file {
        let secret = read_secret(t.secret_env.as_deref(), t.secret_file.as_deref())
            .with_context(|| format!("tenant {} in the configuration file", t.id))?;
        let input = TenantInput {
            id: t.id.clone(),
            base_url: t.base_url.clone(),
            fhir_version: t.fhir_version.clone(),
            auth: t.auth.clone(),
            secret,
            allow_writes: t.allow_writes,
        };
        tenants
            .put(&input, "config", sealer)
            .await
            .with_context(|| format!("tenant {} in the configuration file", t.id))?;
    }
    for existing in tenants.list().await? {
        if existing.origin == "config" && !file.iter().any(|t| t.id == existing.id) {
            tenants.delete(&existing.id).await?;
        }
    }
    Ok(())
}

fn expiry(expires_in: Option<u64>) -> Option<i64> {
    expires_in
        .map(|s| now_millis().saturating_add(i64::try_from(s).unwrap_or(i64::MAX / 2000) * 1000))
}

fn print_secret(client: &Client, secret: &NewSecret, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::json!({
                "client_id": client.id,
                "name": client.name,
                "tenants": client.tenants,
                "secret_id": secret.secret_id,
                "client_secret": secret.client_secret,
                "expires_at": secret.expires_at,
            })
        );
    } else {
        println!("client_id:     {}", client.id);
        println!("client_secret: {}", secret.client_secret);
        println!("secret_id:     {}", secret.secret_id);
        println!("The secret is shown only now; the gateway keeps only its hash.");
    }
}

fn when(ms: Option<i64>) -> String {
    ms.and_then(|m| time::OffsetDateTime::from_unix_timestamp(m / 1000).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "-".into())
}

async fn client(
    args: &StorageArgs,
    file: &FileSettings,
    cmd: ClientCommand,
) -> anyhow::Result<ExitCode> {
    let (db, _) = open_db(args, file).await?;
    let registry = Registry::new(db);
    match cmd {
        ClientCommand::Add {
            name,
            tenants,
            expires_in,
            json,
        } => {
            let (client, secret) = registry
                .create_client(&name, &tenants, expiry(expires_in))
                .await?;
            print_secret(&client, &secret, json);
        }
        ClientCommand::List { json } => {
            let clients = registry.clients().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&clients)?);
            } else {
                let now = now_millis();
                for c in clients {
                    println!(
                        "{}  {}  tenants: {}{}",
                        c.id,
                        c.name,
                        if c.tenants.is_empty() {
                            "(none)".into()
                        } else {
                            c.tenants.join(",")
                        },
                        if c.disabled { "  DISABLED" } else { "" }
                    );
                    for s in c.secrets {
                        let state = if s.revoked_at.is_some() {
                            format!("revoked {}", when(s.revoked_at))
                        } else if !s.is_live(now) {
                            format!("expired {}", when(s.expires_at))
                        } else {
                            format!("live, expires {}", when(s.expires_at))
                        };
                        println!(
                            "    secret {}  created {}  {state}",
                            s.id,
                            when(Some(s.created_at))
                        );
                    }
                }
            }
        }
        ClientCommand::Rotate {
            client_id,
            expires_in,
            json,
        } => {
            let secret = registry.add_secret(&client_id, expiry(expires_in)).await?;
            let client = registry
                .client(&client_id)
                .await?
                .with_context(|| format!("client {client_id} not found"))?;
            print_secret(&client, &secret, json);
            if !json {
                println!("Both secrets are valid now; once the caller uses the new one: rounds gateway client revoke {client_id} OLD_SECRET_ID");
            }
        }
        ClientCommand::Revoke {
            client_id,
            secret_id,
        } => {
            registry.revoke_secret(&client_id, &secret_id).await?;
            println!("revoked secret {secret_id} of client {client_id}");
        }
        ClientCommand::Disable { client_id } => {
            registry.set_disabled(&client_id, true).await?;
            println!("disabled client {client_id}");
        }
        ClientCommand::Enable { client_id } => {
            registry.set_disabled(&client_id, false).await?;
            println!("enabled client {client_id}");
        }
        ClientCommand::Tenants { client_id, tenants } => {
            registry.set_tenants(&client_id, &tenants).await?;
            println!("client {client_id} may use: {}", tenants.join(","));
        }
        ClientCommand::Jwks { client_id, file } => {
            let text = read_secret(None, Some(&file))?.unwrap_or_default();
            let jwks: serde_json::Value =
                serde_json::from_str(&text).context("the JWKS is not JSON")?;
            registry.set_jwks(&client_id, Some(&jwks)).await?;
            println!("registered the JWKS of client {client_id}");
        }
        ClientCommand::Delete { client_id } => {
            registry.delete_client(&client_id).await?;
            println!("deleted client {client_id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn tenant_input(a: &TenantAddArgs) -> anyhow::Result<TenantInput> {
    let need_client = || {
        a.client_id
            .clone()
            .with_context(|| format!("--auth {} needs --client-id", a.auth))
    };
    let auth = match a.auth.as_str() {
        "none" => UpstreamAuth::None,
        "basic" => UpstreamAuth::Basic {
            username: a
                .username
                .clone()
                .context("--auth basic needs --username")?,
        },
        "client_credentials" => UpstreamAuth::ClientCredentials {
            client_id: need_client()?,
            token_url: a.token_url.clone(),
            scope: a.scope.clone(),
            secret_in_body: a.secret_in_body,
        },
        "backend_services" => UpstreamAuth::BackendServices {
            client_id: need_client()?,
            algorithm: a.algorithm.clone(),
            key_id: a.key_id.clone(),
            token_url: a.token_url.clone(),
            scope: a.scope.clone(),
        },
        other => bail!("--auth {other:?}: use none, basic, client_credentials or backend_services"),
    };
    Ok(TenantInput {
        id: a.id.clone(),
        base_url: a.base_url.clone(),
        fhir_version: a.fhir_version.clone(),
        auth,
        secret: read_secret(a.secret_env.as_deref(), a.secret_file.as_deref())?,
        allow_writes: a.allow_writes,
    })
}

async fn tenant(
    args: &StorageArgs,
    file: &FileSettings,
    cmd: TenantCommand,
) -> anyhow::Result<ExitCode> {
    let (db, storage) = open_db(args, file).await?;
    let tenants = Tenants::new(db);
    match cmd {
        TenantCommand::Add(a) => {
            let input = tenant_input(&a)?;
            let sealer = load_sealer(&storage)?;
            let t = tenants.put(&input, "admin", &sealer).await?;
            println!(
                "tenant {} → {} (FHIR {}, auth {})",
                t.id,
                t.base_url,
                t.fhir_version,
                t.auth.kind()
            );
        }
        TenantCommand::List { json } => {
            let list = tenants.list().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for t in list {
                    println!(
                        "{}  {}  FHIR {}  auth {}{}  ({})",
                        t.id,
                        t.base_url,
                        t.fhir_version,
                        t.auth.kind(),
                        if t.allow_writes {
                            "  writes allowed"
                        } else {
                            ""
                        },
                        t.origin
                    );
                }
            }
        }
        TenantCommand::Remove { id } => {
            tenants.delete(&id).await?;
            println!("removed tenant {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn keys(
    args: &StorageArgs,
    file: &FileSettings,
    cmd: KeysCommand,
) -> anyhow::Result<ExitCode> {
    let (db, storage) = open_db(args, file).await?;
    let sealer = load_sealer(&storage)?;
    let lifetime = Settings::resolve(&crate::config::ServeArgs::default(), file)?.token_lifetime;
    let keys = crate::keys::SigningKeys::open(db, sealer, lifetime).await?;
    match cmd {
        KeysCommand::List => {
            for k in keys.list().await? {
                let state = match k.retired_at {
                    None => "signing".to_owned(),
                    Some(at) => format!("retired {}", when(Some(at))),
                };
                println!(
                    "{}  {}  created {}  {state}",
                    k.kid,
                    k.alg,
                    when(Some(k.created_at))
                );
            }
        }
        KeysCommand::Rotate => {
            let kid = keys.rotate().await?;
            println!("new signing key {kid}; the previous keys verify until their tokens expire");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn filter(q: &AuditQueryArgs) -> AuditFilter {
    AuditFilter {
        client_id: q.client.clone(),
        tenant_id: q.tenant.clone(),
        since: q.since,
        until: None,
        limit: q.limit,
    }
}

async fn audit(
    args: &StorageArgs,
    file: &FileSettings,
    cmd: AuditCommand,
) -> anyhow::Result<ExitCode> {
    let (db, _) = open_db(args, file).await?;
    let log = crate::audit::Audit::new(db);
    match cmd {
        AuditCommand::Verify => match log.verify().await? {
            Ok(n) => {
                println!("audit log intact: {n} records");
                Ok(ExitCode::SUCCESS)
            }
            Err(brk) => {
                println!("audit log broken: {brk}");
                Ok(ExitCode::FAILURE)
            }
        },
        AuditCommand::Search(q) => {
            for r in log.search(&filter(&q)).await? {
                println!(
                    "{} {} {} client={} tenant={} {} {} {} {}ms {}",
                    r.seq,
                    when(Some(r.at)),
                    r.method,
                    r.client_id.as_deref().unwrap_or("-"),
                    r.tenant_id.as_deref().unwrap_or("-"),
                    r.resource_type.as_deref().unwrap_or("-"),
                    r.path,
                    r.status,
                    r.duration_ms,
                    r.outcome
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Export { format, query } => {
            let format = match format.as_str() {
                "csv" => ExportFormat::Csv,
                "jsonl" => ExportFormat::JsonLines,
                "fhir" => ExportFormat::Fhir,
                other => bail!("--format {other:?}: use csv, jsonl or fhir"),
            };
            let records = log.search(&filter(&query)).await?;
            let url = Settings::resolve(&crate::config::ServeArgs::default(), file)?.public_url;
            let mut out = std::io::stdout().lock();
            crate::audit::export(&records, format, &url, &mut out)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn admin_token(
    args: &StorageArgs,
    file: &FileSettings,
    cmd: AdminTokenCommand,
) -> anyhow::Result<ExitCode> {
    let (db, _) = open_db(args, file).await?;
    let registry = Registry::new(db);
    match cmd {
        AdminTokenCommand::Create { name } => {
            let (key, value) = registry.create_admin_token(&name).await?;
            println!("id:    {}", key.id);
            println!("token: {value}");
            println!("The key is shown only now; send it as Authorization: Bearer TOKEN to /admin/api/v1.");
        }
        AdminTokenCommand::List => {
            for k in registry.admin_tokens().await? {
                let state = match k.revoked_at {
                    None => "live".to_owned(),
                    Some(at) => format!("revoked {}", when(Some(at))),
                };
                println!(
                    "{}  {}  created {}  {state}",
                    k.id,
                    k.name,
                    when(Some(k.created_at))
                );
            }
        }
        AdminTokenCommand::Revoke { id } => {
            registry.revoke_admin_token(&id).await?;
            println!("revoked administration key {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
