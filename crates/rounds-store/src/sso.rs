//! Single sign-on: identity providers, their group mappings, the identities
//! people sign in with, directory-made memberships, sign-ins under way and
//! the provider of a session.
//!
//! (Over 500 lines: the storage of single sign-on's six tables, one short
//! function per statement.)

use rounds_core::{TeamId, Timestamp, UserId};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::users::parse;
use crate::StoreError;

/// A provider as stored (the secret still sealed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRow {
    pub id: String,
    /// `oidc` or `smart`.
    pub kind: String,
    pub label: String,
    pub issuer: String,
    pub client_id: String,
    pub secret_sealed: Option<String>,
    pub scopes: String,
    pub username_claim: String,
    pub display_name_claim: String,
    pub groups_claim: Option<String>,
    pub create_accounts: bool,
    pub from_file: bool,
    pub updated_at: Timestamp,
}

const PROVIDER_COLUMNS: &str = "id, kind, label, issuer, client_id, secret_sealed, scopes, \
     username_claim, display_name_claim, groups_claim, create_accounts, from_file, updated_at";

fn provider_from_row(row: &AnyRow) -> Result<ProviderRow, StoreError> {
    Ok(ProviderRow {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        label: row.try_get("label")?,
        issuer: row.try_get("issuer")?,
        client_id: row.try_get("client_id")?,
        secret_sealed: row.try_get("secret_sealed")?,
        scopes: row.try_get("scopes")?,
        username_claim: row.try_get("username_claim")?,
        display_name_claim: row.try_get("display_name_claim")?,
        groups_claim: row.try_get("groups_claim")?,
        create_accounts: row.try_get::<i64, _>("create_accounts")? != 0,
        from_file: row.try_get::<i64, _>("from_file")? != 0,
        updated_at: Timestamp::from_millis(row.try_get("updated_at")?),
    })
}

pub async fn providers(conn: &mut AnyConnection) -> Result<Vec<ProviderRow>, StoreError> {
    let sql = format!("SELECT {PROVIDER_COLUMNS} FROM sso_providers ORDER BY label, id");
    sqlx::query(&sql)
        .fetch_all(conn)
        .await?
        .iter()
        .map(provider_from_row)
        .collect()
}

pub async fn provider(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<ProviderRow>, StoreError> {
    let sql = format!("SELECT {PROVIDER_COLUMNS} FROM sso_providers WHERE id = $1");
    sqlx::query(&sql)
        .bind(id)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(provider_from_row)
        .transpose()
}

/// Inserts or replaces the provider `row.id`.
pub async fn put_provider(conn: &mut AnyConnection, row: &ProviderRow) -> Result<(), StoreError> {
    let updated = sqlx::query(
        "UPDATE sso_providers SET kind = $2, label = $3, issuer = $4, client_id = $5, \
         secret_sealed = $6, scopes = $7, username_claim = $8, display_name_claim = $9, \
         groups_claim = $10, create_accounts = $11, from_file = $12, updated_at = $13 WHERE id = $1",
    )
    .bind(&row.id)
    .bind(&row.kind)
    .bind(&row.label)
    .bind(&row.issuer)
    .bind(&row.client_id)
    .bind(row.secret_sealed.as_deref())
    .bind(&row.scopes)
    .bind(&row.username_claim)
    .bind(&row.display_name_claim)
    .bind(row.groups_claim.as_deref())
    .bind(i64::from(row.create_accounts))
    .bind(i64::from(row.from_file))
    .bind(row.updated_at.millis())
    .execute(&mut *conn)
    .await?;
    if updated.rows_affected() == 1 {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO sso_providers (id, kind, label, issuer, client_id, secret_sealed, scopes, \
         username_claim, display_name_claim, groups_claim, create_accounts, from_file, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)",
    )
    .bind(&row.id)
    .bind(&row.kind)
    .bind(&row.label)
    .bind(&row.issuer)
    .bind(&row.client_id)
    .bind(row.secret_sealed.as_deref())
    .bind(&row.scopes)
    .bind(&row.username_claim)
    .bind(&row.display_name_claim)
    .bind(row.groups_claim.as_deref())
    .bind(i64::from(row.create_accounts))
    .bind(i64::from(row.from_file))
    .bind(row.updated_at.millis())
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn delete_provider(conn: &mut AnyConnection, id: &str) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM sso_providers WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// How many providers hold a sealed client secret.
pub async fn sealed_secrets(conn: &mut AnyConnection) -> Result<usize, StoreError> {
    let n: i64 =
        sqlx::query("SELECT COUNT(*) AS n FROM sso_providers WHERE secret_sealed IS NOT NULL")
            .fetch_one(conn)
            .await?
            .try_get("n")?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// A directory group and what it gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingRow {
    pub id: String,
    pub provider_id: String,
    pub group_name: String,
    /// None: site administration.
    pub team_id: Option<TeamId>,
    /// `admin`, `owner` or `member`.
    pub role: String,
}

pub async fn mappings(
    conn: &mut AnyConnection,
    provider_id: &str,
) -> Result<Vec<MappingRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, provider_id, group_name, team_id, role FROM sso_group_mappings \
         WHERE provider_id = $1 ORDER BY group_name, role",
    )
    .bind(provider_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            let team: Option<String> = row.try_get("team_id")?;
            Ok(MappingRow {
                id: row.try_get("id")?,
                provider_id: row.try_get("provider_id")?,
                group_name: row.try_get("group_name")?,
                team_id: team.map(|t| parse(&t, "team id")).transpose()?,
                role: row.try_get("role")?,
            })
        })
        .collect()
}

