//! Discovery: what `GET {base}/metadata` (and, when published,
//! `.well-known/smart-configuration`) says about a server.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use crate::error::{FhirError, RequestLabel};
use crate::parse::{arr, str_at, str_of, text};
use crate::version::FhirVersion;

const OAUTH_URIS: &str = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris";

/// What a server declares for one resource type.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ResourceSupport {
    /// `read`, `search-type`, ...
    pub interactions: BTreeSet<String>,
    /// Declared `searchParam` names.
    pub search_params: BTreeSet<String>,
    /// Declared `searchInclude` values (`Coverage:payor`, ...).
    pub search_includes: BTreeSet<String>,
}

/// OAuth endpoints from the security extension or the SMART configuration.
#[derive(Clone, Debug, Default, Serialize)]
pub struct OAuthEndpoints {
    /// The token endpoint.
    pub token: Option<String>,
    /// The authorization endpoint (user-level launch; not used yet).
    pub authorize: Option<String>,
}

/// The parts of a CapabilityStatement (or DSTU2 Conformance) Rounds reads.
#[derive(Clone, Debug, Serialize)]
pub struct Capabilities {
    /// The version `fhirVersion` names.
    pub version: FhirVersion,
    /// `fhirVersion` as written.
    pub fhir_version: String,
    /// `resourceType` of the answer (`Conformance` or `CapabilityStatement`).
    pub resource_type: String,
    /// `software.name` and `.version`.
    pub software: Option<String>,
    /// `rest[mode=server].interaction` has `batch`.
    pub batch: bool,
    /// The most entries a batch Bundle may hold, where the server declares
    /// it (FHIR has no element for it: an extension of `rest` whose URL
    /// ends in `max-batch-size` or `maxBatchSize`, an integer).
    pub max_batch_entries: Option<usize>,
    /// `transaction` is declared.
    pub transaction: bool,
    /// Declared resource types, by type.
    pub resources: BTreeMap<String, ResourceSupport>,
    /// From the `oauth-uris` extension of `rest.security`.
    pub oauth: OAuthEndpoints,
    /// From `.well-known/smart-configuration`, if the server publishes one.
    pub smart: Option<OAuthEndpoints>,
    /// `rest.security.service` codes (e.g. `SMART-on-FHIR`).
    pub security_services: Vec<String>,
}

impl Capabilities {
    /// Whether the server declares `_include=include` on searches of this type.
    pub fn declares_include(&self, resource_type: &str, include: &str) -> bool {
        self.resources
            .get(resource_type)
            .is_some_and(|r| r.search_includes.contains(include))
    }

    /// Whether the server declares this resource type. A server that declares
    /// no resources at all is taken to offer every type (and searches find out).
    pub fn supports(&self, resource_type: &str) -> bool {
        self.resources.is_empty() || self.resources.contains_key(resource_type)
    }

    /// Whether a search parameter is declared for a type. Unknown (no list
    /// declared for a supported type) counts as declared.
    pub fn supports_param(&self, resource_type: &str, param: &str) -> bool {
        match self.resources.get(resource_type) {
            Some(r) => r.search_params.is_empty() || r.search_params.contains(param),
            None => self.resources.is_empty(),
        }
    }

    /// Whether the search parameter is declared explicitly.
    pub fn declares_param(&self, resource_type: &str, param: &str) -> bool {
        self.resources
            .get(resource_type)
            .is_some_and(|r| r.search_params.contains(param))
    }

    /// The token endpoint: SMART configuration first, then the extension.
    pub fn token_endpoint(&self) -> Option<&str> {
        self.smart
            .as_ref()
            .and_then(|s| s.token.as_deref())
            .or(self.oauth.token.as_deref())
    }
}

