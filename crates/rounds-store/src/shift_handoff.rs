//! Shift hand-offs of a list from a giver to a receiver, and their
//! patients (each marked ready, then acknowledged).

use rounds_core::{ListId, PatientId, ShiftHandoffId, TeamId, Timestamp, UserId};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::users::parse;
use crate::StoreError;

/// A hand-off as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShiftHandoff {
    pub id: ShiftHandoffId,
    pub team_id: TeamId,
    pub list_id: ListId,
    pub giver_id: UserId,
    pub giver_name: String,
    pub receiver_id: UserId,
    pub receiver_name: String,
    pub started_at: Timestamp,
    pub closed_at: Option<Timestamp>,
    pub cancelled: bool,
    pub version: i64,
}

/// One patient of a hand-off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandoffPatient {
    pub patient_id: PatientId,
    pub ready_at: Option<Timestamp>,
    pub acked_at: Option<Timestamp>,
}

const SELECT: &str =
    "SELECT h.id, h.team_id, h.list_id, h.giver_id, g.display_name AS giver_name, \
                      h.receiver_id, r.display_name AS receiver_name, h.started_at, h.closed_at, \
                      h.cancelled, h.version FROM shift_handoffs h \
                      JOIN users g ON g.id = h.giver_id JOIN users r ON r.id = h.receiver_id";

fn from_row(row: &AnyRow) -> Result<ShiftHandoff, StoreError> {
    let id: String = row.try_get("id")?;
    let team: String = row.try_get("team_id")?;
    let list: String = row.try_get("list_id")?;
    let giver: String = row.try_get("giver_id")?;
    let receiver: String = row.try_get("receiver_id")?;
    Ok(ShiftHandoff {
        id: parse(&id, "hand-off id")?,
        team_id: parse(&team, "team id")?,
        list_id: parse(&list, "list id")?,
        giver_id: parse(&giver, "user id")?,
        giver_name: row.try_get("giver_name")?,
        receiver_id: parse(&receiver, "user id")?,
        receiver_name: row.try_get("receiver_name")?,
        started_at: Timestamp::from_millis(row.try_get("started_at")?),
        closed_at: row
            .try_get::<Option<i64>, _>("closed_at")?
            .map(Timestamp::from_millis),
        cancelled: row.try_get::<i64, _>("cancelled")? != 0,
        version: row.try_get("version")?,
    })
}

/// A new hand-off of `patients` (in this order), none ready yet.
pub async fn insert(
    conn: &mut AnyConnection,
    h: &ShiftHandoff,
    patients: &[PatientId],
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO shift_handoffs (id, team_id, list_id, giver_id, receiver_id, started_at, version) \
         VALUES ($1, $2, $3, $4, $5, $6, 1)",
    )
    .bind(h.id.to_string())
    .bind(h.team_id.to_string())
    .bind(h.list_id.to_string())
    .bind(h.giver_id.to_string())
    .bind(h.receiver_id.to_string())
    .bind(h.started_at.millis())
    .execute(&mut *conn)
    .await?;
    for (i, p) in patients.iter().enumerate() {
        sqlx::query(
            "INSERT INTO shift_handoff_patients (handoff_id, patient_id, position) VALUES ($1, $2, $3)",
        )
        .bind(h.id.to_string())
        .bind(p.to_string())
        .bind(i64::try_from(i).unwrap_or(i64::MAX))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

pub async fn by_id(
    conn: &mut AnyConnection,
    id: ShiftHandoffId,
) -> Result<Option<ShiftHandoff>, StoreError> {
    let sql = format!("{SELECT} WHERE h.id = $1");
    let row = sqlx::query(&sql)
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The open hand-off of a list by a giver, if any.
pub async fn open_by_giver(
    conn: &mut AnyConnection,
    list: ListId,
    giver: UserId,
) -> Result<Option<ShiftHandoff>, StoreError> {
    let sql = format!("{SELECT} WHERE h.list_id = $1 AND h.giver_id = $2 AND h.closed_at IS NULL");
    let row = sqlx::query(&sql)
        .bind(list.to_string())
        .bind(giver.to_string())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The open hand-offs of a team (of one list when given), oldest first.
pub async fn open_of_team(
    conn: &mut AnyConnection,
    team: TeamId,
    list: Option<ListId>,
) -> Result<Vec<ShiftHandoff>, StoreError> {
    let sql = format!(
        "{SELECT} WHERE h.team_id = $1 AND h.closed_at IS NULL AND ($2 = '' OR h.list_id = $2) \
         ORDER BY h.started_at, h.id"
    );
    sqlx::query(&sql)
        .bind(team.to_string())
        .bind(list.map(|l| l.to_string()).unwrap_or_default())
        .fetch_all(conn)
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// The patients of a hand-off in their order.
pub async fn patients(
    conn: &mut AnyConnection,
    id: ShiftHandoffId,
) -> Result<Vec<HandoffPatient>, StoreError> {
    sqlx::query(
        "SELECT patient_id, ready_at, acked_at FROM shift_handoff_patients \
         WHERE handoff_id = $1 ORDER BY position",
    )
    .bind(id.to_string())
    .fetch_all(conn)
    .await?
    .iter()
    .map(|row| {
        let p: String = row.try_get("patient_id")?;
        Ok(HandoffPatient {
            patient_id: parse(&p, "patient id")?,
            ready_at: row
                .try_get::<Option<i64>, _>("ready_at")?
                .map(Timestamp::from_millis),
            acked_at: row
                .try_get::<Option<i64>, _>("acked_at")?
                .map(Timestamp::from_millis),
        })
    })
    .collect()
}

/// Marks a patient ready (when not yet).
pub async fn mark_ready(
    conn: &mut AnyConnection,
    id: ShiftHandoffId,
    patient: PatientId,
    at: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE shift_handoff_patients SET ready_at = $1 \
         WHERE handoff_id = $2 AND patient_id = $3 AND ready_at IS NULL",
    )
    .bind(at.millis())
    .bind(id.to_string())
    .bind(patient.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks a ready patient acknowledged (when not yet).
pub async fn mark_acked(
    conn: &mut AnyConnection,
    id: ShiftHandoffId,
    patient: PatientId,
    at: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE shift_handoff_patients SET acked_at = $1 \
         WHERE handoff_id = $2 AND patient_id = $3 AND ready_at IS NOT NULL AND acked_at IS NULL",
    )
    .bind(at.millis())
    .bind(id.to_string())
    .bind(patient.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

/// Moves the hand-off to its next version when it is still at `version`
/// (false: someone changed it meanwhile), closing it when `close` is given.
pub async fn bump(
    conn: &mut AnyConnection,
    id: ShiftHandoffId,
    version: i64,
    close: Option<(Timestamp, bool)>,
) -> Result<bool, StoreError> {
    let (closed_at, cancelled) = match close {
        Some((at, cancelled)) => (Some(at.millis()), i64::from(cancelled)),
        None => (None, 0),
    };
    let done = sqlx::query(
        "UPDATE shift_handoffs SET version = version + 1, closed_at = $1, cancelled = $2 \
         WHERE id = $3 AND version = $4 AND closed_at IS NULL",
    )
    .bind(closed_at)
    .bind(cancelled)
    .bind(id.to_string())
    .bind(version)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
