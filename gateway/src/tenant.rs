//! Tenant extraction from headers only, before any body is read. No authentication yet: the
//! tenant is `X-Scope-OrgID` (gRPC metadata `x-scope-orgid` is the same HTTP/2 header), or the
//! single tenant when absent. Federation (`a|b`) is not accepted yet: `TenantId::new` refuses it.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sextant_model::TenantId;

use crate::error::GatewayError;
use crate::mapping::{self, Encoding};
use crate::otlp_http::request_encoding;

/// The header (and gRPC metadata key) naming the tenant.
pub(crate) const ORG_ID_HEADER: &str = "x-scope-orgid";

/// How a refused request is answered, by the transport of the routes the layer guards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// Tempo's query API: plain text.
    Query,
    /// OTLP/HTTP: `google.rpc.Status` in the request's encoding.
    OtlpHttp,
    /// gRPC: a trailers-only status.
    Grpc,
}

/// The tenant of a request, as the access log reads it from the response.
#[derive(Debug, Clone)]
pub(crate) struct ResolvedTenant(pub(crate) TenantId);

pub(crate) fn tenant_from_headers(headers: &http::HeaderMap) -> Result<TenantId, GatewayError> {
    match headers.get(ORG_ID_HEADER) {
        None => Ok(TenantId::single_tenant()),
        Some(value) => {
            let text = value.to_str().unwrap_or("\u{fffd}");
            TenantId::new(text.trim()).map_err(GatewayError::InvalidTenant)
        }
    }
}

/// Middleware: resolves the tenant and puts it in the request's extensions.
pub(crate) async fn extract_tenant(
    State(flavor): State<Flavor>,
    mut request: Request,
    next: Next,
) -> Response {
    match tenant_from_headers(request.headers()) {
        Ok(tenant) => {
            request.extensions_mut().insert(tenant.clone());
            let mut response = next.run(request).await;
            response.extensions_mut().insert(ResolvedTenant(tenant));
            response
        }
        Err(err) => {
            let err = sextant_model::Error::from(err);
            match flavor {
                Flavor::Query => mapping::query_error_response(&err),
                Flavor::OtlpHttp => {
                    let encoding =
                        request_encoding(request.headers()).unwrap_or(Encoding::Protobuf);
                    mapping::otlp_error_response(&err, encoding)
                }
                Flavor::Grpc => mapping::grpc_status(&err)
                    .into_http::<axum::body::Body>()
                    .into_response(),
            }
        }
    }
}
