//! `rounds gateway client ...` and `rounds gateway tenant ...`.

use std::process::ExitCode;

use anyhow::{bail, Context};

use crate::config::{ClientCommand, StorageArgs, TenantAddArgs, TenantCommand};
use crate::db::now_millis;
use crate::registry::{Client, NewSecret, Registry};
use crate::tenants::{TenantInput, Tenants, UpstreamAuth};

use super::{load_sealer, open_db, read_secret, when};

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

pub(super) async fn client(args: &StorageArgs, cmd: ClientCommand) -> anyhow::Result<ExitCode> {
    let (db, _) = open_db(args).await?;
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

pub(super) async fn tenant(args: &StorageArgs, cmd: TenantCommand) -> anyhow::Result<ExitCode> {
    let (db, storage) = open_db(args).await?;
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
