//! The contract checker behind `rounds ehr check`: each requirement of the
//! Rounds FHIR contract (fhir-interface.md) as pass / fail / not offered,
//! with the reason and the request that showed it.

use serde::Serialize;
use serde_json::Value;

use crate::client::FhirClient;
use crate::config::ClientConfig;
use crate::error::FhirError;
use crate::model;
use crate::parse::{self, SearchSet};
use crate::query::{section_query, PatientQuery};
use crate::summary::SectionKind;
use crate::version::FhirVersion;

/// The verdict on one requirement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The server does what the contract asks.
    Pass,
    /// It does not (see the reason).
    Fail,
    /// The server does not offer this (optional) part.
    NotOffered,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "FAIL",
            Outcome::NotOffered => "not offered",
        })
    }
}

/// One requirement and what the server did.
#[derive(Clone, Debug, Serialize)]
pub struct CheckItem {
    /// The contract's section, e.g. `2` (Patient).
    pub section: &'static str,
    /// What the contract asks, in a line.
    pub requirement: String,
    /// A failed mandatory requirement fails the whole check.
    pub mandatory: bool,
    /// The verdict.
    pub outcome: Outcome,
    /// Why: what the server answered.
    pub reason: String,
    /// The request that showed it (method and path with query).
    pub request: Option<String>,
}

/// All verdicts for one server.
#[derive(Clone, Debug, Serialize)]
pub struct CheckReport {
    /// The FHIR base URL checked.
    pub base: String,
    /// The version `metadata` named, if it answered.
    pub version: Option<FhirVersion>,
    /// The verdicts, in the contract's order.
    pub items: Vec<CheckItem>,
    /// What `metadata` declared, if it answered (not in the JSON report:
    /// the verdicts say it).
    #[serde(skip)]
    pub capabilities: Option<crate::Capabilities>,
}

impl CheckReport {
    /// Whether a mandatory requirement failed.
    pub fn mandatory_failed(&self) -> bool {
        self.items
            .iter()
            .any(|i| i.mandatory && i.outcome == Outcome::Fail)
    }

    /// How many requirements got `outcome`.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.items.iter().filter(|i| i.outcome == outcome).count()
    }

    fn add(
        &mut self,
        section: &'static str,
        requirement: impl Into<String>,
        mandatory: bool,
        outcome: Outcome,
        reason: impl Into<String>,
        request: Option<String>,
    ) {
        self.items.push(CheckItem {
            section,
            requirement: requirement.into(),
            mandatory,
            outcome,
            reason: reason.into(),
            request,
        });
    }
}

const PATIENT_PARAMS: [&str; 7] = [
    "_id",
    "family",
    "given",
    "name",
    "birthdate",
    "gender",
    "identifier",
];

