//! Lenient, safe reading of FHIR JSON: `serde_json::Value` and small helpers
//! that answer `None` for anything of the wrong shape instead of failing.
//! Only the outer structure (an object, a Bundle) is required.

use serde_json::Value;

use crate::error::{FhirError, RequestLabel};

/// Some servers (and HL7's STU3 examples) start JSON with a UTF-8 BOM.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Parses a response body: tolerates a UTF-8 BOM, requires a JSON object.
pub fn json_object(bytes: &[u8], request: &RequestLabel) -> Result<Value, FhirError> {
    let bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(FhirError::malformed(request, "the response is empty"));
    }
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| FhirError::malformed(request, format!("not JSON: {e}")))?;
    if !value.is_object() {
        return Err(FhirError::malformed(request, "the JSON is not an object"));
    }
    Ok(value)
}

/// `resourceType`, if it is a string.
pub fn resource_type(v: &Value) -> Option<&str> {
    v.get("resourceType")?.as_str()
}

/// A string member.
pub fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key)?.as_str()
}

/// A string at a path of object keys.
pub fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for key in path {
        cur = cur.get(key)?;
    }
    cur.as_str()
}

/// An array member as a slice (absent or not an array: empty).
pub fn arr<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// A member that may be one object or a list of them (versions differ):
/// its first element.
pub fn first<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v.get(key)? {
        Value::Array(items) => items.first(),
        Value::Null => None,
        other => Some(other),
    }
}

/// Owned, trimmed, non-empty text.
pub fn text(s: Option<&str>) -> Option<String> {
    let s = s?.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// A CodeableConcept's readable form: `text`, else the first coding's
/// display, else its code. Also accepts a plain string (DSTU2/STU3 codes).
pub fn concept_text(v: Option<&Value>) -> Option<String> {
    let v = v?;
    if let Some(s) = v.as_str() {
        return text(Some(s));
    }
    text(str_of(v, "text"))
        .or_else(|| {
            arr(v, "coding")
                .iter()
                .find_map(|c| text(str_of(c, "display")))
        })
        .or_else(|| {
            arr(v, "coding")
                .iter()
                .find_map(|c| text(str_of(c, "code")))
        })
}

/// A status that is a plain code in DSTU2/STU3 and a CodeableConcept in R4:
/// the code either way.
pub fn status_code(v: Option<&Value>) -> Option<String> {
    let v = v?;
    if let Some(s) = v.as_str() {
        return text(Some(s));
    }
    arr(v, "coding")
        .iter()
        .find_map(|c| text(str_of(c, "code")))
        .or_else(|| text(str_of(v, "text")))
}

/// The display of a Reference (or of the first of a list of them).
pub fn reference_display(v: Option<&Value>) -> Option<String> {
    let v = v?;
    let v = match v {
        Value::Array(items) => items.first()?,
        other => other,
    };
    text(str_of(v, "display"))
}

/// A number that may come as a JSON number or (wrongly, but seen) a string.
pub fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok().filter(|f: &f64| f.is_finite()),
        _ => None,
    }
}

/// `issue[].diagnostics` (or `details.text`) of an OperationOutcome; empty for
/// anything else. Each bounded to 500 characters, at most 10.
pub fn outcome_diagnostics(v: &Value) -> Vec<String> {
    if resource_type(v) != Some("OperationOutcome") {
        return Vec::new();
    }
    arr(v, "issue")
        .iter()
        .filter_map(|issue| {
            text(str_of(issue, "diagnostics"))
                .or_else(|| concept_text(issue.get("details")))
                .or_else(|| text(str_of(issue, "code")))
        })
        .map(|s| s.chars().take(500).collect())
        .take(10)
        .collect()
}

/// Whether `reference` (relative, absolute, or with `_history`) points at
/// `Patient/{pid}`.
pub fn references_patient(reference: &str, pid: &str) -> bool {
    let r = reference.split(['?', '#']).next().unwrap_or_default();
    let r = match r.find("/_history/") {
        Some(i) => &r[..i],
        None => r,
    };
    let mut segments = r.rsplit('/');
    let id = segments.next();
    let kind = segments.next();
    kind == Some("Patient") && id == Some(pid)
}

/// Whether a resource names `pid` as its `subject`, `patient` or
/// `beneficiary` (or, DSTU2 Coverage, `subscriber`).
pub fn belongs_to(resource: &Value, pid: &str) -> bool {
    ["subject", "patient", "beneficiary", "subscriber"]
        .iter()
        .filter_map(|k| str_at(resource, &[k, "reference"]))
        .any(|r| references_patient(r, pid))
}

/// One page of a search.
#[derive(Debug, Default, Clone)]
pub struct SearchSet {
    /// `total`, when the server gives it.
    pub total: Option<u64>,
    /// `entry[].resource` whose search mode is not `include`/`outcome`.
    pub resources: Vec<Value>,
    /// Resources of search mode `include` (`_include`d ones).
    pub included: Vec<Value>,
    /// Warnings (OperationOutcome entries).
    pub warnings: Vec<String>,
    /// The `next` link, as given (check its origin before use).
    pub next: Option<String>,
}

