//! The batch shape of each team's connection: fixed by the team's owner,
//! or measured on a few of the team's patients (by rounds-fhir) and
//! remembered in the database, so that another instance or a restart uses
//! it without measuring again. A shape is measured again when the server
//! is another (base URL or CapabilityStatement), when it refuses a batch,
//! or when most of a read failed.

use std::str::FromStr;

use rounds_core::{TeamId, Timestamp};
use rounds_fhir::{BatchShape, FhirClient, ShapeMeasurement};
use rounds_store::ehr::{MeasuredShape, StoredConnection};

use super::lock;
use crate::{App, AppError};

/// Where the shape a connection uses comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShapeSource {
    /// Fixed by the team's owner.
    Fixed,
    /// Measured on this server (now or earlier, remembered).
    Measured,
    /// Not measured yet: one Bundle where the server takes batch, else the
    /// concurrent GETs, until the first read gives patients to measure on.
    Default,
}

impl ShapeSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fixed => "fixed",
            Self::Measured => "measured",
            Self::Default => "default",
        }
    }
}

/// The shape a team's connection uses, as owners see it.
#[derive(Debug, Clone)]
pub struct BatchShapeView {
    /// `auto` or the fixed shape (`bundle`, `bundles:N`, `chunks:SxN`, `gets:N`).
    pub setting: String,
    /// The shape in use (None: not connected yet on this instance).
    pub shape: Option<String>,
    /// The same in words.
    pub description: Option<String>,
    pub source: ShapeSource,
    pub measured_at: Option<Timestamp>,
    /// Each candidate's time on the sample when it was measured.
    pub trials: Option<serde_json::Value>,
}

/// Per team, in memory: how its client's shape was set.
#[derive(Debug, Clone)]
pub(crate) struct ShapeState {
    pub(crate) source: ShapeSource,
    /// Measure (again) on the next read's patients.
    pub(crate) due: bool,
    /// A measurement is under way.
    pub(crate) busy: bool,
    /// The client's batch refusal has been taken into account.
    pub(crate) refusal_seen: bool,
}

/// What identifies the server a shape was measured on: what it declares
/// of itself and the mode the connection allows.
pub(super) fn fingerprint(c: &StoredConnection, client: &FhirClient) -> String {
    let caps = client.capabilities();
    format!(
        "{}|{}|batch={}|max={}|mode={}",
        caps.software.as_deref().unwrap_or("-"),
        caps.fhir_version,
        caps.batch,
        client.max_batch_entries(),
        c.batch_mode.as_str()
    )
}

/// The owner's fixed shape of a stored connection (None: auto).
pub(super) fn fixed_shape(c: &StoredConnection) -> Result<Option<BatchShape>, AppError> {
    c.batch_shape
        .as_deref()
        .map(|s| {
            BatchShape::from_str(s).map_err(|e| {
                AppError::Internal(format!(
                    "the EHR connection of team {}: batch_shape {s:?}: {e}",
                    c.team_id
                ))
            })
        })
        .transpose()
}

impl App {
    /// Sets a newly connected client's shape: the owner's fixed one, the
    /// one remembered for this server, or the default until measured.
    pub(super) async fn apply_shape(&self, c: &StoredConnection, client: &FhirClient) {
        let (shape, source) = match fixed_shape(c) {
            Ok(Some(s)) => (s, ShapeSource::Fixed),
            Ok(None) | Err(_) => match self.remembered_shape(c, client).await {
                Some(s) => (s, ShapeSource::Measured),
                None => (BatchShape::Bundles { parts: 1 }, ShapeSource::Default),
            },
        };
        client.set_shape(Some(shape));
        lock(&self.ehr.shapes).insert(
            c.team_id,
            ShapeState {
                source,
                due: source == ShapeSource::Default,
                busy: false,
                refusal_seen: false,
            },
        );
    }

    async fn remembered_shape(
        &self,
        c: &StoredConnection,
        client: &FhirClient,
    ) -> Option<BatchShape> {
        let mut conn = self.db.read().await.ok()?;
        let m = match rounds_store::ehr::measured_shape(&mut conn, c.team_id).await {
            Ok(m) => m?,
            Err(e) => {
                tracing::warn!(team = %c.team_id, error = %e, "cannot read the measured batch shape; measuring again");
                return None;
            }
        };
        if m.base_url != c.base_url || m.fingerprint != fingerprint(c, client) {
            return None;
        }
        BatchShape::from_str(&m.shape).ok()
    }

    /// After a read of `ids`: whether the shape is due for a measurement
    /// (and none is under way); marks it under way. `mostly_failed`: most
    /// of the read failed, which a remembered shape may be the cause of.
    pub(super) fn shape_due(&self, team: TeamId, client: &FhirClient, mostly_failed: bool) -> bool {
        let mut all = lock(&self.ehr.shapes);
        let Some(state) = all.get_mut(&team) else {
            return false;
        };
        if state.source == ShapeSource::Fixed || state.busy {
            return false;
        }
        if client.batch_refused() && !state.refusal_seen {
            // The shape was chosen while batch worked: choose again.
            state.refusal_seen = true;
            state.due = true;
        }
        if mostly_failed {
            // Measured again on the next read that mostly works.
            state.due = true;
            return false;
        }
        if state.due {
            state.busy = true;
            return true;
        }
        false
    }

