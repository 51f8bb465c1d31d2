use std::process::ExitCode;

use clap::Subcommand;
use rounds_app::{AppConfig, Caller, NewUserInput, UserChange};

use super::open_app;
use crate::config::StorageArgs;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account; prints its one-time password
    Add {
        /// Sign-in name: 2 to 64 of a-z 0-9 . _ -
        username: String,
        /// Full name as the team sees it
        #[arg(long)]
        name: String,
        /// Make the account a site administrator
        #[arg(long)]
        admin: bool,
    },
    /// List accounts
    List,
    /// Give an account a new one-time password (ends its sessions)
    ResetPassword { username: String },
    /// Disable an account (ends its sessions)
    Disable { username: String },
    /// Enable a disabled account
    Enable { username: String },
}

pub async fn run(storage: &StorageArgs, cmd: UserCommand) -> anyhow::Result<ExitCode> {
    let app = open_app(storage, AppConfig::default()).await?;
    let result = run_with(&app, cmd).await;
    app.close().await;
    result
}

async fn run_with(app: &rounds_app::App, cmd: UserCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        UserCommand::Add {
            username,
            name,
            admin,
        } => {
            let input = NewUserInput {
                username,
                display_name: name,
                password: None,
                admin,
            };
            let (user, password) = app.create_user(Caller::Console, &input).await?;
            println!("created {} ({})", user.username, user.site_role.as_str());
            if let Some(p) = password {
                println!("one-time password: {}", p.expose());
                println!("They choose their own password at first sign-in.");
            }
        }
        UserCommand::List => {
            println!("{:<24} {:<32} {:<6} STATUS", "USERNAME", "NAME", "ROLE");
            for u in app.list_users(Caller::Console).await? {
                let status = if u.is_disabled() {
                    "disabled"
                } else if u.must_change_password {
                    "one-time password"
                } else {
                    "active"
                };
                println!(
                    "{:<24} {:<32} {:<6} {}",
                    u.username,
                    u.display_name,
                    u.site_role.as_str(),
                    status
                );
            }
        }
        UserCommand::ResetPassword { username } => {
            let user = app.user_by_username(&username).await?;
            let p = app.reset_password(Caller::Console, user.id).await?;
            println!("one-time password for {}: {}", user.username, p.expose());
        }
        UserCommand::Disable { username } => {
            let user = app.user_by_username(&username).await?;
            app.update_user(
                Caller::Console,
                user.id,
                &UserChange {
                    disabled: Some(true),
                    site_role: None,
                },
            )
            .await?;
            println!("disabled {}", user.username);
        }
        UserCommand::Enable { username } => {
            let user = app.user_by_username(&username).await?;
            app.update_user(
                Caller::Console,
                user.id,
                &UserChange {
                    disabled: Some(false),
                    site_role: None,
                },
            )
            .await?;
            println!("enabled {}", user.username);
        }
    }
    Ok(ExitCode::SUCCESS)
}
