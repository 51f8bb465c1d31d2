//! A team's EHR connection and the EHR references of its patients. Only
//! references and settings live here; nothing read from the EHR does.

use rounds_core::{PatientId, TeamId, Timestamp, UserId};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::users::parse;
use crate::StoreError;

/// How a connection authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    None,
    ClientCredentials,
    BackendServices,
}

impl AuthKind {
    pub const ALL: [Self; 3] = [Self::None, Self::ClientCredentials, Self::BackendServices];

    /// The stored (and shown) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ClientCredentials => "clientCredentials",
            Self::BackendServices => "backendServices",
        }
    }
}

/// How client credentials are sent to the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// HTTP Basic authentication.
    Basic,
    /// In the form body.
    Post,
}

impl AuthMethod {
    pub const ALL: [Self; 2] = [Self::Basic, Self::Post];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Basic => "basic",
            Self::Post => "post",
        }
    }
}

/// Whether reads go as batch Bundles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchMode {
    /// When the server declares batch.
    Auto,
    Always,
    Never,
}

impl BatchMode {
    pub const ALL: [Self; 3] = [Self::Auto, Self::Always, Self::Never];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Always => "always",
            Self::Never => "never",
        }
    }
}

/// A connection as stored; `secret_sealed` is ciphertext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredConnection {
    pub team_id: TeamId,
    pub name: String,
    pub base_url: String,
    pub auth_kind: AuthKind,
    pub client_id: Option<String>,
    pub auth_method: Option<AuthMethod>,
    pub scope: Option<String>,
    pub token_url: Option<String>,
    pub secret_sealed: Option<String>,
    pub key_id: Option<String>,
    /// The public key (a JWK) of a backend-services key pair.
    pub public_jwk: Option<serde_json::Value>,
    pub batch_mode: BatchMode,
    /// The admin's fixed batch shape (`bundle`, `bundles:N`, `chunks:SxN`,
    /// `gets:N`); None: measured per server.
    pub batch_shape: Option<String>,
    pub updated_at: Timestamp,
    pub updated_by: Option<UserId>,
}

/// One of `all`, by its stored name; a corrupt row is an error naming it.
fn named<T: Copy>(
    team: &str,
    column: &str,
    value: &str,
    all: &[T],
    name: fn(T) -> &'static str,
) -> Result<T, StoreError> {
    all.iter()
        .copied()
        .find(|v| name(*v) == value)
        .ok_or_else(|| {
            let known: Vec<&str> = all.iter().map(|v| name(*v)).collect();
            StoreError::Corrupt(format!(
                "the EHR connection of team {team}: {column} {value:?} is not one of {}",
                known.join(", ")
            ))
        })
}

fn connection_from_row(row: &AnyRow) -> Result<StoredConnection, StoreError> {
    let team: String = row.try_get("team_id")?;
    let by: Option<String> = row.try_get("updated_by")?;
    let kind: String = row.try_get("auth_kind")?;
    let method: Option<String> = row.try_get("auth_method")?;
    let batch: String = row.try_get("batch_mode")?;
    let jwk: Option<String> = row.try_get("public_jwk")?;
    let corrupt =
        |what: String| StoreError::Corrupt(format!("the EHR connection of team {team}: {what}"));
    Ok(StoredConnection {
        team_id: parse(&team, "team id")?,
        name: row.try_get("name")?,
        base_url: row.try_get("base_url")?,
        auth_kind: named(&team, "auth_kind", &kind, &AuthKind::ALL, AuthKind::as_str)?,
        client_id: row.try_get("client_id")?,
        auth_method: method
            .map(|m| {
                named(
                    &team,
                    "auth_method",
                    &m,
                    &AuthMethod::ALL,
                    AuthMethod::as_str,
                )
            })
            .transpose()?,
        scope: row.try_get("scope")?,
        token_url: row.try_get("token_url")?,
        secret_sealed: row.try_get("secret_sealed")?,
        key_id: row.try_get("key_id")?,
        public_jwk: jwk
            .map(|j| {
                serde_json::from_str(&j)
                    .map_err(|e| corrupt(format!("public_jwk is not JSON ({e})")))
            })
            .transpose()?,
        batch_mode: named(
            &team,
            "batch_mode",
            &batch,
            &BatchMode::ALL,
            BatchMode::as_str,
        )?,
        batch_shape: row.try_get("batch_shape")?,
        updated_at: Timestamp::from_millis(row.try_get("updated_at")?),
        updated_by: by
            .map(|b| {
                b.parse()
                    .map_err(|_| corrupt(format!("updated_by {b:?} is not a user id")))
            })
            .transpose()?,
    })
}

