//! Version-neutral records read from version-specific resources. Each reader
//! takes a resource as JSON and the server's version, accepts either shape
//! where versions differ (servers are not always faithful), and never fails:
//! what is missing or of the wrong type is `None`.
//!
//! (Over 500 lines: one reader per resource the contract uses, sharing the
//! version-tolerant helpers at the top; its tests are a quarter of it.)

use rounds_core::vitals::VitalCode;
use serde::Serialize;
use serde_json::Value;

use crate::parse::{
    arr, concept_text, first, number, reference_display, status_code, str_at, str_of, text,
};
use crate::version::FhirVersion;

const MR_SYSTEMS: [&str; 2] = [
    "http://hl7.org/fhir/v2/0203",
    "http://terminology.hl7.org/CodeSystem/v2-0203",
];

/// Demographics of one patient.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Patient {
    /// The logical id.
    pub id: String,
    /// Family name(s) joined by a space (DSTU2 allows several).
    pub family: Option<String>,
    /// Given names, in order.
    pub given: Vec<String>,
    /// Prefixes (titles).
    pub prefix: Vec<String>,
    /// `name.text`.
    pub name_text: Option<String>,
    /// `name.use` of the name shown.
    pub name_use: Option<String>,
    /// `gender` code.
    pub gender: Option<String>,
    /// `birthDate` as written (`YYYY[-MM[-DD]]`).
    pub birth_date: Option<String>,
    /// The identifier typed `MR`.
    pub mrn: Option<String>,
    /// `careProvider` (DSTU2) / `generalPractitioner` display.
    pub general_practitioner: Option<String>,
}

impl Patient {
    /// "Family, Given" or the text, for lists.
    pub fn display_name(&self) -> String {
        match (&self.family, self.given.is_empty()) {
            (Some(f), false) => format!("{f}, {}", self.given.join(" ")),
            (Some(f), true) => f.clone(),
            (None, false) => self.given.join(" "),
            (None, true) => self.name_text.clone().unwrap_or_else(|| "(no name)".into()),
        }
    }
}

/// Reads a Patient resource.
pub fn patient(v: &Value, _version: FhirVersion) -> Patient {
    let names = arr(v, "name");
    let name = names
        .iter()
        .find(|n| str_of(n, "use") == Some("official"))
        .or_else(|| names.iter().find(|n| str_of(n, "use") != Some("old")))
        .or_else(|| names.first());
    let strings = |n: Option<&Value>, key: &str| -> Vec<String> {
        match n.and_then(|n| n.get(key)) {
            Some(Value::Array(items)) => items.iter().filter_map(|s| text(s.as_str())).collect(),
            Some(Value::String(s)) => text(Some(s)).into_iter().collect(),
            _ => Vec::new(),
        }
    };
    // DSTU2: family is a list; STU3+: one string. Accept both.
    let family = strings(name, "family");
    let family = (!family.is_empty()).then(|| family.join(" "));
    let mrn = arr(v, "identifier")
        .iter()
        .find(|i| {
            arr(i.get("type").unwrap_or(&Value::Null), "coding")
                .iter()
                .any(|c| {
                    str_of(c, "code") == Some("MR")
                        && str_of(c, "system").is_none_or(|s| MR_SYSTEMS.contains(&s))
                })
        })
        .and_then(|i| text(str_of(i, "value")));
    let gp = reference_display(v.get("generalPractitioner"))
        .or_else(|| reference_display(v.get("careProvider")));
    Patient {
        id: text(str_of(v, "id")).unwrap_or_default(),
        family,
        given: strings(name, "given"),
        prefix: strings(name, "prefix"),
        name_text: name.and_then(|n| text(str_of(n, "text"))),
        name_use: name.and_then(|n| text(str_of(n, "use"))),
        gender: text(str_of(v, "gender")),
        birth_date: text(str_of(v, "birthDate")),
        mrn,
        general_practitioner: gp,
    }
}

