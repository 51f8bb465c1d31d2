//! Contract section 1: discovery (`metadata`, SMART configuration) and
//! authentication.

use super::{CheckReport, Outcome, Requirement};
use crate::client::FhirClient;
use crate::Capabilities;

/// What `metadata` declares.
pub(super) async fn check(
    report: &mut CheckReport,
    client: &FhirClient,
    caps: &Capabilities,
    auth_configured: bool,
) {
    let expected = caps.version.capability_resource();
    report.add(
        Requirement::MetadataAnswers,
        "metadata answers without authentication with a known FHIR version",
        true,
        Outcome::Pass,
        format!(
            "{} {} ({})",
            caps.resource_type, caps.fhir_version, caps.version
        ),
        Some("GET metadata".into()),
    );
    report.add(
        Requirement::MetadataResourceType,
        format!("metadata is a {expected} for FHIR {}", caps.version),
        false,
        if caps.resource_type == expected {
            Outcome::Pass
        } else {
            Outcome::Fail
        },
        format!("resourceType is {}", caps.resource_type),
        Some("GET metadata".into()),
    );
    let patient_declared = caps.resources.contains_key("Patient");
    report.add(
        Requirement::PatientDeclared,
        "rest[mode=server] declares the Patient resource",
        true,
        if patient_declared {
            Outcome::Pass
        } else if caps.resources.is_empty() {
            Outcome::NotOffered
        } else {
            Outcome::Fail
        },
        if caps.resources.is_empty() {
            "not declared: the server declares no resources at all (the reads below test Patient anyway)"
                .to_owned()
        } else {
            format!("{} resource types declared", caps.resources.len())
        },
        Some("GET metadata".into()),
    );
    report.add(
        Requirement::BatchDeclared,
        "batch interaction declared",
        false,
        if caps.batch {
            Outcome::Pass
        } else {
            Outcome::NotOffered
        },
        if caps.batch {
            "declared"
        } else {
            "not declared: queries go as concurrent GETs"
        },
        Some("GET metadata".into()),
    );
    let oauth = match (&caps.oauth.token, &caps.oauth.authorize) {
        (Some(t), Some(a)) => (Outcome::Pass, format!("token {t}, authorize {a}")),
        (Some(t), None) => (Outcome::Pass, format!("token {t} (no authorize)")),
        _ if auth_configured => (
            Outcome::Fail,
            "authentication is configured but metadata names no token endpoint".to_owned(),
        ),
        _ => (
            Outcome::NotOffered,
            "no oauth-uris extension (open server?)".to_owned(),
        ),
    };
    report.add(
        Requirement::OauthUris,
        "security oauth-uris extension (token, authorize)",
        false,
        oauth.0,
        oauth.1,
        Some("GET metadata".into()),
    );
    report.add(
        Requirement::SmartConfiguration,
        ".well-known/smart-configuration",
        false,
        if caps.smart.is_some() {
            Outcome::Pass
        } else {
            Outcome::NotOffered
        },
        match &caps.smart {
            Some(s) => format!("token endpoint {}", s.token.as_deref().unwrap_or("(none)")),
            None => "not published".to_owned(),
        },
        Some("GET .well-known/smart-configuration".into()),
    );
    token(report, client).await;
}

/// With authentication configured: whether a token is issued.
async fn token(report: &mut CheckReport, client: &FhirClient) {
    if let Some(ts) = client.token_source() {
        let url = ts.token_url().to_string();
        let (outcome, reason) = match client.obtain_token().await {
            Ok(()) => (Outcome::Pass, format!("token endpoint {url}")),
            Err(e) => (Outcome::Fail, format!("token endpoint {url}: {e}")),
        };
        report.add(
            Requirement::TokenIssued,
            "authentication: a token is issued",
            true,
            outcome,
            reason,
            Some(format!("POST {url}")),
        );
    }
}
