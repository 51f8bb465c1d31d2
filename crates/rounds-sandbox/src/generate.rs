//! Generating a ward: one [`Record`] per inpatient with every resource of
//! theirs as FHIR R4 JSON. Deterministic: the same [`WardSpec`] gives the
//! same ward, byte for byte.
//!
//! (Over 500 lines: one small builder per resource type, in the order a
//! patient's record is made, all sharing the patient's context and random
//! streams; split, each file would need the whole context.)

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::catalog::{
    self, Acute, AllergySpec, Drug, Effect, Problem, ACUTE, ALLERGIES, BEDS_PER_WARD, BED_NUMBERS,
    CHRONIC, CLINICIANS, FAMILY, FEMALE_GIVEN, GPS, GROUPS, MALE_GIVEN, MODERATE, PAYORS, PLANS,
    SEVERE, WARDS,
};
use crate::rng::Rng;
use crate::text::{date, date_of, date_time};
use crate::ward::{Kind, Record};
use crate::WardSpec;

pub(crate) const SNOMED: &str = "http://snomed.info/sct";
pub(crate) const LOINC: &str = "http://loinc.org";
pub(crate) const UCUM: &str = "http://unitsofmeasure.org";
pub(crate) const V2_0203: &str = "http://terminology.hl7.org/CodeSystem/v2-0203";
pub(crate) const OBSERVATION_CATEGORY: &str =
    "http://terminology.hl7.org/CodeSystem/observation-category";
/// The system of the ward's medical record numbers.
pub const MRN_SYSTEM: &str = "http://rounds.example.org/sandbox/mrn";
const INTERPRETATION: &str = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation";

const MINUTE: i64 = 60;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

/// The number of conditions of the first patient, who has a long history so
/// that partial sections ("10 of 14") can be shown with a page size of 10.
pub(crate) const SHOWCASE_CONDITIONS: usize = 14;
const SHOWCASE_MEDICATIONS: usize = 12;

/// A stable short tag of the seed, part of every id, so that wards of
/// different seeds can be loaded into one server side by side.
pub(crate) fn seed_tag(seed: u64) -> String {
    format!("{:04x}", Rng::new(seed, u64::MAX).next_u64() >> 48)
}

/// Generates every patient of the ward, in bed order.
pub(crate) fn generate(spec: &WardSpec) -> Vec<Record> {
    let now = spec.now.unix_timestamp() - spec.now.unix_timestamp().rem_euclid(MINUTE);
    let tag = seed_tag(spec.seed);
    let width = spec.patients.to_string().len().max(2);
    let beds = assign_beds(spec.seed, spec.patients);
    let mut names_used = HashSet::new();
    let mrn_offset = Rng::new(spec.seed, u64::MAX - 1).below(9_000_000);
    (0..spec.patients)
        .map(|i| {
            let ctx = PatientCtx {
                spec,
                now,
                index: i,
                pid: format!("w{tag}-p{:0width$}", i + 1),
                bed: beds.get(i).cloned().unwrap_or_default(),
                mrn: format!(
                    "RV{}",
                    1_000_000 + (mrn_offset + i as u64 * 7919) % 9_000_000
                ),
            };
            ctx.generate(&mut names_used)
        })
        .collect()
}

/// "Ward 7B, Bed 12" for each patient: distinct beds, some left empty.
fn assign_beds(seed: u64, patients: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(patients);
    let mut ward = 0;
    while out.len() < patients {
        let name = WARDS
            .get(ward)
            .map(|w| (*w).to_owned())
            .unwrap_or_else(|| format!("Ward {}", 12 + ward - WARDS.len()));
        let mut numbers: Vec<u32> = (1..=BED_NUMBERS).collect();
        Rng::new(seed, 1_000_000 + ward as u64).shuffle(&mut numbers);
        let mut taken: Vec<u32> = numbers.into_iter().take(BEDS_PER_WARD).collect();
        taken.sort_unstable();
        for n in taken {
            if out.len() < patients {
                out.push(format!("{name}, Bed {n}"));
            }
        }
        ward += 1;
    }
    out
}

