//! The repository's own files: no merge left half-done. A conflict marker
//! in a stylesheet or script is not a build error (a stray `=======` line
//! once made the browser drop the rule after it), so it is looked for here.

use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            if !name.starts_with('.') && name != "target" && name != "node_modules" {
                files(&path, out);
            }
        } else if ["rs", "js", "mjs", "css", "html", "sql", "toml", "sh", "py"]
            .iter()
            .any(|ext| name.ends_with(&format!(".{ext}")))
        {
            out.push(path);
        }
    }
}

#[test]
fn no_conflict_markers_in_the_sources() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut all = Vec::new();
    for dir in ["crates", "scripts", ".ci"] {
        files(&root.join(dir), &mut all);
    }
    assert!(all.len() > 100, "the sources were not found under {root:?}");
    let mut found = Vec::new();
    for path in &all {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        for (i, line) in text.lines().enumerate() {
            let marker =
                line == "=======" || line.starts_with("<<<<<<< ") || line.starts_with(">>>>>>> ");
            if marker {
                found.push(format!("{}:{}", path.display(), i + 1));
            }
        }
    }
    assert!(found.is_empty(), "conflict markers left in: {found:?}");
}
