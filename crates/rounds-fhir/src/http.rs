//! The transport: one place that sends requests, bounds time and size,
//! attaches the token, renews it once on 401, backs off on 429/503, and turns
//! every answer into JSON or a typed error.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use url::Url;

use crate::auth::TokenSource;
use crate::config::ClientConfig;
use crate::error::{FhirError, RequestLabel};
use crate::outbound::{self, OutboundPolicy, PolicyResolver};
use crate::parse;

const ACCEPT_FHIR: &str =
    "application/fhir+json, application/json+fhir;q=0.9, application/json;q=0.8";

/// What goes in a request body.
#[derive(Clone, Debug)]
pub(crate) enum Body {
    None,
    /// `application/x-www-form-urlencoded`
    Form(Vec<(String, String)>),
    /// `application/fhir+json`
    Json(Value),
}

/// Builds the reqwest client: rustls, system roots plus the optional extra CA
/// file, the connect timeout, no redirects to other hosts, and a resolver
/// that only hands out addresses the outbound policy allows. A base URL the
/// policy refuses fails here, before any connection.
pub(crate) fn build_client(config: &ClientConfig) -> Result<reqwest::Client, FhirError> {
    config.outbound.check_url(&config.base_url)?;
    let mut builder = reqwest::Client::builder()
        .dns_resolver(Arc::new(PolicyResolver::new(config.outbound.clone())))
        .use_rustls_tls()
        .connect_timeout(config.connect_timeout)
        .timeout(config.request_timeout)
        .user_agent(concat!("rounds-fhir/", env!("CARGO_PKG_VERSION")))
        // A redirect could carry the bearer token elsewhere: none followed.
        .redirect(reqwest::redirect::Policy::none())
        // A proxy would resolve the EHR's host itself, past the outbound
        // policy: EHR connections go direct.
        .no_proxy();
    if let Some(path) = &config.extra_ca_file {
        let pem = std::fs::read(path).map_err(|e| {
            FhirError::Config(format!("cannot read the CA file {}: {e}", path.display()))
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            FhirError::Config(format!("the CA file {} is not PEM: {e}", path.display()))
        })?;
        if certs.is_empty() {
            return Err(FhirError::Config(format!(
                "the CA file {} holds no certificate",
                path.display()
            )));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| FhirError::Config(format!("cannot set up HTTP: {e}")))
}

/// Scheme, host and port of a URL, the unit `next` links must stay within.
pub(crate) fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// The answer's method and path as a safe label: no query string, no host.
pub(crate) fn label(method: &Method, url: &Url, base: &Url) -> RequestLabel {
    let path = url.path();
    let base_path = base.path().trim_end_matches('/');
    let rel = path.strip_prefix(base_path).unwrap_or(path);
    let rel = rel.trim_start_matches('/');
    let rel = if rel.is_empty() { "(base)" } else { rel };
    // Ids in paths are not secret, but keep the label short.
    let rel: String = rel.chars().take(120).collect();
    RequestLabel(format!("{method} {rel}"))
}

/// The shared transport of one client.
#[derive(Clone)]
pub(crate) struct Http {
    pub(crate) client: reqwest::Client,
    /// The base URL, ending in `/` so that relative references join under it.
    pub(crate) base: Url,
    timeout: Duration,
    max_bytes: usize,
    max_retries: u32,
    max_retry_wait: Duration,
    /// Checked before each request (IP-literal hosts skip the resolver).
    outbound: Arc<OutboundPolicy>,
    pub(crate) tokens: Option<Arc<TokenSource>>,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("base", &self.base.as_str())
            .field("authenticated", &self.tokens.is_some())
            .finish()
    }
}

impl Http {
    /// Where requests may go.
    pub(crate) fn outbound(&self) -> &OutboundPolicy {
        &self.outbound
    }
}

impl Http {
    pub(crate) fn new(client: reqwest::Client, config: &ClientConfig) -> Self {
        let mut base = config.base_url.clone();
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Http {
            client,
            base,
            timeout: config.request_timeout,
            max_bytes: config.max_response_bytes,
            max_retries: config.max_retries,
            max_retry_wait: config.max_retry_wait,
            outbound: config.outbound.clone(),
            tokens: None,
        }
    }

