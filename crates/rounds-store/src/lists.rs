//! Lists, the team's columns, which columns each list shows, and saved
//! column sets.

use rounds_core::lists::{
    ChoiceOption, ColumnKey, ColumnSchema, ColumnType, ListColumn, PatientList, SchemaColumn,
    TeamColumn,
};
use rounds_core::{ColumnId, ListId, SchemaId, TeamId, Timestamp, UserId};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use rounds_core::validate::name_key;

use crate::users::parse;
use crate::StoreError;

fn list_from_row(row: &AnyRow) -> Result<PatientList, StoreError> {
    let id: String = row.try_get("id")?;
    let team: String = row.try_get("team_id")?;
    let default: Option<String> = row.try_get("default_list_id")?;
    Ok(PatientList {
        is_default: default.as_deref() == Some(id.as_str()),
        id: parse(&id, "list id")?,
        team_id: parse(&team, "team id")?,
        name: row.try_get("name")?,
        position: row.try_get("position")?,
        created_at: Timestamp::from_millis(row.try_get("created_at")?),
    })
}

const LIST_SELECT: &str =
    "SELECT l.id, l.team_id, l.name, l.position, l.created_at, t.default_list_id \
                           FROM patient_lists l JOIN teams t ON t.id = l.team_id";

pub async fn for_team(
    conn: &mut AnyConnection,
    team: TeamId,
) -> Result<Vec<PatientList>, StoreError> {
    let sql = format!("{LIST_SELECT} WHERE l.team_id = $1 ORDER BY l.position, l.name_key");
    crate::all_rows(conn, &sql, team.to_string(), list_from_row).await
}

pub async fn by_id(
    conn: &mut AnyConnection,
    id: ListId,
) -> Result<Option<PatientList>, StoreError> {
    let sql = format!("{LIST_SELECT} WHERE l.id = $1");
    crate::optional_row(conn, &sql, id.to_string(), list_from_row).await
}