/// Checks the server at `config.base_url` against the contract. `patient`
/// names the Patient to read sections of; without it, the first one a
/// search finds is used.
pub async fn check(config: ClientConfig, patient: Option<String>) -> CheckReport {
    let mut report = CheckReport {
        base: config.base_url.to_string(),
        version: None,
        items: Vec::new(),
        capabilities: None,
    };
    let auth_configured = !matches!(config.auth, crate::auth::AuthConfig::None);
    let client = match FhirClient::connect(config).await {
        Ok(c) => c,
        Err(e) => {
            let mandatory = !matches!(e, FhirError::Config(_)) || !auth_configured;
            report.add(
                "1",
                "metadata answers without authentication with a known FHIR version",
                mandatory,
                Outcome::Fail,
                e.to_string(),
                Some("GET metadata".into()),
            );
            return report;
        }
    };
    let caps = client.capabilities().clone();
    report.version = Some(caps.version);
    report.capabilities = Some(caps.clone());
    let expected = caps.version.capability_resource();
    report.add(
        "1",
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
        "1",
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
        "1",
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
        "1",
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
        "1",
        "security oauth-uris extension (token, authorize)",
        false,
        oauth.0,
        oauth.1,
        Some("GET metadata".into()),
    );
    report.add(
        "1",
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
    if let Some(ts) = client.token_source() {
        let url = ts.token_url().to_string();
        let (outcome, reason) = match client.obtain_token().await {
            Ok(()) => (Outcome::Pass, format!("token endpoint {url}")),
            Err(e) => (Outcome::Fail, format!("token endpoint {url}: {e}")),
        };
        report.add(
            "1",
            "authentication: a token is issued",
            true,
            outcome,
            reason,
            Some(format!("POST {url}")),
        );
    }
    // Declared by name (a DSTU2 server declares `family`; we search with
    // its `:contains` modifier).
    let undeclared: Vec<&str> = PATIENT_PARAMS
        .iter()
        .copied()
        .filter(|p| !caps.declares_param("Patient", p))
        .collect();
    report.add(
        "2",
        "Patient search parameters declared (_id, family, given, name, birthdate, gender, identifier)",
        false,
        if undeclared.is_empty() { Outcome::Pass } else { Outcome::Fail },
        if undeclared.is_empty() { "all declared".to_owned() } else { format!("not declared: {}", undeclared.join(", ")) },
        Some("GET metadata".into()),
    );

    // Patient search, with the total.
    let search_request = "POST Patient/_search (_count=5)".to_owned();
    let search = client
        .search_patients(&PatientQuery {
            count: Some(5),
            ..Default::default()
        })
        .await;
    let mut first_patient = None;
    match &search {
        Ok(s) => {
            report.add(
                "2",
                "Patient search (POST _search, form-encoded; GET when refused)",
                true,
                Outcome::Pass,
                if s.via_post {
                    format!(
                        "POST accepted, {} patients on the first page",
                        s.patients.len()
                    )
                } else {
                    format!("POST refused; GET answered, {} patients", s.patients.len())
                },
                Some(if s.via_post {
                    search_request.clone()
                } else {
                    "GET Patient?_count=5".into()
                }),
            );
            report.add(
                "2",
                "search Bundle carries total",
                false,
                if s.total.is_some() {
                    Outcome::Pass
                } else {
                    Outcome::Fail
                },
                match s.total {
                    Some(t) => format!("total {t}"),
                    None => "no total".into(),
                },
                Some(search_request.clone()),
            );
            first_patient = s.patients.first().map(|p| p.id.clone());
        }
        Err(e) => report.add(
            "2",
            "Patient search (POST _search, form-encoded; GET when refused)",
            true,
            Outcome::Fail,
            e.to_string(),
            Some(search_request.clone()),
        ),
    }

    let Some(pid) = patient.or(first_patient) else {
        report.add(
            "2",
            "Patient read",
            true,
            Outcome::Fail,
            "no patient to read: the search found none and none was given (--patient)",
            None,
        );
        return report;
    };
    let read_request = format!("GET Patient/{pid}");
    let p = match client.read_patient(&pid).await {
        Ok(p) => {
            report.add(
                "2",
                "Patient read",
                true,
                Outcome::Pass,
                format!("{} ({})", p.display_name(), p.id),
                Some(read_request.clone()),
            );
            p
        }
        Err(e) => {
            report.add(
                "2",
                "Patient read",
                true,
                Outcome::Fail,
                e.to_string(),
                Some(read_request),
            );
            return report;
        }
    };
    // Every field below is optional data: its absence in this record is
    // "not offered", as with the optional sections, never a failure.
    let present = |v: bool, what: &str| {
        if v {
            (Outcome::Pass, format!("{what} present"))
        } else {
            (
                Outcome::NotOffered,
                format!("no {what} in this patient's record"),
            )
        }
    };
    for (req, (outcome, reason)) in [
        (
            "Patient name (family, given)",
            present(p.family.is_some() || !p.given.is_empty(), "name"),
        ),
        (
            "Patient gender and birthDate",
            present(
                p.gender.is_some() && p.birth_date.is_some(),
                "gender and birthDate",
            ),
        ),
        (
            "Patient MRN: identifier typed MR",
            present(p.mrn.is_some(), "identifier typed MR"),
        ),
        (
            if caps.version.is_dstu2() {
                "Patient careProvider display"
            } else {
                "Patient generalPractitioner display"
            },
            present(p.general_practitioner.is_some(), "display"),
        ),
    ] {
        report.add("2", req, false, outcome, reason, Some(read_request.clone()));
    }
    // Searches that must find this patient again.
    let mut by: Vec<(&str, PatientQuery)> = vec![(
        "_id",
        PatientQuery {
            id: Some(pid.clone()),
            ..Default::default()
        },
    )];
    if let Some(f) = &p.family {
        by.push((
            "family",
            PatientQuery {
                family: Some(f.clone()),
                ..Default::default()
            },
        ));
    }
    if let Some(g) = p.given.first() {
        by.push((
            "given",
            PatientQuery {
                given: Some(g.clone()),
                ..Default::default()
            },
        ));
    }
    if let Some(m) = &p.mrn {
        by.push((
            "identifier (MRN)",
            PatientQuery {
                identifier: Some(m.clone()),
                ..Default::default()
            },
        ));
    }
    if let (Some(b), Some(g)) = (&p.birth_date, &p.gender) {
        by.push((
            "birthdate + gender",
            PatientQuery {
                birthdate: Some(b.clone()),
                gender: Some(g.clone()),
                ..Default::default()
            },
        ));
    }
    for (what, mut q) in by {
        q.count = Some(50);
        // Parameter names only: the values are the patient's data.
        let names: Vec<String> = q.params(caps.version).into_iter().map(|(k, _)| k).collect();
        let request = format!("POST Patient/_search ({})", names.join(", "));
        match client.search_patients(&q).await {
            Ok(s) if s.patients.iter().any(|x| x.id == pid) => report.add(
                "2",
                format!("search by {what} finds the patient"),
                false,
                Outcome::Pass,
                format!(
                    "{} found, total {}",
                    s.patients.len(),
                    s.total.map_or("?".into(), |t| t.to_string())
                ),
                Some(request),
            ),
            Ok(s) => report.add(
                "2",
                format!("search by {what} finds the patient"),
                false,
                Outcome::Fail,
                format!("not among {} results", s.patients.len()),
                Some(request),
            ),
            Err(e) => report.add(
                "2",
                format!("search by {what} finds the patient"),
                false,
                Outcome::Fail,
                e.to_string(),
                Some(request),
            ),
        }
    }

    // Sections 3-8.
    for kind in SectionKind::ALL {
        let section = match kind {
            SectionKind::Vitals => "3",
            SectionKind::Conditions => "4",
            SectionKind::Encounter => "5",
            SectionKind::Allergies => "6",
            SectionKind::Medications => "7",
            SectionKind::Coverage => "8",
        };
        let query = match section_query(kind, &caps, &pid, 20) {
            Ok(q) => q,
            Err(reason) => {
                report.add(
                    section,
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
                    section,
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
                    section,
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
            &mut report,
            section,
            kind,
            &query.resource_type,
            &set,
            &pid,
            caps.version,
            &request,
        );
    }

    // 9: batch.
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
                    "9",
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
                "9",
                "batch Bundle answered by a batch-response, one entry per request, in order",
                false,
                Outcome::Fail,
                e.to_string(),
                Some("POST (batch)".into()),
            ),
        }
    } else {
        report.add(
            "9",
            "batch Bundle answered by a batch-response",
            false,
            Outcome::NotOffered,
            "batch not declared",
            None,
        );
    }

    // 10: errors are OperationOutcomes.
    let missing = "rounds-check-no-such-patient";
    let request = format!("GET Patient/{missing}");
    match client.read_patient(missing).await {
        Err(FhirError::Status {
            status: 404 | 410,
            diagnostics,
            ..
        }) => report.add(
            "10",
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
            "10",
            "an error is an HTTP status with an OperationOutcome",
            false,
            Outcome::Fail,
            format!("unexpected: {e}"),
            Some(request),
        ),
        Ok(_) => report.add(
            "10",
            "an error is an HTTP status with an OperationOutcome",
            false,
            Outcome::Fail,
            "a made-up id was found",
            Some(request),
        ),
    }
    report
}

/// What a sample record marked entered-in-error tells (it is never shown).
const ERROR_SAMPLE: &str = "the sample record is marked entered-in-error (Rounds leaves it out)";

fn show(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("(none)")
}

#[allow(clippy::too_many_arguments)]
fn section_items(
    report: &mut CheckReport,
    section: &'static str,
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
        section,
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
        section,
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
            section,
            format!("{} fields readable", kind.name()),
            false,
            Outcome::NotOffered,
            "no data for this patient to read fields from",
            Some(request.to_owned()),
        );
        return;
    };
    let (ok, what) = match kind {
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
    };
    report.add(
        section,
        format!("{} fields readable", kind.name()),
        false,
        if ok { Outcome::Pass } else { Outcome::Fail },
        what,
        Some(request.to_owned()),
    );
}
