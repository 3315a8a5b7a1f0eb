//! Cheap architecture checks (rust-analyzer's tidy): the import boundaries written down
//! in ARCHITECTURE.md stay true.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// (crate path as used in code, the only place allowed to use it)
const BOUNDARIES: &[(&str, &str)] = &[
    (
        "reqwest::",
        "src/ingest/fetch.rs|src/discord/rest.rs|src/discord/mod.rs",
    ),
    ("feed_rs::", "src/ingest/parse.rs"),
    ("rusqlite::", "src/store/"),
    ("serenity::", "src/discord/"),
    ("anyhow::", "src/app/|src/main.rs"),
];

#[test]
fn only_the_owner_module_imports_each_crate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut bad = Vec::new();
    for f in &files {
        let rel = f
            .strip_prefix(root)
            .expect("rel")
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(f).expect("read");
        for (needle, owners) in BOUNDARIES {
            let allowed = owners.split('|').any(|o| rel.starts_with(o));
            if !allowed && text.contains(needle) {
                bad.push(format!("{rel} uses {needle} (only {owners} may)"));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn every_module_has_a_doc_comment() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let missing: Vec<String> = files
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            !text.trim_start().starts_with("//!")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(missing.is_empty(), "no //! doc: {missing:?}");
}
