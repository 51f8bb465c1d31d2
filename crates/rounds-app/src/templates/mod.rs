//! Team templates: a new team's lists, team columns (with choices and
//! colours), the EHR and built-in columns its lists show, and its saved
//! column sets, made in one transaction with the team.
//!
//! Built-in templates (`builtin.json`): a medical ward, an ICU, a surgical
//! ward, an emergency department and an interdisciplinary meeting. The
//! format is the same for a site's own templates:
//! `{"id", "name", "description", "columns": [{"key", "label", "type",
//! "unit"?, "options"?: [{"label", "color"}]}], "lists": [{"name",
//! "default"?, "columns": [keys]}], "columnSets": [{"name", "columns"}]}`,
//! where a list's or set's column is a template column's key, a built-in
//! column (name, mrn, ageSex, birthDate, location, added) or an EHR column
//! (heartRate, bloodPressure, …).
//!
//! A site's own templates are installed from a file by the console
//! (`rounds team add-template FILE`: TOML if the name ends in `.toml`,
//! else JSON; the same fields, `columnSets` spelt so in TOML too), or saved
//! from a team's set-up by its owner. They are kept in the database
//! (`site_state`, key `team-template:{id}`) and offered beside the built-in
//! ones. A file that does not read or does not check is refused with the
//! line and column of the fault, or the field and what is wrong with it.
//! An `id` is 1–40 lowercase letters, digits and `-`, and a site template
//! cannot take a built-in one's id.
//!
//! Here: the format, reading a file and checking a template; `teams.rs`:
//! the site's stored templates and making a team from one.

use rounds_core::lists::{
    normalize_options, BuiltinColumn, ChoiceOption, ColumnKey, ColumnType, EhrColumn,
    COLUMN_LABEL_MAX, LIST_NAME_MAX,
};
use rounds_core::validate::{name_key, required_text, InvalidInput, TextKind};
use serde::{Deserialize, Serialize};

