//! A patient's places on lists: adding (a new patient, one of the team, or
//! one of the EHR), removing, moving to another list, ordering by hand.
//! Each costs the same however long the list is, except the reordering of
//! a whole list, which names every patient.

use std::collections::HashSet;

use rounds_core::audit::{Operation, Outcome};
use rounds_core::validate::InvalidInput;
use rounds_core::{ListId, PatientId, TeamId, Timestamp};
use rounds_store::patients;
use serde_json::json;

use super::display::{make_row, normalize_field, raw};
use super::{Context, NewPatient, PatientRow};
use crate::access::{Need, Subject};
use crate::live::Change;
use crate::{Actor, App, AppError};

impl App {
    /// Adds a new patient, or one the team already has, to a list. A second
    /// patient with the same MRN is allowed but flagged in the result.
    pub async fn add_patient(
        &self,
        actor: &Actor,
        team: TeamId,
        list: ListId,
        new: &NewPatient,
    ) -> Result<(PatientRow, Vec<PatientId>), AppError> {
        self.team_access(actor, team, Need::Member, "addPatient")
            .await?;
        if new.ehr_id.is_some() && (new.existing.is_some() || !new.fields.is_empty()) {
            return Err(InvalidInput::new(
                "ehrId",
                "give one of ehrId, patientId or the fields of a new patient",
            )
            .into());
        }
        {
            let mut conn = self.db.read().await?;
            self.list_in_team(&mut conn, actor, team, list).await?;
        }
        // Asks the EHR before the write lock is taken.
        let ehr_ref = match &new.ehr_id {
            Some(id) => Some(self.ehr_ref_for(team, id, "ehrId").await?),
            None => None,
        };
        let now = Timestamp::now();
        let mut tx = self.db.write().await?;
        self.list_in_team(tx.conn(), actor, team, list).await?;
        let ctx = Context::load(tx.conn(), team).await?;
        let (patient, created) = self
            .patient_to_add(&mut tx, actor, team, &ctx, new, ehr_ref.as_ref(), now)
            .await?;
        if !patients::add_entry(tx.conn(), list, patient, now, actor.user.id).await? {
            return Err(AppError::Duplicate {
                field: "patientId",
                message: "the patient is already on this list".into(),
            });
        }
        let values = patients::values_of(tx.conn(), patient).await?;
        let mrn = raw(&values, "mrn").to_owned();
        let same_mrn = if mrn.is_empty() {
            Vec::new()
        } else {
            patients::with_mrn(tx.conn(), team, &mrn, Some(patient)).await?
        };
        self.audit_done(
            &mut tx,
            actor,
            Operation::PatientListAddPatient,
            Subject::on_list(team, list, patient),
            json!({
                "newPatient": created,
                "duplicateMrn": !same_mrn.is_empty(),
                "ehr": ehr_ref.as_ref().map(|r| json!({ "server": r.server, "id": r.id })),
            }),
        )
        .await?;
        self.announce(
            &mut tx,
            team,
            &[list],
            &Change::PatientAdded {
                patient_id: patient,
            },
            actor,
        )
        .await?;
        // Its own entry only: the cost does not grow with the list.
        let list_entry = patients::entry_of(tx.conn(), list, patient)
            .await?
            .ok_or(AppError::NotFound { what: "patient" })?;
        self.commit(tx).await?;
        let duplicates: HashSet<String> = if same_mrn.is_empty() {
            HashSet::new()
        } else {
            [mrn].into_iter().collect()
        };
        Ok((make_row(&ctx, list_entry, values, &duplicates), same_mrn))
    }

    /// The patient `new` names (of the EHR, of the team, or new with its
    /// fields, made here), and whether it was made.
    #[allow(clippy::too_many_arguments)]
    async fn patient_to_add(
        &self,
        tx: &mut rounds_store::WriteTx<'_>,
        actor: &Actor,
        team: TeamId,
        ctx: &Context,
        new: &NewPatient,
        ehr_ref: Option<&rounds_store::ehr::EhrRef>,
        now: Timestamp,
    ) -> Result<(PatientId, bool), AppError> {
        let existing = match ehr_ref {
            Some(r) => rounds_store::ehr::patient_with_ref(tx.conn(), team, r).await?,
            None => new.existing,
        };
        Ok(match existing {
            Some(id) if ehr_ref.is_some() => (id, false),
            None if ehr_ref.is_some() => {
                let id = PatientId::new_random();
                if let Some(r) = ehr_ref {
                    rounds_store::ehr::insert_ehr_patient(
                        tx.conn(),
                        id,
                        team,
                        r,
                        now,
                        actor.user.id,
                    )
                    .await?;
                }
                (id, true)
            }
            Some(id) => {
                if !new.fields.is_empty() {
                    return Err(InvalidInput::new(
                        "fields",
                        "give either patientId or the fields of a new patient",
                    )
                    .into());
                }
                self.patient_in_team(tx.conn(), actor, team, id)
                    .await
                    .map_err(|_| InvalidInput::new("patientId", "the team has no such patient"))?;
                (id, false)
            }
            None => {
                let mut stored = Vec::new();
                for (key, value) in &new.fields {
                    if let Some(v) = normalize_field(ctx, key, value)? {
                        stored.push((key.clone(), v));
                    }
                }
                if !stored
                    .iter()
                    .any(|(k, _)| k == "family" || k == "given" || k == "mrn")
                {
                    return Err(
                        InvalidInput::new("family", "a patient needs a name or an MRN").into(),
                    );
                }
                let id = PatientId::new_random();
                patients::insert(tx.conn(), id, team, now, actor.user.id).await?;
                for (key, value) in &stored {
                    patients::put_value(tx.conn(), id, key, Some(value), 1, now, actor.user.id)
                        .await?;
                }
                (id, true)
            }
        })
    }

