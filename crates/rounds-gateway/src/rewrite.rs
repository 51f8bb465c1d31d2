//! URL rewriting between an upstream's base URL and the gateway's: answers
//! (`Bundle.link`, `entry.fullUrl`, absolute references, `Location` and
//! `Content-Location`) have the upstream base replaced by the gateway's, so
//! callers never see an upstream address; requests (query strings, batch
//! Bundles) have the gateway's base replaced by the upstream's.
//!
//! The rewriting is textual, on the body as sent, so numbers and everything
//! else in the resource stay byte for byte (FHIR decimals keep their
//! precision: `1.50` stays `1.50`, which a parse and re-serialisation would
//! not keep). A base matches only whole: followed by the end, `/`, `?`, `#`
//! or a character that cannot be part of a URL path segment, so
//! `http://h/fhir` does not match inside `http://h/fhirx`. JSON's escaped
//! solidus (`http:\/\/h\/fhir`) is matched too.

use std::borrow::Cow;

/// Replaces one base URL by another.
#[derive(Debug, Clone)]
pub struct Rewriter {
    from: String,
    to: String,
    from_escaped: String,
    to_escaped: String,
}

impl Rewriter {
    /// Replaces `from` (a base URL without trailing slash) by `to`.
    pub fn new(from: &str, to: &str) -> Self {
        let from = from.trim_end_matches('/').to_owned();
        let to = to.trim_end_matches('/').to_owned();
        Self {
            from_escaped: from.replace('/', "\\/"),
            to_escaped: to.replace('/', "\\/"),
            from,
            to,
        }
    }

    /// `text` with every whole occurrence of the base replaced.
    pub fn text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let once = replace_whole(text, &self.from, &self.to);
        if once.contains(&self.from_escaped) {
            Cow::Owned(replace_whole(&once, &self.from_escaped, &self.to_escaped).into_owned())
        } else {
            once
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

fn is_boundary(next: Option<char>) -> bool {
    match next {
        None => true,
        Some(c) => {
            !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '%' | ':' | '@'))
        }
    }
}

fn replace_whole<'a>(text: &'a str, from: &str, to: &str) -> Cow<'a, str> {
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
}
