//! Authentication and authorisation: one layer in front of every route of the public routers
//! (HTTP and gRPC alike), working from headers (gRPC metadata) only, before any body byte is
//! read. It finds the route's scope in the table ([`crate::scopes`]), identifies the caller by
//! the auth mode, checks the scope, the tenants named and their status, applies the per-tenant
//! query rate on read routes, and puts the tenants in the request's extensions: a
//! [`TenantSet`] always, and the [`TenantId`] too when the set has exactly one (always so for
//! writes).
//!
//! Credentials: `Authorization: Basic base64(user:secret)` (user = the tenant id, a set `a|b`,
//! or empty for admin tokens) or `Authorization: Bearer <secret>`. In mode `keys` the tenant is
//! the key's; a Basic username or `X-Scope-OrgID` naming another tenant is refused (403), except
//! that reads may name tenants the key is allowed to read. Admin credentials name the tenant(s)
//! in `X-Scope-OrgID`.

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use http::{HeaderMap, StatusCode, header};
use sextant_model::{Error, ErrorKind, Identity, KeyIdentity, TenantId, TenantStatus};

use crate::error::GatewayError;
use crate::grpc::is_grpc;
use crate::limiter::Admission;
use crate::mapping::{self, Encoding};
use crate::metrics::RefusalReason;
use crate::otlp_http::request_encoding;
use crate::scopes::{self, Decision, Flavor, Scope};
use crate::tenant::{ResolvedTenant, TenantSet, org_id_header};
use crate::{AuthMode, GatewayState};

/// Who a request was authorised as, in its extensions (and, as text, in the access log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// Auth mode `none`.
    Open,
    /// Auth mode `trusted-header`: the proxy in front vouched for `X-Scope-OrgID`.
    TrustedProxy,
    /// A tenant's API key, by its public id.
    Key { key_id: String },
    /// An operator.
    Admin { name: String },
}

impl Principal {
    fn log_label(&self) -> String {
        match self {
            Self::Open => "open".to_owned(),
            Self::TrustedProxy => "trusted-header".to_owned(),
            Self::Key { key_id } => format!("key:{key_id}"),
            Self::Admin { name } => format!("admin:{name}"),
        }
    }
}

/// The principal as the access log reads it from the response.
#[derive(Debug, Clone)]
pub(crate) struct ResolvedPrincipal(pub(crate) String);

/// What authorisation grants a request.
#[derive(Debug, Clone)]
struct Grant {
    /// `None` for the admin scope and for requests without a route.
    tenants: Option<TenantSet>,
    principal: Principal,
}

/// A refusal, with what is known of the caller for the access log.
#[derive(Debug)]
struct Refusal {
    error: Error,
    tenant: Option<String>,
    principal: Option<Principal>,
}

impl From<Error> for Refusal {
    fn from(error: Error) -> Self {
        Self {
            error,
            tenant: None,
            principal: None,
        }
    }
}

impl From<GatewayError> for Refusal {
    fn from(err: GatewayError) -> Self {
        Error::from(err).into()
    }
}

fn unauthenticated(message: &str) -> Error {
    GatewayError::Unauthenticated(message.to_owned()).into()
}

fn forbidden(message: String) -> Error {
    GatewayError::Forbidden(message).into()
}

/// A presented credential.
enum Credential {
    Basic { user: String, secret: String },
    Bearer(String),
}

impl Credential {
    fn secret(&self) -> &str {
        match self {
            Self::Basic { secret, .. } | Self::Bearer(secret) => secret,
        }
    }

    /// The Basic username when not empty.
    fn user(&self) -> Option<&str> {
        match self {
            Self::Basic { user, .. } if !user.is_empty() => Some(user),
            _ => None,
        }
    }
}

const MALFORMED: &str = "malformed Authorization header: expected Basic or Bearer credentials";

