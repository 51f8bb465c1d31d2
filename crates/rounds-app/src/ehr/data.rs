//! EHR data as a row or page shows it: how it stands, what was read, and
//! the cells rendered from it (kept while the day and ranges hold).

use std::sync::Arc;

use rounds_core::vitals::ReferenceRanges;
use rounds_core::Timestamp;
use rounds_fhir::PatientSummary;

use super::health::Health;

/// How an EHR patient's data stands on a row or page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EhrRowState {
    Ok,
    Pending,
    Failed,
    /// Added from another server than the team's connection now names.
    OtherServer,
}

impl EhrRowState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Pending => "pending",
            Self::Failed => "failed",
            Self::OtherServer => "otherServer",
        }
    }
}

/// An EHR patient's data for one row or page.
#[derive(Debug, Clone)]
pub struct EhrPatientData {
    pub ehr_id: String,
    pub state: EhrRowState,
    pub fetched_at: Option<Timestamp>,
    pub reason: Option<String>,
    pub summary: Option<Arc<PatientSummary>>,
    /// The cells of `summary`, rendered once when it was read (None: render
    /// them now).
    pub(crate) rendered: Option<Arc<Rendered>>,
    /// The team's reference ranges, which the vital signs are flagged
    /// against wherever the data is shown.
    pub ranges: Arc<ReferenceRanges>,
}

/// A patient's EHR cells and texts by column key, rendered once per read
/// rather than on every request; `day` is the date they were rendered on
/// (coverage depends on it), after which they are rendered again.
#[derive(Debug)]
pub(crate) struct Rendered {
    pub(crate) day: String,
    /// The ranges the cells were flagged against: when the team's ranges
    /// have changed since, the cells are rendered again.
    pub(crate) ranges: Arc<ReferenceRanges>,
    pub(crate) cells: std::collections::BTreeMap<String, (String, super::EhrCell)>,
}

/// Today's date (UTC) as rendered cells know it.
pub(super) fn today() -> String {
    let now = Timestamp::now().to_rfc3339();
    now.get(..10).unwrap_or_default().to_owned()
}

impl Rendered {
    pub(super) fn of(
        ehr_id: &str,
        summary: &Arc<PatientSummary>,
        day: String,
        ranges: &Arc<ReferenceRanges>,
    ) -> Self {
        let data = EhrPatientData {
            ehr_id: ehr_id.to_owned(),
            state: EhrRowState::Ok,
            fetched_at: None,
            reason: None,
            summary: Some(Arc::clone(summary)),
            rendered: None,
            ranges: Arc::clone(ranges),
        };
        Self {
            day,
            ranges: Arc::clone(ranges),
            cells: super::row_cells(&data, None),
        }
    }
}

/// The EHR's state as a list shows it (the banner).
#[derive(Debug, Clone)]
pub struct ListEhrStatus {
    pub connected: bool,
    pub name: Option<String>,
    pub health: Health,
    /// Some cells are still being read: look again shortly.
    pub pending: bool,
}
