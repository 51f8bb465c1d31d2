//! Every response parser behind one entry point, for the fuzz target
//! (`fuzz/`) and for the mutation test below. Not part of the API.

use serde_json::Value;

use crate::error::RequestLabel;
use crate::version::FhirVersion;
use crate::{discovery, exec, model, parse};

const VERSIONS: [FhirVersion; 5] = [
    FhirVersion::Dstu2,
    FhirVersion::Stu3,
    FhirVersion::R4,
    FhirVersion::R4B,
    FhirVersion::R5,
];

/// Feeds `bytes`, as a server's answer, to every parser. Must never panic.
pub fn parse_everything(bytes: &[u8]) {
    let label = RequestLabel("fuzz".into());
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = FhirVersion::from_fhir_version(text);
        let _ = parse::references_patient(text, "p1");
        let _ = model::age_years(text, time::Date::MIN);
        let _ = crate::query::check_id(text);
    }
    let Ok(v) = parse::json_object(bytes, &label) else {
        return;
    };
    let _ = discovery::parse_capabilities(&v, &label);
    let _ = discovery::parse_smart_configuration(&v);
    let _ = parse::outcome_diagnostics(&v);
    let entries = parse::arr(&v, "entry").len();
    let queries: Vec<String> = (0..entries).map(|i| format!("Patient/{i}")).collect();
    let _ = exec::batch_response(v.clone(), &queries, &label);
    read_resource(&v);
    if let Ok(set) = parse::search_set(v, &label) {
        let vitals = set.resources.iter().filter_map(model::vital_sign);
        let _ = model::latest_vitals(vitals);
        for r in &set.resources {
            read_resource(r);
        }
    }
}

fn read_resource(r: &Value) {
    let _ = parse::belongs_to(r, "p1");
    let _ = model::vital_sign(r);
    for v in VERSIONS {
        let _ = model::patient(r, v).display_name();
        let _ = model::condition(r, v);
        let _ = model::encounter(r, v);
        let _ = model::allergy(r, v);
        let _ = model::medication(r, v);
        let _ = model::coverage(r, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic PRNG (xorshift64*), so failures reproduce.
    struct Rng(u64);
    impl Rng {
        fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next_u64() % n.max(1) as u64) as usize
        }
    }

    const SEEDS: [&str; 4] = [
        r##"{"resourceType":"Bundle","type":"searchset","total":2,"link":[{"relation":"next","url":"http://h/x?page=2"}],"entry":[{"resource":{"resourceType":"Observation","status":"final","subject":{"reference":"Patient/p1"},"code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},"effectiveDateTime":"2024-01-01","component":[{"code":{"coding":[{"code":"8480-6"}]},"valueQuantity":{"value":120,"unit":"mmHg"}}]}},{"resource":{"resourceType":"Patient","id":"p1","name":[{"family":["a","b"],"given":["c"]}],"identifier":[{"type":{"coding":[{"code":"MR"}]},"value":"1"}],"birthDate":"1970-01-01"}}]}"##,
        r##"{"resourceType":"CapabilityStatement","fhirVersion":"4.0.1","rest":[{"mode":"server","interaction":[{"code":"batch"}],"security":{"extension":[{"url":"http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris","extension":[{"url":"token","valueUri":"https://t"}]}]},"resource":[{"type":"Patient","searchParam":[{"name":"family"}]}]}]}"##,
        r##"{"resourceType":"Bundle","type":"batch-response","entry":[{"response":{"status":"200 OK"},"resource":{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Coverage","beneficiary":{"reference":"Patient/p1"},"class":[{"type":{"coding":[{"code":"plan"}]},"name":"Gold"}],"subscriberId":{"value":"x"}}}]}},{"response":{"status":"404","outcome":{"resourceType":"OperationOutcome","issue":[{"diagnostics":"no"}]}}}]}"##,
        r##"{"resourceType":"MedicationRequest","subject":{"reference":"Patient/p1"},"contained":[{"resourceType":"Medication","id":"m","ingredient":[{"itemCodeableConcept":{"text":"x"}}]}],"medicationReference":{"reference":"#m"},"requester":{"agent":{"display":"Dr"}},"dosageInstruction":[{"text":"daily"}]}"##,
    ];

    const TOKENS: [&[u8]; 12] = [
        b"{",
        b"}",
        b"[",
        b"]",
        b"\"",
        b",",
        b":",
        b"null",
        b"1e999",
        b"-0",
        b"\xEF\xBB\xBF",
        b"\"\\u0000\"",
    ];

    #[test]
    fn mutated_answers_never_panic() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for round in 0..3000 {
            let mut bytes = SEEDS[round % SEEDS.len()].as_bytes().to_vec();
            for _ in 0..=rng.below(4) {
                let at = rng.below(bytes.len() + 1);
                match rng.below(4) {
                    0 => bytes.truncate(at),
                    1 => {
                        let t = TOKENS[rng.below(TOKENS.len())];
                        bytes.splice(at..at, t.iter().copied());
                    }
                    2 if at < bytes.len() => bytes[at] = rng.next_u64() as u8,
                    _ => {
                        let end = (at + rng.below(20)).min(bytes.len());
                        bytes.drain(at..end);
                    }
                }
            }
            parse_everything(&bytes);
        }
        // The seeds themselves parse into something.
        for s in SEEDS {
            assert!(parse::json_object(s.as_bytes(), &RequestLabel("x".into())).is_ok());
        }
    }
}
