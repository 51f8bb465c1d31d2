//! Tasks per patient. A deleted task keeps its row (deleted_at set), so
//! the audit trail's references to it stay meaningful.

use rounds_core::tasks::{Done, Task};
use rounds_core::{ListId, PatientId, TaskId, TeamId, Timestamp, UserId};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::users::parse;
use crate::StoreError;

const SELECT: &str =
    "SELECT t.id, t.team_id, t.patient_id, t.body, t.owner_id, o.display_name AS owner_name, \
                      t.due_at, t.done_at, t.done_by, d.display_name AS done_name, t.version, \
                      t.created_at, t.created_by, t.updated_at \
                      FROM patient_tasks t LEFT JOIN users o ON o.id = t.owner_id \
                      LEFT JOIN users d ON d.id = t.done_by";

fn opt_id<K: rounds_core::IdKind>(
    row: &AnyRow,
    col: &str,
    what: &str,
) -> Result<Option<rounds_core::Id<K>>, StoreError> {
    row.try_get::<Option<String>, _>(col)?
        .map(|s| parse(&s, what))
        .transpose()
}

fn from_row(row: &AnyRow) -> Result<Task, StoreError> {
    let id: String = row.try_get("id")?;
    let team: String = row.try_get("team_id")?;
    let patient: String = row.try_get("patient_id")?;
    let done = row
        .try_get::<Option<i64>, _>("done_at")?
        .map(|at| -> Result<Done, StoreError> {
            Ok(Done {
                by: opt_id(row, "done_by", "user id")?,
                by_name: row.try_get("done_name")?,
                at: Timestamp::from_millis(at),
            })
        })
        .transpose()?;
    Ok(Task {
        id: parse(&id, "task id")?,
        team_id: parse(&team, "team id")?,
        patient_id: parse(&patient, "patient id")?,
        body: row.try_get("body")?,
        owner_id: opt_id(row, "owner_id", "user id")?,
        owner_name: row.try_get("owner_name")?,
        due_at: row
            .try_get::<Option<i64>, _>("due_at")?
            .map(Timestamp::from_millis),
        done,
        version: row.try_get("version")?,
        created_at: Timestamp::from_millis(row.try_get("created_at")?),
        created_by: opt_id(row, "created_by", "user id")?,
        updated_at: Timestamp::from_millis(row.try_get("updated_at")?),
    })
}

fn all(rows: &[AnyRow]) -> Result<Vec<Task>, StoreError> {
    rows.iter().map(from_row).collect()
}

/// The order tasks are shown in: open before done, then by due time
/// (tasks without one last), then oldest first.
const ORDER: &str = "ORDER BY CASE WHEN t.done_at IS NULL THEN 0 ELSE 1 END, \
                     CASE WHEN t.due_at IS NULL THEN 1 ELSE 0 END, t.due_at, t.created_at, t.id";

/// The patient's tasks (not deleted).
pub async fn for_patient(
    conn: &mut AnyConnection,
    patient: PatientId,
) -> Result<Vec<Task>, StoreError> {
    let sql = format!("{SELECT} WHERE t.patient_id = $1 AND t.deleted_at IS NULL {ORDER}");
    all(&sqlx::query(&sql)
        .bind(patient.to_string())
        .fetch_all(conn)
        .await?)
}

/// The open tasks of the patients on a list.
pub async fn open_on_list(conn: &mut AnyConnection, list: ListId) -> Result<Vec<Task>, StoreError> {
    let sql = format!(
        "{SELECT} JOIN list_entries e ON e.patient_id = t.patient_id \
         WHERE e.list_id = $1 AND t.deleted_at IS NULL AND t.done_at IS NULL {ORDER}"
    );
    all(&sqlx::query(&sql)
        .bind(list.to_string())
        .fetch_all(conn)
        .await?)
}

