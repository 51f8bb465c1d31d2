//! Operations: per-client rate limits (shared by the instances on one
//! database) and Prometheus metrics.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::Row;

use crate::db::{now_millis, Db};
use crate::error::Result;

/// A one-minute window per client, starting at its first request, shared
/// by every instance on the database: the window and the count of requests
/// granted in it are one row (`gateway_rate_windows`). So that not every
/// request costs a database round trip, an instance takes a lease of a few
/// requests at once (a fiftieth of the limit, 1 to 100) and answers from it
/// until it is used up; a client gets at most its limit per minute across
/// all instances, and may be refused up to (instances − 1) × lease requests
/// early when leases taken by other instances go unused.
#[derive(Debug)]
pub struct RateLimiter {
    per_minute: u32,
    db: Db,
    leases: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Lease>>>>,
}

/// What this instance may still grant a client in the current window.
#[derive(Debug, Default)]
struct Lease {
    /// Unix milliseconds.
    window_start: i64,
    left: u32,
    /// The window's limit is used up (by any instance).
    exhausted: bool,
}

const WINDOW_MS: i64 = 60_000;

impl RateLimiter {
    /// `per_minute` requests per client; 0: unlimited.
    pub fn new(per_minute: u32, db: Db) -> Self {
        Self {
            per_minute,
            db,
            leases: Mutex::new(HashMap::new()),
        }
    }

    fn lease_size(&self) -> u32 {
        (self.per_minute / 50).clamp(1, 100)
    }

    /// `Ok(Ok(()))` to go on, or `Ok(Err(wait))`: the time until the client
    /// may try again.
    pub async fn check(&self, client: &str) -> Result<Result<(), Duration>> {
        if self.per_minute == 0 {
            return Ok(Ok(()));
        }
        let lease = {
            let mut leases = self
                .leases
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if leases.len() > 100_000 {
                let now = now_millis();
                leases.retain(|_, l| {
                    l.try_lock()
                        .map_or(true, |l| now - l.window_start < WINDOW_MS)
                });
            }
            leases.entry(client.to_owned()).or_default().clone()
        };
        let mut lease = lease.lock().await;
        let now = now_millis();
        let current = now - lease.window_start < WINDOW_MS;
        if current && lease.left > 0 {
            lease.left -= 1;
            return Ok(Ok(()));
        }
        if current && lease.exhausted {
            return Ok(Err(wait(lease.window_start, now)));
        }
        // Take a new lease: a new window when the last one is over.
        let size = i64::from(self.lease_size());
        let limit = i64::from(self.per_minute);
        let mut tx = self.db.write_unordered().await?;
        let row = sqlx::query(
            "INSERT INTO gateway_rate_windows (client_id, window_start, used) VALUES ($1, $2, $3) \
             ON CONFLICT (client_id) DO UPDATE SET \
               window_start = CASE WHEN gateway_rate_windows.window_start <= $4 THEN $2 ELSE gateway_rate_windows.window_start END, \
               used = CASE WHEN gateway_rate_windows.window_start <= $4 THEN $3 ELSE gateway_rate_windows.used + $3 END \
             RETURNING window_start, used",
        )
        .bind(client)
        .bind(now)
        .bind(size)
        .bind(now - WINDOW_MS)
        .fetch_one(tx.conn())
        .await?;
        tx.commit().await?;
        let window_start: i64 = row.try_get("window_start")?;
        let used: i64 = row.try_get("used")?;
        let granted = size.min(limit - (used - size)).max(0);
        lease.window_start = window_start;
        lease.exhausted = used >= limit;
        if granted == 0 {
            lease.left = 0;
            return Ok(Err(wait(window_start, now)));
        }
        lease.left = u32::try_from(granted - 1).unwrap_or(0);
        Ok(Ok(()))
    }
}

