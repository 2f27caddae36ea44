//! Authentication of every admin route (except login and the OpenAPI document), from headers
//! only: `Authorization: Bearer <admin token | session JWT>`, or Basic with an empty username
//! and the admin token as password. A tenant's API key is a valid credential of the wrong kind
//! (403); anything else is 401 with `WWW-Authenticate`.

use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use http::header;
use http::request::Parts;
use sextant_model::{ErrorKind, Identity};

use crate::error::{AdminError, Result};
use crate::state::AdminState;

/// Who is acting: an admin token's name, or `user:<name>` for a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Actor(pub(crate) String);

impl<S: Send + Sync> FromRequestParts<S> for Actor {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self> {
        parts
            .extensions
            .get::<Actor>()
            .cloned()
            .ok_or_else(|| AdminError::Internal("route without the admin auth layer".into()))
    }
}

/// The middleware: resolves the credential to an [`Actor`] or refuses the request.
pub(crate) async fn authenticate(
    State(state): State<AdminState>,
    mut request: Request,
    next: Next,
) -> Result<Response> {
    let actor = actor(&state, request.headers())?;
    request.extensions_mut().insert(actor);
    Ok(next.run(request).await)
}

fn unauthenticated() -> AdminError {
    AdminError::Unauthenticated("missing or invalid admin credentials".into())
}

fn actor(state: &AdminState, headers: &http::HeaderMap) -> Result<Actor> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(unauthenticated)?
        .trim();
    let (scheme, rest) = value.split_once(' ').ok_or_else(unauthenticated)?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        if looks_like_jwt(rest) {
            return state
                .sessions
                .verify(rest, state.now())
                .map(Actor)
                .ok_or_else(unauthenticated);
        }
        return secret(state, rest);
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(unauthenticated)?;
        let (user, password) = decoded.split_once(':').ok_or_else(unauthenticated)?;
        let actor = secret(state, password)?;
        if !user.is_empty() {
            // An admin token is only taken with an empty username (`curl -u :$TOKEN`).
            return Err(AdminError::Unauthenticated(
                "admin credentials take an empty Basic username".into(),
            ));
        }
        return Ok(actor);
    }
    Err(unauthenticated())
}

/// A session token: three base64url parts, the first a JSON header (`eyJ…`).
fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.split('.').count() == 3
}

fn secret(state: &AdminState, secret: &str) -> Result<Actor> {
    match state.authenticator.authenticate(secret) {
        Ok(Identity::Admin { name }) => Ok(Actor(name)),
        Ok(Identity::Key(_)) => Err(AdminError::Forbidden(
            "a tenant API key cannot use the admin API".into(),
        )),
        Err(e) if e.kind == ErrorKind::Unavailable => Err(AdminError::Unavailable(
            "credentials cannot be checked right now".into(),
        )),
        Err(_) => Err(unauthenticated()),
    }
}
