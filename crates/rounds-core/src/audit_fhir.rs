//! Audit records as FHIR R4 `AuditEvent` resources, after the IHE Basic
//! Audit Log Patterns where they fit: DICOM event types (patient record,
//! user authentication, export, security changes), the action and outcome
//! codes, the user as the requesting agent with its network address, the
//! patient as an entity of role Patient, team and list as entities too, and
//! Rounds as the observing source. Rounds' own operation name is kept as the
//! subtype, and each record's sequence number and chain hashes travel with
//! it, so an export can still be checked against the log.

use serde_json::{json, Value};

use crate::audit::{AuditRecord, Operation};
use crate::Timestamp;

/// The code system of Rounds' operation names (the retired app's audit
/// vocabulary, e.g. `PatientView`).
pub const OPERATION_SYSTEM: &str = "urn:rounds:audit-operation";
const DCM: &str = "http://dicom.nema.org/resources/ontology/DCM";
const ENTITY_TYPE: &str = "http://terminology.hl7.org/CodeSystem/audit-entity-type";
const OBJECT_ROLE: &str = "http://terminology.hl7.org/CodeSystem/object-role";

fn entity(kind: (&str, &str), role: (&str, &str), what: Value) -> Value {
    json!({
        "what": what,
        "type": {"system": ENTITY_TYPE, "code": kind.0, "display": kind.1},
        "role": {"system": OBJECT_ROLE, "code": role.0, "display": role.1},
    })
}

/// The patient an audit record names: an EHR patient (`server|id`) as a
/// reference to its server's Patient, a manual one by Rounds' identifier.
fn patient_what(patient_ref: &str) -> Value {
    match patient_ref.split_once('|') {
        Some((server, id)) if server.starts_with("http") => json!({
            "reference": format!("{}/Patient/{id}", server.trim_end_matches('/')),
        }),
        _ => json!({"identifier": {"system": "urn:rounds:patient", "value": patient_ref}}),
    }
}

