//! The meeting view of a list: its column set and the presenter's focus.

use rounds_core::{ListId, PatientId, Timestamp, UserId};
use sqlx::{AnyConnection, Row};

use crate::users::parse;
use crate::StoreError;

/// What is stored for a list's meeting view (all empty when nothing is).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeetingSettings {
    /// The column keys in order; None: the default set.
    pub columns: Option<Vec<String>>,
    /// The highlighted patient.
    pub focus: Option<PatientId>,
    pub updated_at: Option<Timestamp>,
    pub updated_by: Option<UserId>,
}

pub async fn get(conn: &mut AnyConnection, list: ListId) -> Result<MeetingSettings, StoreError> {
    let Some(row) = sqlx::query(
        "SELECT columns, focus_patient_id, updated_at, updated_by FROM list_meetings WHERE list_id = $1",
    )
    .bind(list.to_string())
    .fetch_optional(conn)
    .await?
    else {
        return Ok(MeetingSettings::default());
    };
    let columns: Option<String> = row.try_get("columns")?;
    let focus: Option<String> = row.try_get("focus_patient_id")?;
    let by: Option<String> = row.try_get("updated_by")?;
    Ok(MeetingSettings {
        columns: columns
            .map(|c| {
                serde_json::from_str::<Vec<String>>(&c).map_err(|e| {
                    StoreError::Corrupt(format!("meeting columns of list {list}: {e}"))
                })
            })
            .transpose()?,
        focus: focus.map(|f| parse(&f, "focus patient id")).transpose()?,
        updated_at: Some(Timestamp::from_millis(row.try_get("updated_at")?)),
        updated_by: by.map(|b| parse(&b, "user id")).transpose()?,
    })
}

/// Stores the column set (None: back to the default).
pub async fn set_columns(
    conn: &mut AnyConnection,
    list: ListId,
    columns: Option<&[String]>,
    at: Timestamp,
    by: UserId,
) -> Result<(), StoreError> {
    let json = columns.map(|c| serde_json::to_string(c).unwrap_or_else(|_| "[]".to_owned()));
    sqlx::query(
        "INSERT INTO list_meetings (list_id, columns, updated_at, updated_by) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (list_id) DO UPDATE SET columns = excluded.columns, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
    )
    .bind(list.to_string())
    .bind(json)
    .bind(at.millis())
    .bind(by.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

/// Stores the highlighted patient (None: nobody).
pub async fn set_focus(
    conn: &mut AnyConnection,
    list: ListId,
    focus: Option<PatientId>,
    at: Timestamp,
    by: UserId,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO list_meetings (list_id, focus_patient_id, updated_at, updated_by) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (list_id) DO UPDATE SET focus_patient_id = excluded.focus_patient_id, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
    )
    .bind(list.to_string())
    .bind(focus.map(|f| f.to_string()))
    .bind(at.millis())
    .bind(by.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether `patient` is on `list`.
pub async fn is_on_list(
    conn: &mut AnyConnection,
    list: ListId,
    patient: PatientId,
) -> Result<bool, StoreError> {
    Ok(
        sqlx::query("SELECT 1 AS one FROM list_entries WHERE list_id = $1 AND patient_id = $2")
            .bind(list.to_string())
            .bind(patient.to_string())
            .fetch_optional(conn)
            .await?
            .is_some(),
    )
}
