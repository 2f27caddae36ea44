//! What every handler shares.

use std::sync::Arc;

use sextant_model::{IngestSink, TraceReader};

use crate::{GatewayConfig, GatewayMetrics};

/// The build, as `/api/status/buildinfo` reports it (Tempo's field set).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildInfo {
    /// A semver; Grafana enables streaming and metrics features from Tempo 2.7 onwards.
    pub version: String,
    pub revision: String,
    pub branch: String,
    pub build_date: String,
    pub build_user: String,
    pub go_version: String,
}

/// The state behind every route: the ports, the settings and the edge's metrics.
#[derive(Clone)]
pub struct GatewayState {
    pub ingest: Arc<dyn IngestSink>,
    pub reader: Arc<dyn TraceReader>,
    pub config: GatewayConfig,
    pub build: BuildInfo,
    pub metrics: Arc<GatewayMetrics>,
}

impl std::fmt::Debug for GatewayState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayState")
            .field("config", &self.config)
            .field("build", &self.build)
            .finish_non_exhaustive()
    }
}