/// Whole years between a FHIR birth date (`YYYY`, `YYYY-MM`, `YYYY-MM-DD`)
/// and `today`; `None` when unreadable or in the future.
pub fn age_years(birth_date: &str, today: time::Date) -> Option<u32> {
    let mut parts = birth_date.get(..10).unwrap_or(birth_date).split('-');
    let year: i32 = parts.next()?.parse().ok()?;
    let month: u8 = parts.next().map_or(Ok(1), str::parse).ok()?;
    let day: u8 = parts.next().map_or(Ok(1), str::parse).ok()?;
    let mut age = today.year() - year;
    if (u8::from(today.month()), today.day()) < (month, day) {
        age -= 1;
    }
    u32::try_from(age).ok()
}

/// Whether a LOINC code is a vital sign the contract lists (the catalog
/// is `rounds_core::vitals`).
pub fn is_vital_code(code: &str) -> bool {
    VitalCode::of(code).is_some()
}

/// One measured value.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Measurement {
    /// LOINC code.
    pub code: String,
    /// The coding's display, else the code's text.
    pub display: Option<String>,
    /// `valueQuantity.value`.
    pub value: Option<f64>,
    /// `valueQuantity.unit` (else its code).
    pub unit: Option<String>,
}

/// The latest value of one vital sign.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VitalSign {
    #[serde(flatten)]
    /// Code, value and unit.
    pub measurement: Measurement,
    /// `effectiveDateTime`, or the start of `effectivePeriod`.
    pub effective: Option<String>,
    /// Blood pressure: systolic and diastolic.
    pub components: Vec<Measurement>,
}

fn measurement(v: &Value) -> Option<Measurement> {
    let code = v.get("code")?;
    let coding = arr(code, "coding");
    let hit = coding
        .iter()
        .find(|c| str_of(c, "code").is_some_and(is_vital_code))
        .or_else(|| coding.first())?;
    let code_value = text(str_of(hit, "code"))?;
    let quantity = v.get("valueQuantity");
    Some(Measurement {
        display: text(str_of(hit, "display")).or_else(|| text(str_of(code, "text"))),
        value: number(quantity.and_then(|q| q.get("value"))),
        unit: quantity.and_then(|q| text(str_of(q, "unit")).or_else(|| text(str_of(q, "code")))),
        code: code_value,
    })
}

/// Reads a vital-sign Observation; `None` if it is not one the contract
/// lists, or was cancelled or entered in error (never the "latest" value).
pub fn vital_sign(v: &Value) -> Option<VitalSign> {
    if matches!(str_of(v, "status"), Some("cancelled" | "entered-in-error")) {
        return None;
    }
    let m = measurement(v)?;
    if !is_vital_code(&m.code) {
        return None;
    }
    let effective = text(str_of(v, "effectiveDateTime"))
        .or_else(|| text(str_at(v, &["effectivePeriod", "start"])))
        .or_else(|| text(str_of(v, "effectiveInstant")));
    let components = arr(v, "component").iter().filter_map(measurement).collect();
    Some(VitalSign {
        measurement: m,
        effective,
        components,
    })
}

/// Keeps the latest observation per code, in the contract's order.
pub fn latest_vitals(observations: impl IntoIterator<Item = VitalSign>) -> Vec<VitalSign> {
    let mut latest: Vec<VitalSign> = Vec::new();
    for o in observations {
        match latest
            .iter_mut()
            .find(|l| l.measurement.code == o.measurement.code)
        {
            // ISO 8601 times with the same zone form compare as text; the
            // server sorted already, so ties keep its order.
            Some(l) if o.effective > l.effective => *l = o,
            Some(_) => {}
            None => latest.push(o),
        }
    }
    latest.sort_by_key(|v| VitalCode::position(&v.measurement.code));
    latest
}

/// A problem.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `code.coding[0].display`, else `code.text`.
    pub display: Option<String>,
    /// `severity` as text.
    pub severity: Option<String>,
    /// Clinical status code (plain in DSTU2/STU3, CodeableConcept in R4).
    pub clinical_status: Option<String>,
    /// Verification status code (`provisional`, `differential`, `refuted`, …).
    pub verification_status: Option<String>,
    /// `dateRecorded` (DSTU2) / `assertedDate` (STU3) / `recordedDate` (R4).
    pub recorded: Option<String>,
}

