//! WAL settings.

use std::path::PathBuf;

use serde::Deserialize;

/// Settings of the write-ahead log (`ingester.wal` in the server config).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
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
    fn unknown_fields_are_refused() {
        let err = serde_json::from_str::<WalConfig>(r#"{"segment_size": 1}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }
}
