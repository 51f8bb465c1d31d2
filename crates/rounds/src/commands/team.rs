//! `rounds team`: team templates and creating a team from one, from the
//! console.

use std::process::ExitCode;

use clap::Subcommand;
use rounds_app::{Actor, AppConfig};
use rounds_core::audit::ClientInfo;

use super::open_app;
use crate::config::StorageArgs;

#[derive(Debug, Subcommand)]
pub enum TeamCommand {
    /// List the team templates
    Templates,
    /// Create a team owned by an existing account, optionally from a template
    Create {
        /// The team's name
        name: String,
        /// The account that owns the team
        #[arg(long)]
        owner: String,
        /// A template's id (see `rounds team templates`)
        #[arg(long)]
        template: Option<String>,
    },
}

pub async fn run(storage: &StorageArgs, cmd: TeamCommand) -> anyhow::Result<ExitCode> {
    let app = open_app(storage, AppConfig::default()).await?;
    let result = run_with(&app, cmd).await;
    app.close().await;
    result
}

async fn run_with(app: &rounds_app::App, cmd: TeamCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TeamCommand::Templates => {
            for t in app.team_templates() {
                let lists: Vec<&str> = t.lists.iter().map(|l| l.name.as_str()).collect();
                println!("{}\t{}\t{}", t.id, t.name, lists.join(", "));
            }
        }
        TeamCommand::Create {
            name,
            owner,
            template,
        } => {
            let user = app.user_by_username(&owner).await?;
            // Recorded as the owner's, made from the console.
            let actor = Actor {
                user,
                client: ClientInfo {
                    addr: None,
                    user_agent: Some("rounds team create (console)".into()),
                },
            };
            let team = match &template {
                Some(t) => app.create_team_from_template(&actor, &name, t).await?,
                None => app.create_team(&actor, &name).await?,
            };
            println!(
                "created team {} ({}) owned by {owner}",
                team.name.as_str(),
                team.id
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