impl Condition {
    /// "Pneumonia (severe; provisional)": the name with what changes its
    /// meaning — severity, a verification other than confirmed, a clinical
    /// status other than active.
    pub fn label(&self) -> Option<String> {
        let name = self.display.clone()?;
        let verification = self
            .verification_status
            .as_deref()
            .filter(|s| !matches!(*s, "confirmed" | "unknown"));
        let clinical = self
            .clinical_status
            .as_deref()
            .filter(|s| !matches!(*s, "active"));
        Some(with_notes(
            name,
            [self.severity.as_deref(), verification, clinical],
        ))
    }
}

/// "name (a; b)" with the notes that are there, or just the name.
fn with_notes<'a>(name: String, notes: impl IntoIterator<Item = Option<&'a str>>) -> String {
    let notes: Vec<&str> = notes.into_iter().flatten().collect();
    if notes.is_empty() {
        name
    } else {
        format!("{name} ({})", notes.join("; "))
    }
}

/// Whether a status says the record was a mistake (never shown).
fn entered_in_error(status: Option<&str>) -> bool {
    status == Some("entered-in-error")
}

/// Reads a Condition; `None` when it was entered in error.
pub fn condition(v: &Value, _version: FhirVersion) -> Option<Condition> {
    let code = v.get("code");
    let c = Condition {
        display: code
            .and_then(|c| arr(c, "coding").first())
            .and_then(|c| text(str_of(c, "display")))
            .or_else(|| code.and_then(|c| text(str_of(c, "text"))))
            .or_else(|| concept_text(code)),
        severity: concept_text(v.get("severity")),
        clinical_status: status_code(v.get("clinicalStatus")),
        verification_status: status_code(v.get("verificationStatus")),
        recorded: ["recordedDate", "assertedDate", "dateRecorded"]
            .iter()
            .find_map(|k| text(str_of(v, k))),
    };
    let mistaken = entered_in_error(c.verification_status.as_deref())
        || entered_in_error(c.clinical_status.as_deref());
    (!mistaken).then_some(c)
}

/// The last encounter and where the patient is.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Encounter {
    /// `status` code.
    pub status: Option<String>,
    /// `type[0]` as text.
    pub kind: Option<String>,
    /// `period.start`.
    pub start: Option<String>,
    /// `period.end`.
    pub end: Option<String>,
    /// Where the patient is now: the entry of `location[]` that is active
    /// (or whose period has no end; the latest start wins). `None` when no
    /// entry is current or the encounter is over.
    pub location: Option<String>,
    /// When no entry is current: the last place known and when the patient
    /// left it.
    pub last_location: Option<PastLocation>,
}

/// A place the patient was, and until when.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PastLocation {
    /// `location.display`.
    pub display: String,
    /// `period.end` of that entry (else the encounter's end).
    pub until: Option<String>,
}

/// Encounter statuses after which the patient has left.
const ENCOUNTER_OVER: [&str; 3] = ["finished", "cancelled", "entered-in-error"];

impl Encounter {
    /// Whether the patient has left (the encounter is finished).
    pub fn is_over(&self) -> bool {
        self.status
            .as_deref()
            .is_some_and(|s| ENCOUNTER_OVER.contains(&s))
    }

    /// Where the patient is, in words: the current bed; or "Discharged" /
    /// "Last known: … until …" when no place is current.
    pub fn location_text(&self) -> Option<String> {
        if let Some(now) = &self.location {
            return Some(now.clone());
        }
        let last = self.last_location.as_ref().map(|l| match &l.until {
            Some(until) => format!("{} until {}", l.display, short_time(until)),
            None => l.display.clone(),
        });
        match (self.is_over(), last) {
            (true, Some(last)) => Some(format!("Discharged (last known: {last})")),
            (true, None) => Some("Discharged".into()),
            (false, Some(last)) => Some(format!("Last known: {last}")),
            (false, None) => None,
        }
    }
}

/// A FHIR dateTime to the minute for people: `2026-11-30T08:45:00Z` →
/// `2026-11-30 08:45 UTC`, `…T08:45:00+01:00` → `2026-11-30 08:45 +01:00`;
/// a date alone stays as it is.
pub fn short_time(t: &str) -> String {
    let (Some(date), Some(hm)) = (t.get(..10), t.get(11..16)) else {
        return t.to_owned();
    };
    let zone = t
        .get(16..)
        .map(|rest| rest.trim_start_matches(|c: char| c == ':' || c == '.' || c.is_ascii_digit()))
        .unwrap_or("");
    match zone {
        "" => format!("{date} {hm}"),
        "Z" | "+00:00" => format!("{date} {hm} UTC"),
        other => format!("{date} {hm} {other}"),
    }
}

