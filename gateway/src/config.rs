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
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            max_request_bytes: 20 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
        }
    }
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
        assert!(serde_json::from_str::<GatewayConfig>(r#"{"nope":1}"#).is_err());
    }
}
