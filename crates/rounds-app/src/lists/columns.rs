//! A list's columns: built-in, EHR and team columns, adding, changing and
//! removing them, and the checks on a team column's label, unit, options
//! and width.

use rounds_core::audit::Operation;
use rounds_core::lists::{
    normalize_options, ChoiceOption, ColumnKey, ColumnType, ListColumn, TeamColumn,
    COLUMN_LABEL_MAX, UNIT_MAX,
};
use rounds_core::validate::{InvalidInput, TextKind};
use rounds_core::{ColumnId, ListId, TeamId, Timestamp};
use rounds_store::{lists, AnyConnection};
use serde_json::json;

use crate::access::{Need, Subject};
use crate::live::Change;
use crate::{Actor, App, AppError};

use super::check_name;

/// A column as a list shows it, with what it is.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedColumn {
    pub key: ColumnKey,
    pub label: String,
    /// None for built-in columns.
    pub team: Option<TeamColumn>,
    pub hidden: bool,
    pub width: Option<i64>,
    pub position: i64,
}

/// What a new or changed column should be.
#[derive(Debug, Clone, Default)]
pub struct ColumnSpec {
    /// A built-in column key or an existing team column id to show.
    pub key: Option<String>,
    /// For a new team column: its label, type, unit and options.
    pub label: Option<String>,
    pub kind: Option<String>,
    pub unit: Option<String>,
    pub options: Option<Vec<ChoiceOption>>,
    pub hidden: Option<bool>,
    pub width: Option<i64>,
    /// New place among the list's columns (0 = first).
    pub position: Option<i64>,
    /// Make (or rename to) a label the team already has a column of: a
    /// second, separate column. Without it such a label is refused, so that
    /// "Plan" added again is the team's "Plan", not an unrelated twin.
    pub allow_same_label: bool,
}

/// Refuses `label` when another team column (not `except`) has it, unless
/// the caller asked for a second column of the same label.
async fn refuse_same_label(
    conn: &mut AnyConnection,
    team: TeamId,
    label: &str,
    except: Option<ColumnId>,
    allowed: bool,
) -> Result<(), AppError> {
    if allowed {
        return Ok(());
    }
    let folded = rounds_core::view::fold(label);
    let same = lists::team_columns(conn, team)
        .await?
        .into_iter()
        .find(|c| Some(c.id) != except && rounds_core::view::fold(&c.label) == folded);
    match same {
        Some(c) => Err(AppError::Duplicate {
            field: "label",
            message: format!(
                "the team already has a column named {:?} (key {}): show that one on the list, or ask for a second, separate column of the same name (allowSameLabel)",
                c.label,
                ColumnKey::Team(c.id)
            ),
        }),
        None => Ok(()),
    }
}

impl App {
    /// The list's columns in order, with labels and types.
    pub(crate) async fn resolved_columns(
        &self,
        conn: &mut AnyConnection,
        team: TeamId,
        list: ListId,
    ) -> Result<Vec<ResolvedColumn>, AppError> {
        let team_columns = lists::team_columns(conn, team).await?;
        let shown = lists::list_columns(conn, list).await?;
        Ok(shown
            .into_iter()
            .filter_map(|c| {
                let (label, team) = match c.key {
                    ColumnKey::Builtin(b) => (b.label().to_owned(), None),
                    ColumnKey::Ehr(e) => (e.label().to_owned(), None),
                    ColumnKey::Team(id) => {
                        let t = team_columns.iter().find(|t| t.id == id)?.clone();
                        (t.label.clone(), Some(t))
                    }
                };
                Some(ResolvedColumn {
                    key: c.key,
                    label,
                    team,
                    hidden: c.hidden,
                    width: c.width,
                    position: c.position,
                })
            })
            .collect())
    }

    /// One column of a list, as the list shows it.
    async fn resolved_column(
        &self,
        conn: &mut AnyConnection,
        team: TeamId,
        list: ListId,
        key: ColumnKey,
    ) -> Result<ResolvedColumn, AppError> {
        self.resolved_columns(conn, team, list)
            .await?
            .into_iter()
            .find(|c| c.key == key)
            .ok_or(AppError::NotFound { what: "column" })
    }

    /// Every column the team has made, for the column picker (which offers
    /// them before a new one, so a second "Plan" is not made by mistake).
    pub async fn team_columns(
        &self,
        actor: &Actor,
        team: TeamId,
    ) -> Result<Vec<TeamColumn>, AppError> {
        self.team_access(actor, team, Need::Member, "listTeamColumns")
            .await?;
        let mut conn = self.db.read().await?;
        Ok(lists::team_columns(&mut conn, team).await?)
    }

