//! `rounds gateway keys ...`, `audit ...` and `admin-token ...`.

use std::process::ExitCode;

use anyhow::bail;

use crate::audit::{AuditFilter, ExportFormat};
use crate::config::{
    AdminTokenCommand, AuditCommand, AuditQueryArgs, KeysCommand, Settings, StorageArgs,
};
use crate::registry::Registry;

use super::{load_sealer, open_db, when};

pub(super) async fn keys(args: &StorageArgs, cmd: KeysCommand) -> anyhow::Result<ExitCode> {
    let (db, storage) = open_db(args).await?;
    let sealer = load_sealer(&storage)?;
    let lifetime =
        Settings::resolve(&crate::config::serve_args(args.config.as_deref())?)?.token_lifetime;
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

pub(super) async fn audit(args: &StorageArgs, cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    let (db, _) = open_db(args).await?;
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
            let url =
                Settings::resolve(&crate::config::serve_args(args.config.as_deref())?)?.public_url;
            let mut out = std::io::stdout().lock();
            crate::audit::export(&records, format, &url, &mut out)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub(super) async fn admin_token(
    args: &StorageArgs,
    cmd: AdminTokenCommand,
) -> anyhow::Result<ExitCode> {
    let (db, _) = open_db(args).await?;
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
