//! The audit records about one patient, for the per-patient access report:
//! those naming the patient as their subject, and those naming them in
//! their detail (a list view or export showing them, a search finding
//! them, a refused reach for them).

use rounds_core::audit::AuditRecord;
use rounds_core::{PatientId, TeamId};
use sqlx::{AnyConnection, Row};

use crate::audit::from_row;
use crate::users::parse;
use crate::StoreError;

const COLUMNS: &str = "seq, at, operation, outcome, reason, actor_id, actor_username, team_id, \
                       list_id, patient_ref, detail, client_addr, user_agent, prev_hash, hash";

/// `text` inside a LIKE pattern, matched literally.
fn like_literal(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Records after `after_seq`, oldest first, at most `limit`, whose patient
/// reference is one of `refs` or whose detail names one of them as a JSON
/// string.
pub async fn records_about(
    conn: &mut AnyConnection,
    refs: &[String],
    after_seq: i64,
    limit: i64,
) -> Result<Vec<AuditRecord>, StoreError> {
    if refs.is_empty() {
        return Ok(Vec::new());
    }
    let mut clauses = Vec::new();
    let mut n = 2;
    for _ in refs {
        clauses.push(format!(
            "patient_ref = ${n} OR detail LIKE ${} ESCAPE '\\'",
            n + 1
        ));
        n += 2;
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM audit_log WHERE seq > $1 AND ({}) ORDER BY seq LIMIT ${n}",
        clauses.join(" OR ")
    );
    let mut query = sqlx::query(&sql).bind(after_seq);
    for r in refs {
        query = query
            .bind(r.clone())
            .bind(format!("%\"{}\"%", like_literal(r)));
    }
    let rows = query.bind(limit).fetch_all(conn).await?;
    rows.iter().map(from_row).collect()
}

/// The patients (of any team) with this EHR Patient id, with their team.
pub async fn patients_with_ehr_id(
    conn: &mut AnyConnection,
    ehr_id: &str,
) -> Result<Vec<(PatientId, TeamId, String)>, StoreError> {
    let rows = sqlx::query("SELECT id, team_id, ehr_server FROM patients WHERE ehr_id = $1")
        .bind(ehr_id)
        .fetch_all(conn)
        .await?;
    let mut out = Vec::new();
    for row in rows {
        let id: String = row.try_get("id")?;
        let team: String = row.try_get("team_id")?;
        let server: Option<String> = row.try_get("ehr_server")?;
        out.push((
            parse(&id, "patient id")?,
            parse(&team, "team id")?,
            server.unwrap_or_default(),
        ));
    }
    Ok(out)
}

/// The team of a patient and, for an EHR patient, its EHR id.
pub async fn patient(
    conn: &mut AnyConnection,
    id: PatientId,
) -> Result<Option<(TeamId, Option<String>)>, StoreError> {
    let row = sqlx::query("SELECT team_id, ehr_id FROM patients WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    row.map(|row| {
        let team: String = row.try_get("team_id")?;
        let ehr: Option<String> = row.try_get("ehr_id")?;
        Ok((parse(&team, "team id")?, ehr))
    })
    .transpose()
}
