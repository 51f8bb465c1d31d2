//! EHR mode: a team's connection to its FHIR server (owners set it; its
//! secret is sealed at rest), searching the EHR, EHR patients on lists,
//! and the in-memory cache their EHR data lives in.
//!
//! What the EHR says about a patient is never written to the database or
//! the log: the database holds the server and Patient id; the data stays
//! in [`EhrCache`], bounded in size and age, and is gone at restart.

mod cache;
mod cells;
mod client;
mod connection;
mod data;
mod health;
mod keys;
mod link;
mod read;
mod read_ahead;
mod search;
mod settings;
mod shape;
mod spec;
mod tally;
mod test_report;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rounds_core::validate::{InvalidInput, TextKind};
use rounds_core::TeamId;
use rounds_fhir::FhirError;

pub use rounds_fhir::Secret;

/// The EHR summary's types, for the web layer's typed DTOs.
pub mod summary {
    pub use rounds_fhir::model::{
        Allergy, Condition, Coverage, Encounter, Medication, Patient, VitalSign,
    };
    pub use rounds_fhir::{PatientSummary, Section, SectionStatus};
}

pub(crate) use cells::row_cells;
pub use cells::{display_name, news2_cell, vital_reading, CellState, EhrCell, VitalReading};
pub use connection::{EhrConnectionView, OwnerView};
pub use data::{EhrPatientData, EhrRowState, ListEhrStatus};
pub use health::{Health, HealthState};
pub use search::{EhrSearch, EhrSearchHit, EhrSearchResult};
pub use settings::EhrSettings;
pub use shape::{BatchShapeView, ShapeSource};
pub use spec::{EhrAuthSpec, EhrConnectionSpec};
pub use test_report::{EhrCheck, EhrTestReport};

use crate::secret_box::SecretBox;
use crate::App;
use cache::EhrCache;
use client::ClientSlot;

/// Per-process EHR state: clients, health, cache.
#[derive(Default)]
pub(crate) struct EhrState {
    settings: EhrSettings,
    secret_box: std::sync::RwLock<Option<Arc<SecretBox>>>,
    clients: Mutex<HashMap<TeamId, ClientSlot>>,
    /// One connect (reading `metadata`) per team at a time; other teams
    /// never wait for it.
    connect_locks: Mutex<HashMap<TeamId, Arc<tokio::sync::Mutex<()>>>>,
    health: Mutex<HashMap<TeamId, Health>>,
    cache: Mutex<EhrCache>,
    /// One read of a team's patients at a time; a second waits and then
    /// finds the first one's results in the cache.
    fetch_locks: Mutex<HashMap<TeamId, Arc<tokio::sync::Mutex<()>>>>,
    /// Patients a read is busy with (or waiting to be): a list that finds
    /// them due does not start another.
    /// (How many reads have each.)
    reading: Mutex<HashMap<(TeamId, String), usize>>,
    /// How each team's client got its batch shape.
    shapes: Mutex<HashMap<TeamId, shape::ShapeState>>,
}

impl EhrState {
    pub(crate) fn new(settings: EhrSettings) -> Self {
        Self {
            settings,
            ..Self::default()
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn trimmed(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A one-line value typed by a person (see [`TextKind::Line`]); None when empty.
fn line(field: &str, v: Option<&str>) -> Result<Option<String>, InvalidInput> {
    v.map(|v| rounds_core::validate::text(field, v, TextKind::Line, usize::MAX))
        .transpose()
        .map(Option::flatten)
}

const NAME_MAX: usize = 100;

fn secret_context(team: TeamId) -> String {
    format!("ehr-connection:{team}")
}

/// The message of a configuration error without its prefix.
fn fhir_config_text(e: &FhirError) -> String {
    match e {
        FhirError::Config(m) => m.clone(),
        other => other.to_string(),
    }
}

impl App {
    pub(super) fn ehr_settings(&self) -> &EhrSettings {
        &self.ehr.settings
    }
}
