//! The generated ward in memory: resources by patient and by id.
//!
//! (Over 500 lines with its tests; the code is under 290 lines.)

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{json, Value};

use crate::{generate, WardSpec};

/// The resource types the sandbox serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Patient,
    Encounter,
    Observation,
    Condition,
    AllergyIntolerance,
    MedicationRequest,
    Coverage,
}

impl Kind {
    pub(crate) const ALL: [Kind; 7] = [
        Kind::Patient,
        Kind::Encounter,
        Kind::Observation,
        Kind::Condition,
        Kind::AllergyIntolerance,
        Kind::MedicationRequest,
        Kind::Coverage,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Patient => "Patient",
            Kind::Encounter => "Encounter",
            Kind::Observation => "Observation",
            Kind::Condition => "Condition",
            Kind::AllergyIntolerance => "AllergyIntolerance",
            Kind::MedicationRequest => "MedicationRequest",
            Kind::Coverage => "Coverage",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    fn slot(self) -> usize {
        self as usize
    }
}

/// One patient and everything of theirs, by type.
#[derive(Clone, Debug)]
pub(crate) struct Record {
    lists: [Vec<Value>; 7],
}

impl Record {
    pub(crate) fn new(patient: Value) -> Self {
        let mut lists: [Vec<Value>; 7] = Default::default();
        lists[Kind::Patient.slot()].push(patient);
        Record { lists }
    }

    pub(crate) fn push(&mut self, kind: Kind, resource: Value) {
        if let Some(list) = self.lists.get_mut(kind.slot()) {
            list.push(resource);
        }
    }

    /// This patient's resources of one type, in the order made.
    pub(crate) fn of(&self, kind: Kind) -> &[Value] {
        self.lists
            .get(kind.slot())
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    fn all(&self) -> impl Iterator<Item = &Value> {
        self.lists.iter().flatten()
    }
}

/// How many resources of each type a ward holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct WardStats {
    /// Patients (one per bed).
    pub patients: usize,
    /// Encounters (one in-progress admission per patient).
    pub encounters: usize,
    /// Vital-sign Observations.
    pub observations: usize,
    /// Conditions.
    pub conditions: usize,
    /// AllergyIntolerances.
    pub allergies: usize,
    /// MedicationRequests.
    pub medication_requests: usize,
    /// Coverages (one per patient).
    pub coverages: usize,
}

impl WardStats {
    /// All resources together.
    pub fn resources(&self) -> usize {
        self.patients
            + self.encounters
            + self.observations
            + self.conditions
            + self.allergies
            + self.medication_requests
            + self.coverages
    }
}

impl std::fmt::Display for WardStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} patients, {} encounters, {} observations, {} conditions, {} allergies, \
             {} medication requests, {} coverages ({} resources)",
            self.patients,
            self.encounters,
            self.observations,
            self.conditions,
            self.allergies,
            self.medication_requests,
            self.coverages,
            self.resources()
        )
    }
}

/// A generated hospital ward: inpatients with their admission, vital signs,
/// problems, allergies, medication orders and insurance, as FHIR R4
/// resources held in memory. Serve it with [`Ward::router`] or [`crate::serve`],
/// or load it into any FHIR server with [`Ward::transaction_bundle`].
#[derive(Clone, Debug)]
pub struct Ward {
    spec: WardSpec,
    records: Vec<Record>,
    by_patient: HashMap<String, usize>,
    /// (type, id) → (record, position in that record's list).
    by_id: HashMap<(Kind, String), (usize, usize)>,
}

/// Most patients a ward is generated with ([`WardSpec::patients`] is capped).
pub const MAX_PATIENTS: usize = 500;
/// Most days of vital signs ([`WardSpec::days_of_vitals`] is capped).
pub const MAX_DAYS_OF_VITALS: u32 = 14;

