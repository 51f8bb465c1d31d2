//! The team's patients, their field values with versions, and their places
//! on lists.
//!
//! (Over 500 lines with its tests; the code, under 450 lines, is the storage
//! of the patient tables, one short function per statement, whose
//! statements are kept together in [`sql`] for the index test.)

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
    sqlx::query(sql::INSERT_PATIENT)
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
    let row = sqlx::query(sql::TEAM_OF)
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

/// The statements, one place each: the functions below use them, and the
/// index test (`every_query_is_served_by_an_index`) explains each.
pub(crate) mod sql {
    macro_rules! value_columns {
        () => {
            "v.patient_id, v.field, v.value, v.version, v.updated_at, v.updated_by"
        };
    }
    pub const INSERT_PATIENT: &str =
        "INSERT INTO patients (id, team_id, created_at, created_by) VALUES ($1, $2, $3, $4)";
    pub const TEAM_OF: &str = "SELECT team_id FROM patients WHERE id = $1";
    /// One row per patient, its values as a JSON array of [field, value,
    /// version] (a row per value costs more to hand over than to read).
    pub const VALUES_ON_LIST: &str =
        "SELECT e.patient_id, json_group_array(json_array(v.field, v.value, v.version)) AS vals \
         FROM list_entries e JOIN patient_values v ON v.patient_id = e.patient_id \
         WHERE e.list_id = $1 GROUP BY e.patient_id";
    /// [`VALUES_ON_LIST`] in PostgreSQL's words.
    pub const VALUES_ON_LIST_PG: &str =
        "SELECT e.patient_id, json_agg(json_build_array(v.field, v.value, v.version))::text AS vals \
         FROM list_entries e JOIN patient_values v ON v.patient_id = e.patient_id \
         WHERE e.list_id = $1 GROUP BY e.patient_id";
    pub const VALUES_OF: &str = concat!(
        "SELECT ",
        value_columns!(),
        " FROM patient_values v WHERE v.patient_id = $1"
    );
    pub const PUT_VALUE: &str = "INSERT INTO patient_values (patient_id, field, value, version, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (patient_id, field) DO UPDATE SET value = excluded.value, version = excluded.version, \
         updated_at = excluded.updated_at, updated_by = excluded.updated_by";
    /// By the partial index on MRNs (patient_values_mrn).
    pub const WITH_MRN: &str =
        "SELECT p.id FROM patient_values v JOIN patients p ON p.id = v.patient_id \
         WHERE v.field = 'mrn' AND v.value = $2 AND p.team_id = $1";
    pub const DUPLICATE_MRNS: &str = "SELECT v.value FROM patients p JOIN patient_values v ON v.patient_id = p.id \
         WHERE p.team_id = $1 AND v.field = 'mrn' AND v.value IS NOT NULL GROUP BY v.value HAVING COUNT(*) > 1";
    /// The MRNs of a list's patients that another patient of the team has
    /// too: a seek per patient on the list (by patient_values_mrn), not a
    /// read of the whole team.
    pub const DUPLICATE_MRNS_ON_LIST: &str = "SELECT DISTINCT v.value FROM list_entries e \
         JOIN patient_values v ON v.patient_id = e.patient_id AND v.field = 'mrn' \
         WHERE e.list_id = $2 AND v.value IS NOT NULL AND EXISTS (SELECT 1 FROM patient_values w \
         JOIN patients p ON p.id = w.patient_id WHERE w.field = 'mrn' AND w.value = v.value \
         AND w.patient_id <> v.patient_id AND p.team_id = $1)";
    pub const ENTRIES: &str = "SELECT patient_id, position, added_at, added_by FROM list_entries WHERE list_id = $1 ORDER BY position, added_at";
    pub const ENTRY_OF: &str = "SELECT patient_id, position, added_at, added_by FROM list_entries WHERE list_id = $1 AND patient_id = $2";
    pub const LISTS_OF: &str = "SELECT list_id FROM list_entries WHERE patient_id = $1";
    /// By list_entries_position: the end of the list without reading it.
    pub const LAST_POSITION: &str =
        "SELECT COALESCE(MAX(position), 0) AS p FROM list_entries WHERE list_id = $1";
    pub const ADD_ENTRY: &str = "INSERT INTO list_entries (list_id, patient_id, position, added_at, added_by) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (list_id, patient_id) DO NOTHING";
    pub const REMOVE_ENTRY: &str =
        "DELETE FROM list_entries WHERE list_id = $1 AND patient_id = $2";
    pub const SET_POSITION: &str =
        "UPDATE list_entries SET position = $1 WHERE list_id = $2 AND patient_id = $3";
    pub const TEAM_PATIENT_IDS: &str =
        "SELECT id FROM patients WHERE team_id = $1 ORDER BY created_at";
    pub const VALUES_OF_TEAM: &str = concat!(
        "SELECT ",
        value_columns!(),
        " FROM patients p JOIN patient_values v ON v.patient_id = p.id WHERE p.team_id = $1"
    );
    pub const MEMBERSHIPS_OF_TEAM: &str = "SELECT e.patient_id, e.list_id FROM patients p JOIN list_entries e ON e.patient_id = p.id WHERE p.team_id = $1";

