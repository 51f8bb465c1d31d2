//! Random tokens, one-time passwords and password hashes.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

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

/// Compares two secrets in time that depends only on their lengths.
pub(crate) fn same_text(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// `token` (a CSRF token) masked for one answer: a fresh random pad of its
/// length and the token XOR the pad, sent as base64url(pad || masked).
/// Every page carries a different text for the same token, so a
/// compressed page holds no stable secret for BREACH to guess at (the
/// attacker's reflected guess never matches the bytes on the page).
pub fn mask_token(token: &str) -> Result<String, AppError> {
    let secret = token.as_bytes();
    let mut pad = vec![0u8; secret.len()];
    getrandom::getrandom(&mut pad)
        .map_err(|e| AppError::Internal(format!("the system's random source failed: {e}")))?;
    let masked: Vec<u8> = pad.iter().zip(secret).map(|(p, t)| p ^ t).collect();
    pad.extend_from_slice(&masked);
    Ok(URL_SAFE_NO_PAD.encode(pad))
}

/// Whether `sent` is `token` itself (API clients have it from the session
/// answer) or a masking of it ([`mask_token`]); in time that depends only
/// on the lengths.
pub fn token_matches(sent: &str, token: &str) -> bool {
    if token.is_empty() {
        return false;
    }
    if sent.len() == token.len() {
        return same_text(sent, token);
    }
    let Ok(raw) = URL_SAFE_NO_PAD.decode(sent) else {
        return false;
    };
    let secret = token.as_bytes();
    if raw.len() != 2 * secret.len() {
        return false;
    }
    let (pad, masked) = raw.split_at(secret.len());
    pad.iter()
        .zip(masked)
        .zip(secret)
        .fold(0u8, |acc, ((p, m), t)| acc | (p ^ m ^ t))
        == 0
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

/// How many argon2 memory blocks (1 KiB each) a hash of ours uses: the
/// crate's default 19 MiB.
const POOL_BLOCKS: usize = Params::DEFAULT_M_COST as usize;

/// Password hashing with a bound: at most one hash per core runs at once,
/// each in a 19 MiB memory block taken from a small pool and given back
/// afterwards (so memory under a burst of sign-ins is bounded by the pool,
/// and the blocks are reused rather than left to the allocator). Callers
/// beyond that wait in line, up to `wait`; then they are told the server is
/// busy.
pub(crate) struct Hasher {
    permits: Semaphore,
    pool: Mutex<Vec<Vec<Block>>>,
    wait: Duration,
}

impl Hasher {
    pub(crate) fn new(concurrency: usize, wait: Duration) -> Self {
        let concurrency = concurrency.max(1);
        Self {
            permits: Semaphore::new(concurrency),
            pool: Mutex::new(Vec::with_capacity(concurrency)),
            wait,
        }
    }

    /// One hash per core of this machine.
    pub(crate) fn per_core(wait: Duration) -> Self {
        Self::new(
            std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
            wait,
        )
    }

    /// Runs `work` with a memory block of at least `blocks` blocks, once a
    /// place in line is free.
    async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        blocks: usize,
        work: impl FnOnce(&mut [Block]) -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let permit = tokio::time::timeout(self.wait, self.permits.acquire())
            .await
            .map_err(|_| AppError::Busy {
                message: "the server is busy checking passwords; try again in a few seconds".into(),
            })?
            .map_err(|e| AppError::Internal(format!("password hashing stopped: {e}")))?;
        let me = Arc::clone(self);
        let done = tokio::task::spawn_blocking(move || {
            let mut memory = if blocks <= POOL_BLOCKS {
                me.take_block()
            } else {
                // A stored hash with a larger memory cost than ours: rare,
                // and still one per place in line.
                vec![Block::new(); blocks]
            };
            let out = work(&mut memory);
            if memory.len() == POOL_BLOCKS {
                me.give_back(memory);
            }
            out
        })
        .await
        .map_err(|e| AppError::Internal(format!("password hashing stopped: {e}")));
        drop(permit);
        done
    }

    fn take_block(&self) -> Vec<Block> {
        let reused = self.pool.lock().map(|mut pool| pool.pop()).unwrap_or(None);
        reused.unwrap_or_else(|| vec![Block::new(); POOL_BLOCKS])
    }

    fn give_back(&self, block: Vec<Block>) {
        if let Ok(mut pool) = self.pool.lock() {
            pool.push(block);
        }
    }

    /// Hashes with argon2id (the crate's defaults: 19 MiB, 2 passes) into
    /// a PHC string.
    pub(crate) async fn hash(self: &Arc<Self>, password: String) -> Result<String, AppError> {
        let salt = random_bytes::<16>()?;
        self.run(POOL_BLOCKS, move |memory| {
            hash_with(&password, &salt, memory)
        })
        .await?
    }

    /// Checks `password` against a stored hash; a missing or unreadable
    /// hash costs the same time and fails.
    pub(crate) async fn verify(
        self: &Arc<Self>,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, AppError> {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| DUMMY_HASH.to_owned());
        let blocks = PasswordHash::new(&stored)
            .ok()
            .and_then(|h| Params::try_from(&h).ok())
            .map_or(POOL_BLOCKS, |p| p.block_count());
        let matches = self
            .run(blocks, move |memory| {
                verify_with(&password, &stored, memory)
            })
            .await?;
        Ok(known && matches)
    }
}

fn hash_with(password: &str, salt: &[u8], memory: &mut [Block]) -> Result<String, AppError> {
    let fail = |e: &dyn fmt::Display| AppError::Internal(format!("cannot hash the password: {e}"));
    let params = Params::default();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, memory)
        .map_err(|e| fail(&e))?;
    let salt = SaltString::encode_b64(salt).map_err(|e| fail(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| fail(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| fail(&e))?),
    };
    Ok(phc.to_string())
}

