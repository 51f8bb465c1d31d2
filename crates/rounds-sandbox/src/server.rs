//! The HTTP side: one handler that reads the method and path itself (so the
//! same code answers a plain GET and an entry of a batch), the
//! CapabilityStatement, batch, and OperationOutcomes for everything refused.
//!
//! (Over 500 lines with its tests; the handler code is under 600 lines, one
//! route table and its answers.)

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Map, Value};

use crate::search::{self, params_of, Failure, Page};
use crate::text::{fold, is_id, parse_query, query_string};
use crate::ward::{Kind, Ward};

/// Largest request body read (a batch of a few hundred GETs fits easily).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Most entries in one batch Bundle.
pub const MAX_BATCH_ENTRIES: usize = 1000;
/// Most resources one batch answers with, all entries together (the rest
/// of the entries are refused as too costly), so that no batch can ask for
/// an answer of unbounded size.
pub const MAX_BATCH_RESOURCES: usize = 20_000;

const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";

pub(crate) fn router(ward: Ward) -> Router {
    Router::new().fallback(handle).with_state(Arc::new(ward))
}

/// An answer before it becomes a response (or a batch entry).
struct Answer {
    status: u16,
    body: Value,
}

impl Answer {
    fn ok(body: Value) -> Self {
        Answer { status: 200, body }
    }
}

impl From<Failure> for Answer {
    fn from(f: Failure) -> Self {
        Answer {
            status: f.status,
            body: outcome(f.code, &f.diagnostics),
        }
    }
}

fn outcome(code: &str, diagnostics: &str) -> Value {
    json!({
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": diagnostics}]
    })
}

fn read_only(what: &str) -> Failure {
    Failure::not_supported(
        405,
        format!("this sandbox is read-only: {what} is not allowed (GET to read and search, POST for _search and batch)"),
    )
}

async fn handle(State(ward): State<Arc<Ward>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let original = parts
        .extensions
        .get::<OriginalUri>()
        .map(|o| o.0.clone())
        .unwrap_or_else(|| parts.uri.clone());
    let base = base_url(&parts.headers, &parts.uri, &original);
    let params = parse_query(parts.uri.query().unwrap_or_default());
    let pretty = params.iter().any(|(k, v)| k == "_pretty" && v == "true");
    let head = parts.method == Method::HEAD;
    let body = if parts.method == Method::POST {
        axum::body::to_bytes(body, MAX_BODY_BYTES).await.ok()
    } else {
        Some(Bytes::new())
    };
    let Some(body) = body else {
        let answer = Answer {
            status: 413,
            body: outcome(
                "too-long",
                &format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
            ),
        };
        return respond(answer.status, encode(&answer.body, pretty), head);
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let method = parts.method.clone();
    let path = parts.uri.path().to_owned();
    // Searching and encoding are CPU work: off the async workers, so that a
    // large batch does not hold up the server the sandbox shares a runtime
    // with (`rounds demo`).
    let work = tokio::task::spawn_blocking(move || {
        let answer = match check_format(&params) {
            Err(f) => Answer::from(f),
            Ok(()) => dispatch(
                &ward,
                HttpRequest {
                    method: &method,
                    path: &path,
                    params,
                    body: &body,
                    content_type: &content_type,
                    base: base.as_deref(),
                },
            ),
        };
        (answer.status, encode(&answer.body, pretty))
    });
    let (status, bytes) = match work.await {
        Ok(done) => done,
        Err(e) => {
            tracing::error!(error = %e, "a sandbox request failed");
            let body = outcome("exception", "the sandbox failed to answer this request");
            (500, encode(&body, false))
        }
    };
    tracing::debug!(
        method = %parts.method,
        path = parts.uri.path(),
        status,
        "sandbox FHIR request"
    );
    respond(status, bytes, head)
}

fn encode(body: &Value, pretty: bool) -> Vec<u8> {
    if pretty {
        serde_json::to_vec_pretty(body)
    } else {
        serde_json::to_vec(body)
    }
    .unwrap_or_default()
}

fn respond(status: u16, bytes: Vec<u8>, head: bool) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = if head {
        (status, Body::empty()).into_response()
    } else {
        (status, bytes).into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    if status == StatusCode::METHOD_NOT_ALLOWED {
        headers.insert(header::ALLOW, HeaderValue::from_static("GET, HEAD, POST"));
    }
    response
}

/// `_format` may ask for JSON only.
fn check_format(params: &[(String, String)]) -> Result<(), Failure> {
    for (k, v) in params {
        if k == "_format" && !v.is_empty() && !fold(v).contains("json") {
            return Err(Failure {
                status: 406,
                code: "not-supported",
                diagnostics: format!(
                    "this sandbox speaks JSON only (_format={})",
                    v.chars().take(60).collect::<String>()
                ),
            });
        }
    }
    Ok(())
}

/// The base URL as the client sees it (for `fullUrl` and paging links):
/// scheme (`X-Forwarded-Proto` when a proxy says so), host, and the path the
/// router is mounted at. None when the host is unknown or odd.
fn base_url(headers: &HeaderMap, inner: &Uri, original: &Uri) -> Option<String> {
    let header_text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let host = original
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| header_text("host").map(str::to_owned))?;
    let host_ok = !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if !host_ok {
        return None;
    }
    let scheme = match header_text("x-forwarded-proto").map(str::trim) {
        Some("https") => "https",
        Some("http") => "http",
        _ => original.scheme_str().unwrap_or("http"),
    };
    let outer = original.path().trim_end_matches('/');
    let inner = inner.path().trim_end_matches('/');
    let prefix = outer.strip_suffix(inner)?;
    Some(format!("{scheme}://{host}{prefix}"))
}

