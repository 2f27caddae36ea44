//! Who may do what, against the real binary in `auth.mode: keys`: every data route (OTLP/HTTP on
//! both ports and both paths, OTLP gRPC on both gRPC-capable ports, both trace-by-ID reads)
//! against every kind of credential (none, a wrong secret, a tenant's write-only, read-only and
//! read+write keys, another tenant's key, a revoked, an expired and a suspended tenant's key, the
//! admin token with and without `X-Scope-OrgID`, a key naming another tenant), one table, one
//! verdict per cell. Then: what was written where is read back only by its tenant, an
//! ingest-only key reads nothing anywhere, and the `none` and `trusted-header` modes work.

use std::net::SocketAddr;
use std::time::Duration;

use prost::Message;
use sextant_model::otlp::TracesData;
use sextant_tests::{
    Auth, Options, OtlpGrpc, ReadApi, Sextant, TENANT_HEADER, basic, post_otlp, request, trace,
    wait_until,
};

const PROTO: &str = "application/x-protobuf";

/// A route of the public listeners.
#[derive(Clone, Debug)]
enum Route {
    /// OTLP/HTTP POST.
    HttpWrite(String),
    /// OTLP gRPC Export.
    GrpcWrite(SocketAddr),
    /// GET of a trace by ID.
    Read(String),
}

impl Route {
    fn describe(&self) -> String {
        match self {
            Self::HttpWrite(url) => format!("POST {url}"),
            Self::GrpcWrite(addr) => format!("gRPC Export {addr}"),
            Self::Read(url) => format!("GET {url}"),
        }
    }
}

