//! The one authorisation table: (method, route template) → the scope a request needs, for every
//! route of the three public routers and every gRPC method they serve. A route that is served
//! but missing here is refused (deny by default); a method not listed for a listed template is
//! answered 405 only to a caller allowed every listed method of that template, 403 otherwise, so
//! a key cannot probe routes it may not use. Paths under `/admin/` need the admin scope whether
//! or not a route serves them.

use http::Method;

use crate::grpc::EXPORT_PATH;

/// What a caller must hold to use a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Scope {
    /// Anyone, without credentials (health and Grafana's connection test).
    Anonymous,
    /// `traces:read` for every tenant named.
    Read,
    /// `traces:write` for the key's own tenant.
    Write,
    /// An operator credential.
    Admin,
}

/// How refusals on a route are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// Tempo's query API: plain text.
    Query,
    /// OTLP/HTTP: `google.rpc.Status` in the request's encoding.
    OtlpHttp,
    /// gRPC: a trailers-only status.
    Grpc,
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rule {
    pub(crate) method: &'static str,
    pub(crate) template: &'static str,
    pub(crate) scope: Scope,
    pub(crate) flavor: Flavor,
}

const fn rule(method: &'static str, template: &'static str, scope: Scope, flavor: Flavor) -> Rule {
    Rule {
        method,
        template,
        scope,
        flavor,
    }
}

/// `tempopb.StreamingQuerier`'s methods (served by gRPC on `:3200`).
pub(crate) const STREAMING_QUERIER_METHODS: [&str; 7] = [
    "/tempopb.StreamingQuerier/Search",
    "/tempopb.StreamingQuerier/SearchTags",
    "/tempopb.StreamingQuerier/SearchTagsV2",
    "/tempopb.StreamingQuerier/SearchTagValues",
    "/tempopb.StreamingQuerier/SearchTagValuesV2",
    "/tempopb.StreamingQuerier/MetricsQueryRange",
    "/tempopb.StreamingQuerier/MetricsQueryInstant",
];

use Flavor::{Grpc, OtlpHttp, Query};
use Scope::{Anonymous, Read, Write};

/// The table. `/ready` and `/live` live on the internal listener; they are listed so that the
/// anonymous allow-list is complete here should a public router ever serve them.
pub(crate) const RULES: &[Rule] = &[
    rule("GET", "/ready", Anonymous, Query),
    rule("GET", "/live", Anonymous, Query),
    rule("GET", "/api/echo", Anonymous, Query),
    rule("GET", "/api/status/buildinfo", Anonymous, Query),
    rule("GET", "/api/traces/{id}", Read, Query),
    rule("GET", "/api/v2/traces/{id}", Read, Query),
    rule("GET", "/api/search", Read, Query),
    rule("GET", "/api/search/tags", Read, Query),
    rule("GET", "/api/v2/search/tags", Read, Query),
    rule("GET", "/api/search/tag/{tag}/values", Read, Query),
    rule("GET", "/api/v2/search/tag/{tag}/values", Read, Query),
    rule("GET", "/api/metrics/query_range", Read, Query),
    rule("GET", "/api/metrics/query", Read, Query),
    rule("POST", "/v1/traces", Write, OtlpHttp),
    rule("POST", "/otlp/v1/traces", Write, OtlpHttp),
    rule("POST", EXPORT_PATH, Write, Grpc),
    rule("POST", STREAMING_QUERIER_METHODS[0], Read, Grpc),
    rule("POST", STREAMING_QUERIER_METHODS[1], Read, Grpc),
    rule("POST", STREAMING_QUERIER_METHODS[2], Read, Grpc),
    rule("POST", STREAMING_QUERIER_METHODS[3], Read, Grpc),
    rule("POST", STREAMING_QUERIER_METHODS[4], Read, Grpc),
    rule("POST", STREAMING_QUERIER_METHODS[5], Read, Grpc),
    rule("POST", STREAMING_QUERIER_METHODS[6], Read, Grpc),
];

/// What the table says about one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// A listed (method, route): needs this scope.
    Route(Scope, Flavor),
    /// A listed route, an unlisted method: 405 for a caller holding every listed scope.
    MethodNotAllowed(Vec<Scope>, Flavor),
    /// Under `/admin/`: the admin scope (no admin route exists on these routers yet, so an
    /// admin then gets the router's 404).
    Admin,
    /// Served by a router but not in the table: refused.
    Unlisted,
    /// No route: any authenticated caller gets the router's 404.
    NoRoute,
}

