//! Care teams and their members.

use rounds_core::model::{Team, TeamMember, TeamRole, TeamSummary};
use rounds_core::{TeamId, TeamName, Timestamp, UserId, Username};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::users::parse;
use crate::StoreError;

fn team_from_row(row: &AnyRow) -> Result<Team, StoreError> {
    let id: String = row.try_get("id")?;
    Ok(Team {
        id: parse(&id, "team id")?,
        name: TeamName::from_trusted(row.try_get("name")?),
        created_at: Timestamp::from_millis(row.try_get("created_at")?),
    })
}

pub async fn insert(
    conn: &mut AnyConnection,
    id: TeamId,
    name: &TeamName,
    created_by: UserId,
    at: Timestamp,
) -> Result<Team, StoreError> {
    sqlx::query(
        "INSERT INTO teams (id, name, name_key, created_by, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id.to_string())
    .bind(name.as_str())
    .bind(name.key())
    .bind(created_by.to_string())
    .bind(at.millis())
    .execute(conn)
    .await?;
    Ok(Team {
        id,
        name: name.clone(),
        created_at: at,
    })
}

pub async fn by_id(conn: &mut AnyConnection, id: TeamId) -> Result<Option<Team>, StoreError> {
    crate::optional_row(
        conn,
        "SELECT id, name, created_at FROM teams WHERE id = $1",
        id.to_string(),
        team_from_row,
    )
    .await
}

/// The teams `user` belongs to, by name.
pub async fn for_user(
    conn: &mut AnyConnection,
    user: UserId,
) -> Result<Vec<TeamSummary>, StoreError> {
    let rows = sqlx::query(
        "SELECT t.id, t.name, t.created_at, m.role, \
         (SELECT COUNT(*) FROM team_members c WHERE c.team_id = t.id) AS member_count \
         FROM teams t JOIN team_members m ON m.team_id = t.id \
         WHERE m.user_id = $1 ORDER BY t.name_key",
    )
    .bind(user.to_string())
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            let role: String = row.try_get("role")?;
            Ok(TeamSummary {
                team: team_from_row(row)?,
                my_role: parse(&role, "team role")?,
                member_count: row.try_get("member_count")?,
            })
        })
        .collect()
}

pub async fn role_of(
    conn: &mut AnyConnection,
    team: TeamId,
    user: UserId,
) -> Result<Option<TeamRole>, StoreError> {
    let row = sqlx::query("SELECT role FROM team_members WHERE team_id = $1 AND user_id = $2")
        .bind(team.to_string())
        .bind(user.to_string())
        .fetch_optional(conn)
        .await?;
    match row {
        Some(row) => {
            let role: String = row.try_get("role")?;
            Ok(Some(parse(&role, "team role")?))
        }
        None => Ok(None),
    }
}

pub async fn members(
    conn: &mut AnyConnection,
    team: TeamId,
) -> Result<Vec<TeamMember>, StoreError> {
    let rows = sqlx::query(
        "SELECT u.id, u.username, u.display_name, m.role, m.added_at \
         FROM team_members m JOIN users u ON u.id = m.user_id \
         WHERE m.team_id = $1 ORDER BY u.display_name, u.username",
    )
    .bind(team.to_string())
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            let id: String = row.try_get("id")?;
            let role: String = row.try_get("role")?;
            Ok(TeamMember {
                user_id: parse(&id, "user id")?,
                username: Username::from_trusted(row.try_get("username")?),
                display_name: row.try_get("display_name")?,
                role: parse(&role, "team role")?,
                added_at: Timestamp::from_millis(row.try_get("added_at")?),
            })
        })
        .collect()
}

pub async fn add_member(
    conn: &mut AnyConnection,
    team: TeamId,
    user: UserId,
    role: TeamRole,
    at: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO team_members (team_id, user_id, role, added_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(team.to_string())
    .bind(user.to_string())
    .bind(role.as_str())
    .bind(at.millis())
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn set_role(
    conn: &mut AnyConnection,
    team: TeamId,
    user: UserId,
    role: TeamRole,
) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE team_members SET role = $1 WHERE team_id = $2 AND user_id = $3")
        .bind(role.as_str())
        .bind(team.to_string())
        .bind(user.to_string())
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn remove_member(
    conn: &mut AnyConnection,
    team: TeamId,
    user: UserId,
) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM team_members WHERE team_id = $1 AND user_id = $2")
        .bind(team.to_string())
        .bind(user.to_string())
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn count_owners(conn: &mut AnyConnection, team: TeamId) -> Result<i64, StoreError> {
    Ok(
        sqlx::query("SELECT COUNT(*) AS n FROM team_members WHERE team_id = $1 AND role = 'owner'")
            .bind(team.to_string())
            .fetch_one(conn)
            .await?
            .try_get("n")?,
    )
}

/// Every team membership of the users in `users`, as (team, user) pairs.
/// One query per `sessions::IN_CHUNK` users.
pub async fn memberships_of(
    conn: &mut AnyConnection,
    users: &[UserId],
) -> Result<Vec<(TeamId, UserId)>, StoreError> {
    let mut out = Vec::new();
    for chunk in users.chunks(crate::sessions::IN_CHUNK) {
        let sql = format!(
            "SELECT team_id, user_id FROM team_members WHERE user_id IN ({})",
            crate::sessions::placeholders(1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for user in chunk {
            query = query.bind(user.to_string());
        }
        for row in query.fetch_all(&mut *conn).await? {
            let team: String = row.try_get("team_id")?;
            let user: String = row.try_get("user_id")?;
            out.push((parse(&team, "team id")?, parse(&user, "user id")?));
        }
    }
    Ok(out)
}