fn wait(window_start: i64, now: i64) -> Duration {
    let ms = (window_start + WINDOW_MS - now).clamp(0, WINDOW_MS);
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += secs;
        self.count += 1;
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// Tenant → status → count.
    requests: BTreeMap<String, BTreeMap<u16, u64>>,
    latency: BTreeMap<String, Histogram>,
    phases: BTreeMap<&'static str, Histogram>,
    upstream_errors: BTreeMap<(String, &'static str), u64>,
    tokens: BTreeMap<&'static str, u64>,
}

/// Counters and histograms, rendered in Prometheus' text format.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut inner)
    }

    /// One request on the FHIR routes.
    /// (Allocates only for a tenant not seen before.)
    pub fn request(&self, tenant: Option<&str>, status: u16, elapsed: Duration) {
        let tenant = tenant.unwrap_or("");
        self.with(|m| {
            match m.requests.get_mut(tenant) {
                Some(by_status) => *by_status.entry(status).or_default() += 1,
                None => {
                    m.requests
                        .insert(tenant.to_owned(), BTreeMap::from([(status, 1)]));
                }
            }
            match m.latency.get_mut(tenant) {
                Some(h) => h.observe(elapsed),
                None => m
                    .latency
                    .entry(tenant.to_owned())
                    .or_default()
                    .observe(elapsed),
            }
        });
    }

    /// Time one part of a request took: `token` (checking the bearer
    /// token), `upstream` (the upstream's answer, read whole), `rewrite`,
    /// `audit` (waiting for the audit record to be committed).
    pub fn phase(&self, phase: &'static str, elapsed: Duration) {
        self.with(|m| m.phases.entry(phase).or_default().observe(elapsed));
    }

    /// An upstream failure of `kind` (`timeout`, `connect`, `too_large`, `auth`, `status_5xx`).
    pub fn upstream_error(&self, tenant: &str, kind: &'static str) {
        self.with(|m| {
            *m.upstream_errors
                .entry((tenant.to_owned(), kind))
                .or_default() += 1
        });
    }

    /// A token request's outcome (`issued` or the error code).
    pub fn token(&self, outcome: &'static str) {
        self.with(|m| *m.tokens.entry(outcome).or_default() += 1);
    }

    /// The Prometheus text exposition, with the audit writer's state.
    pub fn render_with(&self, audit: &crate::audit::WriterState) -> String {
        let mut out = self.render();
        let _ = writeln!(out, "# HELP gateway_audit_pending_records Audit records accepted and not yet committed (audit_sync = \"async\").");
        let _ = writeln!(out, "# TYPE gateway_audit_pending_records gauge");
        let _ = writeln!(out, "gateway_audit_pending_records {}", audit.pending);
        let _ = writeln!(out, "# HELP gateway_audit_queue_capacity Audit records the queue holds at most (0: not async).");
        let _ = writeln!(out, "# TYPE gateway_audit_queue_capacity gauge");
        let _ = writeln!(out, "gateway_audit_queue_capacity {}", audit.capacity);
        let _ = writeln!(out, "# HELP gateway_audit_writer_failing 1 while the audit writer cannot write (it retries; /readyz fails).");
        let _ = writeln!(out, "# TYPE gateway_audit_writer_failing gauge");
        let _ = writeln!(
            out,
            "gateway_audit_writer_failing {}",
            u8::from(audit.failing)
        );
        let _ = writeln!(
            out,
            "# HELP gateway_audit_write_errors_total Failed audit writes (retried)."
        );
        let _ = writeln!(out, "# TYPE gateway_audit_write_errors_total counter");
        let _ = writeln!(
            out,
            "gateway_audit_write_errors_total {}",
            audit.write_errors
        );
        out
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        self.with(|m| {
            let mut out = String::new();
            let _ = writeln!(out, "# HELP gateway_requests_total Requests on the FHIR routes, by tenant and status.");
            let _ = writeln!(out, "# TYPE gateway_requests_total counter");
            for (tenant, by_status) in &m.requests {
                for (status, n) in by_status {
                    let _ = writeln!(out, "gateway_requests_total{{tenant=\"{}\",status=\"{status}\"}} {n}", label(tenant));
                }
            }
            let _ = writeln!(out, "# HELP gateway_request_duration_seconds Time from request to answer on the FHIR routes, by tenant.");
            let _ = writeln!(out, "# TYPE gateway_request_duration_seconds histogram");
            for (tenant, h) in &m.latency {
                let t = label(tenant);
                for (i, b) in BUCKETS.iter().enumerate() {
                    let _ = writeln!(out, "gateway_request_duration_seconds_bucket{{tenant=\"{t}\",le=\"{b}\"}} {}", h.counts[i]);
                }
                let _ = writeln!(out, "gateway_request_duration_seconds_bucket{{tenant=\"{t}\",le=\"+Inf\"}} {}", h.count);
                let _ = writeln!(out, "gateway_request_duration_seconds_sum{{tenant=\"{t}\"}} {}", h.sum);
                let _ = writeln!(out, "gateway_request_duration_seconds_count{{tenant=\"{t}\"}} {}", h.count);
            }
            let _ = writeln!(out, "# HELP gateway_phase_duration_seconds Time the parts of a request on the FHIR routes take.");
            let _ = writeln!(out, "# TYPE gateway_phase_duration_seconds histogram");
            for (phase, h) in &m.phases {
                for (i, b) in BUCKETS.iter().enumerate() {
                    let _ = writeln!(out, "gateway_phase_duration_seconds_bucket{{phase=\"{phase}\",le=\"{b}\"}} {}", h.counts[i]);
                }
                let _ = writeln!(out, "gateway_phase_duration_seconds_bucket{{phase=\"{phase}\",le=\"+Inf\"}} {}", h.count);
                let _ = writeln!(out, "gateway_phase_duration_seconds_sum{{phase=\"{phase}\"}} {}", h.sum);
                let _ = writeln!(out, "gateway_phase_duration_seconds_count{{phase=\"{phase}\"}} {}", h.count);
            }
            let _ = writeln!(out, "# HELP gateway_upstream_errors_total Failed upstream requests, by tenant and kind.");
            let _ = writeln!(out, "# TYPE gateway_upstream_errors_total counter");
            for ((tenant, kind), n) in &m.upstream_errors {
                let _ = writeln!(out, "gateway_upstream_errors_total{{tenant=\"{}\",kind=\"{kind}\"}} {n}", label(tenant));
            }
            let _ = writeln!(out, "# HELP gateway_token_requests_total Token requests, by outcome.");
            let _ = writeln!(out, "# TYPE gateway_token_requests_total counter");
            for (outcome, n) in &m.tokens {
                let _ = writeln!(out, "gateway_token_requests_total{{outcome=\"{outcome}\"}} {n}");
            }
            out
        })
    }
}

fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.request(Some("t\"1"), 200, Duration::from_millis(3));
        m.upstream_error("t\"1", "timeout");
        m.token("issued");
        let text = m.render();
        assert!(
            text.contains("gateway_requests_total{tenant=\"t\\\"1\",status=\"200\"} 1"),
            "{text}"
        );
        assert!(text.contains("le=\"0.005\"} 1"));
        assert!(text.contains("le=\"0.0025\"} 0"));
        assert!(
            text.contains("gateway_upstream_errors_total{tenant=\"t\\\"1\",kind=\"timeout\"} 1")
        );
        assert!(text.contains("gateway_token_requests_total{outcome=\"issued\"} 1"));
    }
}