struct HttpRequest<'a> {
    method: &'a Method,
    path: &'a str,
    params: Vec<(String, String)>,
    body: &'a [u8],
    content_type: &'a str,
    base: Option<&'a str>,
}

fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

fn dispatch(ward: &Ward, r: HttpRequest<'_>) -> Answer {
    let segs = segments(r.path);
    if r.method == Method::GET || r.method == Method::HEAD {
        return get(ward, &segs, &r.params, r.base);
    }
    let result = if r.method == Method::POST {
        match segs.as_slice() {
            [] => batch(ward, &r),
            [rtype, "_search"] => post_search(ward, rtype, &r),
            [rtype] if Kind::from_name(rtype).is_some() => {
                Err(read_only(&format!("creating a {rtype}")))
            }
            _ => Err(read_only("this POST")),
        }
    } else {
        Err(read_only(r.method.as_str()))
    };
    result.unwrap_or_else(Answer::from)
}

fn post_search(ward: &Ward, rtype: &str, r: &HttpRequest<'_>) -> Result<Answer, Failure> {
    let kind = kind_of(rtype)?;
    let is_form = r
        .content_type
        .starts_with("application/x-www-form-urlencoded");
    if !is_form && !r.body.iter().all(u8::is_ascii_whitespace) {
        return Err(Failure::not_supported(
            415,
            "POST _search takes its parameters as a form (application/x-www-form-urlencoded)",
        ));
    }
    let mut params = r.params.clone();
    params.extend(parse_query(&String::from_utf8_lossy(r.body)));
    Ok(search_answer(ward, kind, &params, r.base))
}

/// A GET (of a request or of a batch entry), by path segments.
fn get(ward: &Ward, segs: &[&str], params: &[(String, String)], base: Option<&str>) -> Answer {
    let result = match segs {
        [] => Err(Failure::not_supported(
            400,
            "search a type, e.g. Patient?family=..., not the whole system",
        )),
        ["metadata"] => Ok(Answer::ok(capability_statement(ward, base))),
        [".well-known", "smart-configuration"] => Err(Failure::not_found(
            "this sandbox is open: no SMART authorization (no token needed)",
        )),
        [rtype] => kind_of(rtype).map(|kind| search_answer(ward, kind, params, base)),
        [rtype, "_search"] => kind_of(rtype).and_then(|_| {
            Err(Failure::not_supported(
                405,
                format!("use POST {rtype}/_search with a form, or GET {rtype}?..."),
            ))
        }),
        [rtype, id] => kind_of(rtype).and_then(|kind| read(ward, kind, id)),
        [rtype, _, "_history", ..] => kind_of(rtype).and_then(|_| {
            Err(Failure::not_supported(
                400,
                "this sandbox keeps no history: read the current version",
            ))
        }),
        _ => Err(Failure::not_found(format!(
            "nothing here: {}",
            segs.join("/").chars().take(100).collect::<String>()
        ))),
    };
    result.unwrap_or_else(Answer::from)
}

