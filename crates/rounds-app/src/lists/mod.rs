//! Patient lists and their columns, and the team's saved column sets.

use rounds_core::audit::Operation;
use rounds_core::lists::{
    BuiltinColumn, ColumnKey, EhrColumn, ListColumn, PatientList, LIST_NAME_MAX,
};
use rounds_core::validate::{InvalidInput, TextKind};
use rounds_core::{ListId, SchemaId, TeamId, Timestamp};
use rounds_store::{lists, AnyConnection};
use serde_json::json;

use crate::access::{Foreign, Need, Subject};
use crate::live::Change;
use crate::{Actor, App, AppError};

mod columns;
mod schemas;

pub use columns::{ColumnSpec, ResolvedColumn};

/// The columns a new list starts with when no column set is chosen.
pub const DEFAULT_COLUMNS: [BuiltinColumn; 4] = [
    BuiltinColumn::Name,
    BuiltinColumn::AgeSex,
    BuiltinColumn::Mrn,
    BuiltinColumn::Location,
];

/// The EHR columns a new list of a team with an EHR connection shows after
/// [`DEFAULT_COLUMNS`] when no column set is chosen: the vital signs and
/// what a ward round reads first.
pub const DEFAULT_EHR_COLUMNS: [EhrColumn; 9] = [
    EhrColumn::HeartRate,
    EhrColumn::BloodPressure,
    EhrColumn::RespiratoryRate,
    EhrColumn::Temperature,
    EhrColumn::Spo2,
    EhrColumn::News2,
    EhrColumn::Conditions,
    EhrColumn::Allergies,
    EhrColumn::Medications,
];

fn check_name(field: &'static str, raw: &str, max: usize) -> Result<String, InvalidInput> {
    rounds_core::validate::required_text(field, raw, TextKind::Name, max)
}

fn duplicate_list(name: &str) -> AppError {
    AppError::Duplicate {
        field: "name",
        message: format!("the team already has a list named {name:?}"),
    }
}

impl App {
    /// The list if it belongs to `team` (which the caller may access); a
    /// list of another team is "not found" too, and the reach for it is
    /// recorded as AccessRefused.
    pub(crate) async fn list_in_team(
        &self,
        conn: &mut AnyConnection,
        actor: &Actor,
        team: TeamId,
        list: ListId,
    ) -> Result<PatientList, AppError> {
        match lists::by_id(conn, list).await? {
            Some(l) if l.team_id == team => Ok(l),
            Some(l) => {
                self.refuse_foreign(actor, team, Foreign::List(list), l.team_id);
                Err(AppError::NotFound { what: "list" })
            }
            None => Err(AppError::NotFound { what: "list" }),
        }
    }

    pub async fn list_lists(
        &self,
        actor: &Actor,
        team: TeamId,
    ) -> Result<Vec<PatientList>, AppError> {
        self.team_access(actor, team, Need::Member, "listLists")
            .await?;
        let mut conn = self.db.read().await?;
        Ok(lists::for_team(&mut conn, team).await?)
    }

    /// Creates a list with the default columns, or with a saved column set's.
    pub async fn create_list(
        &self,
        actor: &Actor,
        team: TeamId,
        name: &str,
        schema: Option<SchemaId>,
    ) -> Result<PatientList, AppError> {
        self.team_access(actor, team, Need::Member, "createList")
            .await?;
        let name = check_name("name", name, LIST_NAME_MAX)?;
        let now = Timestamp::now();
        let id = ListId::new_random();
        let mut tx = self.db.write().await?;
        let columns: Vec<ListColumn> = match schema {
            None => {
                // A saved connection that cannot be read still says the
                // team works with an EHR.
                let has_ehr = !matches!(
                    rounds_store::ehr::connection(tx.conn(), team).await,
                    Ok(None)
                );
                let ehr = if has_ehr {
                    &DEFAULT_EHR_COLUMNS[..]
                } else {
                    &[]
                };
                DEFAULT_COLUMNS
                    .iter()
                    .map(|b| ColumnKey::Builtin(*b))
                    .chain(ehr.iter().map(|e| ColumnKey::Ehr(*e)))
                    .enumerate()
                    .map(|(i, key)| ListColumn {
                        key,
                        position: i as i64,
                        hidden: false,
                        width: None,
                    })
                    .collect()
            }
            Some(schema_id) => {
                let schema = lists::schema(tx.conn(), team, schema_id)
                    .await?
                    .ok_or_else(|| {
                        AppError::Invalid(InvalidInput::new(
                            "schemaId",
                            "the team has no such column set",
                        ))
                    })?;
                let team_columns = lists::team_columns(tx.conn(), team).await?;
                let mut out = Vec::new();
                for (i, c) in schema.columns.iter().enumerate() {
                    // A column removed from the team since the set was saved is skipped.
                    if let Ok(key) = c.key.parse::<ColumnKey>() {
                        let exists = match key {
                            ColumnKey::Builtin(_) | ColumnKey::Ehr(_) => true,
                            ColumnKey::Team(id) => team_columns.iter().any(|t| t.id == id),
                        };
                        if exists {
                            out.push(ListColumn {
                                key,
                                position: i as i64,
                                hidden: c.hidden,
                                width: c.width,
                            });
                        }
                    }
                }
                out
            }
        };
        lists::insert(tx.conn(), id, team, &name, now, actor.user.id)
            .await
            .map_err(|e| {
                if e.is_duplicate_of("name_key") {
                    duplicate_list(&name)
                } else {
                    e.into()
                }
            })?;
        for column in &columns {
            lists::put_list_column(tx.conn(), id, column).await?;
        }
        self.audit_done(
            &mut tx,
            actor,
            Operation::PatientListCreate,
            Subject::list(team, id),
            json!({ "name": name, "schemaId": schema.map(|s| s.to_string()) }),
        )
        .await?;
        tx.commit().await?;
        let mut conn = self.db.read().await?;
        self.list_in_team(&mut conn, actor, team, id).await
    }

