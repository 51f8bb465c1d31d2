//! Key pairs for SMART Backend Services: Rounds makes an ECDSA P-384 key for
//! a team's EHR connection, keeps the private key (PKCS#8 PEM, the form
//! rounds-fhir signs its ES384 client assertions with) and shows the public
//! key as a JWK Set for the administrator to register with the EHR's
//! authorization server.

use std::fmt;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P384_SHA384_FIXED_SIGNING};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Length of one P-384 coordinate.
const COORD_LEN: usize = 48;
const PEM_BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
const PEM_END: &str = "-----END PRIVATE KEY-----";

/// What can go wrong making or reading a key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The system's random source failed.
    #[error("cannot generate a key: the system's random number source failed")]
    Random,
    /// The text is not a PKCS#8 PEM private key.
    #[error("not a PEM private key: {0}")]
    NotPem(String),
    /// A PKCS#8 key, but not an ECDSA P-384 key ring accepts.
    #[error("the private key is not an ECDSA P-384 key usable for ES384: {0}")]
    WrongKey(String),
}

/// A new key pair. `Debug` does not show the private key.
#[derive(Clone)]
pub struct GeneratedKey {
    /// PKCS#8, PEM (`-----BEGIN PRIVATE KEY-----`, lines of 64). Secret:
    /// store it sealed.
    pub private_key_pem: String,
    /// The key id: the RFC 7638 JWK thumbprint (SHA-256, base64url). Goes in
    /// the client assertion's `kid` header.
    pub kid: String,
    /// The public key as a JWK (`kty`, `crv`, `x`, `y`, `kid`, `alg`, `use`,
    /// `key_ops`).
    pub public_jwk: Value,
}

impl fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("private_key_pem", &"[redacted]")
            .field("kid", &self.kid)
            .field("public_jwk", &self.public_jwk)
            .finish()
    }
}

impl GeneratedKey {
    /// The JWK Set to register with the EHR: `{"keys": [public_jwk]}`.
    pub fn jwks(&self) -> Value {
        jwks(&self.public_jwk)
    }
}

/// A JWK Set holding one key.
pub fn jwks(public_jwk: &Value) -> Value {
    json!({ "keys": [public_jwk] })
}

/// A new ECDSA P-384 key pair for ES384 client assertions.
pub fn generate_es384() -> Result<GeneratedKey, KeyError> {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng)
        .map_err(|_| KeyError::Random)?;
    let public_jwk = jwk_from_pkcs8(pkcs8.as_ref(), &rng)?;
    let kid = public_jwk
        .get("kid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Ok(GeneratedKey {
        private_key_pem: pem_encode(pkcs8.as_ref()),
        kid,
        public_jwk,
    })
}

/// The public JWK of a PKCS#8 PEM P-384 private key (as [`generate_es384`]
/// makes), with the same `kid`: the tests' cross-check of the PEM.
#[cfg(test)]
fn public_jwk_from_pem(pem: &str) -> Result<Value, KeyError> {
    let der = pem_decode(pem)?;
    jwk_from_pkcs8(&der, &SystemRandom::new())
}

fn jwk_from_pkcs8(pkcs8: &[u8], rng: &SystemRandom) -> Result<Value, KeyError> {
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, pkcs8, rng)
        .map_err(|e| KeyError::WrongKey(e.to_string()))?;
    // Uncompressed point: 0x04 || x || y.
    let point = pair.public_key().as_ref();
    let (x, y) = match point.split_first() {
        Some((&0x04, xy)) if xy.len() == 2 * COORD_LEN => xy.split_at(COORD_LEN),
        _ => {
            return Err(KeyError::WrongKey(
                "the public key is not an uncompressed P-384 point".into(),
            ))
        }
    };
    let x = URL_SAFE_NO_PAD.encode(x);
    let y = URL_SAFE_NO_PAD.encode(y);
    let kid = thumbprint(&x, &y);
    Ok(json!({
        "kty": "EC",
        "crv": "P-384",
        "x": x,
        "y": y,
        "kid": kid,
        "alg": "ES384",
        "use": "sig",
        "key_ops": ["verify"],
    }))
}

