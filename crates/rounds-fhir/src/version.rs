//! FHIR versions this client speaks, told apart by `fhirVersion`.

use crate::error::FhirError;

/// A FHIR release. The version decides resource names and field shapes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum FhirVersion {
    /// 1.0.x, `Conformance`.
    Dstu2,
    /// 3.0.x.
    Stu3,
    /// 4.0.x.
    R4,
    /// 4.3.x.
    R4B,
    /// 5.0.x.
    R5,
}

impl FhirVersion {
    /// Reads a `fhirVersion` value such as `4.0.1` (a trailing label like
    /// `-ballot` or `-cibuild` after the patch number is allowed).
    pub fn from_fhir_version(value: &str) -> Result<Self, FhirError> {
        let v = value.trim();
        let mut parts = v.split(['.', '-']);
        let major = parts.next().unwrap_or_default();
        let minor = parts.next().unwrap_or_default();
        match (major, minor) {
            ("1", "0") => Ok(FhirVersion::Dstu2),
            ("3", "0") => Ok(FhirVersion::Stu3),
            ("4", "0") => Ok(FhirVersion::R4),
            ("4", "3") => Ok(FhirVersion::R4B),
            ("5", "0") => Ok(FhirVersion::R5),
            _ => Err(FhirError::UnsupportedVersion {
                found: if v.is_empty() {
                    "none given".to_owned()
                } else {
                    // Bounded: this comes from the network.
                    v.chars().take(40).collect()
                },
            }),
        }
    }

    /// Whether this is DSTU2 (the old resource names and shapes).
    pub fn is_dstu2(self) -> bool {
        self == FhirVersion::Dstu2
    }

    /// R4 or later (CodeableConcept statuses, `recordedDate`, `requester.display`).
    pub fn is_r4_or_later(self) -> bool {
        self >= FhirVersion::R4
    }

    /// The resource type `metadata` answers with.
    pub fn capability_resource(self) -> &'static str {
        if self.is_dstu2() {
            "Conformance"
        } else {
            "CapabilityStatement"
        }
    }

    /// The resource type of medication orders.
    pub fn medication_order_type(self) -> &'static str {
        if self.is_dstu2() {
            "MedicationOrder"
        } else {
            "MedicationRequest"
        }
    }
}

impl std::fmt::Display for FhirVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FhirVersion::Dstu2 => "DSTU2",
            FhirVersion::Stu3 => "STU3",
            FhirVersion::R4 => "R4",
            FhirVersion::R4B => "R4B",
            FhirVersion::R5 => "R5",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(
            FhirVersion::from_fhir_version("1.0.2").ok(),
            Some(FhirVersion::Dstu2)
        );
        assert_eq!(
            FhirVersion::from_fhir_version("3.0.1").ok(),
            Some(FhirVersion::Stu3)
        );
        assert_eq!(
            FhirVersion::from_fhir_version("3.0.2").ok(),
            Some(FhirVersion::Stu3)
        );
        assert_eq!(
            FhirVersion::from_fhir_version("4.0.1").ok(),
            Some(FhirVersion::R4)
        );
        assert_eq!(
            FhirVersion::from_fhir_version("4.3.0").ok(),
            Some(FhirVersion::R4B)
        );
        assert_eq!(
            FhirVersion::from_fhir_version("5.0.0").ok(),
            Some(FhirVersion::R5)
        );
        assert_eq!(
            FhirVersion::from_fhir_version("4.0").ok(),
            Some(FhirVersion::R4)
        );
        for bad in ["", "0.5.0", "6.0.0", "4", "abc", "1.4.0"] {
            assert!(
                matches!(
                    FhirVersion::from_fhir_version(bad),
                    Err(FhirError::UnsupportedVersion { .. })
                ),
                "{bad}"
            );
        }
    }
}
