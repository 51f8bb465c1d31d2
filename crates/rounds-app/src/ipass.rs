//! I-PASS hand-off per patient: severity, summary, situation awareness and
//! contingency, and the receiver's synthesis (the action list is the
//! patient's tasks); and the printable hand-off sheet of a list. Reading is
//! audited as PatientView, saving as PatientDetailsEdit.

use std::collections::HashMap;

use rounds_core::audit::Operation;
use rounds_core::ipass::{Ipass, Severity, IPASS_TEXT_MAX};
use rounds_core::tasks::Task;
use rounds_core::validate::TextKind;
use rounds_core::view::ViewSpec;
use rounds_core::{ListId, PatientId, TeamId, Timestamp};
use rounds_store::{ipass, patients, tasks};
use serde_json::json;

use crate::access::{Need, Subject};
use crate::live::Change;
use crate::{Actor, App, AppError, ListView};

/// A change to a patient's hand-off: each part given is set.
#[derive(Debug, Clone, Default)]
pub struct IpassChange {
    pub severity: Option<Option<Severity>>,
    pub summary: Option<String>,
    pub contingency: Option<String>,
    pub synthesis: Option<String>,
}

/// The printable hand-off sheet of a list.
#[derive(Debug, Clone)]
pub struct HandoffSheet {
    pub view: ListView,
    pub ipass: HashMap<PatientId, Ipass>,
    /// Each patient's open tasks.
    pub tasks: HashMap<PatientId, Vec<Task>>,
}

fn text(field: &str, raw: &str) -> Result<String, AppError> {
    Ok(
        rounds_core::validate::text(field, raw, TextKind::Lines, IPASS_TEXT_MAX)?
            .unwrap_or_default(),
    )
}

impl App {
    /// The patient's hand-off; recorded as PatientView.
    pub async fn get_ipass(
        &self,
        actor: &Actor,
        team: TeamId,
        patient: PatientId,
    ) -> Result<Ipass, AppError> {
        self.team_access(actor, team, Need::Member, "getHandoff")
            .await?;
        let mut conn = self.db.read().await?;
        self.patient_in_team(&mut conn, actor, team, patient)
            .await?;
        let found = ipass::of_patient(&mut conn, patient).await?;
        drop(conn);
        self.record_patient_view(actor, team, patient, json!({ "view": "handoff" }))
            .await?;
        Ok(found)
    }

    /// Saves parts of the patient's hand-off; `base_version` must be the
    /// version the change was made from (0 for the first).
    pub async fn set_ipass(
        &self,
        actor: &Actor,
        team: TeamId,
        patient: PatientId,
        change: &IpassChange,
        base_version: i64,
    ) -> Result<Ipass, AppError> {
        self.team_access(actor, team, Need::Member, "setHandoff")
            .await?;
        let summary = change
            .summary
            .as_deref()
            .map(|t| text("summary", t))
            .transpose()?;
        let contingency = change
            .contingency
            .as_deref()
            .map(|t| text("contingency", t))
            .transpose()?;
        let synthesis = change
            .synthesis
            .as_deref()
            .map(|t| text("synthesis", t))
            .transpose()?;
        let mut tx = self.db.write().await?;
        self.patient_in_team(tx.conn(), actor, team, patient)
            .await?;
        let current = ipass::of_patient(tx.conn(), patient).await?;
        if current.version != base_version {
            return Err(AppError::stale_whole(
                "handoff",
                current.version,
                base_version,
                current.updated_by.clone(),
                current.updated_at.unwrap_or(Timestamp::from_millis(0)),
            ));
        }
        let mut next = current.clone();
        let mut parts = Vec::new();
        if let Some(s) = change.severity.filter(|s| *s != current.severity) {
            next.severity = s;
            parts.push("severity");
        }
        for (name, new, slot) in [
            ("summary", summary, &mut next.summary),
            ("contingency", contingency, &mut next.contingency),
            ("synthesis", synthesis, &mut next.synthesis),
        ] {
            if let Some(v) = new.filter(|v| v != slot) {
                *slot = v;
                parts.push(name);
            }
        }
        if parts.is_empty() {
            return Ok(current);
        }
        ipass::save(
            tx.conn(),
            patient,
            &current,
            &next,
            actor.user.id,
            Timestamp::now(),
        )
        .await?;
        let saved = ipass::of_patient(tx.conn(), patient).await?;
        self.audit_done(
            &mut tx,
            actor,
            Operation::PatientDetailsEdit,
            Subject::patient(team, patient),
            json!({ "handoff": parts, "severity": saved.severity.map(Severity::as_str) }),
        )
        .await?;
        let mut on = patients::lists_of(tx.conn(), patient).await?;
        on.push(Self::team_channel(team)?);
        self.announce(
            &mut tx,
            team,
            &on,
            &Change::HandoffChanged {
                patient_id: patient,
                severity: saved.severity.map(Severity::as_str),
                version: saved.version,
            },
            actor,
        )
        .await?;
        self.commit(tx).await?;
        Ok(saved)
    }

    /// The list as it stands (recorded as PatientListView) with each
    /// patient's hand-off and open tasks, for the printable sheet.
    pub async fn handoff_sheet(
        &self,
        actor: &Actor,
        team: TeamId,
        list: ListId,
    ) -> Result<HandoffSheet, AppError> {
        let view = self
            .get_list(actor, team, list, &ViewSpec::default())
            .await?;
        let mut conn = self.db.read().await?;
        let found = ipass::on_list(&mut conn, list).await?;
        let mut open: HashMap<PatientId, Vec<Task>> = HashMap::new();
        for t in tasks::open_on_list(&mut conn, list).await? {
            open.entry(t.patient_id).or_default().push(t);
        }
        Ok(HandoffSheet {
            view,
            ipass: found,
            tasks: open,
        })
    }
}