fn verify_with(password: &str, stored: &str, memory: &mut [Block]) -> bool {
    let check = || -> Option<bool> {
        let phc = PasswordHash::new(stored).ok()?;
        let algorithm = Algorithm::try_from(phc.algorithm).ok()?;
        let version = Version::try_from(phc.version.unwrap_or(0x13)).ok()?;
        let params = Params::try_from(&phc).ok()?;
        let expected = phc.hash?;
        let mut salt = [0u8; 64];
        let salt = phc.salt?.decode_b64(&mut salt).ok()?;
        let mut out = vec![0u8; expected.len()];
        Argon2::new(algorithm, version, params)
            .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, memory)
            .ok()?;
        // Output compares in constant time.
        Some(Output::new(&out).ok()? == expected)
    };
    check().unwrap_or(false)
}

/// A well-formed argon2id hash (default parameters) that no known password
/// matches, to spend the same effort on when there is no account (so
/// response times do not reveal which usernames exist).
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdCBvZiBubyBhY2NvdW50$vh3wYk4Wc0Jx0pP3Zf8m0mM6n9n1rj1U0m3S6oJmQrQ";

#[cfg(test)]
mod tests {
    #[test]
    fn masked_tokens_differ_and_verify_only_for_their_token() {
        let token = super::new_token().unwrap_or_default();
        let other = super::new_token().unwrap_or_default();
        let a = super::mask_token(&token).unwrap_or_default();
        let b = super::mask_token(&token).unwrap_or_default();
        assert_ne!(a, b, "a fresh pad per answer");
        assert!(!a.contains(&token));
        assert!(super::token_matches(&a, &token));
        assert!(super::token_matches(&b, &token));
        assert!(super::token_matches(&token, &token), "the token itself");
        assert!(!super::token_matches(&a, &other), "another session's");
        assert!(!super::token_matches(&other, &token));
        // One character changed anywhere: refused.
        for i in [0, a.len() / 2, a.len() - 2] {
            let mut bytes = a.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(bytes).unwrap_or_default();
            assert!(!super::token_matches(&altered, &token), "{i}");
        }
        assert!(!super::token_matches(&a[..a.len() - 1], &token));
        assert!(!super::token_matches("", &token));
        assert!(!super::token_matches("", ""));
    }

    use super::*;

    #[test]
    fn one_time_passwords_look_right() {
        let p = one_time_password().unwrap_or_default();
        assert_eq!(p.len(), 23);
        assert_eq!(p.matches('-').count(), 3);
        assert_ne!(p, one_time_password().unwrap_or_default());
    }

    fn hasher() -> Arc<Hasher> {
        Arc::new(Hasher::new(2, Duration::from_secs(30)))
    }

    #[tokio::test]
    async fn hashes_verify() {
        let hasher = hasher();
        let h = hasher.hash("correct horse battery".into()).await.ok();
        assert!(h
            .as_deref()
            .is_some_and(|h| h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$")));
        let ok = |r: Result<bool, AppError>| r.unwrap_or(false);
        assert!(ok(hasher
            .verify("correct horse battery".into(), h.clone())
            .await));
        assert!(!ok(hasher.verify("wrong horse battery".into(), h).await));
        assert!(!ok(hasher.verify("anything".into(), None).await));
        assert!(!ok(hasher
            .verify("anything".into(), Some("garbage".into()))
            .await));
    }

    /// Hashes made by the argon2 crate's own hasher (all stored so far)
    /// verify with the pooled memory, and ours verify with the crate's.
    #[tokio::test]
    async fn compatible_with_the_crates_hasher() {
        use argon2::password_hash::rand_core::OsRng;
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let hasher = hasher();
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default()
            .hash_password(b"an older stored one", &salt)
            .map(|h| h.to_string())
            .ok();
        let ok = |r: Result<bool, AppError>| r.unwrap_or(false);
        assert!(ok(hasher
            .verify("an older stored one".into(), theirs.clone())
            .await));
        assert!(!ok(hasher
            .verify("an older stored two".into(), theirs)
            .await));
        let ours = hasher.hash("a newer one".into()).await.unwrap_or_default();
        let parsed = PasswordHash::new(&ours);
        assert!(parsed.is_ok_and(|p| Argon2::default()
            .verify_password(b"a newer one", &p)
            .is_ok()));
        // Both runs reused one pooled block each, no more than the places in line.
        assert!(hasher.pool.lock().map(|p| p.len()).unwrap_or(0) <= 2);
    }

    #[tokio::test]
    async fn waiting_too_long_is_busy() {
        let hasher = Arc::new(Hasher::new(1, Duration::from_millis(1)));
        let slow = {
            let h = Arc::clone(&hasher);
            tokio::spawn(async move { h.hash("first in line".into()).await })
        };
        tokio::time::sleep(Duration::from_millis(5)).await;
        let second = hasher.hash("second in line".into()).await;
        assert!(matches!(second, Err(AppError::Busy { .. })), "{second:?}");
        assert!(slow.await.is_ok_and(|r| r.is_ok()));
    }

    #[test]
    fn the_dummy_hash_parses() {
        let phc = PasswordHash::new(DUMMY_HASH);
        assert!(
            phc.is_ok_and(|p| Params::try_from(&p).is_ok_and(|x| x.block_count() == POOL_BLOCKS))
        );
    }
}