/// Reads an Encounter; `None` when it was entered in error.
pub fn encounter(v: &Value, _version: FhirVersion) -> Option<Encounter> {
    let status = text(str_of(v, "status"));
    if entered_in_error(status.as_deref()) {
        return None;
    }
    let end = text(str_at(v, &["period", "end"]));
    struct Place<'a> {
        display: String,
        status: Option<&'a str>,
        start: Option<&'a str>,
        end: Option<&'a str>,
    }
    let places: Vec<Place<'_>> = arr(v, "location")
        .iter()
        .filter_map(|l| {
            Some(Place {
                display: l.get("location").and_then(|r| text(str_of(r, "display")))?,
                status: str_of(l, "status"),
                start: str_at(l, &["period", "start"]),
                end: str_at(l, &["period", "end"]),
            })
        })
        .collect();
    let over = status
        .as_deref()
        .is_some_and(|s| ENCOUNTER_OVER.contains(&s));
    // Current: status active; or, without a status saying otherwise, a
    // period that has not ended. Planned and reserved places are not yet.
    // ISO 8601 times of one server compare as text; a later entry wins ties.
    let now = places
        .iter()
        .filter(|_| !over)
        .filter(|p| match p.status {
            Some(s) => s == "active",
            None => p.end.is_none(),
        })
        .max_by(|a, b| a.start.cmp(&b.start));
    let last_location = match now {
        Some(_) => None,
        None => places
            .iter()
            .filter(|p| !matches!(p.status, Some("planned" | "reserved")))
            .max_by(|a, b| (a.end.or(a.start)).cmp(&b.end.or(b.start)))
            .map(|p| PastLocation {
                display: p.display.clone(),
                until: p.end.map(str::to_owned).or_else(|| end.clone()),
            }),
    };
    Some(Encounter {
        kind: first(v, "type").and_then(|t| concept_text(Some(t))),
        start: text(str_at(v, &["period", "start"])),
        location: now.map(|p| p.display.clone()),
        last_location,
        end,
        status,
    })
}

/// An allergy or intolerance.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Allergy {
    /// DSTU2 `substance`; STU3+ `code` (text or first display).
    pub substance: Option<String>,
    /// STU3+ `clinicalStatus`; DSTU2 `status` when it is one of active,
    /// inactive, resolved.
    pub clinical_status: Option<String>,
    /// STU3+ `verificationStatus` code; DSTU2 `status` when it is one of
    /// unconfirmed, confirmed, refuted.
    pub verification_status: Option<String>,
    /// `recordedDate` (DSTU2, R4) / `assertedDate` (STU3).
    pub recorded: Option<String>,
    /// `note.text`.
    pub note: Option<String>,
    /// Each manifestation, with the reaction's substance in brackets.
    pub reactions: Vec<String>,
}

impl Allergy {
    /// "Penicillin (unconfirmed)": the substance with what changes its
    /// meaning — a verification other than confirmed, a clinical status
    /// other than active.
    pub fn label(&self) -> Option<String> {
        let name = self.substance.clone()?;
        let verification = self
            .verification_status
            .as_deref()
            .filter(|s| *s != "confirmed");
        let clinical = self.clinical_status.as_deref().filter(|s| *s != "active");
        Some(with_notes(name, [verification, clinical]))
    }
}

/// DSTU2's one `status` holds what STU3 split in two.
const VERIFICATION_CODES: [&str; 4] = ["unconfirmed", "confirmed", "refuted", "entered-in-error"];

