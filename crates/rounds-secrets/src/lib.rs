//! Secrets at rest: EHR client secrets and private keys (Rounds), upstream
//! credentials and token signing keys (the gateway) are stored sealed with
//! AES-256-GCM under a site key that never enters the database.
//!
//! A sealed value is base64 text (it fits a TEXT column) of
//! `version (1 byte) || nonce (12 bytes) || ciphertext || tag (16 bytes)`.
//! Each seal draws a fresh random nonce. The associated data is the version
//! and a context chosen by the caller (e.g. `ehr-connection:<team id>`), so a
//! value copied into another record does not open there.
//!
//! The key comes from the environment, else from a key file, else a new key
//! is created in that file with mode 0600 ([`SecretBox::load_or_create`]).
//! [`SecretBox::fingerprint`] identifies the key without revealing it, so the
//! application can store it and notice at start-up that it was given a
//! different key than the one its secrets were sealed with.
//!
//! (Over 500 lines with its tests; the code is under 420 lines.)

use std::fmt;
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};

/// Key length: AES-256.
pub const KEY_LEN: usize = 32;
const VERSION: u8 = 1;
const TAG_LEN: usize = 16;
const FINGERPRINT_LABEL: &[u8] = b"rounds-secret-key-check";
/// Where the key came from, as messages name it.
const ENV_NAME: &str = "the ROUNDS_SECRET_KEY environment variable";

/// What can go wrong with the site key or a sealed value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The key text is not usable (not base64, wrong length).
    #[error("{source_name}: {problem}")]
    BadKey {
        /// Where the key came from (the environment variable, the key file).
        source_name: String,
        /// What is wrong with it, and how to make a good one.
        problem: String,
    },
    /// The key file could not be read or written.
    #[error("the secret key file {}: {detail}", .path.display())]
    KeyFile {
        /// The key file.
        path: PathBuf,
        /// The operating system's error, in words.
        detail: String,
    },
    /// The key file can be read or changed by other users.
    #[error("the secret key file {} can be read or changed by other users (mode {mode:04o}); allow only Rounds' own user: chmod 600 {}", .path.display(), .path.display())]
    KeyFileExposed {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The system's random source failed.
    #[error("the system's random number source failed")]
    Random,
    /// A sealed value is not in the format this version writes.
    #[error("a stored secret is damaged: {0}")]
    Malformed(String),
    /// Authentication of a sealed value failed.
    #[error("a stored secret cannot be opened with this key: either the site's secret key is not the one it was sealed with (check ROUNDS_SECRET_KEY or the key file, and the key fingerprint), or the value was altered or copied from another record")]
    WrongKeyOrContext,
}

/// Where the key in use came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyOrigin {
    /// The environment value given to [`SecretBox::load_or_create`].
    Env,
    /// An existing key file.
    File(PathBuf),
    /// A key file created just now (the key is new).
    Created(PathBuf),
}

/// Seals and opens secrets with the site key. `Debug` shows only the key's
/// fingerprint.
pub struct SecretBox {
    key: LessSafeKey,
    fingerprint: String,
    rng: SystemRandom,
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretBox")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl SecretBox {
    /// A key given as base64 text (standard or URL-safe alphabet) of 32
    /// bytes, e.g. the output of `openssl rand -base64 32`.
    pub fn from_base64_key(text: &str) -> Result<Self, SecretError> {
        Self::from_text(text, ENV_NAME)
    }

    /// New random key, as the base64 text [`SecretBox::from_base64_key`]
    /// reads (for a command that prints one).
    pub fn new_key_base64() -> Result<String, SecretError> {
        let mut key = [0u8; KEY_LEN];
        SystemRandom::new()
            .fill(&mut key)
            .map_err(|_| SecretError::Random)?;
        Ok(STANDARD.encode(key))
    }

    /// The key from `env_value` when given (it wins), else from `key_file`,
    /// else a new key written to `key_file` (mode 0600). The key file holds
    /// the base64 text of the key and at most a final newline; on Unix a key
    /// file that other users may read or change is refused.
    pub fn load_or_create(
        env_value: Option<&str>,
        key_file: &Path,
    ) -> Result<(SecretBox, KeyOrigin), SecretError> {
        Self::load_or_create_named("ROUNDS_SECRET_KEY", env_value, key_file)
    }

