//! `POST /token`'s logic: the request's parameters, the client's
//! authentication (secret or private_key_jwt), the tenant from the scope,
//! and the signed answer, or an RFC 6749 §5.2 error.

use std::collections::HashMap;

use jsonwebtoken::{Algorithm, Header};

use crate::db::now_millis;
use crate::error::Result;
use crate::registry::{random_id, AuthFailure, Client};

use super::{
    Claims, OAuthError, TokenAnswer, TokenRequest, TokenService, ASSERTION_TYPE, NON_TENANT_SCOPES,
};

impl TokenService {
    /// Answers a token request.
    pub async fn issue(&self, req: &TokenRequest) -> Result<Result<TokenAnswer, OAuthError>> {
        let params = match parameters(req) {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        let (client, secret_id) = match self.authenticate_client(req, &params).await? {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        if client.tenants.is_empty() {
            return Ok(Err(OAuthError::new(
                "unauthorized_client",
                "this client may not use any tenant",
            )));
        }
        let scope = params.get("scope").copied().unwrap_or_default();
        let (tenant, granted) = match pick_tenant(scope, &client.tenants) {
            Ok(t) => t,
            Err(e) => return Ok(Err(e)),
        };
        if self.tenants.get(&tenant).await?.is_none() {
            return Ok(Err(OAuthError::new(
                "invalid_scope",
                format!("the tenant {tenant} is not served by this gateway"),
            )));
        }
        self.sign(client, tenant, granted, secret_id).await.map(Ok)
    }

    /// The client the request authenticates, by HTTP Basic, the body's
    /// secret or a private_key_jwt assertion (exactly one of them), and the
    /// secret's id (`jwks` for an assertion).
    async fn authenticate_client(
        &self,
        req: &TokenRequest,
        params: &HashMap<&str, &str>,
    ) -> Result<Result<(Client, String), OAuthError>> {
        let body_secret = params.get("client_secret").copied();
        let assertion = params.get("client_assertion").copied();
        let methods = usize::from(req.basic.is_some())
            + usize::from(body_secret.is_some())
            + usize::from(assertion.is_some());
        if methods > 1 {
            return Ok(Err(OAuthError::new(
                "invalid_request",
                "use one client authentication method, not several",
            )));
        }
        let basic = req.basic.is_some();
        let authenticated = if let Some((id, secret)) = &req.basic {
            if params.get("client_id").is_some_and(|c| c != id) {
                return Ok(Err(OAuthError::new(
                    "invalid_request",
                    "client_id in the body differs from the HTTP Basic user",
                )));
            }
            self.registry.authenticate(id, secret).await?
        } else if let Some(secret) = body_secret {
            let Some(id) = params.get("client_id") else {
                return Ok(Err(OAuthError::new(
                    "invalid_request",
                    "client_id is missing",
                )));
            };
            self.registry.authenticate(id, secret).await?
        } else if let Some(assertion) = assertion {
            if params.get("client_assertion_type") != Some(&ASSERTION_TYPE) {
                return Ok(Err(OAuthError::new(
                    "invalid_request",
                    format!("client_assertion_type must be {ASSERTION_TYPE}"),
                )));
            }
            match self
                .check_assertion(assertion, params.get("client_id").copied())
                .await?
            {
                Ok(client_id) => match self.registry.client(&client_id).await? {
                    Some(c) if !c.disabled => Ok((c, "jwks".to_owned())),
                    Some(_) => Err(AuthFailure::Disabled),
                    None => Err(AuthFailure::UnknownClient),
                },
                Err(e) => return Ok(Err(e)),
            }
        } else {
            return Ok(Err(OAuthError::client(
                "client authentication is missing (client_secret_basic, client_secret_post or private_key_jwt)",
                false,
                "no_client_authentication",
            )));
        };
        Ok(authenticated
            .map_err(|why| OAuthError::client("client authentication failed", basic, why.as_str())))
    }

    /// The signed token for `client` and `tenant`, as the answer says it.
    async fn sign(
        &self,
        client: Client,
        tenant: String,
        granted: String,
        secret_id: String,
    ) -> Result<TokenAnswer> {
        let now = now_millis() / 1000;
        let lifetime = i64::try_from(self.lifetime.as_secs()).unwrap_or(300);
        let claims = Claims {
            iss: self.issuer.clone(),
            sub: client.id.clone(),
            aud: self.issuer.clone(),
            exp: now + lifetime,
            iat: now,
            jti: random_id()?,
            client_id: client.id.clone(),
            tenant: tenant.clone(),
            scope: granted.clone(),
            sid: secret_id,
        };
        let (kid, key) = self.keys.signer().await?;
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid);
        header.typ = Some("at+jwt".into());
        let token = jsonwebtoken::encode(&header, &claims, &key)
            .map_err(|e| crate::GatewayError::Crypto(format!("cannot sign a token: {e}")))?;
        Ok(TokenAnswer {
            access_token: token,
            token_type: "Bearer",
            expires_in: self.lifetime.as_secs(),
            scope: granted,
            client_id: client.id,
            tenant,
        })
    }
}

/// The form's parameters, each once (RFC 6749 §3.2), for a
/// client_credentials grant with well-formed client authentication.
fn parameters(req: &TokenRequest) -> Result<HashMap<&str, &str>, OAuthError> {
    // RFC 6749 §3.2: parameters must not repeat.
    let mut params: HashMap<&str, &str> = HashMap::new();
    for (k, v) in &req.form {
        if params.insert(k.as_str(), v.as_str()).is_some() {
            return Err(OAuthError::new(
                "invalid_request",
                format!("the parameter {k} is repeated"),
            ));
        }
    }
    if req.bad_authorization {
        return Err(OAuthError::client(
            "the Authorization header is not HTTP Basic with a client id and secret",
            true,
            "bad_authorization",
        ));
    }
    let Some(grant) = params.get("grant_type") else {
        return Err(OAuthError::new("invalid_request", "grant_type is missing"));
    };
    if *grant != "client_credentials" {
        return Err(OAuthError::new(
            "unsupported_grant_type",
            "this server issues tokens for grant_type=client_credentials only",
        ));
    }
    Ok(params)
}

/// Picks the tenant from `scope`: its one word that is not a SMART or
/// OpenID scope (plain, or `tenant:<id>`); with none, the client's only
/// tenant. Answers the tenant and the granted scope.
fn pick_tenant(scope: &str, allowed: &[String]) -> Result<(String, String), OAuthError> {
    let mut tenants = Vec::new();
    let mut others = Vec::new();
    for word in scope.split(' ').filter(|w| !w.is_empty()) {
        if word.contains('/') || NON_TENANT_SCOPES.contains(&word) {
            others.push(word);
        } else {
            tenants.push(word.strip_prefix("tenant:").unwrap_or(word));
        }
    }
    let tenant = match tenants.as_slice() {
        [one] => (*one).to_owned(),
        [] if allowed.len() == 1 => allowed[0].clone(),
        [] => {
            return Err(OAuthError::new(
                "invalid_scope",
                "name the tenant in scope (this client may use several)",
            ))
        }
        _ => {
            return Err(OAuthError::new(
                "invalid_scope",
                "name one tenant per token",
            ))
        }
    };
    if !allowed.contains(&tenant) {
        return Err(OAuthError::new(
            "invalid_scope",
            "this client may not use the tenant it asked for",
        ));
    }
    others.push(&tenant);
    Ok((tenant.clone(), others.join(" ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_from_scope() {
        let allowed = vec!["a".to_owned(), "b".to_owned()];
        assert_eq!(
            pick_tenant("a", &allowed).unwrap(),
            ("a".into(), "a".into())
        );
        assert_eq!(
            pick_tenant("system/*.read tenant:b", &allowed).unwrap(),
            ("b".into(), "system/*.read b".into())
        );
        assert_eq!(pick_tenant("", &allowed).unwrap_err().code, "invalid_scope");
        assert_eq!(
            pick_tenant("a b", &allowed).unwrap_err().code,
            "invalid_scope"
        );
        assert_eq!(
            pick_tenant("c", &allowed).unwrap_err().code,
            "invalid_scope"
        );
        let one = vec!["a".to_owned()];
        assert_eq!(pick_tenant("system/*.read", &one).unwrap().0, "a");
    }
}
