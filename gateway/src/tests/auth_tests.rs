//! Authentication and authorisation at the edge: the isolation matrix over every route and gRPC
//! method, the route table (deny by default, GHSA-wffq-g8qf-ccmv), federation and the modes.

use base64::Engine as _;
use http::Method;

use super::*;
use crate::grpc::EXPORT_PATH;
use crate::scopes::{RULES, STREAMING_QUERIER_METHODS, Scope};

fn key(id: &str, tenant: &str, status: TenantStatus, write: bool, read: bool) -> Identity {
    Identity::Key(KeyIdentity {
        key_id: id.into(),
        tenant: tid(tenant),
        status,
        write,
        read,
        read_tenants: Vec::new(),
    })
}

/// Tenants `aaa`, `bbb` (active), `sus` (suspended), `del` (deleting) and their keys; an admin.
pub(super) fn fake_auth() -> FakeAuth {
    use TenantStatus::{Active, Deleting, Suspended};
    let mut keys = HashMap::new();
    keys.insert(
        "sxt_a_write".into(),
        key("a_write", "aaa", Active, true, false),
    );
    keys.insert(
        "sxt_a_read".into(),
        key("a_read", "aaa", Active, false, true),
    );
    keys.insert("sxt_a_rw".into(), key("a_rw", "aaa", Active, true, true));
    keys.insert("sxt_b_rw".into(), key("b_rw", "bbb", Active, true, true));
    keys.insert(
        "sxt_sus_rw".into(),
        key("sus_rw", "sus", Suspended, true, true),
    );
    keys.insert(
        "sxt_del_rw".into(),
        key("del_rw", "del", Deleting, true, true),
    );
    let Identity::Key(mut fed) = key("a_fed", "aaa", Active, false, true) else {
        unreachable!()
    };
    fed.read_tenants = vec![tid("bbb"), tid("del")];
    keys.insert("sxt_a_fed".into(), Identity::Key(fed));
    keys.insert("admin_token".into(), Identity::Admin { name: "ops".into() });
    let statuses = [
        ("aaa", Active),
        ("bbb", Active),
        ("sus", Suspended),
        ("del", Deleting),
    ]
    .into_iter()
    .map(|(t, s)| (tid(t), s))
    .collect();
    FakeAuth { keys, statuses }
}

/// A keys-mode app whose trace exists only in tenant `aaa` (and, for federation, another one in
/// `bbb`).
fn keyed_app() -> App {
    let mut reader = FakeReader::default();
    let id = TraceId::parse_hex(TRACE_HEX).unwrap();
    reader.tenant_traces.insert(
        (tid("aaa"), id),
        TraceLookup {
            trace: sample_trace(),
            inspected_bytes: 100,
        },
    );
    let mut other = sample_trace();
    other.resource_spans[0].scope_spans[0].spans[0].name = "from bbb".into();
    reader.tenant_traces.insert(
        (tid("bbb"), id),
        TraceLookup {
            trace: other,
            inspected_bytes: 20,
        },
    );
    // `sus` has the trace too, so a suspended tenant's successful read is a 200.
    reader.tenant_traces.insert(
        (tid("sus"), id),
        TraceLookup {
            trace: sample_trace(),
            inspected_bytes: 1,
        },
    );
    app_full(
        AuthMode::Keys,
        fake_auth(),
        GatewayConfig::default(),
        reader,
    )
}

pub(super) fn basic(user: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"))
    )
}

pub(super) fn bearer(secret: &str) -> String {
    format!("Bearer {secret}")
}

/// Who calls, as headers.
#[derive(Debug, Clone, Copy)]
enum Caller {
    Nobody,
    WrongSecret,
    AWrite,
    ARead,
    BKey,
    SuspendedKey,
    DeletingKey,
    Admin,
    AdminForA,
    AdminForUnknown,
    AKeyHeaderB,
    BasicUserBWithAKey,
    BasicUserAWithAKey,
}

