//! Sending many queries: as batch Bundles (chunked) or as concurrent GETs
//! with a bound, and choosing between the two by what was measured faster on
//! this server (unless the configuration forces one).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use reqwest::Method;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::config::{BatchMode, ClientConfig};
use crate::error::{FhirError, RequestLabel};
use crate::http::{Body, Http};
use crate::parse::{self, arr, str_at};

/// How a set of queries is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Path {
    /// Batch Bundles posted to the base.
    Batch,
    /// One GET per query, a bounded number at a time.
    Concurrent,
}

/// Mean time per query of one path, as measured.
#[derive(Debug, Default, Clone, Copy)]
struct Mean {
    micros_per_query: f64,
    runs: u32,
}

impl Mean {
    fn add(&mut self, micros_per_query: f64) {
        // Moving average that weighs recent runs more after the first few.
        let weight = 1.0 / f64::from((self.runs + 1).min(5));
        self.micros_per_query += (micros_per_query - self.micros_per_query) * weight;
        self.runs += 1;
    }
}

#[derive(Debug, Default)]
struct Stats {
    batch: Mean,
    concurrent: Mean,
    runs: u64,
}

#[derive(Clone, Debug)]
pub(crate) struct Executor {
    http: Http,
    mode: BatchMode,
    server_batch: bool,
    chunk: usize,
    concurrency: usize,
    batch_refused: Arc<AtomicBool>,
    stats: Arc<Mutex<Stats>>,
}

impl Executor {
    pub(crate) fn new(http: Http, config: &ClientConfig, server_batch: bool) -> Self {
        Executor {
            http,
            mode: config.batch_mode,
            server_batch,
            chunk: config.batch_chunk_size.max(1),
            concurrency: config.max_concurrency.max(1),
            batch_refused: Arc::new(AtomicBool::new(false)),
            stats: Arc::new(Mutex::new(Stats::default())),
        }
    }

    /// The path the next run of several queries takes.
    pub(crate) fn choose(&self) -> Path {
        if self.batch_refused.load(Ordering::Relaxed) {
            return Path::Concurrent;
        }
        match self.mode {
            BatchMode::Never => Path::Concurrent,
            BatchMode::Always => Path::Batch,
            BatchMode::Auto if !self.server_batch => Path::Concurrent,
            BatchMode::Auto => {
                let Ok(stats) = self.stats.lock() else {
                    return Path::Batch;
                };
                let (b, c) = (stats.batch, stats.concurrent);
                if b.runs == 0 {
                    Path::Batch
                } else if c.runs == 0 {
                    Path::Concurrent
                } else {
                    let faster = if b.micros_per_query <= c.micros_per_query {
                        Path::Batch
                    } else {
                        Path::Concurrent
                    };
                    // Now and then try the other path again: servers change.
                    if stats.runs % 16 == 15 {
                        match faster {
                            Path::Batch => Path::Concurrent,
                            Path::Concurrent => Path::Batch,
                        }
                    } else {
                        faster
                    }
                }
            }
        }
    }

    fn record(&self, path: Path, queries: usize, started: Instant) {
        if queries < 2 {
            return;
        }
        let per_query = started.elapsed().as_micros() as f64 / queries as f64;
        self.measured(path, per_query);
    }

    fn measured(&self, path: Path, per_query: f64) {
        if let Ok(mut stats) = self.stats.lock() {
            stats.runs += 1;
            match path {
                Path::Batch => stats.batch.add(per_query),
                Path::Concurrent => stats.concurrent.add(per_query),
            }
        }
    }

    /// Runs relative GET queries; one answer per query, in order.
    pub(crate) async fn run(&self, queries: Vec<String>) -> Vec<Result<Value, FhirError>> {
        if queries.len() < 2 {
            return self.concurrent(queries).await;
        }
        let path = self.choose();
        let started = Instant::now();
        let n = queries.len();
        let out = match path {
            Path::Batch => self.batched(queries).await,
            Path::Concurrent => self.concurrent(queries).await,
        };
        self.record(path, n, started);
        out
    }

    /// GETs absolute links (next pages), each only if on the server's origin.
    pub(crate) async fn get_links(&self, links: Vec<String>) -> Vec<Result<Value, FhirError>> {
        let http = self.http.clone();
        bounded(links, self.concurrency, move |link| {
            let http = http.clone();
            async move {
                let url = http.checked_link(&link)?;
                http.send(Method::GET, url, &Body::None).await
            }
        })
        .await
    }