    /// `relative` (e.g. `Patient/1` or `Observation?patient=1`) under the base.
    pub(crate) fn url(&self, relative: &str) -> Result<Url, FhirError> {
        let url = self
            .base
            .join(relative.trim_start_matches('/'))
            .map_err(|e| FhirError::Config(format!("cannot build a request URL: {e}")))?;
        if !same_origin(&url, &self.base) {
            return Err(FhirError::ForeignLink {
                origin: url.origin().ascii_serialization(),
            });
        }
        Ok(url)
    }

    /// An absolute link from the server (a `next` page): only on our origin.
    pub(crate) fn checked_link(&self, link: &str) -> Result<Url, FhirError> {
        let url = self.base.join(link).map_err(|e| FhirError::Malformed {
            request: RequestLabel("link".into()),
            detail: format!("a paging link is not a URL: {e}"),
        })?;
        if !same_origin(&url, &self.base) {
            return Err(FhirError::ForeignLink {
                origin: url.origin().ascii_serialization(),
            });
        }
        Ok(url)
    }

    /// Sends without a token (discovery).
    pub(crate) async fn get_public(&self, url: Url) -> Result<Value, FhirError> {
        self.send_inner(Method::GET, url, &Body::None, false).await
    }

    /// Sends with the token when the client authenticates.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: Url,
        body: &Body,
    ) -> Result<Value, FhirError> {
        self.send_inner(method, url, body, true).await
    }

    async fn send_inner(
        &self,
        method: Method,
        url: Url,
        body: &Body,
        authenticate: bool,
    ) -> Result<Value, FhirError> {
        let request = label(&method, &url, &self.base);
        let tokens = if authenticate {
            self.tokens.as_ref()
        } else {
            None
        };
        let mut renewed = false;
        let mut retries = 0;
        loop {
            let token = match tokens {
                Some(t) => Some(t.token(&self.client, &self.outbound).await?),
                None => None,
            };
            let attempt = self.attempt(&method, &url, body, token.as_ref().map(|t| t.expose()));
            match attempt.await {
                Err(err) if err.status() == Some(401) && token.is_some() => {
                    if renewed {
                        return Err(FhirError::AuthRefused {
                            detail: format!(
                                "{request}: the server refused a freshly issued token (HTTP 401)"
                            ),
                        });
                    }
                    if let (Some(t), Some(used)) = (tokens, token.as_ref()) {
                        t.invalidate(used).await;
                    }
                    renewed = true;
                    tracing::debug!(%request, "HTTP 401: renewing the token once");
                }
                Err(err)
                    if matches!(err.status(), Some(429 | 503)) && retries < self.max_retries =>
                {
                    let wait = err
                        .retry_after()
                        .unwrap_or_else(|| Duration::from_millis(250 * 2u64.pow(retries)));
                    if wait > self.max_retry_wait {
                        return Err(err);
                    }
                    retries += 1;
                    tracing::debug!(%request, wait_ms = wait.as_millis() as u64, "backing off");
                    tokio::time::sleep(wait).await;
                }
                other => return other,
            }
        }
    }

    async fn attempt(
        &self,
        method: &Method,
        url: &Url,
        body: &Body,
        token: Option<&str>,
    ) -> Result<Value, FhirError> {
        let request = label(method, url, &self.base);
        self.outbound.check_url(url)?;
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(ACCEPT_FHIR));
        if let Some(token) = token {
            let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                FhirError::AuthRefused {
                    detail: "the token endpoint issued a token that is not a header value".into(),
                }
            })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let mut builder = self
            .client
            .request(method.clone(), url.clone())
            .headers(headers);
        builder = match body {
            Body::None => builder,
            Body::Form(pairs) => builder.form(pairs),
            Body::Json(value) => builder.header(CONTENT_TYPE, "application/fhir+json").body(
                serde_json::to_vec(value)
                    .map_err(|e| FhirError::Config(format!("cannot encode the request: {e}")))?,
            ),
        };
        let fut = async {
            let response = builder
                .send()
                .await
                .map_err(|e| send_error(&request, e, self.timeout))?;
            let status = response.status();
            let retry_after = retry_after(response.headers());
            let bytes = read_bounded(response, self.max_bytes, &request, self.timeout).await?;
            Ok::<_, FhirError>((status, retry_after, bytes))
        };
        let (status, retry_after, bytes) =
            tokio::time::timeout(self.timeout, fut)
                .await
                .map_err(|_| FhirError::Timeout {
                    request: request.clone(),
                    after: self.timeout,
                })??;
        if !status.is_success() {
            return Err(status_error(&request, status, retry_after, &bytes));
        }
        parse::json_object(&bytes, &request)
    }
}