    pub async fn remove_patient_from_list(
        &self,
        actor: &Actor,
        team: TeamId,
        list: ListId,
        patient: PatientId,
    ) -> Result<(), AppError> {
        self.team_access(actor, team, Need::Member, "removePatientFromList")
            .await?;
        let mut tx = self.db.write().await?;
        self.list_in_team(tx.conn(), actor, team, list).await?;
        if !patients::remove_entry(tx.conn(), list, patient).await? {
            return Err(self.not_on_list(tx.conn(), actor, team, patient).await);
        }
        let mut entry =
            self.entry_for(actor, Operation::PatientListRemovePatient, Outcome::Success);
        entry.team_id = Some(team);
        entry.list_id = Some(list.to_string());
        entry.patient_ref = Some(patient.to_string());
        rounds_store::audit::append(&mut tx, &entry).await?;
        self.announce(
            &mut tx,
            team,
            &[list],
            &Change::PatientRemoved {
                patient_id: patient,
            },
            actor,
        )
        .await?;
        self.commit(tx).await
    }

    /// Moves a patient to another list of the same team (to its end).
    pub async fn move_patient(
        &self,
        actor: &Actor,
        team: TeamId,
        list: ListId,
        patient: PatientId,
        to: ListId,
    ) -> Result<(), AppError> {
        self.team_access(actor, team, Need::Member, "movePatient")
            .await?;
        let now = Timestamp::now();
        let mut tx = self.db.write().await?;
        self.list_in_team(tx.conn(), actor, team, list).await?;
        self.list_in_team(tx.conn(), actor, team, to)
            .await
            .map_err(|_| InvalidInput::new("toListId", "there is no such list in this team"))?;
        if to == list {
            return Err(
                InvalidInput::new("toListId", "the patient is already on this list").into(),
            );
        }
        if !patients::remove_entry(tx.conn(), list, patient).await? {
            return Err(self.not_on_list(tx.conn(), actor, team, patient).await);
        }
        if !patients::add_entry(tx.conn(), to, patient, now, actor.user.id).await? {
            return Err(AppError::Duplicate {
                field: "toListId",
                message: "the patient is already on that list".into(),
            });
        }
        self.audit_done(
            &mut tx,
            actor,
            Operation::PatientListMovePatient,
            Subject::on_list(team, list, patient),
            json!({ "from": list.to_string(), "to": to.to_string() }),
        )
        .await?;
        let change = Change::PatientMoved {
            patient_id: patient,
            from_list_id: list,
            to_list_id: to,
        };
        self.announce(&mut tx, team, &[list, to], &change, actor)
            .await?;
        self.commit(tx).await
    }

    /// Puts the list's patients in the given order (every patient once).
    pub async fn reorder_patients(
        &self,
        actor: &Actor,
        team: TeamId,
        list: ListId,
        order: &[PatientId],
    ) -> Result<(), AppError> {
        self.team_access(actor, team, Need::Member, "reorderPatients")
            .await?;
        let mut tx = self.db.write().await?;
        self.list_in_team(tx.conn(), actor, team, list).await?;
        let entries = patients::entries(tx.conn(), list).await?;
        let now_on: HashSet<PatientId> = entries.iter().map(|e| e.patient_id).collect();
        let given: HashSet<PatientId> = order.iter().copied().collect();
        if given.len() != order.len() || given != now_on {
            return Err(InvalidInput::new(
                "order",
                format!("must name each of the list's {} patients exactly once (the list may have changed: reload it)", now_on.len()),
            )
            .into());
        }
        // Only the patients that moved are written (most reorders move one).
        let position: std::collections::HashMap<PatientId, i64> =
            entries.iter().map(|e| (e.patient_id, e.position)).collect();
        let current: Vec<i64> = order
            .iter()
            .map(|p| position.get(p).copied().unwrap_or(0))
            .collect();
        let moved: Vec<(PatientId, i64)> =
            rounds_core::listing::repositions(&current, patients::POSITION_STEP)
                .into_iter()
                .filter_map(|(i, at)| order.get(i).map(|p| (*p, at)))
                .collect();
        patients::set_positions(tx.conn(), list, &moved).await?;
        self.audit_done(
            &mut tx,
            actor,
            Operation::PatientListMovePatient,
            Subject::list(team, list),
            json!({ "reordered": order.len() }),
        )
        .await?;
        self.announce(&mut tx, team, &[list], &Change::PatientsReordered, actor)
            .await?;
        self.commit(tx).await
    }
}