    async fn concurrent(&self, queries: Vec<String>) -> Vec<Result<Value, FhirError>> {
        let http = self.http.clone();
        bounded(queries, self.concurrency, move |q| {
            let http = http.clone();
            async move {
                let url = http.url(&q)?;
                http.send(Method::GET, url, &Body::None).await
            }
        })
        .await
    }

    async fn batched(&self, queries: Vec<String>) -> Vec<Result<Value, FhirError>> {
        let chunks: Vec<Vec<String>> = queries.chunks(self.chunk).map(<[String]>::to_vec).collect();
        let sizes: Vec<usize> = chunks.iter().map(Vec::len).collect();
        let this = self.clone();
        let answers = bounded(chunks, self.concurrency.div_ceil(2), move |chunk| {
            let this = this.clone();
            async move { Ok(this.one_batch(chunk).await) }
        })
        .await;
        answers
            .into_iter()
            .zip(sizes)
            .flat_map(|(r, size)| match r {
                Ok(v) => v,
                Err(e) => vec![Err(e); size],
            })
            .collect()
    }

    async fn one_batch(&self, chunk: Vec<String>) -> Vec<Result<Value, FhirError>> {
        if self.batch_refused.load(Ordering::Relaxed) {
            return self.concurrent(chunk).await;
        }
        match post_batch(&self.http, &chunk).await {
            Ok(entries) => entries,
            Err(e) if matches!(e.status(), Some(400 | 404 | 405 | 415 | 422 | 501)) => {
                tracing::info!(error = %e, "the server refused a batch; using concurrent GETs");
                self.batch_refused.store(true, Ordering::Relaxed);
                self.concurrent(chunk).await
            }
            Err(e) => chunk.iter().map(|_| Err(e.clone())).collect(),
        }
    }
}

/// Posts one batch Bundle of GETs; one result per query, in order.
pub(crate) async fn post_batch(
    http: &Http,
    queries: &[String],
) -> Result<Vec<Result<Value, FhirError>>, FhirError> {
    let bundle = json!({
        "resourceType": "Bundle",
        "type": "batch",
        "entry": queries
            .iter()
            .map(|q| json!({"request": {"method": "GET", "url": q}}))
            .collect::<Vec<_>>(),
    });
    let request = RequestLabel("POST (batch)".into());
    let url = http.url("")?;
    let v = http.send(Method::POST, url, &Body::Json(bundle)).await?;
    batch_response(v, queries, &request)
}

/// Reads a `batch-response`: one result per entry, in order.
pub(crate) fn batch_response(
    v: Value,
    queries: &[String],
    request: &RequestLabel,
) -> Result<Vec<Result<Value, FhirError>>, FhirError> {
    let expected = queries.len();
    if parse::resource_type(&v) != Some("Bundle") {
        return Err(FhirError::malformed(
            request,
            "the batch answer is not a Bundle",
        ));
    }
    let entries = arr(&v, "entry");
    if entries.len() != expected {
        return Err(FhirError::malformed(
            request,
            format!(
                "the batch answer has {} entries for {expected} requests",
                entries.len()
            ),
        ));
    }
    Ok(entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            // The entry's own path, without its query string.
            let path = queries
                .get(i)
                .and_then(|q| q.split('?').next())
                .unwrap_or("?");
            let label = RequestLabel(format!("GET {path} (batch entry {})", i + 1));
            let status_text = str_at(entry, &["response", "status"]).unwrap_or_default();
            let status: u16 = status_text
                .split_whitespace()
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let resource = entry.get("resource").filter(|r| r.is_object());
            if (200..300).contains(&status) {
                resource.cloned().ok_or_else(|| {
                    FhirError::malformed(&label, "a successful entry has no resource")
                })
            } else if status == 0 {
                Err(FhirError::malformed(
                    &label,
                    "an entry has no response status",
                ))
            } else {
                let outcome = entry
                    .get("response")
                    .and_then(|r| r.get("outcome"))
                    .or(resource);
                Err(FhirError::Status {
                    request: label,
                    status,
                    diagnostics: outcome.map(parse::outcome_diagnostics).unwrap_or_default(),
                    retry_after: None,
                })
            }
        })
        .collect())
}

