//! Urgent notes. Any member marks a note urgent, for the team, its owners
//! or named members. It alerts everyone addressed (but its author) at once,
//! then again at the team's interval until one of them acknowledges it
//! ("Seen — I'll handle it"); after the team's number of repeats the owners
//! are alerted too. Sent, escalated and acknowledged are audited
//! (UrgentNoteSend, UrgentNoteEscalate, UrgentNoteAcknowledge); every step
//! is announced to the patient's lists and the team's channel.
//!
//! The schedule is kept in the database, not in a process: each instance's
//! clock looks, every tick, for notes whose stored next alert time has come,
//! and moves each on with a conditional update; only the instance whose
//! update went through announces the alert. So several instances on one
//! PostgreSQL alert once per interval, and a restart loses nothing.

use std::collections::{BTreeSet, HashSet};

use rounds_core::audit::{Operation, Outcome};
use rounds_core::lists::Note;
use rounds_core::model::{TeamMember, TeamRole};
use rounds_core::urgent::{Audience, UrgentState};
use rounds_core::validate::InvalidInput;
use rounds_core::{ListId, NoteId, PatientId, TeamId, Timestamp, UserId};
use rounds_store::urgent::{self};
use rounds_store::{notes, patients, teams, WriteTx};
use serde_json::json;

use crate::access::{Need, Subject};
use crate::live::Change;
use crate::{Actor, App, AppError};

mod clock;
mod views;

/// Whom a new urgent note is for.
#[derive(Debug, Clone)]
pub struct UrgentRequest {
    pub audience: Audience,
    /// With audience `Members`: the members named.
    pub members: Vec<UserId>,
}

/// An urgent note as screens show it.
#[derive(Debug, Clone)]
pub struct UrgentView {
    pub note: Note,
    pub state: UrgentState,
    /// Whom it alerts now (none once acknowledged).
    pub to: Vec<UserId>,
    /// The person asking is among them.
    pub to_me: bool,
    pub patient_name: String,
    pub location: String,
    pub lists: Vec<ListId>,
}

/// Everyone an urgent note alerts now: its audience (and the owners once
/// escalated), among the team's current members, but not its author.
fn addressees(state: &UrgentState, author: UserId, members: &[TeamMember]) -> Vec<UserId> {
    if state.acknowledged.is_some() {
        return Vec::new();
    }
    let named: HashSet<UserId> = state.recipients.iter().copied().collect();
    let to: BTreeSet<String> = members
        .iter()
        .filter(|m| m.user_id != author)
        .filter(|m| {
            let owner = m.role == TeamRole::Owner;
            let by_audience = match state.audience {
                Audience::Team => true,
                Audience::Owners => owner,
                Audience::Members => named.contains(&m.user_id),
            };
            by_audience || (owner && state.escalated_at.is_some())
        })
        .map(|m| m.user_id.to_string())
        .collect();
    to.iter().filter_map(|id| id.parse().ok()).collect()
}