    pub async fn list_columns(
        &self,
        actor: &Actor,
        team: TeamId,
        list: ListId,
    ) -> Result<Vec<ResolvedColumn>, AppError> {
        self.team_access(actor, team, Need::Member, "listColumns")
            .await?;
        let mut conn = self.db.read().await?;
        self.list_in_team(&mut conn, actor, team, list).await?;
        self.resolved_columns(&mut conn, team, list).await
    }

    /// Adds a column to a list: a built-in one, an existing team column, or
    /// a new team column described by label and type.
    pub async fn add_column(
        &self,
        actor: &Actor,
        team: TeamId,
        list: ListId,
        spec: &ColumnSpec,
    ) -> Result<ResolvedColumn, AppError> {
        self.team_access(actor, team, Need::Member, "addColumn")
            .await?;
        let now = Timestamp::now();
        let mut tx = self.db.write().await?;
        self.list_in_team(tx.conn(), actor, team, list).await?;
        let existing = lists::list_columns(tx.conn(), list).await?;
        let (key, created) = match (&spec.key, &spec.kind) {
            (Some(raw), None) => {
                let key: ColumnKey = raw
                    .parse()
                    .map_err(|e: InvalidInput| InvalidInput::new("key", e.message))?;
                if let ColumnKey::Team(id) = key {
                    lists::team_column(tx.conn(), team, id)
                        .await?
                        .ok_or_else(|| InvalidInput::new("key", "the team has no such column"))?;
                }
                (key, None)
            }
            (None, Some(kind)) => {
                let kind: ColumnType = kind.parse()?;
                let label = check_name(
                    "label",
                    spec.label.as_deref().unwrap_or(""),
                    COLUMN_LABEL_MAX,
                )?;
                refuse_same_label(tx.conn(), team, &label, None, spec.allow_same_label).await?;
                let column = TeamColumn {
                    id: ColumnId::new_random(),
                    label,
                    kind,
                    unit: check_unit(kind, spec.unit.as_deref())?,
                    options: check_options(kind, spec.options.clone())?,
                };
                lists::insert_team_column(tx.conn(), team, &column, now).await?;
                (ColumnKey::Team(column.id), Some(column))
            }
            _ => {
                return Err(InvalidInput::new(
                    "key",
                    "give either the key of a column to show, or a label and type for a new column",
                )
                .into())
            }
        };
        if existing.iter().any(|c| c.key == key) {
            return Err(AppError::Duplicate {
                field: "key",
                message: "the list already shows this column".into(),
            });
        }
        let position = existing.iter().map(|c| c.position + 1).max().unwrap_or(0);
        let column = ListColumn {
            key,
            position,
            hidden: spec.hidden.unwrap_or(false),
            width: check_width(spec.width)?,
        };
        lists::put_list_column(tx.conn(), list, &column).await?;
        self.audit_done(&mut tx, actor, Operation::PatientListEditColumns, Subject::list(team, list), json!({ "added": key.to_string(), "label": created.as_ref().map(|c| c.label.clone()), "type": created.as_ref().map(|c| c.kind.as_str()) })).await?;
        self.announce(&mut tx, team, &[list], &Change::ColumnsChanged, actor)
            .await?;
        let column = self.resolved_column(tx.conn(), team, list, key).await?;
        self.commit(tx).await?;
        Ok(column)
    }

