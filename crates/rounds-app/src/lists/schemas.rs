//! The team's saved column sets: made from a list or from given columns,
//! renamed or replaced.

use rounds_core::audit::Operation;
use rounds_core::lists::{ColumnKey, ColumnSchema, SchemaColumn, LIST_NAME_MAX};
use rounds_core::validate::InvalidInput;
use rounds_core::{ListId, SchemaId, TeamId, Timestamp};
use rounds_store::{lists, AnyConnection};
use serde_json::json;

use crate::access::{Need, Subject};
use crate::{Actor, App, AppError};

use super::check_name;

impl App {
    pub async fn list_schemas(
        &self,
        actor: &Actor,
        team: TeamId,
    ) -> Result<Vec<ColumnSchema>, AppError> {
        self.team_access(actor, team, Need::Member, "listSchemas")
            .await?;
        let mut conn = self.db.read().await?;
        Ok(lists::schemas(&mut conn, team).await?)
    }

    /// The columns for a column set: those of `from_list`, or the ones given
    /// (each a built-in key or a column of the team).
    async fn schema_columns(
        &self,
        conn: &mut AnyConnection,
        actor: &Actor,
        team: TeamId,
        from_list: Option<ListId>,
        columns: Option<Vec<SchemaColumn>>,
    ) -> Result<Vec<SchemaColumn>, AppError> {
        match (from_list, columns) {
            (Some(list), None) => {
                self.list_in_team(conn, actor, team, list)
                    .await
                    .map_err(|_| InvalidInput::new("fromListId", "the team has no such list"))?;
                Ok(lists::list_columns(conn, list)
                    .await?
                    .into_iter()
                    .map(|c| SchemaColumn {
                        key: c.key.to_string(),
                        hidden: c.hidden,
                        width: c.width,
                    })
                    .collect())
            }
            (None, Some(columns)) => {
                let team_columns = lists::team_columns(conn, team).await?;
                for c in &columns {
                    let key = c
                        .key
                        .parse::<ColumnKey>()
                        .map_err(|e| InvalidInput::new("columns", e.message))?;
                    if let ColumnKey::Team(id) = key {
                        if !team_columns.iter().any(|t| t.id == id) {
                            return Err(InvalidInput::new(
                                "columns",
                                format!("the team has no column {id}"),
                            )
                            .into());
                        }
                    }
                }
                Ok(columns)
            }
            _ => Err(InvalidInput::new("fromListId", "give either fromListId or columns").into()),
        }
    }

    /// Saves a named column set: the columns of `from_list`, or the ones given.
    pub async fn create_schema(
        &self,
        actor: &Actor,
        team: TeamId,
        name: &str,
        from_list: Option<ListId>,
        columns: Option<Vec<SchemaColumn>>,
    ) -> Result<ColumnSchema, AppError> {
        self.team_access(actor, team, Need::Member, "createSchema")
            .await?;
        let name = check_name("name", name, LIST_NAME_MAX)?;
        let mut tx = self.db.write().await?;
        let columns = self
            .schema_columns(tx.conn(), actor, team, from_list, columns)
            .await?;
        let schema = ColumnSchema {
            id: SchemaId::new_random(),
            name,
            columns,
            updated_at: Timestamp::now(),
        };
        lists::insert_schema(tx.conn(), team, &schema)
            .await
            .map_err(|e| duplicate_schema(e, &schema.name))?;
        let detail = json!({ "schemaId": schema.id.to_string(), "name": schema.name, "columns": schema.columns.len() });
        self.audit_done(
            &mut tx,
            actor,
            Operation::PatientSchemaCreate,
            Subject::team(team),
            detail,
        )
        .await?;
        tx.commit().await?;
        Ok(schema)
    }

    /// Renames a column set or replaces its columns (from a list or given).
    pub async fn update_schema(
        &self,
        actor: &Actor,
        team: TeamId,
        id: SchemaId,
        name: Option<&str>,
        from_list: Option<ListId>,
        columns: Option<Vec<SchemaColumn>>,
    ) -> Result<ColumnSchema, AppError> {
        self.team_access(actor, team, Need::Member, "updateSchema")
            .await?;
        let name = name
            .map(|n| check_name("name", n, LIST_NAME_MAX))
            .transpose()?;
        let mut tx = self.db.write().await?;
        let mut schema = lists::schema(tx.conn(), team, id)
            .await?
            .ok_or(AppError::NotFound { what: "column set" })?;
        if from_list.is_some() || columns.is_some() {
            schema.columns = self
                .schema_columns(tx.conn(), actor, team, from_list, columns)
                .await?;
        }
        if let Some(name) = name {
            schema.name = name;
        }
        schema.updated_at = Timestamp::now();
        lists::update_schema(tx.conn(), &schema)
            .await
            .map_err(|e| duplicate_schema(e, &schema.name))?;
        let detail = json!({ "schemaId": id.to_string(), "name": schema.name, "columns": schema.columns.len() });
        self.audit_done(
            &mut tx,
            actor,
            Operation::PatientSchemaUpdate,
            Subject::team(team),
            detail,
        )
        .await?;
        tx.commit().await?;
        Ok(schema)
    }
}

fn duplicate_schema(e: rounds_store::StoreError, name: &str) -> AppError {
    if e.is_duplicate_of("name_key") {
        AppError::Duplicate {
            field: "name",
            message: format!("the team already has a column set named {name:?}"),
        }
    } else {
        e.into()
    }
}
