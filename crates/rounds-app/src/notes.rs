//! Notes on patients: anyone in the team writes them and sees them; only
//! the author edits or deletes, and every earlier text is kept.

use rounds_core::audit::{Operation, Outcome};
use rounds_core::lists::{Note, NOTE_MAX};
use rounds_core::validate::{InvalidInput, TextKind};
use rounds_core::{NoteId, PatientId, TeamId, Timestamp};
use rounds_store::{notes, patients};
use serde_json::json;

use crate::access::{Foreign, Need, Subject};
use crate::live::Change;
use crate::{Actor, App, AppError};

fn check_body(raw: &str) -> Result<String, InvalidInput> {
    rounds_core::validate::required_text("body", raw, TextKind::Lines, NOTE_MAX)
}

impl App {
    pub async fn add_note(
        &self,
        actor: &Actor,
        team: TeamId,
        patient: PatientId,
        body: &str,
    ) -> Result<Note, AppError> {
        self.add_note_marked(actor, team, patient, body, None, false)
            .await
    }

    /// [`App::add_note`], marked urgent when `urgent` says for whom, and
    /// asking for a read receipt when `receipt`.
    pub async fn add_note_marked(
        &self,
        actor: &Actor,
        team: TeamId,
        patient: PatientId,
        body: &str,
        urgent: Option<&crate::UrgentRequest>,
        receipt: bool,
    ) -> Result<Note, AppError> {
        self.team_access(actor, team, Need::Member, "addNote")
            .await?;
        let body = check_body(body)?;
        let id = NoteId::new_random();
        let mut tx = self.db.write().await?;
        self.patient_in_team(tx.conn(), actor, team, patient)
            .await?;
        notes::insert(
            tx.conn(),
            id,
            patient,
            actor.user.id,
            &body,
            Timestamp::now(),
        )
        .await?;
        self.note_written(&mut tx, actor, team, patient, id, "added")
            .await?;
        let note = notes::by_id(tx.conn(), id)
            .await?
            .ok_or(AppError::NotFound { what: "note" })?;
        if receipt {
            rounds_store::receipts::ask(tx.conn(), id, note.created_at).await?;
        }
        if let Some(request) = urgent {
            self.mark_urgent(&mut tx, actor, team, &note, request)
                .await?;
        }
        self.commit(tx).await?;
        Ok(note)
    }

    /// The patient's notes, newest first; recorded as PatientView.
    pub async fn list_notes(
        &self,
        actor: &Actor,
        team: TeamId,
        patient: PatientId,
    ) -> Result<Vec<Note>, AppError> {
        self.team_access(actor, team, Need::Member, "listNotes")
            .await?;
        let mut conn = self.db.read().await?;
        self.patient_in_team(&mut conn, actor, team, patient)
            .await?;
        let found = notes::for_patient(&mut conn, patient).await?;
        drop(conn);
        self.record_patient_view(actor, team, patient, json!({ "notes": found.len() }))
            .await?;
        Ok(found)
    }

    /// The author replaces the text; the version the author started from
    /// must still be the current one.
    pub async fn update_note(
        &self,
        actor: &Actor,
        team: TeamId,
        note: NoteId,
        body: &str,
        base_version: i64,
    ) -> Result<Note, AppError> {
        self.team_access(actor, team, Need::Member, "updateNote")
            .await?;
        let body = check_body(body)?;
        self.own_note(actor, team, note).await?;
        let mut tx = self.db.write().await?;
        // Read again under the lock: it may have changed since.
        let current = notes::by_id(tx.conn(), note)
            .await?
            .filter(|n| !n.deleted)
            .ok_or(AppError::NotFound { what: "note" })?;
        if current.version != base_version && current.body != body {
            return Err(AppError::EditConflict {
                conflicts: vec![crate::FieldConflict {
                    field: "body".into(),
                    yours: Some(body),
                    current: Some(current.body),
                    current_version: current.version,
                    your_base_version: base_version,
                    updated_by: Some(current.author_name),
                    updated_at: current.updated_at,
                }],
            });
        }
        notes::revise(tx.conn(), &current, Some(&body), Timestamp::now()).await?;
        self.note_written(&mut tx, actor, team, current.patient_id, note, "edited")
            .await?;
        let updated = notes::by_id(tx.conn(), note)
            .await?
            .ok_or(AppError::NotFound { what: "note" })?;
        self.commit(tx).await?;
        Ok(updated)
    }

    /// The author deletes a note; its text stays in the history.
    pub async fn delete_note(
        &self,
        actor: &Actor,
        team: TeamId,
        note: NoteId,
    ) -> Result<(), AppError> {
        self.team_access(actor, team, Need::Member, "deleteNote")
            .await?;
        self.own_note(actor, team, note).await?;
        let mut tx = self.db.write().await?;
        // Read again under the lock: it may have changed since.
        let current = notes::by_id(tx.conn(), note)
            .await?
            .filter(|n| !n.deleted)
            .ok_or(AppError::NotFound { what: "note" })?;
        notes::revise(tx.conn(), &current, None, Timestamp::now()).await?;
        self.note_written(&mut tx, actor, team, current.patient_id, note, "deleted")
            .await?;
        self.commit(tx).await
    }

    /// The note if the actor wrote it; a refusal is audited. Call it before
    /// taking the writer lock (recording a refusal takes it too).
    async fn own_note(&self, actor: &Actor, team: TeamId, note: NoteId) -> Result<Note, AppError> {
        let found = {
            let mut conn = self.db.read().await?;
            let found = notes::by_id(&mut conn, note)
                .await?
                .filter(|n| !n.deleted)
                .ok_or(AppError::NotFound { what: "note" })?;
            match patients::team_of(&mut conn, found.patient_id).await? {
                Some(t) if t == team => {}
                Some(other) => {
                    let id = Foreign::Note(note, found.patient_id);
                    self.refuse_foreign(actor, team, id, other);
                    return Err(AppError::NotFound { what: "note" });
                }
                None => return Err(AppError::NotFound { what: "note" }),
            }
            found
        };
        if found.author_id != actor.user.id {
            let mut entry = self.entry_for(
                actor,
                Operation::AccessRefused,
                Outcome::Refused("not the note's author".into()),
            );
            entry.team_id = Some(team);
            entry.patient_ref = Some(found.patient_id.to_string());
            entry.detail = json!({ "action": "changeNote", "noteId": note.to_string() });
            self.record(entry).await?;
            return Err(AppError::forbidden(
                "only the author can change or delete a note",
            ));
        }
        Ok(found)
    }

    async fn note_written(
        &self,
        tx: &mut rounds_store::WriteTx<'_>,
        actor: &Actor,
        team: TeamId,
        patient: PatientId,
        note: NoteId,
        action: &'static str,
    ) -> Result<(), AppError> {
        self.audit_done(
            tx,
            actor,
            Operation::PatientNoteAdd,
            Subject::patient(team, patient),
            json!({ "noteId": note.to_string(), "action": action }),
        )
        .await?;
        let mut on = patients::lists_of(tx.conn(), patient).await?;
        // The team's channel too: an urgent note deleted leaves every alert.
        on.push(Self::team_channel(team)?);
        self.announce(
            tx,
            team,
            &on,
            &Change::NoteChanged {
                patient_id: patient,
                note_id: note,
                action,
            },
            actor,
        )
        .await
    }
}
