//! WAL settings.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Settings of the write-ahead log (`ingester.wal` in the server config).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WalConfig {
    /// Directory of the segment files; the server makes it `<data_dir>/wal`.
    pub dir: PathBuf,
    /// A new segment file is started once the current one would grow past this size.
    pub segment_bytes: u64,
    /// Cap over all segments on disk: at or above it appends are refused (503 + retry hint).
    pub max_bytes: u64,
    /// Fsync each group commit. Turning it off gives up the durability promise on power loss
    /// (a `kill -9` still loses nothing, since written data sits in the page cache).
    pub fsync: bool,
}

impl Default for WalConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("wal"),
            segment_bytes: 128 * 1024 * 1024,
            max_bytes: 1024 * 1024 * 1024,
            fsync: true,
        }
    }
}

impl WalConfig {
    /// Every problem with these settings (empty when they can work).
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.dir.as_os_str().is_empty() {
            problems.push("wal.dir must not be empty".to_owned());
        }
        if self.segment_bytes == 0 {
            problems.push("wal.segment_bytes must be positive".to_owned());
        }
        // The segment being written is never released: with a cap below two segments the
        // WAL could refuse appends forever.
        if self.max_bytes < self.segment_bytes.saturating_mul(2) {
            problems.push(format!(
                "wal.max_bytes ({}) must be at least twice wal.segment_bytes ({})",
                self.max_bytes, self.segment_bytes
            ));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let config: WalConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(config, WalConfig::default());
        assert_eq!(config.segment_bytes, 134_217_728);
        assert_eq!(config.max_bytes, 1_073_741_824);

        let config: WalConfig =
            serde_json::from_str(r#"{"dir": "/data/wal", "fsync": false}"#).unwrap();
        assert_eq!(config.dir, PathBuf::from("/data/wal"));
        assert!(!config.fsync);
        assert_eq!(config.max_bytes, 1_073_741_824);
    }

    #[test]
    fn validation_reports_every_problem() {
        assert!(WalConfig::default().validate().is_empty());
        let config = WalConfig {
            dir: PathBuf::new(),
            segment_bytes: 1000,
            max_bytes: 1999,
            fsync: true,
        };
        let problems = config.validate();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[1].contains("twice"), "{problems:?}");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = serde_json::from_str::<WalConfig>(r#"{"segment_size": 1}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }
}
