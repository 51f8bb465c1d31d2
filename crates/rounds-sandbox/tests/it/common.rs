//! Starting a sandbox for one test, and reading a ward's own data to know
//! what the answers should be.

use rounds_sandbox::{serve, Ward, WardSpec};
use serde_json::Value;
use tokio::sync::oneshot;

/// A sandbox serving on a free port until dropped.
pub struct Sandbox {
    /// `http://127.0.0.1:{port}/fhir`
    pub base: String,
    pub ward: Ward,
    _stop: oneshot::Sender<()>,
}

/// The default ward (36 patients, 3 days), now: ages are computed by the
/// client from today's date.
pub fn default_ward() -> Ward {
    Ward::generate(&WardSpec::default())
}

pub async fn start(ward: Ward) -> Sandbox {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve(listener, ward.clone(), async move {
        let _ = stopped.await;
    }));
    Sandbox {
        base: format!("http://{addr}/fhir"),
        ward,
        _stop: stop,
    }
}

pub fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for key in path {
        cur = match key.parse::<usize>() {
            Ok(i) => cur.get(i)?,
            Err(_) => cur.get(key)?,
        };
    }
    cur.as_str()
}

/// The resources of one type that name `pid` (as subject, patient or
/// beneficiary), in the ward's order.
pub fn of_patient<'a>(ward: &'a Ward, rtype: &str, pid: &str) -> Vec<&'a Value> {
    let reference = format!("Patient/{pid}");
    ward.patient_resources(pid)
        .into_iter()
        .filter(|r| r["resourceType"] == rtype)
        .filter(|r| {
            ["subject", "patient", "beneficiary"]
                .iter()
                .any(|k| str_at(r, &[k, "reference"]) == Some(reference.as_str()))
        })
        .collect()
}

pub fn patients(ward: &Ward) -> Vec<&Value> {
    ward.resources()
        .filter(|r| r["resourceType"] == "Patient")
        .collect()
}

/// Lower case without diacritics (as the sandbox's string search).
pub fn fold(s: &str) -> String {
    s.to_lowercase()
        .chars()
        .map(|c| match c {
            'ü' | 'ú' => 'u',
            'ö' | 'ó' | 'ø' => 'o',
            'á' | 'à' | 'ä' => 'a',
            'é' | 'è' => 'e',
            'í' => 'i',
            other => other,
        })
        .collect()
}

/// FHIR's string match as the sandbox does it: the folded text starts
/// with the folded query, or a word of it does (after a space, hyphen or
/// apostrophe).
pub fn word_match(text: &str, query: &str) -> bool {
    let t = fold(text);
    let q = fold(query);
    t.starts_with(&q)
        || t.char_indices()
            .any(|(i, c)| matches!(c, ' ' | '-' | '\'') && t[i + c.len_utf8()..].starts_with(&q))
}

pub fn strings(v: &Value, key: &str) -> Vec<String> {
    match &v[key] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect(),
        _ => vec![],
    }
}
