//! Settings of the pipeline: the ingester's timers and memory bounds, and the WAL's.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sextant_store::WalConfig;

/// Everything the pipeline is configured with (`pipeline:` in the config file).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    pub ingester: IngesterConfig,
    /// The write-ahead log; the server sets `wal.dir` from its data directory.
    pub wal: WalConfig,
}

/// Timers and bounds of the ingester and the distributor's admission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngesterConfig {
    /// A live trace with no new span for this long is complete.
    #[serde(with = "humantime_serde")]
    pub trace_idle: Duration,
    /// A trace live this long is complete, even if spans keep coming.
    #[serde(with = "humantime_serde")]
    pub trace_max_live: Duration,
    /// How often completion runs.
    #[serde(with = "humantime_serde")]
    pub sweep_interval: Duration,
    /// Bytes of live and completed-but-not-flushed traces in memory, all tenants together.
    pub max_live_bytes: u64,
    /// Bytes of requests being decoded and appended at once.
    pub max_inflight_bytes: u64,
    /// The retry hint sent with 503s.
    #[serde(with = "humantime_serde")]
    pub retry_after: Duration,
}

impl Default for IngesterConfig {
    fn default() -> Self {
        Self {
            trace_idle: Duration::from_secs(5),
            trace_max_live: Duration::from_secs(30),
            sweep_interval: Duration::from_secs(1),
            max_live_bytes: 1 << 30,
            max_inflight_bytes: 256 << 20,
            retry_after: Duration::from_secs(1),
        }
    }
}

impl PipelineConfig {
    /// Every problem with these settings at once; empty when they are usable.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = self.wal.validate();
        let i = &self.ingester;
        for (name, value) in [
            ("ingester.trace_idle", i.trace_idle),
            ("ingester.trace_max_live", i.trace_max_live),
            ("ingester.sweep_interval", i.sweep_interval),
        ] {
            if value.is_zero() {
                problems.push(format!("{name} must be positive"));
            }
        }
        for (name, value) in [
            ("ingester.max_live_bytes", i.max_live_bytes),
            ("ingester.max_inflight_bytes", i.max_inflight_bytes),
        ] {
            if value == 0 {
                problems.push(format!("{name} must be positive"));
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_down_to_milliseconds() {
        let c: IngesterConfig =
            serde_json::from_str(r#"{"trace_idle":"50ms","sweep_interval":"10ms"}"#).unwrap();
        assert_eq!(c.trace_idle, Duration::from_millis(50));
        assert_eq!(c.sweep_interval, Duration::from_millis(10));
        assert_eq!(c.max_live_bytes, 1_073_741_824);
        assert_eq!(c.max_inflight_bytes, 268_435_456);
        assert!(serde_json::from_str::<IngesterConfig>(r#"{"idle":"1s"}"#).is_err());
    }

    #[test]
    fn validation_reports_every_problem() {
        let mut c: PipelineConfig =
            serde_json::from_str(r#"{"ingester":{"sweep_interval":"0s","max_live_bytes":0}}"#)
                .unwrap();
        assert_eq!(
            c.validate(),
            vec![
                "ingester.sweep_interval must be positive",
                "ingester.max_live_bytes must be positive",
            ]
        );
        c.ingester = IngesterConfig::default();
        assert!(c.validate().is_empty());
    }
}
