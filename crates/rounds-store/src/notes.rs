//! Notes on patients, with the text of every earlier version kept.

use rounds_core::lists::Note;
use rounds_core::{NoteId, PatientId, Timestamp, UserId};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::users::parse;
use crate::StoreError;

const SELECT: &str = "SELECT n.id, n.patient_id, n.author_id, u.display_name, n.body, n.version, n.created_at, n.updated_at, n.deleted_at \
                      FROM notes n JOIN users u ON u.id = n.author_id";

fn from_row(row: &AnyRow) -> Result<Note, StoreError> {
    let id: String = row.try_get("id")?;
    let patient: String = row.try_get("patient_id")?;
    let author: String = row.try_get("author_id")?;
    Ok(Note {
        id: parse(&id, "note id")?,
        patient_id: parse(&patient, "patient id")?,
        author_id: parse(&author, "user id")?,
        author_name: row.try_get("display_name")?,
        body: row.try_get("body")?,
        version: row.try_get("version")?,
        created_at: Timestamp::from_millis(row.try_get("created_at")?),
        updated_at: Timestamp::from_millis(row.try_get("updated_at")?),
        deleted: row.try_get::<Option<i64>, _>("deleted_at")?.is_some(),
    })
}

/// The patient's notes that are not deleted, newest first.
pub async fn for_patient(
    conn: &mut AnyConnection,
    patient: PatientId,
) -> Result<Vec<Note>, StoreError> {
    let sql = format!("{SELECT} WHERE n.patient_id = $1 AND n.deleted_at IS NULL ORDER BY n.created_at DESC, n.id");
    crate::all_rows(conn, &sql, patient.to_string(), from_row).await
}

pub async fn by_id(conn: &mut AnyConnection, id: NoteId) -> Result<Option<Note>, StoreError> {
    let sql = format!("{SELECT} WHERE n.id = $1");
    crate::optional_row(conn, &sql, id.to_string(), from_row).await
}

pub async fn insert(
    conn: &mut AnyConnection,
    id: NoteId,
    patient: PatientId,
    author: UserId,
    body: &str,
    at: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO notes (id, patient_id, author_id, body, version, created_at, updated_at) VALUES ($1, $2, $3, $4, 1, $5, $5)")
        .bind(id.to_string())
        .bind(patient.to_string())
        .bind(author.to_string())
        .bind(body)
        .bind(at.millis())
        .execute(conn)
        .await?;
    Ok(())
}

/// Keeps the current text as a revision, then replaces it (or marks the
/// note deleted when `body` is None).
pub async fn revise(
    conn: &mut AnyConnection,
    note: &Note,
    body: Option<&str>,
    at: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO note_revisions (note_id, version, body, edited_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(note.id.to_string())
    .bind(note.version)
    .bind(&note.body)
    .bind(at.millis())
    .execute(&mut *conn)
    .await?;
    let sql = match body {
        Some(_) => "UPDATE notes SET body = $1, version = version + 1, updated_at = $2 WHERE id = $3",
        None => "UPDATE notes SET body = COALESCE($1, body), version = version + 1, updated_at = $2, deleted_at = $2 WHERE id = $3",
    };
    sqlx::query(sql)
        .bind(body)
        .bind(at.millis())
        .bind(note.id.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

/// Earlier texts of a note, oldest first: (version, body, replaced at).
pub async fn revisions(
    conn: &mut AnyConnection,
    note: NoteId,
) -> Result<Vec<(i64, String, Timestamp)>, StoreError> {
    let rows = sqlx::query(
        "SELECT version, body, edited_at FROM note_revisions WHERE note_id = $1 ORDER BY version",
    )
    .bind(note.to_string())
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("version")?,
                r.try_get("body")?,
                Timestamp::from_millis(r.try_get("edited_at")?),
            ))
        })
        .collect()
}

/// The newest note of each patient on a list.
pub async fn latest_on_list(
    conn: &mut AnyConnection,
    list: rounds_core::ListId,
) -> Result<Vec<Note>, StoreError> {
    let sql = format!(
        "{SELECT} JOIN list_entries e ON e.patient_id = n.patient_id \
         WHERE e.list_id = $1 AND n.deleted_at IS NULL AND n.created_at = \
         (SELECT MAX(m.created_at) FROM notes m WHERE m.patient_id = n.patient_id AND m.deleted_at IS NULL)"
    );
    crate::all_rows(conn, &sql, list.to_string(), from_row).await
}
