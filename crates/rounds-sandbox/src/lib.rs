//! `rounds-sandbox`: the built-in sandbox EHR behind `rounds demo`.
//!
//! A demo and training sandbox, **not a FHIR server**: a read-only FHIR R4
//! endpoint serving a generated, fictional hospital ward, answering exactly
//! the queries of the Rounds FHIR contract (`fhir-interface.md`), batch
//! included, so that Rounds' EHR mode can be shown and learnt without a real
//! EHR.
//!
//! - [`Ward::generate`] makes a ward from a [`WardSpec`] (deterministic: the
//!   same spec gives the same ward). Each inpatient has an MRN, a family
//!   doctor, an in-progress admission with a bed ("Ward 7B, Bed 12"), vital
//!   signs every 4 to 8 hours (heart rate, respiratory rate, temperature,
//!   SpO2, blood pressure; weight, height and BMI at admission, weight and
//!   BMI every morning), 1 to 4 problems, 0 to 3 allergies, 1 to 6
//!   medication orders and an insurance coverage. The first patient has a
//!   long history (14 problems, 12 orders) for showing partial sections.
//! - [`Ward::router`] serves it: `metadata`, `Patient/_search` (form) and
//!   `GET Type?...` searches with `total` and `_count`, reads, and batch
//!   Bundles of GETs. Everything else answers with an `OperationOutcome`.
//! - [`serve`] mounts it at `/fhir` and serves until told to stop.
//! - [`Ward::transaction_bundle`] gives the same ward as a `transaction`
//!   Bundle to load into a real FHIR server.
//!
//! With the default spec (36 patients, 3 days of vital signs) a ward holds
//! about 2,000 to 2,400 resources, 1,600 to 2,000 of them Observations (see
//! [`Ward::stats`]); sekmet-fhir takes a transaction of that size in about
//! 5 seconds. Ids are `w{tag}-p01` for patients and `w{tag}-p01-obs-001`,
//! `-cond-01`, `-enc`, `-alg-1`, `-med-01`, `-cov` for their resources,
//! where the tag comes from the seed.
//!
//! Searches follow FHIR's rules for the parameters the sandbox knows and
//! refuse the others (400 with an `OperationOutcome` naming the parameter)
//! rather than ignore them; `total` always counts every match, `_count`
//! (default 50, at most 1000) bounds the page and `next` links (built from
//! the request's `Host`, and `X-Forwarded-Proto` when present) page on with
//! `_offset`.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use rounds_sandbox::{serve, Ward, WardSpec};
//! let ward = Ward::generate(&WardSpec::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8090").await?;
//! // http://127.0.0.1:8090/fhir is now a FHIR R4 base URL.
//! serve(listener, ward, async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

#![warn(missing_docs)]

mod catalog;
mod generate;
mod rng;
mod search;
mod server;
mod text;
mod ward;

use std::future::Future;

pub use generate::MRN_SYSTEM;
pub use server::{MAX_BATCH_ENTRIES, MAX_BATCH_RESOURCES, MAX_BODY_BYTES};
pub use ward::{Ward, WardStats, MAX_DAYS_OF_VITALS, MAX_PATIENTS};

/// What ward to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WardSpec {
    /// Inpatients, one per bed (at most [`MAX_PATIENTS`]).
    pub patients: usize,
    /// How many days back vital signs go (at most [`MAX_DAYS_OF_VITALS`]);
    /// admissions are up to this many days (and 18 hours) old.
    pub days_of_vitals: u32,
    /// The seed: the same seed gives the same people and data. It also
    /// makes the ids (`w{tag}-p01`...), so that wards of different seeds do
    /// not collide in one server.
    pub seed: u64,
    /// "Now" for the ward: admissions and vital signs lie before it.
    pub now: time::OffsetDateTime,
}

/// The default seed.
pub const DEFAULT_SEED: u64 = 0x5EED_2024;

impl Default for WardSpec {
    /// 36 patients, 3 days of vital signs, [`DEFAULT_SEED`], now (to the
    /// minute).
    fn default() -> Self {
        let now = time::OffsetDateTime::now_utc();
        let now = time::OffsetDateTime::from_unix_timestamp(
            now.unix_timestamp() - now.unix_timestamp().rem_euclid(60),
        )
        .unwrap_or(now);
        WardSpec {
            patients: 36,
            days_of_vitals: 3,
            seed: DEFAULT_SEED,
            now,
        }
    }
}

impl Ward {
    /// The FHIR API at the router's root (`metadata`, `Patient`, ...);
    /// nest it where it should live, e.g. `Router::new().nest("/fhir", ward.router())`.
    /// Request bodies are limited to [`MAX_BODY_BYTES`].
    pub fn router(self) -> axum::Router {
        server::router(self)
    }
}

/// Serves `ward` at `/fhir` on `listener` until `shutdown` completes (then
/// finishes the requests in flight). The base URL is
/// `http://{listener address}/fhir`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    ward: Ward,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(
            base = %format!("http://{addr}/fhir"),
            ward = %ward.stats(),
            "sandbox EHR serving"
        );
    }
    let app = axum::Router::new().nest_service("/fhir", ward.router());
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
