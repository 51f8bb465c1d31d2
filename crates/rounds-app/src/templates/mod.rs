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

use std::collections::HashMap;

use rounds_core::audit::Operation;
use rounds_core::lists::{
    normalize_options, BuiltinColumn, ChoiceOption, ColumnKey, ColumnSchema, ColumnType, EhrColumn,
    ListColumn, SchemaColumn, TeamColumn, COLUMN_LABEL_MAX, LIST_NAME_MAX,
};
use rounds_core::model::Team;
use rounds_core::validate::{name_key, required_text, InvalidInput, TextKind};
use rounds_core::{ColumnId, ListId, SchemaId, Timestamp};
use rounds_store::lists;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::access::Subject;
use crate::{Actor, App, AppError};

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
            match (c.kind, c.options.is_empty()) {
                (ColumnType::Choice, true) => {
                    return Err(InvalidInput::new(
                        "columns",
                        format!("the choice column {:?} needs options", c.label),
                    ))
                }
                (ColumnType::Choice, false) => {
                    normalize_options(c.options.clone(), || "x".to_owned())?;
                }
                (_, false) => {
                    return Err(InvalidInput::new(
                        "columns",
                        format!("only choice columns have options ({:?})", c.label),
                    ))
                }
                _ => {}
            }
            if c.unit.is_some() && c.kind != ColumnType::Number {
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

impl App {
    /// The templates a team can start from.
    pub fn team_templates(&self) -> Vec<TeamTemplate> {
        builtin_templates()
    }

    /// Creates a team owned by `actor`, provisioned from the template
    /// `template_id`, in one transaction: the team, its team columns, its
    /// lists with their columns, the default list and the saved column
    /// sets, or (on any failure) nothing.
    pub async fn create_team_from_template(
        &self,
        actor: &Actor,
        name: &str,
        template_id: &str,
    ) -> Result<Team, AppError> {
        let all = self.team_templates();
        let template = all.iter().find(|t| t.id == template_id).ok_or_else(|| {
            let ids: Vec<&str> = all.iter().map(|t| t.id.as_str()).collect();
            InvalidInput::new(
                "template",
                format!("{template_id:?} is not one of {}", ids.join(", ")),
            )
        })?;
        template.check()?;
        let now = Timestamp::now();
        let mut tx = self.db.write().await?;
        let team = self
            .insert_team(&mut tx, actor, name, json!(template.id))
            .await?;
        let mut made: HashMap<&str, ColumnKey> = HashMap::new();
        for c in &template.columns {
            let column = TeamColumn {
                id: ColumnId::new_random(),
                label: c.label.clone(),
                kind: c.kind,
                unit: c.unit.clone(),
                options: if c.kind == ColumnType::Choice {
                    normalize_options(c.options.clone(), || {
                        ColumnId::new_random().to_string()[..8].to_owned()
                    })?
                } else {
                    Vec::new()
                },
            };
            lists::insert_team_column(tx.conn(), team.id, &column, now).await?;
            made.insert(c.key.as_str(), ColumnKey::Team(column.id));
        }
        let key_of = |k: &str| -> Option<ColumnKey> {
            match template.resolve(k)? {
                Ref::Key(key) => Some(key),
                Ref::Template(c) => made.get(c.key.as_str()).copied(),
            }
        };
        for (i, l) in template.lists.iter().enumerate() {
            let id = ListId::new_random();
            lists::insert(tx.conn(), id, team.id, &l.name, now, actor.user.id).await?;
            for (position, k) in l.columns.iter().enumerate() {
                if let Some(key) = key_of(k) {
                    let column = ListColumn {
                        key,
                        position: position as i64,
                        hidden: false,
                        width: None,
                    };
                    lists::put_list_column(tx.conn(), id, &column).await?;
                }
            }
            if l.default || (i == 0 && !template.lists.iter().any(|l| l.default)) {
                lists::set_default(tx.conn(), team.id, id).await?;
            }
            self.audit_done(
                &mut tx,
                actor,
                Operation::PatientListCreate,
                Subject::list(team.id, id),
                json!({ "name": l.name, "template": template.id }),
            )
            .await?;
        }
        for s in &template.column_sets {
            let schema = ColumnSchema {
                id: SchemaId::new_random(),
                name: s.name.clone(),
                columns: s
                    .columns
                    .iter()
                    .filter_map(|k| key_of(k))
                    .map(|key| SchemaColumn {
                        key: key.to_string(),
                        hidden: false,
                        width: None,
                    })
                    .collect(),
                updated_at: now,
            };
            lists::insert_schema(tx.conn(), team.id, &schema).await?;
            let mut entry = self.entry_for(
                actor,
                Operation::PatientSchemaCreate,
                rounds_core::audit::Outcome::Success,
            );
            entry.team_id = Some(team.id);
            entry.detail = json!({ "name": s.name, "template": template.id });
            rounds_store::audit::append(&mut tx, &entry).await?;
        }
        tx.commit().await?;
        Ok(team)
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
