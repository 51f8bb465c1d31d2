//! Configuration layering shared by `rounds` and `rounds gateway`.
//!
//! Each setting is one clap argument with its flag, its environment
//! variable (named with the program's prefix), its help, its check and its
//! default. A TOML file named by the program's `--config` argument sets the
//! same settings under the argument's id (the flag's long name in
//! snake_case): [`with_file_defaults`] makes the file's values the
//! arguments' defaults before the command line is parsed, so a flag beats
//! the environment, which beats the file, which beats the built-in default
//! — clap does the layering. Every key of the file is checked: it must be a
//! setting of a command that reads the file, or one of the program's
//! sections (tables of their own, such as `[[tenants]]`, read with
//! [`load_sections`]), and its value goes through the argument's own parser.
//!
//! A command reads the file when it has the `--config` argument, or when a
//! command above it has it as a global argument.

pub mod process;

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use clap::Command;
use serde::de::DeserializeOwned;

/// What makes one program's configuration file its own.
#[derive(Debug, Clone, Copy)]
pub struct Layering {
    /// The program's name in messages, e.g. `Rounds`.
    pub program: &'static str,
    /// The prefix of the settings' environment variables, e.g. `ROUNDS_`:
    /// an argument is a setting when its variable has it.
    pub env_prefix: &'static str,
    /// The id of the argument that names the file, e.g. `config`.
    pub config_arg: &'static str,
    /// The file's keys that are tables of their own rather than settings.
    pub sections: &'static [&'static str],
    /// Where a reader finds the settings, for the message about a key that
    /// is none, e.g. ``README's Configuration table and `rounds serve --help` ``.
    pub listed_in: &'static str,
}

/// Why a configuration file cannot be used. Each message names the file
/// (and the key, where one is at fault).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read the configuration file {}: {io}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        io: std::io::Error,
    },
    /// The file is not TOML.
    #[error("the configuration file {} is not valid TOML: {toml}", path.display())]
    NotToml {
        /// The file.
        path: PathBuf,
        /// Where and why.
        toml: toml::de::Error,
    },
    /// A key that is neither a setting nor a section.
    #[error("the configuration file {}: `{key}` is not a setting of {program} (the settings are listed in {listed_in})", path.display())]
    Unknown {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// [`Layering::program`].
        program: &'static str,
        /// [`Layering::listed_in`].
        listed_in: &'static str,
    },
    /// A value of a shape no argument takes (a table, a nested list).
    #[error("the configuration file {}: `{key}`: {expected} is expected", path.display())]
    Shape {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// What would do.
        expected: &'static str,
    },
    /// A value the setting's own parser refuses.
    #[error("the configuration file {}: `{key} = {value}`: {message}", path.display())]
    Value {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// The value as written in the file.
        value: String,
        /// The parser's message (as on the command line).
        message: String,
    },
    /// A section that does not have the shape the program wants.
    #[error("the configuration file {}: {toml}", path.display())]
    Section {
        /// The file.
        path: PathBuf,
        /// Where and why.
        toml: toml::de::Error,
    },
}

impl Layering {
    /// An argument is a setting when it has a variable with the program's
    /// prefix (positional arguments and the file's own name are not).
    fn is_setting(&self, arg: &clap::Arg) -> bool {
        arg.get_id() != self.config_arg
            && arg
                .get_env()
                .and_then(OsStr::to_str)
                .is_some_and(|e| e.starts_with(self.env_prefix))
    }

    /// Whether `cmd` reads the file itself (`Some(global)`), or not.
    fn config_of(&self, cmd: &Command) -> Option<bool> {
        cmd.get_arguments()
            .find(|a| a.get_id() == self.config_arg)
            .map(clap::Arg::is_global_set)
    }

    /// The configuration file that the command line `argv` names (the flag
    /// or its variable), if `cmd` accepts one. A command line that does not
    /// parse names none: the real parse then says what is wrong with it.
    pub fn config_path(&self, cmd: &Command, argv: &[OsString]) -> Option<PathBuf> {
        let matches = cmd.clone().try_get_matches_from(argv).ok()?;
        let mut level = &matches;
        loop {
            if let Ok(Some(path)) = level.try_get_one::<PathBuf>(self.config_arg) {
                return Some(path.clone());
            }
            level = level.subcommand()?.1;
        }
    }

