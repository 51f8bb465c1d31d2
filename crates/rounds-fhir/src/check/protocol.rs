//! Contract sections 9 and 10: batch, and errors as OperationOutcomes.

use super::{CheckReport, Outcome, Requirement};
use crate::client::FhirClient;
use crate::error::FhirError;
use crate::parse;
use crate::Capabilities;

/// A batch of two reads, when batch is declared.
pub(super) async fn batch(
    report: &mut CheckReport,
    client: &FhirClient,
    caps: &Capabilities,
    pid: &str,
) {
    if caps.batch {
        let queries = vec![format!("Patient/{pid}"), format!("Patient?_id={pid}")];
        match client.post_batch(queries).await {
            Ok(entries) => {
                let first_ok = entries
                    .first()
                    .and_then(|e| e.as_ref().ok())
                    .is_some_and(|v| parse::resource_type(v) == Some("Patient"));
                let second_ok = entries
                    .get(1)
                    .and_then(|e| e.as_ref().ok())
                    .is_some_and(|v| parse::resource_type(v) == Some("Bundle"));
                report.add(
                    Requirement::Batch,
                    "batch Bundle answered by a batch-response, one entry per request, in order",
                    false,
                    if first_ok && second_ok {
                        Outcome::Pass
                    } else {
                        Outcome::Fail
                    },
                    if first_ok && second_ok {
                        "2 entries: Patient, then searchset".to_owned()
                    } else {
                        "entries missing, failed or out of order".to_owned()
                    },
                    Some(format!(
                        "POST (batch): GET Patient/{pid}, GET Patient?_id={pid}"
                    )),
                );
            }
            Err(e) => report.add(
                Requirement::Batch,
                "batch Bundle answered by a batch-response, one entry per request, in order",
                false,
                Outcome::Fail,
                e.to_string(),
                Some("POST (batch)".into()),
            ),
        }
    } else {
        report.add(
            Requirement::Batch,
            "batch Bundle answered by a batch-response",
            false,
            Outcome::NotOffered,
            "batch not declared",
            None,
        );
    }
}

/// A made-up id is an error with an OperationOutcome.
pub(super) async fn errors(report: &mut CheckReport, client: &FhirClient) {
    let missing = "rounds-check-no-such-patient";
    let request = format!("GET Patient/{missing}");
    match client.read_patient(missing).await {
        Err(FhirError::Status {
            status: 404 | 410,
            diagnostics,
            ..
        }) => report.add(
            Requirement::ErrorOutcome,
            "an error is an HTTP status with an OperationOutcome",
            false,
            if diagnostics.is_empty() {
                Outcome::Fail
            } else {
                Outcome::Pass
            },
            if diagnostics.is_empty() {
                "404 without OperationOutcome diagnostics".to_owned()
            } else {
                format!("404: {}", diagnostics.join("; "))
            },
            Some(request),
        ),
        Err(e) => report.add(
            Requirement::ErrorOutcome,
            "an error is an HTTP status with an OperationOutcome",
            false,
            Outcome::Fail,
            format!("unexpected: {e}"),
            Some(request),
        ),
        Ok(_) => report.add(
            Requirement::ErrorOutcome,
            "an error is an HTTP status with an OperationOutcome",
            false,
            Outcome::Fail,
            "a made-up id was found",
            Some(request),
        ),
    }
}