/// Runs `f` over `items` with at most `limit` in flight; results in order.
async fn bounded<I, F, Fut, T>(items: Vec<I>, limit: usize, f: F) -> Vec<Result<T, FhirError>>
where
    I: Send + 'static,
    T: Send + 'static,
    F: Fn(I) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = Result<T, FhirError>> + Send + 'static,
{
    let n = items.len();
    let semaphore = Arc::new(Semaphore::new(limit.max(1)));
    let mut set = JoinSet::new();
    for (i, item) in items.into_iter().enumerate() {
        let semaphore = semaphore.clone();
        let f = f.clone();
        set.spawn(async move {
            let _permit = semaphore.acquire_owned().await;
            (i, f(item).await)
        });
    }
    let mut out: Vec<Option<Result<T, FhirError>>> = (0..n).map(|_| None).collect();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((i, result)) => {
                if let Some(slot) = out.get_mut(i) {
                    *slot = Some(result);
                }
            }
            Err(e) => tracing::error!(error = %e, "a request task failed"),
        }
    }
    out.into_iter()
        .map(|r| r.unwrap_or_else(|| Err(FhirError::Config("a request task failed".into()))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_responses() {
        let l = RequestLabel("POST (batch)".into());
        let v = json!({"resourceType": "Bundle", "type": "batch-response", "entry": [
            {"response": {"status": "200 OK"}, "resource": {"resourceType": "Bundle", "type": "searchset"}},
            {"response": {"status": "404 Not Found", "outcome": {"resourceType": "OperationOutcome", "issue": [{"diagnostics": "no such type"}]}}},
            {"response": {"status": "200"}},
            {"response": {}}]});
        let q: Vec<String> = ["Condition?patient=1", "Coverage?patient=1", "A", "B"]
            .map(String::from)
            .to_vec();
        let r = batch_response(v.clone(), &q, &l).unwrap();
        assert!(r[0].is_ok());
        assert!(
            matches!(&r[1], Err(FhirError::Status { status: 404, diagnostics, .. }) if diagnostics[0] == "no such type")
        );
        assert!(matches!(r[2], Err(FhirError::Malformed { .. })));
        assert!(matches!(r[3], Err(FhirError::Malformed { .. })));
        assert!(
            matches!(&r[1], Err(e) if e.to_string().starts_with("GET Coverage (batch entry 2)"))
        );
        assert!(batch_response(v, &q[..3], &l).is_err(), "count mismatch");
        assert!(batch_response(json!({"resourceType": "Patient"}), &[], &l).is_err());
    }

    fn executor(mode: BatchMode, server_batch: bool) -> Executor {
        let mut config = ClientConfig::new("http://127.0.0.1:9/fhir").unwrap();
        config.batch_mode = mode;
        let http = Http::new(crate::http::build_client(&config).unwrap(), &config);
        Executor::new(http, &config, server_batch)
    }

    #[test]
    fn the_faster_path_is_chosen() {
        let e = executor(BatchMode::Auto, true);
        assert_eq!(e.choose(), Path::Batch, "batch first where declared");
        e.measured(Path::Batch, 900.0);
        assert_eq!(e.choose(), Path::Concurrent, "then the other path once");
        e.measured(Path::Concurrent, 300.0);
        assert_eq!(e.choose(), Path::Concurrent, "concurrent was faster");
        for _ in 0..5 {
            e.measured(Path::Batch, 100.0);
        }
        assert_eq!(e.choose(), Path::Batch, "batch became faster");
        // Every 16th run tries the slower path again.
        let explored = (0..16)
            .map(|_| {
                let p = e.choose();
                e.measured(p, if p == Path::Batch { 100.0 } else { 300.0 });
                p
            })
            .filter(|p| *p == Path::Concurrent)
            .count();
        assert_eq!(explored, 1);
        // Overrides and servers without batch.
        assert_eq!(executor(BatchMode::Never, true).choose(), Path::Concurrent);
        assert_eq!(executor(BatchMode::Always, false).choose(), Path::Batch);
        assert_eq!(executor(BatchMode::Auto, false).choose(), Path::Concurrent);
        let refused = executor(BatchMode::Always, true);
        refused.batch_refused.store(true, Ordering::Relaxed);
        assert_eq!(refused.choose(), Path::Concurrent);
    }

    #[test]
    fn means() {
        let mut m = Mean::default();
        m.add(100.0);
        assert_eq!(m.micros_per_query, 100.0);
        m.add(200.0);
        assert_eq!(m.micros_per_query, 150.0);
    }
}
