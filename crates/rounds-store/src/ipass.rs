//! I-PASS hand-off per patient.

use std::collections::HashMap;

use rounds_core::ipass::{Ipass, Severity};
use rounds_core::{ListId, PatientId, Timestamp, UserId};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::users::parse;
use crate::StoreError;

const SELECT: &str = "SELECT i.patient_id, i.severity, i.summary, i.contingency, i.synthesis, i.version, \
                      i.updated_at, u.display_name FROM patient_ipass i LEFT JOIN users u ON u.id = i.updated_by";

fn from_row(row: &AnyRow) -> Result<(PatientId, Ipass), StoreError> {
    let patient: String = row.try_get("patient_id")?;
    Ok((
        parse(&patient, "patient id")?,
        Ipass {
            severity: row
                .try_get::<Option<String>, _>("severity")?
                .map(|s| parse::<Severity>(&s, "severity"))
                .transpose()?,
            summary: row.try_get("summary")?,
            contingency: row.try_get("contingency")?,
            synthesis: row.try_get("synthesis")?,
            version: row.try_get("version")?,
            updated_at: Some(Timestamp::from_millis(row.try_get("updated_at")?)),
            updated_by: row.try_get("display_name")?,
        },
    ))
}

/// The patient's hand-off (empty, version 0, when none was saved).
pub async fn of_patient(conn: &mut AnyConnection, patient: PatientId) -> Result<Ipass, StoreError> {
    let sql = format!("{SELECT} WHERE i.patient_id = $1");
    let row = sqlx::query(&sql)
        .bind(patient.to_string())
        .fetch_optional(conn)
        .await?;
    Ok(row
        .as_ref()
        .map(from_row)
        .transpose()?
        .map(|(_, i)| i)
        .unwrap_or_default())
}

/// The hand-offs of the patients on a list.
pub async fn on_list(
    conn: &mut AnyConnection,
    list: ListId,
) -> Result<HashMap<PatientId, Ipass>, StoreError> {
    let sql =
        format!("{SELECT} JOIN list_entries e ON e.patient_id = i.patient_id WHERE e.list_id = $1");
    crate::all_rows(conn, &sql, list.to_string(), from_row).await
}

/// The illness severity of each patient on a list that has one.
pub async fn severities_on_list(
    conn: &mut AnyConnection,
    list: ListId,
) -> Result<HashMap<PatientId, Severity>, StoreError> {
    let rows = sqlx::query(
        "SELECT i.patient_id, i.severity FROM patient_ipass i \
         JOIN list_entries e ON e.patient_id = i.patient_id \
         WHERE e.list_id = $1 AND i.severity IS NOT NULL",
    )
    .bind(list.to_string())
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            let patient: String = row.try_get("patient_id")?;
            let severity: String = row.try_get("severity")?;
            Ok((
                parse(&patient, "patient id")?,
                parse::<Severity>(&severity, "severity")?,
            ))
        })
        .collect()
}

/// Saves the hand-off as the next version after `current`.
pub async fn save(
    conn: &mut AnyConnection,
    patient: PatientId,
    current: &Ipass,
    next: &Ipass,
    by: UserId,
    at: Timestamp,
) -> Result<(), StoreError> {
    let sql = if current.version == 0 {
        "INSERT INTO patient_ipass (severity, summary, contingency, synthesis, version, updated_at, updated_by, patient_id) \
         VALUES ($1, $2, $3, $4, 1, $5, $6, $7)"
    } else {
        "UPDATE patient_ipass SET severity = $1, summary = $2, contingency = $3, synthesis = $4, \
         version = version + 1, updated_at = $5, updated_by = $6 WHERE patient_id = $7"
    };
    sqlx::query(sql)
        .bind(next.severity.map(|s| s.as_str()))
        .bind(&next.summary)
        .bind(&next.contingency)
        .bind(&next.synthesis)
        .bind(at.millis())
        .bind(by.to_string())
        .bind(patient.to_string())
        .execute(conn)
        .await?;
    Ok(())
}
