//! Read receipts: notes whose author asked for one, and who has seen each
//! (recorded once per person, at the first time it was shown to them).

use std::collections::HashMap;

use rounds_core::{NoteId, PatientId, Timestamp, UserId};
use sqlx::{AnyConnection, Row};

use crate::users::parse;
use crate::StoreError;

/// One person who has seen a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub user_id: UserId,
    pub name: String,
    pub seen_at: Timestamp,
}

pub async fn ask(conn: &mut AnyConnection, note: NoteId, at: Timestamp) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO receipt_requests (note_id, asked_at) VALUES ($1, $2)")
        .bind(note.to_string())
        .bind(at.millis())
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn asked(conn: &mut AnyConnection, note: NoteId) -> Result<bool, StoreError> {
    Ok(
        sqlx::query("SELECT 1 AS x FROM receipt_requests WHERE note_id = $1")
            .bind(note.to_string())
            .fetch_optional(conn)
            .await?
            .is_some(),
    )
}

/// Records that `user` has seen `note`; false when that was known already.
pub async fn record(
    conn: &mut AnyConnection,
    note: NoteId,
    user: UserId,
    at: Timestamp,
) -> Result<bool, StoreError> {
    let known = sqlx::query("SELECT 1 AS x FROM note_receipts WHERE note_id = $1 AND user_id = $2")
        .bind(note.to_string())
        .bind(user.to_string())
        .fetch_optional(&mut *conn)
        .await?
        .is_some();
    if known {
        return Ok(false);
    }
    sqlx::query("INSERT INTO note_receipts (note_id, user_id, seen_at) VALUES ($1, $2, $3)")
        .bind(note.to_string())
        .bind(user.to_string())
        .bind(at.millis())
        .execute(conn)
        .await?;
    Ok(true)
}

/// Who has seen `note`, first first.
pub async fn of_note(conn: &mut AnyConnection, note: NoteId) -> Result<Vec<Receipt>, StoreError> {
    let rows = sqlx::query(
        "SELECT r.user_id, u.display_name, r.seen_at FROM note_receipts r JOIN users u ON u.id = r.user_id \
         WHERE r.note_id = $1 ORDER BY r.seen_at, r.user_id",
    )
    .bind(note.to_string())
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            let id: String = r.try_get("user_id")?;
            Ok(Receipt {
                user_id: parse(&id, "user id")?,
                name: r.try_get("display_name")?,
                seen_at: Timestamp::from_millis(r.try_get("seen_at")?),
            })
        })
        .collect()
}

/// For a patient's notes that ask for a receipt: how many have seen each,
/// and whether `user` has.
pub async fn counts_of_patient(
    conn: &mut AnyConnection,
    patient: PatientId,
    user: UserId,
) -> Result<HashMap<NoteId, (usize, bool)>, StoreError> {
    let rows = sqlx::query(
        "SELECT q.note_id, \
         (SELECT COUNT(*) FROM note_receipts r WHERE r.note_id = q.note_id) AS seen, \
         (SELECT COUNT(*) FROM note_receipts r WHERE r.note_id = q.note_id AND r.user_id = $2) AS mine \
         FROM receipt_requests q JOIN notes n ON n.id = q.note_id WHERE n.patient_id = $1",
    )
    .bind(patient.to_string())
    .bind(user.to_string())
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            let id: String = r.try_get("note_id")?;
            let seen: i64 = r.try_get("seen")?;
            let mine: i64 = r.try_get("mine")?;
            Ok((
                parse(&id, "note id")?,
                (usize::try_from(seen).unwrap_or(0), mine > 0),
            ))
        })
        .collect()
}

/// For the notes of a list's patients that ask for a receipt: how many
/// have seen each and whether `user` has.
pub async fn counts_on_list(
    conn: &mut AnyConnection,
    list: rounds_core::ListId,
    user: UserId,
) -> Result<HashMap<NoteId, (usize, bool)>, StoreError> {
    let rows = sqlx::query(
        "SELECT q.note_id, \
         (SELECT COUNT(*) FROM note_receipts r WHERE r.note_id = q.note_id) AS seen, \
         (SELECT COUNT(*) FROM note_receipts r WHERE r.note_id = q.note_id AND r.user_id = $2) AS mine \
         FROM receipt_requests q JOIN notes n ON n.id = q.note_id \
         JOIN list_entries e ON e.patient_id = n.patient_id WHERE e.list_id = $1",
    )
    .bind(list.to_string())
    .bind(user.to_string())
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            let id: String = r.try_get("note_id")?;
            let seen: i64 = r.try_get("seen")?;
            let mine: i64 = r.try_get("mine")?;
            Ok((
                parse(&id, "note id")?,
                (usize::try_from(seen).unwrap_or(0), mine > 0),
            ))
        })
        .collect()
}
