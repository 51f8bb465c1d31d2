//! The static files under content-hashed names (`list.3f2a9c1be0.js`),
//! cached by browsers for a year: a new release has new names, so a page
//! never mixes old and new scripts, and a reload fetches none again.
//!
//! A file's hash covers its own text and that of every static file it
//! reaches through imports (cycles included), so a changed module renames
//! every module that imports it. Pages and scripts name the plain files
//! (`"/static/list.js"`); the names are rewritten as they are served: in
//! each rendered page, and once, at start, in each script's imports.
//! The plain names still answer (a short cache), for the odd page made
//! without the rewrite.

use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;

use axum::body::Bytes;
use sha2::{Digest, Sha256};

use super::static_files::STATIC_FILES;

/// How long a hashed file may be kept: a year, never revalidated.
pub const HASHED_CACHE: &str = "public, max-age=31536000, immutable";
/// A plain name: a new release must reach open browsers soon.
pub const PLAIN_CACHE: &str = "public, max-age=300";

pub struct Asset {
    pub content_type: &'static str,
    /// The text with its references to other static files rewritten.
    pub body: Bytes,
    /// The name it is served under for a year.
    pub hashed: String,
}

pub struct Assets {
    by_name: HashMap<&'static str, Asset>,
    /// Hashed name → plain name.
    by_hashed: HashMap<String, &'static str>,
}

/// The static files, hashed and rewritten once per process.
pub fn assets() -> &'static Assets {
    static ASSETS: OnceLock<Assets> = OnceLock::new();
    ASSETS.get_or_init(|| Assets::build(&STATIC_FILES))
}

/// The plain names of the static files `text` refers to (`"/static/x"`).
fn references<'a>(text: &'a str, known: &HashMap<&str, &str>) -> Vec<&'a str> {
    text.split("\"/static/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|name| known.contains_key(name))
        .collect()
}

impl Assets {
    pub fn build(files: &[(&'static str, &'static str, &'static str)]) -> Self {
        let texts: HashMap<&str, &str> = files.iter().map(|(n, _, t)| (*n, *t)).collect();
        let mut hashed_names: HashMap<&'static str, String> = HashMap::new();
        for (name, _, _) in files {
            // Everything reachable from this file, itself included.
            let mut reached = BTreeSet::new();
            let mut todo = vec![*name];
            while let Some(next) = todo.pop() {
                if reached.insert(next) {
                    if let Some(text) = texts.get(next) {
                        todo.extend(references(text, &texts));
                    }
                }
            }
            let mut hash = Sha256::new();
            for reached in &reached {
                hash.update(reached.as_bytes());
                hash.update([0]);
                hash.update(texts.get(reached).copied().unwrap_or("").as_bytes());
                hash.update([0]);
            }
            let digest = hex::encode(hash.finalize());
            let short = digest.get(..10).unwrap_or(&digest);
            let hashed = match name.rsplit_once('.') {
                Some((stem, ext)) => format!("{stem}.{short}.{ext}"),
                None => format!("{name}.{short}"),
            };
            hashed_names.insert(name, hashed);
        }
        let mut assets = Self {
            by_name: HashMap::new(),
            by_hashed: HashMap::new(),
        };
        for (name, content_type, text) in files {
            let body = Bytes::from(rewrite_with(text, &hashed_names));
            let hashed = hashed_names.get(name).cloned().unwrap_or_default();
            assets.by_hashed.insert(hashed.clone(), name);
            assets.by_name.insert(
                name,
                Asset {
                    content_type,
                    body,
                    hashed,
                },
            );
        }
        assets
    }

    /// The file served under `requested` (a hashed or a plain name), and
    /// whether that name was the hashed one.
    pub fn find(&self, requested: &str) -> Option<(&Asset, bool)> {
        if let Some(plain) = self.by_hashed.get(requested) {
            return self.by_name.get(plain).map(|a| (a, true));
        }
        self.by_name.get(requested).map(|a| (a, false))
    }

    /// The hashed path of a static file by its plain name.
    #[cfg(test)]
    pub fn path(&self, name: &str) -> Option<String> {
        self.by_name
            .get(name)
            .map(|a| format!("/static/{}", a.hashed))
    }

    /// `text` with every `"/static/<plain name>"` naming the hashed file.
    pub fn rewrite(&self, text: &str) -> String {
        let names: HashMap<&str, &str> = self
            .by_name
            .iter()
            .map(|(n, a)| (*n, a.hashed.as_str()))
            .collect();
        rewrite_pairs(text, &names)
    }
}

fn rewrite_with(text: &str, hashed: &HashMap<&'static str, String>) -> String {
    let names: HashMap<&str, &str> = hashed.iter().map(|(n, h)| (*n, h.as_str())).collect();
    rewrite_pairs(text, &names)
}

fn rewrite_pairs(text: &str, names: &HashMap<&str, &str>) -> String {
    const MARK: &str = "\"/static/";
    let mut out = String::with_capacity(text.len() + 64);
    let mut rest = text;
    while let Some(at) = rest.find(MARK) {
        let (before, after) = rest.split_at(at + MARK.len());
        out.push_str(before);
        let name = after.split('"').next().unwrap_or("");
        match names.get(name) {
            Some(hashed) if after[name.len()..].starts_with('"') => {
                out.push_str(hashed);
                rest = &after[name.len()..];
            }
            _ => rest = after,
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILES: [(&str, &str, &str); 3] = [
        (
            "a.js",
            "text/javascript",
            "import { b } from \"/static/b.js\";\nexport const a = b;",
        ),
        (
            "b.js",
            "text/javascript",
            "import { a } from \"/static/a.js\";\nexport const b = 1;",
        ),
        ("c.css", "text/css", "body { color: red }"),
    ];

    #[test]
    fn names_carry_the_hash_of_everything_imported() {
        let assets = Assets::build(&FILES);
        let a = assets.path("a.js").unwrap_or_default();
        let b = assets.path("b.js").unwrap_or_default();
        assert!(a.starts_with("/static/a.") && a.ends_with(".js"), "{a}");
        assert_ne!(a, "/static/a.js");
        // Imports name the hashed files; the plain and the hashed name serve it.
        let (found, hashed) = assets.find(a.trim_start_matches("/static/")).unwrap();
        assert!(hashed);
        let body = std::str::from_utf8(&found.body).unwrap_or_default();
        assert!(body.contains(&format!("from \"{b}\"")), "{body}");
        assert!(matches!(assets.find("a.js"), Some((_, false))));
        assert!(assets.find("a.0000000000.js").is_none());
        // A change in b renames a (which imports it), not c.
        let mut changed = FILES;
        changed[1].2 = "import { a } from \"/static/a.js\";\nexport const b = 2;";
        let again = Assets::build(&changed);
        assert_ne!(again.path("a.js"), assets.path("a.js"));
        assert_ne!(again.path("b.js"), assets.path("b.js"));
        assert_eq!(again.path("c.css"), assets.path("c.css"));
    }

    #[test]
    fn pages_are_rewritten_and_unknown_names_left_alone() {
        let assets = Assets::build(&FILES);
        let css = assets.path("c.css").unwrap_or_default();
        let page =
            "<link href=\"/static/c.css\"><script src=\"/static/nope.js\"></script>\"/static/c.css";
        assert_eq!(
            assets.rewrite(page),
            format!(
                "<link href=\"{css}\"><script src=\"/static/nope.js\"></script>\"/static/c.css"
            )
        );
    }
}
