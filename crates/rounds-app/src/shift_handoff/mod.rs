//! Shift hand-off of a list from one person to another: the giver starts
//! it naming the receiver (a member of the team), and it covers the
//! patients on the list then. The giver marks patients ready (or all), the
//! receiver acknowledges each ready patient (or all ready ones); when every
//! patient is acknowledged the hand-off closes. Until then it shows as open
//! to the giver, the receiver and the team's owners. Every step is audited
//! (ShiftHandoffGive, ShiftHandoffAcknowledge, one record per patient) and
//! announced to the screens of those who may read it (giver, receiver,
//! owners: their own team channels); each step names the
//! version it was made from, and a stale one is refused with a conflict.

use std::collections::HashSet;

use rounds_core::audit::{Operation, Outcome};
use rounds_core::model::TeamRole;
use rounds_core::validate::InvalidInput;
use rounds_core::{ListId, PatientId, ShiftHandoffId, TeamId, Timestamp, UserId};
use rounds_store::shift_handoff::{self as store, HandoffPatient, ShiftHandoff};
use rounds_store::{patients, teams, WriteTx};
use serde_json::json;

use crate::access::{Need, Subject};
use crate::live::Change;
use crate::{Actor, App, AppError};

mod step;

use step::Step;

/// One patient of a hand-off with what identifies them on the list.
#[derive(Debug, Clone)]
pub struct HandoffPatientView {
    pub patient_id: PatientId,
    pub name: String,
    pub location: String,
    pub ready_at: Option<Timestamp>,
    pub acked_at: Option<Timestamp>,
}

/// A hand-off with its patients.
#[derive(Debug, Clone)]
pub struct ShiftHandoffView {
    pub handoff: ShiftHandoff,
    pub list_name: String,
    pub patients: Vec<HandoffPatientView>,
}

impl ShiftHandoffView {
    pub fn is_open(&self) -> bool {
        self.handoff.closed_at.is_none()
    }
    pub fn ready_count(&self) -> usize {
        self.patients
            .iter()
            .filter(|p| p.ready_at.is_some())
            .count()
    }
    pub fn acked_count(&self) -> usize {
        self.patients
            .iter()
            .filter(|p| p.acked_at.is_some())
            .count()
    }
}

/// Which patients a step is about.
#[derive(Debug, Clone)]
pub enum Which {
    All,
    Some(Vec<PatientId>),
}

fn stale(current: &ShiftHandoff, base_version: i64) -> AppError {
    AppError::stale_whole(
        "handoff",
        current.version,
        base_version,
        None,
        current.started_at,
    )
}

impl App {
    /// Starts a hand-off of the list to `receiver`, covering the patients
    /// on the list now.
    pub async fn start_shift_handoff(
        &self,
        actor: &Actor,
        team: TeamId,
        list: ListId,
        receiver: UserId,
    ) -> Result<ShiftHandoffView, AppError> {
        self.team_access(actor, team, Need::Member, "startShiftHandoff")
            .await?;
        if receiver == actor.user.id {
            return Err(InvalidInput::new("receiverId", "must be someone else").into());
        }
        let id = ShiftHandoffId::new_random();
        let mut tx = self.db.write().await?;
        self.list_in_team(tx.conn(), actor, team, list).await?;
        if teams::role_of(tx.conn(), team, receiver).await?.is_none() {
            return Err(InvalidInput::new("receiverId", "is not a member of the team").into());
        }
        if store::open_by_giver(tx.conn(), list, actor.user.id)
            .await?
            .is_some()
        {
            return Err(AppError::Conflict {
                message:
                    "you already have an open hand-off of this list; finish or cancel it first"
                        .into(),
            });
        }
        let on_list: Vec<PatientId> = patients::entries(tx.conn(), list)
            .await?
            .into_iter()
            .map(|e| e.patient_id)
            .collect();
        if on_list.is_empty() {
            return Err(InvalidInput::new("listId", "has no patients to hand off").into());
        }
        let now = Timestamp::now();
        let h = ShiftHandoff {
            id,
            team_id: team,
            list_id: list,
            giver_id: actor.user.id,
            giver_name: actor.user.display_name.clone(),
            receiver_id: receiver,
            receiver_name: String::new(),
            started_at: now,
            closed_at: None,
            cancelled: false,
            version: 1,
        };
        store::insert(tx.conn(), &h, &on_list).await?;
        self.audit_done(
            &mut tx,
            actor,
            Operation::ShiftHandoffGive,
            Subject::list(team, list),
            json!({
                "action": "started",
                "handoffId": id.to_string(),
                "receiverId": receiver.to_string(),
                "patients": on_list.len(),
            }),
        )
        .await?;
        let saved = self.handoff_changed(&mut tx, actor, id, "started").await?;
        self.commit(tx).await?;
        self.handoff_view(saved).await
    }

