//! `rounds team`: team templates (listing them, installing a site's own
//! from a file, removing one) and creating a team from one, from the
//! console.

use std::process::ExitCode;

use clap::Subcommand;
use rounds_app::{Actor, AppConfig};
use rounds_core::audit::ClientInfo;

use super::open_app;
use crate::config::StorageArgs;

#[derive(Debug, Subcommand)]
pub enum TeamCommand {
    /// List the team templates (built-in and the site's own)
    Templates,
    /// Install a site template from a file, offered from then on when a team is created
    ///
    /// The file is TOML if its name ends in .toml, else JSON, with the fields
    /// of the built-in templates:
    ///
    ///   id = "cardiology"                 # 1-40 of a-z, 0-9 and -
    ///   name = "Cardiology ward"
    ///   description = "Telemetry beds"    # optional
    ///   [[columns]]                       # the team's own columns
    ///   key = "rhythm"                    # what lists and sets call it
    ///   label = "Rhythm"
    ///   type = "choice"                   # text, longText, number, date,
    ///                                     # dateTime, choice, checkbox, person
    ///   options = [{ label = "Sinus", color = "#2e7d32" }]   # choice only
    ///   # unit = "ng/L"                   # number only
    ///   [[lists]]
    ///   name = "Telemetry"
    ///   default = true                    # optional; else the first list
    ///   columns = ["name", "location", "rhythm", "heartRate"]
    ///   [[columnSets]]                    # optional saved column sets
    ///   name = "Monitoring"
    ///   columns = ["name", "rhythm", "heartRate"]
    ///
    /// A list's or set's columns are the template's column keys, built-in
    /// columns (name, mrn, ageSex, birthDate, location, added, tasks) or EHR
    /// columns (heartRate, bloodPressure, news2, conditions, ...). A file
    /// that does not read is refused with the line and column of the fault;
    /// one that does not check, with the field and what is wrong.
    AddTemplate {
        /// The template file
        file: std::path::PathBuf,
        /// Replace a site template of the same id
        #[arg(long)]
        replace: bool,
    },
    /// Remove a site template by its id (teams made from it are not touched)
    RemoveTemplate {
        /// The template's id
        id: String,
    },
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
            for t in app.team_templates().await? {
                let lists: Vec<&str> = t.lists.iter().map(|l| l.name.as_str()).collect();
                let source = if t.site { "site" } else { "built-in" };
                println!("{}\t{}\t{}\t{source}", t.id, t.name, lists.join(", "));
            }
        }
        TeamCommand::AddTemplate { file, replace } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            let name = file.file_name().map_or_else(
                || file.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            let template = match rounds_app::templates::parse_template_file(&name, &text) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("error: {}", e.message);
                    return Ok(ExitCode::FAILURE);
                }
            };
            let replaced = app.install_site_template(&template, replace).await?;
            println!(
                "{} site template {} ({}): {} list(s), {} column(s), {} column set(s)",
                if replaced { "replaced" } else { "installed" },
                template.id,
                template.name,
                template.lists.len(),
                template.columns.len(),
                template.column_sets.len()
            );
        }
        TeamCommand::RemoveTemplate { id } => {
            if app.remove_site_template(&id).await? {
                println!("removed site template {id}");
            } else {
                eprintln!(
                    "error: the site has no template {id:?} (built-in ones cannot be removed)"
                );
                return Ok(ExitCode::FAILURE);
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
