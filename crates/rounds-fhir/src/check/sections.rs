//! Contract sections 3-8: the sections of a summary, searched for the patient.

use serde_json::Value;

use super::{CheckReport, Outcome, Requirement};
use crate::client::FhirClient;
use crate::model;
use crate::parse::{self, SearchSet};
use crate::query::section_query;
use crate::summary::SectionKind;
use crate::version::FhirVersion;
use crate::Capabilities;

/// Each section's search and what it finds.
pub(super) async fn check(
    report: &mut CheckReport,
    client: &FhirClient,
    caps: &Capabilities,
    pid: &str,
) {
    for kind in SectionKind::ALL {
        let query = match section_query(kind, caps, pid, 20) {
            Ok(q) => q,
            Err(reason) => {
                report.add(
                    Requirement::SectionSearch(kind),
                    format!("{} search", kind.name()),
                    false,
                    Outcome::NotOffered,
                    reason,
                    None,
                );
                continue;
            }
        };
        let request = format!("GET {}", query.url);
        let label = crate::error::RequestLabel(request.clone());
        let answer = client
            .get(&query.url)
            .await
            .and_then(|v| parse::search_set(v, &label));
        let set = match answer {
            Ok(set) => set,
            Err(e) if e.status() == Some(404) => {
                report.add(
                    Requirement::SectionSearch(kind),
                    format!("{} search", kind.name()),
                    false,
                    Outcome::NotOffered,
                    e.to_string(),
                    Some(request),
                );
                continue;
            }
            Err(e) => {
                report.add(
                    Requirement::SectionSearch(kind),
                    format!("{} search", kind.name()),
                    false,
                    Outcome::Fail,
                    e.to_string(),
                    Some(request),
                );
                continue;
            }
        };
        section_items(
            report,
            kind,
            &query.resource_type,
            &set,
            pid,
            caps.version,
            &request,
        );
    }
}

/// What a sample record marked entered-in-error tells (it is never shown).
const ERROR_SAMPLE: &str = "the sample record is marked entered-in-error (Rounds leaves it out)";

fn show(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("(none)")
}

#[allow(clippy::too_many_arguments)]
fn section_items(
    report: &mut CheckReport,
    kind: SectionKind,
    resource_type: &str,
    set: &SearchSet,
    pid: &str,
    version: FhirVersion,
    request: &str,
) {
    let of_type: Vec<&Value> = set
        .resources
        .iter()
        .filter(|r| parse::resource_type(r) == Some(resource_type))
        .collect();
    let foreign = of_type
        .iter()
        .filter(|r| !parse::belongs_to(r, pid))
        .count();
    report.add(
        Requirement::SectionSearch(kind),
        format!("{} search ({resource_type})", kind.name()),
        false,
        Outcome::Pass,
        format!(
            "{} resources{}",
            of_type.len(),
            set.total
                .map(|t| format!(", total {t}"))
                .unwrap_or_default()
        ),
        Some(request.to_owned()),
    );
    report.add(
        Requirement::SectionBelongs(kind),
        format!(
            "{} belong to the patient (subject/patient/beneficiary)",
            kind.name()
        ),
        false,
        if foreign == 0 {
            Outcome::Pass
        } else {
            Outcome::Fail
        },
        if foreign == 0 {
            "all reference the patient".to_owned()
        } else {
            format!(
                "{foreign} of {} name another patient (search parameter ignored?)",
                of_type.len()
            )
        },
        Some(request.to_owned()),
    );
    let Some(sample) = of_type.iter().find(|r| parse::belongs_to(r, pid)) else {
        report.add(
            Requirement::SectionFields(kind),
            format!("{} fields readable", kind.name()),
            false,
            Outcome::NotOffered,
            "no data for this patient to read fields from",
            Some(request.to_owned()),
        );
        return;
    };
    let (ok, what) = sample_fields(kind, sample, &of_type, version);
    report.add(
        Requirement::SectionFields(kind),
        format!("{} fields readable", kind.name()),
        false,
        if ok { Outcome::Pass } else { Outcome::Fail },
        what,
        Some(request.to_owned()),
    );
}

/// Whether the sample record of `kind` has the field Rounds shows, and
/// what it holds.
fn sample_fields(
    kind: SectionKind,
    sample: &Value,
    of_type: &[&Value],
    version: FhirVersion,
) -> (bool, String) {
    match kind {
        SectionKind::Vitals => {
            let known = of_type.iter().filter_map(|r| model::vital_sign(r)).count();
            (
                known > 0,
                format!("{known} observations with a contract LOINC code"),
            )
        }
        SectionKind::Conditions => match model::condition(sample, version) {
            Some(c) => (
                c.display.is_some(),
                format!(
                    "code {}, recorded {}, status {}, verification {}, severity {}",
                    show(&c.display),
                    show(&c.recorded),
                    show(&c.clinical_status),
                    show(&c.verification_status),
                    show(&c.severity)
                ),
            ),
            None => (true, ERROR_SAMPLE.to_owned()),
        },
        SectionKind::Encounter => match model::encounter(sample, version) {
            Some(e) => (
                e.location_text().is_some(),
                format!(
                    "status {}, location {}",
                    show(&e.status),
                    show(&e.location_text())
                ),
            ),
            None => (true, ERROR_SAMPLE.to_owned()),
        },
        SectionKind::Allergies => match model::allergy(sample, version) {
            Some(a) => (
                a.substance.is_some(),
                format!(
                    "substance {}, status {}, verification {}",
                    show(&a.substance),
                    show(&a.clinical_status),
                    show(&a.verification_status)
                ),
            ),
            None => (true, ERROR_SAMPLE.to_owned()),
        },
        SectionKind::Medications => {
            let m = model::medication(sample, version);
            (
                m.medication.is_some(),
                format!(
                    "medication {}, written {}",
                    show(&m.medication),
                    show(&m.written)
                ),
            )
        }
        SectionKind::Coverage => match model::coverage(sample, version) {
            Some(c) => (
                c.plan.is_some() || c.payor.is_some() || c.payor_reference.is_some(),
                format!(
                    "plan {}, payor {}, status {}",
                    show(&c.plan),
                    show(&c.payor.clone().or(c.payor_reference.clone())),
                    show(&c.status)
                ),
            ),
            None => (true, ERROR_SAMPLE.to_owned()),
        },
    }
}