    /// Every setting of every command that reads the file, by id.
    pub fn settings_of(&self, cmd: &Command, out: &mut BTreeMap<String, clap::Arg>) {
        self.collect(cmd, false, out);
    }

    fn collect(&self, cmd: &Command, inherited: bool, out: &mut BTreeMap<String, clap::Arg>) {
        let own = self.config_of(cmd);
        if inherited || own.is_some() {
            for arg in cmd.get_arguments().filter(|a| self.is_setting(a)) {
                out.entry(arg.get_id().to_string())
                    .or_insert_with(|| arg.clone());
            }
        }
        let passes_on = inherited || own == Some(true);
        for sub in cmd.get_subcommands() {
            self.collect(sub, passes_on, out);
        }
    }

    /// `cmd` with the configuration file's settings (if `argv` or the
    /// file's variable names one) as its arguments' defaults.
    pub fn with_file_defaults(
        &self,
        cmd: Command,
        argv: &[OsString],
    ) -> Result<Command, ConfigError> {
        let Some(path) = self.config_path(&cmd, argv) else {
            return Ok(cmd);
        };
        let values = self.read_file(&path, &cmd)?;
        Ok(self.apply(cmd, &values, false))
    }

    /// The settings of the file at `path`, checked: every key is a setting
    /// or a section, and every value is one its argument accepts.
    fn read_file(
        &self,
        path: &Path,
        cmd: &Command,
    ) -> Result<BTreeMap<String, Vec<String>>, ConfigError> {
        let table = read_table(path)?;
        let mut known = BTreeMap::new();
        self.settings_of(cmd, &mut known);
        let mut values = BTreeMap::new();
        for (key, value) in &table {
            if self.sections.contains(&key.as_str()) {
                continue;
            }
            let Some(arg) = known.get(key) else {
                return Err(ConfigError::Unknown {
                    path: path.to_owned(),
                    key: key.clone(),
                    program: self.program,
                    listed_in: self.listed_in,
                });
            };
            let list = toml_values(value, arg.get_value_delimiter()).map_err(|expected| {
                ConfigError::Shape {
                    path: path.to_owned(),
                    key: key.clone(),
                    expected,
                }
            })?;
            // The value goes through the argument's own parser, alone: the
            // same check (and message) as on the command line.
            let probe = Command::new(self.program).no_binary_name(true).arg(
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
                    return Err(ConfigError::Value {
                        path: path.to_owned(),
                        key: key.clone(),
                        value: value.to_string(),
                        message: first.trim_start_matches("error: ").to_owned(),
                    });
                }
            }
            values.insert(key.clone(), list);
        }
        Ok(values)
    }

    /// Gives the settings of `cmd` (and its subcommands) that the file sets
    /// the file's values as their defaults. A secret's default (an
    /// argument whose variable's value is hidden) is never shown in
    /// `--help`.
    fn apply(
        &self,
        mut cmd: Command,
        values: &BTreeMap<String, Vec<String>>,
        inherited: bool,
    ) -> Command {
        let own = self.config_of(&cmd);
        if inherited || own.is_some() {
            let ids: Vec<String> = cmd
                .get_arguments()
                .filter(|a| self.is_setting(a) && values.contains_key(a.get_id().as_str()))
                .map(|a| a.get_id().to_string())
                .collect();
            for id in ids {
                let Some(list) = values.get(&id) else {
                    continue;
                };
                let list: Vec<clap::builder::OsStr> =
                    list.iter().map(|v| v.clone().into()).collect();
                cmd = cmd.mut_arg(&id, |a| {
                    let hide = a.is_hide_env_values_set();
                    a.default_values(list).hide_default_value(hide)
                });
            }
        }
        let passes_on = inherited || own == Some(true);
        let names: Vec<String> = cmd
            .get_subcommands()
            .map(|s| s.get_name().to_owned())
            .collect();
        for name in names {
            cmd = cmd.mut_subcommand(name, |sub| self.apply(sub, values, passes_on));
        }
        cmd
    }

    /// The sections of the file at `path` (their defaults without a file),
    /// as `T` (a struct with one field per section). The settings beside
    /// them are left to [`Layering::with_file_defaults`].
    pub fn load_sections<T: DeserializeOwned + Default>(
        &self,
        path: Option<&Path>,
    ) -> Result<T, ConfigError> {
        let Some(path) = path else {
            return Ok(T::default());
        };
        let mut table = read_table(path)?;
        table.retain(|k, _| self.sections.contains(&k));
        toml::Value::Table(table)
            .try_into()
            .map_err(|toml| ConfigError::Section {
                path: path.to_owned(),
                toml,
            })
    }
}

