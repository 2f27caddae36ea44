//! The admin API's settings: section `admin:` of the server configuration.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Settings of the admin API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// How long a session token from `POST /admin/api/v1/login` is valid.
    #[serde(with = "humantime_serde")]
    pub session_ttl: Duration,
    /// What the generated Grafana datasource provisioning files point at.
    pub grafana: GrafanaProvisioning,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(3600),
            grafana: GrafanaProvisioning::default(),
        }
    }
}

/// The public URLs a tenant's Grafana uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrafanaProvisioning {
    /// The Tempo datasource's URL: this server's public HTTP address (as seen from Grafana).
    pub tempo_url: String,
    /// The tenant's Prometheus (where its generated span metrics land); `{tenant}` is replaced
    /// by the tenant ID. Unset: no Prometheus datasource, no service map or traces-to-metrics.
    pub prometheus_url: Option<String>,
}

impl Default for GrafanaProvisioning {
    fn default() -> Self {
        Self {
            tempo_url: "http://127.0.0.1:3200".to_owned(),
            prometheus_url: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_unknown_fields() {
        let c: AdminConfig = serde_json::from_str(
            r#"{"session_ttl":"15m","grafana":{"prometheus_url":"http://p/{tenant}"}}"#,
        )
        .unwrap();
        assert_eq!(c.session_ttl, Duration::from_secs(900));
        assert_eq!(c.grafana.tempo_url, "http://127.0.0.1:3200");
        assert_eq!(
            c.grafana.prometheus_url.as_deref(),
            Some("http://p/{tenant}")
        );
        assert!(serde_json::from_str::<AdminConfig>(r#"{"ttl":"1h"}"#).is_err());
        assert_eq!(
            serde_json::from_str::<AdminConfig>("{}").unwrap(),
            AdminConfig::default()
        );
    }
}
