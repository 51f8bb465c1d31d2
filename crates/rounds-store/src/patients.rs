//! The team's patients, their field values with versions, and their places
//! on lists.

use std::collections::HashMap;

use rounds_core::lists::{FieldValue, ListEntry};
use rounds_core::{ListId, PatientId, TeamId, Timestamp, UserId};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::users::parse;
use crate::StoreError;

/// Gap between positions, so most moves touch one row.
pub const POSITION_STEP: i64 = 1024;

pub async fn insert(
    conn: &mut AnyConnection,
    id: PatientId,
    team: TeamId,
    at: Timestamp,
    by: UserId,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO patients (id, team_id, created_at, created_by) VALUES ($1, $2, $3, $4)",
    )
    .bind(id.to_string())
    .bind(team.to_string())
    .bind(at.millis())
    .bind(by.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

/// The team a patient record belongs to.
pub async fn team_of(
    conn: &mut AnyConnection,
    id: PatientId,
) -> Result<Option<TeamId>, StoreError> {
    let row = sqlx::query("SELECT team_id FROM patients WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    match row {
        Some(row) => {
            let team: String = row.try_get("team_id")?;
            Ok(Some(parse(&team, "team id")?))
        }
        None => Ok(None),
    }
}

fn value_from_row(row: &AnyRow) -> Result<(String, String, FieldValue), StoreError> {
    let by: Option<String> = row.try_get("updated_by")?;
    Ok((
        row.try_get("patient_id")?,
        row.try_get("field")?,
        FieldValue {
            value: row.try_get("value")?,
            version: row.try_get("version")?,
            updated_at: Timestamp::from_millis(row.try_get("updated_at")?),
            updated_by: by.and_then(|b| b.parse().ok()),
        },
    ))
}

pub type Values = HashMap<PatientId, HashMap<String, FieldValue>>;

fn collect(rows: &[AnyRow]) -> Result<Values, StoreError> {
    let mut out: Values = HashMap::new();
    for row in rows {
        let (patient, field, value) = value_from_row(row)?;
        out.entry(parse(&patient, "patient id")?)
            .or_default()
            .insert(field, value);
    }
    Ok(out)
}

const VALUE_COLUMNS: &str = "v.patient_id, v.field, v.value, v.version, v.updated_at, v.updated_by";

/// Every value of every patient on `list`.
pub async fn values_on_list(conn: &mut AnyConnection, list: ListId) -> Result<Values, StoreError> {
    let sql = format!(
        "SELECT {VALUE_COLUMNS} FROM patient_values v JOIN list_entries e ON e.patient_id = v.patient_id WHERE e.list_id = $1"
    );
    collect(
        &sqlx::query(&sql)
            .bind(list.to_string())
            .fetch_all(conn)
            .await?,
    )
}

/// Every value of one patient.
pub async fn values_of(
    conn: &mut AnyConnection,
    patient: PatientId,
) -> Result<HashMap<String, FieldValue>, StoreError> {
    let sql = format!("SELECT {VALUE_COLUMNS} FROM patient_values v WHERE v.patient_id = $1");
    let mut all = collect(
        &sqlx::query(&sql)
            .bind(patient.to_string())
            .fetch_all(conn)
            .await?,
    )?;
    Ok(all.remove(&patient).unwrap_or_default())
}

/// Sets one field, as version `version`.
pub async fn put_value(
    conn: &mut AnyConnection,
    patient: PatientId,
    field: &str,
    value: Option<&str>,
    version: i64,
    at: Timestamp,
    by: UserId,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO patient_values (patient_id, field, value, version, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (patient_id, field) DO UPDATE SET value = excluded.value, version = excluded.version, \
         updated_at = excluded.updated_at, updated_by = excluded.updated_by",
    )
    .bind(patient.to_string())
    .bind(field)
    .bind(value)
    .bind(version)
    .bind(at.millis())
    .bind(by.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

/// Patients of the team other than `except` whose MRN is `mrn`.
pub async fn with_mrn(
    conn: &mut AnyConnection,
    team: TeamId,
    mrn: &str,
    except: Option<PatientId>,
) -> Result<Vec<PatientId>, StoreError> {
    let rows = sqlx::query(
        "SELECT p.id FROM patients p JOIN patient_values v ON v.patient_id = p.id \
         WHERE p.team_id = $1 AND v.field = 'mrn' AND v.value = $2",
    )
    .bind(team.to_string())
    .bind(mrn)
    .fetch_all(conn)
    .await?;
    let mut out = Vec::new();
    for row in rows {
        let id: String = row.try_get("id")?;
        let id: PatientId = parse(&id, "patient id")?;
        if Some(id) != except {
            out.push(id);
        }
    }
    Ok(out)
}

/// MRNs that more than one patient of the team carries.
pub async fn duplicate_mrns(
    conn: &mut AnyConnection,
    team: TeamId,
) -> Result<Vec<String>, StoreError> {
    let rows = sqlx::query(
        "SELECT v.value FROM patients p JOIN patient_values v ON v.patient_id = p.id \
         WHERE p.team_id = $1 AND v.field = 'mrn' AND v.value IS NOT NULL GROUP BY v.value HAVING COUNT(*) > 1",
    )
    .bind(team.to_string())
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| r.try_get::<String, _>("value").map_err(StoreError::from))
        .collect()
}

fn entry_from_row(row: &AnyRow) -> Result<ListEntry, StoreError> {
    let id: String = row.try_get("patient_id")?;
    let by: Option<String> = row.try_get("added_by")?;
    Ok(ListEntry {
        patient_id: parse(&id, "patient id")?,
        position: row.try_get("position")?,
        added_at: Timestamp::from_millis(row.try_get("added_at")?),
        added_by: by.and_then(|b| b.parse().ok()),
    })
}

pub async fn entries(conn: &mut AnyConnection, list: ListId) -> Result<Vec<ListEntry>, StoreError> {
    let rows = sqlx::query("SELECT patient_id, position, added_at, added_by FROM list_entries WHERE list_id = $1 ORDER BY position, added_at")
        .bind(list.to_string())
        .fetch_all(conn)
        .await?;
    rows.iter().map(entry_from_row).collect()
}

/// One patient's entry on a list (by the primary key: the same cost on
/// any length of list).
pub async fn entry_of(
    conn: &mut AnyConnection,
    list: ListId,
    patient: PatientId,
) -> Result<Option<ListEntry>, StoreError> {
    let row = sqlx::query("SELECT patient_id, position, added_at, added_by FROM list_entries WHERE list_id = $1 AND patient_id = $2")
        .bind(list.to_string())
        .bind(patient.to_string())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(entry_from_row).transpose()
}

/// The lists holding a patient.
pub async fn lists_of(
    conn: &mut AnyConnection,
    patient: PatientId,
) -> Result<Vec<ListId>, StoreError> {
    let rows = sqlx::query("SELECT list_id FROM list_entries WHERE patient_id = $1")
        .bind(patient.to_string())
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| {
            let id: String = r.try_get("list_id")?;
            parse(&id, "list id")
        })
        .collect()
}

/// Adds a patient at the end of a list; false when already on it.
pub async fn add_entry(
    conn: &mut AnyConnection,
    list: ListId,
    patient: PatientId,
    at: Timestamp,
    by: UserId,
) -> Result<bool, StoreError> {
    let position: i64 =
        sqlx::query("SELECT COALESCE(MAX(position), 0) AS p FROM list_entries WHERE list_id = $1")
            .bind(list.to_string())
            .fetch_one(&mut *conn)
            .await?
            .try_get("p")?;
    let done = sqlx::query(
        "INSERT INTO list_entries (list_id, patient_id, position, added_at, added_by) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (list_id, patient_id) DO NOTHING",
    )
    .bind(list.to_string())
    .bind(patient.to_string())
    .bind(position + POSITION_STEP)
    .bind(at.millis())
    .bind(by.to_string())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn remove_entry(
    conn: &mut AnyConnection,
    list: ListId,
    patient: PatientId,
) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM list_entries WHERE list_id = $1 AND patient_id = $2")
        .bind(list.to_string())
        .bind(patient.to_string())
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Renumbers a list in the given order.
pub async fn set_positions(
    conn: &mut AnyConnection,
    list: ListId,
    order: &[PatientId],
) -> Result<(), StoreError> {
    for (i, patient) in order.iter().enumerate() {
        let position = (i64::try_from(i).unwrap_or(i64::MAX / POSITION_STEP) + 1) * POSITION_STEP;
        sqlx::query("UPDATE list_entries SET position = $1 WHERE list_id = $2 AND patient_id = $3")
            .bind(position)
            .bind(list.to_string())
            .bind(patient.to_string())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The team's patients whose name or MRN contains `needle` (folded by the caller).
pub async fn team_patient_ids(
    conn: &mut AnyConnection,
    team: TeamId,
) -> Result<Vec<PatientId>, StoreError> {
    let rows = sqlx::query("SELECT id FROM patients WHERE team_id = $1 ORDER BY created_at")
        .bind(team.to_string())
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| {
            let id: String = r.try_get("id")?;
            parse(&id, "patient id")
        })
        .collect()
}

/// Values of many patients at once.
pub async fn values_of_team(conn: &mut AnyConnection, team: TeamId) -> Result<Values, StoreError> {
    let sql = format!("SELECT {VALUE_COLUMNS} FROM patient_values v JOIN patients p ON p.id = v.patient_id WHERE p.team_id = $1");
    collect(
        &sqlx::query(&sql)
            .bind(team.to_string())
            .fetch_all(conn)
            .await?,
    )
}

/// Which lists each patient of the team is on.
pub async fn memberships_of_team(
    conn: &mut AnyConnection,
    team: TeamId,
) -> Result<Vec<(PatientId, ListId)>, StoreError> {
    let rows = sqlx::query("SELECT e.patient_id, e.list_id FROM list_entries e JOIN patients p ON p.id = e.patient_id WHERE p.team_id = $1")
        .bind(team.to_string())
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| {
            let p: String = r.try_get("patient_id")?;
            let l: String = r.try_get("list_id")?;
            Ok((parse(&p, "patient id")?, parse(&l, "list id")?))
        })
        .collect()
}
