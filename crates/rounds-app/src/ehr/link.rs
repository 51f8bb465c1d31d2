//! Linking a patient to its EHR record, and unlinking it.

use rounds_core::audit::Operation;
use rounds_core::validate::InvalidInput;
use rounds_core::{PatientId, TeamId};
use rounds_fhir::FhirError;
use rounds_store::ehr::EhrRef;
use serde_json::{json, Value};

use super::health::fhir_general;
use super::{fhir_config_text, lock};
use crate::access::{Need, Subject};
use crate::live::Change;
use crate::{Actor, App, AppError};

impl App {
    /// Checks that the team's EHR has this patient; returns the reference.
    pub(crate) async fn ehr_ref_for(
        &self,
        team: TeamId,
        ehr_id: &str,
        field: &'static str,
    ) -> Result<EhrRef, AppError> {
        let id = rounds_fhir::check_id(ehr_id.trim())
            .map_err(|e| InvalidInput::new(field, fhir_config_text(&e)))?
            .to_owned();
        let (c, client) = self.connected(team).await?;
        match client.read_patient(&id).await {
            Ok(_) => Ok(EhrRef {
                server: c.base_url,
                id,
            }),
            Err(FhirError::Status {
                status: 404 | 410, ..
            }) => {
                Err(InvalidInput::new(field, format!("the team's EHR has no patient {id}")).into())
            }
            Err(e) => {
                tracing::warn!(team = %team, error = %e, "EHR patient read failed");
                Err(AppError::EhrUnavailable {
                    message: fhir_general(&e),
                })
            }
        }
    }

    /// Links a manual patient to its EHR record, keeping what the team
    /// typed and wrote; recorded as PatientDetailsEdit.
    pub async fn link_patient(
        &self,
        actor: &Actor,
        team: TeamId,
        patient: PatientId,
        ehr_id: &str,
    ) -> Result<(), AppError> {
        self.team_access(actor, team, Need::Member, "linkPatient")
            .await?;
        {
            let mut conn = self.db.read().await?;
            self.patient_in_team(&mut conn, actor, team, patient)
                .await?;
        }
        let r = self.ehr_ref_for(team, ehr_id, "ehrId").await?;
        let mut tx = self.db.write().await?;
        self.patient_in_team(tx.conn(), actor, team, patient)
            .await?;
        if let Some(existing) = rounds_store::ehr::ref_of(tx.conn(), patient).await? {
            if existing == r {
                return Ok(());
            }
            return Err(AppError::Conflict {
                message: format!(
                    "the patient is already linked to EHR patient {}: unlink first",
                    existing.id
                ),
            });
        }
        if let Some(other) = rounds_store::ehr::patient_with_ref(tx.conn(), team, &r).await? {
            return Err(AppError::Duplicate {
                field: "ehrId",
                message: format!("another patient of the team ({other}) is this EHR patient"),
            });
        }
        self.set_link(tx, actor, team, patient, Some(&r)).await
    }

    /// Stores a patient's EHR link (or its removal), records it as
    /// PatientDetailsEdit and tells the lists holding the patient.
    async fn set_link(
        &self,
        mut tx: rounds_store::WriteTx<'_>,
        actor: &Actor,
        team: TeamId,
        patient: PatientId,
        link: Option<&EhrRef>,
    ) -> Result<(), AppError> {
        let before = rounds_store::ehr::ref_of(tx.conn(), patient).await?;
        rounds_store::ehr::set_ref(tx.conn(), patient, link).await?;
        if let (None, Some(b)) = (link, &before) {
            // What was read for the link goes with it.
            lock(&self.ehr.cache)
                .entries
                .retain(|(t, _, id), _| !(*t == team && *id == b.id));
        }
        let detail = match (link, &before) {
            (Some(r), _) => json!({ "ehrLink": { "server": r.server, "id": r.id } }),
            (None, Some(b)) => json!({ "ehrUnlink": { "server": b.server, "id": b.id } }),
            (None, None) => Value::Null,
        };
        self.audit_done(
            &mut tx,
            actor,
            Operation::PatientDetailsEdit,
            Subject::patient(team, patient),
            detail,
        )
        .await?;
        let lists = rounds_store::patients::lists_of(tx.conn(), patient).await?;
        self.announce(
            &mut tx,
            team,
            &lists,
            &Change::PatientUpdated {
                patient_id: patient,
                fields: json!({ "ehrId": link.map(|r| r.id.clone()) }),
            },
            actor,
        )
        .await?;
        self.commit(tx).await?;
        Ok(())
    }

    /// Unlinks a patient from its EHR record; the team's data stays.
    pub async fn unlink_patient(
        &self,
        actor: &Actor,
        team: TeamId,
        patient: PatientId,
    ) -> Result<(), AppError> {
        self.team_access(actor, team, Need::Member, "unlinkPatient")
            .await?;
        let mut tx = self.db.write().await?;
        self.patient_in_team(tx.conn(), actor, team, patient)
            .await?;
        if rounds_store::ehr::ref_of(tx.conn(), patient)
            .await?
            .is_none()
        {
            return Err(AppError::Conflict {
                message: "the patient is not linked to an EHR record".into(),
            });
        }
        self.set_link(tx, actor, team, patient, None).await
    }
}