impl Caller {
    fn headers(self) -> Vec<(&'static str, String)> {
        let auth = |v: String| ("authorization", v);
        let org = |v: &str| ("x-scope-orgid", v.to_owned());
        match self {
            Self::Nobody => vec![],
            Self::WrongSecret => vec![auth(bearer("sxt_nope"))],
            Self::AWrite => vec![auth(bearer("sxt_a_write"))],
            Self::ARead => vec![auth(basic("aaa", "sxt_a_read"))],
            Self::BKey => vec![auth(bearer("sxt_b_rw"))],
            Self::SuspendedKey => vec![auth(bearer("sxt_sus_rw"))],
            Self::DeletingKey => vec![auth(bearer("sxt_del_rw"))],
            Self::Admin => vec![auth(basic("", "admin_token"))],
            Self::AdminForA => vec![auth(bearer("admin_token")), org("aaa")],
            Self::AdminForUnknown => vec![auth(bearer("admin_token")), org("zzz")],
            Self::AKeyHeaderB => vec![auth(bearer("sxt_a_rw")), org("bbb")],
            Self::BasicUserBWithAKey => vec![auth(basic("bbb", "sxt_a_rw"))],
            Self::BasicUserAWithAKey => vec![auth(basic("aaa", "sxt_a_rw"))],
        }
    }
}

/// The routes of the three routers, each one request.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Target {
    Echo,
    BuildInfo,
    TraceV1,
    TraceV2,
    OtlpHttp,
    OtlpHttpPrefixed,
    GrpcExport,
    GrpcSearch,
    AdminApi,
    NoRoute,
}

const TARGETS: [Target; 10] = [
    Target::Echo,
    Target::BuildInfo,
    Target::TraceV1,
    Target::TraceV2,
    Target::OtlpHttp,
    Target::OtlpHttpPrefixed,
    Target::GrpcExport,
    Target::GrpcSearch,
    Target::AdminApi,
    Target::NoRoute,
];

/// A gRPC message frame: uncompressed, `len` bytes.
fn grpc_frame(message: &[u8]) -> Vec<u8> {
    let mut frame = vec![0];
    frame.extend((message.len() as u32).to_be_bytes());
    frame.extend(message);
    frame
}

impl Target {
    fn request(self, caller: Caller) -> Request<Body> {
        let (method, uri, content_type, body): (_, String, _, Vec<u8>) = match self {
            Self::Echo => (Method::GET, "/api/echo".into(), None, vec![]),
            Self::BuildInfo => (Method::GET, "/api/status/buildinfo".into(), None, vec![]),
            Self::TraceV1 => (
                Method::GET,
                format!("/api/traces/{TRACE_HEX}"),
                None,
                vec![],
            ),
            Self::TraceV2 => (
                Method::GET,
                format!("/api/v2/traces/{TRACE_HEX}"),
                None,
                vec![],
            ),
            Self::OtlpHttp => (
                Method::POST,
                "/v1/traces".into(),
                Some("application/x-protobuf"),
                sample_trace().encode_to_vec(),
            ),
            Self::OtlpHttpPrefixed => (
                Method::POST,
                "/otlp/v1/traces".into(),
                Some("application/json"),
                b"{}".to_vec(),
            ),
            Self::GrpcExport => (
                Method::POST,
                EXPORT_PATH.into(),
                Some("application/grpc"),
                grpc_frame(&sample_trace().encode_to_vec()),
            ),
            Self::GrpcSearch => (
                Method::POST,
                STREAMING_QUERIER_METHODS[0].into(),
                Some("application/grpc"),
                grpc_frame(&[]),
            ),
            Self::AdminApi => (Method::GET, "/admin/api/v1/tenants".into(), None, vec![]),
            Self::NoRoute => (Method::GET, "/nope".into(), None, vec![]),
        };
        let mut builder = Request::builder().method(method).uri(uri);
        if let Some(ct) = content_type {
            builder = builder.header("content-type", ct);
        }
        for (name, value) in caller.headers() {
            builder = builder.header(name, value);
        }
        builder.body(Body::from(body)).unwrap()
    }

    fn is_grpc(self) -> bool {
        matches!(self, Self::GrpcExport | Self::GrpcSearch)
    }
}

/// What a caller gets: an HTTP status, or a gRPC code for gRPC targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Http(u16),
    Grpc(tonic::Code),
}

