//! Small text helpers: FHIR date and dateTime formatting, search
//! normalisation, and URL query encoding (`application/x-www-form-urlencoded`).

use time::{Date, OffsetDateTime};

/// Unix seconds as a FHIR `dateTime` in UTC, to the second.
pub(crate) fn date_time(unix: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        date(t.date()),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A FHIR `date`.
pub(crate) fn date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Unix seconds as a FHIR `date` (UTC).
pub(crate) fn date_of(unix: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    date(t.date())
}

/// Lower case without the common Latin diacritics, for string search
/// ("muller" finds "Müller").
pub(crate) fn fold(s: &str) -> String {
    s.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ą' => 'a',
            'ç' | 'ć' | 'č' => 'c',
            'ď' | 'đ' => 'd',
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => 'e',
            'ì' | 'í' | 'î' | 'ï' | 'ī' => 'i',
            'ł' => 'l',
            'ñ' | 'ń' | 'ň' => 'n',
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => 'o',
            'ř' => 'r',
            'ś' | 'š' | 'ş' => 's',
            'ť' => 't',
            'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' => 'u',
            'ý' | 'ÿ' => 'y',
            'ź' | 'ż' | 'ž' => 'z',
            other => other,
        })
        .collect()
}

/// Splits `a=1&b=x+y` into decoded pairs. Never fails: a broken escape is
/// kept as written, invalid UTF-8 is replaced.
pub(crate) fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes a query component (everything but unreserved characters).
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `k=v&...`, encoded.
pub(crate) fn query_string(params: &[(String, String)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Whether `s` is a FHIR logical id (1–64 of `A-Z a-z 0-9 - .`).
pub(crate) fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(date_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(date_time(1_714_546_800), "2024-05-01T07:00:00Z");
        assert_eq!(date_of(1_714_546_800), "2024-05-01");
        assert_eq!(date_time(i64::MAX), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn folding() {
        assert_eq!(fold("Müller"), "muller");
        assert_eq!(fold("SØRENSEN"), "sorensen");
        assert_eq!(fold("Wójcik"), "wojcik");
    }

    #[test]
    fn queries() {
        let q = parse_query("family=O%27Brien+Jr&_count=5&&flag&bad=%zz%4");
        assert_eq!(
            q,
            vec![
                ("family".into(), "O'Brien Jr".into()),
                ("_count".into(), "5".into()),
                ("flag".into(), String::new()),
                ("bad".into(), "%zz%4".into()),
            ]
        );
        assert_eq!(
            parse_query("name=%C3%BC%FF"),
            vec![("name".into(), "ü\u{FFFD}".into())]
        );
        let encoded = query_string(&[("a b".into(), "x&y=ü|z".into())]);
        assert_eq!(encoded, "a%20b=x%26y%3D%C3%BC%7Cz");
        assert_eq!(
            parse_query(&encoded),
            vec![("a b".into(), "x&y=ü|z".into())]
        );
    }

    #[test]
    fn ids() {
        assert!(is_id("wab12-p01.x"));
        assert!(!is_id(""));
        assert!(!is_id("a/b"));
        assert!(!is_id(&"x".repeat(65)));
    }
}
