//! Urgent notes: whom they are for, when they alert again, and who
//! acknowledged them. The schedule lives in the database (next_notify_at),
//! so that every instance's clock sees the same one and the conditional
//! update in [`claim`] lets exactly one of them re-notify.

use std::collections::HashMap;

use rounds_core::urgent::{Acknowledgement, Audience, UrgentRule, UrgentState};
use rounds_core::{NoteId, PatientId, TeamId, Timestamp, UserId};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::users::parse;
use crate::StoreError;

const SELECT: &str = "SELECT u.note_id, u.team_id, n.patient_id, u.audience, u.sent_at, u.repeats, u.next_notify_at, \
                      u.escalated_at, u.acked_at, u.acked_by, a.display_name AS acked_name \
                      FROM urgent_notes u JOIN notes n ON n.id = u.note_id \
                      LEFT JOIN users a ON a.id = u.acked_by";

/// An urgent note's state with the note and patient it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredUrgent {
    pub note_id: NoteId,
    pub team_id: TeamId,
    pub patient_id: PatientId,
    pub state: UrgentState,
}

fn opt_time(row: &AnyRow, col: &str) -> Result<Option<Timestamp>, StoreError> {
    Ok(row
        .try_get::<Option<i64>, _>(col)?
        .map(Timestamp::from_millis))
}

fn from_row(row: &AnyRow) -> Result<StoredUrgent, StoreError> {
    let note: String = row.try_get("note_id")?;
    let team: String = row.try_get("team_id")?;
    let patient: String = row.try_get("patient_id")?;
    let audience: String = row.try_get("audience")?;
    let acknowledged = match (
        opt_time(row, "acked_at")?,
        row.try_get::<Option<String>, _>("acked_by")?,
    ) {
        (Some(at), Some(by)) => Some(Acknowledgement {
            by: parse(&by, "user id")?,
            by_name: row
                .try_get::<Option<String>, _>("acked_name")?
                .unwrap_or_default(),
            at,
        }),
        _ => None,
    };
    Ok(StoredUrgent {
        note_id: parse(&note, "note id")?,
        team_id: parse(&team, "team id")?,
        patient_id: parse(&patient, "patient id")?,
        state: UrgentState {
            audience: parse::<Audience>(&audience, "audience")?,
            recipients: Vec::new(),
            sent_at: Timestamp::from_millis(row.try_get("sent_at")?),
            repeats: row.try_get("repeats")?,
            next_notify_at: opt_time(row, "next_notify_at")?,
            escalated_at: opt_time(row, "escalated_at")?,
            acknowledged,
        },
    })
}

/// Fills in the named addressees.
async fn with_recipients(
    conn: &mut AnyConnection,
    mut found: Vec<StoredUrgent>,
) -> Result<Vec<StoredUrgent>, StoreError> {
    for u in found
        .iter_mut()
        .filter(|u| u.state.audience == Audience::Members)
    {
        let rows = sqlx::query(
            "SELECT user_id FROM urgent_recipients WHERE note_id = $1 ORDER BY user_id",
        )
        .bind(u.note_id.to_string())
        .fetch_all(&mut *conn)
        .await?;
        u.state.recipients = rows
            .iter()
            .map(|r| {
                let id: String = r.try_get("user_id")?;
                parse::<UserId>(&id, "user id")
            })
            .collect::<Result<_, _>>()?;
    }
    Ok(found)
}

async fn select(
    conn: &mut AnyConnection,
    filter: &str,
    bind: &str,
) -> Result<Vec<StoredUrgent>, StoreError> {
    let sql = format!("{SELECT} WHERE {filter} ORDER BY u.sent_at, u.note_id");
    let rows = sqlx::query(&sql).bind(bind).fetch_all(&mut *conn).await?;
    let found = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    with_recipients(conn, found).await
}

