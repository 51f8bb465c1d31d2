//! Random tokens, one-time passwords and password hashes.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

use crate::AppError;

fn random_bytes<const N: usize>() -> Result<[u8; N], AppError> {
    let mut buf = [0u8; N];
    getrandom::getrandom(&mut buf)
        .map_err(|e| AppError::Internal(format!("the system's random source failed: {e}")))?;
    Ok(buf)
}

/// 256 random bits, URL-safe.
pub fn new_token() -> Result<String, AppError> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<32>()?))
}

pub fn sha256_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// A password to hand over once: 4 groups of 5 characters without look-alikes
/// (about 98 bits).
pub fn one_time_password() -> Result<String, AppError> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut out = String::with_capacity(23);
    let mut produced = 0;
    while produced < 20 {
        for byte in random_bytes::<32>()? {
            // 31 letters: drop bytes that would bias the choice.
            if usize::from(byte) >= 31 * 8 || produced == 20 {
                continue;
            }
            if produced > 0 && produced % 5 == 0 {
                out.push('-');
            }
            out.push(char::from(ALPHABET[usize::from(byte) % 31]));
            produced += 1;
        }
    }
    Ok(out)
}

/// Hashes with argon2id (the crate's defaults: 19 MiB, 2 passes), off the
/// async threads.
pub async fn hash_password(password: String) -> Result<String, AppError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AppError::Internal(format!("cannot hash the password: {e}")))
    })
    .await
    .map_err(|e| AppError::Internal(format!("password hashing stopped: {e}")))?
}

/// A real hash of a random password, made once, to spend the same effort
/// on when there is no account (so response times do not reveal which
/// usernames exist).
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(b"no account has this password", &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

/// Checks `password` against a stored hash; a missing or unreadable hash
/// costs the same time and fails.
pub async fn verify_password(password: String, stored: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| dummy_hash().to_owned());
        let matches = PasswordHash::new(&stored)
            .map(|hash| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &hash)
                    .is_ok()
            })
            .unwrap_or(false);
        known && matches
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_time_passwords_look_right() {
        let p = one_time_password().unwrap_or_default();
        assert_eq!(p.len(), 23);
        assert_eq!(p.matches('-').count(), 3);
        assert_ne!(p, one_time_password().unwrap_or_default());
    }

    #[tokio::test]
    async fn hashes_verify() {
        let h = hash_password("correct horse battery".into()).await.ok();
        assert!(verify_password("correct horse battery".into(), h.clone()).await);
        assert!(!verify_password("wrong horse battery".into(), h).await);
        assert!(!verify_password("anything".into(), None).await);
    }
}
