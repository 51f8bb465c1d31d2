//! Sending many queries: as batch Bundles or as concurrent GETs with a
//! bound, in the [`BatchShape`] set from outside (measured on this server
//! by [`crate::FhirClient::measure_shapes`], remembered, or fixed).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use reqwest::Method;
use serde::Serialize;

pub use crate::shape::BatchShape;
use serde_json::{json, Value};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::config::{BatchMode, ClientConfig};
use crate::error::{FhirError, RequestLabel};
use crate::http::{Body, Http};
use crate::parse::{self, str_at};

/// How a set of queries is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Path {
    /// Batch Bundles posted to the base.
    Batch,
    /// One GET per query, a bounded number at a time.
    Concurrent,
}

/// Sends several queries.
#[derive(Clone, Debug)]
pub(crate) struct Executor {
    http: Http,
    mode: BatchMode,
    server_batch: bool,
    chunk: usize,
    concurrency: usize,
    /// Entries one Bundle may hold (the configured cap, narrowed by what
    /// the server declares).
    max_entries: usize,
    batch_refused: Arc<AtomicBool>,
    /// The shape set from outside (measured, remembered or fixed); None:
    /// chunks of `chunk`, half of `concurrency` in flight.
    shape: Arc<RwLock<Option<BatchShape>>>,
}

impl Executor {
    pub(crate) fn new(
        http: Http,
        config: &ClientConfig,
        server_batch: bool,
        declared_max: Option<usize>,
    ) -> Self {
        let max_entries = declared_max
            .map_or(config.max_batch_entries, |d| {
                d.min(config.max_batch_entries)
            })
            .max(1);
        Executor {
            http,
            mode: config.batch_mode,
            server_batch,
            chunk: config.batch_chunk_size.max(1).min(max_entries),
            concurrency: config.max_concurrency.max(1),
            max_entries,
            batch_refused: Arc::new(AtomicBool::new(false)),
            shape: Arc::new(RwLock::new(config.batch_shape)),
        }
    }

    /// Whether Bundles may go out at all (the mode, the server, a refusal).
    pub(crate) fn batch_allowed(&self) -> bool {
        !self.batch_refused.load(Ordering::Relaxed)
            && match self.mode {
                BatchMode::Never => false,
                BatchMode::Always => true,
                BatchMode::Auto => self.server_batch,
            }
    }

    /// Whether plain GETs may carry several queries (not with `Always`).
    pub(crate) fn gets_allowed(&self) -> bool {
        self.mode != BatchMode::Always || self.batch_refused.load(Ordering::Relaxed)
    }

    /// Whether the server refused a batch since the client connected.
    pub(crate) fn batch_refused(&self) -> bool {
        self.batch_refused.load(Ordering::Relaxed)
    }

    pub(crate) fn max_entries(&self) -> usize {
        self.max_entries
    }

    pub(crate) fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// Sets (or clears) the shape runs take.
    pub(crate) fn set_shape(&self, shape: Option<BatchShape>) {
        if let Ok(mut s) = self.shape.write() {
            *s = shape;
        }
    }

    /// The shape the next run of several queries takes, as it will be sent
    /// (a Bundle shape becomes GETs where Bundles may not go out).
    pub(crate) fn shape(&self) -> BatchShape {
        let set = self.shape.read().ok().and_then(|s| *s);
        let wanted = set.unwrap_or(BatchShape::Chunks {
            size: self.chunk,
            in_flight: self.concurrency.div_ceil(2),
        });
        if wanted.path() == Path::Batch && !self.batch_allowed() {
            BatchShape::Gets {
                in_flight: self.concurrency,
            }
        } else if wanted.path() == Path::Concurrent && !self.gets_allowed() {
            BatchShape::Bundles { parts: 1 }
        } else {
            wanted
        }
    }

    /// The path the next run of several queries takes.
    pub(crate) fn choose(&self) -> Path {
        self.shape().path()
    }

    /// Runs relative GET queries; one answer per query, in order.
    pub(crate) async fn run(&self, queries: Vec<String>) -> Vec<Result<Value, FhirError>> {
        if queries.len() < 2 {
            return self.concurrent(queries, self.concurrency).await;
        }
        let shape = self.shape();
        self.run_as(shape, queries).await
    }

