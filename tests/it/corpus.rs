//! Runs over the real data in ../shared/corpus when it is present (CI has it); prints
//! that it was skipped when it is not, so a clean clone still passes.

use crate::support::*;

#[test]
fn scan_parses_every_real_feed() {
    let Some(corpus) = corpus() else { return };
    let mut files = Vec::new();
    for dir in std::fs::read_dir(corpus.join("feeds")).expect("feeds dir") {
        let dir = dir.expect("entry").path();
        if !dir.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&dir).expect("dir") {
            let f = f.expect("entry").path();
            let ext = f.extension().and_then(|e| e.to_str()).unwrap_or("");
            if matches!(ext, "xml" | "json" | "rss") {
                files.push(f.to_string_lossy().into_owned());
            }
        }
    }
    assert!(files.len() >= 20, "{} feed files", files.len());
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut args = vec!["scan", "--all", "--format", "jsonl"];
    args.extend(files.iter().map(String::as_str));
    let out = threatwatch(tmp.path(), &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = stdout(&out).lines().count();
    // 195 items, less the GitHub advisories repeated per package under one link.
    assert!(
        lines >= 175,
        "only {lines} items parsed from the real feeds"
    );
}