mod teams;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TemplateColumn {
    pub key: String,
    pub label: String,
    #[serde(rename = "type")]
    pub kind: ColumnType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<ChoiceOption>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TemplateList {
    pub name: String,
    #[serde(default)]
    pub default: bool,
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TemplateSet {
    pub name: String,
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TeamTemplate {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub columns: Vec<TemplateColumn>,
    pub lists: Vec<TemplateList>,
    #[serde(default)]
    pub column_sets: Vec<TemplateSet>,
    /// A site's own template (installed or saved), not a built-in one.
    #[serde(skip)]
    pub site: bool,
}

/// Where a site's template is kept in `site_state`.
const SITE_KEY: &str = "team-template:";
/// The longest template id.
pub const TEMPLATE_ID_MAX: usize = 40;

/// The 1-based line and column of a byte offset of `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Reads a template file: TOML when `file_name` ends in `.toml`, JSON
/// otherwise; then checks it. Errors say where (line and column) or which
/// field, on the field `file`.
pub fn parse_template_file(file_name: &str, text: &str) -> Result<TeamTemplate, InvalidInput> {
    let toml_file = file_name.to_ascii_lowercase().ends_with(".toml");
    let parsed: Result<TeamTemplate, String> = if toml_file {
        toml::from_str::<TeamTemplate>(text).map_err(|e| {
            let place = e.span().map(|s| line_col(text, s.start));
            let what = e.message().trim().to_owned();
            match place {
                Some((line, column)) => format!("line {line}, column {column}: {what}"),
                None => what,
            }
        })
    } else {
        serde_json::from_str::<TeamTemplate>(text).map_err(|e| {
            let what = e.to_string();
            // serde_json ends its message with " at line L column C".
            let what = what
                .rsplit_once(" at line ")
                .map_or(what.as_str(), |(w, _)| w)
                .to_owned();
            format!("line {}, column {}: {what}", e.line(), e.column())
        })
    };
    let template = parsed.map_err(|m| {
        InvalidInput::new(
            "file",
            format!(
                "{file_name} is not a team template ({}): {m}",
                if toml_file { "TOML" } else { "JSON" }
            ),
        )
    })?;
    template.check().map_err(|e| {
        InvalidInput::new(
            "file",
            format!("{file_name}: field {}: {}", e.field, e.message),
        )
    })?;
    Ok(template)
}

/// A template id made of a name: lowercase letters and digits joined by `-`.
fn id_of(name: &str) -> String {
    let id: String = name
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let id: String = id.chars().take(TEMPLATE_ID_MAX).collect();
    let id = id.trim_end_matches('-').to_owned();
    if id.is_empty() {
        "template".to_owned()
    } else {
        id
    }
}

const BUILTIN: &str = include_str!("builtin.json");

/// The built-in templates (checked by the tests; a broken one is left out
/// and logged rather than stopping Rounds).
pub fn builtin_templates() -> Vec<TeamTemplate> {
    match serde_json::from_str::<Vec<TeamTemplate>>(BUILTIN) {
        Ok(all) => all
            .into_iter()
            .filter(|t| match t.check() {
                Ok(()) => true,
                Err(e) => {
                    tracing::error!(template = %t.id, error = %e.message, "built-in template is invalid");
                    false
                }
            })
            .collect(),
        Err(e) => {
            tracing::error!(error = %e, "built-in templates do not parse");
            Vec::new()
        }
    }
}

/// A column a template's list or set names.
enum Ref<'a> {
    Key(ColumnKey),
    Template(&'a TemplateColumn),
}

impl TeamTemplate {
    fn resolve(&self, key: &str) -> Option<Ref<'_>> {
        if let Some(c) = self.columns.iter().find(|c| c.key == key) {
            return Some(Ref::Template(c));
        }
        BuiltinColumn::from_key(key)
            .map(ColumnKey::Builtin)
            .or_else(|| EhrColumn::from_key(key).map(ColumnKey::Ehr))
            .map(Ref::Key)
    }

    /// Checks the template: names, unique keys, columns that resolve.
    pub fn check(&self) -> Result<(), InvalidInput> {
        let id_ok = !self.id.is_empty()
            && self.id.len() <= TEMPLATE_ID_MAX
            && self
                .id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !id_ok {
            return Err(InvalidInput::new(
                "id",
                format!(
                    "{:?}: an id is 1 to {TEMPLATE_ID_MAX} lowercase letters, digits and \"-\"",
                    self.id
                ),
            ));
        }
        required_text("name", &self.name, TextKind::Name, 100)?;
        if self.lists.is_empty() {
            return Err(InvalidInput::new(
                "lists",
                "a template needs at least one list",
            ));
        }
        let mut keys = std::collections::HashSet::new();
        let mut labels = std::collections::HashSet::new();
        for c in &self.columns {
            if c.key.is_empty() || !keys.insert(c.key.as_str()) {
                return Err(InvalidInput::new(
                    "columns",
                    format!("column key {:?} is empty or appears twice", c.key),
                ));
            }
            if BuiltinColumn::from_key(&c.key).is_some() || EhrColumn::from_key(&c.key).is_some() {
                return Err(InvalidInput::new(
                    "columns",
                    format!("column key {:?} is a built-in or EHR column's", c.key),
                ));
            }
            required_text("columns", &c.label, TextKind::Name, COLUMN_LABEL_MAX)?;
            if !labels.insert(name_key(&c.label)) {
                return Err(InvalidInput::new(
                    "columns",
                    format!("two columns are labelled {:?}", c.label),
                ));
            }
            match (c.kind.takes_options(), c.options.is_empty()) {
                (true, true) => {
                    return Err(InvalidInput::new(
                        "columns",
                        format!("the choice column {:?} needs options", c.label),
                    ))
                }
                (true, false) => {
                    normalize_options(c.options.clone(), || "x".to_owned())?;
                }
                (false, false) => {
                    return Err(InvalidInput::new(
                        "columns",
                        format!("only choice columns have options ({:?})", c.label),
                    ))
                }
                (false, true) => {}
            }
            if c.unit.is_some() && !c.kind.takes_unit() {
                return Err(InvalidInput::new(
                    "columns",
                    format!("only number columns have a unit ({:?})", c.label),
                ));
            }
        }
        let mut names = std::collections::HashSet::new();
        let sets = self
            .lists
            .iter()
            .map(|l| (&l.name, &l.columns, LIST_NAME_MAX, "lists"))
            .chain(
                self.column_sets
                    .iter()
                    .map(|s| (&s.name, &s.columns, 100, "columnSets")),
            );
        for (name, columns, max, field) in sets {
            required_text(field, name, TextKind::Name, max)?;
            if field == "lists" && !names.insert(name_key(name)) {
                return Err(InvalidInput::new(
                    "lists",
                    format!("two lists are named {name:?}"),
                ));
            }
            for key in columns {
                if self.resolve(key).is_none() {
                    return Err(InvalidInput::new(
                        field,
                        format!("{name:?} shows {key:?}, which is neither a template column, a built-in column nor an EHR column"),
                    ));
                }
            }
        }
        if self.lists.iter().filter(|l| l.default).count() > 1 {
            return Err(InvalidInput::new(
                "lists",
                "at most one list is the default",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_template_is_valid() {
        let all: Vec<TeamTemplate> = serde_json::from_str(BUILTIN).unwrap_or_default();
        assert_eq!(all.len(), 5);
        for t in &all {
            assert_eq!(t.check(), Ok(()), "{}", t.id);
        }
        assert_eq!(builtin_templates().len(), 5);
    }

    #[test]
    fn a_list_naming_an_unknown_column_is_refused() {
        let mut t = builtin_templates().remove(0);
        t.lists[0].columns.push("nonsense".into());
        assert_eq!(t.check().map_err(|e| e.field), Err("lists".into()));
    }
}
