//! Settings of the generator role (`generator:` in the config file): how often series are
//! collected and written, how long service-graph halves wait, the bound of the ingest feed, and
//! the default remote-write target with its queue and retry policy.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sextant_model::RemoteWriteTarget;

/// The generator's process-wide settings; per-tenant ones come from the tenant snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GeneratorConfig {
    /// Runs the generator in this process. It only works for tenants whose settings turn a
    /// processor on, so leaving it on costs nothing for the others.
    pub enabled: bool,
    /// How often every tenant's series are collected and remote-written.
    #[serde(with = "humantime_serde")]
    pub collection_interval: Duration,
    /// How long a client or server half of a service-graph edge waits for the other.
    #[serde(with = "humantime_serde")]
    pub edge_wait: Duration,
    /// Most halves waiting at once, per tenant; more are dropped and counted.
    pub edge_max_items: usize,
    /// A series not updated for this long is dropped at the next collection.
    #[serde(with = "humantime_serde")]
    pub stale_after: Duration,
    /// Spans that ended longer ago than this when they arrive are not counted (Tempo's
    /// `metrics_ingestion_time_range_slack`): late data would add to series already written.
    /// Zero counts every span.
    #[serde(with = "humantime_serde")]
    pub ingestion_slack: Duration,
    /// Labels added to every series written; `__metrics_gen_instance` (this host's name) is
    /// always added, so the series of several generators never collide.
    pub external_labels: BTreeMap<String, String>,
    /// Bytes of accepted spans waiting for the generator. Ingest never waits for it: beyond this
    /// bound spans are shed from the generator (counted) and are stored all the same.
    pub queue_bytes: u64,
    /// Most series in one write request; a collection with more is split.
    pub max_series_per_request: usize,
    pub remote_write: RemoteWriteConfig,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            collection_interval: Duration::from_secs(15),
            edge_wait: Duration::from_secs(10),
            edge_max_items: 10_000,
            stale_after: Duration::from_secs(15 * 60),
            ingestion_slack: Duration::from_secs(30),
            external_labels: BTreeMap::new(),
            queue_bytes: 64 << 20,
            max_series_per_request: 2_000,
            remote_write: RemoteWriteConfig::default(),
        }
    }
}

/// The default target (for tenants whose settings name none) and how every target is written.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RemoteWriteConfig {
    /// The default target's URL; empty means a tenant without a target of its own gets none.
    pub url: String,
    /// Headers sent to the default target (e.g. `Authorization`). Never logged.
    pub headers: BTreeMap<String, String>,
    /// Adds `X-Scope-OrgID: <tenant>` to the default target's requests unless `headers` names it.
    pub add_org_id_header: bool,
    /// Write requests waiting per tenant; beyond it the oldest is dropped (counted).
    pub queue_requests: usize,
    /// One request's deadline.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// First wait after a failed attempt; doubles up to `max_backoff`.
    #[serde(with = "humantime_serde")]
    pub min_backoff: Duration,
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
}

impl Default for RemoteWriteConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            headers: BTreeMap::new(),
            add_org_id_header: true,
            queue_requests: 100,
            timeout: Duration::from_secs(10),
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl std::fmt::Debug for RemoteWriteConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<&str> = self.headers.keys().map(String::as_str).collect();
        f.debug_struct("RemoteWriteConfig")
            .field("url", &self.url)
            .field("headers", &headers)
            .field("add_org_id_header", &self.add_org_id_header)
            .field("queue_requests", &self.queue_requests)
            .field("timeout", &self.timeout)
            .field("min_backoff", &self.min_backoff)
            .field("max_backoff", &self.max_backoff)
            .finish()
    }
}

impl RemoteWriteConfig {
    /// The default target, when a URL is configured.
    pub(crate) fn default_target(&self) -> Option<RemoteWriteTarget> {
        (!self.url.is_empty()).then(|| RemoteWriteTarget {
            url: self.url.clone(),
            headers: self.headers.clone(),
            add_org_id_header: self.add_org_id_header,
        })
    }
}

impl GeneratorConfig {
    /// Every problem with these settings at once; empty when they are usable.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let rw = &self.remote_write;
        for (name, value) in [
            ("generator.collection_interval", self.collection_interval),
            ("generator.edge_wait", self.edge_wait),
            ("generator.stale_after", self.stale_after),
            ("generator.remote_write.timeout", rw.timeout),
            ("generator.remote_write.min_backoff", rw.min_backoff),
        ] {
            if value.is_zero() {
                problems.push(format!("{name} must be positive"));
            }
        }
        for (name, value) in [
            ("generator.edge_max_items", self.edge_max_items as u64),
            ("generator.queue_bytes", self.queue_bytes),
            (
                "generator.max_series_per_request",
                self.max_series_per_request as u64,
            ),
            (
                "generator.remote_write.queue_requests",
                rw.queue_requests as u64,
            ),
        ] {
            if value == 0 {
                problems.push(format!("{name} must be positive"));
            }
        }
        if rw.max_backoff < rw.min_backoff {
            problems
                .push("generator.remote_write.max_backoff must be at least min_backoff".to_owned());
        }
        if let Some(target) = rw.default_target() {
            let as_settings = sextant_model::GeneratorSettings {
                remote_write: Some(target),
                ..sextant_model::GeneratorSettings::default()
            };
            for e in as_settings.validate() {
                problems.push(format!("generator.{e}"));
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_milliseconds_and_reports_every_problem() {
        let c: GeneratorConfig = serde_json::from_str(
            r#"{"collection_interval":"50ms","edge_wait":"0s",
                "remote_write":{"url":"ftp://x","queue_requests":0,"max_backoff":"1ms"}}"#,
        )
        .unwrap();
        assert_eq!(c.collection_interval, Duration::from_millis(50));
        let problems = c.validate();
        assert!(problems.contains(&"generator.edge_wait must be positive".to_owned()));
        assert!(
            problems.contains(&"generator.remote_write.queue_requests must be positive".to_owned())
        );
        assert!(problems.iter().any(|p| p.contains("max_backoff")));
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("generator.remote_write.url")),
            "{problems:?}"
        );
        assert!(GeneratorConfig::default().validate().is_empty());
        let secret = RemoteWriteConfig {
            headers: BTreeMap::from([("Authorization".to_owned(), "Bearer s3cret".to_owned())]),
            ..RemoteWriteConfig::default()
        };
        assert!(!format!("{secret:?}").contains("s3cret"));
    }
}
