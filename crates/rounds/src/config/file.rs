//! The configuration file: its settings become the arguments' defaults
//! (see the parent module for why).

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Command;

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
