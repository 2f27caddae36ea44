//! The three public routers. Each is assembled here, outermost layer first:
//! request id + access log → catch panic → authentication and authorisation (headers only, every
//! route and the 404 fallback) → timeout (unary HTTP routes only) → body limit + decompression
//! (OTLP/HTTP; tonic's message limit for gRPC) → handler, whose OTLP core applies the per-tenant
//! quotas and rate limit on the decompressed size.

use std::any::Any;

use axum::Router;
use axum::body::Body;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::StatusCode;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;

use crate::GatewayState;
use crate::access_log::access_log;
use crate::auth::authenticate;
use crate::grpc::{EXPORT_PATH, ExportService};
use crate::mapping::{INTERNAL_MESSAGE, InternalDetail};
use crate::metrics_query;
use crate::otlp_http::{self, limit_and_decompress};
use crate::query;
use crate::scopes::STREAMING_QUERIER_METHODS;
use crate::search;
use crate::streaming::StreamingService;

/// `:3200`: Tempo's query API, OTLP/HTTP, and OTLP gRPC by path and content type (the server
/// serves this router over HTTP/1.1 and h2c).
pub fn router(state: GatewayState) -> Router {
    let routes = Router::new()
        .merge(query_routes(&state))
        .merge(otlp_http_routes(&state))
        .merge(grpc_routes(&state));
    with_outer_layers(routes, &state).with_state(state)
}

/// `:4318`: OTLP/HTTP only.
pub fn otlp_http_router(state: GatewayState) -> Router {
    with_outer_layers(otlp_http_routes(&state), &state).with_state(state)
}

/// `:4317`: OTLP gRPC and Tempo's streaming query service (`tempopb.StreamingQuerier`).
pub fn otlp_grpc_router(state: GatewayState) -> Router {
    with_outer_layers(grpc_routes(&state), &state).with_state(state)
}

/// Another edge's routes (the admin API) with the gateway's request id and access log, so
/// every request on a public listener is logged and counted the same way. Authentication is
/// that router's own.
pub fn with_access_log(routes: Router, state: &GatewayState) -> Router {
    routes.layer(from_fn_with_state(state.clone(), access_log))
}

/// The layers every route (and the fallback) gets, outermost first. (`Router::layer` runs after
/// routing, so the access log and the authorisation table see the matched route template.)
pub(crate) fn with_outer_layers(
    routes: Router<GatewayState>,
    state: &GatewayState,
) -> Router<GatewayState> {
    routes.fallback(not_found).layer(
        ServiceBuilder::new()
            // Request id + access log: outermost, so every answer, a panic's and a refusal's
            // included, is logged with its id and counted.
            .layer(from_fn_with_state(state.clone(), access_log))
            // Catch panic: inside the log, so a panicking handler becomes a logged 500.
            .layer(CatchPanicLayer::custom(panic_response))
            // Authentication + authorisation by the route table: from headers only, before any
            // body byte is read, for HTTP and gRPC alike.
            .layer(from_fn_with_state(state.clone(), authenticate)),
    )
}

/// Nothing serves the path: a gRPC client gets `UNIMPLEMENTED` (as from any gRPC server), others
/// a plain 404.
async fn not_found(request: axum::extract::Request) -> Response {
    let grpc = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/grpc"));
    if grpc {
        tonic::Status::unimplemented(format!("no such method {}", request.uri().path()))
            .into_http::<Body>()
            .into_response()
    } else {
        (StatusCode::NOT_FOUND, "not found").into_response()
    }
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response<Body> {
    let detail = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "panic".to_owned());
    let mut response = (StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_MESSAGE).into_response();
    response
        .extensions_mut()
        .insert(InternalDetail(format!("handler panicked: {detail}")));
    response
}

/// Tempo's query API.
fn query_routes(state: &GatewayState) -> Router<GatewayState> {
    Router::new()
        .route("/api/echo", get(query::echo))
        .route("/api/status/buildinfo", get(query::buildinfo))
        .route("/api/traces/{id}", get(query::trace_v1))
        .route("/api/v2/traces/{id}", get(query::trace_v2))
        .route("/api/search", get(search::search))
        .route("/api/search/tags", get(search::tag_names_v1))
        .route("/api/v2/search/tags", get(search::tag_names_v2))
        .route("/api/search/tag/{tag}/values", get(search::tag_values_v1))
        .route(
            "/api/v2/search/tag/{tag}/values",
            get(search::tag_values_v2),
        )
        .route("/api/metrics/query_range", get(metrics_query::query_range))
        .route("/api/metrics/query", get(metrics_query::query_instant))
        .route_layer(
            ServiceBuilder::new()
                // Timeout: a unary request has a bounded answer time.
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::SERVICE_UNAVAILABLE,
                    state.config.request_timeout,
                )),
        )
}

/// OTLP/HTTP receive endpoints.
fn otlp_http_routes(state: &GatewayState) -> Router<GatewayState> {
    Router::new()
        .route("/v1/traces", post(otlp_http::export))
        .route("/otlp/v1/traces", post(otlp_http::export))
        .route_layer(
            ServiceBuilder::new()
                // Timeout: a unary request has a bounded answer time (slow senders included).
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::SERVICE_UNAVAILABLE,
                    state.config.request_timeout,
                ))
                // Body limit + decompression: the cap applies to the decompressed size.
                .layer(from_fn_with_state(state.clone(), limit_and_decompress)),
        )
}

/// OTLP gRPC `TraceService/Export` and Tempo's `StreamingQuerier` methods. No whole-request
/// timeout: gRPC deadlines are the client's, and a streamed answer lasts as long as its query.
fn grpc_routes(state: &GatewayState) -> Router<GatewayState> {
    // Message limit + decompression: inside the service (tonic's decoder, with
    // `max_decoding_message_size` = `max_request_bytes` on the decompressed size).
    let mut routes = Router::new().route_service(
        EXPORT_PATH,
        ExportService {
            state: state.clone(),
        },
    );
    let streaming = StreamingService::new(state.clone());
    for path in STREAMING_QUERIER_METHODS {
        routes = routes.route_service(path, streaming.clone());
    }
    routes
}
