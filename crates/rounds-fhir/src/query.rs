//! The contract's queries, per FHIR version, as relative URLs or form
//! parameters. Pure functions: no I/O.

use serde::Serialize;
use url::form_urlencoded::Serializer;

use crate::discovery::Capabilities;
use crate::error::FhirError;
use crate::summary::SectionKind;
use crate::version::FhirVersion;

/// A FHIR logical id: 1–64 of `A-Z a-z 0-9 - .`. Checked before it goes into
/// a URL path.
pub fn check_id(id: &str) -> Result<&str, FhirError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if ok {
        Ok(id)
    } else {
        Err(FhirError::Config(format!(
            "not a FHIR id: {:?}",
            id.chars().take(70).collect::<String>()
        )))
    }
}

/// Patient search criteria; empty fields are left out.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PatientQuery {
    /// `_id`.
    pub id: Option<String>,
    /// `family` (`family:contains` in DSTU2).
    pub family: Option<String>,
    /// `given`.
    pub given: Option<String>,
    /// `name` (any part).
    pub name: Option<String>,
    /// Exact birth date, `YYYY-MM-DD`.
    pub birthdate: Option<String>,
    /// `gender` code.
    pub gender: Option<String>,
    /// The MRN (or `system|value`).
    pub identifier: Option<String>,
    /// `_count`: page size.
    pub count: Option<u32>,
}

impl PatientQuery {
    /// Search parameters for this server's version.
    pub fn params(&self, version: FhirVersion) -> Vec<(String, String)> {
        let family_param = if version.is_dstu2() {
            "family:contains"
        } else {
            "family"
        };
        let fields = [
            ("_id", &self.id),
            (family_param, &self.family),
            ("given", &self.given),
            ("name", &self.name),
            ("birthdate", &self.birthdate),
            ("gender", &self.gender),
            ("identifier", &self.identifier),
        ];
        let mut out: Vec<(String, String)> = fields
            .iter()
            .filter_map(|(k, v)| {
                let v = v.as_deref()?.trim();
                (!v.is_empty()).then(|| ((*k).to_owned(), v.to_owned()))
            })
            .collect();
        if let Some(count) = self.count {
            out.push(("_count".into(), count.to_string()));
        }
        out
    }

    /// Whether no criterion is given (a search of everyone).
    pub fn is_empty(&self) -> bool {
        self.params(FhirVersion::R4)
            .iter()
            .all(|(k, _)| k.as_str() == "_count")
    }
}

/// `Type?k=v&...` with the values percent-encoded.
pub fn relative(resource_type: &str, params: &[(&str, String)]) -> String {
    let mut s = Serializer::new(String::new());
    for (k, v) in params {
        s.append_pair(k, v);
    }
    format!("{resource_type}?{}", s.finish())
}

/// One planned section query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SectionQuery {
    pub kind: SectionKind,
    pub resource_type: String,
    /// Relative to the base, e.g. `Condition?patient=1&_count=50`.
    pub url: String,
}

/// The query for one section, or why the section is missing.
pub fn section_query(
    kind: SectionKind,
    caps: &Capabilities,
    pid: &str,
    page_size: u32,
) -> Result<SectionQuery, String> {
    let v = caps.version;
    let count = page_size.to_string();
    let sort_date: (&str, String) = if v.is_dstu2() {
        ("_sort:desc", "date".into())
    } else {
        ("_sort", "-date".into())
    };
    let (rtype, params): (&str, Vec<(&str, String)>) = match kind {
        SectionKind::Vitals => (
            "Observation",
            vec![
                ("patient", pid.into()),
                ("category", "vital-signs".into()),
                sort_date,
                ("_count", count),
            ],
        ),
        SectionKind::Conditions => (
            "Condition",
            vec![("patient", pid.into()), ("_count", count)],
        ),
        SectionKind::Encounter => (
            "Encounter",
            vec![("patient", pid.into()), sort_date, ("_count", "1".into())],
        ),
        SectionKind::Allergies => (
            "AllergyIntolerance",
            vec![("patient", pid.into()), ("_count", count)],
        ),
        SectionKind::Medications => {
            let rtype = if v.is_dstu2() {
                "MedicationOrder"
            } else if caps.supports("MedicationRequest") {
                "MedicationRequest"
            } else {
                // Some STU3/R4 servers offer only statements.
                "MedicationStatement"
            };
            (rtype, vec![("patient", pid.into()), ("_count", count)])
        }
        SectionKind::Coverage => {
            let mut params = vec![(coverage_param(caps), pid.into()), ("_count", count)];
            // The payor's name comes with the Coverage where the server can.
            if caps.declares_include("Coverage", "Coverage:payor") {
                params.push(("_include", "Coverage:payor".into()));
            }
            ("Coverage", params)
        }
    };
    if !caps.supports(rtype) {
        return Err(format!("the server does not offer {rtype}"));
    }
    Ok(SectionQuery {
        kind,
        resource_type: rtype.to_owned(),
        url: relative(rtype, &params),
    })
}

/// The latest reading of one vital sign (any of `codes`, LOINC), asked for
/// on its own when the latest readings did not hold it (weight and height
/// are measured at admission).
pub fn latest_vital_query(caps: &Capabilities, pid: &str, codes: &[&str]) -> String {
    let sort: (&str, String) = if caps.version.is_dstu2() {
        ("_sort:desc", "date".into())
    } else {
        ("_sort", "-date".into())
    };
    relative(
        "Observation",
        &[
            ("patient", pid.into()),
            ("code", codes.join(",")),
            sort,
            ("_count", "1".into()),
        ],
    )
}

