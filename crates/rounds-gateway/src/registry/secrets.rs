//! Client secrets: made from the system's random source, stored as their
//! SHA-256, compared in constant time; the rows of `client_secrets`.

use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::error::{GatewayError, Result};

use super::{NewSecret, SecretInfo, SECRET_PREFIX};

pub(super) fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut buf = [0u8; N];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut buf)
        .map_err(|_| GatewayError::Crypto("the system's random source failed".into()))?;
    Ok(buf)
}

/// A new random id: 32 hex digits.
pub fn random_id() -> Result<String> {
    Ok(hex::encode(random_bytes::<16>()?))
}

pub(super) fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn new_secret_value() -> Result<String> {
    use base64::Engine;
    Ok(format!(
        "{SECRET_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>()?)
    ))
}

/// Equal without a timing difference that depends on where they differ.
pub(super) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(super) async fn insert_secret(
    conn: &mut sqlx::AnyConnection,
    client_id: &str,
    expires_at: Option<i64>,
    now: i64,
) -> Result<NewSecret> {
    if expires_at.is_some_and(|e| e <= now) {
        return Err(GatewayError::invalid(
            "expires_at",
            "a secret's expiry must lie in the future",
        ));
    }
    let secret_id = random_id()?;
    let value = new_secret_value()?;
    sqlx::query(
        "INSERT INTO client_secrets (id, client_id, secret_hash, created_at, expires_at, revoked_at) \
         VALUES ($1, $2, $3, $4, $5, NULL)",
    )
    .bind(&secret_id)
    .bind(client_id)
    .bind(hash_secret(&value))
    .bind(now)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(NewSecret {
        secret_id,
        client_secret: value,
        expires_at,
    })
}

pub(super) async fn secrets_of(
    conn: &mut sqlx::AnyConnection,
    client_id: &str,
) -> Result<Vec<SecretInfo>> {
    let rows = sqlx::query(
        "SELECT id, created_at, expires_at, revoked_at FROM client_secrets \
         WHERE client_id = $1 ORDER BY created_at DESC, id",
    )
    .bind(client_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(SecretInfo {
                id: r.try_get("id")?,
                created_at: r.try_get("created_at")?,
                expires_at: r.try_get("expires_at")?,
                revoked_at: r.try_get("revoked_at")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_and_distinct() {
        let a = new_secret_value().unwrap();
        let b = new_secret_value().unwrap();
        assert_ne!(a, b);
        assert!(
            a.starts_with(SECRET_PREFIX) && a.len() == SECRET_PREFIX.len() + 43,
            "{a}"
        );
        assert!(same_bytes(
            hash_secret(&a).as_bytes(),
            hash_secret(&a).as_bytes()
        ));
        assert!(!same_bytes(
            hash_secret(&a).as_bytes(),
            hash_secret(&b).as_bytes()
        ));
    }
}
