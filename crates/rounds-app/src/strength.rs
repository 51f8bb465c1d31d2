//! How hard a new password is to guess, by the zxcvbn estimator: its
//! dictionaries of common passwords, names and words, keyboard patterns,
//! repeats and sequences, and the person's own username and name.

use zxcvbn::{zxcvbn, Score};

use crate::AppError;

/// The least zxcvbn score a new password needs: 3 is "safely unguessable"
/// (about 10^10 guesses), enough against an offline attack on a slow hash.
const MIN_SCORE: Score = Score::Three;

/// Refuses a password that is easy to guess, with a message saying why and
/// how to choose a better one. `about` are words the password must not
/// lean on (the username, the display name).
pub(crate) fn check(field: &'static str, password: &str, about: &[&str]) -> Result<(), AppError> {
    let mut inputs: Vec<&str> = about.iter().copied().filter(|s| !s.is_empty()).collect();
    inputs.extend(about.iter().flat_map(|s| s.split_whitespace()));
    inputs.extend(["rounds", "hospital", "ward", "nurse", "doctor", "patient"]);
    let estimate = zxcvbn(password, &inputs);
    if estimate.score() >= MIN_SCORE {
        return Ok(());
    }
    let why = estimate
        .feedback()
        .and_then(|f| f.warning())
        .map(|w| w.to_string())
        .unwrap_or_else(|| "it would be found quickly by guessing".to_owned());
    let why = why.trim_end_matches('.');
    Err(AppError::WeakPassword {
        field,
        message: format!(
            "this password is too easy to guess: {}. Choose a longer one, for example \
             four or more unrelated words, that is not a common password and does not \
             contain your username or name",
            lowercase_first(why)
        ),
    })
}

fn lowercase_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(r: Result<(), AppError>) -> String {
        match r {
            Err(AppError::WeakPassword { message, .. }) => message,
            other => format!("accepted: {other:?}"),
        }
    }

    #[test]
    fn weak_ones_are_refused_with_a_reason() {
        for weak in [
            "aaaaaaaaaaaa",
            "password1234",
            "qwertyuiop12",
            "123456789012",
            "nursenurse12",
        ] {
            let m = message(check("password", weak, &["nina", "Nina Nurse"]));
            assert!(
                m.starts_with("this password is too easy to guess"),
                "{weak}: {m}"
            );
            assert!(m.contains("unrelated words"), "{m}");
        }
        // The username (and the display name) repeated.
        let m = message(check(
            "password",
            "marcusmarcus",
            &["marcus", "Marcus Wells"],
        ));
        assert!(m.starts_with("this password is too easy to guess"), "{m}");
        let m = message(check(
            "password",
            "wellswells2024",
            &["marcus", "Marcus Wells"],
        ));
        assert!(m.starts_with("this password is too easy to guess"), "{m}");
    }

    #[test]
    fn strong_ones_pass() {
        for strong in [
            "a long test password 1",
            "correct horse battery staple",
            "kettle-orbit-sparrow-lantern",
        ] {
            assert!(
                check("password", strong, &["nina", "Nina Nurse"]).is_ok(),
                "{strong}"
            );
        }
    }

    #[test]
    fn one_time_passwords_pass() {
        for _ in 0..50 {
            let p = crate::secrets::one_time_password().unwrap_or_default();
            assert!(
                check("password", &p, &["admin", "Site administrator"]).is_ok(),
                "{p}"
            );
        }
    }
}