/// One audit record as an AuditEvent; `site` names this Rounds installation
/// (its public address, say).
pub fn audit_event(r: &AuditRecord, site: &str) -> Value {
    let op: Option<Operation> = r.operation.parse().ok();
    let ((type_code, type_display), action) = op.map_or(
        (("110100", "Application Activity"), "E"),
        Operation::fhir_event_type,
    );
    let mut subtype =
        vec![json!({"system": OPERATION_SYSTEM, "code": r.operation, "display": r.operation})];
    if let Some((code, display)) = op.and_then(Operation::fhir_dicom_subtype) {
        subtype.push(json!({"system": DCM, "code": code, "display": display}));
    }
    let refused = r.outcome != "success";
    let mut agent = json!({
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                             "code": "IRCP", "display": "information recipient"}]},
        "requestor": true,
    });
    let mut who = serde_json::Map::new();
    if let Some(id) = &r.actor_id {
        who.insert(
            "identifier".into(),
            json!({"system": "urn:rounds:user", "value": id}),
        );
    }
    if let Some(name) = &r.actor_username {
        who.insert("display".into(), json!(name));
    }
    if who.is_empty() {
        who.insert("display".into(), json!("(unknown)"));
    }
    agent["who"] = Value::Object(who);
    if let Some(name) = &r.actor_username {
        agent["altId"] = json!(name);
    }
    if let Some(addr) = &r.client_addr {
        // "2": an IP address; anything else (e.g. "rounds demo") is a name.
        let kind = if addr.parse::<std::net::IpAddr>().is_ok() {
            "2"
        } else {
            "1"
        };
        agent["network"] = json!({"address": addr, "type": kind});
    }
    let mut entities = Vec::new();
    if let Some(p) = &r.patient_ref {
        entities.push(entity(("1", "Person"), ("1", "Patient"), patient_what(p)));
    }
    if let Some(team) = &r.team_id {
        entities.push(entity(
            ("2", "System Object"),
            ("12", "Security User Group"),
            json!({"identifier": {"system": "urn:rounds:team", "value": team}, "display": "care team"}),
        ));
    }
    if let Some(list) = &r.list_id {
        entities.push(entity(
            ("2", "System Object"),
            ("7", "List"),
            json!({"identifier": {"system": "urn:rounds:list", "value": list}}),
        ));
    }
    // The record itself: what was done, the browser, and its place in the chain.
    let mut details = vec![
        json!({"type": "seq", "valueString": r.seq.to_string()}),
        json!({"type": "prevHash", "valueString": r.prev_hash}),
        json!({"type": "hash", "valueString": r.hash}),
    ];
    if !r.detail.is_empty() && r.detail != "{}" && r.detail != "null" {
        details.push(json!({"type": "detail", "valueString": r.detail}));
    }
    if let Some(ua) = &r.user_agent {
        details.push(json!({"type": "userAgent", "valueString": ua}));
    }
    let mut record = entity(
        ("2", "System Object"),
        ("4", "Domain Resource"),
        json!({"identifier": {"system": "urn:rounds:audit", "value": r.seq.to_string()}}),
    );
    record["detail"] = Value::Array(details);
    entities.push(record);

    let mut event = json!({
        "resourceType": "AuditEvent",
        "id": format!("rounds-{}", r.seq),
        "type": {"system": DCM, "code": type_code, "display": type_display},
        "subtype": subtype,
        "action": action,
        "recorded": Timestamp::from_millis(r.at).to_rfc3339(),
        "outcome": if refused { "4" } else { "0" },
        "agent": [agent],
        "source": {
            "site": site,
            "observer": {"display": format!("Rounds at {site}")},
            "type": [{"system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                      "code": "4", "display": "Application Server"}],
        },
        "entity": entities,
    });
    if let Some(reason) = r.reason.as_deref().filter(|s| !s.is_empty()) {
        event["outcomeDesc"] = json!(reason);
    } else if refused {
        event["outcomeDesc"] = json!(r.outcome);
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(operation: &str, outcome: &str, patient: Option<&str>) -> AuditRecord {
        AuditRecord {
            seq: 7,
            at: 1_764_576_000_000,
            operation: operation.into(),
            outcome: outcome.into(),
            reason: (outcome != "success").then(|| "not a member of this team".into()),
            actor_id: Some("u-1".into()),
            actor_username: Some("nurse.ann".into()),
            team_id: Some("t-1".into()),
            list_id: None,
            patient_ref: patient.map(str::to_owned),
            detail: r#"{"q":"smith"}"#.into(),
            client_addr: Some("10.0.0.7".into()),
            user_agent: Some("Firefox".into()),
            prev_hash: "aa".into(),
            hash: "bb".into(),
        }
    }

    #[test]
    fn a_patient_view_names_the_patient_and_the_user() {
        let e = audit_event(
            &record(
                "PatientView",
                "success",
                Some("https://ehr.example/fhir|p42"),
            ),
            "rounds.example",
        );
        assert_eq!(e["type"]["code"], "110110");
        assert_eq!(e["action"], "R");
        assert_eq!(e["outcome"], "0");
        assert_eq!(e["subtype"][0]["code"], "PatientView");
        assert_eq!(
            e["entity"][0]["what"]["reference"],
            "https://ehr.example/fhir/Patient/p42"
        );
        assert_eq!(e["entity"][0]["role"]["code"], "1");
        assert_eq!(e["agent"][0]["who"]["display"], "nurse.ann");
        assert_eq!(e["agent"][0]["network"]["address"], "10.0.0.7");
        assert_eq!(e["agent"][0]["network"]["type"], "2");
        assert_eq!(e["recorded"], "2025-12-01T08:00:00Z");
        let last = e["entity"]
            .as_array()
            .and_then(|a| a.last())
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            last["detail"][2]["valueString"], "bb",
            "the chain travels along"
        );
    }

    #[test]
    fn refusals_sign_ins_and_manual_patients() {
        let e = audit_event(
            &record("AccessRefused", "refused", Some("0b7c-manual")),
            "x",
        );
        assert_eq!(
            (e["outcome"].as_str(), e["outcomeDesc"].as_str()),
            (Some("4"), Some("not a member of this team"))
        );
        assert_eq!(e["entity"][0]["what"]["identifier"]["value"], "0b7c-manual");
        let e = audit_event(&record("SignIn", "success", None), "x");
        assert_eq!(e["type"]["code"], "110114");
        assert_eq!(e["subtype"][1]["code"], "110122");
        let e = audit_event(&record("SomethingNew", "success", None), "x");
        assert_eq!(e["type"]["code"], "110100", "an unknown name still maps");
    }
}
