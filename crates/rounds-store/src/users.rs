//! Accounts.

use rounds_core::model::{SiteRole, User};
use rounds_core::{Timestamp, UserId, Username};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::StoreError;

const COLUMNS: &str =
    "id, username, display_name, site_role, must_change_password, disabled_at, created_at";

/// A user with their password hash, for sign-in.
pub struct UserWithHash {
    pub user: User,
    pub password_hash: String,
}

pub struct NewUser<'a> {
    pub id: UserId,
    pub username: &'a Username,
    pub display_name: &'a str,
    pub password_hash: &'a str,
    pub site_role: SiteRole,
    pub must_change_password: bool,
    pub at: Timestamp,
}

pub(crate) fn parse<T: std::str::FromStr>(value: &str, what: &str) -> Result<T, StoreError> {
    value
        .parse()
        .map_err(|_| StoreError::Corrupt(format!("{what} {value:?} is not valid")))
}

fn from_row(row: &AnyRow) -> Result<User, StoreError> {
    let id: String = row.try_get("id")?;
    let role: String = row.try_get("site_role")?;
    Ok(User {
        id: parse(&id, "user id")?,
        username: Username::from_trusted(row.try_get("username")?),
        display_name: row.try_get("display_name")?,
        site_role: parse(&role, "site role")?,
        must_change_password: row.try_get::<i64, _>("must_change_password")? != 0,
        disabled_at: row
            .try_get::<Option<i64>, _>("disabled_at")?
            .map(Timestamp::from_millis),
        created_at: Timestamp::from_millis(row.try_get("created_at")?),
    })
}

pub async fn insert(conn: &mut AnyConnection, new: &NewUser<'_>) -> Result<User, StoreError> {
    sqlx::query(
        "INSERT INTO users (id, username, display_name, password_hash, site_role, \
         must_change_password, disabled_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $7)",
    )
    .bind(new.id.to_string())
    .bind(new.username.as_str())
    .bind(new.display_name)
    .bind(new.password_hash)
    .bind(new.site_role.as_str())
    .bind(i64::from(new.must_change_password))
    .bind(new.at.millis())
    .execute(conn)
    .await?;
    Ok(User {
        id: new.id,
        username: new.username.clone(),
        display_name: new.display_name.to_owned(),
        site_role: new.site_role,
        disabled_at: None,
        must_change_password: new.must_change_password,
        created_at: new.at,
    })
}

pub async fn count(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(sqlx::query("SELECT COUNT(*) AS n FROM users")
        .fetch_one(conn)
        .await?
        .try_get("n")?)
}

pub async fn by_id(conn: &mut AnyConnection, id: UserId) -> Result<Option<User>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
    crate::optional_row(conn, &sql, id.to_string(), from_row).await
}

pub async fn by_username(
    conn: &mut AnyConnection,
    username: &Username,
) -> Result<Option<User>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE username = $1");
    sqlx::query(&sql)
        .bind(username.as_str())
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

pub async fn with_hash(
    conn: &mut AnyConnection,
    username: &Username,
) -> Result<Option<UserWithHash>, StoreError> {
    let sql = format!("SELECT {COLUMNS}, password_hash FROM users WHERE username = $1");
    let Some(row) = sqlx::query(&sql)
        .bind(username.as_str())
        .fetch_optional(conn)
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(UserWithHash {
        user: from_row(&row)?,
        password_hash: row.try_get("password_hash")?,
    }))
}

pub async fn password_hash(
    conn: &mut AnyConnection,
    id: UserId,
) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query("SELECT password_hash FROM users WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?
        .map(|row| row.try_get("password_hash"))
        .transpose()?)
}

pub async fn list(conn: &mut AnyConnection) -> Result<Vec<User>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM users ORDER BY username");
    sqlx::query(&sql)
        .fetch_all(conn)
        .await?
        .iter()
        .map(from_row)
        .collect()
}

pub async fn set_password(
    conn: &mut AnyConnection,
    id: UserId,
    password_hash: &str,
    must_change: bool,
    at: Timestamp,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE users SET password_hash = $1, must_change_password = $2, updated_at = $3 WHERE id = $4",
    )
    .bind(password_hash)
    .bind(i64::from(must_change))
    .bind(at.millis())
    .bind(id.to_string())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_disabled(
    conn: &mut AnyConnection,
    id: UserId,
    disabled_at: Option<Timestamp>,
    at: Timestamp,
) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE users SET disabled_at = $1, updated_at = $2 WHERE id = $3")
        .bind(disabled_at.map(Timestamp::millis))
        .bind(at.millis())
        .bind(id.to_string())
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_site_role(
    conn: &mut AnyConnection,
    id: UserId,
    role: SiteRole,
    at: Timestamp,
) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE users SET site_role = $1, updated_at = $2 WHERE id = $3")
        .bind(role.as_str())
        .bind(at.millis())
        .bind(id.to_string())
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Active administrators, to keep the site from losing its last one.
pub async fn count_active_admins(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(sqlx::query(
        "SELECT COUNT(*) AS n FROM users WHERE site_role = 'admin' AND disabled_at IS NULL",
    )
    .fetch_one(conn)
    .await?
    .try_get("n")?)
}

/// Those of `ids` whose account is disabled. One query per
/// `sessions::IN_CHUNK` ids.
pub async fn disabled_among(
    conn: &mut AnyConnection,
    ids: &[UserId],
) -> Result<Vec<UserId>, StoreError> {
    let mut out = Vec::new();
    for chunk in ids.chunks(crate::sessions::IN_CHUNK) {
        let sql = format!(
            "SELECT id FROM users WHERE disabled_at IS NOT NULL AND id IN ({})",
            crate::sessions::placeholders(1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(id.to_string());
        }
        for row in query.fetch_all(&mut *conn).await? {
            let id: String = row.try_get("id")?;
            out.push(parse(&id, "user id")?);
        }
    }
    Ok(out)
}
