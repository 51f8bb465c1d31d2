//! Care teams: creating them and managing who is in them. A team always
//! keeps at least one owner.

use rounds_core::audit::{Operation, Outcome};
use rounds_core::model::{Team, TeamMember, TeamRole, TeamSummary};
use rounds_core::validate::{TeamName, Username};
use rounds_core::{TeamId, Timestamp, UserId};
use rounds_store::{teams, users};
use serde_json::json;

use crate::access::{Need, Subject};
use crate::{Actor, App, AppError};

/// A team as its members see it.
#[derive(Debug, Clone)]
pub struct TeamDetail {
    pub team: Team,
    pub my_role: TeamRole,
    pub members: Vec<TeamMember>,
}

fn last_owner() -> AppError {
    AppError::Conflict {
        message: "a team must keep at least one owner; make someone else an owner first".into(),
    }
}

impl App {
    /// The teams the actor belongs to.
    pub async fn list_teams(&self, actor: &Actor) -> Result<Vec<TeamSummary>, AppError> {
        let mut conn = self.db.read().await?;
        Ok(teams::for_user(&mut conn, actor.user.id).await?)
    }

    /// Creates a team with the actor as its first owner.
    pub async fn create_team(&self, actor: &Actor, name: &str) -> Result<Team, AppError> {
        let mut tx = self.db.write().await?;
        let team = self
            .insert_team(&mut tx, actor, name, serde_json::Value::Null)
            .await?;
        tx.commit().await?;
        Ok(team)
    }

    /// Creates a team owned by `actor` inside `tx` (recorded as TeamCreate,
    /// with `template` when one provisions it).
    pub(crate) async fn insert_team(
        &self,
        tx: &mut rounds_store::WriteTx<'_>,
        actor: &Actor,
        name: &str,
        template: serde_json::Value,
    ) -> Result<Team, AppError> {
        let name = TeamName::parse(name)?;
        let now = Timestamp::now();
        let team = teams::insert(tx.conn(), TeamId::new_random(), &name, actor.user.id, now)
            .await
            .map_err(|e| {
                if e.is_duplicate_of("name_key") {
                    AppError::Duplicate {
                        field: "name",
                        message: format!("a team named {:?} already exists", name.as_str()),
                    }
                } else {
                    e.into()
                }
            })?;
        teams::add_member(tx.conn(), team.id, actor.user.id, TeamRole::Owner, now).await?;
        let mut entry = self.entry_for(actor, Operation::TeamCreate, Outcome::Success);
        entry.team_id = Some(team.id);
        entry.detail = if template.is_null() {
            json!({ "name": team.name })
        } else {
            json!({ "name": team.name, "template": template })
        };
        rounds_store::audit::append(tx, &entry).await?;
        Ok(team)
    }

    /// The team and its members, for a member.
    pub async fn get_team(&self, actor: &Actor, id: TeamId) -> Result<TeamDetail, AppError> {
        let my_role = self.team_access(actor, id, Need::Member, "getTeam").await?;
        let mut conn = self.db.read().await?;
        let team = teams::by_id(&mut conn, id)
            .await?
            .ok_or(AppError::NotFound { what: "team" })?;
        let members = teams::members(&mut conn, id).await?;
        Ok(TeamDetail {
            team,
            my_role,
            members,
        })
    }

    /// An owner adds an existing account to the team.
    pub async fn add_member(
        &self,
        actor: &Actor,
        team: TeamId,
        username: &str,
        role: TeamRole,
    ) -> Result<TeamMember, AppError> {
        self.team_access(actor, team, Need::Owner, "addTeamMember")
            .await?;
        let username = Username::parse(username)?;
        let now = Timestamp::now();
        let mut tx = self.db.write().await?;
        let user = users::by_username(tx.conn(), &username)
            .await?
            .filter(|u| !u.is_disabled())
            .ok_or_else(|| {
                AppError::Invalid(rounds_core::InvalidInput::new(
                    "username",
                    format!("there is no active account named {username}"),
                ))
            })?;
        teams::add_member(tx.conn(), team, user.id, role, now)
            .await
            .map_err(|e| {
                if e.is_duplicate_of("team_members") || e.is_duplicate_of("pkey") {
                    AppError::Duplicate {
                        field: "username",
                        message: format!("{username} is already a member of this team"),
                    }
                } else {
                    e.into()
                }
            })?;
        let mut entry = self.entry_for(actor, Operation::TeamMemberAdd, Outcome::Success);
        entry.team_id = Some(team);
        entry.detail =
            json!({ "userId": user.id, "username": user.username, "role": role.as_str() });
        rounds_store::audit::append(&mut tx, &entry).await?;
        tx.commit().await?;
        Ok(TeamMember {
            user_id: user.id,
            username: user.username,
            display_name: user.display_name,
            role,
            added_at: now,
        })
    }

    /// An owner changes a member's role; the last owner cannot step down.
    pub async fn update_member(
        &self,
        actor: &Actor,
        team: TeamId,
        user: UserId,
        role: TeamRole,
    ) -> Result<(), AppError> {
        self.team_access(actor, team, Need::Owner, "updateTeamMember")
            .await?;
        let mut tx = self.db.write().await?;
        let current = teams::role_of(tx.conn(), team, user)
            .await?
            .ok_or(AppError::NotFound { what: "member" })?;
        if current == TeamRole::Owner
            && role != TeamRole::Owner
            && teams::count_owners(tx.conn(), team).await? <= 1
        {
            return Err(last_owner());
        }
        teams::set_role(tx.conn(), team, user, role).await?;
        self.audit_done(
            &mut tx,
            actor,
            Operation::TeamMemberUpdate,
            Subject::team(team),
            json!({ "userId": user, "from": current.as_str(), "to": role.as_str() }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// An owner removes a member; the last owner stays.
    pub async fn remove_member(
        &self,
        actor: &Actor,
        team: TeamId,
        user: UserId,
    ) -> Result<(), AppError> {
        self.team_access(actor, team, Need::Owner, "removeTeamMember")
            .await?;
        let mut tx = self.db.write().await?;
        let current = teams::role_of(tx.conn(), team, user)
            .await?
            .ok_or(AppError::NotFound { what: "member" })?;
        if current == TeamRole::Owner && teams::count_owners(tx.conn(), team).await? <= 1 {
            return Err(last_owner());
        }
        teams::remove_member(tx.conn(), team, user).await?;
        self.audit_done(
            &mut tx,
            actor,
            Operation::TeamMemberRemove,
            Subject::team(team),
            json!({ "userId": user, "role": current.as_str() }),
        )
        .await?;
        tx.commit().await?;
        self.end_feeds_of_member(team, user);
        Ok(())
    }
}