/// The `Authorization` header, parsed; `None` when absent.
fn credential(headers: &HeaderMap) -> Result<Option<Credential>, Error> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(unauthenticated("more than one Authorization header"));
    }
    let text = value.to_str().map_err(|_| unauthenticated(MALFORMED))?;
    let (scheme, rest) = text
        .trim()
        .split_once(' ')
        .ok_or_else(|| unauthenticated(MALFORMED))?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .map_err(|_| unauthenticated(MALFORMED))?;
        let decoded = String::from_utf8(decoded).map_err(|_| unauthenticated(MALFORMED))?;
        let (user, secret) = decoded
            .split_once(':')
            .ok_or_else(|| unauthenticated(MALFORMED))?;
        if secret.is_empty() {
            return Err(unauthenticated(MALFORMED));
        }
        Ok(Some(Credential::Basic {
            user: user.to_owned(),
            secret: secret.to_owned(),
        }))
    } else if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
        Ok(Some(Credential::Bearer(rest.to_owned())))
    } else {
        Err(unauthenticated(MALFORMED))
    }
}

const CREDENTIALS_REQUIRED: &str =
    "credentials required: Basic (tenant id and API key) or Bearer (API key)";

/// Checks a tenant's status for a scope.
fn check_status(tenant: &TenantId, status: TenantStatus, scope: Scope) -> Result<(), Error> {
    let allowed = match scope {
        Scope::Write => status.allows_ingest(),
        _ => status.allows_reads(),
    };
    if allowed {
        return Ok(());
    }
    Err(forbidden(match status {
        TenantStatus::Suspended => format!("tenant {tenant} is suspended: ingest is refused"),
        _ => format!("tenant {tenant} is being deleted"),
    }))
}

/// A write acts on one tenant.
fn single_for_write(set: &TenantSet) -> Result<(), Error> {
    if set.single_tenant().is_none() {
        return Err(GatewayError::BadParameter(format!(
            "X-Scope-OrgID {set} names several tenants: federation is for reads only"
        ))
        .into());
    }
    Ok(())
}

/// Authorises a request for a scope under the configured mode.
fn authorise(state: &GatewayState, headers: &HeaderMap, scope: Scope) -> Result<Grant, Refusal> {
    if scope == Scope::Anonymous {
        return Ok(Grant {
            tenants: None,
            principal: Principal::Open,
        });
    }
    match state.auth {
        AuthMode::None => authorise_open(headers, scope),
        AuthMode::TrustedHeader => authorise_trusted(state, headers, scope),
        AuthMode::Keys => authorise_keys(state, headers, scope),
    }
}

/// Mode `none`: `X-Scope-OrgID` or the single tenant; no admin.
fn authorise_open(headers: &HeaderMap, scope: Scope) -> Result<Grant, Refusal> {
    if scope == Scope::Admin {
        return Err(forbidden("the admin API needs auth mode keys".to_owned()).into());
    }
    let tenants =
        org_id_header(headers)?.unwrap_or_else(|| TenantSet::single(TenantId::single_tenant()));
    if scope == Scope::Write {
        single_for_write(&tenants)?;
    }
    Ok(Grant {
        tenants: Some(tenants),
        principal: Principal::Open,
    })
}

/// Mode `trusted-header`: `X-Scope-OrgID` is required; a tenant the control plane knows must
/// be in a state that allows the request, one it does not know is let through.
fn authorise_trusted(
    state: &GatewayState,
    headers: &HeaderMap,
    scope: Scope,
) -> Result<Grant, Refusal> {
    if scope == Scope::Admin {
        return Err(forbidden("the admin API needs auth mode keys".to_owned()).into());
    }
    let tenants =
        org_id_header(headers)?.ok_or_else(|| unauthenticated("X-Scope-OrgID is required"))?;
    if scope == Scope::Write {
        single_for_write(&tenants)?;
    }
    for tenant in tenants.iter() {
        if let Some(status) = state.authenticator.tenant_status(tenant) {
            check_status(tenant, status, scope).map_err(|error| Refusal {
                error,
                tenant: Some(tenants.to_string()),
                principal: Some(Principal::TrustedProxy),
            })?;
        }
    }
    Ok(Grant {
        tenants: Some(tenants),
        principal: Principal::TrustedProxy,
    })
}