impl App {
    /// Marks a just-written note urgent, inside its transaction.
    pub(crate) async fn mark_urgent(
        &self,
        tx: &mut WriteTx<'_>,
        actor: &Actor,
        team: TeamId,
        note: &Note,
        request: &UrgentRequest,
    ) -> Result<(), AppError> {
        let members = teams::members(tx.conn(), team).await?;
        let named: Vec<UserId> = match request.audience {
            Audience::Members => {
                let mut named: Vec<UserId> = Vec::new();
                for id in &request.members {
                    if !members.iter().any(|m| m.user_id == *id) {
                        return Err(InvalidInput::new(
                            "urgent.members",
                            format!("{id} is not a member of the team"),
                        )
                        .into());
                    }
                    if !named.contains(id) {
                        named.push(*id);
                    }
                }
                if named.is_empty() {
                    return Err(InvalidInput::new(
                        "urgent.members",
                        "name at least one member to alert",
                    )
                    .into());
                }
                named
            }
            _ => Vec::new(),
        };
        let rule = urgent::rule(tx.conn(), team).await?;
        let now = note.created_at;
        let next = now.plus_secs(u64::try_from(rule.interval_secs.max(1)).unwrap_or(300));
        urgent::insert(
            tx.conn(),
            note.id,
            team,
            request.audience,
            &named,
            now,
            next,
        )
        .await?;
        let stored = urgent::by_note(tx.conn(), note.id)
            .await?
            .ok_or(AppError::NotFound { what: "note" })?;
        let to = addressees(&stored.state, note.author_id, &members);
        self.audit_done(
            tx,
            actor,
            Operation::UrgentNoteSend,
            Subject::patient(team, note.patient_id),
            json!({
                "noteId": note.id.to_string(),
                "audience": request.audience.as_str(),
                "to": to.iter().map(ToString::to_string).collect::<Vec<_>>(),
            }),
        )
        .await?;
        let lists = self.urgent_feeds(tx, team, note.patient_id).await?;
        self.announce(
            tx,
            team,
            &lists,
            &Change::UrgentChanged {
                patient_id: note.patient_id,
                note_id: note.id,
                action: "sent",
                repeats: 0,
                to,
                body: Some(note.body.clone()),
                audience: Some(request.audience.as_str()),
            },
            actor,
        )
        .await
    }

    async fn urgent_feeds(
        &self,
        tx: &mut WriteTx<'_>,
        team: TeamId,
        patient: PatientId,
    ) -> Result<Vec<ListId>, AppError> {
        let mut on = patients::lists_of(tx.conn(), patient).await?;
        on.push(Self::team_channel(team)?);
        Ok(on)
    }

    /// "Seen — I'll handle it": one of the people the note alerts takes it
    /// on; the alert ends on every screen. Acknowledging a note someone
    /// else acknowledged first changes nothing (the answer says who).
    pub async fn acknowledge_urgent(
        &self,
        actor: &Actor,
        team: TeamId,
        note: NoteId,
    ) -> Result<UrgentView, AppError> {
        self.team_access(actor, team, Need::Member, "acknowledgeUrgent")
            .await?;
        let found = self.urgent_of_team(actor, team, note).await?;
        if found.state.acknowledged.is_none() {
            let to = {
                let mut conn = self.db.read().await?;
                let members = teams::members(&mut conn, team).await?;
                let author = notes::by_id(&mut conn, note)
                    .await?
                    .ok_or(AppError::NotFound { what: "note" })?
                    .author_id;
                addressees(&found.state, author, &members)
            };
            if !to.contains(&actor.user.id) {
                let mut entry = self.entry_for(
                    actor,
                    Operation::AccessRefused,
                    Outcome::Refused("not among the urgent note's addressees".into()),
                );
                entry.team_id = Some(team);
                entry.patient_ref = Some(found.patient_id.to_string());
                entry.detail = json!({ "action": "acknowledgeUrgent", "noteId": note.to_string() });
                self.record(entry).await?;
                return Err(AppError::forbidden(
                    "only someone this urgent note is addressed to can acknowledge it",
                ));
            }
            let mut tx = self.db.write().await?;
            if urgent::acknowledge(tx.conn(), note, actor.user.id, Timestamp::now()).await? {
                self.audit_done(
                    &mut tx,
                    actor,
                    Operation::UrgentNoteAcknowledge,
                    Subject::patient(team, found.patient_id),
                    json!({ "noteId": note.to_string(), "repeats": found.state.repeats }),
                )
                .await?;
                let lists = self.urgent_feeds(&mut tx, team, found.patient_id).await?;
                self.announce(
                    &mut tx,
                    team,
                    &lists,
                    &Change::UrgentChanged {
                        patient_id: found.patient_id,
                        note_id: note,
                        action: "acknowledged",
                        repeats: found.state.repeats,
                        to: Vec::new(),
                        body: None,
                        audience: None,
                    },
                    actor,
                )
                .await?;
                self.commit(tx).await?;
            }
        }
        let mut views = self
            .urgent_views(
                actor,
                team,
                vec![self.urgent_of_team(actor, team, note).await?],
            )
            .await?;
        views.pop().ok_or(AppError::NotFound { what: "note" })
    }
}
