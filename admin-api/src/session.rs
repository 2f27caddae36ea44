//! Admin sessions: `POST /admin/api/v1/login` trades an admin user's name and password for a
//! short-lived HS256 JWT. The signing key is derived from the key pepper, so every replica
//! that shares the pepper accepts every replica's sessions and nothing else needs sharing.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sextant_tenancy::{AdminStore, KeyDigest, Pepper};
use utoipa::ToSchema;

use crate::audit::{Audit, record};
use crate::body::{JsonBody, decode};
use crate::error::{AdminError, ErrorBody, Result};
use crate::state::AdminState;
use crate::views::rfc3339;

const ISSUER: &str = "sextant";
const AUDIENCE: &str = "sextant-admin";
/// What the signing key is derived for (a new label invalidates every session).
const KEY_LABEL: &str = "sextant admin session v1";
/// The `sub` of a user's session: `user:<name>`.
pub(crate) const USER_PREFIX: &str = "user:";

/// The HMAC key sessions are signed and checked with.
pub(crate) struct SessionKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iat: u64,
    exp: u64,
    iss: String,
    aud: String,
}

impl SessionKeys {
    pub(crate) fn new(pepper: &Pepper) -> Self {
        let secret = KeyDigest::compute(pepper, KEY_LABEL);
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
        // Expiry is checked against the state's clock (below), so tests can move time.
        validation.validate_exp = false;
        Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
        }
    }

    /// A session for user `name` from `now` for `ttl`; returns the token and its expiry.
    pub(crate) fn issue(
        &self,
        name: &str,
        now: SystemTime,
        ttl: Duration,
    ) -> Result<(String, SystemTime)> {
        let iat = unix(now);
        let exp = iat.saturating_add(ttl.as_secs().max(1));
        let claims = Claims {
            sub: format!("{USER_PREFIX}{name}"),
            iat,
            exp,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| AdminError::Internal(format!("cannot sign a session: {e}")))?;
        Ok((token, UNIX_EPOCH + Duration::from_secs(exp)))
    }

    /// The subject (`user:<name>`) of a valid, unexpired session token.
    pub(crate) fn verify(&self, token: &str, now: SystemTime) -> Option<String> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).ok()?;
        let claims = data.claims;
        if claims.exp <= unix(now) || !claims.sub.starts_with(USER_PREFIX) {
            return None;
        }
        Some(claims.sub)
    }
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// An admin user's credentials.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginRequest {
    #[serde(default)]
    pub(crate) username: String,
    #[serde(default)]
    pub(crate) password: String,
}

/// A session token for `Authorization: Bearer`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LoginResponse {
    pub(crate) token: String,
    /// Always `Bearer`.
    pub(crate) token_type: String,
    /// RFC 3339.
    pub(crate) expires_at: String,
}

/// Sign in as an admin user; answers a session token valid for `admin.session_ttl`.
#[utoipa::path(
    post,
    path = "/admin/api/v1/login",
    tag = "session",
    security(()),
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = LoginResponse),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 401, description = "Wrong username or password", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 429, description = "Too many failed sign-ins for this user, or too many at once",
         body = ErrorBody, headers(("Retry-After" = String, description = "Seconds to wait"))),
    )
)]
pub(crate) async fn login(
    State(state): State<AdminState>,
    JsonBody(body): JsonBody,
) -> Result<Response> {
    let request: LoginRequest = decode(body, &["username", "password"])?;
    let permit = state.logins.admit(&request.username, state.now())?;
    let ok = state
        .db
        .verify_admin_password(&request.username, &request.password)
        .await?;
    drop(permit);
    if !ok {
        state.logins.failed(&request.username, state.now());
        return Err(AdminError::Unauthenticated(
            "invalid username or password".into(),
        ));
    }
    state.logins.succeeded(&request.username);
    let (token, expires_at) =
        state
            .sessions
            .issue(&request.username, state.now(), state.config.session_ttl)?;
    let actor = format!("{USER_PREFIX}{}", request.username);
    record(
        &state,
        Audit {
            actor: &actor,
            action: "session.login",
            tenant: None,
            target: actor.clone(),
            before: None,
            after: None,
        },
    )
    .await;
    let body = LoginResponse {
        token,
        token_type: "Bearer".into(),
        expires_at: rfc3339(expires_at),
    };
    Ok((
        StatusCode::OK,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(body),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_verify_until_they_expire() {
        let pepper = Pepper::new(b"0123456789abcdef-test".to_vec()).unwrap();
        let keys = SessionKeys::new(&pepper);
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let (token, exp) = keys.issue("alice", now, Duration::from_secs(60)).unwrap();
        assert_eq!(exp, now + Duration::from_secs(60));
        assert_eq!(keys.verify(&token, now).as_deref(), Some("user:alice"));
        assert_eq!(keys.verify(&token, exp), None);
        let other = SessionKeys::new(&Pepper::new(b"another pepper 16+".to_vec()).unwrap());
        assert_eq!(other.verify(&token, now), None, "another pepper's key");
        let mut tampered = token.clone();
        tampered.insert(tampered.len() - 3, 'x');
        assert_eq!(keys.verify(&tampered, now), None);
        assert_eq!(keys.verify("not.a.jwt", now), None);
    }
}
