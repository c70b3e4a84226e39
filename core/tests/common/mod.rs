//! Locating the shared test vectors (`../shared/vectors`, or `$MONEYSOCKET_VECTORS`).
#![allow(dead_code)]

use std::path::PathBuf;

/// The vectors directory, or `None` (with a loud message) when it is absent outside CI.
/// Under `CI=true` a missing directory fails the test.
pub fn vectors_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("MONEYSOCKET_VECTORS") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors"),
    };
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
        panic!(
            "test vectors not found at {} (CI=true): set MONEYSOCKET_VECTORS",
            dir.display()
        );
    }
    // Written to the process's stderr, not through `eprintln!`: the test harness captures
    // the print macros of passing tests, and the skip must show without `--nocapture`.
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "!!!! SKIPPING vector tests: test vectors not found at {}; set MONEYSOCKET_VECTORS !!!!",
            dir.display()
        );
    });
    None
}

/// Loads one vector file (path relative to the vectors directory) as JSON.
pub fn load(rel: &str) -> Option<serde_json::Value> {
    let path = vectors_dir()?.join(rel);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    Some(serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display())))
}

/// Decodes hex from a vector field.
pub fn unhex(s: &str) -> Vec<u8> {
    moneysocket_core::hex::decode_vec(s).unwrap_or_else(|e| panic!("bad hex in vector {s:?}: {e}"))
}