/// RFC 7638: SHA-256 over the required members in lexicographic order,
/// without whitespace, base64url without padding.
fn thumbprint(x: &str, y: &str) -> String {
    // x and y are base64url text: nothing in them needs JSON escaping.
    let canonical = format!(r#"{{"crv":"P-384","kty":"EC","x":"{x}","y":"{y}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

fn pem_encode(der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = String::with_capacity(body.len() + body.len() / 64 + 64);
    out.push_str(PEM_BEGIN);
    out.push('\n');
    let mut rest = body.as_str();
    while !rest.is_empty() {
        let (line, tail) = rest.split_at(rest.len().min(64));
        out.push_str(line);
        out.push('\n');
        rest = tail;
    }
    out.push_str(PEM_END);
    out.push('\n');
    out
}

#[cfg(test)]
fn pem_decode(pem: &str) -> Result<Vec<u8>, KeyError> {
    let text = pem.trim();
    let inner = text
        .strip_prefix(PEM_BEGIN)
        .and_then(|t| t.strip_suffix(PEM_END))
        .ok_or_else(|| {
            KeyError::NotPem(format!(
                "expected text between {PEM_BEGIN} and {PEM_END} (PKCS#8)"
            ))
        })?;
    let body: String = inner.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD
        .decode(body)
        .map_err(|_| KeyError::NotPem("the text between the markers is not base64".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};

    fn field<'a>(v: &'a Value, k: &str) -> &'a str {
        v.get(k).and_then(Value::as_str).unwrap()
    }

    #[test]
    fn the_pem_signs_es384_and_the_jwk_verifies() {
        let key = generate_es384().unwrap();
        // Signed the way rounds-fhir signs client assertions.
        let signing = EncodingKey::from_ec_pem(key.private_key_pem.as_bytes()).unwrap();
        let mut header = Header::new(Algorithm::ES384);
        header.kid = Some(key.kid.clone());
        let claims = json!({"iss": "rounds", "sub": "rounds", "aud": "https://ehr/token",
            "exp": 4_000_000_000u64, "jti": "x"});
        let jwt = jsonwebtoken::encode(&header, &claims, &signing).unwrap();

        let jwks = key.jwks();
        let jwk = &jwks["keys"][0];
        let verifying = DecodingKey::from_ec_components(field(jwk, "x"), field(jwk, "y")).unwrap();
        let mut validation = Validation::new(Algorithm::ES384);
        validation.set_audience(&["https://ehr/token"]);
        let decoded = jsonwebtoken::decode::<Value>(&jwt, &verifying, &validation).unwrap();
        assert_eq!(decoded.header.kid.as_deref(), Some(key.kid.as_str()));
        assert_eq!(decoded.claims["iss"], "rounds");

        // Another key's JWK does not verify it.
        let other = generate_es384().unwrap();
        let wrong = DecodingKey::from_ec_components(
            field(&other.public_jwk, "x"),
            field(&other.public_jwk, "y"),
        )
        .unwrap();
        assert!(jsonwebtoken::decode::<Value>(&jwt, &wrong, &validation).is_err());
        assert_ne!(other.kid, key.kid);
        assert_ne!(other.private_key_pem, key.private_key_pem);
    }

    #[test]
    fn jwk_shape_and_thumbprint() {
        let key = generate_es384().unwrap();
        let jwk = &key.public_jwk;
        assert_eq!(field(jwk, "kty"), "EC");
        assert_eq!(field(jwk, "crv"), "P-384");
        assert_eq!(field(jwk, "alg"), "ES384");
        assert_eq!(field(jwk, "use"), "sig");
        assert_eq!(jwk["key_ops"], json!(["verify"]));
        assert_eq!(field(jwk, "kid"), key.kid);
        for c in ["x", "y"] {
            let bytes = URL_SAFE_NO_PAD.decode(field(jwk, c)).unwrap();
            assert_eq!(bytes.len(), COORD_LEN, "{c}");
        }
        assert!(jwk.get("d").is_none(), "no private part");
        // RFC 7638 by hand: the required members, sorted, no whitespace.
        let canonical = serde_json::to_string(&json!({
            "crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"], "y": jwk["y"]}))
        .unwrap();
        assert!(canonical.starts_with(r#"{"crv":"P-384","kty":"EC","x":""#));
        assert_eq!(
            key.kid,
            URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
        );
        assert_eq!(key.kid.len(), 43);
        assert_eq!(key.jwks(), json!({"keys": [jwk]}));
    }

    #[test]
    fn pem_format_and_reading_it_back() {
        let key = generate_es384().unwrap();
        let pem = &key.private_key_pem;
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert!(pem.ends_with("\n-----END PRIVATE KEY-----\n"));
        let lines: Vec<&str> = pem.lines().collect();
        assert!(lines[1..lines.len() - 1].iter().all(|l| l.len() <= 64));
        assert!(lines[1..lines.len() - 2].iter().all(|l| l.len() == 64));
        assert_eq!(public_jwk_from_pem(pem).unwrap(), key.public_jwk);
        // CRLF line ends are fine too.
        assert_eq!(
            public_jwk_from_pem(&pem.replace('\n', "\r\n")).unwrap(),
            key.public_jwk
        );
        assert!(matches!(
            public_jwk_from_pem("hello"),
            Err(KeyError::NotPem(_))
        ));
        assert!(matches!(
            public_jwk_from_pem("-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----"),
            Err(KeyError::NotPem(_))
        ));
        assert!(matches!(
            public_jwk_from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"),
            Err(KeyError::WrongKey(_))
        ));
    }

    #[test]
    fn debug_hides_the_private_key() {
        let key = generate_es384().unwrap();
        let d = format!("{key:?}");
        assert!(d.contains("[redacted]") && d.contains(&key.kid), "{d}");
        assert!(!d.contains("BEGIN PRIVATE KEY"), "{d}");
        let body_line = key.private_key_pem.lines().nth(1).unwrap();
        assert!(!d.contains(body_line));
    }
}
