//! Token signing keys: ES256 (ECDSA P-256) key pairs made by the gateway,
//! the private key stored sealed with the site key, the public keys
//! published as a JWKS.
//!
//! The newest key that is not retired signs. Rotation makes a new key and
//! retires the others; a retired key stays in the JWKS and keeps verifying
//! until every token it signed has expired (the token lifetime plus a
//! margin), then it is no longer loaded. Every instance re-reads the keys
//! every few seconds, and at once when a token names a key it does not know,
//! so a rotation on one instance reaches all of them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{DecodingKey, EncodingKey};
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};
use sqlx::Row;
use tokio::sync::{Mutex, RwLock};

use crate::db::{now_millis, Db};
use crate::error::{GatewayError, Result};
use crate::registry::random_id;

/// How often an instance re-reads the keys on its own.
const RELOAD_EVERY: Duration = Duration::from_secs(10);
/// Unknown `kid`s cause a re-read at most this often.
const UNKNOWN_KID_RELOAD: Duration = Duration::from_secs(1);

fn seal_context(kid: &str) -> String {
    format!("gateway-signing-key:{kid}")
}

struct Loaded {
    signer: Option<(String, Arc<EncodingKey>)>,
    verifiers: HashMap<String, Arc<DecodingKey>>,
    jwks: Value,
    at: Instant,
}

/// The signing keys of the gateway.
pub struct SigningKeys {
    db: Db,
    sealer: Arc<rounds_secrets::SecretBox>,
    /// How long a retired key keeps verifying.
    retention: Duration,
    loaded: RwLock<Loaded>,
    reload_lock: Mutex<()>,
    /// When an unknown `kid` last caused a re-read.
    unknown_reload: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeys").finish_non_exhaustive()
    }
}

/// A key as `keys list` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyInfo {
    /// The `kid`.
    pub kid: String,
    /// `ES256`.
    pub alg: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds, once retired.
    pub retired_at: Option<i64>,
}

impl SigningKeys {
    /// The keys in `db`; makes the first key if there is none. Retired keys
    /// verify for `token_lifetime` plus a minute.
    pub async fn open(
        db: Db,
        sealer: Arc<rounds_secrets::SecretBox>,
        token_lifetime: Duration,
    ) -> Result<Self> {
        let keys = Self {
            db,
            sealer,
            retention: token_lifetime + Duration::from_secs(60),
            loaded: RwLock::new(Loaded {
                signer: None,
                verifiers: HashMap::new(),
                jwks: json!({"keys": []}),
                at: Instant::now(),
            }),
            reload_lock: Mutex::new(()),
            unknown_reload: Mutex::new(None),
        };
        keys.reload().await?;
        if keys.loaded.read().await.signer.is_none() {
            keys.create(false).await?;
            keys.reload().await?;
        }
        Ok(keys)
    }

    /// Makes a new signing key and retires the others (they keep verifying
    /// until their tokens expire). Answers the new `kid`.
    pub async fn rotate(&self) -> Result<String> {
        let kid = self.create(true).await?;
        self.reload().await?;
        Ok(kid)
    }