    /// Measures the shape on a few of `ids`, one read of the team at a
    /// time (none runs beside it), sets it and remembers it.
    pub(super) async fn measure_shape(
        &self,
        c: &StoredConnection,
        client: &FhirClient,
        ids: &[String],
    ) {
        let guard = {
            let mut locks = lock(&self.ehr.fetch_locks);
            locks.entry(c.team_id).or_default().clone()
        };
        let measured = {
            let _alone = guard.lock().await;
            client.measure_shapes(ids).await
        };
        let ok = match measured {
            Ok(m) => {
                self.adopt_shape(c, client, &m).await;
                true
            }
            Err(e) => {
                tracing::info!(team = %c.team_id, error = %e, "cannot measure the batch shape yet");
                false
            }
        };
        if let Some(state) = lock(&self.ehr.shapes).get_mut(&c.team_id) {
            state.busy = false;
            if ok {
                state.due = false;
                state.source = ShapeSource::Measured;
            }
        }
    }

    async fn adopt_shape(&self, c: &StoredConnection, client: &FhirClient, m: &ShapeMeasurement) {
        client.set_shape(Some(m.chosen));
        tracing::info!(team = %c.team_id, shape = %m.chosen, queries = m.queries, "batch shape measured");
        let row = MeasuredShape {
            team_id: c.team_id,
            base_url: c.base_url.clone(),
            fingerprint: fingerprint(c, client),
            shape: m.chosen.to_string(),
            trials: serde_json::to_value(&m.trials).unwrap_or_default(),
            measured_at: Timestamp::now(),
        };
        let saved = async {
            let mut tx = self.db.write().await?;
            rounds_store::ehr::put_measured_shape(tx.conn(), &row).await?;
            tx.commit().await
        }
        .await;
        if let Err(e) = saved {
            tracing::warn!(team = %c.team_id, error = %e, "cannot remember the measured batch shape");
        }
    }

    /// "Test connection": the fixed shape, or the shape measured now on
    /// the first few patients the server lists; remembered (and used from
    /// now on) when `saved` is the team's saved connection.
    pub(super) async fn test_shape(
        &self,
        row: &StoredConnection,
        config: rounds_fhir::ClientConfig,
        saved: bool,
    ) -> Option<BatchShapeView> {
        let setting = row.batch_shape.clone().unwrap_or_else(|| "auto".into());
        if let Ok(Some(fixed)) = fixed_shape(row) {
            return Some(BatchShapeView {
                setting,
                shape: Some(fixed.to_string()),
                description: Some(fixed.describe()),
                source: ShapeSource::Fixed,
                measured_at: None,
                trials: None,
            });
        }
        let client = FhirClient::connect(config).await.ok()?;
        let found = client
            .search_patients(&rounds_fhir::PatientQuery {
                count: Some(u32::try_from(rounds_fhir::SAMPLE_PATIENTS).unwrap_or(4)),
                ..Default::default()
            })
            .await
            .ok()?;
        let ids: Vec<String> = found.patients.into_iter().map(|p| p.id).collect();
        let m = match client.measure_shapes(&ids).await {
            Ok(m) => m,
            Err(e) => {
                tracing::info!(team = %row.team_id, error = %e, "the test could not measure a batch shape");
                return None;
            }
        };
        if saved {
            self.adopt_shape(row, &client, &m).await;
            let live = lock(&self.ehr.clients)
                .get(&row.team_id)
                .filter(|slot| slot.generation == super::client::generation(row))
                .map(|slot| slot.client.clone());
            if let Some(live) = live {
                live.set_shape(Some(m.chosen));
                if let Some(state) = lock(&self.ehr.shapes).get_mut(&row.team_id) {
                    state.source = ShapeSource::Measured;
                    state.due = false;
                }
            }
        }
        Some(BatchShapeView {
            setting,
            shape: Some(m.chosen.to_string()),
            description: Some(m.chosen.describe()),
            source: ShapeSource::Measured,
            measured_at: Some(Timestamp::now()),
            trials: serde_json::to_value(&m.trials).ok(),
        })
    }

    /// The shape of the team's connection as owners see it.
    pub(super) async fn batch_shape_view(
        &self,
        c: &StoredConnection,
    ) -> Result<BatchShapeView, AppError> {
        let fixed = fixed_shape(c)?;
        let measured = {
            let mut conn = self.db.read().await?;
            rounds_store::ehr::measured_shape(&mut conn, c.team_id).await?
        }
        .filter(|m| m.base_url == c.base_url);
        let in_use = lock(&self.ehr.clients)
            .get(&c.team_id)
            .filter(|slot| slot.generation == super::client::generation(c))
            .map(|slot| slot.client.shape());
        let source = lock(&self.ehr.shapes)
            .get(&c.team_id)
            .map(|s| s.source)
            .unwrap_or(if fixed.is_some() {
                ShapeSource::Fixed
            } else if measured.is_some() {
                ShapeSource::Measured
            } else {
                ShapeSource::Default
            });
        let shape = in_use.or(fixed).or_else(|| {
            measured
                .as_ref()
                .and_then(|m| BatchShape::from_str(&m.shape).ok())
        });
        let measured = measured.filter(|_| source != ShapeSource::Fixed);
        Ok(BatchShapeView {
            setting: c.batch_shape.clone().unwrap_or_else(|| "auto".into()),
            shape: shape.map(|s| s.to_string()),
            description: shape.map(BatchShape::describe),
            source,
            measured_at: measured.as_ref().map(|m| m.measured_at),
            trials: measured.map(|m| m.trials),
        })
    }
}

/// An owner's batch shape setting: `auto` (or nothing) or a fixed shape.
pub(super) fn shape_setting(value: Option<&str>) -> Result<Option<String>, AppError> {
    match value.map(str::trim) {
        None | Some("") | Some("auto") => Ok(None),
        Some(s) => BatchShape::from_str(s)
            .map(|shape| Some(shape.to_string()))
            .map_err(|e| {
                rounds_core::validate::InvalidInput::new("batchShape", e.to_string()).into()
            }),
    }
}