/// Reads an AllergyIntolerance; `None` when it was entered in error.
pub fn allergy(v: &Value, version: FhirVersion) -> Option<Allergy> {
    let substance = if version.is_dstu2() {
        concept_text(v.get("substance")).or_else(|| concept_text(v.get("code")))
    } else {
        concept_text(v.get("code")).or_else(|| concept_text(v.get("substance")))
    };
    let reactions = arr(v, "reaction")
        .iter()
        .flat_map(|r| {
            let substance = concept_text(r.get("substance"));
            arr(r, "manifestation").iter().filter_map(move |m| {
                let m = concept_text(Some(m))?;
                Some(match &substance {
                    Some(s) => format!("{m} ({s})"),
                    None => m,
                })
            })
        })
        .collect();
    let mut clinical_status = status_code(v.get("clinicalStatus"));
    let mut verification_status = status_code(v.get("verificationStatus"));
    if let Some(old) = status_code(v.get("status")) {
        if VERIFICATION_CODES.contains(&old.as_str()) {
            verification_status.get_or_insert(old);
        } else {
            clinical_status.get_or_insert(old);
        }
    }
    if entered_in_error(verification_status.as_deref())
        || entered_in_error(clinical_status.as_deref())
    {
        return None;
    }
    Some(Allergy {
        substance,
        clinical_status,
        verification_status,
        recorded: ["recordedDate", "assertedDate"]
            .iter()
            .find_map(|k| text(str_of(v, k))),
        note: first(v, "note").and_then(|n| text(str_of(n, "text"))),
        reactions,
    })
}

/// A medication order or statement.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Medication {
    /// `medicationReference.display`, `medicationCodeableConcept`, or a contained Medication.
    pub medication: Option<String>,
    /// `status` code.
    pub status: Option<String>,
    /// `dateWritten` / `authoredOn` / a statement's effective time.
    pub written: Option<String>,
    /// DSTU2 `dateEnded`.
    pub ended: Option<String>,
    /// DSTU2 `prescriber`, STU3 `requester.agent`, R4 `requester` (display).
    pub prescriber: Option<String>,
    /// `dosageInstruction[].text` (statements: `dosage[].text`).
    pub dosage: Vec<String>,
    /// The resource type read (`MedicationRequest`, `MedicationStatement`, ...).
    pub source: String,
}

/// Reads a MedicationOrder, MedicationRequest or MedicationStatement.
pub fn medication(v: &Value, _version: FhirVersion) -> Medication {
    let medication = reference_display(v.get("medicationReference"))
        .or_else(|| concept_text(v.get("medicationCodeableConcept")))
        .or_else(|| contained_medication(v));
    let prescriber = reference_display(v.get("prescriber"))
        .or_else(|| {
            v.get("requester")
                .and_then(|r| reference_display(r.get("agent")))
        })
        .or_else(|| reference_display(v.get("requester")))
        .or_else(|| reference_display(v.get("informationSource")));
    let dosage = arr(v, "dosageInstruction")
        .iter()
        .chain(arr(v, "dosage"))
        .filter_map(|d| text(str_of(d, "text")))
        .collect();
    Medication {
        medication,
        status: text(str_of(v, "status")),
        written: [
            "dateWritten",
            "authoredOn",
            "effectiveDateTime",
            "dateAsserted",
        ]
        .iter()
        .find_map(|k| text(str_of(v, k)))
        .or_else(|| text(str_at(v, &["effectivePeriod", "start"]))),
        ended: text(str_of(v, "dateEnded")),
        prescriber,
        dosage,
        source: text(str_of(v, "resourceType")).unwrap_or_default(),
    }
}

/// A `medicationReference` to a contained Medication (`#id`): its code.
fn contained_medication(v: &Value) -> Option<String> {
    let local = str_at(v, &["medicationReference", "reference"])?.strip_prefix('#')?;
    let med = arr(v, "contained").iter().find(|c| {
        str_of(c, "resourceType") == Some("Medication") && str_of(c, "id") == Some(local)
    })?;
    concept_text(med.get("code")).or_else(|| {
        // A compounded medication: no code, only ingredients.
        let names: Vec<String> = arr(med, "ingredient")
            .iter()
            .filter_map(|i| {
                concept_text(i.get("itemCodeableConcept"))
                    .or_else(|| reference_display(i.get("itemReference")))
            })
            .collect();
        (!names.is_empty()).then(|| names.join(" + "))
    })
}

