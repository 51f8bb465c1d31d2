//! Contract section 2: searching and reading the Patient.

use super::{CheckReport, Outcome, Requirement};
use crate::client::FhirClient;
use crate::model::Patient;
use crate::query::PatientQuery;
use crate::Capabilities;

/// The Patient search parameters the contract uses, each declared by a
/// conforming server.
pub const PATIENT_PARAMS: [&str; 7] = [
    "_id",
    "family",
    "given",
    "name",
    "birthdate",
    "gender",
    "identifier",
];

/// The declared search parameters and Patient search; the id of the first
/// patient found.
pub(super) async fn search(
    report: &mut CheckReport,
    client: &FhirClient,
    caps: &Capabilities,
) -> Option<String> {
    // Declared by name (a DSTU2 server declares `family`; we search with
    // its `:contains` modifier).
    let undeclared: Vec<&str> = PATIENT_PARAMS
        .iter()
        .copied()
        .filter(|p| !caps.declares_param("Patient", p))
        .collect();
    report.add(
        Requirement::PatientSearchParams,
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
                Requirement::PatientSearch,
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
                Requirement::SearchTotal,
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
            Requirement::PatientSearch,
            "Patient search (POST _search, form-encoded; GET when refused)",
            true,
            Outcome::Fail,
            e.to_string(),
            Some(search_request.clone()),
        ),
    }
    first_patient
}

/// Patient read.
pub(super) async fn read(
    report: &mut CheckReport,
    client: &FhirClient,
    pid: &str,
) -> Option<Patient> {
    let read_request = format!("GET Patient/{pid}");
    let p = match client.read_patient(pid).await {
        Ok(p) => {
            report.add(
                Requirement::PatientRead,
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
                Requirement::PatientRead,
                "Patient read",
                true,
                Outcome::Fail,
                e.to_string(),
                Some(read_request),
            );
            return None;
        }
    };
    Some(p)
}

/// The optional fields of the Patient read.
pub(super) fn fields(report: &mut CheckReport, caps: &Capabilities, p: &Patient, pid: &str) {
    let read_request = format!("GET Patient/{pid}");
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
    for (id, req, (outcome, reason)) in [
        (
            Requirement::PatientName,
            "Patient name (family, given)",
            present(p.family.is_some() || !p.given.is_empty(), "name"),
        ),
        (
            Requirement::PatientGenderBirthDate,
            "Patient gender and birthDate",
            present(
                p.gender.is_some() && p.birth_date.is_some(),
                "gender and birthDate",
            ),
        ),
        (
            Requirement::PatientMrn,
            "Patient MRN: identifier typed MR",
            present(p.mrn.is_some(), "identifier typed MR"),
        ),
        (
            Requirement::PatientGp,
            if caps.version.is_dstu2() {
                "Patient careProvider display"
            } else {
                "Patient generalPractitioner display"
            },
            present(p.general_practitioner.is_some(), "display"),
        ),
    ] {
        report.add(id, req, false, outcome, reason, Some(read_request.clone()));
    }
}

/// Searches that must find the patient again.
pub(super) async fn searches_by(
    report: &mut CheckReport,
    client: &FhirClient,
    caps: &Capabilities,
    p: &Patient,
    pid: &str,
) {
    let mut by: Vec<(&str, PatientQuery)> = vec![(
        "_id",
        PatientQuery {
            id: Some(pid.to_owned()),
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
                Requirement::SearchFindsPatient,
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
                Requirement::SearchFindsPatient,
                format!("search by {what} finds the patient"),
                false,
                Outcome::Fail,
                format!("not among {} results", s.patients.len()),
                Some(request),
            ),
            Err(e) => report.add(
                Requirement::SearchFindsPatient,
                format!("search by {what} finds the patient"),
                false,
                Outcome::Fail,
                e.to_string(),
                Some(request),
            ),
        }
    }
}