    /// Every statement above, by name (for the index test).
    #[cfg(test)]
    pub const ALL: &[(&str, &str)] = &[
        ("INSERT_PATIENT", INSERT_PATIENT),
        ("TEAM_OF", TEAM_OF),
        ("VALUES_ON_LIST", VALUES_ON_LIST),
        ("VALUES_OF", VALUES_OF),
        ("PUT_VALUE", PUT_VALUE),
        ("WITH_MRN", WITH_MRN),
        ("DUPLICATE_MRNS", DUPLICATE_MRNS),
        ("DUPLICATE_MRNS_ON_LIST", DUPLICATE_MRNS_ON_LIST),
        ("ENTRIES", ENTRIES),
        ("ENTRY_OF", ENTRY_OF),
        ("LISTS_OF", LISTS_OF),
        ("LAST_POSITION", LAST_POSITION),
        ("ADD_ENTRY", ADD_ENTRY),
        ("REMOVE_ENTRY", REMOVE_ENTRY),
        ("SET_POSITION", SET_POSITION),
        ("TEAM_PATIENT_IDS", TEAM_PATIENT_IDS),
        ("VALUES_OF_TEAM", VALUES_OF_TEAM),
        ("MEMBERSHIPS_OF_TEAM", MEMBERSHIPS_OF_TEAM),
    ];
}

/// Values as [`sql::VALUES_ON_LIST`] reads them (value and version).
fn collect_lean(rows: &[AnyRow]) -> Result<Values, StoreError> {
    let mut out: Values = HashMap::with_capacity(rows.len());
    for row in rows {
        let patient: String = row.try_get(0)?;
        let id: PatientId = parse(&patient, "patient id")?;
        let vals: String = row.try_get(1)?;
        let vals: Vec<(String, Option<String>, i64)> = serde_json::from_str(&vals)
            .map_err(|e| StoreError::Corrupt(format!("values of patient {patient}: {e}")))?;
        let fields = out.entry(id).or_default();
        fields.reserve(vals.len());
        for (field, value, version) in vals {
            fields.insert(
                field,
                FieldValue {
                    value,
                    version,
                    updated_at: Timestamp::from_millis(0),
                    updated_by: None,
                },
            );
        }
    }
    Ok(out)
}

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

