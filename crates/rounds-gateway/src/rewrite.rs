//! URL rewriting between an upstream's base URL and the gateway's: answers
//! (`Bundle.link`, `entry.fullUrl`, absolute references, `Location`,
//! `Content-Location` and `Link` headers) have the upstream base replaced by
//! the gateway's, so callers never see an upstream address; requests (query
//! strings, batch Bundles, `If-None-Exist`) have the gateway's base replaced
//! by the upstream's.
//!
//! What counts as the same base: the scheme `http` or `https` (a server
//! behind a TLS terminator often names itself with the other one), the host
//! in any letter case, the port written out or left to the scheme's default
//! (`http://h/fhir`, `http://h:80/fhir`, `https://h/fhir` and
//! `https://h:443/fhir` are one base; `http://h:8080/fhir` and
//! `https://h:8080/fhir` are one base), and the path exactly (paths are
//! case-sensitive). JSON's escaped solidus (`http:\/\/h\/fhir`) is matched
//! too and answered escaped. A base matches only whole: followed by the end,
//! `/`, `?`, `#` or a character that cannot be part of a URL path segment,
//! so `http://h/fhir` does not match inside `http://h/fhirx`, and
//! `http://h` not inside `http://hx`.
//!
//! The rewriting is textual, on the body as sent, so numbers and everything
//! else in the resource stay byte for byte (FHIR decimals keep their
//! precision: `1.50` stays `1.50`, which a parse and re-serialisation would
//! not keep).

use std::borrow::Cow;

/// The parts of a base URL that decide whether a URL in a text is it.
#[derive(Debug, Clone)]
struct Base {
    /// Lowercase, IPv6 in brackets.
    host: String,
    /// The effective port.
    port: u16,
    /// The port is the scheme's default (written or not).
    default_port: bool,
    /// Without trailing slash; empty for a base at the root.
    path: String,
    /// `path` with every `/` written `\/`.
    path_escaped: String,
}

impl Base {
    fn parse(base: &str) -> Option<Self> {
        let url = url::Url::parse(base).ok()?;
        let default = match url.scheme() {
            "http" => 80,
            "https" => 443,
            _ => return None,
        };
        if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
            return None;
        }
        let host = url.host_str()?.to_ascii_lowercase();
        let port = url.port().unwrap_or(default);
        let path = url.path().trim_end_matches('/').to_owned();
        Some(Self {
            host,
            port,
            default_port: port == default,
            path_escaped: path.replace('/', "\\/"),
            path,
        })
    }

    /// The length of the base at the start of `s`, and whether it was
    /// written with escaped solidi; `None` when `s` does not start with it.
    fn match_at(&self, s: &str) -> Option<(usize, bool)> {
        let b = s.as_bytes();
        let (scheme_default, mut at) = if starts_ci(b, b"https") {
            (443, 5)
        } else if starts_ci(b, b"http") {
            (80, 4)
        } else {
            return None;
        };
        let escaped = if b[at..].starts_with(b"://") {
            at += 3;
            false
        } else if b[at..].starts_with(b":\\/\\/") {
            at += 5;
            true
        } else {
            return None;
        };
        if !starts_ci(&b[at..], self.host.as_bytes()) {
            return None;
        }
        at += self.host.len();
        let mut port = scheme_default;
        if b.get(at) == Some(&b':') {
            let digits = b[at + 1..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            if digits == 0 || digits > 5 {
                return None;
            }
            port = std::str::from_utf8(&b[at + 1..at + 1 + digits])
                .ok()?
                .parse()
                .ok()?;
            at += 1 + digits;
        }
        let same_port = port == self.port || (self.default_port && port == scheme_default);
        if !same_port {
            return None;
        }
        let path = if escaped {
            &self.path_escaped
        } else {
            &self.path
        };
        if !b[at..].starts_with(path.as_bytes()) {
            return None;
        }
        at += path.len();
        is_boundary(s[at..].chars().next()).then_some((at, escaped))
    }
}

fn starts_ci(text: &[u8], prefix: &[u8]) -> bool {
    text.len() >= prefix.len() && text[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// Replaces one base URL (in every form that names it) by another.
#[derive(Debug, Clone)]
pub struct Rewriter {
    /// `None`: not an http(s) base; then only its exact text matches.
    from: Option<Base>,
    from_text: String,
    to: String,
    to_escaped: String,
}

impl Rewriter {
    /// Replaces `from` (a base URL, trailing slash or not) by `to`.
    pub fn new(from: &str, to: &str) -> Self {
        let to = to.trim_end_matches('/').to_owned();
        Self {
            from: Base::parse(from),
            from_text: from.trim_end_matches('/').to_owned(),
            to_escaped: to.replace('/', "\\/"),
            to,
        }
    }

    /// `text` with every whole occurrence of the base replaced.
    pub fn text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let Some(base) = &self.from else {
            return replace_exact(text, &self.from_text, &self.to);
        };
        let bytes = text.as_bytes();
        let mut out: Option<String> = None;
        let mut copied = 0;
        let mut from = 0;
        while let Some(found) = find_http(bytes, from) {
            let before_ok = found == 0 || !is_scheme_char(bytes[found - 1]);
            match base.match_at(&text[found..]).filter(|_| before_ok) {
                Some((len, escaped)) => {
                    let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
                    o.push_str(&text[copied..found]);
                    o.push_str(if escaped { &self.to_escaped } else { &self.to });
                    copied = found + len;
                    from = copied;
                }
                None => from = found + 4,
            }
        }
        match out {
            None => Cow::Borrowed(text),
            Some(mut o) => {
                o.push_str(&text[copied..]);
                Cow::Owned(o)
            }
        }
    }

    /// A body: rewritten when it is UTF-8 text, else unchanged.
    pub fn body(&self, body: bytes::Bytes) -> bytes::Bytes {
        let Ok(text) = std::str::from_utf8(&body) else {
            return body;
        };
        match self.text(text) {
            Cow::Borrowed(_) => body,
            Cow::Owned(s) => bytes::Bytes::from(s),
        }
    }
}

/// The next `http` (any case) at or after `from`.
fn find_http(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 4 <= b.len() {
        let at = i + b[i..].iter().position(|c| *c == b'h' || *c == b'H')?;
        if starts_ci(&b[at..], b"http") {
            return Some(at);
        }
        i = at + 1;
    }
    None
}

fn is_scheme_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.')
}