async fn answer(app: &App, target: Target, caller: Caller) -> Answer {
    let resp = app.router().oneshot(target.request(caller)).await.unwrap();
    let status = resp.status();
    if !target.is_grpc() || status != StatusCode::OK {
        return Answer::Http(status.as_u16());
    }
    if let Some(code) = resp.headers().get("grpc-status") {
        let code: i32 = code.to_str().unwrap().parse().unwrap();
        return Answer::Grpc(tonic::Code::from(code));
    }
    let collected = resp.into_body().collect().await.unwrap();
    let trailers = collected.trailers().expect("grpc-status in trailers");
    let code: i32 = trailers["grpc-status"].to_str().unwrap().parse().unwrap();
    Answer::Grpc(tonic::Code::from(code))
}

/// A caller and what it gets on: echo/buildinfo, trace v1/v2, OTLP/HTTP (both paths), gRPC
/// export, StreamingQuerier, `/admin/…`, a path nothing serves.
type Row = (Caller, u16, u16, u16, Answer, Answer, u16, u16);

#[tokio::test]
async fn isolation_matrix() {
    use Answer::{Grpc, Http};
    use tonic::Code::{Ok as GOk, PermissionDenied as GDenied, Unauthenticated as GUnauth};
    // Per caller: echo/buildinfo, trace v1/v2, OTLP/HTTP (both paths), gRPC export,
    // StreamingQuerier/Search, /admin/…, a path nothing serves.
    let rows: [Row; 13] = [
        (
            Caller::Nobody,
            200,
            401,
            401,
            Grpc(GUnauth),
            Grpc(GUnauth),
            401,
            401,
        ),
        (
            Caller::WrongSecret,
            200,
            401,
            401,
            Grpc(GUnauth),
            Grpc(GUnauth),
            401,
            401,
        ),
        (
            Caller::AWrite,
            200,
            403,
            200,
            Grpc(GOk),
            Grpc(GDenied),
            403,
            404,
        ),
        (
            Caller::ARead,
            200,
            200,
            403,
            Grpc(GDenied),
            Grpc(GOk),
            403,
            404,
        ),
        // B reads its own tenant's copy of the trace (checked below by the tenant asked).
        (Caller::BKey, 200, 200, 200, Grpc(GOk), Grpc(GOk), 403, 404),
        (
            Caller::SuspendedKey,
            200,
            200,
            403,
            Grpc(GDenied),
            Grpc(GOk),
            403,
            404,
        ),
        (
            Caller::DeletingKey,
            200,
            403,
            403,
            Grpc(GDenied),
            Grpc(GDenied),
            403,
            404,
        ),
        (
            Caller::Admin,
            200,
            403,
            403,
            Grpc(GDenied),
            Grpc(GDenied),
            404,
            404,
        ),
        (
            Caller::AdminForA,
            200,
            200,
            200,
            Grpc(GOk),
            Grpc(GOk),
            404,
            404,
        ),
        (
            Caller::AdminForUnknown,
            200,
            403,
            403,
            Grpc(GDenied),
            Grpc(GDenied),
            404,
            404,
        ),
        (
            Caller::AKeyHeaderB,
            200,
            403,
            403,
            Grpc(GDenied),
            Grpc(GDenied),
            403,
            404,
        ),
        (
            Caller::BasicUserBWithAKey,
            200,
            403,
            403,
            Grpc(GDenied),
            Grpc(GDenied),
            403,
            404,
        ),
        (
            Caller::BasicUserAWithAKey,
            200,
            200,
            200,
            Grpc(GOk),
            Grpc(GOk),
            403,
            404,
        ),
    ];
    let app = keyed_app();
    for (caller, anon, read, write, export, search, admin, no_route) in rows {
        for target in TARGETS {
            let expected = match target {
                Target::Echo | Target::BuildInfo => Http(anon),
                Target::TraceV1 | Target::TraceV2 => Http(read),
                Target::OtlpHttp | Target::OtlpHttpPrefixed => Http(write),
                Target::GrpcExport => export,
                Target::GrpcSearch => search,
                Target::AdminApi => Http(admin),
                Target::NoRoute => Http(no_route),
            };
            let pushes_before = app.sink.pushes.lock().unwrap().len();
            app.reader.seen.lock().unwrap().clear();
            let got = answer(&app, target, caller).await;
            assert_eq!(got, expected, "{caller:?} on {target:?}");
            let seen: Vec<String> = app
                .reader
                .seen
                .lock()
                .unwrap()
                .iter()
                .map(|(t, _)| t.to_string())
                .collect();
            if matches!(target, Target::TraceV1 | Target::TraceV2) && got == Http(200) {
                let expected_tenant = match caller {
                    Caller::BKey => "bbb",
                    Caller::SuspendedKey => "sus",
                    _ => "aaa",
                };
                assert_eq!(seen, [expected_tenant], "{caller:?} on {target:?}");
            } else {
                assert!(seen.is_empty(), "{caller:?} on {target:?}: {seen:?}");
            }
            let pushes = app.sink.pushes.lock().unwrap();
            let pushed = pushes.len() > pushes_before;
            let accepted = matches!(got, Http(200) | Grpc(GOk));
            let is_write = matches!(
                target,
                Target::OtlpHttp | Target::OtlpHttpPrefixed | Target::GrpcExport
            );
            assert_eq!(pushed, is_write && accepted, "{caller:?} on {target:?}");
            if pushed {
                // Spans land in the credential's tenant, never in one a header named.
                let expected_tenant = match caller {
                    Caller::BKey => "bbb",
                    _ => "aaa",
                };
                assert_eq!(
                    pushes.last().unwrap().0.as_str(),
                    expected_tenant,
                    "{caller:?}"
                );
            }
        }
    }
}

