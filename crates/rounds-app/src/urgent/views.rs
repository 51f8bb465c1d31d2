//! Reading urgent notes: one, the open ones a member sees, and a patient's.

use std::collections::{BTreeSet, HashMap, HashSet};

use rounds_core::{NoteId, PatientId, TeamId};
use rounds_store::urgent::{self, StoredUrgent};
use rounds_store::{notes, patients, teams};
use serde_json::json;

use crate::access::{Foreign, Need};
use crate::{Actor, App, AppError};

use super::{addressees, UrgentView};

impl App {
    /// The urgent note `note` if it is of `team`; another team's is refused
    /// (and audited) as not found.
    pub(super) async fn urgent_of_team(
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

    pub(super) async fn urgent_views(
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
            self.record_patient_view(actor, team, &patient, json!({ "view": "urgentNotes" }))
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
        self.record_patient_view(actor, team, &patient, json!({ "view": "urgentNotes" }))
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
}
