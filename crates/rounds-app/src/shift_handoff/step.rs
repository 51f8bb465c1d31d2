//! A step of a hand-off: the giver marks patients ready, the receiver
//! acknowledges ready ones, or the giver (or an owner) cancels it. Each is
//! checked (who may, still open, made from the current version), applied,
//! audited per patient and announced.

use rounds_core::audit::{Operation, Outcome};
use rounds_core::model::TeamRole;
use rounds_core::validate::InvalidInput;
use rounds_core::{PatientId, ShiftHandoffId, TeamId, Timestamp};
use rounds_store::shift_handoff::{self as store, HandoffPatient, ShiftHandoff};
use rounds_store::WriteTx;
use serde_json::json;

use crate::access::Subject;
use crate::{Actor, App, AppError};

use super::{stale, ShiftHandoffView, Which};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    Ready,
    Ack,
    Cancel,
}

impl Step {
    fn action(self) -> &'static str {
        match self {
            Self::Ready => "markShiftHandoffReady",
            Self::Ack => "acknowledgeShiftHandoff",
            Self::Cancel => "cancelShiftHandoff",
        }
    }
    fn refusal(self) -> &'static str {
        match self {
            Self::Ready => "only the giver of a hand-off marks its patients ready",
            Self::Ack => "only the receiver of a hand-off acknowledges its patients",
            Self::Cancel => "only the giver of a hand-off or an owner of the team cancels it",
        }
    }
    /// Whether `actor` (of `role` in the team) may take this step.
    fn allowed(self, h: &ShiftHandoff, actor: &Actor, role: TeamRole) -> bool {
        match self {
            Self::Ready => h.giver_id == actor.user.id,
            Self::Ack => h.receiver_id == actor.user.id,
            Self::Cancel => h.giver_id == actor.user.id || role == TeamRole::Owner,
        }
    }
    /// What the step is audited as, and the action it is recorded and
    /// announced with.
    fn audited(self) -> (Operation, &'static str) {
        match self {
            Self::Ready => (Operation::ShiftHandoffGive, "ready"),
            Self::Ack => (Operation::ShiftHandoffAcknowledge, "acknowledged"),
            Self::Cancel => (Operation::ShiftHandoffGive, "cancelled"),
        }
    }
    /// When the step closes the hand-off, and whether as cancelled: a
    /// cancel always, an acknowledgement once every patient is
    /// acknowledged (`changed` just now or before).
    fn closing(
        self,
        stored: &[HandoffPatient],
        changed: &[PatientId],
        now: Timestamp,
    ) -> Option<(Timestamp, bool)> {
        match self {
            Self::Cancel => Some((now, true)),
            Self::Ack => {
                let all_acked = stored
                    .iter()
                    .all(|p| p.acked_at.is_some() || changed.contains(&p.patient_id));
                all_acked.then_some((now, false))
            }
            Self::Ready => None,
        }
    }
}

/// The hand-off's patients that `which` names; naming one who is not part
/// of it is refused.
fn chosen<'a>(
    stored: &'a [HandoffPatient],
    which: &Which,
) -> Result<Vec<&'a HandoffPatient>, AppError> {
    match which {
        Which::All => Ok(stored.iter().collect()),
        Which::Some(ids) => {
            let mut out = Vec::new();
            for id in ids {
                match stored.iter().find(|p| p.patient_id == *id) {
                    Some(p) => out.push(p),
                    None => {
                        return Err(InvalidInput::new(
                            "patientIds",
                            "names a patient who is not part of this hand-off",
                        )
                        .into())
                    }
                }
            }
            Ok(out)
        }
    }
}