/// Reads a `metadata` answer.
pub fn parse_capabilities(v: &Value, request: &RequestLabel) -> Result<Capabilities, FhirError> {
    let resource_type = str_of(v, "resourceType").unwrap_or_default();
    if !matches!(resource_type, "Conformance" | "CapabilityStatement") {
        return Err(FhirError::malformed(
            request,
            format!(
                "metadata answered a {}, not a Conformance or CapabilityStatement",
                if resource_type.is_empty() {
                    "JSON without resourceType".to_owned()
                } else {
                    resource_type.chars().take(40).collect()
                }
            ),
        ));
    }
    let fhir_version = str_of(v, "fhirVersion").unwrap_or_default().to_owned();
    let version = FhirVersion::from_fhir_version(&fhir_version)?;
    let software = text(str_at(v, &["software", "name"])).map(|name| {
        match text(str_at(v, &["software", "version"])) {
            Some(ver) => format!("{name} {ver}"),
            None => name,
        }
    });
    let rests = arr(v, "rest");
    let rest = rests
        .iter()
        .find(|r| str_of(r, "mode") == Some("server"))
        .or_else(|| rests.first());
    let mut caps = Capabilities {
        version,
        fhir_version: fhir_version.chars().take(40).collect(),
        resource_type: resource_type.to_owned(),
        software,
        batch: false,
        max_batch_entries: None,
        transaction: false,
        resources: BTreeMap::new(),
        oauth: OAuthEndpoints::default(),
        smart: None,
        security_services: Vec::new(),
    };
    let Some(rest) = rest else {
        return Ok(caps);
    };
    caps.max_batch_entries = arr(rest, "extension").iter().find_map(|e| {
        let url = str_of(e, "url")?;
        if !(url.ends_with("max-batch-size") || url.ends_with("maxBatchSize")) {
            return None;
        }
        ["valueInteger", "valueUnsignedInt", "valuePositiveInt"]
            .iter()
            .find_map(|k| e.get(*k).and_then(serde_json::Value::as_u64))
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n > 0)
    });
    for i in arr(rest, "interaction") {
        match str_of(i, "code") {
            Some("batch") => caps.batch = true,
            Some("transaction") => caps.transaction = true,
            _ => {}
        }
    }
    for r in arr(rest, "resource") {
        let Some(kind) = text(str_of(r, "type")) else {
            continue;
        };
        let support = caps.resources.entry(kind).or_default();
        support.interactions.extend(
            arr(r, "interaction")
                .iter()
                .filter_map(|i| text(str_of(i, "code"))),
        );
        support.search_params.extend(
            arr(r, "searchParam")
                .iter()
                .filter_map(|p| text(str_of(p, "name"))),
        );
        support.search_includes.extend(
            arr(r, "searchInclude")
                .iter()
                .filter_map(|i| text(i.as_str())),
        );
    }
    if let Some(security) = rest.get("security") {
        for ext in arr(security, "extension") {
            if str_of(ext, "url") != Some(OAUTH_URIS) {
                continue;
            }
            for sub in arr(ext, "extension") {
                let value = text(str_of(sub, "valueUri"));
                match str_of(sub, "url") {
                    Some("token") => caps.oauth.token = value,
                    Some("authorize") => caps.oauth.authorize = value,
                    _ => {}
                }
            }
        }
        caps.security_services = arr(security, "service")
            .iter()
            .flat_map(|s| arr(s, "coding"))
            .filter_map(|c| text(str_of(c, "code")))
            .collect();
    }
    Ok(caps)
}

/// Reads `.well-known/smart-configuration`.
pub fn parse_smart_configuration(v: &Value) -> OAuthEndpoints {
    OAuthEndpoints {
        token: crate::auth::smart_token_endpoint(v),
        authorize: text(str_of(v, "authorization_endpoint")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn l() -> RequestLabel {
        RequestLabel("GET metadata".into())
    }

    #[test]
    fn dstu2_conformance_with_oauth() {
        let v = json!({
            "resourceType": "Conformance", "fhirVersion": "1.0.2",
            "rest": [{"mode": "server",
                "security": {"extension": [{"url": OAUTH_URIS, "extension": [
                    {"url": "token", "valueUri": "https://auth/token"},
                    {"url": "authorize", "valueUri": "https://auth/authorize"}]}],
                    "service": [{"coding": [{"code": "SMART-on-FHIR"}]}]},
                "resource": [{"type": "Patient", "interaction": [{"code": "read"}],
                              "searchParam": [{"name": "family"}]},
                             {"type": "MedicationOrder"}]}]
        });
        let c = parse_capabilities(&v, &l()).unwrap();
        assert_eq!(c.version, FhirVersion::Dstu2);
        assert!(!c.batch);
        assert_eq!(c.oauth.token.as_deref(), Some("https://auth/token"));
        assert_eq!(c.oauth.authorize.as_deref(), Some("https://auth/authorize"));
        assert!(c.supports("MedicationOrder"));
        assert!(!c.supports("Coverage"));
        assert!(c.declares_param("Patient", "family"));
        assert!(!c.declares_param("Patient", "given"));
        assert_eq!(c.security_services, vec!["SMART-on-FHIR".to_string()]);
    }

    #[test]
    fn r4_batch_and_errors() {
        let v = json!({"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1",
            "rest": [{"mode": "client"}, {"mode": "server", "interaction": [{"code": "batch"}]}]});
        let c = parse_capabilities(&v, &l()).unwrap();
        assert_eq!(c.version, FhirVersion::R4);
        assert!(c.batch);
        assert!(c.supports("Anything"), "no declared resources: assume all");
        let none = json!({"resourceType": "CapabilityStatement"});
        assert!(matches!(
            parse_capabilities(&none, &l()),
            Err(FhirError::UnsupportedVersion { .. })
        ));
        let wrong = json!({"resourceType": "Patient", "fhirVersion": "4.0.1"});
        assert!(matches!(
            parse_capabilities(&wrong, &l()),
            Err(FhirError::Malformed { .. })
        ));
        // Wrong types everywhere: no panic.
        let odd = json!({"resourceType": "CapabilityStatement", "fhirVersion": "3.0.1",
            "rest": {"mode": 1}, "software": [1]});
        assert_eq!(
            parse_capabilities(&odd, &l()).unwrap().version,
            FhirVersion::Stu3
        );
    }
}