#[tokio::test]
async fn unauthenticated_answers_carry_the_challenge_and_refusals_name_no_data() {
    let app = keyed_app();
    let (status, headers, body) = send(app.router(), Target::TraceV1.request(Caller::Nobody)).await;
    assert_eq!(status, 401);
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic realm=\"sextant\"")
    );
    assert!(String::from_utf8_lossy(&body).contains("credentials required"));
    // OTLP/HTTP refusals are google.rpc.Status in the request's encoding.
    let (status, headers, body) = send(
        app.router(),
        Target::OtlpHttpPrefixed.request(Caller::ARead),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(headers["content-type"], "application/json");
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["code"], tonic::Code::PermissionDenied as i32);
    assert!(
        v["message"].as_str().unwrap().contains("traces:write"),
        "{v}"
    );
    // The suspended tenant is told why.
    let (_, _, body) = send(app.router(), Target::OtlpHttp.request(Caller::SuspendedKey)).await;
    let rpc = RpcStatus::decode(body).unwrap();
    assert!(rpc.message.contains("suspended"), "{rpc:?}");
}

#[tokio::test]
async fn an_ingest_only_key_is_refused_on_every_read_route_and_method() {
    // GHSA-wffq-g8qf-ccmv: the table, not the path's wording, decides.
    let app = keyed_app();
    let methods = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::OPTIONS,
    ];
    let read_paths: Vec<String> = RULES
        .iter()
        .filter(|r| r.scope == Scope::Read)
        .map(|r| r.template.replace("{id}", TRACE_HEX))
        .collect();
    assert!(read_paths.len() >= 9, "{read_paths:?}");
    for path in &read_paths {
        for method in &methods {
            for content_type in ["application/json", "application/grpc"] {
                let req = Request::builder()
                    .method(method.clone())
                    .uri(path)
                    .header("authorization", bearer("sxt_a_write"))
                    .header("content-type", content_type)
                    .body(Body::empty())
                    .unwrap();
                let resp = app.router().oneshot(req).await.unwrap();
                let grpc_code = resp
                    .headers()
                    .get("grpc-status")
                    .map(|v| v.to_str().unwrap().to_owned());
                let refused = resp.status() == 403
                    || grpc_code.as_deref()
                        == Some(&(tonic::Code::PermissionDenied as i32).to_string());
                assert!(refused, "{method} {path} ({content_type}): {resp:?}");
            }
        }
    }
    assert!(app.reader.seen.lock().unwrap().is_empty());
    // And the read-only key cannot ingest by any method.
    for method in &methods {
        for path in ["/v1/traces", "/otlp/v1/traces", EXPORT_PATH] {
            let req = Request::builder()
                .method(method.clone())
                .uri(path)
                .header("authorization", bearer("sxt_a_read"))
                .header("content-type", "application/x-protobuf")
                .body(Body::from(vec![0u8; 4]))
                .unwrap();
            let resp = app.router().oneshot(req).await.unwrap();
            assert_eq!(resp.status(), 403, "{method} {path}");
        }
    }
    assert!(app.sink.pushes.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_wrong_method_is_405_only_for_a_caller_allowed_the_route() {
    let app = keyed_app();
    let req = |auth: &str| {
        Request::get("/v1/traces")
            .header("authorization", bearer(auth))
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(send(app.router(), req("sxt_a_write")).await.0, 405);
    assert_eq!(send(app.router(), req("sxt_a_read")).await.0, 403);
    assert_eq!(send(app.router(), req("sxt_nope")).await.0, 401);
}

#[tokio::test]
async fn a_route_missing_from_the_table_is_refused() {
    for (mode, caller) in [
        (AuthMode::Keys, Caller::AdminForA),
        (AuthMode::Keys, Caller::BasicUserAWithAKey),
        (AuthMode::None, Caller::Nobody),
        (AuthMode::TrustedHeader, Caller::AdminForA),
    ] {
        let app = app_full(
            mode,
            fake_auth(),
            GatewayConfig::default(),
            FakeReader::default(),
        );
        let routes =
            Router::new().route("/api/unlisted", axum::routing::get(|| async { "secret" }));
        let router =
            crate::router::with_outer_layers(routes, &app.state).with_state(app.state.clone());
        let mut req = Request::get("/api/unlisted");
        for (name, value) in caller.headers() {
            req = req.header(name, value);
        }
        let (status, _, body) = send(router, req.body(Body::empty()).unwrap()).await;
        assert_eq!(status, 403, "{mode:?}");
        assert_ne!(body.as_ref(), b"secret");
    }
}

#[tokio::test]
async fn federated_reads_merge_the_tenants_allowed() {
    let app = keyed_app();
    let fed = |org: &str, secret: &str, accept: &str| {
        Request::get(format!("/api/v2/traces/{TRACE_HEX}"))
            .header("authorization", bearer(secret))
            .header("x-scope-orgid", org)
            .header("accept", accept)
            .body(Body::empty())
            .unwrap()
    };
    let (status, _, body) = send(
        app.router(),
        fed("aaa|bbb", "sxt_a_fed", "application/protobuf"),
    )
    .await;
    assert_eq!(status, 200);
    let resp = crate::tempopb::TraceByIdResponse::decode(body).unwrap();
    let names: Vec<String> = resp
        .trace
        .unwrap()
        .resource_spans
        .iter()
        .map(|rs| rs.scope_spans[0].spans[0].name.clone())
        .collect();
    assert_eq!(names, ["GET /", "from bbb"]);
    assert_eq!(resp.metrics.unwrap().inspected_bytes, 120);
    let seen: Vec<String> = app
        .reader
        .seen
        .lock()
        .unwrap()
        .drain(..)
        .map(|(t, _)| t.to_string())
        .collect();
    assert_eq!(seen, ["aaa", "bbb"]);

    // Federation through the Basic username works the same.
    let req = Request::get(format!("/api/traces/{TRACE_HEX}"))
        .header("authorization", basic("bbb|aaa", "sxt_a_fed"))
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = send(app.router(), req).await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["batches"].as_array().unwrap().len(), 2);

    // A key without `bbb` in its read list, a tenant being deleted, an unknown one.
    for (org, secret) in [
        ("aaa|bbb", "sxt_a_rw"),
        ("aaa|del", "sxt_a_fed"),
        ("aaa|zzz", "sxt_a_fed"),
        ("aaa|bbb", "sxt_a_write"),
    ] {
        let (status, _, _) = send(app.router(), fed(org, secret, "application/json")).await;
        assert_eq!(status, 403, "{org} {secret}");
    }
    // Federation is for reads: even an admin cannot write to two tenants.
    let req = Request::post("/v1/traces")
        .header("authorization", bearer("admin_token"))
        .header("x-scope-orgid", "aaa|bbb")
        .header("content-type", "application/x-protobuf")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(app.router(), req).await.0, 400);

    // 404 only when no tenant has the trace.
    let other = "ffffffffffffffffffffffffffffffff";
    let req = Request::get(format!("/api/traces/{other}"))
        .header("authorization", bearer("sxt_a_fed"))
        .header("x-scope-orgid", "aaa|bbb")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(app.router(), req).await.0, 404);
}