fn served_types() -> String {
    Kind::ALL.map(Kind::name).join(", ")
}

fn kind_of(rtype: &str) -> Result<Kind, Failure> {
    Kind::from_name(rtype).ok_or_else(|| {
        let shown: String = rtype.chars().take(60).collect();
        Failure::not_supported(
            404,
            format!(
                "this sandbox serves no {shown} resources; it serves {}",
                served_types()
            ),
        )
    })
}

fn read(ward: &Ward, kind: Kind, id: &str) -> Result<Answer, Failure> {
    if !is_id(id) {
        return Err(Failure::invalid(format!(
            "'{}' is not a FHIR id (1 to 64 of A-Z a-z 0-9 - .)",
            id.chars().take(70).collect::<String>()
        )));
    }
    ward.read(kind, id)
        .map(|r| Answer::ok(r.clone()))
        .ok_or_else(|| Failure::not_found(format!("{}/{id} is not known here", kind.name())))
}

fn search_answer(
    ward: &Ward,
    kind: Kind,
    params: &[(String, String)],
    base: Option<&str>,
) -> Answer {
    match search::search(ward, kind, params) {
        Ok(page) => Answer::ok(searchset(kind, &page, params, base)),
        Err(f) => f.into(),
    }
}

fn searchset(
    kind: Kind,
    page: &Page<'_>,
    params: &[(String, String)],
    base: Option<&str>,
) -> Value {
    let entries: Vec<Value> = page
        .resources
        .iter()
        .map(|r| {
            let mut e = Map::new();
            if let (Some(base), Some(id)) = (base, r.get("id").and_then(Value::as_str)) {
                e.insert(
                    "fullUrl".into(),
                    Value::String(format!("{base}/{}/{id}", kind.name())),
                );
            }
            // A plain clone: `json!` would copy through serialisation.
            e.insert("resource".into(), (*r).clone());
            e.insert("search".into(), json!({"mode": "match"}));
            Value::Object(e)
        })
        .collect();
    let mut bundle = json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "total": page.total,
    });
    if let Some(base) = base {
        let kept: Vec<(String, String)> = params
            .iter()
            .filter(|(k, v)| k != "_offset" && !v.trim().is_empty())
            .cloned()
            .collect();
        let link = |offset: usize| {
            let mut p = kept.clone();
            if offset > 0 {
                p.push(("_offset".into(), offset.to_string()));
            }
            let q = query_string(&p);
            let sep = if q.is_empty() { "" } else { "?" };
            format!("{base}/{}{sep}{q}", kind.name())
        };
        let mut links = vec![json!({"relation": "self", "url": link(page.offset)})];
        let next = page.offset.saturating_add(page.count);
        if page.count > 0 && next < page.total {
            links.push(json!({"relation": "next", "url": link(next)}));
        }
        bundle["link"] = json!(links);
    }
    if !entries.is_empty() {
        bundle["entry"] = Value::Array(entries);
    }
    bundle
}

fn status_line(status: u16) -> String {
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    format!("{status} {reason}").trim_end().to_owned()
}