impl Ward {
    /// Generates the ward `spec` describes. The same spec gives the same
    /// ward; `patients` is capped at [`MAX_PATIENTS`] and `days_of_vitals`
    /// at [`MAX_DAYS_OF_VITALS`].
    pub fn generate(spec: &WardSpec) -> Ward {
        let spec = WardSpec {
            patients: spec.patients.min(MAX_PATIENTS),
            days_of_vitals: spec.days_of_vitals.min(MAX_DAYS_OF_VITALS),
            ..spec.clone()
        };
        let records = generate::generate(&spec);
        let mut by_patient = HashMap::new();
        let mut by_id = HashMap::new();
        for (r, record) in records.iter().enumerate() {
            for kind in Kind::ALL {
                for (pos, resource) in record.of(kind).iter().enumerate() {
                    let id = resource_id(resource).to_owned();
                    if kind == Kind::Patient {
                        by_patient.insert(id.clone(), r);
                    }
                    by_id.insert((kind, id), (r, pos));
                }
            }
        }
        Ward {
            spec,
            records,
            by_patient,
            by_id,
        }
    }

    /// The spec the ward was generated from (after capping).
    pub fn spec(&self) -> &WardSpec {
        &self.spec
    }

    /// The patients' ids, in bed order. The first patient has a long
    /// history (14 conditions, 12 medication orders) for showing partial
    /// sections.
    pub fn patient_ids(&self) -> Vec<String> {
        self.records
            .iter()
            .filter_map(|r| r.of(Kind::Patient).first())
            .map(|p| resource_id(p).to_owned())
            .collect()
    }

    /// How many resources of each type the ward holds.
    pub fn stats(&self) -> WardStats {
        let count = |kind: Kind| self.records.iter().map(|r| r.of(kind).len()).sum();
        WardStats {
            patients: count(Kind::Patient),
            encounters: count(Kind::Encounter),
            observations: count(Kind::Observation),
            conditions: count(Kind::Condition),
            allergies: count(Kind::AllergyIntolerance),
            medication_requests: count(Kind::MedicationRequest),
            coverages: count(Kind::Coverage),
        }
    }

    /// Every resource, patient by patient (each patient first).
    pub fn resources(&self) -> impl Iterator<Item = &Value> {
        self.records.iter().flat_map(Record::all)
    }

    /// A patient and everything of theirs (the patient first), or nothing
    /// for an unknown id.
    pub fn patient_resources(&self, patient_id: &str) -> Vec<&Value> {
        self.record_of(patient_id)
            .map(|r| r.all().collect())
            .unwrap_or_default()
    }

    /// One resource by type and id, e.g. `("Patient", "wab12-p01")`.
    pub fn resource(&self, resource_type: &str, id: &str) -> Option<&Value> {
        let kind = Kind::from_name(resource_type)?;
        self.read(kind, id)
    }

    pub(crate) fn read(&self, kind: Kind, id: &str) -> Option<&Value> {
        let (r, pos) = self.by_id.get(&(kind, id.to_owned()))?;
        self.records.get(*r)?.of(kind).get(*pos)
    }

    pub(crate) fn record_of(&self, patient_id: &str) -> Option<&Record> {
        self.records.get(*self.by_patient.get(patient_id)?)
    }

    pub(crate) fn records(&self) -> &[Record] {
        &self.records
    }

    /// The whole ward as a FHIR R4 `transaction` Bundle, to load into any
    /// FHIR server: one `PUT Type/id` entry per resource, so the ids (and
    /// every reference between the resources) are kept. Patients come first.
    pub fn transaction_bundle(&self) -> Value {
        let patients = self.records.iter().flat_map(|r| r.of(Kind::Patient));
        let others = self.records.iter().flat_map(|r| {
            Kind::ALL
                .into_iter()
                .filter(|k| *k != Kind::Patient)
                .flat_map(move |k| r.of(k))
        });
        let entries: Vec<Value> = patients
            .chain(others)
            .map(|resource| {
                let rtype = resource
                    .get("resourceType")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                json!({
                    "resource": resource,
                    "request": {"method": "PUT", "url": format!("{rtype}/{}", resource_id(resource))}
                })
            })
            .collect();
        json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
    }
}

