//! "Test connection": the FHIR contract checker's verdicts as an owner
//! sees them.

use rounds_core::validate::InvalidInput;
use rounds_core::TeamId;
use rounds_fhir::check::{CheckReport, Outcome as CheckOutcome, Requirement};
use rounds_fhir::AuthConfig;

use super::EhrConnectionSpec;
use crate::access::Need;
use crate::{Actor, App, AppError};

/// What "Test connection" found.
#[derive(Debug, Clone)]
pub struct EhrTestReport {
    pub ok: bool,
    pub version: Option<String>,
    pub fhir_version: Option<String>,
    pub auth: String,
    pub token_obtained: Option<bool>,
    pub batch: bool,
    pub resources: Vec<String>,
    pub patient_search: bool,
    pub checks: Vec<EhrCheck>,
    /// The batch shape measured during the test on a few of the server's
    /// patients, or the fixed one (None: the test could not measure).
    pub batch_shape: Option<super::BatchShapeView>,
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct EhrCheck {
    pub section: String,
    pub title: String,
    pub outcome: &'static str,
    pub detail: String,
}

impl App {
    /// "Test connection" (owners only): the saved connection, or `spec`
    /// (not saved; its omitted secrets taken from the saved one).
    pub async fn test_ehr_connection(
        &self,
        actor: &Actor,
        team: TeamId,
        spec: Option<&EhrConnectionSpec>,
    ) -> Result<EhrTestReport, AppError> {
        self.team_access(actor, team, Need::Owner, "testEhrConnection")
            .await?;
        let saved = self.stored_connection(team).await?;
        let (row, throwaway_key) = match (spec, &saved) {
            (Some(spec), saved) => self.connection_row(actor, team, spec, saved.as_ref())?,
            (None, Some(saved)) => (saved.clone(), false),
            (None, None) => {
                return Err(InvalidInput::new(
                    "baseUrl",
                    "the team has no EHR connection yet: give one to test",
                )
                .into())
            }
        };
        let config = self.client_config(&row)?;
        let shape_config = config.clone();
        let auth = config.auth.method_name().to_owned();
        let has_auth = !matches!(config.auth, AuthConfig::None);
        let report: CheckReport = rounds_fhir::check::check(config, None).await;
        let checks: Vec<EhrCheck> = report
            .items
            .iter()
            .map(|i| EhrCheck {
                section: i.section.to_owned(),
                title: i.requirement.clone(),
                outcome: match i.outcome {
                    CheckOutcome::Pass => "pass",
                    CheckOutcome::Fail => "fail",
                    CheckOutcome::NotOffered => "notOffered",
                },
                detail: i.reason.clone(),
            })
            .collect();
        let mut out = EhrTestReport {
            ok: !report.mandatory_failed(),
            version: report.version.map(|v| v.to_string()),
            fhir_version: None,
            auth,
            token_obtained: None,
            batch: false,
            resources: Vec::new(),
            patient_search: report.items.iter().any(|i| {
                i.mandatory && i.id == Requirement::PatientSearch && i.outcome == CheckOutcome::Pass
            }),
            checks,
            batch_shape: None,
            error: None,
        };
        match &report.capabilities {
            Some(caps) => {
                out.fhir_version = Some(caps.fhir_version.clone());
                out.batch = caps.batch;
                out.resources = caps.resources.keys().cloned().collect();
                out.resources.sort();
                if has_auth {
                    out.token_obtained = Some(report.items.iter().any(|i| {
                        i.id == Requirement::TokenIssued && i.outcome == CheckOutcome::Pass
                    }));
                }
            }
            None => {
                out.ok = false;
                out.error = report.items.first().map(|i| {
                    format!(
                        "Rounds could not read the EHR's metadata: {} (check the base URL, and that the server answers from where Rounds runs)",
                        i.reason
                    )
                });
            }
        }
        if out.error.is_none() && !out.ok {
            out.error = report
                .items
                .iter()
                .find(|i| i.mandatory && i.outcome == CheckOutcome::Fail)
                .map(|i| format!("{}: {}", i.requirement, i.reason));
        }
        if out.ok {
            out.batch_shape = self
                .test_shape(
                    &row,
                    shape_config,
                    spec.is_none() || saved.as_ref() == Some(&row),
                )
                .await;
        }
        if throwaway_key && !out.ok {
            out.error = Some(format!(
                "this test signed with a key pair made just for it, which the EHR cannot know: save the connection, register the public key it shows with the EHR, then test again ({})",
                out.error.unwrap_or_default()
            ));
        }
        Ok(out)
    }
}