    /// [`SecretBox::load_or_create`] for a program whose key variable has
    /// another name (the gateway's `ROUNDS_GATEWAY_SECRET_KEY`), so messages
    /// name the variable the operator set.
    pub fn load_or_create_named(
        env_var: &str,
        env_value: Option<&str>,
        key_file: &Path,
    ) -> Result<(SecretBox, KeyOrigin), SecretError> {
        if let Some(value) = env_value {
            let source = format!("the {env_var} environment variable");
            return Ok((Self::from_text(value, &source)?, KeyOrigin::Env));
        }
        match read_key_file(key_file) {
            Ok(Some(b)) => return Ok((b, KeyOrigin::File(key_file.to_owned()))),
            Ok(None) => {}
            Err(e) => return Err(e),
        }
        let text = Self::new_key_base64()?;
        match create_key_file(key_file, &text)? {
            Created::Written => Ok((
                Self::from_text(&text, &file_source(key_file))?,
                KeyOrigin::Created(key_file.to_owned()),
            )),
            Created::AlreadyThere => {
                // Another process created it first: use theirs.
                let b = read_key_file_patiently(key_file)?;
                Ok((b, KeyOrigin::File(key_file.to_owned())))
            }
        }
    }

    /// Identifies the key without revealing it: hex of the first 8 bytes of
    /// SHA-256 over `"rounds-secret-key-check" || key`.
    pub fn fingerprint(&self) -> String {
        self.fingerprint.clone()
    }

    /// Seals `plaintext` for the record named by `context`; the result is
    /// base64 text. Fails only if the system's random source fails.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Result<String, SecretError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| SecretError::Random)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + TAG_LEN);
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        let mut in_out = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(VERSION, context)),
                &mut in_out,
            )
            .map_err(|_| SecretError::Malformed("the value is too long to seal".into()))?;
        out.extend_from_slice(&in_out);
        Ok(STANDARD.encode(out))
    }

    /// Opens what [`SecretBox::seal`] made with the same key and context.
    pub fn open(&self, sealed: &str, context: &str) -> Result<Vec<u8>, SecretError> {
        let bytes = STANDARD
            .decode(sealed.trim())
            .map_err(|_| SecretError::Malformed("not base64 text".into()))?;
        let Some((&version, rest)) = bytes.split_first() else {
            return Err(SecretError::Malformed("empty".into()));
        };
        if version != VERSION {
            return Err(SecretError::Malformed(format!(
                "unknown format version {version} (this Rounds writes version {VERSION})"
            )));
        }
        if rest.len() < NONCE_LEN + TAG_LEN {
            return Err(SecretError::Malformed("too short".into()));
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| SecretError::Malformed("bad nonce".into()))?;
        let mut in_out = sealed.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad(version, context)), &mut in_out)
            .map_err(|_| SecretError::WrongKeyOrContext)?;
        Ok(plain.to_vec())
    }

    fn from_text(text: &str, source_name: &str) -> Result<Self, SecretError> {
        let bad = |problem: String| SecretError::BadKey {
            source_name: source_name.to_owned(),
            problem,
        };
        let text = text.trim();
        if text.is_empty() {
            return Err(bad(
                "the secret key is empty; make one with: openssl rand -base64 32".into(),
            ));
        }
        let key = STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE.decode(text))
            .or_else(|_| URL_SAFE_NO_PAD.decode(text))
            .map_err(|_| {
                bad(
                    "the secret key is not base64 text; make one with: openssl rand -base64 32"
                        .into(),
                )
            })?;
        if key.len() != KEY_LEN {
            return Err(bad(format!(
                "the secret key is {} bytes; it must be {KEY_LEN} (make one with: openssl rand -base64 32)",
                key.len()
            )));
        }
        Self::from_key_bytes(&key)
    }

    fn from_key_bytes(key: &[u8]) -> Result<Self, SecretError> {
        let unbound = UnboundKey::new(&AES_256_GCM, key).map_err(|_| SecretError::BadKey {
            source_name: "the secret key".into(),
            problem: format!("it must be {KEY_LEN} bytes"),
        })?;
        let mut hasher = Sha256::new();
        hasher.update(FINGERPRINT_LABEL);
        hasher.update(key);
        let digest = hasher.finalize();
        Ok(SecretBox {
            key: LessSafeKey::new(unbound),
            fingerprint: hex::encode(&digest[..8]),
            rng: SystemRandom::new(),
        })
    }
}