/// Marks `note` urgent, due to alert again at `next_notify_at`.
pub async fn insert(
    conn: &mut AnyConnection,
    note: NoteId,
    team: TeamId,
    audience: Audience,
    recipients: &[UserId],
    sent_at: Timestamp,
    next_notify_at: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO urgent_notes (note_id, team_id, audience, sent_at, repeats, next_notify_at) \
         VALUES ($1, $2, $3, $4, 0, $5)",
    )
    .bind(note.to_string())
    .bind(team.to_string())
    .bind(audience.as_str())
    .bind(sent_at.millis())
    .bind(next_notify_at.millis())
    .execute(&mut *conn)
    .await?;
    for user in recipients {
        sqlx::query("INSERT INTO urgent_recipients (note_id, user_id) VALUES ($1, $2)")
            .bind(note.to_string())
            .bind(user.to_string())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

pub async fn by_note(
    conn: &mut AnyConnection,
    note: NoteId,
) -> Result<Option<StoredUrgent>, StoreError> {
    Ok(select(conn, "u.note_id = $1", &note.to_string())
        .await?
        .into_iter()
        .next())
}

/// The urgent notes (open or not) about a patient, by note.
pub async fn of_patient(
    conn: &mut AnyConnection,
    patient: PatientId,
) -> Result<HashMap<NoteId, StoredUrgent>, StoreError> {
    Ok(select(
        conn,
        "n.patient_id = $1 AND n.deleted_at IS NULL",
        &patient.to_string(),
    )
    .await?
    .into_iter()
    .map(|u| (u.note_id, u))
    .collect())
}

/// The team's urgent notes nobody has acknowledged (their notes not deleted).
pub async fn open_of_team(
    conn: &mut AnyConnection,
    team: TeamId,
) -> Result<Vec<StoredUrgent>, StoreError> {
    select(
        conn,
        "u.team_id = $1 AND u.acked_at IS NULL AND n.deleted_at IS NULL",
        &team.to_string(),
    )
    .await
}

/// Open urgent notes due to alert again at `now`, with their team's rule.
pub async fn due(
    conn: &mut AnyConnection,
    now: Timestamp,
    limit: i64,
) -> Result<Vec<(StoredUrgent, UrgentRule)>, StoreError> {
    let sql = format!(
        "SELECT u.note_id, u.team_id, n.patient_id, u.audience, u.sent_at, u.repeats, u.next_notify_at, \
         u.escalated_at, u.acked_at, u.acked_by, NULL AS acked_name, t.urgent_interval_secs, t.urgent_escalate_after \
         FROM urgent_notes u JOIN notes n ON n.id = u.note_id JOIN teams t ON t.id = u.team_id \
         WHERE u.acked_at IS NULL AND u.next_notify_at <= $1 AND n.deleted_at IS NULL \
         ORDER BY u.next_notify_at LIMIT {}",
        limit.max(1)
    );
    let rows = sqlx::query(&sql)
        .bind(now.millis())
        .fetch_all(&mut *conn)
        .await?;
    let mut out = Vec::new();
    for row in &rows {
        let rule = UrgentRule {
            interval_secs: row.try_get("urgent_interval_secs")?,
            escalate_after: row.try_get("urgent_escalate_after")?,
        };
        out.push((from_row(row)?, rule));
    }
    let rules: Vec<UrgentRule> = out.iter().map(|(_, r)| *r).collect();
    let found = with_recipients(conn, out.into_iter().map(|(u, _)| u).collect()).await?;
    Ok(found.into_iter().zip(rules).collect())
}

/// Moves an open note's alert from `seen_next` on to `next`, one repeat
/// more (and escalated at `escalate_at`, when given and not yet). True when
/// this call did it; false when another instance (or an acknowledgement)
/// came first.
pub async fn claim(
    conn: &mut AnyConnection,
    note: NoteId,
    seen_next: Timestamp,
    next: Timestamp,
    escalate_at: Option<Timestamp>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE urgent_notes SET repeats = repeats + 1, next_notify_at = $1, \
         escalated_at = COALESCE(escalated_at, $2) \
         WHERE note_id = $3 AND next_notify_at = $4 AND acked_at IS NULL",
    )
    .bind(next.millis())
    .bind(escalate_at.map(Timestamp::millis))
    .bind(note.to_string())
    .bind(seen_next.millis())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records the acknowledgement; false when someone acknowledged first.
pub async fn acknowledge(
    conn: &mut AnyConnection,
    note: NoteId,
    by: UserId,
    at: Timestamp,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE urgent_notes SET acked_at = $1, acked_by = $2, next_notify_at = NULL \
         WHERE note_id = $3 AND acked_at IS NULL",
    )
    .bind(at.millis())
    .bind(by.to_string())
    .bind(note.to_string())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn rule(conn: &mut AnyConnection, team: TeamId) -> Result<UrgentRule, StoreError> {
    let row =
        sqlx::query("SELECT urgent_interval_secs, urgent_escalate_after FROM teams WHERE id = $1")
            .bind(team.to_string())
            .fetch_optional(conn)
            .await?;
    match row {
        Some(r) => Ok(UrgentRule {
            interval_secs: r.try_get("urgent_interval_secs")?,
            escalate_after: r.try_get("urgent_escalate_after")?,
        }),
        None => Ok(UrgentRule::default()),
    }
}

pub async fn set_rule(
    conn: &mut AnyConnection,
    team: TeamId,
    rule: UrgentRule,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE teams SET urgent_interval_secs = $1, urgent_escalate_after = $2 WHERE id = $3",
    )
    .bind(rule.interval_secs)
    .bind(rule.escalate_after)
    .bind(team.to_string())
    .execute(conn)
    .await?;
    Ok(())
}
