//! The edge's settings.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Settings of the public routers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Largest accepted request body after decompression, in bytes, for OTLP/HTTP; also the
    /// largest accepted gRPC message (tonic's 4 MiB default is too small for OTLP batches).
    pub max_request_bytes: u64,
    /// Whole-request timeout of the unary HTTP routes (not applied to gRPC).
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Traces a search returns when it names no `limit` (Tempo's `default_result_limit`).
    pub default_search_limit: u32,
    /// The largest `limit` a search may ask for; more is refused with 400 (Tempo's
    /// `max_result_limit`).
    pub max_search_limit: u32,
    /// Spans per span set when a search names no `spss` (the largest allowed is the tenant's
    /// `max_spans_per_span_set`).
    pub default_spans_per_span_set: u32,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            max_request_bytes: 20 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            default_search_limit: 20,
            max_search_limit: 1000,
            default_spans_per_span_set: 3,
        }
    }
}

/// How requests on the public routers are authenticated (config key `auth.mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMode {
    /// Every data request carries an API key or admin token (Basic or Bearer); the tenant is the
    /// key's.
    #[default]
    Keys,
    /// No credentials: the tenant is `X-Scope-OrgID` (valid ids only), else `single-tenant`.
    /// For local experiments only.
    None,
    /// The tenant is `X-Scope-OrgID` alone (required), for deployments behind another
    /// authenticating proxy that sets it.
    TrustedHeader,
}

impl AuthMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Keys => "keys",
            Self::None => "none",
            Self::TrustedHeader => "trusted-header",
        }
    }
}

/// The `auth` section of the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    pub mode: AuthMode,
}

impl GatewayConfig {
    /// The body cap as a `usize`, saturating on small targets.
    pub(crate) fn max_body(&self) -> usize {
        usize::try_from(self.max_request_bytes).unwrap_or(usize::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_humantime() {
        let cfg: GatewayConfig = serde_json::from_str(r#"{"request_timeout":"50ms"}"#).unwrap();
        assert_eq!(cfg.request_timeout, Duration::from_millis(50));
        assert_eq!(cfg.max_request_bytes, 20_971_520);
        assert_eq!(
            (
                cfg.default_search_limit,
                cfg.max_search_limit,
                cfg.default_spans_per_span_set
            ),
            (20, 1000, 3)
        );
        assert!(serde_json::from_str::<GatewayConfig>(r#"{"nope":1}"#).is_err());
    }

    #[test]
    fn auth_modes_parse_by_their_config_names() {
        assert_eq!(AuthConfig::default().mode, AuthMode::Keys);
        for mode in [AuthMode::Keys, AuthMode::None, AuthMode::TrustedHeader] {
            let text = format!(r#"{{"mode":"{}"}}"#, mode.as_str());
            let cfg: AuthConfig = serde_json::from_str(&text).unwrap();
            assert_eq!(cfg.mode, mode);
            assert_eq!(
                serde_json::to_string(&mode).unwrap(),
                format!("\"{}\"", mode.as_str())
            );
        }
        assert!(serde_json::from_str::<AuthConfig>(r#"{"mode":"trusted_header"}"#).is_err());
        assert!(serde_json::from_str::<AuthConfig>(r#"{"mode":"keys","x":1}"#).is_err());
    }
}