pub async fn insert(
    conn: &mut AnyConnection,
    id: ListId,
    team: TeamId,
    name: &str,
    at: Timestamp,
    by: UserId,
) -> Result<(), StoreError> {
    let position: i64 = sqlx::query(
        "SELECT COALESCE(MAX(position), 0) + 1 AS p FROM patient_lists WHERE team_id = $1",
    )
    .bind(team.to_string())
    .fetch_one(&mut *conn)
    .await?
    .try_get("p")?;
    sqlx::query(
        "INSERT INTO patient_lists (id, team_id, name, name_key, position, created_at, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id.to_string())
    .bind(team.to_string())
    .bind(name)
    .bind(name_key(name))
    .bind(position)
    .bind(at.millis())
    .bind(by.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn rename(conn: &mut AnyConnection, id: ListId, name: &str) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE patient_lists SET name = $1, name_key = $2 WHERE id = $3")
        .bind(name)
        .bind(name_key(name))
        .bind(id.to_string())
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delete(conn: &mut AnyConnection, id: ListId) -> Result<bool, StoreError> {
    sqlx::query("UPDATE teams SET default_list_id = NULL WHERE default_list_id = $1")
        .bind(id.to_string())
        .execute(&mut *conn)
        .await?;
    let done = sqlx::query("DELETE FROM patient_lists WHERE id = $1")
        .bind(id.to_string())
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_default(
    conn: &mut AnyConnection,
    team: TeamId,
    list: ListId,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE teams SET default_list_id = $1 WHERE id = $2")
        .bind(list.to_string())
        .bind(team.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

/// Puts the team's lists in the given order (ids not given keep theirs, after).
pub async fn set_positions(conn: &mut AnyConnection, order: &[ListId]) -> Result<(), StoreError> {
    for (i, id) in order.iter().enumerate() {
        sqlx::query("UPDATE patient_lists SET position = $1 WHERE id = $2")
            .bind(i64::try_from(i).unwrap_or(i64::MAX))
            .bind(id.to_string())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

fn column_from_row(row: &AnyRow) -> Result<TeamColumn, StoreError> {
    let id: String = row.try_get("id")?;
    let kind: String = row.try_get("kind")?;
    let options: String = row.try_get("options")?;
    Ok(TeamColumn {
        id: parse(&id, "column id")?,
        label: row.try_get("label")?,
        kind: kind
            .parse::<ColumnType>()
            .map_err(|e| StoreError::Corrupt(e.message))?,
        unit: row.try_get("unit")?,
        options: serde_json::from_str::<Vec<ChoiceOption>>(&options)
            .map_err(|e| StoreError::Corrupt(format!("column options: {e}")))?,
    })
}

pub async fn team_columns(
    conn: &mut AnyConnection,
    team: TeamId,
) -> Result<Vec<TeamColumn>, StoreError> {
    crate::all_rows(conn, "SELECT id, label, kind, unit, options FROM team_columns WHERE team_id = $1 ORDER BY created_at, id", team.to_string(), column_from_row).await
}

pub async fn team_column(
    conn: &mut AnyConnection,
    team: TeamId,
    id: ColumnId,
) -> Result<Option<TeamColumn>, StoreError> {
    sqlx::query(
        "SELECT id, label, kind, unit, options FROM team_columns WHERE team_id = $1 AND id = $2",
    )
    .bind(team.to_string())
    .bind(id.to_string())
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(column_from_row)
    .transpose()
}

fn options_json(options: &[ChoiceOption]) -> String {
    serde_json::to_string(options).unwrap_or_else(|_| "[]".to_owned())
}

pub async fn insert_team_column(
    conn: &mut AnyConnection,
    team: TeamId,
    column: &TeamColumn,
    at: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO team_columns (id, team_id, label, kind, unit, options, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(column.id.to_string())
        .bind(team.to_string())
        .bind(&column.label)
        .bind(column.kind.as_str())
        .bind(&column.unit)
        .bind(options_json(&column.options))
        .bind(at.millis())
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn update_team_column(
    conn: &mut AnyConnection,
    column: &TeamColumn,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE team_columns SET label = $1, unit = $2, options = $3 WHERE id = $4")
        .bind(&column.label)
        .bind(&column.unit)
        .bind(options_json(&column.options))
        .bind(column.id.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn list_columns(
    conn: &mut AnyConnection,
    list: ListId,
) -> Result<Vec<ListColumn>, StoreError> {
    let rows = sqlx::query("SELECT column_key, position, hidden, width FROM list_columns WHERE list_id = $1 ORDER BY position, column_key")
        .bind(list.to_string())
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|row| {
            let key: String = row.try_get("column_key")?;
            Ok(ListColumn {
                key: key
                    .parse::<ColumnKey>()
                    .map_err(|e| StoreError::Corrupt(e.message))?,
                position: row.try_get("position")?,
                hidden: row.try_get::<i64, _>("hidden")? != 0,
                width: row.try_get("width")?,
            })
        })
        .collect()
}

/// Adds `column` at the end of the list's columns (or updates it when present).
pub async fn put_list_column(
    conn: &mut AnyConnection,
    list: ListId,
    column: &ListColumn,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO list_columns (list_id, column_key, position, hidden, width) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (list_id, column_key) DO UPDATE SET position = excluded.position, hidden = excluded.hidden, width = excluded.width",
    )
    .bind(list.to_string())
    .bind(column.key.to_string())
    .bind(column.position)
    .bind(i64::from(column.hidden))
    .bind(column.width)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn remove_list_column(
    conn: &mut AnyConnection,
    list: ListId,
    key: &ColumnKey,
) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM list_columns WHERE list_id = $1 AND column_key = $2")
        .bind(list.to_string())
        .bind(key.to_string())
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

fn schema_from_row(row: &AnyRow) -> Result<ColumnSchema, StoreError> {
    let id: String = row.try_get("id")?;
    let columns: String = row.try_get("columns")?;
    Ok(ColumnSchema {
        id: parse(&id, "schema id")?,
        name: row.try_get("name")?,
        columns: serde_json::from_str::<Vec<SchemaColumn>>(&columns)
            .map_err(|e| StoreError::Corrupt(format!("schema columns: {e}")))?,
        updated_at: Timestamp::from_millis(row.try_get("updated_at")?),
    })
}

pub async fn schemas(
    conn: &mut AnyConnection,
    team: TeamId,
) -> Result<Vec<ColumnSchema>, StoreError> {
    crate::all_rows(conn, "SELECT id, name, columns, updated_at FROM column_schemas WHERE team_id = $1 ORDER BY name_key", team.to_string(), schema_from_row).await
}

pub async fn schema(
    conn: &mut AnyConnection,
    team: TeamId,
    id: SchemaId,
) -> Result<Option<ColumnSchema>, StoreError> {
    sqlx::query(
        "SELECT id, name, columns, updated_at FROM column_schemas WHERE team_id = $1 AND id = $2",
    )
    .bind(team.to_string())
    .bind(id.to_string())
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(schema_from_row)
    .transpose()
}

pub async fn insert_schema(
    conn: &mut AnyConnection,
    team: TeamId,
    schema: &ColumnSchema,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO column_schemas (id, team_id, name, name_key, columns, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(schema.id.to_string())
    .bind(team.to_string())
    .bind(&schema.name)
    .bind(name_key(&schema.name))
    .bind(serde_json::to_string(&schema.columns).unwrap_or_else(|_| "[]".to_owned()))
    .bind(schema.updated_at.millis())
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn update_schema(
    conn: &mut AnyConnection,
    schema: &ColumnSchema,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE column_schemas SET name = $1, name_key = $2, columns = $3, updated_at = $4 WHERE id = $5")
        .bind(&schema.name)
        .bind(name_key(&schema.name))
        .bind(serde_json::to_string(&schema.columns).unwrap_or_else(|_| "[]".to_owned()))
        .bind(schema.updated_at.millis())
        .bind(schema.id.to_string())
        .execute(conn)
        .await?;
    Ok(())
}
