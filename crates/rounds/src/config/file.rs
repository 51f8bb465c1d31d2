//! The configuration file: its settings become the arguments' defaults
//! (see the parent module for why).

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Command;
use serde::Deserialize;

/// The argument that names the configuration file; the commands that have
/// it are the ones the file's settings apply to.
pub(super) const CONFIG_ARG: &str = "config";

/// The configuration file that the command given accepts and names
/// (`--config FILE` or `ROUNDS_CONFIG`), if any. A command line that does
/// not parse names none: the real parse then says what is wrong with it.
fn config_path(cmd: &Command, argv: &[OsString]) -> Option<PathBuf> {
    let matches = cmd.clone().try_get_matches_from(argv).ok()?;
    let mut level = &matches;
    loop {
        if let Ok(Some(path)) = level.try_get_one::<PathBuf>(CONFIG_ARG) {
            return Some(path.clone());
        }
        level = level.subcommand()?.1;
    }
}

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
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the configuration file {}", path.display()))?;
        let mut table: toml::Table = toml::from_str(&text).with_context(|| {
            format!(
                "the configuration file {} is not valid TOML",
                path.display()
            )
        })?;
        table.retain(|k, _| SECTIONS.contains(&k));
        let sections: Self = toml::Value::Table(table)
            .try_into()
            .with_context(|| format!("the configuration file {}", path.display()))?;
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

/// An argument is a setting when it has a `ROUNDS_*` variable (positional
/// arguments and the file's own name are not).
fn is_setting(arg: &clap::Arg) -> bool {
    arg.get_id() != CONFIG_ARG
        && arg
            .get_env()
            .and_then(OsStr::to_str)
            .is_some_and(|e| e.starts_with("ROUNDS_"))
}

/// Every setting of every command that reads the file, by name.
pub(super) fn settings_of(cmd: &Command, out: &mut BTreeMap<String, clap::Arg>) {
    if cmd.get_arguments().any(|a| a.get_id() == CONFIG_ARG) {
        for arg in cmd.get_arguments().filter(|a| is_setting(a)) {
            out.entry(arg.get_id().to_string())
                .or_insert_with(|| arg.clone());
        }
    }
    for sub in cmd.get_subcommands() {
        settings_of(sub, out);
    }
}

/// A TOML value as the argument values it stands for.
fn toml_values(
    key: &str,
    value: &toml::Value,
    delimiter: Option<char>,
) -> anyhow::Result<Vec<String>> {
    let scalar = |v: &toml::Value| -> Option<String> {
        match v {
            toml::Value::String(s) => Some(s.clone()),
            toml::Value::Integer(i) => Some(i.to_string()),
            toml::Value::Float(f) => Some(f.to_string()),
            toml::Value::Boolean(b) => Some(b.to_string()),
            _ => None,
        }
    };
    match value {
        toml::Value::Array(items) => items
            .iter()
            .map(|v| {
                scalar(v).with_context(|| {
                    format!("`{key}`: a list of text, numbers or true/false is expected")
                })
            })
            .collect(),
        toml::Value::String(s) if delimiter.is_some() => Ok(s
            .split(delimiter.unwrap_or(','))
            .map(str::to_owned)
            .collect()),
        other => scalar(other)
            .map(|s| vec![s])
            .with_context(|| format!("`{key}`: text, a number, true/false or a list is expected")),
    }
}

/// The settings of the file at `path`, checked: every key is a setting of
/// Rounds and every value is one its argument accepts.
fn read_file(path: &Path, cmd: &Command) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the configuration file {}", path.display()))?;
    let table: toml::Table = toml::from_str(&text).with_context(|| {
        format!(
            "the configuration file {} is not valid TOML",
            path.display()
        )
    })?;
    let mut known = BTreeMap::new();
    settings_of(cmd, &mut known);
    let mut values = BTreeMap::new();
    for (key, value) in &table {
        if SECTIONS.contains(&key.as_ref()) {
            continue;
        }
        let in_file = || format!("the configuration file {}", path.display());
        let Some(arg) = known.get(key) else {
            bail!(
                "{}: `{key}` is not a setting of Rounds (the settings are listed in README's Configuration table and in `rounds serve --help`)",
                in_file()
            );
        };
        let list = toml_values(key, value, arg.get_value_delimiter()).with_context(in_file)?;
        // The value goes through the argument's own parser, alone: the
        // same check (and message) as on the command line.
        let probe = Command::new("rounds").no_binary_name(true).arg(
            arg.clone()
                .env(None::<&'static str>)
                .default_values(Vec::<&'static str>::new())
                .global(false),
        );
        let flag = format!("--{}", arg.get_long().unwrap_or(key));
        for item in &list {
            if let Err(err) = probe.clone().try_get_matches_from([flag.as_str(), item]) {
                let message = err.to_string();
                let first = message.lines().next().unwrap_or_default();
                bail!(
                    "{}: `{key} = {value}`: {}",
                    in_file(),
                    first.trim_start_matches("error: ")
                );
            }
        }
        values.insert(key.clone(), list);
    }
    Ok(values)
}

/// Gives the settings of `cmd` (and its subcommands) that the file sets the
/// file's values as their defaults. A secret's default is never shown in
/// `--help`.
fn apply(mut cmd: Command, values: &BTreeMap<String, Vec<String>>) -> Command {
    if cmd.get_arguments().any(|a| a.get_id() == CONFIG_ARG) {
        let ids: Vec<String> = cmd
            .get_arguments()
            .filter(|a| is_setting(a) && values.contains_key(a.get_id().as_str()))
            .map(|a| a.get_id().to_string())
            .collect();
        for id in ids {
            let Some(list) = values.get(&id) else {
                continue;
            };
            let list: Vec<clap::builder::OsStr> = list.iter().map(|v| v.clone().into()).collect();
            cmd = cmd.mut_arg(&id, |a| {
                let hide = a.is_hide_env_values_set();
                a.default_values(list).hide_default_value(hide)
            });
        }
    }
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    for name in names {
        cmd = cmd.mut_subcommand(name, |sub| apply(sub, values));
    }
    cmd
}

/// `cmd` with the configuration file's settings (if `argv` or
/// `ROUNDS_CONFIG` names one) as its arguments' defaults.
pub fn with_file_defaults(cmd: Command, argv: &[OsString]) -> anyhow::Result<Command> {
    let Some(path) = config_path(&cmd, argv) else {
        return Ok(cmd);
    };
    let values = read_file(&path, &cmd)?;
    Ok(apply(cmd, &values))
}