pub async fn add_mapping(
    conn: &mut AnyConnection,
    m: &MappingRow,
    at: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sso_group_mappings (id, provider_id, group_name, team_id, role, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&m.id)
    .bind(&m.provider_id)
    .bind(&m.group_name)
    .bind(m.team_id.map(|t| t.to_string()))
    .bind(&m.role)
    .bind(at.millis())
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn delete_mapping(
    conn: &mut AnyConnection,
    provider_id: &str,
    id: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM sso_group_mappings WHERE provider_id = $1 AND id = $2")
        .bind(provider_id)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Replaces every mapping of a provider (the configuration file's way).
pub async fn replace_mappings(
    conn: &mut AnyConnection,
    provider_id: &str,
    mappings: &[MappingRow],
    at: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM sso_group_mappings WHERE provider_id = $1")
        .bind(provider_id)
        .execute(&mut *conn)
        .await?;
    for m in mappings {
        add_mapping(conn, m, at).await?;
    }
    Ok(())
}

/// An identity at a provider, tied to an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityRow {
    pub issuer: String,
    pub subject: String,
    /// The provider last used (None once that provider was removed).
    pub provider_id: Option<String>,
    pub user_id: UserId,
    pub fhir_user: Option<String>,
    pub admin_by_groups: bool,
    pub linked_at: Timestamp,
    pub last_sign_in_at: Option<Timestamp>,
}

const IDENTITY_COLUMNS: &str = "issuer, subject, provider_id, user_id, fhir_user, \
     admin_by_groups, linked_at, last_sign_in_at";

fn identity_from_row(row: &AnyRow) -> Result<IdentityRow, StoreError> {
    let user: String = row.try_get("user_id")?;
    Ok(IdentityRow {
        issuer: row.try_get("issuer")?,
        subject: row.try_get("subject")?,
        provider_id: row.try_get("provider_id")?,
        user_id: parse(&user, "user id")?,
        fhir_user: row.try_get("fhir_user")?,
        admin_by_groups: row.try_get::<i64, _>("admin_by_groups")? != 0,
        linked_at: Timestamp::from_millis(row.try_get("linked_at")?),
        last_sign_in_at: row
            .try_get::<Option<i64>, _>("last_sign_in_at")?
            .map(Timestamp::from_millis),
    })
}

pub async fn identity(
    conn: &mut AnyConnection,
    issuer: &str,
    subject: &str,
) -> Result<Option<IdentityRow>, StoreError> {
    let sql =
        format!("SELECT {IDENTITY_COLUMNS} FROM sso_identities WHERE issuer = $1 AND subject = $2");
    sqlx::query(&sql)
        .bind(issuer)
        .bind(subject)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(identity_from_row)
        .transpose()
}

pub async fn identities_of(
    conn: &mut AnyConnection,
    user: UserId,
) -> Result<Vec<IdentityRow>, StoreError> {
    let sql = format!(
        "SELECT {IDENTITY_COLUMNS} FROM sso_identities WHERE user_id = $1 ORDER BY provider_id"
    );
    crate::all_rows(conn, &sql, user.to_string(), identity_from_row).await
}

pub async fn all_identities(conn: &mut AnyConnection) -> Result<Vec<IdentityRow>, StoreError> {
    let sql =
        format!("SELECT {IDENTITY_COLUMNS} FROM sso_identities ORDER BY provider_id, subject");
    sqlx::query(&sql)
        .fetch_all(conn)
        .await?
        .iter()
        .map(identity_from_row)
        .collect()
}

pub async fn insert_identity(
    conn: &mut AnyConnection,
    row: &IdentityRow,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sso_identities (issuer, subject, provider_id, user_id, fhir_user, \
         admin_by_groups, linked_at, last_sign_in_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&row.issuer)
    .bind(&row.subject)
    .bind(row.provider_id.as_deref())
    .bind(row.user_id.to_string())
    .bind(row.fhir_user.as_deref())
    .bind(i64::from(row.admin_by_groups))
    .bind(row.linked_at.millis())
    .bind(row.last_sign_in_at.map(Timestamp::millis))
    .execute(conn)
    .await?;
    Ok(())
}

/// Notes a sign-in with the identity through `provider_id`: its
/// `fhirUser` and whether the directory made the account an administrator.
pub async fn signed_in_with(
    conn: &mut AnyConnection,
    issuer: &str,
    subject: &str,
    provider_id: &str,
    fhir_user: Option<&str>,
    admin_by_groups: bool,
    at: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE sso_identities SET fhir_user = $3, admin_by_groups = $4, last_sign_in_at = $5, \
         provider_id = $6 WHERE issuer = $1 AND subject = $2",
    )
    .bind(issuer)
    .bind(subject)
    .bind(fhir_user)
    .bind(i64::from(admin_by_groups))
    .bind(at.millis())
    .bind(provider_id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn delete_identity(
    conn: &mut AnyConnection,
    issuer: &str,
    subject: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM sso_identities WHERE issuer = $1 AND subject = $2")
        .bind(issuer)
        .bind(subject)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The teams the directory put `user` in (through `provider_id`).
pub async fn directory_teams(
    conn: &mut AnyConnection,
    user: UserId,
    provider_id: &str,
) -> Result<Vec<TeamId>, StoreError> {
    let rows =
        sqlx::query("SELECT team_id FROM sso_memberships WHERE user_id = $1 AND provider_id = $2")
            .bind(user.to_string())
            .bind(provider_id)
            .fetch_all(conn)
            .await?;
    rows.iter()
        .map(|row| {
            let team: String = row.try_get("team_id")?;
            parse(&team, "team id")
        })
        .collect()
}

pub async fn mark_directory_member(
    conn: &mut AnyConnection,
    team: TeamId,
    user: UserId,
    provider_id: &str,
    at: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sso_memberships (team_id, user_id, provider_id, added_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(team.to_string())
    .bind(user.to_string())
    .bind(provider_id)
    .bind(at.millis())
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn unmark_directory_member(
    conn: &mut AnyConnection,
    team: TeamId,
    user: UserId,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM sso_memberships WHERE team_id = $1 AND user_id = $2")
        .bind(team.to_string())
        .bind(user.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

/// A sign-in under way.
#[derive(Debug, Clone)]
pub struct PendingRow {
    pub state_hash: String,
    pub browser_hash: String,
    pub provider_id: String,
    pub nonce: String,
    /// The PKCE verifier, sealed with the site key (never stored in the clear).
    pub pkce_verifier_sealed: String,
    pub next_path: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

pub async fn insert_pending(conn: &mut AnyConnection, p: &PendingRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sso_pending (state_hash, browser_hash, provider_id, nonce, \
         pkce_verifier_sealed, next_path, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&p.state_hash)
    .bind(&p.browser_hash)
    .bind(&p.provider_id)
    .bind(&p.nonce)
    .bind(&p.pkce_verifier_sealed)
    .bind(&p.next_path)
    .bind(p.created_at.millis())
    .bind(p.expires_at.millis())
    .execute(conn)
    .await?;
    Ok(())
}

/// Takes the pending sign-in with this state hash: it is deleted, so a
/// state is good for one answer only.
pub async fn take_pending(
    conn: &mut AnyConnection,
    state_hash: &str,
) -> Result<Option<PendingRow>, StoreError> {
    let Some(row) = sqlx::query(
        "SELECT state_hash, browser_hash, provider_id, nonce, pkce_verifier_sealed, next_path, \
         created_at, expires_at FROM sso_pending WHERE state_hash = $1",
    )
    .bind(state_hash)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let done = sqlx::query("DELETE FROM sso_pending WHERE state_hash = $1")
        .bind(state_hash)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() != 1 {
        // Taken by another request meanwhile.
        return Ok(None);
    }
    Ok(Some(PendingRow {
        state_hash: row.try_get("state_hash")?,
        browser_hash: row.try_get("browser_hash")?,
        provider_id: row.try_get("provider_id")?,
        nonce: row.try_get("nonce")?,
        pkce_verifier_sealed: row.try_get("pkce_verifier_sealed")?,
        next_path: row.try_get("next_path")?,
        created_at: Timestamp::from_millis(row.try_get("created_at")?),
        expires_at: Timestamp::from_millis(row.try_get("expires_at")?),
    }))
}

pub async fn purge_pending(conn: &mut AnyConnection, now: Timestamp) -> Result<u64, StoreError> {
    let done = sqlx::query("DELETE FROM sso_pending WHERE expires_at <= $1")
        .bind(now.millis())
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// Notes that the session `token_hash` came from `provider_id`, with the
/// ID token (sealed) to name it by at the provider's sign-out, where the
/// provider has one.
pub async fn mark_session(
    conn: &mut AnyConnection,
    token_hash: &str,
    provider_id: &str,
    id_token_sealed: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sso_sessions (token_hash, provider_id, id_token_sealed) VALUES ($1, $2, $3)",
    )
    .bind(token_hash)
    .bind(provider_id)
    .bind(id_token_sealed)
    .execute(conn)
    .await?;
    Ok(())
}

/// The provider a session came from, and its sealed ID token if kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoSessionRow {
    pub provider_id: String,
    pub id_token_sealed: Option<String>,
}

pub async fn session_provider(
    conn: &mut AnyConnection,
    token_hash: &str,
) -> Result<Option<SsoSessionRow>, StoreError> {
    let Some(row) =
        sqlx::query("SELECT provider_id, id_token_sealed FROM sso_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(conn)
            .await?
    else {
        return Ok(None);
    };
    Ok(Some(SsoSessionRow {
        provider_id: row.try_get("provider_id")?,
        id_token_sealed: row.try_get("id_token_sealed")?,
    }))
}

/// The team named `name` (compared by its key), for group mappings named in
/// the configuration file.
pub async fn team_by_name(
    conn: &mut AnyConnection,
    name: &rounds_core::validate::TeamName,
) -> Result<Option<TeamId>, StoreError> {
    let Some(row) = sqlx::query("SELECT id FROM teams WHERE name_key = $1")
        .bind(name.key())
        .fetch_optional(conn)
        .await?
    else {
        return Ok(None);
    };
    let id: String = row.try_get("id")?;
    Ok(Some(parse(&id, "team id")?))
}
