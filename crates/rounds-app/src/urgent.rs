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

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use rounds_core::audit::{AuditEntry, ClientInfo, Operation, Outcome};
use rounds_core::lists::Note;
use rounds_core::model::{TeamMember, TeamRole};
use rounds_core::urgent::{next_after, Audience, UrgentRule, UrgentState};
use rounds_core::validate::InvalidInput;
use rounds_core::{ListId, NoteId, PatientId, TeamId, Timestamp, UserId};
use rounds_store::urgent::{self, StoredUrgent};
use rounds_store::{notes, patients, teams, WriteTx};
use serde_json::json;

use crate::access::{Foreign, Need, Subject};
use crate::live::Change;
use crate::{Actor, App, AppError};

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

/// The longest re-notification interval a team may set, and the most repeats.
const MAX_INTERVAL_SECS: i64 = 24 * 60 * 60;
const MAX_ESCALATE_AFTER: i64 = 100;
/// Notes handled per clock tick at most (the rest on the next).
const DUE_PER_TICK: i64 = 200;

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

    /// The urgent note `note` if it is of `team`; another team's is refused
    /// (and audited) as not found.
    async fn urgent_of_team(
        &self,
        actor: &Actor,
        team: TeamId,
        note: NoteId,
    ) -> Result<StoredUrgent, AppError> {
        let mut conn = self.db.read().await?;
        let found = urgent::by_note(&mut conn, note)
            .await?
            .ok_or(AppError::NotFound {
                what: "urgent note",
            })?;
        if found.team_id != team {
            self.refuse_foreign(
                actor,
                team,
                Foreign::Note(note, found.patient_id),
                found.team_id,
            );
            return Err(AppError::NotFound {
                what: "urgent note",
            });
        }
        let live = notes::by_id(&mut conn, note)
            .await?
            .is_some_and(|n| !n.deleted);
        if !live {
            return Err(AppError::NotFound {
                what: "urgent note",
            });
        }
        Ok(found)
    }

    async fn urgent_views(
        &self,
        actor: &Actor,
        team: TeamId,
        found: Vec<StoredUrgent>,
    ) -> Result<Vec<UrgentView>, AppError> {
        if found.is_empty() {
            return Ok(Vec::new());
        }
        let (members, memberships, found_notes) = {
            let mut conn = self.db.read().await?;
            let members = teams::members(&mut conn, team).await?;
            // A few notes (one, after an event): the lists of their
            // patients only, not every membership of the team.
            let concerned: HashSet<PatientId> = found.iter().map(|u| u.patient_id).collect();
            let memberships = if concerned.len() <= 4 {
                let mut all = Vec::new();
                for patient in concerned {
                    for list in patients::lists_of(&mut conn, patient).await? {
                        all.push((patient, list));
                    }
                }
                all
            } else {
                patients::memberships_of_team(&mut conn, team).await?
            };
            let mut found_notes = HashMap::new();
            for u in &found {
                if let Some(n) = notes::by_id(&mut conn, u.note_id).await? {
                    found_notes.insert(u.note_id, n);
                }
            }
            (members, memberships, found_notes)
        };
        let ids: HashSet<PatientId> = found.iter().map(|u| u.patient_id).collect();
        let labels = self.patient_labels(team, &ids).await?;
        Ok(found
            .into_iter()
            .filter_map(|u| {
                let note = found_notes.get(&u.note_id)?.clone();
                let to = addressees(&u.state, note.author_id, &members);
                let (patient_name, location) =
                    labels.get(&u.patient_id).cloned().unwrap_or_default();
                Some(UrgentView {
                    to_me: to.contains(&actor.user.id),
                    to,
                    lists: memberships
                        .iter()
                        .filter(|(p, _)| *p == u.patient_id)
                        .map(|(_, l)| *l)
                        .collect(),
                    note,
                    state: u.state,
                    patient_name,
                    location,
                })
            })
            .collect())
    }

    /// The team's urgent notes nobody has acknowledged yet, oldest first,
    /// each saying whether it alerts the asker; recorded as PatientView of
    /// each patient concerned.
    pub async fn open_urgent(
        &self,
        actor: &Actor,
        team: TeamId,
    ) -> Result<Vec<UrgentView>, AppError> {
        self.team_access(actor, team, Need::Member, "listUrgent")
            .await?;
        let found = {
            let mut conn = self.db.read().await?;
            urgent::open_of_team(&mut conn, team).await?
        };
        let views = self.urgent_views(actor, team, found).await?;
        let patients: BTreeSet<String> = views
            .iter()
            .map(|v| v.note.patient_id.to_string())
            .collect();
        for patient in patients {
            let mut entry = self.entry_for(actor, Operation::PatientView, Outcome::Success);
            entry.team_id = Some(team);
            entry.patient_ref = Some(patient.clone());
            entry.detail = json!({ "view": "urgentNotes" });
            self.record_view(entry, format!("patient:{patient}"))
                .await?;
        }
        Ok(views)
    }

    /// One urgent note of the team as it stands now (acknowledged or not),
    /// saying whether it alerts the asker; recorded as PatientView of its
    /// patient (once per view window, as the open notes' read). What a
    /// screen reads after an event about that note, instead of every open
    /// note again.
    pub async fn urgent_note(
        &self,
        actor: &Actor,
        team: TeamId,
        note: NoteId,
    ) -> Result<UrgentView, AppError> {
        self.team_access(actor, team, Need::Member, "getUrgent")
            .await?;
        let found = self.urgent_of_team(actor, team, note).await?;
        let view = self
            .urgent_views(actor, team, vec![found])
            .await?
            .pop()
            .ok_or(AppError::NotFound {
                what: "urgent note",
            })?;
        let patient = view.note.patient_id.to_string();
        let mut entry = self.entry_for(actor, Operation::PatientView, Outcome::Success);
        entry.team_id = Some(team);
        entry.patient_ref = Some(patient.clone());
        entry.detail = json!({ "view": "urgentNotes" });
        self.record_view(entry, format!("patient:{patient}"))
            .await?;
        Ok(view)
    }

    /// The urgent state of a patient's notes, by note (the notes' reader
    /// records the access).
    pub async fn urgent_of_patient(
        &self,
        actor: &Actor,
        team: TeamId,
        patient: PatientId,
    ) -> Result<HashMap<NoteId, UrgentView>, AppError> {
        self.team_access(actor, team, Need::Member, "listNotes")
            .await?;
        let found = {
            let mut conn = self.db.read().await?;
            self.patient_in_team(&mut conn, actor, team, patient)
                .await?;
            urgent::of_patient(&mut conn, patient).await?
        };
        let views = self
            .urgent_views(actor, team, found.into_values().collect())
            .await?;
        Ok(views.into_iter().map(|v| (v.note.id, v)).collect())
    }

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