/// A failed send as a [`FhirError`]: the outbound policy's refusal (from the
/// resolver) as a configuration error, anything else classified as usual.
pub(crate) fn send_error(
    request: &RequestLabel,
    err: reqwest::Error,
    timeout: Duration,
) -> FhirError {
    match outbound::refusal_in(&err) {
        Some(refused) => refused,
        None => FhirError::from_reqwest(request, err, timeout),
    }
}

/// Reads the body, refusing it as soon as it passes `max` bytes.
pub(crate) async fn read_bounded(
    mut response: reqwest::Response,
    max: usize,
    request: &RequestLabel,
    timeout: Duration,
) -> Result<Vec<u8>, FhirError> {
    if let Some(len) = response.content_length() {
        if len > max as u64 {
            return Err(FhirError::malformed(
                request,
                format!("the response is {len} bytes, more than the limit of {max}"),
            ));
        }
    }
    let mut out = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| FhirError::from_reqwest(request, e, timeout))?
    {
        if out.len() + chunk.len() > max {
            return Err(FhirError::malformed(
                request,
                format!("the response is more than the limit of {max} bytes"),
            ));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// `Retry-After`: delay-seconds, or an HTTP-date (read as the time left
/// until then, zero if it has passed). Capped at a day.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let secs: u64 = match value.parse() {
        Ok(secs) => secs,
        Err(_) => {
            let at =
                time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822)
                    .ok()?;
            let left = at - time::OffsetDateTime::now_utc();
            u64::try_from(left.whole_seconds()).unwrap_or(0)
        }
    };
    Some(Duration::from_secs(secs.min(24 * 3600)))
}

fn status_error(
    request: &RequestLabel,
    status: StatusCode,
    retry_after: Option<Duration>,
    bytes: &[u8],
) -> FhirError {
    let diagnostics = parse::json_object(bytes, request)
        .map(|v| parse::outcome_diagnostics(&v))
        .unwrap_or_default();
    FhirError::Status {
        request: request.clone(),
        status: status.as_u16(),
        diagnostics,
        retry_after,
    }
}

#[cfg(test)]
mod tests {
    use super::retry_after;
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
    use std::time::Duration;

    fn after(value: &str) -> Option<Duration> {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(value).ok()?);
        retry_after(&headers)
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        assert_eq!(after("120"), Some(Duration::from_secs(120)));
        assert_eq!(
            after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO),
            "a date in the past"
        );
        let soon = time::OffsetDateTime::now_utc() + time::Duration::seconds(90);
        let text = soon
            .format(&time::format_description::well_known::Rfc2822)
            .unwrap_or_default();
        let waited = after(&text).unwrap_or_default();
        assert!(
            waited >= Duration::from_secs(85) && waited <= Duration::from_secs(90),
            "{text}: {waited:?}"
        );
        assert_eq!(after("soon"), None);
    }

    use super::*;

    #[test]
    fn origins() {
        let a = Url::parse("http://h:8090/fhir/").unwrap();
        let same = Url::parse("http://h:8090/other?x").unwrap();
        let port = Url::parse("http://h:8091/fhir/").unwrap();
        let scheme = Url::parse("https://h:8090/fhir/").unwrap();
        let host = Url::parse("http://evil:8090/fhir/").unwrap();
        assert!(same_origin(&a, &same));
        assert!(!same_origin(&a, &port));
        assert!(!same_origin(&a, &scheme));
        assert!(!same_origin(&a, &host));
    }

    #[test]
    fn labels_have_no_query() {
        let base = Url::parse("http://h/fhir/").unwrap();
        let url = Url::parse("http://h/fhir/Patient?family=Secret&identifier=MRN1").unwrap();
        let l = label(&Method::GET, &url, &base);
        assert_eq!(l.0, "GET Patient");
        assert_eq!(label(&Method::POST, &base, &base).0, "POST (base)");
    }
}