/// Every value of every patient on `list`, lean: the value and its
/// version only (what a list shows and edits start from); `updated_at`
/// and `updated_by` are not read (zero and None), `values_of` has them.
pub async fn values_on_list(conn: &mut AnyConnection, list: ListId) -> Result<Values, StoreError> {
    let statement = if conn.backend_name() == <sqlx::Postgres as sqlx::Database>::NAME {
        sql::VALUES_ON_LIST_PG
    } else {
        sql::VALUES_ON_LIST
    };
    collect_lean(
        &sqlx::query(statement)
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
    let mut all = collect(
        &sqlx::query(sql::VALUES_OF)
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
    sqlx::query(sql::PUT_VALUE)
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
    let rows = sqlx::query(sql::WITH_MRN)
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
    let rows = sqlx::query(sql::DUPLICATE_MRNS)
        .bind(team.to_string())
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| r.try_get::<String, _>("value").map_err(StoreError::from))
        .collect()
}

/// The MRNs of `list`'s patients that another patient of `team` has too
/// (what [`duplicate_mrns`] gives, for the list's patients only).
pub async fn duplicate_mrns_on_list(
    conn: &mut AnyConnection,
    team: TeamId,
    list: ListId,
) -> Result<Vec<String>, StoreError> {
    let rows = sqlx::query(sql::DUPLICATE_MRNS_ON_LIST)
        .bind(team.to_string())
        .bind(list.to_string())
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
    let rows = sqlx::query(sql::ENTRIES)
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
    let row = sqlx::query(sql::ENTRY_OF)
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
    let rows = sqlx::query(sql::LISTS_OF)
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
    let position: i64 = sqlx::query(sql::LAST_POSITION)
        .bind(list.to_string())
        .fetch_one(&mut *conn)
        .await?
        .try_get("p")?;
    let done = sqlx::query(sql::ADD_ENTRY)
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
    let done = sqlx::query(sql::REMOVE_ENTRY)
        .bind(list.to_string())
        .bind(patient.to_string())
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives these patients of a list new positions (one statement each).
pub async fn set_positions(
    conn: &mut AnyConnection,
    list: ListId,
    positions: &[(PatientId, i64)],
) -> Result<(), StoreError> {
    for (patient, position) in positions {
        sqlx::query(sql::SET_POSITION)
            .bind(*position)
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
    let rows = sqlx::query(sql::TEAM_PATIENT_IDS)
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
    collect(
        &sqlx::query(sql::VALUES_OF_TEAM)
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
    let rows = sqlx::query(sql::MEMBERSHIPS_OF_TEAM)
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

#[cfg(test)]
mod tests {
    use sqlx::Row;

    use super::sql;
    use crate::{Db, DbOptions};

    /// SQLite's plan for `statement` (placeholders bound to text), one
    /// line per step.
    async fn plan(db: &Db, statement: &str) -> Vec<String> {
        let placeholders = (1..=9)
            .filter(|n| statement.contains(&format!("${n}")))
            .count();
        let explain = format!("EXPLAIN QUERY PLAN {statement}");
        let mut query = sqlx::query(&explain);
        for _ in 0..placeholders {
            query = query.bind("x");
        }
        let mut conn = db.read().await.expect("a connection");
        let rows = query
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_else(|e| panic!("explain {statement}: {e}"));
        rows.iter()
            .map(|r| r.try_get::<String, _>("detail").expect("detail"))
            .collect()
    }

    /// Every statement on patients, values and list entries is served by an
    /// index (no step scans a table), and the two that must not grow with
    /// a list use the index made for them.
    #[tokio::test]
    async fn every_query_is_served_by_an_index() {
        let dir = tempfile::tempdir().expect("a directory");
        let url = format!("sqlite://{}", dir.path().join("plan.db").display());
        let db = Db::open(&url, &DbOptions::default()).await.expect("open");
        db.migrate().await.expect("migrate");
        let mut scans = Vec::new();
        for (name, statement) in sql::ALL {
            for step in plan(&db, statement).await {
                if step.starts_with("SCAN ") {
                    scans.push(format!("{name}: {step}"));
                }
            }
        }
        assert!(scans.is_empty(), "table scans: {scans:#?}");
        let last = plan(&db, sql::LAST_POSITION).await.join("; ");
        assert!(last.contains("list_entries_position"), "{last}");
        let mrn = plan(&db, sql::WITH_MRN).await.join("; ");
        assert!(mrn.contains("patient_values_mrn"), "{mrn}");
        // getList's duplicate check: from the list's entries, then by MRN.
        let on_list = plan(&db, sql::DUPLICATE_MRNS_ON_LIST).await.join("; ");
        assert!(
            on_list.contains("patient_values_mrn") && on_list.contains("list_entries"),
            "{on_list}"
        );
        // patients_team is gone: patients_ehr (team_id, …) serves the team.
        for statement in [
            sql::TEAM_PATIENT_IDS,
            sql::DUPLICATE_MRNS,
            sql::VALUES_OF_TEAM,
            sql::MEMBERSHIPS_OF_TEAM,
        ] {
            let team = plan(&db, statement).await.join("; ");
            assert!(team.contains("patients_ehr"), "{statement}: {team}");
        }
        // getList's first read, the list's feed mark: by primary key.
        let feed = plan(&db, "SELECT feed_seq FROM patient_lists WHERE id = $1")
            .await
            .join("; ");
        assert!(feed.contains("sqlite_autoindex_patient_lists_1"), "{feed}");
        // The audit search (audit::search) by each of its column filters,
        // newest first: its index, and no sort (an entry carries seq).
        for (column, index) in [
            ("actor_username", "audit_log_username"),
            ("team_id", "audit_log_team"),
            ("patient_ref", "audit_log_patient"),
            ("operation", "audit_log_operation"),
        ] {
            let statement = format!(
                "SELECT seq FROM audit_log WHERE {column} = $1 ORDER BY seq DESC LIMIT 100"
            );
            let search = plan(&db, &statement).await.join("; ");
            assert!(search.contains(index), "{column}: {search}");
            assert!(!search.contains("TEMP B-TREE"), "{column}: {search}");
        }
    }
}
