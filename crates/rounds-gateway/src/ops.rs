//! Operations: per-client rate limits and Prometheus metrics.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use std::sync::Mutex;

/// A fixed one-minute window per client. Limits hold per instance: behind
/// a load balancer spreading calls over N instances a client gets up to N
/// times the limit.
#[derive(Debug)]
pub struct RateLimiter {
    per_minute: u32,
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

impl RateLimiter {
    /// `per_minute` requests per client; 0: unlimited.
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// `Ok` to go on, or the time until the client may try again.
    pub fn check(&self, client: &str) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let window = Duration::from_secs(60);
        let now = Instant::now();
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if windows.len() > 100_000 {
            windows.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let entry = windows.entry(client.to_owned()).or_insert((now, 0));
        if now.duration_since(entry.0) >= window {
            *entry = (now, 0);
        }
        if entry.1 >= self.per_minute {
            return Err(window.saturating_sub(now.duration_since(entry.0)));
        }
        entry.1 += 1;
        Ok(())
    }
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

#[derive(Debug, Default)]
struct Inner {
    requests: BTreeMap<(String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
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
    pub fn request(&self, tenant: Option<&str>, status: u16, elapsed: Duration) {
        let tenant = tenant.unwrap_or("").to_owned();
        self.with(|m| {
            *m.requests.entry((tenant.clone(), status)).or_default() += 1;
            let h = m.latency.entry(tenant).or_default();
            let secs = elapsed.as_secs_f64();
            for (i, b) in BUCKETS.iter().enumerate() {
                if secs <= *b {
                    h.counts[i] += 1;
                }
            }
            h.sum += secs;
            h.count += 1;
        });
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

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        self.with(|m| {
            let mut out = String::new();
            let _ = writeln!(out, "# HELP gateway_requests_total Requests on the FHIR routes, by tenant and status.");
            let _ = writeln!(out, "# TYPE gateway_requests_total counter");
            for ((tenant, status), n) in &m.requests {
                let _ = writeln!(out, "gateway_requests_total{{tenant=\"{}\",status=\"{status}\"}} {n}", label(tenant));
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
    fn limits_per_client() {
        let l = RateLimiter::new(2);
        assert!(l.check("a").is_ok());
        assert!(l.check("a").is_ok());
        let wait = l.check("a").unwrap_err();
        assert!(wait <= Duration::from_secs(60) && wait > Duration::from_secs(50));
        assert!(l.check("b").is_ok());
        assert!(RateLimiter::new(0).check("a").is_ok());
    }

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
