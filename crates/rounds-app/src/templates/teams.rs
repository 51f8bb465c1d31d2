//! Templates and teams: the site's stored templates (installed, removed,
//! saved from a team's set-up) and making a team from a template.

use std::collections::HashMap;

use rounds_core::audit::Operation;
use rounds_core::lists::{
    normalize_options, BuiltinColumn, ChoiceOption, ColumnKey, ColumnSchema, EhrColumn, ListColumn,
    SchemaColumn, TeamColumn,
};
use rounds_core::model::Team;
use rounds_core::validate::{required_text, InvalidInput, TextKind};
use rounds_core::{ColumnId, ListId, SchemaId, Timestamp};
use rounds_store::lists;
use serde_json::json;

use crate::access::Subject;
use crate::{Actor, App, AppError};

use super::{
    builtin_templates, id_of, Ref, TeamTemplate, TemplateColumn, TemplateList, TemplateSet,
    SITE_KEY,
};

impl App {
    /// The templates a team can start from: the built-in ones, then the
    /// site's own (a stored one that no longer reads is left out, logged).
    pub async fn team_templates(&self) -> Result<Vec<TeamTemplate>, AppError> {
        let mut all = builtin_templates();
        let stored = {
            let mut conn = self.db.read().await?;
            rounds_store::site::with_prefix(&mut conn, SITE_KEY).await?
        };
        for (key, body) in stored {
            match serde_json::from_str::<TeamTemplate>(&body) {
                Ok(mut t) => {
                    t.site = true;
                    all.push(t);
                }
                Err(e) => {
                    tracing::error!(key = %key, error = %e, "a stored site template does not read");
                }
            }
        }
        Ok(all)
    }

    /// Installs a site template (the console's `rounds team add-template`):
    /// checked, never over a built-in one, over a site one of the same id
    /// only when `replace`. Answers whether one was replaced.
    pub async fn install_site_template(
        &self,
        template: &TeamTemplate,
        replace: bool,
    ) -> Result<bool, AppError> {
        template.check()?;
        if builtin_templates().iter().any(|b| b.id == template.id) {
            return Err(InvalidInput::new(
                "id",
                format!(
                    "{:?} is a built-in template's id; give the site's own another",
                    template.id
                ),
            )
            .into());
        }
        let key = format!("{SITE_KEY}{}", template.id);
        let body = serde_json::to_string(template)
            .map_err(|e| AppError::Internal(format!("cannot write the template: {e}")))?;
        let mut tx = self.db.write().await?;
        let existed = rounds_store::site::get(tx.conn(), &key).await?.is_some();
        if existed && !replace {
            return Err(AppError::Conflict {
                message: format!(
                    "the site already has a template {:?}; replace it explicitly",
                    template.id
                ),
            });
        }
        rounds_store::site::set(tx.conn(), &key, &body, Timestamp::now()).await?;
        tx.commit().await?;
        Ok(existed)
    }

    /// Removes a site template; false if there was none of that id.
    pub async fn remove_site_template(&self, id: &str) -> Result<bool, AppError> {
        let mut tx = self.db.write().await?;
        let removed = rounds_store::site::remove(tx.conn(), &format!("{SITE_KEY}{id}")).await?;
        tx.commit().await?;
        Ok(removed)
    }

    /// Saves a team's set-up as a site template (its owner): its team
    /// columns with their choices and colours, its lists with the columns
    /// they show in order, the default list, and its saved column sets. No
    /// patient, value or member goes into it. The id is made of the name.
    pub async fn save_team_as_template(
        &self,
        actor: &Actor,
        team: rounds_core::TeamId,
        name: &str,
        description: &str,
    ) -> Result<TeamTemplate, AppError> {
        self.team_access(actor, team, crate::Need::Owner, "saveTeamTemplate")
            .await?;
        let name = required_text("name", name, TextKind::Name, 100)?;
        let description = description.trim().chars().take(500).collect::<String>();
        let mut conn = self.db.read().await?;
        let team_columns = lists::team_columns(&mut conn, team).await?;
        let team_lists = lists::for_team(&mut conn, team).await?;
        let mut shown = Vec::new();
        for l in &team_lists {
            let mut columns = lists::list_columns(&mut conn, l.id).await?;
            columns.sort_by_key(|c| c.position);
            shown.push(columns);
        }
        let sets = lists::schemas(&mut conn, team).await?;
        drop(conn);

        // Template keys for the team's columns, made of their labels.
        let mut keys: HashMap<String, String> = HashMap::new();
        let mut columns = Vec::new();
        for c in &team_columns {
            let base = id_of(&c.label);
            let mut key = base.clone();
            let mut n = 2;
            while keys.values().any(|k| *k == key)
                || BuiltinColumn::from_key(&key).is_some()
                || EhrColumn::from_key(&key).is_some()
            {
                key = format!("{base}-{n}");
                n += 1;
            }
            keys.insert(c.id.to_string(), key.clone());
            columns.push(TemplateColumn {
                key,
                label: c.label.clone(),
                kind: c.kind,
                unit: c.unit.clone(),
                options: c
                    .options
                    .iter()
                    .map(|o| ChoiceOption {
                        id: String::new(),
                        label: o.label.clone(),
                        color: o.color.clone(),
                    })
                    .collect(),
            });
        }
        let key_of = |key: &str| -> Option<String> {
            match key.parse::<ColumnKey>().ok()? {
                ColumnKey::Team(id) => keys.get(&id.to_string()).cloned(),
                other => Some(other.to_string()),
            }
        };
        let template = TeamTemplate {
            id: id_of(&name),
            description,
            columns,
            lists: team_lists
                .iter()
                .zip(&shown)
                .map(|(l, cols)| TemplateList {
                    name: l.name.clone(),
                    default: l.is_default,
                    columns: cols
                        .iter()
                        .filter(|c| !c.hidden)
                        .filter_map(|c| key_of(&c.key.to_string()))
                        .collect(),
                })
                .collect(),
            column_sets: sets
                .iter()
                .map(|s| TemplateSet {
                    name: s.name.clone(),
                    columns: s
                        .columns
                        .iter()
                        .filter(|c| !c.hidden)
                        .filter_map(|c| key_of(&c.key))
                        .collect(),
                })
                .collect(),
            name,
            site: true,
        };
        if template.lists.is_empty() {
            return Err(InvalidInput::new(
                "name",
                "the team has no list yet: a template needs at least one",
            )
            .into());
        }
        let all = self.team_templates().await?;
        if let Some(same) = all.iter().find(|t| t.id == template.id) {
            return Err(AppError::Conflict {
                message: format!(
                    "a template {:?} exists already ({}); choose another name",
                    same.name, same.id
                ),
            });
        }
        self.install_site_template(&template, false).await?;
        tracing::info!(template = %template.id, team = %team, "team set-up saved as a site template");
        Ok(template)
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
        let all = self.team_templates().await?;
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
                options: if c.kind.takes_options() {
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
