//! The access rule, in one place:
//! - someone who is not a member of a team gets "not found" for anything of
//!   that team, so its existence is not revealed;
//! - a member reaching for an owner-only action gets "forbidden";
//! - site-wide administration needs a site administrator.
//!
//! Every refusal is written to the audit log.

use rounds_core::audit::{AuditEntry, Operation, Outcome};
use rounds_core::model::TeamRole;
use rounds_core::TeamId;
use serde_json::json;

use crate::{Actor, App, AppError};

/// What an action needs of the person in a team.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Member,
    Owner,
}

impl App {
    /// The actor's role in `team` if it allows `need`; otherwise the refusal,
    /// audited. `action` names what was attempted, for the audit record.
    pub async fn team_access(
        &self,
        actor: &Actor,
        team: TeamId,
        need: Need,
        action: &str,
    ) -> Result<TeamRole, AppError> {
        let role = {
            let mut conn = self.db.read().await?;
            rounds_store::teams::role_of(&mut conn, team, actor.user.id).await?
        };
        let refusal = match (role, need) {
            (None, _) => Some((
                "not a member of the team",
                AppError::NotFound { what: "team" },
            )),
            (Some(TeamRole::Member), Need::Owner) => Some((
                "owner-only action by a member",
                AppError::forbidden("only an owner of this team can do that"),
            )),
            (Some(_), _) => None,
        };
        match (refusal, role) {
            (None, Some(role)) => Ok(role),
            (Some((reason, err)), _) => {
                let mut entry = self.entry_for(
                    actor,
                    Operation::AccessRefused,
                    Outcome::Refused(reason.into()),
                );
                entry.team_id = Some(team);
                entry.detail = json!({ "action": action });
                self.record(entry).await?;
                Err(err)
            }
            (None, None) => Err(AppError::NotFound { what: "team" }),
        }
    }

    /// Passes for a site administrator; otherwise the refusal, audited.
    pub async fn require_admin(&self, actor: &Actor, action: &str) -> Result<(), AppError> {
        if actor.user.is_admin() {
            return Ok(());
        }
        let mut entry = self.entry_for(
            actor,
            Operation::AccessRefused,
            Outcome::Refused("site administrator action by a non-administrator".into()),
        );
        entry.detail = json!({ "action": action });
        self.record(entry).await?;
        Err(AppError::forbidden("only a site administrator can do that"))
    }

    /// An audit entry about something `actor` did.
    pub(crate) fn entry_for(
        &self,
        actor: &Actor,
        operation: Operation,
        outcome: Outcome,
    ) -> AuditEntry {
        let mut entry = AuditEntry::new(operation, outcome, actor.client.clone());
        entry.actor_id = Some(actor.user.id);
        entry.actor_username = Some(actor.user.username.to_string());
        entry
    }
}