/// A team's tasks owned by `owner` (open ones, and those done since `done_since`).
pub async fn of_owner(
    conn: &mut AnyConnection,
    team: TeamId,
    owner: UserId,
    done_since: Timestamp,
) -> Result<Vec<Task>, StoreError> {
    let sql = format!(
        "{SELECT} WHERE t.team_id = $1 AND t.owner_id = $2 AND t.deleted_at IS NULL \
         AND (t.done_at IS NULL OR t.done_at >= $3) {ORDER}"
    );
    all(&sqlx::query(&sql)
        .bind(team.to_string())
        .bind(owner.to_string())
        .bind(done_since.millis())
        .fetch_all(conn)
        .await?)
}

/// A team's open tasks that nobody owns.
pub async fn unassigned(conn: &mut AnyConnection, team: TeamId) -> Result<Vec<Task>, StoreError> {
    let sql = format!(
        "{SELECT} WHERE t.team_id = $1 AND t.owner_id IS NULL AND t.deleted_at IS NULL \
         AND t.done_at IS NULL {ORDER}"
    );
    all(&sqlx::query(&sql)
        .bind(team.to_string())
        .fetch_all(conn)
        .await?)
}

/// A task that is not deleted.
pub async fn by_id(conn: &mut AnyConnection, id: TaskId) -> Result<Option<Task>, StoreError> {
    let sql = format!("{SELECT} WHERE t.id = $1 AND t.deleted_at IS NULL");
    crate::optional_row(conn, &sql, id.to_string(), from_row).await
}

/// The team a task (deleted or not) belongs to, and its patient.
pub async fn owner_team(
    conn: &mut AnyConnection,
    id: TaskId,
) -> Result<Option<(TeamId, PatientId)>, StoreError> {
    let row = sqlx::query("SELECT team_id, patient_id FROM patient_tasks WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    row.map(|r| -> Result<_, StoreError> {
        let team: String = r.try_get("team_id")?;
        let patient: String = r.try_get("patient_id")?;
        Ok((parse(&team, "team id")?, parse(&patient, "patient id")?))
    })
    .transpose()
}

pub struct NewTask<'a> {
    pub id: TaskId,
    pub team: TeamId,
    pub patient: PatientId,
    pub body: &'a str,
    pub owner: Option<UserId>,
    pub due_at: Option<Timestamp>,
    pub by: UserId,
    pub at: Timestamp,
}

pub async fn insert(conn: &mut AnyConnection, t: &NewTask<'_>) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO patient_tasks (id, team_id, patient_id, body, owner_id, due_at, version, created_at, created_by, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $7)",
    )
    .bind(t.id.to_string())
    .bind(t.team.to_string())
    .bind(t.patient.to_string())
    .bind(t.body)
    .bind(t.owner.map(|o| o.to_string()))
    .bind(t.due_at.map(Timestamp::millis))
    .bind(t.at.millis())
    .bind(t.by.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

/// Writes the task's text, owner, due time and done state as given; one
/// more version.
pub async fn update(conn: &mut AnyConnection, t: &Task, at: Timestamp) -> Result<(), StoreError> {
    let (done_at, done_by) = match &t.done {
        Some(d) => (Some(d.at.millis()), d.by.map(|u| u.to_string())),
        None => (None, None),
    };
    sqlx::query(
        "UPDATE patient_tasks SET body = $1, owner_id = $2, due_at = $3, done_at = $4, done_by = $5, \
         version = version + 1, updated_at = $6 WHERE id = $7",
    )
    .bind(&t.body)
    .bind(t.owner_id.map(|o| o.to_string()))
    .bind(t.due_at.map(Timestamp::millis))
    .bind(done_at)
    .bind(done_by)
    .bind(at.millis())
    .bind(t.id.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn delete(conn: &mut AnyConnection, id: TaskId, at: Timestamp) -> Result<(), StoreError> {
    sqlx::query("UPDATE patient_tasks SET deleted_at = $1, version = version + 1, updated_at = $1 WHERE id = $2")
        .bind(at.millis())
        .bind(id.to_string())
        .execute(conn)
        .await?;
    Ok(())
}