/// An insurance coverage.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Coverage {
    /// R4 `class` plan name, STU3 `grouping.planDisplay`, DSTU2 `plan`.
    pub plan: Option<String>,
    /// The group, likewise.
    pub group: Option<String>,
    /// R4/STU3 `payor`, DSTU2 `issuer` (display; else the name of the
    /// Organization it references, when the server gave or the client read it).
    pub payor: Option<String>,
    /// The payor's reference (`Organization/1`) when it came without a display.
    #[serde(skip)]
    pub payor_reference: Option<String>,
    /// `subscriberId` (an Identifier in DSTU2).
    pub subscriber_id: Option<String>,
    /// `period.start`.
    pub period_start: Option<String>,
    /// `period.end`.
    pub period_end: Option<String>,
    /// `status` code.
    pub status: Option<String>,
}

impl Coverage {
    /// "Acme Health – Gold (cancelled)": payor and plan, with a status
    /// other than active, or that its period has ended before `today`
    /// (`YYYY-MM-DD`).
    pub fn label(&self, today: &str) -> Option<String> {
        let name = match (
            self.payor.clone(),
            self.plan.clone().or_else(|| self.group.clone()),
        ) {
            (Some(p), Some(plan)) => format!("{p} – {plan}"),
            (p, plan) => p.or(plan)?,
        };
        let status = self.status.as_deref().filter(|s| *s != "active");
        let ended = self
            .period_end
            .as_deref()
            .filter(|end| end.get(..10).unwrap_or(end) < today)
            .map(|end| format!("ended {}", end.get(..10).unwrap_or(end)));
        Some(with_notes(name, [status, ended.as_deref()]))
    }
}

