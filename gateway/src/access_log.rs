//! Request ids and the access log: one `info` line per request at target `access`, and the
//! request metrics. Headers (credentials) are never logged.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderValue;

use crate::GatewayState;
use crate::auth::ResolvedPrincipal;
use crate::mapping::InternalDetail;
use crate::otlp_http::RequestBytes;
use crate::tenant::ResolvedTenant;

pub(crate) const REQUEST_ID_HEADER: &str = "x-request-id";

/// A new request id: 32 hex characters, unique within the process and unlikely across processes.
fn new_request_id() -> String {
    static SEED: OnceLock<RandomState> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = SEED.get_or_init(RandomState::new);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut a = seed.build_hasher();
    a.write_u64(n);
    let mut b = seed.build_hasher();
    b.write_u64(!n);
    format!("{:016x}{:016x}", a.finish(), b.finish())
}

/// A client's request id is kept when it is short printable ASCII; otherwise a new one is made.
fn request_id(request: &Request) -> HeaderValue {
    request
        .headers()
        .get(REQUEST_ID_HEADER)
        .filter(|v| {
            let b = v.as_bytes();
            !b.is_empty() && b.len() <= 128 && b.iter().all(|c| c.is_ascii_graphic())
        })
        .cloned()
        .unwrap_or_else(|| HeaderValue::try_from(new_request_id()).expect("hex is a valid header"))
}

/// Middleware: sets and echoes `x-request-id`, logs the request and counts it.
pub(crate) async fn access_log(
    State(state): State<GatewayState>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let id = request_id(&request);
    request.headers_mut().insert(REQUEST_ID_HEADER, id.clone());
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let declared_bytes = request
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());

    let mut response = next.run(request).await;

    response.headers_mut().insert(REQUEST_ID_HEADER, id.clone());
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    state
        .metrics
        .observe_http(&route, status, elapsed.as_secs_f64());
    let tenant = response
        .extensions()
        .get::<ResolvedTenant>()
        .map_or("-", |t| t.0.as_str());
    let principal = response
        .extensions()
        .get::<ResolvedPrincipal>()
        .map_or("-", |p| p.0.as_str());
    let request_bytes = response
        .extensions()
        .get::<RequestBytes>()
        .map(|b| b.0)
        .or(declared_bytes)
        .unwrap_or(0);
    let request_id = id.to_str().unwrap_or_default();
    if let Some(InternalDetail(detail)) = response.extensions().get::<InternalDetail>() {
        tracing::error!(target: "access", request_id, tenant, route, error = %detail, "internal error");
    }
    tracing::info!(
        target: "access",
        request_id,
        tenant,
        principal,
        method = %method,
        route,
        status,
        request_bytes,
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        "request"
    );
    response
}
