//! Checking a bearer token: signature, expiry, issuer and audience, then
//! the registry's word (client enabled, secret live, tenant allowed),
//! cached for `revocation_check`.

use std::sync::Arc;
use std::time::Instant;

use jsonwebtoken::{Algorithm, Validation};
use sha2::{Digest, Sha256};

use crate::db::now_millis;
use crate::error::Result;

use super::{Claims, Refusal, TokenService, Validated, CACHE_MAX, LEEWAY};

impl TokenService {
    /// Checks a bearer token.
    pub async fn validate(&self, token: &str) -> Result<Result<Validated, Refusal>> {
        let bad = |why: &str| Ok(Err(Refusal::InvalidToken(why.to_owned())));
        // A token verified before (the very same bytes, known by their
        // SHA-256: the cache holds no usable token) is not verified again
        // until it expires: its signature cannot have changed, and
        // revocation is checked below either way.
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let known = self
            .verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
            .cloned();
        let claims = match known {
            Some(claims) if claims.exp + LEEWAY > now_millis() / 1000 => claims,
            Some(_) => return bad("the token has expired"),
            None => match self.verify(token).await? {
                Ok(claims) => {
                    let claims = Arc::new(claims);
                    let mut verified = self
                        .verified
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    if verified.len() >= CACHE_MAX {
                        let now = now_millis() / 1000;
                        verified.retain(|_, c| c.exp + LEEWAY > now);
                        if verified.len() >= CACHE_MAX {
                            verified.clear();
                        }
                    }
                    verified.insert(key, claims.clone());
                    claims
                }
                Err(why) => return bad(why),
            },
        };
        let state = self.grant_state(&claims.client_id, &claims.sid).await?;
        match state {
            None => bad("the token was revoked (its secret was revoked or its client disabled)"),
            Some(tenants) if !tenants.contains(&claims.tenant) => {
                Ok(Err(Refusal::TenantNotAllowed {
                    client_id: claims.client_id.clone(),
                    tenant: claims.tenant.clone(),
                }))
            }
            Some(_) => Ok(Ok(Validated {
                client_id: claims.client_id.clone(),
                tenant: claims.tenant.clone(),
            })),
        }
    }

    /// Checks a token's signature and claims; answers them, or why not.
    async fn verify(&self, token: &str) -> Result<Result<Claims, &'static str>> {
        let Ok(header) = jsonwebtoken::decode_header(token) else {
            return Ok(Err("the token is not a JWT this gateway issued"));
        };
        if header.alg != Algorithm::ES256 {
            return Ok(Err("the token is not signed with this gateway's algorithm"));
        }
        let Some(kid) = header.kid.as_deref() else {
            return Ok(Err("the token names no signing key"));
        };
        let Some(key) = self.keys.verifier(kid).await? else {
            return Ok(Err("the token is not signed by a key of this gateway"));
        };
        let mut validation = Validation::new(Algorithm::ES256);
        validation.leeway = LEEWAY.unsigned_abs();
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = match jsonwebtoken::decode::<Claims>(token, &key, &validation) {
            Ok(data) => data.claims,
            Err(e) => {
                return Ok(Err(match e.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => "the token has expired",
                    jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                        "the token's signature is not valid"
                    }
                    _ => "the token is not valid",
                }))
            }
        };
        if claims.sub != claims.client_id {
            return Ok(Err("the token is not valid"));
        }
        Ok(Ok(claims))
    }

    async fn grant_state(&self, client_id: &str, sid: &str) -> Result<Option<Arc<[String]>>> {
        let key = (client_id.to_owned(), sid.to_owned());
        if let Some((at, state)) = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
        {
            if at.elapsed() < self.check_every {
                return Ok(state.clone());
            }
        }
        let state = if sid == "jwks" {
            match self.registry.client(client_id).await? {
                Some(c) if !c.disabled && c.has_jwks => Some(Arc::from(c.tenants)),
                _ => None,
            }
        } else {
            self.registry
                .grant_state(client_id, sid)
                .await?
                .map(Arc::from)
        };
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(key, (Instant::now(), state.clone()));
        Ok(state)
    }
}