/// Mode `keys`.
fn authorise_keys(
    state: &GatewayState,
    headers: &HeaderMap,
    scope: Scope,
) -> Result<Grant, Refusal> {
    let credential = credential(headers)?.ok_or_else(|| unauthenticated(CREDENTIALS_REQUIRED))?;
    let identity = state.authenticator.authenticate(credential.secret())?;
    // A Basic username that is not a tenant id cannot name a known tenant.
    let user = credential
        .user()
        .map(TenantSet::parse)
        .transpose()
        .map_err(|_| unauthenticated("invalid credentials"))?;
    let header = org_id_header(headers)?;
    match identity {
        Identity::Key(key) => {
            let principal = Principal::Key {
                key_id: key.key_id.clone(),
            };
            let tenants = key_grant(state, &key, user, header, scope).map_err(|error| Refusal {
                error,
                tenant: Some(key.tenant.to_string()),
                principal: Some(principal.clone()),
            })?;
            Ok(Grant { tenants, principal })
        }
        Identity::Admin { name } => {
            let principal = Principal::Admin { name };
            let tenants = admin_grant(state, user, header, scope).map_err(|error| Refusal {
                error,
                tenant: None,
                principal: Some(principal.clone()),
            })?;
            Ok(Grant { tenants, principal })
        }
    }
}

/// What a tenant's key may do: the tenant set it acts on.
fn key_grant(
    state: &GatewayState,
    key: &KeyIdentity,
    user: Option<TenantSet>,
    header: Option<TenantSet>,
    scope: Scope,
) -> Result<Option<TenantSet>, Error> {
    let own = TenantSet::single(key.tenant.clone());
    match scope {
        Scope::Anonymous => Ok(None),
        Scope::Admin => Err(forbidden(
            "API keys cannot use the admin API: use an admin token".to_owned(),
        )),
        Scope::Write => {
            for named in [&user, &header].into_iter().flatten() {
                if !named.same_tenants(&own) {
                    return Err(forbidden(format!(
                        "this key belongs to tenant {} and cannot write to {named}",
                        key.tenant
                    )));
                }
            }
            if !key.write {
                return Err(forbidden(
                    "this key lacks the traces:write scope".to_owned(),
                ));
            }
            check_status(&key.tenant, key.status, scope)?;
            Ok(Some(own))
        }
        Scope::Read => {
            if !key.read {
                return Err(forbidden("this key lacks the traces:read scope".to_owned()));
            }
            for named in [&user, &header].into_iter().flatten() {
                if let Some(other) = named.iter().find(|t| !key.may_read(t)) {
                    return Err(forbidden(format!("this key may not read tenant {other}")));
                }
            }
            let tenants = header.or(user).unwrap_or(own);
            for tenant in tenants.iter() {
                let status = if *tenant == key.tenant {
                    Some(key.status)
                } else {
                    state.authenticator.tenant_status(tenant)
                };
                let status = status.ok_or_else(|| forbidden(format!("unknown tenant {tenant}")))?;
                check_status(tenant, status, scope)?;
            }
            Ok(Some(tenants))
        }
    }
}

/// What an operator may do on a data route: act on the tenant(s) named in `X-Scope-OrgID`.
fn admin_grant(
    state: &GatewayState,
    user: Option<TenantSet>,
    header: Option<TenantSet>,
    scope: Scope,
) -> Result<Option<TenantSet>, Error> {
    if matches!(scope, Scope::Admin | Scope::Anonymous) {
        return Ok(None);
    }
    let tenants = header.ok_or_else(|| {
        forbidden("admin credentials on a data route must name the tenant in X-Scope-OrgID".into())
    })?;
    if user.is_some_and(|user| !user.same_tenants(&tenants)) {
        return Err(forbidden(
            "the Basic username and X-Scope-OrgID name different tenants".to_owned(),
        ));
    }
    if scope == Scope::Write {
        single_for_write(&tenants)?;
    }
    for tenant in tenants.iter() {
        let status = state
            .authenticator
            .tenant_status(tenant)
            .ok_or_else(|| forbidden(format!("unknown tenant {tenant}")))?;
        check_status(tenant, status, scope)?;
    }
    Ok(Some(tenants))
}

