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

/// An id of another team that an actor named while acting in their own.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Foreign {
    List(rounds_core::ListId),
    Patient(rounds_core::PatientId),
    /// A note, with the patient it is about.
    Note(rounds_core::NoteId, rounds_core::PatientId),
}

impl App {
    /// Records that `actor`, acting in `team`, reached for an id that exists
    /// in `owner`, another team: an AccessRefused record naming the id like
    /// any other refusal. (The caller still answers "not found", as for an
    /// id that exists nowhere, so nothing leaks; an unknown id is not
    /// recorded, being no reach into anyone's data.)
    ///
    /// The lookups that call this run inside write transactions too, whose
    /// writer lock recording needs (and whose rollback would take the record
    /// with it), so the record is written by a task of its own as soon as
    /// the lock is free: right after the caller's transaction ends.
    pub(crate) fn refuse_foreign(&self, actor: &Actor, team: TeamId, id: Foreign, owner: TeamId) {
        let mut entry = self.entry_for(
            actor,
            Operation::AccessRefused,
            Outcome::Refused("an id of another team".into()),
        );
        entry.team_id = Some(team);
        entry.detail = match id {
            Foreign::List(list) => {
                entry.list_id = Some(list.to_string());
                json!({ "foreignList": list.to_string(), "ofTeam": owner.to_string() })
            }
            Foreign::Patient(patient) => {
                entry.patient_ref = Some(patient.to_string());
                json!({ "foreignPatient": patient.to_string(), "ofTeam": owner.to_string() })
            }
            Foreign::Note(note, patient) => {
                entry.patient_ref = Some(patient.to_string());
                json!({ "foreignNote": note.to_string(), "ofTeam": owner.to_string() })
            }
        };
        let app = self.clone();
        tokio::spawn(async move {
            if let Err(err) = app.record(entry).await {
                tracing::error!(error = %err, "cannot record a refused access");
            }
        });
    }
}

/// What an audited action within a team was about.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Subject {
    pub team: TeamId,
    pub list: Option<rounds_core::ListId>,
    pub patient: Option<rounds_core::PatientId>,
}

impl Subject {
    pub(crate) fn team(team: TeamId) -> Self {
        Self {
            team,
            list: None,
            patient: None,
        }
    }
    pub(crate) fn list(team: TeamId, list: rounds_core::ListId) -> Self {
        Self {
            team,
            list: Some(list),
            patient: None,
        }
    }
    pub(crate) fn patient(team: TeamId, patient: rounds_core::PatientId) -> Self {
        Self {
            team,
            list: None,
            patient: Some(patient),
        }
    }
    pub(crate) fn on_list(
        team: TeamId,
        list: rounds_core::ListId,
        patient: rounds_core::PatientId,
    ) -> Self {
        Self {
            team,
            list: Some(list),
            patient: Some(patient),
        }
    }
}

impl App {
    /// Records a successful `operation` by `actor` inside the change's own
    /// transaction, so the record commits or rolls back with it.
    pub(crate) async fn audit_done(
        &self,
        tx: &mut rounds_store::WriteTx<'_>,
        actor: &Actor,
        operation: Operation,
        about: Subject,
        detail: serde_json::Value,
    ) -> Result<(), AppError> {
        let mut entry = self.entry_for(actor, operation, Outcome::Success);
        entry.team_id = Some(about.team);
        entry.list_id = about.list.map(|l| l.to_string());
        entry.patient_ref = about.patient.map(|p| p.to_string());
        entry.detail = detail;
        rounds_store::audit::append(tx, &entry).await?;
        Ok(())
    }
}
