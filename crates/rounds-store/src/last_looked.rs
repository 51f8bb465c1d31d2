//! When a person last looked at a list or a patient, and what others
//! changed there since: read from the rows' own times and authors (list
//! entries, field values, notes, urgent notes, tasks), so nothing else has
//! to be written when something changes.

use std::collections::HashMap;

use rounds_core::{ListId, PatientId, Timestamp, UserId};
use sqlx::{AnyConnection, Row};

use crate::users::parse;
use crate::StoreError;

/// What a look covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    List(ListId),
    Patient(PatientId),
}

impl Scope {
    fn parts(self) -> (&'static str, String) {
        match self {
            Self::List(l) => ("list", l.to_string()),
            Self::Patient(p) => ("patient", p.to_string()),
        }
    }
}

/// One thing someone else changed about a patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    pub patient_id: PatientId,
    /// added | field | note | urgent | urgentAcknowledged | task
    pub kind: &'static str,
    /// The field key, note id or task id it concerns.
    pub key: Option<String>,
    pub at: Timestamp,
}

pub async fn get(
    conn: &mut AnyConnection,
    user: UserId,
    scope: Scope,
) -> Result<Option<Timestamp>, StoreError> {
    let (kind, id) = scope.parts();
    let row = sqlx::query(
        "SELECT seen_at FROM last_looked WHERE user_id = $1 AND scope = $2 AND scope_id = $3",
    )
    .bind(user.to_string())
    .bind(kind)
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(row
        .map(|r| r.try_get::<i64, _>("seen_at"))
        .transpose()?
        .map(Timestamp::from_millis))
}

pub async fn set(
    conn: &mut AnyConnection,
    user: UserId,
    scope: Scope,
    at: Timestamp,
) -> Result<(), StoreError> {
    let (kind, id) = scope.parts();
    sqlx::query(
        "INSERT INTO last_looked (user_id, scope, scope_id, seen_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (user_id, scope, scope_id) DO UPDATE SET seen_at = excluded.seen_at",
    )
    .bind(user.to_string())
    .bind(kind)
    .bind(id)
    .bind(at.millis())
    .execute(conn)
    .await?;
    Ok(())
}

/// The person's own looks at the patients on a list (patient pages), or
/// at the lists holding a patient: scope id → when.
pub async fn related(
    conn: &mut AnyConnection,
    user: UserId,
    scope: Scope,
) -> Result<HashMap<String, Timestamp>, StoreError> {
    let (sql, id) = match scope {
        Scope::List(l) => (
            "SELECT scope_id, seen_at FROM last_looked WHERE user_id = $1 AND scope = 'patient' \
             AND scope_id IN (SELECT patient_id FROM list_entries WHERE list_id = $2)",
            l.to_string(),
        ),
        Scope::Patient(p) => (
            "SELECT scope_id, seen_at FROM last_looked WHERE user_id = $1 AND scope = 'list' \
             AND scope_id IN (SELECT list_id FROM list_entries WHERE patient_id = $2)",
            p.to_string(),
        ),
    };
    sqlx::query(sql)
        .bind(user.to_string())
        .bind(id)
        .fetch_all(conn)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get::<String, _>("scope_id")?,
                Timestamp::from_millis(r.try_get("seen_at")?),
            ))
        })
        .collect()
}

/// What people other than `user` changed after `since` about the patients
/// of the scope (a list's patients, or one patient).
pub async fn changed_since(
    conn: &mut AnyConnection,
    user: UserId,
    scope: Scope,
    since: Timestamp,
) -> Result<Vec<Changed>, StoreError> {
    let (of, id) = match scope {
        Scope::List(l) => (
            "IN (SELECT patient_id FROM list_entries WHERE list_id = $1)",
            l.to_string(),
        ),
        Scope::Patient(p) => ("= $1", p.to_string()),
    };
    let mut queries: Vec<(&'static str, String)> = vec![
        (
            "field",
            format!(
                "SELECT patient_id, field AS k, updated_at AS at FROM patient_values \
                 WHERE patient_id {of} AND updated_at > $2 AND COALESCE(updated_by, '') <> $3"
            ),
        ),
        (
            "note",
            format!(
                "SELECT patient_id, id AS k, updated_at AS at FROM notes \
                 WHERE patient_id {of} AND deleted_at IS NULL AND updated_at > $2 AND author_id <> $3"
            ),
        ),
        (
            "urgent",
            format!(
                "SELECT n.patient_id, n.id AS k, u.sent_at AS at FROM urgent_notes u \
                 JOIN notes n ON n.id = u.note_id \
                 WHERE n.patient_id {of} AND u.sent_at > $2 AND n.author_id <> $3"
            ),
        ),
        (
            "urgentAcknowledged",
            format!(
                "SELECT n.patient_id, n.id AS k, u.acked_at AS at FROM urgent_notes u \
                 JOIN notes n ON n.id = u.note_id \
                 WHERE n.patient_id {of} AND u.acked_at > $2 AND COALESCE(u.acked_by, '') <> $3"
            ),
        ),
        (
            // A task's last change, unless it was the person's own adding
            // or ticking off.
            "task",
            format!(
                "SELECT patient_id, id AS k, updated_at AS at FROM patient_tasks \
                 WHERE patient_id {of} AND deleted_at IS NULL AND updated_at > $2 \
                 AND NOT (COALESCE(created_by, '') = $3 AND created_at = updated_at) \
                 AND NOT (COALESCE(done_by, '') = $3 AND COALESCE(done_at, 0) = updated_at)"
            ),
        ),
    ];
    if let Scope::List(_) = scope {
        queries.push((
            "added",
            "SELECT patient_id, NULL AS k, added_at AS at FROM list_entries \
             WHERE list_id = $1 AND added_at > $2 AND COALESCE(added_by, '') <> $3"
                .to_owned(),
        ));
    }
    let mut out = Vec::new();
    for (kind, sql) in queries {
        let rows = sqlx::query(&sql)
            .bind(&id)
            .bind(since.millis())
            .bind(user.to_string())
            .fetch_all(&mut *conn)
            .await?;
        for r in rows {
            let patient: String = r.try_get("patient_id")?;
            out.push(Changed {
                patient_id: parse(&patient, "patient id")?,
                kind,
                key: r.try_get("k")?,
                at: Timestamp::from_millis(r.try_get("at")?),
            });
        }
    }
    Ok(out)
}