/// Mode `keys` on a path no route serves: any valid credential then gets the router's 404.
fn identify_only(state: &GatewayState, headers: &HeaderMap) -> Result<Grant, Refusal> {
    let principal = match state.auth {
        AuthMode::None => Principal::Open,
        AuthMode::TrustedHeader => Principal::TrustedProxy,
        AuthMode::Keys => {
            let credential =
                credential(headers)?.ok_or_else(|| unauthenticated(CREDENTIALS_REQUIRED))?;
            match state.authenticator.authenticate(credential.secret())? {
                Identity::Key(key) => Principal::Key { key_id: key.key_id },
                Identity::Admin { name } => Principal::Admin { name },
            }
        }
    };
    Ok(Grant {
        tenants: None,
        principal,
    })
}

/// The per-tenant query rate (requests per second, 0 = none), charged to every tenant named.
fn check_query_rate(state: &GatewayState, tenants: &TenantSet) -> Result<(), Error> {
    for tenant in tenants.iter() {
        let rate = state.tenants.limits(tenant).query_rate;
        if let Admission::Wait(wait) = state.limiters.query.admit(tenant, rate, rate, 1) {
            state
                .metrics
                .refused(tenant.as_str(), RefusalReason::QueryRateLimited, 0);
            return Err(Error::new(
                ErrorKind::RateLimited,
                format!(
                    "query rate limit of {rate} requests per second exceeded for tenant {tenant}"
                ),
            )
            .with_retry_after(wait));
        }
    }
    Ok(())
}

/// A refusal in the route's dialect.
fn refusal_response(err: &Error, flavor: Flavor, headers: &HeaderMap) -> Response {
    match flavor {
        Flavor::Query => mapping::query_error_response(err),
        Flavor::OtlpHttp => {
            let encoding = request_encoding(headers).unwrap_or(Encoding::Protobuf);
            mapping::otlp_error_response(err, encoding)
        }
        Flavor::Grpc => mapping::grpc_status(err).into_http::<Body>(),
    }
}

/// `package.Service/Method` → `Service/Method`, the gRPC metrics label.
fn grpc_method_label(path: &str) -> String {
    let trimmed = path.trim_start_matches('/');
    match trimmed.split_once('/') {
        Some((service, method)) => {
            let service = service.rsplit('.').next().unwrap_or(service);
            format!("{service}/{method}")
        }
        None => trimmed.to_owned(),
    }
}

fn annotate(response: &mut Response, tenant: Option<String>, principal: Option<&Principal>) {
    if let Some(tenant) = tenant {
        response.extensions_mut().insert(ResolvedTenant(tenant));
    }
    if let Some(principal) = principal {
        response
            .extensions_mut()
            .insert(ResolvedPrincipal(principal.log_label()));
    }
}