/// Reads a searchset Bundle. An OperationOutcome answered instead is an error
/// with its diagnostics.
pub fn search_set(v: Value, request: &RequestLabel) -> Result<SearchSet, FhirError> {
    match resource_type(&v) {
        Some("Bundle") => {}
        Some("OperationOutcome") => {
            return Err(FhirError::Status {
                request: request.clone(),
                status: 200,
                diagnostics: outcome_diagnostics(&v),
                retry_after: None,
            })
        }
        other => {
            return Err(FhirError::malformed(
                request,
                format!(
                    "expected a Bundle, got {}",
                    other
                        .map(|s| s.chars().take(40).collect::<String>())
                        .unwrap_or_else(|| "no resourceType".into())
                ),
            ))
        }
    }
    let total = v.get("total").and_then(Value::as_u64);
    let next = arr(&v, "link")
        .iter()
        .find(|l| str_of(l, "relation") == Some("next"))
        .and_then(|l| text(str_of(l, "url")));
    let mut out = SearchSet {
        total,
        next,
        ..SearchSet::default()
    };
    let Some(Value::Array(entries)) = v.get("entry").cloned() else {
        return Ok(out);
    };
    for mut entry in entries {
        let mode = str_at(&entry, &["search", "mode"]).map(str::to_owned);
        let Some(resource) = entry.get_mut("resource").map(Value::take) else {
            continue;
        };
        match mode.as_deref() {
            Some("include") if resource.is_object() => out.included.push(resource),
            Some("include") => {}
            Some("outcome") => out.warnings.extend(outcome_diagnostics(&resource)),
            _ if resource_type(&resource) == Some("OperationOutcome") => {
                out.warnings.extend(outcome_diagnostics(&resource))
            }
            _ if resource.is_object() => out.resources.push(resource),
            _ => out
                .warnings
                .push("an entry's resource is not an object".into()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn l() -> RequestLabel {
        RequestLabel("GET x".into())
    }

    #[test]
    fn bom_and_bad_json() {
        assert!(json_object(b"\xEF\xBB\xBF{\"a\":1}", &l()).is_ok());
        assert!(matches!(
            json_object(b"{\"a\":", &l()),
            Err(FhirError::Malformed { .. })
        ));
        assert!(matches!(
            json_object(b"[1]", &l()),
            Err(FhirError::Malformed { .. })
        ));
        assert!(matches!(
            json_object(b"", &l()),
            Err(FhirError::Malformed { .. })
        ));
        assert!(matches!(
            json_object(b"\xEF\xBB\xBF", &l()),
            Err(FhirError::Malformed { .. })
        ));
        // Deep nesting is refused by serde_json's recursion limit, not a stack overflow.
        let deep = "[".repeat(100_000);
        assert!(json_object(deep.as_bytes(), &l()).is_err());
    }

    #[test]
    fn references() {
        assert!(references_patient("Patient/123", "123"));
        assert!(references_patient("http://h/fhir/Patient/123", "123"));
        assert!(references_patient("Patient/123/_history/2", "123"));
        assert!(!references_patient("Patient/1234", "123"));
        assert!(!references_patient("Group/123", "123"));
        assert!(!references_patient("123", "123"));
    }

    #[test]
    fn concepts_and_statuses() {
        assert_eq!(
            concept_text(Some(&json!({"text": "Asthma"}))).as_deref(),
            Some("Asthma")
        );
        assert_eq!(
            concept_text(Some(&json!({"coding": [{"code": "x"}, {"display": "Y"}]}))).as_deref(),
            Some("Y")
        );
        assert_eq!(
            status_code(Some(&json!("active"))).as_deref(),
            Some("active")
        );
        assert_eq!(
            status_code(Some(&json!({"coding": [{"code": "resolved"}]}))).as_deref(),
            Some("resolved")
        );
        assert_eq!(status_code(Some(&json!(12))), None);
        assert_eq!(concept_text(Some(&json!([1, 2]))), None);
    }

    #[test]
    fn searchset_shapes() {
        let b = json!({"resourceType": "Bundle", "total": 3, "link": [{"relation": "next", "url": "http://h/p2"}],
            "entry": [{"resource": {"resourceType": "Patient", "id": "1"}},
                      {"resource": {"resourceType": "Practitioner"}, "search": {"mode": "include"}},
                      {"resource": {"resourceType": "OperationOutcome", "issue": [{"diagnostics": "slow"}]}},
                      {"fullUrl": "no resource"}, {"resource": 7}]});
        let s = search_set(b, &l()).unwrap();
        assert_eq!(s.total, Some(3));
        assert_eq!(s.resources.len(), 1);
        assert_eq!(s.next.as_deref(), Some("http://h/p2"));
        assert_eq!(s.warnings.len(), 2);
        let e = search_set(
            json!({"resourceType": "OperationOutcome", "issue": [{"diagnostics": "no"}]}),
            &l(),
        );
        assert!(
            matches!(e, Err(FhirError::Status { ref diagnostics, .. }) if diagnostics == &vec!["no".to_string()])
        );
        assert!(search_set(json!({"resourceType": "Patient"}), &l()).is_err());
        // Wrong types inside: no panic, just nothing.
        let s = search_set(
            json!({"resourceType": "Bundle", "total": "many", "entry": {"a": 1}, "link": 5}),
            &l(),
        )
        .unwrap();
        assert_eq!((s.total, s.resources.len(), s.next), (None, 0, None));
    }
}
