//! Operational metrics in Prometheus' text format. Labels carry only route
//! templates, status codes, outcomes and opaque connection ids: never a
//! patient, a person or a team name.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use rounds_core::TeamId;

use crate::ehr::HealthState;
use crate::App;

/// Latency buckets in seconds, from 1 ms to 30 s.
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    /// The route template (`/api/v1/teams/{teamId}/…`), never the path.
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EhrReadLabels {
    connection: String,
    /// `ok` or `failed`.
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnectionLabels {
    connection: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HealthLabels {
    connection: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LookupLabels {
    /// `hit` or `miss`.
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    /// `open`, `idle` or `max`.
    state: &'static str,
}

/// The process's metrics; one per [`App`], shared by its clones.
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Family<RouteLabels, Histogram, fn() -> Histogram>,
    open_streams: Gauge,
    fanout_seconds: Histogram,
    notify_wakeups: Counter,
    listener_reconnects: Counter,
    ehr_reads: Family<EhrReadLabels, Counter>,
    ehr_read_seconds: Family<ConnectionLabels, Histogram, fn() -> Histogram>,
    ehr_health: Family<HealthLabels, Gauge>,
    ehr_cache_patients: Gauge,
    ehr_cache_lookups: Family<LookupLabels, Counter>,
    db_pool: Family<PoolLabels, Gauge>,
    signin_failures: Counter,
    signin_lockouts: Counter,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("rounds");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            requests.clone(),
        );
        let request_seconds: Family<RouteLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request (to the first byte of a stream), by method and route template",
            request_seconds.clone(),
        );
        let open_streams = Gauge::default();
        registry.register(
            "live_streams_open",
            "Live list feeds (Server-Sent Events) open now",
            open_streams.clone(),
        );
        let fanout_seconds = latency_histogram();
        registry.register(
            "live_event_delivery_seconds",
            "Time from an event's commit (on any instance) to its sending on an open feed",
            fanout_seconds.clone(),
        );
        let notify_wakeups = Counter::default();
        registry.register(
            "live_notifications",
            "PostgreSQL notifications that woke the change-feed reader",
            notify_wakeups.clone(),
        );
        let listener_reconnects = Counter::default();
        registry.register(
            "live_listener_failures",
            "Times the PostgreSQL listener lost or could not open its connection",
            listener_reconnects.clone(),
        );
        let ehr_reads = Family::<EhrReadLabels, Counter>::default();
        registry.register(
            "ehr_patient_reads",
            "Patients read from an EHR, by connection id and outcome",
            ehr_reads.clone(),
        );
        let ehr_read_seconds: Family<ConnectionLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "ehr_read_duration_seconds",
            "Time of one batch read of patients from an EHR, by connection id",
            ehr_read_seconds.clone(),
        );
        let ehr_health = Family::<HealthLabels, Gauge>::default();
        registry.register(
            "ehr_health",
            "1 for the state each EHR connection is in (unknown, ok, degraded, down), by connection id",
            ehr_health.clone(),
        );
        let ehr_cache_patients = Gauge::default();
        registry.register(
            "ehr_cache_patients",
            "Patients whose EHR data is held in memory",
            ehr_cache_patients.clone(),
        );
        let ehr_cache_lookups = Family::<LookupLabels, Counter>::default();
        registry.register(
            "ehr_cache_lookups",
            "EHR data looked up for a list: fresh in memory (hit) or to be read (miss)",
            ehr_cache_lookups.clone(),
        );
        let db_pool = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "db_pool_connections",
            "Database pool connections: open, idle, and the most allowed",
            db_pool.clone(),
        );
        let signin_failures = Counter::default();
        registry.register(
            "signin_failures",
            "Refused sign-ins (wrong password, unknown or disabled account, locked)",
            signin_failures.clone(),
        );
        let signin_lockouts = Counter::default();
        registry.register(
            "signin_lockouts",
            "Accounts or client addresses locked after too many failed sign-ins",
            signin_lockouts.clone(),
        );
        Self {
            registry,
            requests,
            request_seconds,
            open_streams,
            fanout_seconds,
            notify_wakeups,
            listener_reconnects,
            ehr_reads,
            ehr_read_seconds,
            ehr_health,
            ehr_cache_patients,
            ehr_cache_lookups,
            db_pool,
            signin_failures,
            signin_lockouts,
        }
    }

    pub(crate) fn stream_opened(&self) {
        self.open_streams.inc();
    }

    pub(crate) fn stream_closed(&self) {
        self.open_streams.dec();
    }

    pub(crate) fn event_delivered(&self, since_commit: Duration) {
        self.fanout_seconds.observe(since_commit.as_secs_f64());
    }

    pub(crate) fn notified(&self) {
        self.notify_wakeups.inc();
    }

    pub(crate) fn listener_failed(&self) {
        self.listener_reconnects.inc();
    }

    pub(crate) fn signin_failed(&self) {
        self.signin_failures.inc();
    }

    pub(crate) fn locked_out(&self) {
        self.signin_lockouts.inc();
    }

    /// One batch read of `ok + failed` patients from the EHR of `team`.
    pub(crate) fn ehr_read(&self, team: TeamId, ok: usize, failed: usize, took: Duration) {
        let connection = connection_label(team);
        for (outcome, n) in [("ok", ok), ("failed", failed)] {
            self.ehr_reads
                .get_or_create(&EhrReadLabels {
                    connection: connection.clone(),
                    outcome,
                })
                .inc_by(u64::try_from(n).unwrap_or(u64::MAX));
        }
        self.ehr_read_seconds
            .get_or_create(&ConnectionLabels { connection })
            .observe(took.as_secs_f64());
    }

    /// A list looked for a patient's EHR data in memory.
    pub(crate) fn ehr_cache_lookup(&self, hit: bool) {
        let result = if hit { "hit" } else { "miss" };
        self.ehr_cache_lookups
            .get_or_create(&LookupLabels { result })
            .inc();
    }
}

