//! The EHR data a list row, a patient page and a list's status show.

use std::collections::BTreeMap;

use rounds_app::ehr::{EhrCell, EhrPatientData, ListEhrStatus};
use serde::Serialize;
use utoipa::ToSchema;

use super::HealthDto;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EhrCellDto {
    /// ok, empty, missing, failed or pending.
    pub state: &'static str,
    /// When the value was measured or recorded (when Rounds read it from
    /// the EHR is the row's `ehr.fetchedAt`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// Why the cell is empty or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shown: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// A value outside the team's reference range, or a NEWS2 above low risk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flag: Option<crate::api::vitals::FlagDto>,
    /// NEWS2: the risk band (low, lowMedium, medium, high).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub risk: Option<&'static str>,
    /// NEWS2: the parameters the score lacks (it is partial: the true score
    /// is at least this): respiratoryRate, spo2, supplementalOxygen,
    /// systolic, pulse, consciousness, temperature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing: Option<Vec<&'static str>>,
}

impl From<&EhrCell> for EhrCellDto {
    fn from(c: &EhrCell) -> Self {
        Self {
            state: c.state.as_str(),
            at: c.at.clone(),
            reason: c.reason.clone(),
            shown: c.shown,
            total: c.total,
            flag: c
                .flag
                .as_ref()
                .map(crate::api::vitals::FlagDto::of_vital)
                .or_else(|| {
                    c.news2
                        .as_ref()
                        .and_then(crate::api::vitals::FlagDto::of_news2)
                }),
            risk: c.news2.as_ref().map(|n| n.risk.as_str()),
            missing: c
                .news2
                .as_ref()
                .map(|n| n.missing.iter().map(|p| p.key()).collect()),
        }
    }
}

pub fn cells_dto(cells: &BTreeMap<String, EhrCell>) -> BTreeMap<String, EhrCellDto> {
    cells
        .iter()
        .map(|(k, c)| (k.clone(), EhrCellDto::from(c)))
        .collect()
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RowEhrDto {
    pub ehr_id: String,
    /// ok, pending, failed or otherServer.
    pub state: String,
    pub fetched_at: Option<String>,
    pub reason: Option<String>,
}

impl From<&EhrPatientData> for RowEhrDto {
    fn from(d: &EhrPatientData) -> Self {
        Self {
            ehr_id: d.ehr_id.clone(),
            state: d.state.as_str().to_owned(),
            fetched_at: d.fetched_at.map(|t| t.to_rfc3339()),
            reason: d.reason.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PatientEhrDto {
    pub ehr_id: String,
    pub state: String,
    pub fetched_at: Option<String>,
    pub reason: Option<String>,
    /// Every EHR section as read, each with its status and items; vital
    /// signs with their display text and flag.
    pub summary: Option<crate::api::ehr_summary::SummaryDto>,
}

impl From<&EhrPatientData> for PatientEhrDto {
    fn from(d: &EhrPatientData) -> Self {
        Self {
            ehr_id: d.ehr_id.clone(),
            state: d.state.as_str().to_owned(),
            fetched_at: d.fetched_at.map(|t| t.to_rfc3339()),
            reason: d.reason.clone(),
            summary: d
                .summary
                .as_ref()
                .map(|s| crate::api::ehr_summary::SummaryDto::new(s, &d.ranges)),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListEhrDto {
    pub connected: bool,
    pub name: Option<String>,
    /// ok, degraded, down, unknown; notConnected when the team has no connection.
    pub state: String,
    pub message: Option<String>,
    pub last_good_read: Option<String>,
    pub since: Option<String>,
    /// Some EHR cells are still being read: ask again in a second or two.
    pub pending: bool,
}

impl From<&ListEhrStatus> for ListEhrDto {
    fn from(s: &ListEhrStatus) -> Self {
        let h = HealthDto::from(&s.health);
        Self {
            connected: s.connected,
            name: s.name.clone(),
            state: if s.connected {
                h.state
            } else {
                "notConnected".into()
            },
            message: h.message,
            last_good_read: h.last_good_read,
            since: h.since,
            pending: s.pending,
        }
    }
}