    /// Renames a team column (on every list that shows it), changes its
    /// unit or options, or changes how this list shows it.
    pub async fn update_column(
        &self,
        actor: &Actor,
        team: TeamId,
        list: ListId,
        key: &str,
        spec: &ColumnSpec,
    ) -> Result<ResolvedColumn, AppError> {
        self.team_access(actor, team, Need::Member, "updateColumn")
            .await?;
        let key: ColumnKey = key.parse()?;
        let mut tx = self.db.write().await?;
        self.list_in_team(tx.conn(), actor, team, list).await?;
        let mut shown = lists::list_columns(tx.conn(), list).await?;
        let index = shown
            .iter()
            .position(|c| c.key == key)
            .ok_or(AppError::NotFound { what: "column" })?;
        let mut changes = serde_json::Map::new();
        if spec.label.is_some() || spec.unit.is_some() || spec.options.is_some() {
            let ColumnKey::Team(id) = key else {
                return Err(InvalidInput::new(
                    "label",
                    "built-in columns keep their names and types",
                )
                .into());
            };
            let mut column = lists::team_column(tx.conn(), team, id)
                .await?
                .ok_or(AppError::NotFound { what: "column" })?;
            if let Some(label) = &spec.label {
                column.label = check_name("label", label, COLUMN_LABEL_MAX)?;
                refuse_same_label(
                    tx.conn(),
                    team,
                    &column.label,
                    Some(id),
                    spec.allow_same_label,
                )
                .await?;
                changes.insert("label".into(), json!(column.label));
            }
            if spec.unit.is_some() {
                column.unit = check_unit(column.kind, spec.unit.as_deref())?;
                changes.insert("unit".into(), json!(column.unit));
            }
            if let Some(options) = &spec.options {
                column.options = check_options(column.kind, Some(options.clone()))?;
                changes.insert(
                    "options".into(),
                    json!(column.options.iter().map(|o| &o.label).collect::<Vec<_>>()),
                );
            }
            lists::update_team_column(tx.conn(), &column).await?;
        }
        if let Some(hidden) = spec.hidden {
            shown[index].hidden = hidden;
            changes.insert("hidden".into(), json!(hidden));
        }
        if spec.width.is_some() {
            shown[index].width = check_width(spec.width)?;
            changes.insert("width".into(), json!(shown[index].width));
        }
        if let Some(position) = spec.position {
            let moved = shown.remove(index);
            let at = usize::try_from(position.max(0))
                .unwrap_or(0)
                .min(shown.len());
            shown.insert(at, moved);
            changes.insert("position".into(), json!(at));
        }
        for (i, column) in shown.iter_mut().enumerate() {
            column.position = i as i64;
            lists::put_list_column(tx.conn(), list, column).await?;
        }
        self.audit_done(
            &mut tx,
            actor,
            Operation::PatientListEditColumns,
            Subject::list(team, list),
            json!({ "column": key.to_string(), "changes": changes }),
        )
        .await?;
        let lists_showing = match key {
            ColumnKey::Team(_)
                if spec.label.is_some() || spec.options.is_some() || spec.unit.is_some() =>
            {
                lists::for_team(tx.conn(), team)
                    .await?
                    .into_iter()
                    .map(|l| l.id)
                    .collect()
            }
            _ => vec![list],
        };
        self.announce(
            &mut tx,
            team,
            &lists_showing,
            &Change::ColumnsChanged,
            actor,
        )
        .await?;
        let column = self.resolved_column(tx.conn(), team, list, key).await?;
        self.commit(tx).await?;
        Ok(column)
    }

    /// Stops showing a column on a list. A team column's values stay with
    /// the patients (other lists may show it, and it can be added back).
    pub async fn remove_column(
        &self,
        actor: &Actor,
        team: TeamId,
        list: ListId,
        key: &str,
    ) -> Result<(), AppError> {
        self.team_access(actor, team, Need::Member, "removeColumn")
            .await?;
        let key: ColumnKey = key.parse()?;
        let mut tx = self.db.write().await?;
        self.list_in_team(tx.conn(), actor, team, list).await?;
        if !lists::remove_list_column(tx.conn(), list, &key).await? {
            return Err(AppError::NotFound { what: "column" });
        }
        // Close the gap it leaves.
        for (i, mut column) in lists::list_columns(tx.conn(), list)
            .await?
            .into_iter()
            .enumerate()
        {
            column.position = i as i64;
            lists::put_list_column(tx.conn(), list, &column).await?;
        }
        self.audit_done(
            &mut tx,
            actor,
            Operation::PatientListEditColumns,
            Subject::list(team, list),
            json!({ "removed": key.to_string() }),
        )
        .await?;
        self.announce(&mut tx, team, &[list], &Change::ColumnsChanged, actor)
            .await?;
        self.commit(tx).await?;
        Ok(())
    }
}

fn check_unit(kind: ColumnType, unit: Option<&str>) -> Result<Option<String>, InvalidInput> {
    let unit = match unit {
        Some(u) => rounds_core::validate::text("unit", u, TextKind::Name, UNIT_MAX)?,
        None => None,
    };
    match unit {
        Some(_) if !kind.takes_unit() => {
            Err(InvalidInput::new("unit", "only number columns have a unit"))
        }
        other => Ok(other),
    }
}

fn check_options(
    kind: ColumnType,
    options: Option<Vec<ChoiceOption>>,
) -> Result<Vec<ChoiceOption>, InvalidInput> {
    match (kind.takes_options(), options) {
        (true, Some(options)) if !options.is_empty() => normalize_options(options, || {
            ColumnId::new_random().to_string()[..8].to_owned()
        }),
        (true, _) => Err(InvalidInput::new(
            "options",
            "a choice column needs at least one option",
        )),
        (false, Some(options)) if !options.is_empty() => Err(InvalidInput::new(
            "options",
            "only choice columns have options",
        )),
        _ => Ok(Vec::new()),
    }
}

fn check_width(width: Option<i64>) -> Result<Option<i64>, InvalidInput> {
    match width {
        Some(w) if !(40..=1200).contains(&w) => {
            Err(InvalidInput::new("width", "must be 40 to 1200 pixels"))
        }
        other => Ok(other),
    }
}