/// An EHR connection's label: a short hash of its team's id (an opaque id
/// already, but not one to hand out), never the team's or connection's name.
fn connection_label(team: TeamId) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("rounds-ehr-connection:{team}").as_bytes());
    hex::encode(&digest[..6])
}

impl App {
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Counts one answered HTTP request. `route` must be a route template
    /// (or a fixed word such as `unmatched`), never a request's path.
    pub fn record_request(&self, method: &str, route: &str, status: u16, took: Duration) {
        let m = &self.metrics;
        m.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        m.request_seconds
            .get_or_create(&RouteLabels {
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    /// Every metric as Prometheus text (gauges read now).
    pub fn metrics_text(&self) -> String {
        let m = &self.metrics;
        let (open, idle) = self.db.pool_use();
        let gauge = |state| m.db_pool.get_or_create(&PoolLabels { state }).clone();
        gauge("open").set(i64::from(open));
        gauge("idle").set(i64::try_from(idle).unwrap_or(i64::MAX));
        gauge("max").set(i64::from(self.db.max_connections()));
        let (cached, health) = self.ehr_gauges();
        m.ehr_cache_patients
            .set(i64::try_from(cached).unwrap_or(i64::MAX));
        m.ehr_health.clear();
        for (team, state) in health {
            let connection = connection_label(team);
            for s in [
                HealthState::Unknown,
                HealthState::Ok,
                HealthState::Degraded,
                HealthState::Down,
            ] {
                m.ehr_health
                    .get_or_create(&HealthLabels {
                        connection: connection.clone(),
                        state: s.as_str().to_owned(),
                    })
                    .set(i64::from(s == state));
            }
        }
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &m.registry).is_err() {
            // Writing to a String does not fail; say so rather than panic.
            return "# the metrics could not be written\n".to_owned();
        }
        out
    }
}

/// Shared handle kept by [`App`].
pub(crate) type SharedMetrics = Arc<Metrics>;
