//! private_key_jwt (SMART Backend Services): a client's signed assertion
//! checked against its registered JWKS, each assertion usable once.

use jsonwebtoken::{Algorithm, Validation};

use crate::db::now_millis;
use crate::error::Result;

use super::{OAuthError, TokenService};

impl TokenService {
    /// private_key_jwt: verifies the assertion against the client's JWKS;
    /// answers the client id.
    pub(super) async fn check_assertion(
        &self,
        assertion: &str,
        client_id: Option<&str>,
    ) -> Result<Result<String, OAuthError>> {
        let fail = |why: &str, reason: &'static str| {
            Ok(Err(OAuthError::client(why.to_owned(), false, reason)))
        };
        let Ok(header) = jsonwebtoken::decode_header(assertion) else {
            return fail("the client assertion is not a JWT", "bad_assertion");
        };
        if !matches!(
            header.alg,
            Algorithm::RS384 | Algorithm::ES384 | Algorithm::RS256 | Algorithm::ES256
        ) {
            return fail(
                "the client assertion's algorithm is not accepted",
                "bad_assertion",
            );
        }
        // Which client: the form's client_id, else the unverified `sub`
        // (only to find the keys; the signature is checked below).
        let mut peek = Validation::new(header.alg);
        peek.insecure_disable_signature_validation();
        peek.validate_exp = false;
        peek.validate_aud = false;
        peek.set_required_spec_claims::<&str>(&[]);
        let unverified = jsonwebtoken::decode::<serde_json::Value>(
            assertion,
            &jsonwebtoken::DecodingKey::from_secret(&[]),
            &peek,
        );
        let Ok(unverified) = unverified else {
            return fail("the client assertion is not a JWT", "bad_assertion");
        };
        let id = match client_id.or_else(|| unverified.claims["sub"].as_str()) {
            Some(id) => id.to_owned(),
            None => return fail("the client assertion names no client", "bad_assertion"),
        };
        let Some(jwks) = self.registry.jwks(&id).await? else {
            return fail("client authentication failed", "no_jwks");
        };
        let Ok(set) = serde_json::from_value::<jsonwebtoken::jwk::JwkSet>(jwks) else {
            return fail("client authentication failed", "bad_jwks");
        };
        let candidates: Vec<&jsonwebtoken::jwk::Jwk> = match header.kid.as_deref() {
            Some(kid) => set
                .keys
                .iter()
                .filter(|k| k.common.key_id.as_deref() == Some(kid))
                .collect(),
            None => set.keys.iter().collect(),
        };
        let mut validation = Validation::new(header.alg);
        validation.leeway = 5;
        validation.set_audience(&[&self.token_url]);
        validation.set_issuer(&[&id]);
        validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
        for jwk in candidates {
            let Ok(key) = jsonwebtoken::DecodingKey::from_jwk(jwk) else {
                continue;
            };
            let Ok(data) = jsonwebtoken::decode::<serde_json::Value>(assertion, &key, &validation)
            else {
                continue;
            };
            if data.claims["sub"].as_str() != Some(id.as_str()) {
                return fail(
                    "the client assertion's sub must be the client id",
                    "bad_assertion",
                );
            }
            let exp = data.claims["exp"].as_i64().unwrap_or(0);
            if exp > now_millis() / 1000 + 300 {
                return fail(
                    "the client assertion lives longer than five minutes",
                    "bad_assertion",
                );
            }
            let Some(jti) = data.claims["jti"].as_str() else {
                return fail("the client assertion has no jti", "bad_assertion");
            };
            if jti.is_empty() || jti.len() > 256 {
                return fail("the client assertion's jti is not usable", "bad_assertion");
            }
            if !self.registry.first_use_of_assertion(&id, jti, exp).await? {
                return fail("the client assertion was used before", "assertion_replay");
            }
            return Ok(Ok(id));
        }
        fail("client authentication failed", "bad_assertion_signature")
    }
}
