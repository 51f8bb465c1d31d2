//! The per-patient access report for a privacy officer (a site
//! administrator): everyone who viewed, searched for, edited, exported or
//! was refused a patient, with times and addresses, from the audit log.
//!
//! A patient is named by Rounds' patient id (a patient typed in by hand or
//! an EHR patient of a team) or by an EHR Patient id (every team's patient
//! with that record). A record is about the patient when its patient
//! reference is one of theirs, or its detail names them: a list view or
//! an export that showed them, a search that found them.

use rounds_core::audit::{AuditRecord, Operation, Outcome};
use rounds_core::validate::InvalidInput;
use rounds_core::{PatientId, TeamId};
use serde_json::json;

use crate::csv_out::CsvWriter;
use crate::{Actor, App, AppError};

/// The most records one report holds.
pub const REPORT_MAX: usize = 10_000;

/// Whom the report is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatientKey {
    Patient(PatientId),
    Ehr(String),
}

impl PatientKey {
    pub fn describe(&self) -> String {
        match self {
            Self::Patient(id) => format!("patient {id}"),
            Self::Ehr(id) => format!("EHR Patient {id}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct AccessEntry {
    /// viewed, searched, edited, exported, refused or other.
    pub action: &'static str,
    pub record: AuditRecord,
}

#[derive(Debug, Clone)]
pub struct AccessReport {
    pub key: PatientKey,
    /// The team patients the report covers.
    pub patients: Vec<(PatientId, TeamId)>,
    pub entries: Vec<AccessEntry>,
    /// More records matched than a report holds.
    pub truncated: bool,
}

fn action_of(r: &AuditRecord) -> &'static str {
    if r.outcome != "success" || r.operation == Operation::AccessRefused.as_str() {
        return "refused";
    }
    match r.operation.parse::<Operation>() {
        Ok(Operation::PatientView | Operation::PatientListView) => "viewed",
        Ok(Operation::PatientSearch) => "searched",
        Ok(Operation::ExportInitiation) => "exported",
        Ok(
            Operation::PatientDetailsEdit
            | Operation::PatientNoteAdd
            | Operation::PatientListAddPatient
            | Operation::PatientListRemovePatient
            | Operation::PatientListMovePatient,
        ) => "edited",
        _ => "other",
    }
}

impl App {
    /// The report (site administrators only).
    pub async fn patient_access_report(
        &self,
        actor: &Actor,
        key: &PatientKey,
    ) -> Result<AccessReport, AppError> {
        self.require_admin(actor, "patientAccessReport").await?;
        let mut conn = self.db.read().await?;
        let mut patients = Vec::new();
        let mut refs: Vec<String> = Vec::new();
        let mut ehr_ids: Vec<String> = Vec::new();
        match key {
            PatientKey::Patient(id) => {
                refs.push(id.to_string());
                if let Some((team, ehr)) =
                    rounds_store::access_report::patient(&mut conn, *id).await?
                {
                    patients.push((*id, team));
                    ehr_ids.extend(ehr);
                }
            }
            PatientKey::Ehr(ehr_id) => {
                let ehr_id = rounds_core::validate::query_text("ehrId", ehr_id)?
                    .ok_or_else(|| InvalidInput::new("ehrId", "give an EHR Patient id"))?;
                ehr_ids.push(ehr_id);
            }
        }
        for ehr_id in ehr_ids.clone() {
            for (id, team, server) in
                rounds_store::access_report::patients_with_ehr_id(&mut conn, &ehr_id).await?
            {
                if !patients.iter().any(|(p, _)| *p == id) {
                    patients.push((id, team));
                }
                refs.push(id.to_string());
                if !server.is_empty() {
                    refs.push(format!("{server}|{ehr_id}"));
                }
            }
            refs.push(ehr_id);
        }
        refs.sort();
        refs.dedup();
        let mut entries = Vec::new();
        let mut after = 0;
        let mut truncated = false;
        loop {
            let page =
                rounds_store::access_report::records_about(&mut conn, &refs, after, 1000).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for record in page {
                if entries.len() == REPORT_MAX {
                    truncated = true;
                    break;
                }
                entries.push(AccessEntry {
                    action: action_of(&record),
                    record,
                });
            }
            if truncated {
                break;
            }
        }
        Ok(AccessReport {
            key: key.clone(),
            patients,
            entries,
            truncated,
        })
    }

    /// The report as CSV (site administrators only); recorded as
    /// ExportInitiation.
    pub async fn export_patient_access(
        &self,
        actor: &Actor,
        key: &PatientKey,
    ) -> Result<Vec<u8>, AppError> {
        let report = self.patient_access_report(actor, key).await?;
        let mut entry = self.entry_for(actor, Operation::ExportInitiation, Outcome::Success);
        if let PatientKey::Patient(id) = key {
            entry.patient_ref = Some(id.to_string());
        }
        entry.detail = json!({
            "what": "patient access report",
            "format": "csv",
            "about": key.describe(),
            "records": report.entries.len(),
        });
        self.record(entry).await?;
        let mut w = CsvWriter::new();
        w.row([
            "time",
            "action",
            "operation",
            "outcome",
            "reason",
            "username",
            "team_id",
            "list_id",
            "patient_ref",
            "client_addr",
            "user_agent",
            "seq",
        ])?;
        for e in &report.entries {
            let r = &e.record;
            let opt = |v: &Option<String>| v.clone().unwrap_or_default();
            w.row([
                r.timestamp().to_rfc3339(),
                e.action.to_owned(),
                r.operation.clone(),
                r.outcome.clone(),
                opt(&r.reason),
                opt(&r.actor_username),
                opt(&r.team_id),
                opt(&r.list_id),
                opt(&r.patient_ref),
                opt(&r.client_addr),
                opt(&r.user_agent),
                r.seq.to_string(),
            ])?;
        }
        let mut body = "\u{feff}".as_bytes().to_vec();
        body.extend(w.finish()?);
        Ok(body)
    }
}