    /// Every key in the database, newest first.
    pub async fn list(&self) -> Result<Vec<KeyInfo>> {
        let mut conn = self.db.read().await?;
        let rows = sqlx::query(
            "SELECT kid, alg, created_at, retired_at FROM signing_keys ORDER BY created_at DESC, kid",
        )
        .fetch_all(&mut *conn)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(KeyInfo {
                    kid: r.try_get("kid")?,
                    alg: r.try_get("alg")?,
                    created_at: r.try_get("created_at")?,
                    retired_at: r.try_get("retired_at")?,
                })
            })
            .collect()
    }

    async fn create(&self, retire_others: bool) -> Result<String> {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| GatewayError::Crypto("cannot make an ES256 key".into()))?;
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .map_err(|_| GatewayError::Crypto("cannot read the new ES256 key".into()))?;
        let kid = random_id()?;
        let jwk = public_jwk(&kid, pair.public_key().as_ref())?;
        let sealed = self.sealer.seal(
            STANDARD.encode(pkcs8.as_ref()).as_bytes(),
            &seal_context(&kid),
        )?;
        let now = now_millis();
        let mut tx = self.db.write().await?;
        if retire_others {
            sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
                .bind(now)
                .execute(tx.conn())
                .await?;
        }
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, private_key, public_jwk, created_at, retired_at) \
             VALUES ($1, 'ES256', $2, $3, $4, NULL)",
        )
        .bind(&kid)
        .bind(&sealed)
        .bind(jwk.to_string())
        .bind(now)
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        Ok(kid)
    }

    /// Re-reads the keys that still verify.
    pub async fn reload(&self) -> Result<()> {
        let retention_ms = i64::try_from(self.retention.as_millis()).unwrap_or(i64::MAX);
        let oldest = now_millis().saturating_sub(retention_ms);
        let rows = {
            let mut conn = self.db.read().await?;
            sqlx::query(
                "SELECT kid, private_key, public_jwk, retired_at FROM signing_keys \
                 WHERE retired_at IS NULL OR retired_at > $1 ORDER BY created_at DESC, kid",
            )
            .bind(oldest)
            .fetch_all(&mut *conn)
            .await?
        };
        let mut signer = None;
        let mut verifiers = HashMap::new();
        let mut published = Vec::new();
        for r in rows {
            let kid: String = r.try_get("kid")?;
            let jwk_text: String = r.try_get("public_jwk")?;
            let retired: Option<i64> = r.try_get("retired_at")?;
            let jwk: Value = serde_json::from_str(&jwk_text)
                .map_err(|_| GatewayError::Corrupt(format!("the public key {kid}")))?;
            let (Some(x), Some(y)) = (jwk["x"].as_str(), jwk["y"].as_str()) else {
                return Err(GatewayError::Corrupt(format!("the public key {kid}")));
            };
            let decoding = DecodingKey::from_ec_components(x, y)
                .map_err(|_| GatewayError::Corrupt(format!("the public key {kid}")))?;
            verifiers.insert(kid.clone(), Arc::new(decoding));
            published.push(jwk);
            if retired.is_none() && signer.is_none() {
                let sealed: String = r.try_get("private_key")?;
                let opened = self.sealer.open(&sealed, &seal_context(&kid))?;
                let der = STANDARD
                    .decode(&opened)
                    .map_err(|_| GatewayError::Corrupt(format!("the signing key {kid}")))?;
                signer = Some((kid, Arc::new(EncodingKey::from_ec_der(&der))));
            }
        }
        let mut loaded = self.loaded.write().await;
        *loaded = Loaded {
            signer,
            verifiers,
            jwks: json!({ "keys": published }),
            at: Instant::now(),
        };
        Ok(())
    }

    async fn fresh(&self) -> Result<()> {
        let stale = self.loaded.read().await.at.elapsed() >= RELOAD_EVERY;
        if stale {
            let _one_at_a_time = self.reload_lock.lock().await;
            if self.loaded.read().await.at.elapsed() >= RELOAD_EVERY {
                self.reload().await?;
            }
        }
        Ok(())
    }

    /// The key that signs now: its `kid` and the key.
    pub async fn signer(&self) -> Result<(String, Arc<EncodingKey>)> {
        self.fresh().await?;
        self.loaded
            .read()
            .await
            .signer
            .clone()
            .ok_or_else(|| GatewayError::Crypto("no signing key".into()))
    }

    /// The key that verifies tokens naming `kid`, if it is (still) ours.
    pub async fn verifier(&self, kid: &str) -> Result<Option<Arc<DecodingKey>>> {
        self.fresh().await?;
        if let Some(k) = self.loaded.read().await.verifiers.get(kid) {
            return Ok(Some(k.clone()));
        }
        // Perhaps another instance rotated: re-read, but not for every
        // forged kid.
        let mut last = self.unknown_reload.lock().await;
        if last.is_none_or(|at| at.elapsed() >= UNKNOWN_KID_RELOAD) {
            self.reload().await?;
            *last = Some(Instant::now());
        }
        Ok(self.loaded.read().await.verifiers.get(kid).cloned())
    }

    /// The public keys, as a JWKS.
    pub async fn jwks(&self) -> Result<Value> {
        self.fresh().await?;
        Ok(self.loaded.read().await.jwks.clone())
    }
}

fn public_jwk(kid: &str, point: &[u8]) -> Result<Value> {
    // Uncompressed point: 0x04 || x (32 bytes) || y (32 bytes).
    if point.len() != 65 || point.first() != Some(&4) {
        return Err(GatewayError::Crypto("unexpected public key format".into()));
    }
    Ok(json!({
        "kty": "EC",
        "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        "kid": kid,
        "alg": "ES256",
        "use": "sig",
    }))
}
