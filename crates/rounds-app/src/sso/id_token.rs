//! The ID token's checks (OpenID Connect Core §3.1.3.7): a JWS signed with
//! an asymmetric algorithm by a key of the provider's JWKS, the expected
//! issuer and audience, not expired, not issued in the future, and the
//! nonce of this sign-in. `alg: none` and HMAC algorithms are refused.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

/// Why an ID token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Problem {
    /// The token names a key the JWKS does not hold (read the keys again).
    UnknownKey,
    /// Times off by more than the tolerated skew.
    Clock,
    Refused(String),
}

/// What the checks need to know.
pub(super) struct Expect<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    /// Algorithms the provider declared (empty: any asymmetric one).
    pub algs: &'a [String],
    pub leeway_secs: u64,
    pub now_secs: u64,
}

const ASYMMETRIC: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

fn refused(s: impl Into<String>) -> Problem {
    Problem::Refused(s.into())
}

/// Checks `token` against `jwks` and `expect`; the claims if it passes.
pub(super) fn check(
    token: &str,
    jwks: &JwkSet,
    expect: &Expect<'_>,
) -> Result<Map<String, Value>, Problem> {
    // A token whose header says `alg: none` (or anything unknown) does not
    // parse: jsonwebtoken knows no such algorithm.
    let header = decode_header(token).map_err(|_| refused("the ID token is not a signed JWT"))?;
    if !ASYMMETRIC.contains(&header.alg) {
        return Err(refused(format!(
            "the ID token is signed with {:?}, which Rounds does not accept",
            header.alg
        )));
    }
    let alg_name = format!("{:?}", header.alg);
    if !expect.algs.is_empty() && !expect.algs.contains(&alg_name) {
        return Err(refused(format!(
            "the ID token is signed with {alg_name}, which the provider does not list"
        )));
    }
    let jwk = match &header.kid {
        Some(kid) => jwks.find(kid),
        None if jwks.keys.len() == 1 => jwks.keys.first(),
        None => None,
    }
    .ok_or(Problem::UnknownKey)?;
    let key =
        DecodingKey::from_jwk(jwk).map_err(|_| refused("the provider's key is not usable"))?;
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[expect.issuer]);
    validation.set_audience(&[expect.client_id]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = expect.leeway_secs;
    validation.validate_nbf = true;
    let data =
        decode::<Map<String, Value>>(token, &key, &validation).map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => refused("the ID token's signature is not valid"),
            ErrorKind::ExpiredSignature | ErrorKind::ImmatureSignature => Problem::Clock,
            ErrorKind::InvalidIssuer => refused("the ID token is from another issuer"),
            ErrorKind::InvalidAudience => refused("the ID token is for another client"),
            ErrorKind::MissingRequiredClaim(c) => refused(format!("the ID token has no {c}")),
            ErrorKind::InvalidAlgorithm => refused("the ID token's algorithm does not fit its key"),
            _ => refused("the ID token is not valid"),
        })?;
    let claims = data.claims;
    // Issued in the future: the clocks disagree.
    if let Some(iat) = claims.get("iat").and_then(Value::as_u64) {
        if iat > expect.now_secs + expect.leeway_secs {
            return Err(Problem::Clock);
        }
    }
    // Several audiences: the authorized party must be us (Core §3.1.3.7 (4, 5)).
    if let Some(Value::Array(auds)) = claims.get("aud") {
        if auds.len() > 1 && claims.get("azp").and_then(Value::as_str) != Some(expect.client_id) {
            return Err(refused("the ID token is for several clients, not us"));
        }
    }
    match claims.get("nonce").and_then(Value::as_str) {
        None => Err(refused("the ID token has no nonce")),
        Some(n) if !crate::secrets::same_text(n, expect.nonce) => {
            Err(refused("the ID token's nonce is not this sign-in's"))
        }
        Some(_) => Ok(claims),
    }
}
