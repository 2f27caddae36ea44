//! What every handler shares.

use std::sync::Arc;

use sextant_model::{
    Authenticator, IngestSink, MetricsQuerier, TenantDirectory, TraceReader, TraceSearcher,
    UsageMeter,
};

use crate::clock::{Clock, SystemClock};
use crate::limiter::TenantBuckets;
use crate::{AuthMode, GatewayConfig, GatewayMetrics};

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

/// The ports the edge talks through.
#[derive(Clone)]
pub struct GatewayPorts {
    pub ingest: Arc<dyn IngestSink>,
    pub reader: Arc<dyn TraceReader>,
    /// Search, tag names and tag values.
    pub searcher: Arc<dyn TraceSearcher>,
    /// TraceQL metrics.
    pub metrics_querier: Arc<dyn MetricsQuerier>,
    /// Credentials → identities, and tenant statuses.
    pub authenticator: Arc<dyn Authenticator>,
    /// Per-tenant limits (rates, bursts, quotas, query rate).
    pub tenants: Arc<dyn TenantDirectory>,
    /// Usage metering and the source of quota checks.
    pub usage: Arc<dyn UsageMeter>,
}

impl std::fmt::Debug for GatewayPorts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayPorts").finish_non_exhaustive()
    }
}

/// The state behind every route: the ports, the settings, the edge's metrics and its
/// per-tenant token buckets. Built with [`GatewayState::new`].
#[derive(Clone)]
pub struct GatewayState {
    pub ingest: Arc<dyn IngestSink>,
    pub reader: Arc<dyn TraceReader>,
    pub searcher: Arc<dyn TraceSearcher>,
    pub metrics_querier: Arc<dyn MetricsQuerier>,
    pub authenticator: Arc<dyn Authenticator>,
    pub tenants: Arc<dyn TenantDirectory>,
    pub usage: Arc<dyn UsageMeter>,
    pub auth: AuthMode,
    pub config: GatewayConfig,
    pub build: BuildInfo,
    pub metrics: Arc<GatewayMetrics>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) limiters: Arc<Limiters>,
}

/// The token buckets: ingest bytes and query requests, per tenant.
#[derive(Debug)]
pub(crate) struct Limiters {
    pub(crate) ingest: TenantBuckets,
    pub(crate) query: TenantBuckets,
}

impl Limiters {
    fn new(clock: &Arc<dyn Clock>) -> Self {
        Self {
            ingest: TenantBuckets::new(clock.clone()),
            query: TenantBuckets::new(clock.clone()),
        }
    }
}

impl GatewayState {
    /// The state on the system clock.
    pub fn new(
        ports: GatewayPorts,
        auth: AuthMode,
        config: GatewayConfig,
        build: BuildInfo,
        metrics: Arc<GatewayMetrics>,
    ) -> Self {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock::default());
        Self {
            ingest: ports.ingest,
            reader: ports.reader,
            searcher: ports.searcher,
            metrics_querier: ports.metrics_querier,
            authenticator: ports.authenticator,
            tenants: ports.tenants,
            usage: ports.usage,
            auth,
            config,
            build,
            metrics,
            limiters: Arc::new(Limiters::new(&clock)),
            clock,
        }
    }

    /// The same state on another clock, with fresh token buckets (tests drive time this way).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.limiters = Arc::new(Limiters::new(&clock));
        self.clock = clock;
        self
    }
}

impl std::fmt::Debug for GatewayState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayState")
            .field("auth", &self.auth)
            .field("config", &self.config)
            .field("build", &self.build)
            .finish_non_exhaustive()
    }
}