#[tokio::test]
async fn mode_none_takes_the_header_or_the_single_tenant() {
    let app = app();
    let req = Request::get(format!("/api/traces/{TRACE_HEX}"))
        .header("x-scope-orgid", "aaa|bbb")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(app.router(), req).await.0, 200);
    let seen: Vec<String> = app
        .reader
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|(t, _)| t.to_string())
        .collect();
    assert_eq!(seen, ["aaa", "bbb"]);
    // Credentials are ignored, not checked.
    let req = Request::post("/v1/traces")
        .header("authorization", bearer("whatever"))
        .header("content-type", "application/x-protobuf")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(app.router(), req).await.0, 200);
    assert_eq!(
        app.sink.pushes.lock().unwrap()[0].0.as_str(),
        TenantId::SINGLE_TENANT
    );
    // No admin without keys.
    assert_eq!(send(app.router(), get("/admin/x")).await.0, 403);
}

#[tokio::test]
async fn mode_trusted_header_needs_the_header_and_honours_statuses() {
    let app = app_full(
        AuthMode::TrustedHeader,
        fake_auth(),
        GatewayConfig::default(),
        FakeReader::default(),
    );
    let post = |org: Option<&str>| {
        let mut b = Request::post("/v1/traces").header("content-type", "application/x-protobuf");
        if let Some(org) = org {
            b = b.header("x-scope-orgid", org);
        }
        b.body(Body::empty()).unwrap()
    };
    let (status, headers, _) = send(app.router(), post(None)).await;
    assert_eq!(status, 401);
    assert!(headers.contains_key("www-authenticate"));
    assert_eq!(send(app.router(), post(Some("aaa"))).await.0, 200);
    // A tenant the control plane does not know is the proxy's business.
    assert_eq!(send(app.router(), post(Some("newcomer"))).await.0, 200);
    assert_eq!(send(app.router(), post(Some("sus"))).await.0, 403);
    assert_eq!(send(app.router(), post(Some("Bad!"))).await.0, 400);
    let pushed: Vec<String> = app
        .sink
        .pushes
        .lock()
        .unwrap()
        .iter()
        .map(|(t, _)| t.to_string())
        .collect();
    assert_eq!(pushed, ["aaa", "newcomer"]);
    let read = |org: &str| {
        Request::get("/api/traces/ff")
            .header("x-scope-orgid", org)
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(send(app.router(), read("sus")).await.0, 404);
    assert_eq!(send(app.router(), read("del")).await.0, 403);
    assert_eq!(send(app.router(), get("/api/traces/ff")).await.0, 401);
}

#[tokio::test]
async fn the_access_log_sees_the_tenant() {
    // The tenant and principal reach the response extensions the access log reads.
    let app = keyed_app();
    let resp = app
        .router()
        .oneshot(Target::TraceV1.request(Caller::BasicUserAWithAKey))
        .await
        .unwrap();
    let tenant = resp
        .extensions()
        .get::<crate::tenant::ResolvedTenant>()
        .map(|t| t.0.clone());
    assert_eq!(tenant.as_deref(), Some("aaa"));
    let principal = resp
        .extensions()
        .get::<crate::auth::ResolvedPrincipal>()
        .map(|p| p.0.clone());
    assert_eq!(principal.as_deref(), Some("key:a_rw"));
    // A refused key's tenant is logged too.
    let resp = app
        .router()
        .oneshot(Target::OtlpHttp.request(Caller::SuspendedKey))
        .await
        .unwrap();
    let tenant = resp
        .extensions()
        .get::<crate::tenant::ResolvedTenant>()
        .map(|t| t.0.clone());
    assert_eq!(tenant.as_deref(), Some("sus"));
}
