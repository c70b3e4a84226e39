//! Scratch directories under the system's temporary directory, named by process id.
//!
//! A process id is not unique over time: a fresh container or a rebooted machine hands
//! out the same ids again, and a directory left by an earlier process (killed, or kept on
//! purpose) would then leak its files (a ledger, a `control.addr`) into the new one. Every
//! scratch directory is therefore emptied before use.

use std::path::{Path, PathBuf};

/// `<temp>/<prefix>-<pid>`, emptied and created.
pub fn for_process(prefix: &str) -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
    fresh(&dir)?;
    Ok(dir)
}

/// Removes whatever is at `dir` and creates it empty.
pub fn fresh(dir: &Path) -> Result<(), String> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot empty {}: {e}", dir.display())),
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_left_by_an_earlier_process_is_emptied() {
        let dir = std::env::temp_dir().join(format!("ms-scratch-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("terminus")).unwrap();
        std::fs::write(dir.join("control.addr"), "127.0.0.1:1\n").unwrap();
        fresh(&dir).unwrap();
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        let again = for_process("ms-scratch-test").unwrap();
        assert_eq!(again, dir);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_in_the_way_is_an_error_with_its_path() {
        let file = std::env::temp_dir().join(format!("ms-scratch-file-{}", std::process::id()));
        std::fs::write(&file, "x").unwrap();
        let err = fresh(&file).unwrap_err();
        assert!(err.contains(&file.display().to_string()), "{err}");
        std::fs::remove_file(&file).unwrap();
    }
}