pub(crate) fn resource_id(resource: &Value) -> &str {
    resource
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashSet};

    use super::*;

    /// The bed: the encounter's active place (emergency admissions waited
    /// in the emergency department first).
    fn bed_of(enc: &Value) -> &Value {
        let places = enc["location"].as_array().unwrap();
        let active: Vec<&Value> = places.iter().filter(|l| l["status"] == "active").collect();
        assert_eq!(active.len(), 1, "one current place: {places:?}");
        &active[0]["location"]["display"]
    }
    use crate::text::is_id;

    fn spec(seed: u64) -> WardSpec {
        WardSpec {
            patients: 36,
            days_of_vitals: 3,
            seed,
            now: time::macros::datetime!(2025-03-14 09:30 UTC),
        }
    }

    fn references<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v) {
                        ("reference", Value::String(r)) => out.push(r),
                        _ => references(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| references(v, out)),
            _ => {}
        }
    }

    #[test]
    fn the_transaction_bundle_holds_the_ward_and_every_reference_resolves() {
        let ward = Ward::generate(&spec(7));
        let bundle = ward.transaction_bundle();
        assert_eq!(bundle["resourceType"], "Bundle");
        assert_eq!(bundle["type"], "transaction");
        let entries = bundle["entry"].as_array().unwrap();
        assert_eq!(entries.len(), ward.stats().resources());
        assert_eq!(entries.len(), ward.resources().count());
        let mut urls = HashSet::new();
        for e in entries {
            let r = &e["resource"];
            let id = r["id"].as_str().unwrap();
            assert!(is_id(id), "{id}");
            let url = format!("{}/{id}", r["resourceType"].as_str().unwrap());
            assert_eq!(e["request"]["method"], "PUT");
            assert_eq!(e["request"]["url"], url.as_str());
            assert!(urls.insert(url.clone()), "{url} twice");
        }
        // Patients first.
        let n = ward.stats().patients;
        assert!(entries[..n]
            .iter()
            .all(|e| e["resource"]["resourceType"] == "Patient"));
        let mut refs = Vec::new();
        references(&bundle, &mut refs);
        assert!(refs.len() > entries.len(), "resources refer to each other");
        for r in refs {
            assert!(urls.contains(r), "{r} does not resolve in the bundle");
        }
    }

    #[test]
    fn the_same_spec_gives_the_same_ward() {
        let a = Ward::generate(&spec(7));
        let b = Ward::generate(&spec(7));
        assert_eq!(a.transaction_bundle(), b.transaction_bundle());
        let c = Ward::generate(&spec(8));
        let ids_a: BTreeSet<String> = a.patient_ids().into_iter().collect();
        let ids_c: BTreeSet<String> = c.patient_ids().into_iter().collect();
        assert!(ids_a.is_disjoint(&ids_c), "other seeds, other ids");
        assert_ne!(
            a.resources().next().unwrap()["name"],
            c.resources().next().unwrap()["name"]
        );
        // More days of vitals: the same people.
        let longer = Ward::generate(&WardSpec {
            days_of_vitals: 5,
            ..spec(7)
        });
        let names = |w: &Ward| -> Vec<Value> {
            w.resources()
                .filter(|r| r["resourceType"] == "Patient")
                .cloned()
                .collect()
        };
        assert_eq!(names(&a), names(&longer));
        assert!(longer.stats().observations > a.stats().observations);
    }

    #[test]
    fn the_ward_is_plausible() {
        let ward = Ward::generate(&spec(7));
        let s = ward.stats();
        eprintln!("{s}");
        assert_eq!((s.patients, s.encounters, s.coverages), (36, 36, 36));
        assert!((36 + 13..=35 * 4 + 14).contains(&s.conditions), "{s}");
        assert!(s.allergies <= 3 * 36 && s.allergies > 5, "{s}");
        assert!((36..=35 * 6 + 12).contains(&s.medication_requests), "{s}");
        assert!((36 * 10..=36 * 120).contains(&s.observations), "{s}");

        let now = spec(7).now.unix_timestamp();
        let mut beds = HashSet::new();
        let mut mrns = HashSet::new();
        let mut genders = HashSet::new();
        let mut flagged = 0;
        for pid in ward.patient_ids() {
            let mine = ward.patient_resources(&pid);
            let patient = mine[0];
            assert!(mrns.insert(patient["identifier"][0]["value"].clone()));
            genders.insert(patient["gender"].clone());
            let born = patient["birthDate"].as_str().unwrap();
            let year: i32 = born[..4].parse().unwrap();
            assert!((2025 - 96..=2025 - 18).contains(&year), "{born}");
            let of = |t: &'static str| mine.iter().filter(move |r| r["resourceType"] == t);
            let enc = of("Encounter").next().unwrap();
            assert!(beds.insert(bed_of(enc).clone()));
            let start = enc["period"]["start"].as_str().unwrap();
            let admitted =
                time::OffsetDateTime::parse(start, &time::format_description::well_known::Rfc3339)
                    .unwrap()
                    .unix_timestamp();
            assert!(now - admitted >= 6 * 3600 && now - admitted <= (3 * 24 + 18) * 3600);
            let conditions = of("Condition").count();
            let meds = of("MedicationRequest").count();
            if pid == ward.patient_ids()[0] {
                assert_eq!((conditions, meds), (14, 12));
            } else {
                assert!((1..=4).contains(&conditions) && (1..=6).contains(&meds));
            }
            assert!(of("AllergyIntolerance").count() <= 3);
            let mut codes = BTreeSet::new();
            for o in of("Observation") {
                let at = o["effectiveDateTime"].as_str().unwrap();
                assert!(at >= start && at <= crate::text::date_time(now).as_str());
                let code = o["code"]["coding"][0]["code"].as_str().unwrap();
                codes.insert(code.to_owned());
                let value = |v: &Value| v["value"].as_f64().unwrap();
                let (lo, hi) = match code {
                    "8867-4" => (35.0, 180.0),
                    "9279-1" => (8.0, 40.0),
                    "8310-5" => (34.5, 41.0),
                    "59408-5" => (75.0, 100.0),
                    "29463-7" => (40.0, 130.0),
                    "8302-2" => (150.0, 195.0),
                    "39156-5" => (10.0, 60.0),
                    "85354-9" => {
                        let sys = value(&o["component"][0]["valueQuantity"]);
                        let dia = value(&o["component"][1]["valueQuantity"]);
                        assert!((70.0..=220.0).contains(&sys) && dia < sys, "{o}");
                        continue;
                    }
                    other => panic!("unexpected code {other}"),
                };
                let v = value(&o["valueQuantity"]);
                assert!((lo..=hi).contains(&v), "{code} {v}");
                if o.get("interpretation").is_some() {
                    flagged += 1;
                }
            }
            assert_eq!(codes.len(), 8, "{pid}: {codes:?}");
        }
        assert_eq!(genders.len(), 2);
        assert!(flagged > 20, "a few abnormal values: {flagged}");
    }

    #[test]
    fn limits_are_applied() {
        let ward = Ward::generate(&WardSpec {
            patients: MAX_PATIENTS + 100,
            days_of_vitals: 0,
            ..spec(1)
        });
        assert_eq!(ward.stats().patients, MAX_PATIENTS);
        let beds: HashSet<&Value> = ward
            .resources()
            .filter(|r| r["resourceType"] == "Encounter")
            .map(bed_of)
            .collect();
        assert_eq!(
            beds.len(),
            MAX_PATIENTS,
            "distinct beds beyond the named wards"
        );
        let long = Ward::generate(&WardSpec {
            patients: 1,
            days_of_vitals: 1000,
            ..spec(1)
        });
        assert_eq!(long.spec().days_of_vitals, MAX_DAYS_OF_VITALS);
        let empty = Ward::generate(&WardSpec {
            patients: 0,
            ..spec(1)
        });
        assert_eq!(empty.stats().resources(), 0);
        assert!(empty.transaction_bundle()["entry"]
            .as_array()
            .unwrap()
            .is_empty());
        // Any "now" at all: no panic.
        for now in [
            time::OffsetDateTime::UNIX_EPOCH,
            time::macros::datetime!(-9999-01-01 0:00 UTC),
            time::macros::datetime!(9999-12-31 23:59 UTC),
        ] {
            let w = Ward::generate(&WardSpec {
                patients: 3,
                now,
                ..spec(1)
            });
            assert_eq!(w.stats().patients, 3);
        }
    }
}