fn aad(version: u8, context: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(1 + context.len());
    aad.push(version);
    aad.extend_from_slice(context.as_bytes());
    aad
}

fn file_source(path: &Path) -> String {
    format!("the secret key file {}", path.display())
}

fn file_error(path: &Path, e: &std::io::Error) -> SecretError {
    SecretError::KeyFile {
        path: path.to_owned(),
        detail: e.to_string(),
    }
}

/// The key file's key; `None` when there is no such file.
fn read_key_file(path: &Path) -> Result<Option<SecretBox>, SecretError> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(file_error(path, &e)),
    };
    check_private(path, &file)?;
    // The key is 44 characters; read a little more to notice junk.
    let mut text = String::new();
    std::io::Read::by_ref(&mut file)
        .take(256)
        .read_to_string(&mut text)
        .map_err(|e| file_error(path, &e))?;
    let bad = |problem: &str| SecretError::BadKey {
        source_name: file_source(path),
        problem: problem.to_owned(),
    };
    let body = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    if body.is_empty() {
        return Err(bad("the file is empty; delete it to have Rounds make a new key (secrets sealed with the lost key cannot be opened), or put the key back"));
    }
    if body.contains(char::is_whitespace) {
        return Err(bad(
            "the file must hold only the base64 text of the key, on one line",
        ));
    }
    SecretBox::from_text(body, &file_source(path)).map(Some)
}