/// One row of the table: headers (gRPC metadata) to send, and the expected HTTP status of a
/// write and of a read of tenant A's trace (gRPC codes follow from the HTTP ones).
struct Credential {
    name: &'static str,
    headers: Vec<(&'static str, String)>,
    write: u16,
    read: u16,
    /// The tenant an accepted write lands in.
    lands_in: Option<String>,
}

fn grpc_code(http: u16) -> tonic::Code {
    match http {
        200 => tonic::Code::Ok,
        400 => tonic::Code::InvalidArgument,
        401 => tonic::Code::Unauthenticated,
        403 => tonic::Code::PermissionDenied,
        429 => tonic::Code::ResourceExhausted,
        other => panic!("no gRPC code for HTTP {other} in this table"),
    }
}

/// Sends `data` on `route` with `headers`; the HTTP status (gRPC codes mapped back) and, for
/// HTTP 401, whether `WWW-Authenticate` was set.
async fn call(
    server: &Sextant,
    route: &Route,
    headers: &[(&'static str, String)],
    data: &TracesData,
) -> (u16, bool, String) {
    match route {
        Route::HttpWrite(url) | Route::Read(url) => {
            let mut req = if matches!(route, Route::Read(_)) {
                server.client().get(url)
            } else {
                server
                    .client()
                    .post(url)
                    .header("content-type", PROTO)
                    .body(data.encode_to_vec())
            };
            for (name, value) in headers {
                req = req.header(*name, value);
            }
            let resp = req.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
            let status = resp.status().as_u16();
            let challenge = resp.headers().contains_key("www-authenticate");
            (status, challenge, resp.text().await.unwrap_or_default())
        }
        Route::GrpcWrite(addr) => {
            let mut grpc = OtlpGrpc::connect(*addr).await;
            match grpc.export_with(headers, data.clone()).await {
                Ok(_) => (200, false, String::new()),
                Err(status) => {
                    let http = match status.code() {
                        tonic::Code::InvalidArgument => 400,
                        tonic::Code::Unauthenticated => 401,
                        tonic::Code::PermissionDenied => 403,
                        tonic::Code::ResourceExhausted => 429,
                        _ => 500,
                    };
                    (http, true, format!("{status:?}"))
                }
            }
        }
    }
}

/// A key with one character of its secret changed (its checksum then no longer matches).
fn wrong_secret(key: &str) -> String {
    let mut chars: Vec<char> = key.chars().collect();
    // `sxt_<id>_<32 secret characters><6 check characters>`: a character of the secret.
    let last = chars.len() - 10;
    chars[last] = if chars[last] == 'a' { 'b' } else { 'a' };
    chars.into_iter().collect()
}

/// Polls a write with `auth` until it answers `want`.
async fn wait_write_status(server: &Sextant, auth: &Auth, want: u16, what: &str) {
    let url = format!("{}/v1/traces", server.otlp_http_url());
    wait_until(Duration::from_secs(10), what, async || {
        let (_, data) = trace_request();
        post_otlp(
            server.client(),
            &url,
            Some(auth),
            PROTO,
            None,
            data.encode_to_vec(),
        )
        .await
        .status()
            == want
    })
    .await;
}

fn trace_request() -> (Vec<u8>, TracesData) {
    let (id, spans) = trace(2);
    (id, request("isolation", spans))
}

/// Reads a trace with raw headers; the status.
async fn read_status(server: &Sextant, trace_id: &[u8], headers: &[(&str, String)]) -> u16 {
    let url = format!("{}/api/traces/{}", server.http_url(), hex::encode(trace_id));
    let mut req = server.client().get(&url);
    for (name, value) in headers {
        req = req.header(*name, value);
    }
    req.send().await.expect("send").status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_against_every_credential() {
    let server = Sextant::start(Options::new()).await;
    let a = server.tenant("iso-a").await;
    let b = server.tenant("iso-b").await;
    let c = server.tenant("iso-c").await;
    let admin = server.admin_token();

    // Tenant A's trace, the one every read cell asks for; and one of C before its suspension.
    let (a_trace, data) = trace_request();
    let url = format!("{}/v1/traces", server.otlp_http_url());
    let resp = post_otlp(
        server.client(),
        &url,
        Some(&a.rw),
        PROTO,
        None,
        data.encode_to_vec(),
    )
    .await;
    assert_eq!(resp.status(), 200, "tenant A's first write");
    let (c_trace, data) = trace_request();
    let resp = post_otlp(
        server.client(),
        &url,
        Some(&c.rw),
        PROTO,
        None,
        data.encode_to_vec(),
    )
    .await;
    assert_eq!(resp.status(), 200, "tenant C's write before its suspension");

    let revoked = server
        .create_key("iso-a", "traces:write,traces:read", &[])
        .await;
    server.wait_key_accepted(&revoked).await;
    server.cli_ok(&["key", "revoke", revoked.key_id()]).await;
    wait_write_status(&server, &revoked, 401, "the revoked key to be refused").await;
    let expired = server
        .create_key("iso-a", "traces:write,traces:read", &["--expires-in", "2s"])
        .await;
    server.wait_key_accepted(&expired).await;
    wait_write_status(&server, &expired, 401, "the expiring key to expire").await;
    server.cli_ok(&["tenant", "suspend", "iso-c"]).await;
    wait_write_status(&server, &c.rw, 403, "the suspension to reach the server").await;

    let auth = |v: String| vec![("authorization", v)];
    let a_id = a.id.clone();
    let b_id = b.id.clone();
    let table = vec![
        Credential {
            name: "no credentials",
            headers: vec![],
            write: 401,
            read: 401,
            lands_in: None,
        },
        Credential {
            name: "malformed Authorization",
            headers: auth("Basic !!!".into()),
            write: 401,
            read: 401,
            lands_in: None,
        },
        Credential {
            name: "wrong secret",
            headers: auth(basic(&a_id, &wrong_secret(&a.rw.key))),
            write: 401,
            read: 401,
            lands_in: None,
        },
        Credential {
            name: "A write-only key",
            headers: auth(a.write.basic()),
            write: 200,
            read: 403,
            lands_in: Some(a_id.clone()),
        },
        Credential {
            name: "A read-only key",
            headers: auth(a.read.basic()),
            write: 403,
            read: 200,
            lands_in: None,
        },
        Credential {
            name: "A read+write key as bearer",
            headers: auth(a.rw.bearer()),
            write: 200,
            read: 200,
            lands_in: Some(a_id.clone()),
        },
        Credential {
            name: "A key with X-Scope-OrgID: A",
            headers: vec![
                ("authorization", a.rw.basic()),
                (TENANT_HEADER, a_id.clone()),
            ],
            write: 200,
            read: 200,
            lands_in: Some(a_id.clone()),
        },
        // B reads its own (empty) tenant: A's trace is not found there.
        Credential {
            name: "B read+write key",
            headers: auth(b.rw.basic()),
            write: 200,
            read: 404,
            lands_in: Some(b_id.clone()),
        },
        Credential {
            name: "revoked key",
            headers: auth(revoked.basic()),
            write: 401,
            read: 401,
            lands_in: None,
        },
        Credential {
            name: "expired key",
            headers: auth(expired.basic()),
            write: 401,
            read: 401,
            lands_in: None,
        },
        // A suspended tenant may still read (its own data: A's trace is not there).
        Credential {
            name: "suspended tenant's key",
            headers: auth(c.rw.basic()),
            write: 403,
            read: 404,
            lands_in: None,
        },
        Credential {
            name: "admin token without X-Scope-OrgID",
            headers: auth(format!("Bearer {admin}")),
            write: 403,
            read: 403,
            lands_in: None,
        },
        Credential {
            name: "admin token with X-Scope-OrgID: A",
            headers: vec![
                ("authorization", format!("Bearer {admin}")),
                (TENANT_HEADER, a_id.clone()),
            ],
            write: 200,
            read: 200,
            lands_in: Some(a_id.clone()),
        },
        // Grafana Enterprise's habit: Basic auth with an empty user and the token as password.
        Credential {
            name: "admin token as Basic :token with X-Scope-OrgID: B",
            headers: vec![
                ("authorization", basic("", &admin)),
                (TENANT_HEADER, b_id.clone()),
            ],
            write: 200,
            read: 404,
            lands_in: Some(b_id.clone()),
        },
        Credential {
            name: "A key with X-Scope-OrgID: B",
            headers: vec![
                ("authorization", a.rw.basic()),
                (TENANT_HEADER, b_id.clone()),
            ],
            write: 403,
            read: 403,
            lands_in: None,
        },
        Credential {
            name: "A key with Basic user B",
            headers: auth(basic(&b_id, &a.rw.key)),
            write: 403,
            read: 403,
            lands_in: None,
        },
        Credential {
            name: "A key with X-Scope-OrgID: A|B",
            headers: vec![
                ("authorization", a.rw.basic()),
                (TENANT_HEADER, format!("{a_id}|{b_id}")),
            ],
            write: 403,
            read: 403,
            lands_in: None,
        },
    ];

    let addrs = server.addrs();
    let mut routes = Vec::new();
    for base in [server.http_url(), server.otlp_http_url()] {
        for path in ["/v1/traces", "/otlp/v1/traces"] {
            routes.push(Route::HttpWrite(format!("{base}{path}")));
        }
    }
    routes.push(Route::GrpcWrite(addrs.otlp_grpc));
    routes.push(Route::GrpcWrite(addrs.http));
    for path in ["/api/traces/", "/api/v2/traces/"] {
        routes.push(Route::Read(format!(
            "{}{path}{}",
            server.http_url(),
            hex::encode(&a_trace)
        )));
    }

    let mut failures = Vec::new();
    // (trace, tenant it must be in, how it got there, the credential) of every accepted write.
    let mut landed: Vec<(Vec<u8>, String, String)> = Vec::new();
    // Traces refused: in no tenant.
    let mut refused: Vec<(Vec<u8>, String)> = Vec::new();
    for cred in &table {
        for route in &routes {
            let (trace_id, data) = trace_request();
            let want = match route {
                Route::Read(_) => cred.read,
                _ => cred.write,
            };
            let (got, challenge, body) = call(&server, route, &cred.headers, &data).await;
            let cell = format!("{} × {}", cred.name, route.describe());
            let got_matches = match route {
                Route::GrpcWrite(_) => grpc_code(got) == grpc_code(want),
                _ => got == want,
            };
            if !got_matches {
                failures.push(format!("{cell}: got {got}, want {want}: {body}"));
            } else if got == 401
                && matches!(route, Route::HttpWrite(_) | Route::Read(_))
                && !challenge
            {
                failures.push(format!("{cell}: 401 without WWW-Authenticate"));
            }
            if matches!(route, Route::Read(_)) {
                continue;
            }
            match (&cred.lands_in, got) {
                (Some(tenant), 200) => landed.push((trace_id, tenant.clone(), cell)),
                _ => refused.push((trace_id, cell)),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cells wrong:\n{}",
        failures.len(),
        table.len() * routes.len(),
        failures.join("\n")
    );

    // Where every accepted write landed, and that no read route shows it to the other tenant.
    let key_of = |tenant: &str| if tenant == a_id { &a.read } else { &b.rw };
    let other_of = |tenant: &str| if tenant == a_id { &b.rw } else { &a.read };
    landed.push((a_trace.clone(), a_id.clone(), "A's first write".into()));
    for (trace_id, tenant, how) in &landed {
        for api in ReadApi::ALL {
            assert!(
                server
                    .read_trace(api, Some(key_of(tenant)), trace_id)
                    .await
                    .is_some(),
                "{how}: the trace is not readable by tenant {tenant} via {api:?}"
            );
            assert!(
                server
                    .read_trace(api, Some(other_of(tenant)), trace_id)
                    .await
                    .is_none(),
                "{how}: tenant {tenant}'s trace is readable by the other tenant via {api:?}"
            );
        }
    }
    for (trace_id, how) in &refused {
        for reader in [&a.read, &b.rw] {
            assert!(
                server
                    .read_trace(ReadApi::V1Proto, Some(reader), trace_id)
                    .await
                    .is_none(),
                "{how}: refused, yet its trace is readable by tenant {}",
                reader.tenant
            );
        }
    }
    // B cannot reach A's data by naming A, in the header or as the Basic user.
    for headers in [
        vec![
            ("authorization", b.rw.basic()),
            (TENANT_HEADER, a_id.clone()),
        ],
        vec![("authorization", basic(&a_id, &b.rw.key))],
    ] {
        assert_eq!(
            read_status(&server, &a_trace, &headers).await,
            403,
            "B's key naming tenant A: {headers:?}"
        );
    }
    // The suspended tenant still reads its own data.
    for api in ReadApi::ALL {
        assert!(
            server
                .read_trace(api, Some(&c.read), &c_trace)
                .await
                .is_some(),
            "suspended tenant C cannot read its own trace via {api:?}"
        );
    }
}

/// `tempopb.StreamingQuerier` requests and responses, opaque here.
#[derive(Clone, PartialEq, prost::Message)]
struct Opaque {}

/// Calls a server-streaming gRPC method with an empty request; the code of the first answer.
async fn streaming_code(addr: SocketAddr, path: &'static str, auth: &Auth) -> tonic::Code {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("channel ready");
    let mut req = tonic::Request::new(Opaque {});
    req.metadata_mut()
        .insert("authorization", auth.basic().parse().expect("ascii"));
    let codec = tonic_prost::ProstCodec::<Opaque, Opaque>::default();
    match grpc
        .server_streaming(req, http::uri::PathAndQuery::from_static(path), codec)
        .await
    {
        Err(status) => status.code(),
        Ok(resp) => match resp.into_inner().message().await {
            Ok(_) => tonic::Code::Ok,
            Err(status) => status.code(),
        },
    }
}

/// GHSA-wffq-g8qf-ccmv: an ingest-only key (what a Collector holds) must read nothing, on any
/// read route, in any encoding, not even by naming its own tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingest_only_key_reads_nothing() {
    let server = Sextant::start(Options::new()).await;
    let t = server.tenant("ingest-only").await;
    let (trace_id, data) = trace_request();
    let url = format!("{}/v1/traces", server.otlp_http_url());
    let resp = post_otlp(
        server.client(),
        &url,
        Some(&t.write),
        PROTO,
        None,
        data.encode_to_vec(),
    )
    .await;
    assert_eq!(resp.status(), 200, "the write-only key writes");

    let http = server.http_url();
    let id = hex::encode(&trace_id);
    for path in [format!("/api/traces/{id}"), format!("/api/v2/traces/{id}")] {
        for accept in ["application/json", "application/protobuf"] {
            for headers in [
                vec![("authorization", t.write.basic())],
                vec![("authorization", t.write.bearer())],
                vec![
                    ("authorization", t.write.basic()),
                    (TENANT_HEADER, t.id.clone()),
                ],
            ] {
                let mut req = server
                    .client()
                    .get(format!("{http}{path}"))
                    .header("accept", accept);
                for (name, value) in &headers {
                    req = req.header(*name, value);
                }
                let resp = req.send().await.expect("send");
                let status = resp.status();
                assert_eq!(
                    status,
                    403,
                    "GET {path} ({accept}) with the write-only key {headers:?}: {}",
                    resp.text().await.unwrap_or_default()
                );
            }
        }
    }
    // Search, tags and metrics: whether served or not, never an answer to this key.
    for path in [
        "/api/search?tags=service.name%3Disolation".to_owned(),
        "/api/search?q=%7B%7D".to_owned(),
        "/api/search/tags".to_owned(),
        "/api/v2/search/tags".to_owned(),
        "/api/search/tag/service.name/values".to_owned(),
        "/api/v2/search/tag/resource.service.name/values".to_owned(),
        "/api/metrics/query_range?q=%7B%7D%20%7C%20rate()".to_owned(),
        "/api/metrics/query?q=%7B%7D%20%7C%20rate()".to_owned(),
    ] {
        let resp = server
            .client()
            .get(format!("{http}{path}"))
            .header("authorization", t.write.basic())
            .send()
            .await
            .expect("send");
        let status = resp.status().as_u16();
        assert!(
            status == 403 || status == 404,
            "GET {path} with the write-only key answered {status}: {}",
            resp.text().await.unwrap_or_default()
        );
    }
    // Grafana's streaming gRPC reads on the http port.
    for method in [
        "/tempopb.StreamingQuerier/Search",
        "/tempopb.StreamingQuerier/SearchTags",
        "/tempopb.StreamingQuerier/SearchTagsV2",
        "/tempopb.StreamingQuerier/SearchTagValues",
        "/tempopb.StreamingQuerier/SearchTagValuesV2",
        "/tempopb.StreamingQuerier/MetricsQueryRange",
        "/tempopb.StreamingQuerier/MetricsQueryInstant",
    ] {
        let code = streaming_code(server.addrs().http, method, &t.write).await;
        assert_eq!(
            code,
            tonic::Code::PermissionDenied,
            "{method} with the write-only key"
        );
        let code = streaming_code(server.addrs().http, method, &t.read).await;
        assert!(
            !matches!(
                code,
                tonic::Code::PermissionDenied | tonic::Code::Unauthenticated
            ),
            "{method} with the read-only key answered {code:?}"
        );
    }
    // The read key does read it: the refusals above are about the scope.
    assert!(
        server
            .read_trace(ReadApi::V2Json, Some(&t.read), &trace_id)
            .await
            .is_some(),
        "the read key cannot read what the write key wrote"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_mode_none_needs_no_credentials() {
    let server = Sextant::start(Options::new().env("SEXTANT_AUTH__MODE", "none")).await;
    assert!(
        server.bootstrap().key.is_none(),
        "auth.mode none printed a bootstrap key"
    );
    let (trace_id, data) = trace_request();
    let url = format!("{}/v1/traces", server.otlp_http_url());
    let resp = post_otlp(
        server.client(),
        &url,
        None,
        PROTO,
        None,
        data.encode_to_vec(),
    )
    .await;
    assert_eq!(resp.status(), 200, "write without credentials in mode none");
    let (grpc_trace, data) = trace_request();
    OtlpGrpc::connect(server.addrs().otlp_grpc)
        .await
        .export(None, data)
        .await
        .unwrap_or_else(|s| panic!("gRPC write without credentials in mode none: {s:?}"));
    for id in [&trace_id, &grpc_trace] {
        for api in ReadApi::ALL {
            assert!(
                server.read_trace(api, None, id).await.is_some(),
                "mode none: trace not readable without credentials via {api:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_mode_trusted_header_takes_the_tenant_from_x_scope_orgid() {
    let server = Sextant::start(Options::new().env("SEXTANT_AUTH__MODE", "trusted-header")).await;
    let url = format!("{}/v1/traces", server.otlp_http_url());
    let post = async |org: Option<&str>, data: &TracesData| {
        let mut req = server
            .client()
            .post(&url)
            .header("content-type", PROTO)
            .body(data.encode_to_vec());
        if let Some(org) = org {
            req = req.header(TENANT_HEADER, org);
        }
        req.send().await.expect("send").status().as_u16()
    };
    let (trace_id, data) = trace_request();
    assert_eq!(post(Some("proxy-a"), &data).await, 200, "write as proxy-a");
    let (grpc_trace, data) = trace_request();
    OtlpGrpc::connect(server.addrs().otlp_grpc)
        .await
        .export_with(&[("x-scope-orgid", "proxy-a".to_owned())], data)
        .await
        .unwrap_or_else(|s| panic!("gRPC write as proxy-a: {s:?}"));
    let (_, data) = trace_request();
    assert_eq!(post(None, &data).await, 401, "write without X-Scope-OrgID");
    assert_eq!(
        post(Some("Bad Tenant!"), &data).await,
        400,
        "malformed X-Scope-OrgID"
    );

    // A tenant the control plane knows is held to its status: suspended → no ingest.
    server.cli_ok(&["tenant", "create", "proxy-s"]).await;
    server.cli_ok(&["tenant", "suspend", "proxy-s"]).await;
    wait_until(
        Duration::from_secs(10),
        "the suspension of proxy-s to reach the server",
        async || post(Some("proxy-s"), &data).await == 403,
    )
    .await;
    for id in [&trace_id, &grpc_trace] {
        let a = read_status(&server, id, &[(TENANT_HEADER, "proxy-a".to_owned())]).await;
        assert_eq!(a, 200, "proxy-a reads its trace");
        let b = read_status(&server, id, &[(TENANT_HEADER, "proxy-b".to_owned())]).await;
        assert_eq!(b, 404, "proxy-b reads proxy-a's trace");
        let none = read_status(&server, id, &[]).await;
        assert_eq!(none, 401, "read without X-Scope-OrgID");
    }
}