const COLUMNS: &str = "team_id, name, base_url, auth_kind, client_id, auth_method, scope, \
     token_url, secret_sealed, key_id, public_jwk, batch_mode, updated_at, updated_by, batch_shape";

pub async fn connection(
    conn: &mut AnyConnection,
    team: TeamId,
) -> Result<Option<StoredConnection>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM ehr_connections WHERE team_id = $1"
    ))
    .bind(team.to_string())
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(connection_from_row).transpose()
}

/// How many teams' connections hold a sealed secret.
pub async fn sealed_secrets(conn: &mut AnyConnection) -> Result<usize, StoreError> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM ehr_connections WHERE secret_sealed IS NOT NULL")
            .fetch_one(conn)
            .await?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// Inserts or replaces the team's connection.
pub async fn put_connection(
    conn: &mut AnyConnection,
    c: &StoredConnection,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM ehr_connections WHERE team_id = $1")
        .bind(c.team_id.to_string())
        .execute(&mut *conn)
        .await?;
    sqlx::query(&format!(
        "INSERT INTO ehr_connections ({COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
    ))
    .bind(c.team_id.to_string())
    .bind(&c.name)
    .bind(&c.base_url)
    .bind(c.auth_kind.as_str())
    .bind(&c.client_id)
    .bind(c.auth_method.map(AuthMethod::as_str))
    .bind(&c.scope)
    .bind(&c.token_url)
    .bind(&c.secret_sealed)
    .bind(&c.key_id)
    .bind(c.public_jwk.as_ref().map(|j| j.to_string()))
    .bind(c.batch_mode.as_str())
    .bind(c.updated_at.millis())
    .bind(c.updated_by.map(|u| u.to_string()))
    .bind(&c.batch_shape)
    .execute(conn)
    .await?;
    Ok(())
}

/// The batch shape measured for a team's connection, and on which server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeasuredShape {
    pub team_id: TeamId,
    pub base_url: String,
    /// What the server said of itself when measured (software, version,
    /// batch support): another fingerprint is another server.
    pub fingerprint: String,
    /// `bundle`, `bundles:N`, `chunks:SxN` or `gets:N`.
    pub shape: String,
    /// Each candidate's time on the sample (JSON).
    pub trials: serde_json::Value,
    pub measured_at: Timestamp,
}