    /// The giver marks patients ready.
    pub async fn mark_shift_handoff_ready(
        &self,
        actor: &Actor,
        team: TeamId,
        handoff: ShiftHandoffId,
        which: &Which,
        base_version: i64,
    ) -> Result<ShiftHandoffView, AppError> {
        self.step(actor, team, handoff, which, base_version, Step::Ready)
            .await
    }

    /// The receiver acknowledges ready patients; the hand-off closes when
    /// every patient is acknowledged.
    pub async fn acknowledge_shift_handoff(
        &self,
        actor: &Actor,
        team: TeamId,
        handoff: ShiftHandoffId,
        which: &Which,
        base_version: i64,
    ) -> Result<ShiftHandoffView, AppError> {
        self.step(actor, team, handoff, which, base_version, Step::Ack)
            .await
    }

    /// The giver (or an owner) cancels an open hand-off.
    pub async fn cancel_shift_handoff(
        &self,
        actor: &Actor,
        team: TeamId,
        handoff: ShiftHandoffId,
        base_version: i64,
    ) -> Result<ShiftHandoffView, AppError> {
        self.step(
            actor,
            team,
            handoff,
            &Which::All,
            base_version,
            Step::Cancel,
        )
        .await
    }

    /// One hand-off, for its giver, its receiver and the team's owners;
    /// its patients' views are recorded as PatientView.
    pub async fn get_shift_handoff(
        &self,
        actor: &Actor,
        team: TeamId,
        handoff: ShiftHandoffId,
    ) -> Result<ShiftHandoffView, AppError> {
        let (_, found) = self
            .visible(actor, team, handoff, "getShiftHandoff")
            .await?;
        let view = self.handoff_view(found).await?;
        self.record_handoff_views(actor, team, std::slice::from_ref(&view))
            .await?;
        Ok(view)
    }

    /// The open hand-offs of the team (of one list when given) that the
    /// actor gives or receives; all of them for an owner.
    pub async fn open_shift_handoffs(
        &self,
        actor: &Actor,
        team: TeamId,
        list: Option<ListId>,
    ) -> Result<Vec<ShiftHandoffView>, AppError> {
        let role = self
            .team_access(actor, team, Need::Member, "listShiftHandoffs")
            .await?;
        let found = {
            let mut conn = self.db.read().await?;
            if let Some(list) = list {
                self.list_in_team(&mut conn, actor, team, list).await?;
            }
            store::open_of_team(&mut conn, team, list).await?
        };
        let mut out = Vec::new();
        for h in found
            .into_iter()
            .filter(|h| involved(h, actor.user.id, role))
        {
            out.push(self.handoff_view(h).await?);
        }
        self.record_handoff_views(actor, team, &out).await?;
        Ok(out)
    }