/// A file a concurrent creator may not have finished writing: an empty file
/// is read again for a short while.
fn read_key_file_patiently(path: &Path) -> Result<SecretBox, SecretError> {
    let mut tries = 0;
    loop {
        match read_key_file(path) {
            Ok(Some(b)) => return Ok(b),
            Ok(None) => {
                return Err(SecretError::KeyFile {
                    path: path.to_owned(),
                    detail: "disappeared while being created".into(),
                })
            }
            Err(SecretError::BadKey { .. }) if tries < 20 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(unix)]
fn check_private(path: &Path, file: &std::fs::File) -> Result<(), SecretError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = file
        .metadata()
        .map_err(|e| file_error(path, &e))?
        .permissions()
        .mode()
        & 0o7777;
    if mode & 0o066 != 0 {
        return Err(SecretError::KeyFileExposed {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path, _file: &std::fs::File) -> Result<(), SecretError> {
    Ok(())
}

enum Created {
    Written,
    AlreadyThere,
}

/// Writes a new key file only if none exists: a temporary file (mode 0600,
/// written and synced) hard-linked into place, so other processes never see
/// a half-written key; where hard links are not supported, `create_new`.
fn create_key_file(path: &Path, text: &str) -> Result<Created, SecretError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "key".into());
    let mut suffix = [0u8; 8];
    SystemRandom::new()
        .fill(&mut suffix)
        .map_err(|_| SecretError::Random)?;
    let tmp = dir.join(format!(".{name}.{}.tmp", hex::encode(suffix)));
    write_new(&tmp, text)?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    let outcome = match linked {
        Ok(()) => Created::Written,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Created::AlreadyThere,
        Err(_) => match write_new(path, text) {
            Ok(()) => Created::Written,
            Err(SecretError::KeyFile { .. }) if path.exists() => Created::AlreadyThere,
            Err(e) => return Err(e),
        },
    };
    sync_dir(&dir);
    Ok(outcome)
}

fn write_new(path: &Path, text: &str) -> Result<(), SecretError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| file_error(path, &e))?;
    file.write_all(format!("{text}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| file_error(path, &e))
}

/// Makes the new directory entry durable (best effort).
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_text(byte: u8) -> String {
        STANDARD.encode([byte; KEY_LEN])
    }

    fn secret_box(byte: u8) -> SecretBox {
        SecretBox::from_base64_key(&key_text(byte)).unwrap()
    }

    #[test]
    fn round_trip_with_a_fresh_nonce_each_time() {
        let b = secret_box(7);
        let ctx = "ehr-connection:team-1";
        let a = b.seal(b"client secret \xF0\x9F\x94\x91", ctx).unwrap();
        let c = b.seal(b"client secret \xF0\x9F\x94\x91", ctx).unwrap();
        assert_ne!(a, c, "same plaintext, different nonces");
        let nonce = |s: &str| STANDARD.decode(s).unwrap()[1..1 + NONCE_LEN].to_vec();
        assert_ne!(nonce(&a), nonce(&c));
        assert_eq!(b.open(&a, ctx).unwrap(), b"client secret \xF0\x9F\x94\x91");
        assert_eq!(b.open(&c, ctx).unwrap(), b"client secret \xF0\x9F\x94\x91");
        // Empty secrets and long ones.
        assert_eq!(b.open(&b.seal(b"", ctx).unwrap(), ctx).unwrap(), b"");
        let pem = vec![b'k'; 5000];
        assert_eq!(b.open(&b.seal(&pem, ctx).unwrap(), ctx).unwrap(), pem);
        // The sealed text is plain base64 and starts with the version.
        let raw = STANDARD.decode(&a).unwrap();
        assert_eq!(raw[0], VERSION);
        assert_eq!(raw.len(), 1 + NONCE_LEN + 18 + TAG_LEN);
    }

    #[test]
    fn another_context_or_key_does_not_open() {
        let b = secret_box(7);
        let sealed = b.seal(b"s3cret", "ehr-connection:team-1").unwrap();
        let e = b.open(&sealed, "ehr-connection:team-2").unwrap_err();
        assert!(matches!(e, SecretError::WrongKeyOrContext));
        assert!(e.to_string().contains("not the one it was sealed with"));
        let e = secret_box(8)
            .open(&sealed, "ehr-connection:team-1")
            .unwrap_err();
        assert!(matches!(e, SecretError::WrongKeyOrContext));
        assert_ne!(secret_box(7).fingerprint(), secret_box(8).fingerprint());
        assert_eq!(secret_box(7).fingerprint(), b.fingerprint());
        assert_eq!(b.fingerprint().len(), 16);
    }

    #[test]
    fn damaged_values_are_errors() {
        let b = secret_box(7);
        let ctx = "c";
        let sealed = b.seal(b"s3cret", ctx).unwrap();
        let raw = STANDARD.decode(&sealed).unwrap();
        for cut in [
            0,
            1,
            5,
            1 + NONCE_LEN,
            1 + NONCE_LEN + TAG_LEN - 1,
            raw.len() - 1,
        ] {
            let truncated = STANDARD.encode(&raw[..cut]);
            assert!(b.open(&truncated, ctx).is_err(), "cut at {cut}");
        }
        for i in 0..raw.len() {
            let mut flipped = raw.clone();
            flipped[i] ^= 0x01;
            assert!(b.open(&STANDARD.encode(&flipped), ctx).is_err(), "byte {i}");
        }
        for garbage in [
            "",
            "not base64 at all!",
            "AAAA",
            "////////////////////////////////",
        ] {
            assert!(b.open(garbage, ctx).is_err(), "{garbage}");
        }
        let mut v2 = raw.clone();
        v2[0] = 2;
        let e = b.open(&STANDARD.encode(&v2), ctx).unwrap_err();
        assert!(e.to_string().contains("unknown format version 2"), "{e}");
    }

    #[test]
    fn debug_shows_no_key() {
        let text = key_text(0x41);
        let b = SecretBox::from_base64_key(&text).unwrap();
        let d = format!("{b:?}");
        assert!(d.contains(&b.fingerprint()), "{d}");
        assert!(
            !d.contains(&text) && !d.contains("AAAA") && !d.contains("4141"),
            "{d}"
        );
    }

    #[test]
    fn bad_keys_say_what_is_wrong() {
        let e = SecretBox::from_base64_key("hunter2!").unwrap_err();
        assert_eq!(
            e.to_string(),
            "the ROUNDS_SECRET_KEY environment variable: the secret key is not base64 text; make one with: openssl rand -base64 32"
        );
        let e = SecretBox::from_base64_key(&STANDARD.encode([1u8; 16])).unwrap_err();
        assert!(e.to_string().contains("is 16 bytes; it must be 32"), "{e}");
        assert!(SecretBox::from_base64_key("  ").is_err());
        // URL-safe and unpadded spellings of a 32-byte key are fine.
        let k = [0xfbu8; KEY_LEN];
        let a = SecretBox::from_base64_key(&URL_SAFE_NO_PAD.encode(k)).unwrap();
        let b = SecretBox::from_base64_key(&STANDARD.encode(k)).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert!(SecretBox::new_key_base64()
            .and_then(|t| SecretBox::from_base64_key(&t))
            .is_ok());
    }

    #[test]
    fn env_key_wins_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret.key");
        let (_, origin) = SecretBox::load_or_create(None, &file).unwrap();
        assert_eq!(origin, KeyOrigin::Created(file.clone()));
        let env = key_text(9);
        let (b, origin) = SecretBox::load_or_create(Some(&env), &file).unwrap();
        assert_eq!(origin, KeyOrigin::Env);
        assert_eq!(b.fingerprint(), secret_box(9).fingerprint());
        // Without a file at all, the env key is used and no file made.
        let other = dir.path().join("none.key");
        SecretBox::load_or_create(Some(&env), &other).unwrap();
        assert!(!other.exists());
        let e = SecretBox::load_or_create(Some("short"), &file).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("the ROUNDS_SECRET_KEY environment variable: "),
            "{e}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn key_file_is_created_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret.key");
        let (first, origin) = SecretBox::load_or_create(None, &file).unwrap();
        assert_eq!(origin, KeyOrigin::Created(file.clone()));
        let meta = std::fs::metadata(&file).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.ends_with('\n') && text.trim_end().len() == 44,
            "{text:?}"
        );
        let sealed = first.seal(b"s3cret", "ctx").unwrap();

        let (second, origin) = SecretBox::load_or_create(None, &file).unwrap();
        assert_eq!(origin, KeyOrigin::File(file.clone()));
        assert_eq!(first.fingerprint(), second.fingerprint());
        assert_eq!(second.open(&sealed, "ctx").unwrap(), b"s3cret");
        // No temporary files left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn exposed_or_odd_key_files_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret.key");
        std::fs::write(&file, format!("{}\n", key_text(3))).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = SecretBox::load_or_create(None, &file).unwrap_err();
        assert!(matches!(e, SecretError::KeyFileExposed { mode: 0o644, .. }));
        let m = e.to_string();
        assert!(
            m.contains("can be read or changed by other users (mode 0644)")
                && m.ends_with(&format!("chmod 600 {}", file.display())),
            "{m}"
        );
        // Group-writable is refused too; 0400 is fine.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o620)).unwrap();
        assert!(SecretBox::load_or_create(None, &file).is_err());
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o400)).unwrap();
        let (b, _) = SecretBox::load_or_create(None, &file).unwrap();
        assert_eq!(b.fingerprint(), secret_box(3).fingerprint());

        // Content other than the key and one newline.
        for (content, expect) in [
            ("".to_owned(), "the file is empty"),
            (format!("{}\n\n", key_text(3)), "on one line"),
            (format!("key = {}\n", key_text(3)), "on one line"),
            ("c2hvcnQ=\n".to_owned(), "is 5 bytes"),
        ] {
            let f = dir.path().join("odd.key");
            let _ = std::fs::remove_file(&f);
            std::fs::write(&f, &content).unwrap();
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
            let e = SecretBox::load_or_create(None, &f).unwrap_err();
            let m = e.to_string();
            assert!(
                m.starts_with(&format!("the secret key file {}: ", f.display())),
                "{m}"
            );
            assert!(m.contains(expect), "{content:?}: {m}");
        }
    }

    #[test]
    fn concurrent_creators_agree_on_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret.key");
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let file = file.clone();
                std::thread::spawn(move || SecretBox::load_or_create(None, &file).unwrap())
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let created = results
            .iter()
            .filter(|(_, o)| matches!(o, KeyOrigin::Created(_)))
            .count();
        assert_eq!(created, 1);
        let first = results[0].0.fingerprint();
        assert!(results.iter().all(|(b, _)| b.fingerprint() == first));
    }
}