fn is_admin_path(path: &str) -> bool {
    path == "/admin" || path.starts_with("/admin/")
}

/// Decides from the method, the matched route template (if a route matched) and the path.
/// `HEAD` is treated as `GET`. A listed path is guarded by its scope even when no route serves
/// it (yet), or when a wildcard template routes it (gRPC methods).
pub(crate) fn decide(method: &Method, template: Option<&str>, path: &str) -> Decision {
    if is_admin_path(path) || template.is_some_and(is_admin_path) {
        return Decision::Admin;
    }
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    let by =
        |key: &str| -> Vec<&'static Rule> { RULES.iter().filter(|r| r.template == key).collect() };
    let mut listed = by(template.unwrap_or(path));
    if listed.is_empty() && template.is_some() {
        listed = by(path);
    }
    if let Some(rule) = listed.iter().find(|r| r.method == method) {
        return Decision::Route(rule.scope, rule.flavor);
    }
    match listed.first() {
        Some(first) => {
            let mut scopes: Vec<Scope> = listed.iter().map(|r| r.scope).collect();
            scopes.dedup();
            Decision::MethodNotAllowed(scopes, first.flavor)
        }
        None if template.is_some() => Decision::Unlisted,
        None => Decision::NoRoute,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lookups() {
        let get = Method::GET;
        let post = Method::POST;
        assert_eq!(
            decide(&get, Some("/api/traces/{id}"), "/api/traces/ab"),
            Decision::Route(Read, Query)
        );
        assert_eq!(
            decide(&Method::HEAD, Some("/api/echo"), "/api/echo"),
            Decision::Route(Anonymous, Query)
        );
        assert_eq!(
            decide(&post, Some("/api/traces/{id}"), "/api/traces/ab"),
            Decision::MethodNotAllowed(vec![Read], Query)
        );
        assert_eq!(
            decide(&get, Some("/v1/traces"), "/v1/traces"),
            Decision::MethodNotAllowed(vec![Write], OtlpHttp)
        );
        assert_eq!(
            decide(
                &post,
                Some("/tempopb.StreamingQuerier/{*method}"),
                STREAMING_QUERIER_METHODS[0]
            ),
            Decision::Route(Read, Grpc)
        );
        assert_eq!(
            decide(&get, Some("/api/secret"), "/api/secret"),
            Decision::Unlisted
        );
        assert_eq!(decide(&get, None, "/nope"), Decision::NoRoute);
        for (template, path) in [
            ("/api/search", "/api/search"),
            ("/api/search/tags", "/api/search/tags"),
            ("/api/v2/search/tags", "/api/v2/search/tags"),
            ("/api/search/tag/{tag}/values", "/api/search/tag/x/values"),
            (
                "/api/v2/search/tag/{tag}/values",
                "/api/v2/search/tag/x/values",
            ),
        ] {
            assert_eq!(
                decide(&get, Some(template), path),
                Decision::Route(Read, Query),
                "{template}"
            );
            assert_eq!(
                decide(&Method::HEAD, Some(template), path),
                Decision::Route(Read, Query),
                "{template}"
            );
            assert_eq!(
                decide(&post, Some(template), path),
                Decision::MethodNotAllowed(vec![Read], Query),
                "{template}"
            );
        }
        // A listed gRPC method no router serves yet is still guarded by its scope.
        assert_eq!(
            decide(&post, None, STREAMING_QUERIER_METHODS[6]),
            Decision::Route(Read, Grpc)
        );
        assert_eq!(decide(&get, None, "/admin/api/v1/tenants"), Decision::Admin);
        assert_eq!(decide(&post, None, "/admin"), Decision::Admin);
        assert_eq!(decide(&get, None, "/administrator"), Decision::NoRoute);
    }

    #[test]
    fn every_rule_is_unique() {
        for (i, a) in RULES.iter().enumerate() {
            for b in &RULES[i + 1..] {
                assert!(
                    (a.method, a.template) != (b.method, b.template),
                    "{a:?} listed twice"
                );
            }
        }
    }
}