/// Marks the chosen patients ready or acknowledged (those not so already);
/// the patients changed. Acknowledging a named patient not yet ready is a
/// conflict.
async fn mark(
    tx: &mut WriteTx<'_>,
    handoff: ShiftHandoffId,
    step: Step,
    which: &Which,
    chosen: &[&HandoffPatient],
    now: Timestamp,
) -> Result<Vec<PatientId>, AppError> {
    let mut changed = Vec::new();
    match step {
        Step::Ready => {
            for p in chosen.iter().filter(|p| p.ready_at.is_none()) {
                store::mark_ready(tx.conn(), handoff, p.patient_id, now).await?;
                changed.push(p.patient_id);
            }
        }
        Step::Ack => {
            if let Which::Some(_) = which {
                if chosen.iter().any(|p| p.ready_at.is_none()) {
                    return Err(AppError::Conflict {
                        message: "the giver has not marked that patient ready yet".into(),
                    });
                }
            }
            for p in chosen
                .iter()
                .filter(|p| p.ready_at.is_some() && p.acked_at.is_none())
            {
                store::mark_acked(tx.conn(), handoff, p.patient_id, now).await?;
                changed.push(p.patient_id);
            }
        }
        Step::Cancel => {}
    }
    Ok(changed)
}

impl App {
    pub(super) async fn step(
        &self,
        actor: &Actor,
        team: TeamId,
        handoff: ShiftHandoffId,
        which: &Which,
        base_version: i64,
        step: Step,
    ) -> Result<ShiftHandoffView, AppError> {
        let (role, _) = self.visible(actor, team, handoff, step.action()).await?;
        let mut tx = self.db.write().await?;
        let current = store::by_id(tx.conn(), handoff)
            .await?
            .ok_or(AppError::NotFound { what: "hand-off" })?;
        if !step.allowed(&current, actor, role) {
            drop(tx);
            return self.refuse_step(actor, team, &current, step).await;
        }
        if current.closed_at.is_some() {
            return Err(AppError::Conflict {
                message: "this hand-off is already closed".into(),
            });
        }
        if current.version != base_version {
            return Err(stale(&current, base_version));
        }
        let stored = store::patients(tx.conn(), handoff).await?;
        let chosen = chosen(&stored, which)?;
        let now = Timestamp::now();
        let changed = mark(&mut tx, handoff, step, which, &chosen, now).await?;
        let close = step.closing(&stored, &changed, now);
        if changed.is_empty() && close.is_none() {
            drop(tx);
            let current = self.handoff_view(current).await?;
            return Ok(current);
        }
        if !store::bump(tx.conn(), handoff, base_version, close).await? {
            return Err(stale(&current, base_version));
        }
        let closed = close.is_some_and(|(_, cancelled)| !cancelled);
        let action = self
            .audit_step(&mut tx, actor, &current, step, &changed, closed)
            .await?;
        let live_action = if closed { "closed" } else { action };
        let saved = self
            .handoff_changed(&mut tx, actor, handoff, live_action)
            .await?;
        self.commit(tx).await?;
        self.handoff_view(saved).await
    }

    /// Records that `actor` may not take `step` (AccessRefused) and refuses it.
    async fn refuse_step(
        &self,
        actor: &Actor,
        team: TeamId,
        current: &ShiftHandoff,
        step: Step,
    ) -> Result<ShiftHandoffView, AppError> {
        let mut entry = self.entry_for(
            actor,
            Operation::AccessRefused,
            Outcome::Refused(step.refusal().into()),
        );
        entry.team_id = Some(team);
        entry.list_id = Some(current.list_id.to_string());
        entry.detail = json!({ "action": step.action(), "handoffId": current.id.to_string() });
        self.record(entry).await?;
        Err(AppError::forbidden(step.refusal()))
    }

    /// Audits the step: one record per patient `changed`, and for a cancel
    /// one for the list. Gives the action it was recorded with.
    async fn audit_step(
        &self,
        tx: &mut WriteTx<'_>,
        actor: &Actor,
        current: &ShiftHandoff,
        step: Step,
        changed: &[PatientId],
        closed: bool,
    ) -> Result<&'static str, AppError> {
        let (operation, action) = step.audited();
        let team = current.team_id;
        for patient in changed {
            self.audit_done(
                tx,
                actor,
                operation,
                Subject::on_list(team, current.list_id, *patient),
                json!({
                    "action": action,
                    "handoffId": current.id.to_string(),
                    "giverId": current.giver_id.to_string(),
                    "receiverId": current.receiver_id.to_string(),
                    "closed": closed,
                }),
            )
            .await?;
        }
        if step == Step::Cancel {
            self.audit_done(
                tx,
                actor,
                operation,
                Subject::list(team, current.list_id),
                json!({ "action": action, "handoffId": current.id.to_string() }),
            )
            .await?;
        }
        Ok(action)
    }
}