/// Reads a Coverage; `None` when it was entered in error.
pub fn coverage(v: &Value, _version: FhirVersion) -> Option<Coverage> {
    // R4: class[] with type group/plan; STU3: grouping; DSTU2: plan, group.
    let class_name = |kind: &str| {
        arr(v, "class")
            .iter()
            .find(|c| {
                arr(c.get("type").unwrap_or(&Value::Null), "coding")
                    .iter()
                    .any(|k| str_of(k, "code") == Some(kind))
            })
            .and_then(|c| text(str_of(c, "name")).or_else(|| text(str_of(c, "value"))))
    };
    let status = text(str_of(v, "status"));
    if entered_in_error(status.as_deref()) {
        return None;
    }
    let plan = class_name("plan")
        .or_else(|| text(str_at(v, &["grouping", "planDisplay"])))
        .or_else(|| text(str_at(v, &["grouping", "plan"])))
        .or_else(|| text(str_of(v, "plan")))
        .or_else(|| concept_text(v.get("type")))
        // DSTU2 `type` is a bare Coding.
        .or_else(|| text(str_at(v, &["type", "display"])));
    let group = class_name("group")
        .or_else(|| text(str_at(v, &["grouping", "groupDisplay"])))
        .or_else(|| text(str_at(v, &["grouping", "group"])))
        .or_else(|| text(str_of(v, "group")));
    let payor = reference_display(v.get("payor")).or_else(|| reference_display(v.get("issuer")));
    let payor_reference = match payor {
        Some(_) => None,
        None => [v.get("payor"), v.get("issuer")]
            .into_iter()
            .flatten()
            .find_map(|r| {
                let r = match r {
                    Value::Array(items) => items.first()?,
                    other => other,
                };
                text(str_of(r, "reference"))
            }),
    };
    Some(Coverage {
        plan,
        group,
        payor,
        payor_reference,
        // STU3+: a string; DSTU2: an Identifier.
        subscriber_id: text(str_of(v, "subscriberId"))
            .or_else(|| text(str_at(v, &["subscriberId", "value"]))),
        period_start: text(str_at(v, &["period", "start"])),
        period_end: text(str_at(v, &["period", "end"])),
        status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dstu2_and_r4_patients() {
        let dstu2 = json!({"resourceType": "Patient", "id": "p1",
            "name": [{"use": "official", "family": ["van", "Dijk"], "given": ["Anna", "M"], "prefix": ["Dr."]}],
            "identifier": [{"type": {"coding": [{"system": "http://hl7.org/fhir/v2/0203", "code": "MR"}]}, "value": "123"}],
            "careProvider": [{"display": "Dr. Who"}], "gender": "female", "birthDate": "1980-02-29"});
        let p = patient(&dstu2, FhirVersion::Dstu2);
        assert_eq!(p.family.as_deref(), Some("van Dijk"));
        assert_eq!(p.given, vec!["Anna", "M"]);
        assert_eq!(p.mrn.as_deref(), Some("123"));
        assert_eq!(p.general_practitioner.as_deref(), Some("Dr. Who"));
        assert_eq!(p.display_name(), "van Dijk, Anna M");
        let r4 = json!({"resourceType": "Patient", "id": "p2",
            "name": [{"use": "old", "family": "Old"}, {"use": "usual", "family": "New", "given": ["B"]}],
            "identifier": [{"type": {"coding": [{"system": "http://other", "code": "MR"}]}, "value": "nope"},
                           {"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}, "value": "R4-1"}],
            "generalPractitioner": [{"reference": "Practitioner/1", "display": "Dr. R"}]});
        let p = patient(&r4, FhirVersion::R4);
        assert_eq!(p.family.as_deref(), Some("New"));
        assert_eq!(p.mrn.as_deref(), Some("R4-1"));
        // Wrong types: no panic, nothing read.
        let odd =
            json!({"resourceType": "Patient", "name": "x", "identifier": {"a": 1}, "gender": 3});
        let p = patient(&odd, FhirVersion::R4);
        assert_eq!((p.family, p.mrn, p.gender), (None, None, None));
    }

    #[test]
    fn contained_medications() {
        let m = medication(
            &json!({"resourceType": "MedicationRequest",
            "contained": [{"resourceType": "Medication", "id": "m1", "code": {"coding": [{"display": "Oxycodone"}]}}],
            "medicationReference": {"reference": "#m1"}}),
            FhirVersion::R4,
        );
        assert_eq!(m.medication.as_deref(), Some("Oxycodone"));
        let m = medication(
            &json!({"medicationReference": {"reference": "#m2"},
            "contained": [{"resourceType": "Medication", "id": "m2", "ingredient": [
                {"itemCodeableConcept": {"text": "Saline"}}, {"itemReference": {"display": "KCl"}}]}]}),
            FhirVersion::R4,
        );
        assert_eq!(m.medication.as_deref(), Some("Saline + KCl"));
        let m = medication(
            &json!({"medicationReference": {"reference": "#nope"}, "contained": 3}),
            FhirVersion::R4,
        );
        assert_eq!(m.medication, None);
    }

    #[test]
    fn ages() {
        let today = time::macros::date!(2026 - 03 - 01);
        assert_eq!(age_years("1980-02-29", today), Some(46));
        assert_eq!(age_years("1980-03-02", today), Some(45));
        assert_eq!(age_years("1980", today), Some(46));
        assert_eq!(age_years("2030-01-01", today), None);
        assert_eq!(age_years("garbage", today), None);
        assert_eq!(age_years("1980-13", today), Some(45));
    }

    #[test]
    fn vitals_latest_per_code() {
        let obs = |code: &str, t: &str, v: f64| {
            vital_sign(
                &json!({"code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                "effectiveDateTime": t, "valueQuantity": {"value": v, "unit": "/min"}}),
            )
            .unwrap()
        };
        let out = latest_vitals([
            obs("8867-4", "2024-01-01T10:00:00Z", 70.0),
            obs("8867-4", "2024-01-02T10:00:00Z", 90.0),
            obs("9279-1", "2024-01-01T10:00:00Z", 16.0),
        ]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].measurement.value, Some(90.0));
        assert!(vital_sign(&json!({"code": {"coding": [{"code": "1234-5"}]}})).is_none());
        assert!(vital_sign(
            &json!({"status": "entered-in-error", "code": {"coding": [{"code": "8867-4"}]}})
        )
        .is_none());
        let bp = vital_sign(&json!({"code": {"coding": [{"code": "85354-9"}]}, "effectivePeriod": {"start": "2024"},
            "component": [{"code": {"coding": [{"code": "8480-6"}]}, "valueQuantity": {"value": 120, "unit": "mmHg"}},
                          {"code": {"coding": [{"code": "8462-4"}]}, "valueQuantity": {"value": "80", "unit": "mmHg"}}]}))
        .unwrap();
        assert_eq!(bp.components.len(), 2);
        assert_eq!(bp.components[1].value, Some(80.0));
        assert_eq!(bp.effective.as_deref(), Some("2024"));
    }

    #[test]
    fn where_the_patient_is() {
        let enc = |status: &str, places: Value| {
            encounter(
                &json!({"status": status, "period": {"start": "2026-01-01T08:00:00Z"}, "location": places}),
                FhirVersion::Stu3,
            )
            .unwrap()
        };
        let at = |display: &str, status: Option<&str>, start: &str, end: Option<&str>| {
            let mut l = json!({"location": {"display": display}, "period": {"start": start}});
            if let Some(s) = status {
                l["status"] = json!(s);
            }
            if let Some(e) = end {
                l["period"]["end"] = json!(e);
            }
            l
        };
        // No statuses (older servers): the place whose period has not ended.
        let e = enc(
            "in-progress",
            json!([
                at(
                    "ED",
                    None,
                    "2026-01-01T08:00:00Z",
                    Some("2026-01-01T09:00:00Z")
                ),
                at("Bed 4", None, "2026-01-01T09:00:00Z", None)
            ]),
        );
        assert_eq!(e.location_text().as_deref(), Some("Bed 4"));
        // Two open places: the latest start.
        let e = enc(
            "in-progress",
            json!([
                at("Bed 9", Some("active"), "2026-01-02T09:00:00Z", None),
                at("Bed 4", Some("active"), "2026-01-01T09:00:00Z", None)
            ]),
        );
        assert_eq!(e.location.as_deref(), Some("Bed 9"));
        // Planned is not yet; completed is past.
        let e = enc(
            "in-progress",
            json!([
                at(
                    "Bed 4",
                    Some("completed"),
                    "2026-01-01T09:00:00Z",
                    Some("2026-01-03T10:00:00+01:00")
                ),
                at("Theatre", Some("planned"), "2026-01-04T09:00:00Z", None)
            ]),
        );
        assert_eq!(
            e.location_text().as_deref(),
            Some("Last known: Bed 4 until 2026-01-03 10:00 +01:00")
        );
        // A finished encounter: discharged, whatever its places say.
        let e = enc(
            "finished",
            json!([at("Bed 4", Some("active"), "2026-01-01T09:00:00Z", None)]),
        );
        assert_eq!(e.location, None);
        assert_eq!(
            e.location_text().as_deref(),
            Some("Discharged (last known: Bed 4)")
        );
        assert!(encounter(&json!({"status": "entered-in-error"}), FhirVersion::R4).is_none());
        assert_eq!(enc("in-progress", json!("odd")).location_text(), None);
    }

    #[test]
    fn statuses_in_labels() {
        // STU3: plain codes.
        let a = allergy(
            &json!({"code": {"text": "Latex"}, "clinicalStatus": "resolved", "verificationStatus": "confirmed"}),
            FhirVersion::Stu3,
        )
        .unwrap();
        assert_eq!(a.label().as_deref(), Some("Latex (resolved)"));
        assert!(allergy(
            &json!({"code": {"text": "X"}, "verificationStatus": "entered-in-error"}),
            FhirVersion::Stu3
        )
        .is_none());
        // DSTU2: one status.
        let a = allergy(
            &json!({"substance": {"text": "Nuts"}, "status": "refuted"}),
            FhirVersion::Dstu2,
        )
        .unwrap();
        assert_eq!(a.label().as_deref(), Some("Nuts (refuted)"));
        let c = condition(
            &json!({"code": {"text": "Sepsis"}, "verificationStatus": "differential", "clinicalStatus": "active"}),
            FhirVersion::Stu3,
        )
        .unwrap();
        assert_eq!(c.label().as_deref(), Some("Sepsis (differential)"));
        let cov = coverage(
            &json!({"status": "active", "payor": [{"reference": "Organization/o1"}], "period": {"end": "2025-12-31"},
                    "grouping": {"planDisplay": "Basic"}}),
            FhirVersion::Stu3,
        )
        .unwrap();
        assert_eq!(cov.payor_reference.as_deref(), Some("Organization/o1"));
        assert_eq!(
            cov.label("2026-03-01").as_deref(),
            Some("Basic (ended 2025-12-31)")
        );
        assert_eq!(cov.label("2025-06-01").as_deref(), Some("Basic"));
        assert_eq!(
            short_time("2026-11-24T11:30:00.000Z"),
            "2026-11-24 11:30 UTC"
        );
        assert_eq!(short_time("2026-11-24"), "2026-11-24");
    }
}