fn batch(ward: &Ward, r: &HttpRequest<'_>) -> Result<Answer, Failure> {
    let json_ok = r.content_type.is_empty()
        || r.content_type.starts_with("application/fhir+json")
        || r.content_type.starts_with("application/json");
    if !json_ok {
        return Err(Failure::not_supported(
            415,
            "post a batch Bundle as application/fhir+json",
        ));
    }
    let bundle: Value = serde_json::from_slice(r.body)
        .map_err(|e| Failure::invalid(format!("the body is not JSON: {e}")))?;
    if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return Err(Failure::invalid(
            "post a Bundle of type batch to the base (this sandbox creates nothing)",
        ));
    }
    match bundle.get("type").and_then(Value::as_str) {
        Some("batch") => {}
        Some("transaction") => {
            return Err(Failure::not_supported(
                400,
                "this sandbox is read-only: transactions are refused; post a batch of GET requests",
            ))
        }
        other => {
            return Err(Failure::invalid(format!(
                "the Bundle's type must be batch, not {}",
                other.map_or("(none)".to_owned(), |t| t.chars().take(40).collect())
            )))
        }
    }
    let entries = match bundle.get("entry") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(e)) => e.as_slice(),
        Some(_) => return Err(Failure::invalid("Bundle.entry must be a list")),
    };
    if entries.len() > MAX_BATCH_ENTRIES {
        return Err(Failure {
            status: 400,
            code: "too-costly",
            diagnostics: format!(
                "a batch may hold at most {MAX_BATCH_ENTRIES} entries (this one has {})",
                entries.len()
            ),
        });
    }
    let answers = answer_entries(ward, entries, r.base, MAX_BATCH_RESOURCES);
    tracing::debug!(entries = answers.len(), "sandbox batch");
    let mut bundle = json!({"resourceType": "Bundle", "type": "batch-response"});
    bundle["entry"] = Value::Array(answers);
    Ok(Answer::ok(bundle))
}

/// The `batch-response` entries, in order; at most `budget` resources in all.
fn answer_entries(
    ward: &Ward,
    entries: &[Value],
    base: Option<&str>,
    mut budget: usize,
) -> Vec<Value> {
    entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let mut answer = batch_entry(ward, i, entry, base);
            let size = match answer.body.get("entry").and_then(Value::as_array) {
                Some(e) if answer.body["resourceType"] == "Bundle" => e.len(),
                _ => 1,
            };
            match budget.checked_sub(size) {
                Some(left) => budget = left,
                None => {
                    budget = 0;
                    answer = Failure {
                        status: 400,
                        code: "too-costly",
                        diagnostics: format!(
                            "entry {}: this batch asks for more than {} resources in all; \
                             send fewer or smaller searches",
                            i + 1,
                            MAX_BATCH_RESOURCES
                        ),
                    }
                    .into();
                }
            }
            let mut response = Map::new();
            response.insert("status".into(), Value::String(status_line(answer.status)));
            let mut e = Map::new();
            if (200..300).contains(&answer.status) {
                e.insert("resource".into(), answer.body);
            } else {
                response.insert("outcome".into(), answer.body);
            }
            e.insert("response".into(), Value::Object(response));
            Value::Object(e)
        })
        .collect()
}

