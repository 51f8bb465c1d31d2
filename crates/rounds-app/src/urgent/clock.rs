//! The team's rule for urgent notes (interval and repeats) and the clock
//! that alerts again when a note's next alert time has come.

use std::time::Duration;

use rounds_core::audit::{AuditEntry, ClientInfo, Operation, Outcome};
use rounds_core::urgent::{next_after, UrgentRule};
use rounds_core::validate::InvalidInput;
use rounds_core::{TeamId, Timestamp};
use rounds_store::urgent::{self};
use rounds_store::{notes, teams};
use serde_json::json;

use crate::access::Need;
use crate::live::Change;
use crate::{Actor, App, AppError};

use super::addressees;

/// The longest re-notification interval a team may set, and the most repeats.
const MAX_INTERVAL_SECS: i64 = 24 * 60 * 60;
const MAX_ESCALATE_AFTER: i64 = 100;
/// Notes handled per clock tick at most (the rest on the next).
const DUE_PER_TICK: i64 = 200;

impl App {
    /// The team's rule for urgent notes (any member may read it).
    pub async fn urgent_rule(&self, actor: &Actor, team: TeamId) -> Result<UrgentRule, AppError> {
        self.team_access(actor, team, Need::Member, "getUrgentRule")
            .await?;
        let mut conn = self.db.read().await?;
        Ok(urgent::rule(&mut conn, team).await?)
    }

    /// Sets the team's rule (owners): the interval between alerts (at least
    /// the server's minimum, 60 s unless configured, at most a day) and the
    /// repeats before the owners are alerted too (1 to 100). Applies from
    /// each open note's next alert on.
    pub async fn set_urgent_rule(
        &self,
        actor: &Actor,
        team: TeamId,
        rule: UrgentRule,
    ) -> Result<UrgentRule, AppError> {
        self.team_access(actor, team, Need::Owner, "setUrgentRule")
            .await?;
        let min = self.config.urgent.min_interval_secs.max(1);
        if !(min..=MAX_INTERVAL_SECS).contains(&rule.interval_secs) {
            return Err(InvalidInput::new(
                "intervalSecs",
                format!("must be from {min} to {MAX_INTERVAL_SECS} seconds"),
            )
            .into());
        }
        if !(1..=MAX_ESCALATE_AFTER).contains(&rule.escalate_after) {
            return Err(InvalidInput::new(
                "escalateAfter",
                format!("must be from 1 to {MAX_ESCALATE_AFTER} repeats"),
            )
            .into());
        }
        let mut tx = self.db.write().await?;
        urgent::set_rule(tx.conn(), team, rule).await?;
        self.commit(tx).await?;
        Ok(rule)
    }

    /// Starts this instance's clock for urgent notes (once; it stops with
    /// the live feeds when the server shuts down).
    pub fn start_urgent_clock(&self) {
        if self
            .urgent_clock
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return;
        }
        let app = self.clone();
        let tick = Duration::from_millis(self.config.urgent.tick_ms.max(50));
        self.spawn_until_closing(move |mut closing| async move {
            loop {
                if *closing.borrow_and_update() {
                    return;
                }
                tokio::select! {
                    () = tokio::time::sleep(tick) => {},
                    _ = closing.changed() => continue,
                }
                if let Err(err) = app.urgent_tick(Timestamp::now()).await {
                    tracing::warn!(error = %err, "cannot re-notify urgent notes");
                }
            }
        });
    }

    /// Alerts again every open urgent note due at `now` that no other
    /// instance has taken; escalates those that reached the team's repeats.
    /// Returns how many this call handled.
    pub(crate) async fn urgent_tick(&self, now: Timestamp) -> Result<usize, AppError> {
        let due = {
            let mut conn = self.db.read().await?;
            urgent::due(&mut conn, now, DUE_PER_TICK).await?
        };
        let mut handled = 0;
        for (u, rule) in due {
            let Some(seen) = u.state.next_notify_at else {
                continue;
            };
            let next = next_after(seen, now, rule.interval_secs);
            let repeats = u.state.repeats + 1;
            let escalate = u.state.escalated_at.is_none() && repeats >= rule.escalate_after;
            let mut tx = self.db.write().await?;
            if !urgent::claim(tx.conn(), u.note_id, seen, next, escalate.then_some(now)).await? {
                continue; // another instance, or an acknowledgement, came first
            }
            let Some(note) = notes::by_id(tx.conn(), u.note_id).await? else {
                continue;
            };
            let members = teams::members(tx.conn(), u.team_id).await?;
            let mut state = u.state.clone();
            state.repeats = repeats;
            if escalate {
                state.escalated_at = Some(now);
            }
            let to = addressees(&state, note.author_id, &members);
            {
                // Every repeat is recorded: an escalation as such, any
                // other as a re-notification.
                let mut entry = AuditEntry::new(
                    if escalate {
                        Operation::UrgentNoteEscalate
                    } else {
                        Operation::UrgentNoteRenotify
                    },
                    Outcome::Success,
                    ClientInfo::default(),
                );
                entry.team_id = Some(u.team_id);
                entry.patient_ref = Some(u.patient_id.to_string());
                entry.detail = json!({
                    "noteId": u.note_id.to_string(),
                    "repeats": repeats,
                    "to": to.iter().map(ToString::to_string).collect::<Vec<_>>(),
                });
                rounds_store::audit::append(&mut tx, &entry).await?;
            }
            let lists = self.urgent_feeds(&mut tx, u.team_id, u.patient_id).await?;
            self.announce_unattended(
                &mut tx,
                u.team_id,
                &lists,
                &Change::UrgentChanged {
                    patient_id: u.patient_id,
                    note_id: u.note_id,
                    action: if escalate { "escalated" } else { "renotified" },
                    repeats,
                    to,
                    body: None,
                    audience: None,
                },
            )
            .await?;
            self.commit(tx).await?;
            handled += 1;
        }
        Ok(handled)
    }
}
