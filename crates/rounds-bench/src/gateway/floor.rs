//! The floor of a proxy built as the gateway is built (axum in front,
//! reqwest behind, each answer read whole before it is passed on), with
//! none of the gateway's own work: no token, no rewriting, no audit. Its
//! added latency against nginx's says how much of the gateway's is the
//! HTTP stack itself.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// A pass-through proxy to `upstream` on a thread and Tokio runtime of
/// its own (as the gateways and nginx are apart from the callers).
pub(super) struct PassThrough {
    pub(super) base: String,
    stop: Option<(
        tokio::sync::oneshot::Sender<()>,
        std::thread::JoinHandle<()>,
    )>,
}

impl PassThrough {
    pub(super) fn start(upstream: &str) -> anyhow::Result<Self> {
        let url = url::Url::parse(upstream)?;
        let origin = url.origin().ascii_serialization();
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_multi_thread()
                .thread_name("pass")
                .enable_all()
                .build()
            else {
                eprintln!("pass-through: cannot start its runtime");
                return;
            };
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    eprintln!("pass-through: cannot listen");
                    return;
                };
                let http = reqwest::Client::new();
                let app = axum::Router::new().fallback(move |request: Request| {
                    let (http, origin) = (http.clone(), origin.clone());
                    async move { pass(&http, &origin, request).await }
                });
                let stopped = async {
                    let _ = stop_rx.await;
                };
                if let Err(e) = axum::serve(listener, app)
                    .with_graceful_shutdown(stopped)
                    .await
                {
                    eprintln!("pass-through: {e}");
                }
            });
        });
        Ok(Self {
            base: format!("http://{addr}{}", url.path().trim_end_matches('/')),
            stop: Some((stop_tx, thread)),
        })
    }

    pub(super) fn stop(mut self) {
        if let Some((tx, thread)) = self.stop.take() {
            let _ = tx.send(());
            let _ = thread.join();
        }
    }
}

/// The request sent on to the same path at `origin`; the answer's status,
/// content type and body passed back.
async fn pass(http: &reqwest::Client, origin: &str, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let Ok(body) = axum::body::to_bytes(body, 16 << 20).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let mut sent = http
        .request(parts.method, format!("{origin}{path}"))
        .body(body);
    if let Some(ct) = parts.headers.get(header::CONTENT_TYPE) {
        sent = sent.header(header::CONTENT_TYPE, ct.clone());
    }
    let Ok(answer) = sent.send().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let status = answer.status();
    let content_type = answer.headers().get(header::CONTENT_TYPE).cloned();
    let Ok(bytes) = answer.bytes().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let mut out = Response::new(Body::from(bytes));
    *out.status_mut() = status;
    if let Some(ct) = content_type {
        out.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    out
}