struct PatientCtx<'a> {
    spec: &'a WardSpec,
    now: i64,
    index: usize,
    pid: String,
    bed: String,
    mrn: String,
}

/// What the demographics drew, for the clinical part.
struct Person {
    female: bool,
    birth_unix: i64,
}

impl PatientCtx<'_> {
    fn showcase(&self) -> bool {
        self.index == 0
    }

    fn rng(&self, stream: u64) -> Rng {
        Rng::new(self.spec.seed, (self.index as u64) << 8 | stream)
    }

    fn patient_ref(&self) -> Value {
        json!({"reference": format!("Patient/{}", self.pid)})
    }

    fn encounter_id(&self) -> String {
        format!("{}-enc", self.pid)
    }

    fn encounter_ref(&self) -> Value {
        json!({"reference": format!("Encounter/{}", self.encounter_id())})
    }

    fn generate(&self, names_used: &mut HashSet<(String, String)>) -> Record {
        let (patient, person) = self.patient(names_used);
        let mut clinical = self.rng(2);
        let acute = if self.showcase() {
            ACUTE.first()
        } else {
            ACUTE.get(clinical.index(ACUTE.len()))
        };
        let Some(acute) = acute else {
            return Record::new(patient);
        };
        let chronic = self.chronic(&mut clinical);
        let max_stay = i64::from(self.spec.days_of_vitals) * DAY + 18 * HOUR;
        let stay = if self.showcase() {
            i64::from(self.spec.days_of_vitals) * DAY + 10 * HOUR
        } else {
            clinical.range(6 * 60, max_stay / MINUTE) * MINUTE
        };
        let admitted = self.now - stay;
        let clinician = *clinical.pick(CLINICIANS, &"Dr On Call");

        let mut record = Record::new(patient);
        let conditions =
            self.conditions(&mut clinical, acute, &chronic, &person, admitted, clinician);
        let acute_condition = conditions
            .first()
            .and_then(|c| c.get("id"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        record.push(
            Kind::Encounter,
            self.encounter(acute, admitted, clinician, &acute_condition),
        );
        for c in conditions {
            record.push(Kind::Condition, c);
        }
        for o in self.vitals(acute, &chronic, &person, admitted) {
            record.push(Kind::Observation, o);
        }
        for a in self.allergies(&mut clinical, &person, admitted) {
            record.push(Kind::AllergyIntolerance, a);
        }
        for m in self.medications(&mut clinical, acute, &chronic, admitted, clinician) {
            record.push(Kind::MedicationRequest, m);
        }
        record.push(Kind::Coverage, self.coverage(&mut clinical));
        record
    }

    fn patient(&self, names_used: &mut HashSet<(String, String)>) -> (Value, Person) {
        let mut r = self.rng(1);
        let female = r.chance(50);
        let givens = if female { FEMALE_GIVEN } else { MALE_GIVEN };
        let (mut given, mut family) = ("", "");
        // Draw again (a few times) rather than repeat a full name.
        for _ in 0..20 {
            given = *r.pick(givens, &"Alex");
            family = *r.pick(FAMILY, &"Smith");
            if names_used.insert((given.to_owned(), family.to_owned())) {
                break;
            }
        }
        let mut given_names = vec![given];
        if r.chance(30) {
            let middle = *r.pick(givens, &"Jo");
            if middle != given {
                given_names.push(middle);
            }
        }
        // Inpatients are mostly old: the larger of two draws.
        let age = if self.showcase() {
            84
        } else {
            r.range(18, 95).max(r.range(18, 95))
        };
        let today = self.spec.now.date();
        let month = r.range(1, 12) as u8;
        let month = time::Month::try_from(month).unwrap_or(time::Month::January);
        let mut year = today.year() - age as i32;
        let day = r.range(1, i64::from(month.length(year))) as u8;
        // Not had this year's birthday yet: born a year earlier.
        if (month as u8, day) > (u8::from(today.month()), today.day()) {
            year -= 1;
        }
        let birth = time::Date::from_calendar_date(year, month, day)
            .or_else(|_| time::Date::from_calendar_date(year, month, 28))
            .unwrap_or(today);
        let prefix = if r.chance(4) {
            "Dr"
        } else if !female {
            "Mr"
        } else if age < 30 && r.chance(50) {
            "Miss"
        } else if r.chance(50) {
            "Mrs"
        } else {
            "Ms"
        };
        let gp = *r.pick(GPS, &"Dr On Call");
        let text = format!("{} {family}", given_names.join(" "));
        let patient = json!({
            "resourceType": "Patient",
            "id": self.pid,
            "identifier": [{
                "use": "usual",
                "type": {
                    "coding": [{"system": V2_0203, "code": "MR", "display": "Medical record number"}],
                    "text": "MRN"
                },
                "system": MRN_SYSTEM,
                "value": self.mrn
            }],
            "active": true,
            "name": [{
                "use": "official",
                "text": text,
                "family": family,
                "given": given_names,
                "prefix": [prefix]
            }],
            "gender": if female { "female" } else { "male" },
            "birthDate": date(birth),
            "generalPractitioner": [{"display": gp}]
        });
        let birth_unix = birth.midnight().assume_utc().unix_timestamp();
        (patient, Person { female, birth_unix })
    }

    fn chronic(&self, r: &mut Rng) -> Vec<&'static Problem> {
        let n = if self.showcase() {
            SHOWCASE_CONDITIONS - 1
        } else {
            match r.below(100) {
                0..=19 => 0,
                20..=54 => 1,
                55..=84 => 2,
                _ => 3,
            }
        };
        let mut order: Vec<usize> = (0..CHRONIC.len()).collect();
        r.shuffle(&mut order);
        order
            .into_iter()
            .take(n)
            .filter_map(|i| CHRONIC.get(i))
            .collect()
    }

    fn conditions(
        &self,
        r: &mut Rng,
        acute: &Acute,
        chronic: &[&Problem],
        person: &Person,
        admitted: i64,
        clinician: &str,
    ) -> Vec<Value> {
        let mut out = Vec::new();
        let severity = if r.chance(60) { MODERATE } else { SEVERE };
        let onset = admitted - r.range(0, 4) * DAY - r.range(0, 23) * HOUR;
        out.push(json!({
            "resourceType": "Condition",
            "id": format!("{}-cond-01", self.pid),
            "clinicalStatus": concept(CONDITION_CLINICAL, "active", "Active"),
            "verificationStatus": concept(CONDITION_VERIFICATION, "confirmed", "Confirmed"),
            "category": [concept(CONDITION_CATEGORY, "encounter-diagnosis", "Encounter Diagnosis")],
            "severity": concept(SNOMED, severity.0, severity.1),
            "code": snomed(&acute.problem),
            "subject": self.patient_ref(),
            "encounter": self.encounter_ref(),
            "onsetDateTime": date_of(onset),
            "recordedDate": date_time(admitted + r.range(10, 60) * MINUTE),
            "recorder": {"display": clinician}
        }));
        // Recorded some time after the patient turned 18, up to 20 years ago.
        let earliest = (person.birth_unix + 18 * 365 * DAY).max(self.now - 20 * 365 * DAY);
        let latest = (self.now - 60 * DAY).max(earliest);
        for (n, problem) in chronic.iter().enumerate() {
            let recorded = r.range(earliest / DAY, latest / DAY) * DAY;
            // A few old problems are over (more on a long history).
            let resolved = r.chance(if self.showcase() { 20 } else { 8 });
            let mut c = json!({
                "resourceType": "Condition",
                "id": format!("{}-cond-{:02}", self.pid, n + 2),
                "clinicalStatus": if resolved {
                    concept(CONDITION_CLINICAL, "resolved", "Resolved")
                } else {
                    concept(CONDITION_CLINICAL, "active", "Active")
                },
                "verificationStatus": concept(CONDITION_VERIFICATION, "confirmed", "Confirmed"),
                "category": [concept(CONDITION_CATEGORY, "problem-list-item", "Problem List Item")],
                "code": snomed(problem),
                "subject": self.patient_ref(),
                "onsetDateTime": date_of(recorded - r.range(0, 120) * DAY),
                "recordedDate": date_of(recorded)
            });
            if resolved {
                let end = recorded + (self.now - recorded) / 2;
                c["abatementDateTime"] = json!(date_of(end));
            }
            out.push(c);
        }
        out
    }

    fn encounter(&self, acute: &Acute, admitted: i64, clinician: &str, reason: &str) -> Value {
        let (code, display) = if acute.emergency {
            ("183452005", "Emergency hospital admission")
        } else {
            ("32485007", "Hospital admission")
        };
        let mut e = json!({
            "resourceType": "Encounter",
            "id": self.encounter_id(),
            "status": "in-progress",
            "class": {
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                "code": "IMP",
                "display": "inpatient encounter"
            },
            "type": [concept(SNOMED, code, display)],
            "subject": self.patient_ref(),
            "participant": [{
                "type": [concept(
                    "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                    "ATND",
                    "attender"
                )],
                "individual": {"display": clinician}
            }],
            "period": {"start": date_time(admitted)},
            "location": [{
                "location": {"display": self.bed},
                "status": "active",
                "period": {"start": date_time(admitted + 2 * HOUR)}
            }],
            "serviceProvider": {"display": catalog::HOSPITAL}
        });
        if acute.emergency {
            // Came through the emergency department: where they waited is
            // the first, past place of the stay; the bed is the current one.
            e["location"] = json!([{
                "location": {"display": catalog::EMERGENCY_DEPARTMENT},
                "status": "completed",
                "period": {"start": date_time(admitted), "end": date_time(admitted + 2 * HOUR)}
            }, {
                "location": {"display": self.bed},
                "status": "active",
                "period": {"start": date_time(admitted + 2 * HOUR)}
            }]);
        }
        if !reason.is_empty() {
            e["reasonReference"] = json!([{
                "reference": format!("Condition/{reason}"),
                "display": acute.problem.display
            }]);
        }
        e
    }

    fn vitals(
        &self,
        acute: &Acute,
        chronic: &[&Problem],
        person: &Person,
        admitted: i64,
    ) -> Vec<Value> {
        let mut r = self.rng(3);
        let has = |snomed: &str| chronic.iter().any(|p| p.snomed == snomed);
        let copd = has("13645005");
        let af = has("49436004");
        let hypertension = has("59621000");
        let effect = acute.effect;
        let heart_failure = acute.problem.snomed == "84114007";
        let base = Effect {
            hr: r.range(62, 88) as f64,
            rr: r.range(13, 17) as f64,
            temp: 36.6 + r.normal() * 0.2,
            spo2: if copd {
                r.range(89, 92) as f64
            } else {
                r.range(95, 99) as f64
            },
            sbp: r.range(108, 142) as f64 + if hypertension { 14.0 } else { 0.0 },
        };
        let dbp_base = base.sbp * 0.62 + r.normal() * 4.0;
        let severity = if self.showcase() {
            1.0
        } else {
            0.5 + r.unit() * 0.7
        };
        // Most get better; some slowly; a few get worse (the ones to spot).
        let course = match r.below(100) {
            0..=74 => Course::Improving(30.0 + r.unit() * 20.0),
            75..=89 => Course::Improving(90.0),
            _ => Course::Worsening,
        };
        let stay_hours = ((self.now - admitted) as f64 / 3600.0).max(1.0);
        let weight0 = if person.female {
            r.range(480, 1050)
        } else {
            r.range(580, 1250)
        } as f64
            / 10.0;
        let height = if person.female {
            r.range(150, 178)
        } else {
            r.range(162, 195)
        } as f64;
        let daily_loss = if heart_failure { 0.7 } else { 0.0 };

        let mut events: Vec<(i64, Measure)> = Vec::new();
        let first = admitted + r.range(20, 90) * MINUTE;
        if first <= self.now {
            events.push((first, Measure::Weight(weight0)));
            events.push((first, Measure::Height(height)));
            events.push((first, Measure::Bmi(bmi(weight0, height))));
        }
        let window_start = admitted.max(self.now - i64::from(self.spec.days_of_vitals) * DAY);
        // Daily weights (and BMI) on the early morning round.
        let mut day = (admitted / DAY + 1) * DAY;
        while day <= self.now {
            let at = day + 6 * HOUR + r.range(0, 50) * MINUTE;
            if at >= window_start && at <= self.now {
                let days_in = (at - admitted) as f64 / DAY as f64;
                let w = round1(weight0 - daily_loss * days_in + r.normal() * 0.3);
                events.push((at, Measure::Weight(w)));
                events.push((at, Measure::Bmi(bmi(w, height))));
            }
            day += DAY;
        }
        // Observation rounds every 4 to 8 hours.
        let mut at = admitted + r.range(15, 60) * MINUTE;
        while at <= self.now - 5 * MINUTE {
            if at >= window_start {
                let hours = (at - admitted) as f64 / 3600.0;
                let f = severity * course.factor(hours, stay_hours);
                let spike = if r.chance(3) { 1.0 } else { 0.0 };
                let hr = base.hr + effect.hr * f + r.normal() * if af { 11.0 } else { 4.0 };
                let rr = base.rr + effect.rr * f + r.normal() * 1.2;
                // Fevers swing over the day.
                let swing = 0.7 + 0.3 * (hours / 24.0 * std::f64::consts::TAU).cos();
                let temp = base.temp + effect.temp * f * swing + r.normal() * 0.15 + spike * 0.9;
                let spo2 = base.spo2 + effect.spo2 * f + r.normal() * 0.8;
                let sbp = base.sbp + effect.sbp * f + r.normal() * 8.0;
                let dbp = dbp_base + effect.sbp * f * 0.5 + r.normal() * 5.0;
                let hr = (hr + spike * 25.0).round().clamp(35.0, 180.0);
                let sbp = sbp.round().clamp(70.0, 220.0);
                events.push((at, Measure::HeartRate(hr)));
                events.push((at, Measure::RespiratoryRate(rr.round().clamp(8.0, 40.0))));
                events.push((at, Measure::Temperature(round1(temp).clamp(34.5, 41.0))));
                events.push((at, Measure::Spo2(spo2.round().clamp(75.0, 100.0))));
                events.push((
                    at,
                    Measure::BloodPressure(sbp, dbp.round().clamp(35.0, sbp - 15.0)),
                ));
            }
            at += r.range(4 * 60, 8 * 60) * MINUTE;
        }
        events.sort_by_key(|(t, _)| *t);
        events
            .into_iter()
            .enumerate()
            .map(|(n, (t, m))| self.observation(n + 1, t, m))
            .collect()
    }

    fn observation(&self, n: usize, at: i64, m: Measure) -> Value {
        let mut o = json!({
            "resourceType": "Observation",
            "id": format!("{}-obs-{n:03}", self.pid),
            "status": "final",
            "category": [{
                "coding": [{"system": OBSERVATION_CATEGORY, "code": "vital-signs", "display": "Vital Signs"}],
                "text": "Vital Signs"
            }],
            "code": m.code(),
            "subject": self.patient_ref(),
            "encounter": self.encounter_ref(),
            "effectiveDateTime": date_time(at)
        });
        match m {
            Measure::BloodPressure(sys, dia) => {
                let component = |code: &str, display: &str, value: f64, low: f64, high: f64| {
                    let mut c = json!({
                        "code": loinc(code, display, display),
                        "valueQuantity": quantity(value, "mmHg", "mm[Hg]"),
                    });
                    if let Some(i) = interpretation(value, low, high) {
                        c["interpretation"] = i;
                    }
                    c
                };
                o["component"] = json!([
                    component("8480-6", "Systolic blood pressure", sys, 100.0, 160.0),
                    component("8462-4", "Diastolic blood pressure", dia, 50.0, 100.0),
                ]);
            }
            _ => {
                let (value, unit, code) = m.quantity();
                o["valueQuantity"] = quantity(value, unit, code);
                if let Some((low, high)) = m.normal_range() {
                    if let Some(i) = interpretation(value, low, high) {
                        o["interpretation"] = i;
                    }
                }
            }
        }
        o
    }

    fn allergies(&self, r: &mut Rng, person: &Person, admitted: i64) -> Vec<Value> {
        let n = if self.showcase() {
            3
        } else {
            match r.below(100) {
                0..=44 => 0,
                45..=79 => 1,
                80..=93 => 2,
                _ => 3,
            }
        };
        let mut order: Vec<usize> = (0..ALLERGIES.len()).collect();
        r.shuffle(&mut order);
        let earliest = (person.birth_unix + 5 * 365 * DAY).max(self.now - 30 * 365 * DAY);
        order
            .into_iter()
            .take(n)
            .filter_map(|i| ALLERGIES.get(i))
            .enumerate()
            .map(|(k, spec)| {
                // Known for years, or found on this admission.
                let recorded = if r.chance(85) {
                    date_of(r.range(earliest / DAY, (admitted / DAY).max(earliest / DAY)) * DAY)
                } else {
                    date_time(admitted + r.range(30, 240) * MINUTE)
                };
                let with_reaction = self.showcase() || r.chance(35);
                self.allergy(k + 1, spec, recorded, with_reaction, r.chance(70))
            })
            .collect()
    }

    fn allergy(
        &self,
        n: usize,
        spec: &AllergySpec,
        recorded: String,
        with_reaction: bool,
        confirmed: bool,
    ) -> Value {
        let verification = if confirmed {
            ("confirmed", "Confirmed")
        } else {
            ("unconfirmed", "Unconfirmed")
        };
        let mut a = json!({
            "resourceType": "AllergyIntolerance",
            "id": format!("{}-alg-{n}", self.pid),
            "clinicalStatus": concept(
                "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                "active",
                "Active"
            ),
            "verificationStatus": concept(
                "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                verification.0,
                verification.1
            ),
            "type": spec.kind,
            "category": [spec.category],
            "criticality": spec.criticality,
            "code": {"text": spec.substance},
            "patient": self.patient_ref(),
            "recordedDate": recorded
        });
        if with_reaction {
            a["reaction"] = json!([{
                "manifestation": [{"text": spec.reaction.0}],
                "severity": spec.reaction.1
            }]);
        }
        if let Some(note) = spec.note {
            a["note"] = json!([{"text": note}]);
        }
        a
    }

    fn medications(
        &self,
        r: &mut Rng,
        acute: &Acute,
        chronic: &[&Problem],
        admitted: i64,
        clinician: &str,
    ) -> Vec<Value> {
        let max = if self.showcase() {
            SHOWCASE_MEDICATIONS
        } else {
            6
        };
        // (drug, minutes after admission it was ordered)
        let mut orders: Vec<(&Drug, i64)> = Vec::new();
        fn add(orders: &mut Vec<(&'static Drug, i64)>, d: &'static Drug, minutes: i64) {
            if !orders.iter().any(|(o, _)| o.text == d.text) {
                orders.push((d, minutes));
            }
        }
        for d in acute.problem.drugs {
            add(&mut orders, d, r.range(20, 90));
        }
        for p in chronic {
            for d in p.drugs {
                // The usual medicines, reconciled a few hours in.
                if self.showcase() || r.chance(85) {
                    add(&mut orders, d, r.range(90, 240));
                }
            }
        }
        let extras = [
            (&catalog::ENOXAPARIN, 70),
            (&catalog::PARACETAMOL, 50),
            (&catalog::LACTULOSE, 15),
        ];
        let mut chosen = Vec::new();
        for (d, p) in extras {
            if self.showcase() || r.chance(p) {
                chosen.push((d, r.range(60, 300)));
            }
        }
        let anticoagulated = orders.iter().any(|(d, _)| d.text.starts_with("Apixaban"));
        for (d, minutes) in chosen {
            if !(anticoagulated && d.text.starts_with("Enoxaparin")) {
                add(&mut orders, d, minutes);
            }
        }
        // Held while the kidneys recover.
        let kidneys = matches!(acute.problem.snomed, "14669001" | "91302008");
        orders
            .into_iter()
            .take(max)
            .enumerate()
            .map(|(n, (d, minutes))| {
                let held =
                    kidneys && (d.text.starts_with("Metformin") || d.text.starts_with("Ramipril"));
                let authored = (admitted + minutes * MINUTE).min(self.now);
                json!({
                    "resourceType": "MedicationRequest",
                    "id": format!("{}-med-{:02}", self.pid, n + 1),
                    "status": if held { "on-hold" } else { "active" },
                    "intent": "order",
                    "category": [concept(
                        "http://terminology.hl7.org/CodeSystem/medicationrequest-category",
                        "inpatient",
                        "Inpatient"
                    )],
                    "medicationCodeableConcept": {"text": d.text},
                    "subject": self.patient_ref(),
                    "encounter": self.encounter_ref(),
                    "authoredOn": date_time(authored),
                    "requester": {"display": clinician},
                    "dosageInstruction": [{"text": d.dosage}]
                })
            })
            .collect()
    }

    fn coverage(&self, r: &mut Rng) -> Value {
        let (payor, prefix) = *r.pick(PAYORS, &("Public Hospital Scheme", "PHS"));
        let plan_index = r.index(PLANS.len());
        let plan = PLANS.get(plan_index).copied().unwrap_or("Standard");
        let year = self.spec.now.year();
        let mut classes = vec![json!({
            "type": concept(COVERAGE_CLASS, "plan", "Plan"),
            "value": format!("PLN-{}", plan_index + 1),
            "name": plan
        })];
        if r.chance(40) {
            let group_index = r.index(GROUPS.len());
            classes.push(json!({
                "type": concept(COVERAGE_CLASS, "group", "Group"),
                "value": format!("GRP-{:03}", 101 + group_index),
                "name": GROUPS.get(group_index).copied().unwrap_or("Group")
            }));
        }
        json!({
            "resourceType": "Coverage",
            "id": format!("{}-cov", self.pid),
            // Now and then a policy has lapsed: cancelled, still on file.
            "status": if self.index % 13 == 7 { "cancelled" } else { "active" },
            "relationship": concept(
                "http://terminology.hl7.org/CodeSystem/subscriber-relationship",
                "self",
                "Self"
            ),
            "subscriberId": format!("{prefix}-{:09}", r.below(1_000_000_000)),
            "beneficiary": self.patient_ref(),
            "period": {"start": format!("{year:04}-01-01"), "end": format!("{year:04}-12-31")},
            "payor": [{"display": payor}],
            "class": classes
        })
    }
}

const CONDITION_CLINICAL: &str = "http://terminology.hl7.org/CodeSystem/condition-clinical";
const CONDITION_VERIFICATION: &str = "http://terminology.hl7.org/CodeSystem/condition-ver-status";
const CONDITION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/condition-category";
const COVERAGE_CLASS: &str = "http://terminology.hl7.org/CodeSystem/coverage-class";

enum Course {
    /// The acute effect halves every so many hours.
    Improving(f64),
    /// The acute effect grows over the stay.
    Worsening,
}

impl Course {
    fn factor(&self, hours: f64, stay_hours: f64) -> f64 {
        match self {
            Course::Improving(half_life) => (0.5f64.powf(hours / half_life)).max(0.08),
            Course::Worsening => 0.5 + 0.8 * (hours / stay_hours).clamp(0.0, 1.0),
        }
    }
}

#[derive(Clone, Copy)]
enum Measure {
    HeartRate(f64),
    RespiratoryRate(f64),
    Temperature(f64),
    Spo2(f64),
    BloodPressure(f64, f64),
    Weight(f64),
    Height(f64),
    Bmi(f64),
}

impl Measure {
    fn code(self) -> Value {
        match self {
            Measure::HeartRate(_) => loinc("8867-4", "Heart rate", "Heart rate"),
            Measure::RespiratoryRate(_) => loinc("9279-1", "Respiratory rate", "Respiratory rate"),
            Measure::Temperature(_) => loinc("8310-5", "Body temperature", "Body temperature"),
            Measure::Spo2(_) => json!({
                "coding": [
                    {"system": LOINC, "code": "59408-5",
                     "display": "Oxygen saturation in Arterial blood by Pulse oximetry"},
                    {"system": LOINC, "code": "2708-6", "display": "Oxygen saturation in Arterial blood"}
                ],
                "text": "Oxygen saturation"
            }),
            Measure::BloodPressure(..) => loinc(
                "85354-9",
                "Blood pressure panel with all children optional",
                "Blood pressure",
            ),
            Measure::Weight(_) => loinc("29463-7", "Body weight", "Body weight"),
            Measure::Height(_) => loinc("8302-2", "Body height", "Body height"),
            Measure::Bmi(_) => loinc("39156-5", "Body mass index (BMI) [Ratio]", "BMI"),
        }
    }

    /// Value, unit for people, UCUM code.
    fn quantity(self) -> (f64, &'static str, &'static str) {
        match self {
            Measure::HeartRate(v) => (v, "beats/minute", "/min"),
            Measure::RespiratoryRate(v) => (v, "breaths/minute", "/min"),
            Measure::Temperature(v) => (v, "°C", "Cel"),
            Measure::Spo2(v) => (v, "%", "%"),
            Measure::BloodPressure(v, _) => (v, "mmHg", "mm[Hg]"),
            Measure::Weight(v) => (v, "kg", "kg"),
            Measure::Height(v) => (v, "cm", "cm"),
            Measure::Bmi(v) => (v, "kg/m2", "kg/m2"),
        }
    }

    /// Outside this range the value is flagged low or high.
    fn normal_range(self) -> Option<(f64, f64)> {
        match self {
            Measure::HeartRate(_) => Some((50.0, 100.0)),
            Measure::RespiratoryRate(_) => Some((10.0, 22.0)),
            Measure::Temperature(_) => Some((35.5, 38.0)),
            Measure::Spo2(_) => Some((92.0, 100.0)),
            _ => None,
        }
    }
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn bmi(weight: f64, height_cm: f64) -> f64 {
    let m = (height_cm / 100.0).max(0.5);
    round1(weight / (m * m))
}

fn loinc(code: &str, display: &str, text: &str) -> Value {
    json!({"coding": [{"system": LOINC, "code": code, "display": display}], "text": text})
}

fn snomed(p: &Problem) -> Value {
    json!({"coding": [{"system": SNOMED, "code": p.snomed, "display": p.display}], "text": p.display})
}

fn concept(system: &str, code: &str, display: &str) -> Value {
    json!({"coding": [{"system": system, "code": code, "display": display}]})
}

fn quantity(value: f64, unit: &str, code: &str) -> Value {
    // Whole numbers as integers: "72", not "72.0".
    let value = if value.fract() == 0.0 && value.abs() < 1e9 {
        json!(value as i64)
    } else {
        json!(value)
    };
    json!({"value": value, "unit": unit, "system": UCUM, "code": code})
}

fn interpretation(value: f64, low: f64, high: f64) -> Option<Value> {
    let (code, display) = if value < low {
        ("L", "Low")
    } else if value > high {
        ("H", "High")
    } else {
        return None;
    };
    Some(json!([{"coding": [{"system": INTERPRETATION, "code": code, "display": display}]}]))
}