fn read_table(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|io| ConfigError::Read {
        path: path.to_owned(),
        io,
    })?;
    toml::from_str(&text).map_err(|toml| ConfigError::NotToml {
        path: path.to_owned(),
        toml,
    })
}

/// A TOML value as the argument values it stands for; else what would do.
fn toml_values(value: &toml::Value, delimiter: Option<char>) -> Result<Vec<String>, &'static str> {
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
            .map(|v| scalar(v).ok_or("a list of text, numbers or true/false"))
            .collect(),
        toml::Value::String(s) if delimiter.is_some() => Ok(s
            .split(delimiter.unwrap_or(','))
            .map(str::to_owned)
            .collect()),
        other => scalar(other)
            .map(|s| vec![s])
            .ok_or("text, a number, true/false or a list"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, ArgAction};
    use std::io::Write;

    const LAYERING: Layering = Layering {
        program: "test",
        env_prefix: "RCFG_TEST_",
        config_arg: "config",
        sections: &["items"],
        listed_in: "the test",
    };

    /// A root with a global --config and a subcommand holding the settings.
    fn cmd() -> Command {
        Command::new("test")
            .arg(
                Arg::new("config")
                    .long("config")
                    .global(true)
                    .value_parser(clap::value_parser!(PathBuf)),
            )
            .subcommand(
                Command::new("serve")
                    .arg(
                        Arg::new("port")
                            .long("port")
                            .env("RCFG_TEST_PORT")
                            .value_parser(clap::value_parser!(u16))
                            .default_value("80"),
                    )
                    .arg(
                        Arg::new("nets")
                            .long("nets")
                            .env("RCFG_TEST_NETS")
                            .value_delimiter(',')
                            .action(ArgAction::Append),
                    ),
            )
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    fn port(f: &tempfile::NamedTempFile, extra: &[&str]) -> Result<u16, ConfigError> {
        let mut argv: Vec<OsString> = vec![
            "test".into(),
            "--config".into(),
            f.path().into(),
            "serve".into(),
        ];
        argv.extend(extra.iter().map(OsString::from));
        let m = LAYERING
            .with_file_defaults(cmd(), &argv)?
            .get_matches_from(&argv);
        Ok(*m
            .subcommand_matches("serve")
            .unwrap()
            .get_one::<u16>("port")
            .unwrap())
    }

    #[test]
    fn a_global_config_covers_the_subcommands_and_flags_win() {
        let f =
            file("port = 8080\nnets = \"10.0.0.0/8,192.168.0.0/16\"\n[[items]]\nname = \"a\"\n");
        assert_eq!(port(&f, &[]).unwrap(), 8080);
        assert_eq!(port(&f, &["--port", "9"]).unwrap(), 9);
        let mut known = BTreeMap::new();
        LAYERING.settings_of(&cmd(), &mut known);
        assert_eq!(known.keys().collect::<Vec<_>>(), ["nets", "port"]);
    }

    #[test]
    fn bad_files_are_named_with_the_key() {
        let unknown = port(&file("prot = 1"), &[]).unwrap_err().to_string();
        assert!(
            unknown.contains("`prot` is not a setting of test"),
            "{unknown}"
        );
        let bad = port(&file("port = 70000"), &[]).unwrap_err().to_string();
        assert!(bad.contains("`port = 70000`"), "{bad}");
        let shape = port(&file("[port]\nx = 1"), &[]).unwrap_err().to_string();
        assert!(shape.contains("`port`"), "{shape}");
        let not_toml = port(&file("port = "), &[]).unwrap_err().to_string();
        assert!(not_toml.contains("not valid TOML"), "{not_toml}");
    }

    #[test]
    fn sections_are_read_apart() {
        #[derive(Debug, Default, serde::Deserialize)]
        struct Sections {
            #[serde(default)]
            items: Vec<toml::Table>,
        }
        let f = file("port = 1\n[[items]]\nname = \"a\"\n[[items]]\nname = \"b\"\n");
        let s: Sections = LAYERING.load_sections(Some(f.path())).unwrap();
        assert_eq!(s.items.len(), 2);
        let none: Sections = LAYERING.load_sections(None).unwrap();
        assert!(none.items.is_empty());
    }
}
