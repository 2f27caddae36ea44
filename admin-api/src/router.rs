//! The routes and the OpenAPI document, from one declaration (utoipa-axum's `routes!`), so the
//! document cannot drift from what is served. Layers, outermost first: catch panic (a
//! panicking handler becomes a 500 envelope) → authentication (every route but login and the
//! document; headers only, before the body is read) → handler.

use std::any::Any;

use axum::Router;
use axum::extract::State;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::authenticate;
use crate::error::{AdminError, ErrorBody};
use crate::state::AdminState;
use crate::{audit, generator, grafana, keys, limits, session, tenants, usage};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Sextant admin API",
        version = "1",
        description = "Tenants, API keys, limits, metrics-generator settings, usage, audit and \
                       Grafana provisioning. Every error is an `ErrorBody`."
    ),
    modifiers(&SecuritySchemes),
    security(("bearer" = []), ("basic" = [])),
    components(schemas(ErrorBody)),
    tags(
        (name = "session", description = "Sign-in for admin users"),
        (name = "tenants", description = "Tenants and their life cycle"),
        (name = "keys", description = "A tenant's API keys"),
        (name = "limits", description = "A tenant's limit overrides"),
        (name = "generator", description = "A tenant's metrics-generator settings"),
        (name = "usage", description = "Metered usage per UTC day"),
        (name = "audit", description = "The audit log of admin mutations"),
        (name = "grafana", description = "Grafana datasource provisioning"),
        (name = "meta", description = "This document"),
    )
)]
struct ApiDoc;

/// The security schemes every protected route accepts.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut bearer = Http::new(HttpAuthScheme::Bearer);
        bearer.description = Some(
            "An admin token (`sxa_…` or operator-supplied), or a session token from \
             `POST /admin/api/v1/login`."
                .into(),
        );
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
        let mut basic = Http::new(HttpAuthScheme::Basic);
        basic.description =
            Some("An empty username and the admin token as password (`curl -u :$TOKEN`).".into());
        components.add_security_scheme("basic", SecurityScheme::Http(basic));
    }
}

/// Routes that need an admin credential.
fn protected_routes() -> OpenApiRouter<AdminState> {
    OpenApiRouter::new()
        .routes(routes!(tenants::list, tenants::create))
        .routes(routes!(tenants::get, tenants::patch, tenants::delete))
        .routes(routes!(tenants::suspend))
        .routes(routes!(tenants::resume))
        .routes(routes!(keys::create_key, keys::list_keys))
        .routes(routes!(keys::revoke_key))
        .routes(routes!(limits::get, limits::put, limits::patch))
        .routes(routes!(generator::get, generator::put))
        .routes(routes!(usage::get))
        .routes(routes!(grafana::datasources))
        .routes(routes!(audit::list))
}

/// Routes anyone may call.
fn public_routes() -> OpenApiRouter<AdminState> {
    OpenApiRouter::new()
        .routes(routes!(session::login))
        .routes(routes!(openapi_json))
}

/// The OpenAPI 3.1 document of every route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(protected_routes())
        .merge(public_routes())
        .into_openapi()
}

/// The admin API under `/admin/api/v1`, with full paths (to merge into the public listener's
/// router). No fallback: the router it is merged into has its own.
pub fn router(state: AdminState) -> Router {
    let (protected, _) = protected_routes().split_for_parts();
    let (public, _) = public_routes().split_for_parts();
    let protected = protected.route_layer(from_fn_with_state(state.clone(), authenticate));
    Router::new()
        .merge(protected)
        .merge(public)
        .layer(CatchPanicLayer::custom(panic_response))
        .with_state(state)
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "panic".to_owned());
    AdminError::Internal(format!("handler panicked: {detail}")).into_response()
}

/// This document (OpenAPI 3.1, JSON).
#[utoipa::path(
    get,
    path = "/admin/api/v1/openapi.json",
    tag = "meta",
    security(()),
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json", body = Object))
)]
pub(crate) async fn openapi_json(State(state): State<AdminState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        state.openapi.as_str().to_owned(),
    )
        .into_response()
}