fn is_boundary(next: Option<char>) -> bool {
    match next {
        None => true,
        Some(c) => {
            !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '%' | ':' | '@'))
        }
    }
}

fn replace_exact<'a>(text: &'a str, from: &str, to: &str) -> Cow<'a, str> {
    if from.is_empty() || !text.contains(from) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(from) {
        let after = &rest[at + from.len()..];
        out.push_str(&rest[..at]);
        if is_boundary(after.chars().next()) {
            out.push_str(to);
        } else {
            out.push_str(from);
        }
        rest = after;
    }
    out.push_str(rest);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_bases_only() {
        let r = Rewriter::new("http://10.0.0.5:8080/fhir/", "https://gw.example/t/a");
        let body = r#"{"link":[{"relation":"next","url":"http://10.0.0.5:8080/fhir?_getpages=x&_offset=20"}],
            "fullUrl":"http://10.0.0.5:8080/fhir/Patient/1","ref":"http://10.0.0.5:8080/fhirx/y",
            "esc":"http:\/\/10.0.0.5:8080\/fhir\/Patient\/2","value":1.50,"base":"http://10.0.0.5:8080/fhir"}"#;
        let out = r.text(body);
        assert!(
            out.contains(r#""url":"https://gw.example/t/a?_getpages=x&_offset=20""#),
            "{out}"
        );
        assert!(out.contains(r#""fullUrl":"https://gw.example/t/a/Patient/1""#));
        assert!(
            out.contains("http://10.0.0.5:8080/fhirx/y"),
            "not a whole base"
        );
        assert!(
            out.contains(r#"https:\/\/gw.example\/t\/a\/Patient\/2"#),
            "{out}"
        );
        assert!(out.contains(r#""value":1.50"#));
        assert!(out.contains(r#""base":"https://gw.example/t/a""#));
        assert!(matches!(r.text("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn scheme_case_and_explicit_port_variants() {
        let r = Rewriter::new("http://fhir.example:8080/r4", "https://gw");
        for same in [
            "http://fhir.example:8080/r4/Patient/1",
            "https://fhir.example:8080/r4/Patient/1",
            "HTTP://FHIR.example:8080/r4/Patient/1",
        ] {
            assert_eq!(r.text(same), "https://gw/Patient/1", "{same}");
        }
        for other in [
            "http://fhir.example/r4/Patient/1",
            "https://fhir.example/r4/Patient/1",
            "http://fhir.example:8081/r4/Patient/1",
            "http://fhir.example:8080/R4/Patient/1",
            "http://fhir.example.evil:8080/r4/Patient/1",
            "http://xfhir.example:8080/r4/Patient/1",
            "xhttp://fhir.example:8080/r4/Patient/1",
            "http://fhir.example:80800/r4/Patient/1",
        ] {
            assert_eq!(r.text(other), other, "{other}");
        }
    }

    #[test]
    fn default_port_variants() {
        let r = Rewriter::new("https://fhir.example/r4", "http://gw:1/t/a");
        for same in [
            "https://fhir.example/r4/Patient/1",
            "https://fhir.example:443/r4/Patient/1",
            "http://fhir.example/r4/Patient/1",
            "http://fhir.example:80/r4/Patient/1",
            "https://Fhir.Example:443/r4/Patient/1",
        ] {
            assert_eq!(r.text(same), "http://gw:1/t/a/Patient/1", "{same}");
        }
        assert_eq!(
            r.text(r#"{"u":"http:\/\/fhir.example:80\/r4\/Patient\/1"}"#),
            r#"{"u":"http:\/\/gw:1\/t\/a\/Patient\/1"}"#
        );
        for other in [
            "https://fhir.example:8443/r4/Patient/1",
            "http://fhir.example:8080/r4/Patient/1",
        ] {
            assert_eq!(r.text(other), other, "{other}");
        }
    }

    #[test]
    fn a_base_at_the_root_and_many_in_one_text() {
        let r = Rewriter::new("http://127.0.0.1:9000", "https://gw.example");
        let text = "see http://127.0.0.1:9000/Patient/1, https://127.0.0.1:9000?x=1 \
                    and http://127.0.0.1:9000 but not http://127.0.0.1:90001/ nor http://127.0.0.12:9000/";
        assert_eq!(
            r.text(text),
            "see https://gw.example/Patient/1, https://gw.example?x=1 \
             and https://gw.example but not http://127.0.0.1:90001/ nor http://127.0.0.12:9000/"
        );
        // Multi-byte text around a match stays intact.
        assert_eq!(
            r.text("Zoë → http://127.0.0.1:9000/Patient/ü"),
            "Zoë → https://gw.example/Patient/ü"
        );
        // Not an http(s) base: only the exact text.
        let odd = Rewriter::new("urn:base", "https://gw");
        assert_eq!(odd.text("urn:base/x urn:basex"), "https://gw/x urn:basex");
    }
}
