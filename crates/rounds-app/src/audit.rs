//! Recording, searching, exporting and verifying the audit trail.

use rounds_core::audit::{verify_chain, AuditEntry, AuditRecord, ChainBreak, Operation, Outcome};
use rounds_core::audit_fhir::audit_event;
use rounds_core::validate::{query_text, InvalidInput};
use rounds_core::{TeamId, Timestamp};
use rounds_store::audit::{AuditFilter, Order};
use serde_json::json;

use crate::csv_out::CsvWriter;
use crate::{Actor, App, AppError};

/// The most records one search page returns.
pub const SEARCH_LIMIT_MAX: i64 = 500;

/// A search of the audit log, as asked for by a person.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub username: Option<String>,
    pub team_id: Option<TeamId>,
    pub patient_ref: Option<String>,
    pub operation: Option<Operation>,
    pub outcome: Option<String>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    /// Records older than this sequence number (for the next page).
    pub before_seq: Option<i64>,
    pub limit: Option<i64>,
}

impl AuditQuery {
    /// The store's filter, or which search text holds a character no
    /// stored text can (see [`rounds_core::validate::TextKind::Line`]).
    fn filter(&self) -> Result<AuditFilter, InvalidInput> {
        let text = |field: &str, v: &Option<String>| {
            v.as_deref()
                .map(|v| query_text(field, v))
                .transpose()
                .map(Option::flatten)
        };
        Ok(AuditFilter {
            username: text("username", &self.username)?.map(|u| u.to_lowercase()),
            team_id: self.team_id.map(|t| t.to_string()),
            patient_ref: text("patientRef", &self.patient_ref)?,
            operation: self.operation.map(|o| o.as_str().to_owned()),
            outcome: text("outcome", &self.outcome)?,
            from: self.from,
            to: self.to,
        })
    }

    /// The filter as recorded with an export.
    fn describe(&self) -> serde_json::Value {
        json!({
            "username": self.username,
            "teamId": self.team_id.map(|t| t.to_string()),
            "patientRef": self.patient_ref,
            "operation": self.operation.map(Operation::as_str),
            "outcome": self.outcome,
            "from": self.from.map(|t| t.to_rfc3339()),
            "to": self.to.map(|t| t.to_rfc3339()),
        })
    }
}

/// The audit source named in AuditEvent exports.
const AUDIT_SOURCE: &str = "Rounds";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    JsonLines,
    /// FHIR R4 AuditEvent resources in a `collection` Bundle.
    FhirBundle,
    /// FHIR R4 AuditEvent resources, one per line (FHIR bulk data's NDJSON).
    FhirNdjson,
}

impl ExportFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::JsonLines => "jsonl",
            Self::FhirBundle => "fhir",
            Self::FhirNdjson => "ndjson",
        }
    }
}

pub struct AuditExport {
    pub format: ExportFormat,
    pub body: Vec<u8>,
    pub records: usize,
}

/// The outcome of `rounds audit verify`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub checked: i64,
    pub first_break: Option<ChainBreak>,
}

const CSV_HEADER: [&str; 15] = [
    "seq",
    "time",
    "operation",
    "outcome",
    "reason",
    "actor_id",
    "actor_username",
    "team_id",
    "list_id",
    "patient_ref",
    "detail",
    "client_addr",
    "user_agent",
    "prev_hash",
    "hash",
];

fn csv_row(r: &AuditRecord) -> [String; 15] {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    [
        r.seq.to_string(),
        r.timestamp().to_rfc3339(),
        r.operation.clone(),
        r.outcome.clone(),
        opt(&r.reason),
        opt(&r.actor_id),
        opt(&r.actor_username),
        opt(&r.team_id),
        opt(&r.list_id),
        opt(&r.patient_ref),
        r.detail.clone(),
        opt(&r.client_addr),
        opt(&r.user_agent),
        r.prev_hash.clone(),
        r.hash.clone(),
    ]
}

/// Views of the same thing by the same person within this window are
/// recorded once: a screen refreshing a list it shows, or a page reading a
/// patient's fields and then their notes, is one viewing.
pub const VIEW_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);

/// When each (person, thing) was last recorded as viewed, in this process.
#[derive(Default)]
pub(crate) struct RecentViews(
    std::sync::Mutex<std::collections::HashMap<(rounds_core::UserId, String), std::time::Instant>>,
);

impl App {
    /// Records `actor`'s view of a patient of `team` (PatientView, with
    /// `detail`), once per [`VIEW_WINDOW`].
    pub(crate) async fn record_patient_view(
        &self,
        actor: &Actor,
        team: rounds_core::TeamId,
        patient: impl std::fmt::Display,
        detail: serde_json::Value,
    ) -> Result<(), AppError> {
        let mut entry = self.entry_for(actor, Operation::PatientView, Outcome::Success);
        entry.team_id = Some(team);
        entry.patient_ref = Some(patient.to_string());
        entry.detail = detail;
        self.record_view(entry, format!("patient:{patient}")).await
    }