/// How to find a patient's Coverage: the first of the parameters this
/// version knows that the server declares; when it declares none, what the
/// version defines (R4 `beneficiary` and `patient`, STU3 `beneficiary`;
/// DSTU2 defines no patient parameter on Coverage, so its `subscriber`).
fn coverage_param(caps: &Capabilities) -> &'static str {
    let v = caps.version;
    let known: &[&'static str] = if v.is_dstu2() {
        &["beneficiary", "subscriber", "patient"]
    } else {
        &["beneficiary", "patient", "subscriber"]
    };
    known
        .iter()
        .copied()
        .find(|p| caps.declares_param("Coverage", p))
        .unwrap_or(if v.is_dstu2() {
            "subscriber"
        } else {
            "beneficiary"
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::parse_capabilities;
    use crate::error::RequestLabel;
    use serde_json::json;

    fn caps(version: &str, types: &[&str]) -> Capabilities {
        let resources: Vec<_> = types.iter().map(|t| json!({"type": t})).collect();
        let v = json!({"resourceType": if version.starts_with('1') {"Conformance"} else {"CapabilityStatement"},
            "fhirVersion": version, "rest": [{"mode": "server", "resource": resources}]});
        parse_capabilities(&v, &RequestLabel("t".into())).unwrap()
    }

    #[test]
    fn ids() {
        assert!(check_id("abc-1.2").is_ok());
        for bad in ["", "a/b", "a?b", "../x", "a b", &"x".repeat(65)] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn versions_decide_queries() {
        let d2 = caps(
            "1.0.2",
            &["Observation", "MedicationOrder", "Coverage", "Encounter"],
        );
        let q = section_query(SectionKind::Vitals, &d2, "p1", 50).unwrap();
        assert_eq!(
            q.url,
            "Observation?patient=p1&category=vital-signs&_sort%3Adesc=date&_count=50"
        );
        assert_eq!(
            section_query(SectionKind::Medications, &d2, "p1", 5)
                .unwrap()
                .resource_type,
            "MedicationOrder"
        );
        assert!(
            section_query(SectionKind::Allergies, &d2, "p1", 5).is_err(),
            "not declared: missing"
        );
        let r4 = caps("4.0.1", &["MedicationStatement", "Coverage"]);
        assert_eq!(
            section_query(SectionKind::Medications, &r4, "p1", 5)
                .unwrap()
                .resource_type,
            "MedicationStatement"
        );
        assert_eq!(
            section_query(SectionKind::Coverage, &r4, "p1", 5)
                .unwrap()
                .url,
            "Coverage?beneficiary=p1&_count=5"
        );
        let s3 = caps("3.0.1", &["Coverage", "Encounter"]);
        assert_eq!(
            section_query(SectionKind::Coverage, &s3, "p1", 5)
                .unwrap()
                .url,
            "Coverage?beneficiary=p1&_count=5",
            "STU3 defines no `patient` on Coverage"
        );
        assert_eq!(
            section_query(SectionKind::Coverage, &d2, "p1", 5)
                .unwrap()
                .url,
            "Coverage?subscriber=p1&_count=5",
            "DSTU2 defines no patient parameter on Coverage"
        );
        let declared = |version: &str, params: &[&str]| {
            let params: Vec<_> = params
                .iter()
                .map(|p| json!({"name": p, "type": "reference"}))
                .collect();
            let v = json!({"resourceType": "CapabilityStatement", "fhirVersion": version,
                "rest": [{"mode": "server", "resource": [{"type": "Coverage", "searchParam": params}]}]});
            let caps = parse_capabilities(&v, &RequestLabel("t".into())).unwrap();
            section_query(SectionKind::Coverage, &caps, "p1", 5)
                .unwrap()
                .url
        };
        assert_eq!(
            declared("1.0.2", &["beneficiary", "plan"]),
            "Coverage?beneficiary=p1&_count=5"
        );
        assert_eq!(
            declared("4.0.1", &["patient", "payor"]),
            "Coverage?patient=p1&_count=5"
        );
        assert_eq!(
            declared("3.0.1", &["subscriber"]),
            "Coverage?subscriber=p1&_count=5"
        );
        assert_eq!(
            section_query(SectionKind::Encounter, &s3, "p1", 5)
                .unwrap()
                .url,
            "Encounter?patient=p1&_sort=-date&_count=1"
        );
    }

    #[test]
    fn search_params() {
        let q = PatientQuery {
            family: Some("O'Brien & Co".into()),
            gender: Some(" ".into()),
            count: Some(5),
            ..Default::default()
        };
        assert_eq!(
            q.params(FhirVersion::Dstu2),
            vec![
                ("family:contains".to_string(), "O'Brien & Co".to_string()),
                ("_count".into(), "5".into())
            ]
        );
        assert_eq!(q.params(FhirVersion::R4)[0].0, "family");
        assert!(!q.is_empty());
        assert!(PatientQuery {
            count: Some(3),
            ..Default::default()
        }
        .is_empty());
        let rel = relative("Patient", &[("family", "a&b=c".into())]);
        assert_eq!(rel, "Patient?family=a%26b%3Dc");
    }
}