fn batch_entry(ward: &Ward, i: usize, entry: &Value, base: Option<&str>) -> Answer {
    let n = i + 1;
    let request = entry.get("request");
    let method = request
        .and_then(|r| r.get("method"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some(url) = request.and_then(|r| r.get("url")).and_then(Value::as_str) else {
        return Failure::invalid(format!("entry {n}: request.url is missing")).into();
    };
    if !matches!(method, "GET" | "HEAD") {
        let shown: String = method.chars().take(20).collect();
        return read_only(&format!(
            "entry {n}: {}",
            if shown.is_empty() {
                "a request without a method"
            } else {
                &shown
            }
        ))
        .into();
    }
    // Relative to the base; an absolute URL only if it is under our base.
    let relative = match base.and_then(|b| url.strip_prefix(b)) {
        Some(rest) => rest,
        None if url.starts_with("http://") || url.starts_with("https://") => {
            return Failure::invalid(format!(
                "entry {n}: the URL is not under this server's base; use a relative URL such as Patient/123"
            ))
            .into();
        }
        None => url,
    };
    let (path, query) = relative.split_once('?').unwrap_or((relative, ""));
    let params = parse_query(query);
    if let Err(f) = check_format(&params) {
        return f.into();
    }
    get(ward, &segments(path), &params, base)
}

fn capability_statement(ward: &Ward, base: Option<&str>) -> Value {
    let resources: Vec<Value> = Kind::ALL
        .iter()
        .map(|&kind| {
            let params: Vec<Value> = params_of(kind)
                .into_iter()
                .map(|(name, kind, doc)| json!({"name": name, "type": kind, "documentation": doc}))
                .collect();
            let mut r = json!({
                "type": kind.name(),
                "interaction": [{"code": "read"}, {"code": "search-type"}],
                "searchParam": params
            });
            if let Some((_, sorts)) = SORTS.iter().find(|(k, _)| *k == kind.name()) {
                r["documentation"] = json!(format!("_sort by {sorts}"));
            }
            r
        })
        .collect();
    let mut implementation = json!({
        "description": "Rounds sandbox: a generated hospital ward for demos and training (read-only; not a FHIR server)"
    });
    if let Some(base) = base {
        implementation["url"] = json!(base);
    }
    json!({
        "resourceType": "CapabilityStatement",
        "id": "rounds-sandbox",
        "name": "RoundsSandbox",
        "title": "Rounds sandbox EHR",
        "status": "active",
        "experimental": true,
        "date": crate::text::date(ward.spec().now.date()),
        "publisher": "Rounds",
        "description": "A demo and training sandbox, not a FHIR server: a generated, fictional hospital ward \
                        served read-only with the queries of the Rounds FHIR contract, batch included. \
                        Open: no authentication.",
        "kind": "instance",
        "software": {"name": "rounds-sandbox", "version": env!("CARGO_PKG_VERSION")},
        "implementation": implementation,
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [{
            "mode": "server",
            "documentation": "Read and search only. Searches honour _count (default 50) and give the total; \
                              _offset pages. No authentication.",
            "resource": resources,
            "interaction": [{"code": "batch"}]
        }]
    })
}

const SORTS: &[(&str, &str)] = &[
    ("Patient", "_id, family, given, name, birthdate"),
    ("Observation", "_id, date"),
    ("Encounter", "_id, date"),
    ("Condition", "_id, recorded-date"),
    ("AllergyIntolerance", "_id, date"),
    ("MedicationRequest", "_id, authoredon"),
    ("Coverage", "_id"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WardSpec;

    #[test]
    fn a_batch_answers_with_a_bounded_number_of_resources() {
        let ward = Ward::generate(&WardSpec {
            patients: 30,
            days_of_vitals: 0,
            seed: 3,
            now: time::macros::datetime!(2025-03-14 09:30 UTC),
        });
        let entries: Vec<Value> = (0..5)
            .map(|_| json!({"request": {"method": "GET", "url": "Patient?_count=100"}}))
            .collect();
        let answers = answer_entries(&ward, &entries, None, 70);
        let statuses: Vec<&str> = answers
            .iter()
            .map(|a| a["response"]["status"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(
            statuses,
            [
                "200 OK",
                "200 OK",
                "400 Bad Request",
                "400 Bad Request",
                "400 Bad Request"
            ]
        );
        assert_eq!(answers[1]["resource"]["total"], 30);
        assert_eq!(
            answers[2]["response"]["outcome"]["issue"][0]["code"],
            "too-costly"
        );
    }

    #[test]
    fn base_urls_follow_the_mount_point_and_the_proxy() {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("ward.example:8443"));
        let inner: Uri = "/Patient?x=1".parse().unwrap_or_default();
        let outer: Uri = "/ehr/fhir/Patient?x=1".parse().unwrap_or_default();
        assert_eq!(
            base_url(&headers, &inner, &outer).as_deref(),
            Some("http://ward.example:8443/ehr/fhir")
        );
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        let root: Uri = "/".parse().unwrap_or_default();
        let outer: Uri = "/fhir/".parse().unwrap_or_default();
        assert_eq!(
            base_url(&headers, &root, &outer).as_deref(),
            Some("https://ward.example:8443/fhir")
        );
        headers.insert("host", HeaderValue::from_static("evil/path"));
        assert_eq!(base_url(&headers, &root, &outer), None);
    }
}
