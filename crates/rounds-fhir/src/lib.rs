//! `rounds-fhir`: the read-only FHIR client of Rounds.
//!
//! It knows FHIR servers, not teams or lists. One [`FhirClient`] talks to one
//! server: it reads `metadata` once ([`discover`]), authenticates as
//! configured ([`AuthConfig`]: none, OAuth 2.0 client credentials, SMART
//! Backend Services), and runs the queries of the Rounds FHIR contract for
//! DSTU2, STU3, R4 (and R4B/R5), giving version-neutral records:
//!
//! - [`FhirClient::search_patients`]: `POST Patient/_search`, GET fallback
//! - [`FhirClient::read_patient`]
//! - [`FhirClient::summary`] / [`FhirClient::summaries`]: a [`PatientSummary`]
//!   per patient whose sections (vitals, conditions, last encounter,
//!   allergies, medications, coverage) each carry a [`SectionStatus`]
//!
//! Several queries go out as batch Bundles where the server supports batch,
//! else as concurrent GETs with a bound ([`ClientConfig`]), in a
//! [`BatchShape`] that [`FhirClient::measure_shapes`] chooses by timing the
//! candidates on a few patients' queries (the caller remembers it). Every answer is
//! bounded in time and size, parsed leniently (a UTF-8 BOM is fine, a field of
//! the wrong type is absent data) and never trusted to belong to the patient
//! asked for: resources naming another patient are dropped and counted.
//!
//! Errors are one enum, [`FhirError`], that never holds a secret or a query
//! string; secrets are [`Secret`]s, which print as `[redacted]`.
//!
//! The client connects only where its [`OutboundPolicy`] allows: never to
//! link-local or cloud metadata addresses, and only inside the site's
//! allowed ranges when it lists some (the base URL is typed by a team owner).
//!
//! [`check`] runs the contract checker behind `rounds ehr check`.

#![warn(missing_docs)]

mod auth;
pub mod check;
mod client;
mod config;
mod discovery;
mod error;
mod exec;
#[doc(hidden)]
pub mod fuzzing;
mod http;
pub mod model;
mod outbound;
pub mod parse;
mod query;
mod secret;
mod shape;
mod summary;
mod version;

pub use auth::{AccessToken, AuthConfig, ClientAuthMethod, JwtAlgorithm, TokenSource};
pub use client::{discover, FhirClient, PatientSearch};
pub use config::{parse_base_url, BatchMode, ClientConfig};
pub use discovery::{Capabilities, OAuthEndpoints, ResourceSupport};
pub use error::{FhirError, RequestLabel};
pub use exec::Path;
/// CIDR ranges for [`OutboundPolicy::allowed`].
pub use ipnet::IpNet;
pub use model::Patient;
pub use outbound::{OutboundPolicy, PolicyResolver};
pub use query::{check_id, PatientQuery};
pub use secret::Secret;
pub use shape::{
    BatchShape, ShapeMeasurement, ShapeParseError, ShapeTrial, MAX_IN_FLIGHT, SAMPLE_PATIENTS,
};
pub use summary::{PatientSummary, Section, SectionKind, SectionStatus};
pub use version::FhirVersion;
