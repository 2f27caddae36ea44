//! The edge: routers for the public listeners, authentication, body limits and decompression,
//! the OTLP receive endpoints (HTTP and gRPC) and Tempo's query API. Talks to the rest only
//! through the model's ports; never depends on store or pipeline.
//!
//! [`router`] serves the `:3200` listener (Tempo's query API, OTLP/HTTP, and by content type
//! OTLP gRPC and Tempo's streaming query service), [`otlp_http_router`] the `:4318` listener and
//! [`otlp_grpc_router`] the `:4317` one (OTLP gRPC and the streaming query service).
//! Every transport of OTLP reaches one core that hands the decompressed bytes to the
//! [`IngestSink`](sextant_model::IngestSink) port; errors are mapped from
//! [`ErrorKind`](sextant_model::ErrorKind) in one place.
//!
//! Every route is guarded by one authentication layer (auth mode `keys`, `none` or
//! `trusted-header`) that decides by one table of (method, route) → scope, from headers only;
//! per-tenant ingest rates and quotas are applied in the OTLP core on the decompressed size.
//!
//! Tempo's search and tag routes put each request to the
//! [`TraceSearcher`](sextant_model::TraceSearcher) port once per tenant named (`a|b`) and merge
//! the answers; the TraceQL metrics routes do the same with the
//! [`MetricsQuerier`](sextant_model::MetricsQuerier) port, concatenating the series. Parameters
//! are checked here, TraceQL is the pipeline's.
//!
//! | Route or gRPC method | Answer |
//! |---|---|
//! | `GET /api/search`, `/api/search/tags`, `/api/v2/search/tags`, `/api/search/tag/{t}/values`, `/api/v2/search/tag/{t}/values` | JSON |
//! | `GET /api/metrics/query_range`, `/api/metrics/query` | JSON (`QueryRangeResponse`, `QueryInstantResponse`) |
//! | `tempopb.StreamingQuerier/Search` | progress messages, then the rest of the traces |
//! | `…/SearchTags`, `…/SearchTagsV2`, `…/SearchTagValues`, `…/SearchTagValuesV2` | one message |
//! | `…/MetricsQueryRange` | metrics-only progress messages, then the series |
//! | `…/MetricsQueryInstant` | one message |

mod access_log;
mod auth;
mod clock;
mod config;
mod decompress;
mod error;
mod grpc;
mod limiter;
mod mapping;
mod metrics;
mod metrics_json;
mod metrics_params;
mod metrics_query;
mod otlp;
mod otlp_http;
mod query;
mod router;
mod rpc_status;
mod scopes;
mod search;
mod search_json;
mod search_params;
mod state;
mod streaming;
mod streaming_convert;
mod tempo_json;
mod tenant;

/// Tempo's query messages (`proto/tempo.proto`, package `tempopb`) with Tempo's field numbers;
/// the OTLP messages inside are the model's. Also the `StreamingQuerier` server (mounted by the
/// routers) and client (`streaming_querier_client::StreamingQuerierClient`, for tests and tools).
#[expect(
    clippy::allow_attributes,
    reason = "prost-build marks its generated items #[allow(clippy::all)]"
)]
pub mod tempopb {
    include!(concat!(env!("OUT_DIR"), "/tempopb.rs"));
}

pub use auth::Principal;
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{AuthConfig, AuthMode, GatewayConfig};
pub use error::{GatewayError, Result};
pub use metrics::GatewayMetrics;
pub use router::{otlp_grpc_router, otlp_http_router, router, with_access_log};
pub use rpc_status::{ProtoAny, ProtoDuration, RetryInfo, RpcStatus};
pub use state::{BuildInfo, GatewayPorts, GatewayState};
pub use tenant::TenantSet;

#[cfg(test)]
mod tests;