/// The shape measured for the team's connection, if any.
pub async fn measured_shape(
    conn: &mut AnyConnection,
    team: TeamId,
) -> Result<Option<MeasuredShape>, StoreError> {
    let row = sqlx::query(
        "SELECT base_url, fingerprint, shape, trials, measured_at \
         FROM ehr_batch_shapes WHERE team_id = $1",
    )
    .bind(team.to_string())
    .fetch_optional(conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let trials: String = row.try_get("trials")?;
    Ok(Some(MeasuredShape {
        team_id: team,
        base_url: row.try_get("base_url")?,
        fingerprint: row.try_get("fingerprint")?,
        shape: row.try_get("shape")?,
        trials: serde_json::from_str(&trials).map_err(|e| {
            StoreError::Corrupt(format!(
                "the measured batch shape of team {team}: trials is not JSON ({e})"
            ))
        })?,
        measured_at: Timestamp::from_millis(row.try_get("measured_at")?),
    }))
}

/// Remembers the shape measured for a team's connection (replacing any).
pub async fn put_measured_shape(
    conn: &mut AnyConnection,
    m: &MeasuredShape,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM ehr_batch_shapes WHERE team_id = $1")
        .bind(m.team_id.to_string())
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO ehr_batch_shapes (team_id, base_url, fingerprint, shape, trials, measured_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(m.team_id.to_string())
    .bind(&m.base_url)
    .bind(&m.fingerprint)
    .bind(&m.shape)
    .bind(m.trials.to_string())
    .bind(m.measured_at.millis())
    .execute(conn)
    .await?;
    Ok(())
}

/// Forgets the measured shape (it is measured again on the next read).
pub async fn delete_measured_shape(
    conn: &mut AnyConnection,
    team: TeamId,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM ehr_batch_shapes WHERE team_id = $1")
        .bind(team.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

/// Removes the team's connection; false if there was none.
pub async fn delete_connection(conn: &mut AnyConnection, team: TeamId) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM ehr_connections WHERE team_id = $1")
        .bind(team.to_string())
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// The EHR reference of a patient: the server's base URL and the Patient id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EhrRef {
    pub server: String,
    pub id: String,
}

/// The EHR references of the given patients (those that have one).
pub async fn refs_of_team(
    conn: &mut AnyConnection,
    team: TeamId,
) -> Result<std::collections::HashMap<PatientId, EhrRef>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, ehr_server, ehr_id FROM patients \
         WHERE team_id = $1 AND ehr_id IS NOT NULL AND ehr_server IS NOT NULL",
    )
    .bind(team.to_string())
    .fetch_all(conn)
    .await?;
    let mut out = std::collections::HashMap::new();
    for row in rows {
        let id: String = row.try_get("id")?;
        out.insert(
            parse(&id, "patient id")?,
            EhrRef {
                server: row.try_get("ehr_server")?,
                id: row.try_get("ehr_id")?,
            },
        );
    }
    Ok(out)
}

/// The EHR references of a list's patients (those that have one), in the
/// list's order; only patients of `team`.
pub async fn refs_of_list(
    conn: &mut AnyConnection,
    team: TeamId,
    list: rounds_core::ListId,
) -> Result<Vec<(PatientId, EhrRef)>, StoreError> {
    let rows = sqlx::query(
        "SELECT p.id, p.ehr_server, p.ehr_id FROM list_entries e \
         JOIN patients p ON p.id = e.patient_id \
         WHERE e.list_id = $1 AND p.team_id = $2 \
         AND p.ehr_id IS NOT NULL AND p.ehr_server IS NOT NULL \
         ORDER BY e.position, e.added_at",
    )
    .bind(list.to_string())
    .bind(team.to_string())
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            let id: String = row.try_get("id")?;
            Ok((
                parse(&id, "patient id")?,
                EhrRef {
                    server: row.try_get("ehr_server")?,
                    id: row.try_get("ehr_id")?,
                },
            ))
        })
        .collect()
}

/// The EHR reference of one patient.
pub async fn ref_of(
    conn: &mut AnyConnection,
    patient: PatientId,
) -> Result<Option<EhrRef>, StoreError> {
    crate::optional_row(
        conn,
        "SELECT ehr_server, ehr_id FROM patients \
         WHERE id = $1 AND ehr_id IS NOT NULL AND ehr_server IS NOT NULL",
        patient.to_string(),
        |row| {
            Ok(EhrRef {
                server: row.try_get("ehr_server")?,
                id: row.try_get("ehr_id")?,
            })
        },
    )
    .await
}

/// The team's patient with this EHR reference.
pub async fn patient_with_ref(
    conn: &mut AnyConnection,
    team: TeamId,
    r: &EhrRef,
) -> Result<Option<PatientId>, StoreError> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT id FROM patients WHERE team_id = $1 AND ehr_server = $2 AND ehr_id = $3",
    )
    .bind(team.to_string())
    .bind(&r.server)
    .bind(&r.id)
    .fetch_optional(conn)
    .await?;
    row.map(|(id,)| parse(&id, "patient id")).transpose()
}

/// Sets (or clears) a patient's EHR reference.
pub async fn set_ref(
    conn: &mut AnyConnection,
    patient: PatientId,
    r: Option<&EhrRef>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE patients SET ehr_server = $1, ehr_id = $2 WHERE id = $3")
        .bind(r.map(|r| r.server.clone()))
        .bind(r.map(|r| r.id.clone()))
        .bind(patient.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

/// A new patient that is an EHR patient (no typed fields yet).
pub async fn insert_ehr_patient(
    conn: &mut AnyConnection,
    id: PatientId,
    team: TeamId,
    r: &EhrRef,
    at: Timestamp,
    by: UserId,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO patients (id, team_id, created_at, created_by, ehr_server, ehr_id) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id.to_string())
    .bind(team.to_string())
    .bind(at.millis())
    .bind(by.to_string())
    .bind(&r.server)
    .bind(&r.id)
    .execute(conn)
    .await?;
    Ok(())
}
