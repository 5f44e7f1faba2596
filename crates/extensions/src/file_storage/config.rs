//! `extensions::file_storage[/name]`: otelcol-contrib's keys, defaults and validation.
//!
//! The backend is SQLite, not bbolt; how each key maps onto it:
//!
//! | key | effect here |
//! |---|---|
//! | `directory` | where the queue databases live; must exist unless `create_directory` |
//! | `timeout` | how long opening a database waits for its lock (SQLite `busy_timeout`) |
//! | `fsync` | `PRAGMA synchronous=FULL` (fsync on every commit) instead of `NORMAL` (WAL mode) |
//! | `create_directory`, `directory_permissions` | as otelcol (octal, minus the umask) |
//! | `compaction::on_start` | `VACUUM` of each database when it is opened |
//! | `compaction::on_rebound`, `rebound_needed_threshold_mib`, `rebound_trigger_threshold_mib`, `check_interval` | as otelcol, with `PRAGMA incremental_vacuum` as the compaction |
//! | `compaction::cleanup_on_start` | removes bbolt's leftover `tempdb*` files from `compaction::directory`, as otelcol |
//! | `compaction::directory` | validated as otelcol; no other effect (SQLite's `VACUUM` uses its own temporary storage) |
//! | `compaction::max_transaction_size` | validated as otelcol; no effect (SQLite compacts in one transaction) |

use kakehashi_config::{Duration, Validate};
use serde::Deserialize;
use std::path::Path;

/// otelcol's default directory on Unix.
pub const DEFAULT_DIRECTORY: &str = "/var/lib/otelcol/file_storage";

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileStorageConfig {
    pub directory: String,
    pub timeout: Duration,
    pub fsync: bool,
    pub create_directory: bool,
    /// An octal string such as `"0750"`, used with `create_directory`.
    pub directory_permissions: String,
    pub compaction: CompactionConfig,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompactionConfig {
    pub directory: String,
    pub on_start: bool,
    pub on_rebound: bool,
    pub rebound_needed_threshold_mib: i64,
    pub rebound_trigger_threshold_mib: i64,
    pub max_transaction_size: i64,
    pub check_interval: Duration,
    pub cleanup_on_start: bool,
}

impl Default for FileStorageConfig {
    fn default() -> Self {
        FileStorageConfig {
            directory: DEFAULT_DIRECTORY.into(),
            timeout: Duration::from_secs(1),
            fsync: false,
            create_directory: false,
            directory_permissions: "0750".into(),
            compaction: CompactionConfig::default(),
        }
    }
}

impl Default for CompactionConfig {
    fn default() -> Self {
        CompactionConfig {
            directory: DEFAULT_DIRECTORY.into(),
            on_start: false,
            on_rebound: false,
            rebound_needed_threshold_mib: 100,
            rebound_trigger_threshold_mib: 10,
            max_transaction_size: 65536,
            check_interval: Duration::from_secs(5),
            cleanup_on_start: false,
        }
    }
}

impl FileStorageConfig {
    /// The directories the extension uses (otelcol checks the compaction one only when a
    /// compaction mode is on).
    pub fn directories(&self) -> Vec<&str> {
        let mut dirs = vec![self.directory.as_str()];
        if self.compaction.on_start || self.compaction.on_rebound {
            dirs.push(self.compaction.directory.as_str());
        }
        dirs
    }

    /// `directory_permissions` parsed (validated before use).
    pub fn permissions(&self) -> Option<u32> {
        u32::from_str_radix(&self.directory_permissions, 8)
            .ok()
            .filter(|p| p & 0o777 == *p)
    }
}

impl Validate for FileStorageConfig {
    fn validate(&self) -> Vec<String> {
        let mut errs = Vec::new();
        for dir in self.directories() {
            match std::fs::metadata(Path::new(dir)) {
                Ok(m) if !m.is_dir() => errs.push(format!("{dir} is not a directory")),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if !self.create_directory {
                        errs.push(format!(
                            "directory must exist: stat {dir}: no such file or directory. You can \
                             enable the create_directory option to automatically create it"
                        ));
                    }
                }
                Err(e) => errs.push(format!(
                    "problem accessing configured directory: {dir}, err: {e}"
                )),
            }
        }
        if self.compaction.max_transaction_size < 0 {
            errs.push("max transaction size for compaction cannot be less than 0".into());
        }
        if self.compaction.on_rebound && self.compaction.check_interval.is_zero() {
            errs.push(
                "compaction check interval must be positive when rebound compaction is set".into(),
            );
        }
        if self.create_directory {
            match u32::from_str_radix(&self.directory_permissions, 8) {
                Err(_) => errs.push(
                    "directory_permissions value must be a valid octal representation".into(),
                ),
                Ok(p) if p & 0o777 != p => {
                    errs.push("directory_permissions contain invalid bits for file access".into())
                }
                Ok(_) => {}
            }
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_dir(dir: &str) -> FileStorageConfig {
        FileStorageConfig {
            directory: dir.into(),
            ..Default::default()
        }
    }

    #[test]
    fn existing_directory_is_valid() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(with_dir(tmp.path().to_str().unwrap()).validate().is_empty());
    }

    #[test]
    fn missing_directory_needs_create_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("nope");
        let mut cfg = with_dir(missing.to_str().unwrap());
        let errs = cfg.validate();
        assert_eq!(errs.len(), 1);
        assert!(errs[0].starts_with("directory must exist"), "{errs:?}");
        cfg.create_directory = true;
        assert!(cfg.validate().is_empty());
        cfg.directory_permissions = "0999".into();
        assert_eq!(
            cfg.validate(),
            ["directory_permissions value must be a valid octal representation"]
        );
        cfg.directory_permissions = "01777".into();
        assert_eq!(
            cfg.validate(),
            ["directory_permissions contain invalid bits for file access"]
        );
    }

    #[test]
    fn a_file_is_not_a_directory() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let path = tmp.path().to_str().unwrap().to_owned();
        assert_eq!(
            with_dir(&path).validate(),
            [format!("{path} is not a directory")]
        );
    }

    #[test]
    fn compaction_directory_is_checked_only_when_compacting() {
        let tmp = tempfile::tempdir().unwrap();
        let mut cfg = with_dir(tmp.path().to_str().unwrap());
        cfg.compaction.directory = tmp.path().join("nope").to_str().unwrap().into();
        assert!(cfg.validate().is_empty());
        cfg.compaction.on_rebound = true;
        assert_eq!(cfg.validate().len(), 1);
        cfg.compaction.directory = cfg.directory.clone();
        cfg.compaction.check_interval = Duration::ZERO;
        cfg.compaction.max_transaction_size = -1;
        assert_eq!(
            cfg.validate(),
            [
                "max transaction size for compaction cannot be less than 0",
                "compaction check interval must be positive when rebound compaction is set"
            ]
        );
    }
}
