//! A local test responder: an axum server on 127.0.0.1:0 that records every
//! request and answers through a closure, standing in for a FHIR server.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Response, StatusCode, Uri};
use serde_json::Value;

/// One request as the responder saw it.
#[derive(Clone, Debug)]
pub struct Hit {
    pub method: String,
    /// Path and query, e.g. `/fhir/Patient?family=x`.
    pub target: String,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body: String,
}

impl Hit {
    /// The path below `/fhir/`, without the query.
    pub fn fhir_path(&self) -> &str {
        let path = self.target.split('?').next().unwrap_or_default();
        path.strip_prefix("/fhir/")
            .or_else(|| path.strip_prefix("/fhir"))
            .unwrap_or(path)
    }
    pub fn query(&self) -> &str {
        self.target
            .split_once('?')
            .map(|(_, q)| q)
            .unwrap_or_default()
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub delay: Option<Duration>,
}

impl Reply {
    pub fn json(status: u16, v: &Value) -> Reply {
        Reply::raw(status, v.to_string().into_bytes())
    }
    pub fn raw(status: u16, body: Vec<u8>) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/fhir+json".into())],
            body,
            delay: None,
        }
    }
    pub fn header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.into(), v.into()));
        self
    }
    pub fn after(mut self, d: Duration) -> Reply {
        self.delay = Some(d);
        self
    }
}

pub type Handler = Arc<dyn Fn(Hit) -> Pin<Box<dyn Future<Output = Reply> + Send>> + Send + Sync>;

/// Wraps an async closure as a handler.
pub fn handler<F, Fut>(f: F) -> Handler
where
    F: Fn(Hit) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Reply> + Send + 'static,
{
    Arc::new(move |hit| Box::pin(f(hit)))
}

/// Wraps a plain closure as a handler.
pub fn sync_handler(f: impl Fn(&Hit) -> Reply + Send + Sync + 'static) -> Handler {
    let f = Arc::new(f);
    Arc::new(move |hit| {
        let f = f.clone();
        Box::pin(async move { f(&hit) })
    })
}

#[derive(Clone)]
struct AppState {
    handler: Handler,
    hits: Arc<Mutex<Vec<Hit>>>,
}

pub struct Responder {
    /// `http://127.0.0.1:PORT/fhir`
    pub base: String,
    pub hits: Arc<Mutex<Vec<Hit>>>,
}

impl Responder {
    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }
}

async fn any(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let hit = Hit {
        method: method.to_string(),
        target: uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        authorization: header("authorization"),
        content_type: header("content-type"),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    state.hits.lock().unwrap().push(hit.clone());
    let reply = (state.handler)(hit).await;
    if let Some(d) = reply.delay {
        tokio::time::sleep(d).await;
    }
    let mut builder = Response::builder().status(StatusCode::from_u16(reply.status).unwrap());
    for (k, v) in &reply.headers {
        builder = builder.header(k, v);
    }
    builder.body(Body::from(reply.body)).unwrap()
}

/// Starts a responder on the current runtime; it lives as long as the runtime.
pub async fn start(handler: Handler) -> Responder {
    let hits = Arc::new(Mutex::new(Vec::new()));
    let app = axum::Router::new().fallback(any).with_state(AppState {
        handler,
        hits: hits.clone(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Responder {
        base: format!("http://{addr}/fhir"),
        hits,
    }
}

/// A minimal CapabilityStatement / Conformance for `version` declaring
/// `types`, with batch if asked and an oauth-uris token URL if given.
pub fn metadata(fhir_version: &str, types: &[&str], batch: bool, token_url: Option<&str>) -> Value {
    let resource_type = if fhir_version.starts_with("1.") {
        "Conformance"
    } else {
        "CapabilityStatement"
    };
    let mut rest = serde_json::json!({
        "mode": "server",
        "resource": types.iter().map(|t| serde_json::json!({"type": t, "interaction": [{"code": "read"}, {"code": "search-type"}]})).collect::<Vec<_>>(),
        "interaction": if batch { serde_json::json!([{"code": "batch"}]) } else { serde_json::json!([]) },
    });
    if let Some(token) = token_url {
        rest["security"] = serde_json::json!({"extension": [{
            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
            "extension": [{"url": "token", "valueUri": token}, {"url": "authorize", "valueUri": format!("{token}/../authorize")}]}]});
    }
    serde_json::json!({"resourceType": resource_type, "fhirVersion": fhir_version, "rest": [rest]})
}

/// A searchset Bundle of `resources`, with `total` and an optional next link.
pub fn searchset(resources: &[Value], total: Option<u64>, next: Option<&str>) -> Value {
    let mut b = serde_json::json!({"resourceType": "Bundle", "type": "searchset",
        "entry": resources.iter().map(|r| serde_json::json!({"resource": r, "search": {"mode": "match"}})).collect::<Vec<_>>()});
    if let Some(t) = total {
        b["total"] = t.into();
    }
    if let Some(n) = next {
        b["link"] = serde_json::json!([{"relation": "next", "url": n}]);
    }
    b
}