    /// The hand-off if the actor (a member of `team`) may see it, with the
    /// actor's role: one of another team, or one the actor neither gives
    /// nor receives (and is no owner), is refused as not found, and the
    /// refusal recorded.
    async fn visible(
        &self,
        actor: &Actor,
        team: TeamId,
        handoff: ShiftHandoffId,
        action: &str,
    ) -> Result<(TeamRole, ShiftHandoff), AppError> {
        let role = self.team_access(actor, team, Need::Member, action).await?;
        let found = {
            let mut conn = self.db.read().await?;
            store::by_id(&mut conn, handoff).await?
        };
        let Some(h) = found else {
            return Err(AppError::NotFound { what: "hand-off" });
        };
        if h.team_id == team && involved(&h, actor.user.id, role) {
            return Ok((role, h));
        }
        let reason = if h.team_id == team {
            "neither the giver nor the receiver of the hand-off, nor an owner"
        } else {
            "an id of another team"
        };
        let mut entry = self.entry_for(
            actor,
            Operation::AccessRefused,
            Outcome::Refused(reason.into()),
        );
        entry.team_id = Some(team);
        entry.detail = json!({ "action": action, "handoffId": h.id.to_string() });
        self.record(entry).await?;
        Err(AppError::NotFound { what: "hand-off" })
    }

    async fn record_handoff_views(
        &self,
        actor: &Actor,
        team: TeamId,
        views: &[ShiftHandoffView],
    ) -> Result<(), AppError> {
        let ids: HashSet<PatientId> = views
            .iter()
            .flat_map(|v| v.patients.iter().map(|p| p.patient_id))
            .collect();
        for patient in ids {
            self.record_patient_view(actor, team, patient, json!({ "view": "shiftHandoff" }))
                .await?;
        }
        Ok(())
    }

    async fn handoff_view(&self, h: ShiftHandoff) -> Result<ShiftHandoffView, AppError> {
        let (stored, list_name) = {
            let mut conn = self.db.read().await?;
            let stored = store::patients(&mut conn, h.id).await?;
            let name = rounds_store::lists::by_id(&mut conn, h.list_id)
                .await?
                .map(|l| l.name)
                .unwrap_or_default();
            (stored, name)
        };
        let ids: HashSet<PatientId> = stored.iter().map(|p| p.patient_id).collect();
        let labels = self.patient_labels(h.team_id, &ids).await?;
        let patients = stored
            .into_iter()
            .map(|p: HandoffPatient| {
                let (name, location) = labels.get(&p.patient_id).cloned().unwrap_or_default();
                HandoffPatientView {
                    patient_id: p.patient_id,
                    name,
                    location,
                    ready_at: p.ready_at,
                    acked_at: p.acked_at,
                }
            })
            .collect();
        Ok(ShiftHandoffView {
            handoff: h,
            list_name,
            patients,
        })
    }
    /// Announces the hand-off as it now stands to those who may read it:
    /// on their own team channels, the giver's, the receiver's and each
    /// owner's (not on the list's feed nor the team's, which every member
    /// hears).
    async fn handoff_changed(
        &self,
        tx: &mut WriteTx<'_>,
        actor: &Actor,
        handoff: ShiftHandoffId,
        action: &'static str,
    ) -> Result<ShiftHandoff, AppError> {
        let saved = store::by_id(tx.conn(), handoff)
            .await?
            .ok_or(AppError::NotFound { what: "hand-off" })?;
        let mut readers = vec![saved.giver_id, saved.receiver_id];
        for member in teams::members(tx.conn(), saved.team_id).await? {
            if member.role == TeamRole::Owner && !readers.contains(&member.user_id) {
                readers.push(member.user_id);
            }
        }
        let on = readers
            .into_iter()
            .map(|user| Self::member_channel(saved.team_id, user))
            .collect::<Result<Vec<_>, _>>()?;
        self.announce(
            tx,
            saved.team_id,
            &on,
            &Change::ShiftHandoffChanged {
                handoff_id: saved.id,
                list_id: saved.list_id,
                action,
                giver_id: saved.giver_id,
                receiver_id: saved.receiver_id,
                version: saved.version,
                open: saved.closed_at.is_none(),
            },
            actor,
        )
        .await?;
        Ok(saved)
    }
}

/// Whether the hand-off shows to this person: its giver, its receiver, or
/// an owner of the team.
fn involved(h: &ShiftHandoff, user: UserId, role: TeamRole) -> bool {
    h.giver_id == user || h.receiver_id == user || role == TeamRole::Owner
}