    /// Records a view by `entry`'s actor of `subject`, unless the same
    /// person's view of it was recorded within [`VIEW_WINDOW`].
    pub(crate) async fn record_view(
        &self,
        entry: AuditEntry,
        subject: String,
    ) -> Result<(), AppError> {
        let Some(user) = entry.actor_id else {
            return self.record(entry).await;
        };
        let now = std::time::Instant::now();
        let fresh = {
            let mut seen = self
                .views
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if seen.len() > 10_000 {
                seen.retain(|_, at| now.duration_since(*at) < VIEW_WINDOW);
            }
            match seen.get(&(user, subject.clone())) {
                Some(at) if now.duration_since(*at) < VIEW_WINDOW => false,
                _ => {
                    seen.insert((user, subject), now);
                    true
                }
            }
        };
        if fresh {
            self.record(entry).await?;
        }
        Ok(())
    }

    /// Appends one record in a transaction of its own.
    pub(crate) async fn record(&self, entry: AuditEntry) -> Result<(), AppError> {
        let mut tx = self.db.write().await?;
        rounds_store::audit::append(&mut tx, &entry).await?;
        tx.commit().await?;
        Ok(())
    }

    /// One page of matching records, newest first (site administrators only).
    pub async fn search_audit(
        &self,
        actor: &Actor,
        query: &AuditQuery,
    ) -> Result<Vec<AuditRecord>, AppError> {
        self.require_admin(actor, "searchAudit").await?;
        let filter = query.filter()?;
        let limit = query.limit.unwrap_or(100).clamp(1, SEARCH_LIMIT_MAX);
        let mut conn = self.db.read().await?;
        Ok(rounds_store::audit::search(
            &mut conn,
            &filter,
            Order::NewestFirst {
                before_seq: query.before_seq,
            },
            limit,
        )
        .await?)
    }

    /// Every matching record, oldest first, as CSV or JSON lines (site
    /// administrators only). The export is itself recorded first, as
    /// ExportInitiation with the filter used.
    pub async fn export_audit(
        &self,
        actor: &Actor,
        query: &AuditQuery,
        format: ExportFormat,
    ) -> Result<AuditExport, AppError> {
        self.require_admin(actor, "exportAudit").await?;
        let filter = query.filter()?;
        let mut entry = self.entry_for(actor, Operation::ExportInitiation, Outcome::Success);
        entry.detail =
            json!({ "what": "audit log", "format": format.as_str(), "filter": query.describe() });
        self.record(entry).await?;

        let mut conn = self.db.read().await?;
        let mut csv_writer = CsvWriter::new();
        let mut jsonl = Vec::new();
        let mut entries: Vec<serde_json::Value> = Vec::new();
        if format == ExportFormat::Csv {
            csv_writer.row(CSV_HEADER)?;
        }
        let mut after_seq = 0;
        let mut records = 0;
        loop {
            let page = rounds_store::audit::search(
                &mut conn,
                &filter,
                Order::OldestFirst { after_seq },
                1000,
            )
            .await?;
            let Some(last) = page.last() else { break };
            after_seq = last.seq;
            records += page.len();
            for r in &page {
                let line = match format {
                    ExportFormat::Csv => {
                        csv_writer.row(csv_row(r))?;
                        continue;
                    }
                    ExportFormat::JsonLines => serde_json::to_value(r),
                    ExportFormat::FhirBundle | ExportFormat::FhirNdjson => {
                        Ok(audit_event(r, AUDIT_SOURCE))
                    }
                };
                let line =
                    line.map_err(|e| AppError::Internal(format!("cannot write the export: {e}")))?;
                if format == ExportFormat::FhirBundle {
                    entries.push(json!({ "fullUrl": format!("urn:rounds:audit:{}", r.seq), "resource": line }));
                } else {
                    jsonl.extend_from_slice(line.to_string().as_bytes());
                    jsonl.push(b'\n');
                }
            }
        }
        let body = match format {
            ExportFormat::Csv => csv_writer.finish()?,
            ExportFormat::JsonLines | ExportFormat::FhirNdjson => jsonl,
            ExportFormat::FhirBundle => json!({
                "resourceType": "Bundle",
                "type": "collection",
                "timestamp": Timestamp::now().to_rfc3339(),
                "total": entries.len(),
                "entry": entries,
            })
            .to_string()
            .into_bytes(),
        };
        Ok(AuditExport {
            format,
            body,
            records,
        })
    }

    /// Walks the whole chain and names the first broken record.
    pub async fn verify_audit(&self) -> Result<VerifyReport, AppError> {
        let mut conn = self.db.read().await?;
        let mut prev: Option<AuditRecord> = None;
        let mut checked = 0;
        loop {
            let after = prev.as_ref().map_or(0, |r| r.seq);
            let page = rounds_store::audit::scan(&mut conn, after, 2000).await?;
            if page.is_empty() {
                return Ok(VerifyReport {
                    checked,
                    first_break: None,
                });
            }
            // The chain starts at record 1: a missing head is a deletion too.
            if prev.is_none() {
                if let Some(first) = page.first().filter(|r| r.seq != 1) {
                    return Ok(VerifyReport {
                        checked,
                        first_break: Some(ChainBreak::Gap {
                            after: 0,
                            next: first.seq,
                        }),
                    });
                }
            }
            if let Err(broken) = verify_chain(prev.as_ref(), &page) {
                let seq = match &broken {
                    ChainBreak::ContentChanged { seq } | ChainBreak::LinkBroken { seq, .. } => *seq,
                    ChainBreak::Gap { next, .. } => *next,
                };
                checked += page.iter().filter(|r| r.seq < seq).count() as i64;
                return Ok(VerifyReport {
                    checked,
                    first_break: Some(broken),
                });
            }
            checked += page.len() as i64;
            prev = page.into_iter().last();
        }
    }
}
