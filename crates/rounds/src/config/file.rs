//! The configuration file: its settings become the arguments' defaults
//! (see the parent module for why; the layering is rounds-config's, shared
//! with `rounds gateway`), and its `[[sso_providers]]` tables.

use std::ffi::OsString;
use std::path::Path;

use anyhow::{bail, Context};
use clap::Command;
use rounds_config::Layering;
use serde::Deserialize;

/// The file's keys that are tables of their own rather than settings of
/// the command line (read by [`FileSections::load`]).
const SECTIONS: &[&str] = &["sso_providers"];

/// The parts of the file that are not command-line settings.
#[derive(Debug, Default, Deserialize)]
pub struct FileSections {
    /// `[[sso_providers]]`: the identity providers of single sign-on.
    #[serde(default)]
    pub sso_providers: Vec<FileProvider>,
}

impl FileSections {
    /// The sections of the file at `path` (none without a file). The
    /// settings beside them were checked when the command line was parsed.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let sections: Self = LAYERING.load_sections(path)?;
        let Some(path) = path else {
            return Ok(sections);
        };
        let mut ids = std::collections::HashSet::new();
        for p in &sections.sso_providers {
            if !ids.insert(p.id.trim().to_lowercase()) {
                bail!(
                    "the configuration file {}: sso_providers: the id {:?} is used twice",
                    path.display(),
                    p.id
                );
            }
        }
        Ok(sections)
    }
}

/// One `[[sso_providers]]` table of the TOML file.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileProvider {
    pub id: String,
    /// `oidc` (default) or `smart`.
    pub kind: Option<String>,
    pub label: String,
    /// OpenID issuer; for `smart`, the FHIR server's base URL.
    pub issuer: String,
    pub client_id: String,
    /// The client secret, or better the name of an environment variable holding it.
    pub client_secret: Option<String>,
    pub client_secret_env: Option<String>,
    pub scopes: Option<String>,
    pub username_claim: Option<String>,
    pub display_name_claim: Option<String>,
    pub groups_claim: Option<String>,
    #[serde(default)]
    pub create_accounts: bool,
    #[serde(default)]
    pub groups: Vec<rounds_app::sso::MappingInput>,
}

impl std::fmt::Debug for FileProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileProvider")
            .field("id", &self.id)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl FileProvider {
    /// The provider as the app takes it, its secret read from the
    /// environment variable when one is named.
    pub fn input(
        &self,
    ) -> anyhow::Result<(
        rounds_app::sso::ProviderInput,
        Vec<rounds_app::sso::MappingInput>,
    )> {
        let client_secret = match (&self.client_secret, &self.client_secret_env) {
            (Some(_), Some(_)) => bail!(
                "sso provider {}: give client_secret or client_secret_env, not both",
                self.id
            ),
            (Some(s), None) => Some(s.clone()),
            (None, Some(var)) => Some(std::env::var(var).with_context(|| {
                format!(
                    "sso provider {}: the environment variable {var} (client_secret_env) is not set",
                    self.id
                )
            })?),
            (None, None) => None,
        };
        Ok((
            rounds_app::sso::ProviderInput {
                id: self.id.clone(),
                kind: self.kind.clone(),
                label: self.label.clone(),
                issuer: self.issuer.clone(),
                client_id: self.client_id.clone(),
                client_secret,
                scopes: self.scopes.clone(),
                username_claim: self.username_claim.clone(),
                display_name_claim: self.display_name_claim.clone(),
                groups_claim: self.groups_claim.clone(),
                create_accounts: self.create_accounts,
            },
            self.groups.clone(),
        ))
    }
}

/// Rounds' configuration file: `ROUNDS_*` settings and the sections above.
pub(super) const LAYERING: Layering = Layering {
    program: "Rounds",
    env_prefix: "ROUNDS_",
    config_arg: "config",
    sections: SECTIONS,
    listed_in: "README's Configuration table and in `rounds serve --help`",
};

/// `cmd` with the configuration file's settings (if `argv` or
/// `ROUNDS_CONFIG` names one) as its arguments' defaults.
pub fn with_file_defaults(cmd: Command, argv: &[OsString]) -> anyhow::Result<Command> {
    Ok(LAYERING.with_file_defaults(cmd, argv)?)
}