    pub async fn rename_list(
        &self,
        actor: &Actor,
        team: TeamId,
        list: ListId,
        name: &str,
    ) -> Result<PatientList, AppError> {
        self.team_access(actor, team, Need::Member, "renameList")
            .await?;
        let name = check_name("name", name, LIST_NAME_MAX)?;
        let mut tx = self.db.write().await?;
        let before = self.list_in_team(tx.conn(), actor, team, list).await?;
        lists::rename(tx.conn(), list, &name).await.map_err(|e| {
            if e.is_duplicate_of("name_key") {
                duplicate_list(&name)
            } else {
                e.into()
            }
        })?;
        self.audit_done(
            &mut tx,
            actor,
            Operation::PatientListRename,
            Subject::list(team, list),
            json!({ "from": before.name, "to": name }),
        )
        .await?;
        self.announce(
            &mut tx,
            team,
            &[list],
            &Change::ListRenamed { name: name.clone() },
            actor,
        )
        .await?;
        self.commit(tx).await?;
        let mut conn = self.db.read().await?;
        self.list_in_team(&mut conn, actor, team, list).await
    }

    /// Deletes a list (owners only). Its patients stay in the team.
    pub async fn delete_list(
        &self,
        actor: &Actor,
        team: TeamId,
        list: ListId,
    ) -> Result<(), AppError> {
        self.team_access(actor, team, Need::Owner, "deleteList")
            .await?;
        let mut tx = self.db.write().await?;
        let before = self.list_in_team(tx.conn(), actor, team, list).await?;
        lists::delete(tx.conn(), list).await?;
        self.audit_done(
            &mut tx,
            actor,
            Operation::PatientListDelete,
            Subject::list(team, list),
            json!({ "name": before.name }),
        )
        .await?;
        self.announce(&mut tx, team, &[list], &Change::ListDeleted, actor)
            .await?;
        self.commit(tx).await?;
        Ok(())
    }

    pub async fn set_default_list(
        &self,
        actor: &Actor,
        team: TeamId,
        list: ListId,
    ) -> Result<(), AppError> {
        self.team_access(actor, team, Need::Member, "setDefaultList")
            .await?;
        let mut tx = self.db.write().await?;
        self.list_in_team(tx.conn(), actor, team, list).await?;
        lists::set_default(tx.conn(), team, list).await?;
        self.audit_done(
            &mut tx,
            actor,
            Operation::PatientListSetDefault,
            Subject::list(team, list),
            serde_json::Value::Null,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
    /// Puts the team's lists in the given order (every list once).
    pub async fn reorder_lists(
        &self,
        actor: &Actor,
        team: TeamId,
        order: &[ListId],
    ) -> Result<Vec<PatientList>, AppError> {
        self.team_access(actor, team, Need::Member, "reorderLists")
            .await?;
        let mut tx = self.db.write().await?;
        let now: std::collections::HashSet<ListId> = lists::for_team(tx.conn(), team)
            .await?
            .iter()
            .map(|l| l.id)
            .collect();
        let given: std::collections::HashSet<ListId> = order.iter().copied().collect();
        if given.len() != order.len() || given != now {
            return Err(InvalidInput::new(
                "listIds",
                format!(
                    "must name each of the team's {} lists exactly once",
                    now.len()
                ),
            )
            .into());
        }
        lists::set_positions(tx.conn(), order).await?;
        tx.commit().await?;
        let mut conn = self.db.read().await?;
        Ok(lists::for_team(&mut conn, team).await?)
    }
}