    /// Runs queries in the given shape (for measuring).
    pub(crate) async fn run_as(
        &self,
        shape: BatchShape,
        queries: Vec<String>,
    ) -> Vec<Result<Value, FhirError>> {
        let n = queries.len();
        match shape {
            BatchShape::Gets { in_flight } => self.concurrent(queries, in_flight).await,
            BatchShape::Bundles { parts } => {
                let parts = parts.clamp(1, n.max(1));
                let size = n.div_ceil(parts).clamp(1, self.max_entries);
                self.batched(queries, size, parts).await
            }
            BatchShape::Chunks { size, in_flight } => {
                self.batched(queries, size.clamp(1, self.max_entries), in_flight)
                    .await
            }
        }
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

    async fn concurrent(
        &self,
        queries: Vec<String>,
        in_flight: usize,
    ) -> Vec<Result<Value, FhirError>> {
        let http = self.http.clone();
        bounded(queries, in_flight.max(1), move |q| {
            let http = http.clone();
            async move {
                let url = http.url(&q)?;
                http.send(Method::GET, url, &Body::None).await
            }
        })
        .await
    }

    async fn batched(
        &self,
        queries: Vec<String>,
        size: usize,
        in_flight: usize,
    ) -> Vec<Result<Value, FhirError>> {
        let chunks: Vec<Vec<String>> = queries
            .chunks(size.max(1))
            .map(<[String]>::to_vec)
            .collect();
        let sizes: Vec<usize> = chunks.iter().map(Vec::len).collect();
        let this = self.clone();
        let answers = bounded(chunks, in_flight.max(1), move |chunk| {
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
            return self.concurrent(chunk, self.concurrency).await;
        }
        match post_batch(&self.http, &chunk).await {
            Ok(entries) => entries,
            Err(e) if matches!(e.status(), Some(400 | 404 | 405 | 413 | 415 | 422 | 501)) => {
                tracing::info!(error = %e, "the server refused a batch; using concurrent GETs");
                self.batch_refused.store(true, Ordering::Relaxed);
                self.concurrent(chunk, self.concurrency).await
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

/// Reads a `batch-response`: one result per entry, in order. Each entry's
/// resource is moved out of the answer, not copied (a list's answer is
/// hundreds of kilobytes of JSON).
pub(crate) fn batch_response(
    mut v: Value,
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
    let entries = match v.get_mut("entry").map(Value::take) {
        Some(Value::Array(entries)) => entries,
        _ => Vec::new(),
    };
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
        .into_iter()
        .enumerate()
        .map(|(i, entry)| entry_result(entry, i, queries))
        .collect())
}

/// The result of the batch answer's entry `i` (the answer to `queries[i]`).
fn entry_result(mut entry: Value, i: usize, queries: &[String]) -> Result<Value, FhirError> {
    // The entry's own path, without its query string.
    let path = queries
        .get(i)
        .and_then(|q| q.split('?').next())
        .unwrap_or("?");
    let label = RequestLabel(format!("GET {path} (batch entry {})", i + 1));
    let status_text = str_at(&entry, &["response", "status"]).unwrap_or_default();
    let status: u16 = status_text
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let resource = entry
        .get_mut("resource")
        .map(Value::take)
        .filter(Value::is_object);
    if (200..300).contains(&status) {
        resource.ok_or_else(|| FhirError::malformed(&label, "a successful entry has no resource"))
    } else if status == 0 {
        Err(FhirError::malformed(
            &label,
            "an entry has no response status",
        ))
    } else {
        let outcome = entry
            .get("response")
            .and_then(|r| r.get("outcome"))
            .or(resource.as_ref());
        Err(FhirError::Status {
            request: label,
            status,
            diagnostics: outcome.map(parse::outcome_diagnostics).unwrap_or_default(),
            retry_after: None,
        })
    }
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
        Executor::new(http, &config, server_batch, Some(100))
    }

    #[test]
    fn the_shape_set_is_taken_where_allowed() {
        let e = executor(BatchMode::Auto, true);
        assert_eq!(
            e.shape(),
            BatchShape::Chunks {
                size: 20,
                in_flight: 4
            },
            "unset: chunks of the configured size"
        );
        assert_eq!(e.max_entries(), 100, "the server's declared cap");
        e.set_shape(Some(BatchShape::Bundles { parts: 1 }));
        assert_eq!(e.choose(), Path::Batch);
        e.set_shape(Some(BatchShape::Gets { in_flight: 8 }));
        assert_eq!(e.choose(), Path::Concurrent);
        // Modes and servers without batch narrow what is sent.
        let never = executor(BatchMode::Never, true);
        never.set_shape(Some(BatchShape::Bundles { parts: 1 }));
        assert_eq!(never.shape(), BatchShape::Gets { in_flight: 8 });
        let always = executor(BatchMode::Always, false);
        always.set_shape(Some(BatchShape::Gets { in_flight: 4 }));
        assert_eq!(always.choose(), Path::Batch);
        assert_eq!(executor(BatchMode::Auto, false).choose(), Path::Concurrent);
        let refused = executor(BatchMode::Always, true);
        refused.batch_refused.store(true, Ordering::Relaxed);
        assert_eq!(refused.choose(), Path::Concurrent);
    }
}
