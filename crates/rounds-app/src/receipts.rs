//! Read receipts. The author of a note asks for one when writing it; from
//! then on each member's screen that shows the note says so, once per
//! person (the author's own screen does not count). Who has seen it is
//! announced live; opening that list is audited (NoteReceiptView).

use std::collections::HashMap;

use rounds_core::audit::{Operation, Outcome};
use rounds_core::lists::Note;
use rounds_core::{NoteId, PatientId, TeamId, Timestamp};
use rounds_store::receipts::{self, Receipt};
use rounds_store::{notes, patients};
use serde_json::json;

use crate::access::{Foreign, Need};
use crate::live::Change;
use crate::{Actor, App, AppError};

impl App {
    /// The note if it is of `team` and not deleted; another team's is
    /// refused (and audited) as not found.
    async fn note_of_team(
        &self,
        actor: &Actor,
        team: TeamId,
        note: NoteId,
    ) -> Result<Note, AppError> {
        let mut conn = self.db.read().await?;
        let found = notes::by_id(&mut conn, note)
            .await?
            .filter(|n| !n.deleted)
            .ok_or(AppError::NotFound { what: "note" })?;
        match patients::team_of(&mut conn, found.patient_id).await? {
            Some(t) if t == team => Ok(found),
            Some(other) => {
                self.refuse_foreign(actor, team, Foreign::Note(note, found.patient_id), other);
                Err(AppError::NotFound { what: "note" })
            }
            None => Err(AppError::NotFound { what: "note" }),
        }
    }

    /// The note was shown on the actor's screen. True when that is new
    /// (then it is announced); false when known, or the actor wrote it.
    pub async fn note_seen(
        &self,
        actor: &Actor,
        team: TeamId,
        note: NoteId,
    ) -> Result<bool, AppError> {
        self.team_access(actor, team, Need::Member, "noteSeen")
            .await?;
        let found = self.note_of_team(actor, team, note).await?;
        if found.author_id == actor.user.id {
            return Ok(false);
        }
        let mut tx = self.db.write().await?;
        if !receipts::asked(tx.conn(), note).await? {
            return Err(AppError::NotFound {
                what: "read receipt",
            });
        }
        let now = Timestamp::now();
        if !receipts::record(tx.conn(), note, actor.user.id, now).await? {
            return Ok(false);
        }
        let mut on = patients::lists_of(tx.conn(), found.patient_id).await?;
        on.push(Self::team_channel(team)?);
        self.announce(
            &mut tx,
            team,
            &on,
            &Change::NoteSeen {
                patient_id: found.patient_id,
                note_id: note,
                user_id: actor.user.id,
                seen_at: now.to_rfc3339(),
            },
            actor,
        )
        .await?;
        self.commit(tx).await?;
        Ok(true)
    }

    /// Who has seen a note that asks for a receipt, and when; recorded as
    /// NoteReceiptView.
    pub async fn note_receipts(
        &self,
        actor: &Actor,
        team: TeamId,
        note: NoteId,
    ) -> Result<Vec<Receipt>, AppError> {
        self.team_access(actor, team, Need::Member, "noteReceipts")
            .await?;
        let found = self.note_of_team(actor, team, note).await?;
        let seen = {
            let mut conn = self.db.read().await?;
            if !receipts::asked(&mut conn, note).await? {
                return Err(AppError::NotFound {
                    what: "read receipt",
                });
            }
            receipts::of_note(&mut conn, note).await?
        };
        let mut entry = self.entry_for(actor, Operation::NoteReceiptView, Outcome::Success);
        entry.team_id = Some(team);
        entry.patient_ref = Some(found.patient_id.to_string());
        entry.detail = json!({ "noteId": note.to_string(), "seen": seen.len() });
        self.record(entry).await?;
        Ok(seen)
    }

    /// For a patient's notes that ask for a receipt: how many people have
    /// seen each, and whether the actor has (the notes' reader records the
    /// access).
    pub async fn receipt_counts(
        &self,
        actor: &Actor,
        team: TeamId,
        patient: PatientId,
    ) -> Result<HashMap<NoteId, (usize, bool)>, AppError> {
        self.team_access(actor, team, Need::Member, "listNotes")
            .await?;
        let mut conn = self.db.read().await?;
        self.patient_in_team(&mut conn, actor, team, patient)
            .await?;
        Ok(receipts::counts_of_patient(&mut conn, patient, actor.user.id).await?)
    }

    /// The same for the notes of a list's patients (the note line of each
    /// row reports its note seen when it asks for a receipt).
    pub async fn receipt_counts_on_list(
        &self,
        actor: &Actor,
        team: TeamId,
        list: rounds_core::ListId,
    ) -> Result<HashMap<NoteId, (usize, bool)>, AppError> {
        self.team_access(actor, team, Need::Member, "getList")
            .await?;
        let mut conn = self.db.read().await?;
        self.list_in_team(&mut conn, actor, team, list).await?;
        Ok(receipts::counts_on_list(&mut conn, list, actor.user.id).await?)
    }
}
