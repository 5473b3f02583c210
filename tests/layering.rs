//! The layers as DESIGN.md draws them: the informer framework (`src/cache/`) reaches a
//! server only through `ListerWatcher` and `InformerClient`, so no code of it names the
//! client, the test server or an HTTP crate. (Doc examples may: they are users of the
//! crate, compiled as tests.)

use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).expect("readable source folder") {
            let path = entry.expect("a folder entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The lines of `source` that are code, not comments (doc examples included).
fn code_lines(source: &str) -> impl Iterator<Item = (usize, &str)> {
    source
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_start()))
        .filter(|(_, l)| !l.starts_with("//"))
}

/// Where the files under `dir` name one of `forbidden`, as `file:line: text`.
fn mentions(dir: &str, forbidden: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let files = rust_files(&root);
    assert!(!files.is_empty(), "no sources under {}", root.display());
    let mut found = Vec::new();
    for file in files {
        let source = std::fs::read_to_string(&file).expect("readable source");
        for (n, line) in code_lines(&source) {
            if forbidden.iter().any(|f| line.contains(f)) {
                found.push(format!("{}:{n}: {line}", file.display()));
            }
        }
    }
    found
}

#[test]
fn the_informer_framework_does_not_depend_on_the_client() {
    let found = mentions(
        "src/cache",
        &[
            "crate::client",
            "super::super::client",
            // `use crate::{client::...}` and `use crate::{meta, client}` too.
            "{client",
            " client::",
            ", client",
            "crate::testing",
            "reqwest",
            "hyper",
            "http::",
        ],
    );
    assert!(
        found.is_empty(),
        "cache/ names other layers:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_object_model_depends_on_nothing_above_it() {
    let found = mentions(
        "src/meta",
        &[
            "crate::client",
            "crate::cache",
            "crate::testing",
            "reqwest",
            "hyper",
        ],
    );
    assert!(
        found.is_empty(),
        "meta/ names other layers:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_scan_sees_code_and_skips_comments() {
    let source =
        "//! uses crate::client in prose\n/// crate::client::Api\nuse crate::client::Api;\n";
    let lines: Vec<_> = code_lines(source).collect();
    assert_eq!(lines, [(3, "use crate::client::Api;")]);
}