/// Middleware: authenticates and authorises from headers only, then runs the route.
pub(crate) async fn authenticate(
    State(state): State<GatewayState>,
    mut request: Request,
    next: Next,
) -> Response {
    let template = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let decision = scopes::decide(request.method(), template.as_deref(), request.uri().path());
    // gRPC refusals only to gRPC requests: a plain request to a gRPC path gets a plain status.
    let grpc_request = is_grpc(request.headers());
    let default_flavor = if grpc_request {
        Flavor::Grpc
    } else {
        Flavor::Query
    };
    let decision = match decision {
        Decision::Route(scope, Flavor::Grpc) if !grpc_request => {
            Decision::Route(scope, Flavor::Query)
        }
        Decision::MethodNotAllowed(scopes, Flavor::Grpc) if !grpc_request => {
            Decision::MethodNotAllowed(scopes, Flavor::Query)
        }
        other => other,
    };
    let (outcome, flavor) = match &decision {
        Decision::Route(Scope::Anonymous, _) => return next.run(request).await,
        Decision::Route(scope, flavor) => (
            authorise(&state, request.headers(), *scope).and_then(|grant| {
                if *scope == Scope::Read
                    && let Some(tenants) = &grant.tenants
                {
                    check_query_rate(&state, tenants).map_err(|error| Refusal {
                        error,
                        tenant: Some(tenants.to_string()),
                        principal: Some(grant.principal.clone()),
                    })?;
                }
                Ok(grant)
            }),
            *flavor,
        ),
        Decision::MethodNotAllowed(scopes, flavor) => {
            let checked = scopes
                .iter()
                .try_for_each(|scope| authorise(&state, request.headers(), *scope).map(drop));
            let response = match checked {
                Ok(()) => StatusCode::METHOD_NOT_ALLOWED.into_response(),
                Err(refusal) => {
                    let mut response = refusal_response(&refusal.error, *flavor, request.headers());
                    annotate(&mut response, refusal.tenant, refusal.principal.as_ref());
                    response
                }
            };
            return response;
        }
        Decision::Admin => (
            authorise(&state, request.headers(), Scope::Admin),
            default_flavor,
        ),
        Decision::Unlisted => {
            tracing::error!(
                route = template.as_deref().unwrap_or_default(),
                method = %request.method(),
                "route has no entry in the authorisation table; refused"
            );
            let err = forbidden("this route is not open to any credential".to_owned());
            return refusal_response(&err, default_flavor, request.headers());
        }
        Decision::NoRoute => (identify_only(&state, request.headers()), default_flavor),
    };
    match outcome {
        Ok(grant) => {
            let label = grant.tenants.as_ref().map(ToString::to_string);
            if let Some(tenants) = grant.tenants {
                if let Some(single) = tenants.single_tenant() {
                    request.extensions_mut().insert(single.clone());
                }
                request.extensions_mut().insert(tenants);
            }
            request.extensions_mut().insert(grant.principal.clone());
            let mut response = next.run(request).await;
            annotate(&mut response, label, Some(&grant.principal));
            response
        }
        Err(refusal) => {
            if flavor == Flavor::Grpc && matches!(decision, Decision::Route(..)) {
                state.metrics.observe_grpc(
                    &grpc_method_label(request.uri().path()),
                    mapping::grpc_code(refusal.error.kind),
                );
            }
            let mut response = refusal_response(&refusal.error, flavor, request.headers());
            annotate(&mut response, refusal.tenant, refusal.principal.as_ref());
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, auth.parse().unwrap());
        h
    }

    fn basic(user_secret: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_secret)
        )
    }

    #[test]
    fn credentials_parse() {
        assert!(credential(&HeaderMap::new()).unwrap().is_none());
        let c = credential(&headers(&basic("aaa:sxt_1"))).unwrap().unwrap();
        assert_eq!((c.user(), c.secret()), (Some("aaa"), "sxt_1"));
        let c = credential(&headers(&basic(":tok:en"))).unwrap().unwrap();
        assert_eq!((c.user(), c.secret()), (None, "tok:en"));
        let c = credential(&headers("bearer  sxt_2 ")).unwrap().unwrap();
        assert_eq!((c.user(), c.secret()), (None, "sxt_2"));
        for bad in [
            "Basic",
            "Basic !!!",
            &basic("no-colon"),
            &basic("aaa:"),
            "Bearer ",
            "Digest x",
            "sxt_raw",
        ] {
            let err = credential(&headers(bad)).err().unwrap();
            assert_eq!(err.kind, ErrorKind::Unauthenticated, "{bad}");
        }
    }

    #[test]
    fn grpc_labels() {
        assert_eq!(
            grpc_method_label(crate::grpc::EXPORT_PATH),
            "TraceService/Export"
        );
        assert_eq!(
            grpc_method_label("/tempopb.StreamingQuerier/Search"),
            "StreamingQuerier/Search"
        );
    }
}
