//! OTLP gRPC over real connections: the routers served by `axum::serve` on loopback, called by a
//! tonic client (HTTP/2 prior knowledge, i.e. h2c) with the same raw codec.

use std::net::SocketAddr;

use bytes::Bytes;
use http::uri::PathAndQuery;
use prost::Message;
use sextant_model::otlp::ExportTraceServiceResponse;
use sextant_model::{Error, ErrorKind, PushOutcome};
use tonic::codec::CompressionEncoding;
use tonic::transport::Channel;

use super::{App, FakeReader, app, app_with, sample_trace, tid};
use crate::grpc::{EXPORT_PATH, RawCodec};
use crate::{GatewayConfig, RetryInfo, RpcStatus};

async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

async fn client(addr: SocketAddr) -> tonic::client::Grpc<Channel> {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    tonic::client::Grpc::new(channel)
}

async fn export(
    grpc: &mut tonic::client::Grpc<Channel>,
    body: Vec<u8>,
    tenant: Option<&str>,
) -> Result<Bytes, tonic::Status> {
    grpc.ready().await.unwrap();
    let mut req = tonic::Request::new(Bytes::from(body));
    if let Some(t) = tenant {
        req.metadata_mut()
            .insert("x-scope-orgid", t.parse().unwrap());
    }
    grpc.unary(req, PathAndQuery::from_static(EXPORT_PATH), RawCodec)
        .await
        .map(tonic::Response::into_inner)
}

fn retry_info(status: &tonic::Status) -> Option<RetryInfo> {
    let rpc = RpcStatus::decode(status.details()).unwrap();
    assert_eq!(rpc.code, status.code() as i32);
    rpc.details
        .iter()
        .find(|a| a.type_url == crate::rpc_status::RETRY_INFO_TYPE_URL)
        .map(|a| RetryInfo::decode(a.value.as_slice()).unwrap())
}

async fn grpc_app(app: &App) -> tonic::client::Grpc<Channel> {
    client(serve(crate::otlp_grpc_router(app.state.clone())).await).await
}

#[tokio::test]
async fn gzip_export_reaches_the_sink_decompressed() {
    let app = app();
    let mut grpc = grpc_app(&app)
        .await
        .send_compressed(CompressionEncoding::Gzip);
    let body = sample_trace().encode_to_vec();
    let resp = export(&mut grpc, body.clone(), Some("acme")).await.unwrap();
    assert!(
        ExportTraceServiceResponse::decode(resp)
            .unwrap()
            .partial_success
            .is_none()
    );
    let pushes = app.sink.pushes.lock().unwrap();
    assert_eq!(pushes[0].0.as_str(), "acme");
    assert_eq!(pushes[0].1.body.as_ref(), body.as_slice());
}

#[tokio::test]
async fn zstd_export_and_partial_success() {
    let app = app();
    app.set_answer(Ok(PushOutcome {
        accepted_spans: 1,
        rejected_spans: 3,
        message: "bad ids".into(),
        ..Default::default()
    }));
    let mut grpc = grpc_app(&app)
        .await
        .send_compressed(CompressionEncoding::Zstd);
    let resp = export(&mut grpc, vec![1, 2, 3], None).await.unwrap();
    let partial = ExportTraceServiceResponse::decode(resp)
        .unwrap()
        .partial_success
        .unwrap();
    assert_eq!(
        (partial.rejected_spans, partial.error_message.as_str()),
        (3, "bad ids")
    );
}

#[tokio::test]
async fn five_mib_message_is_accepted_and_over_cap_refused() {
    let app = app_with(
        GatewayConfig {
            max_request_bytes: 6 << 20,
            ..Default::default()
        },
        FakeReader::default(),
    );
    let mut grpc = grpc_app(&app).await;
    export(&mut grpc, vec![7; 5 << 20], None).await.unwrap();
    assert_eq!(app.sink.pushes.lock().unwrap()[0].1.body.len(), 5 << 20);

    let err = export(&mut grpc, vec![7; (6 << 20) + 1], None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");

    // Compressed small, decompressed over the cap.
    let mut gz = grpc_app(&app)
        .await
        .send_compressed(CompressionEncoding::Gzip);
    let err = export(&mut gz, vec![0; 7 << 20], None).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
    assert_eq!(app.sink.pushes.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn errors_map_to_grpc_codes_with_retry_info() {
    let cases = [
        (
            Error::new(ErrorKind::RateLimited, "slow down")
                .with_retry_after(std::time::Duration::from_secs(5)),
            tonic::Code::ResourceExhausted,
            Some(5),
        ),
        (
            Error::new(ErrorKind::QuotaExceeded, "quota"),
            tonic::Code::ResourceExhausted,
            None,
        ),
        (
            Error::unavailable("wal full", std::time::Duration::from_secs(2)),
            tonic::Code::Unavailable,
            Some(2),
        ),
        (
            Error::bad_request("undecodable"),
            tonic::Code::InvalidArgument,
            None,
        ),
        (
            Error::new(ErrorKind::Unauthenticated, "no"),
            tonic::Code::Unauthenticated,
            None,
        ),
        (
            Error::new(ErrorKind::Forbidden, "no"),
            tonic::Code::PermissionDenied,
            None,
        ),
        (
            Error::new(ErrorKind::TooLarge, "big"),
            tonic::Code::InvalidArgument,
            None,
        ),
        (
            Error::new(ErrorKind::NotFound, "no"),
            tonic::Code::NotFound,
            None,
        ),
        (Error::internal("secret"), tonic::Code::Internal, None),
    ];
    let app = app();
    let mut grpc = grpc_app(&app).await;
    for (err, code, retry) in cases {
        app.set_answer(Err(err.clone()));
        let status = export(&mut grpc, vec![], None).await.unwrap_err();
        assert_eq!(status.code(), code, "{err:?}");
        let info = retry_info(&status);
        assert_eq!(
            info.map(|i| i.retry_delay.unwrap().seconds),
            retry,
            "{err:?}"
        );
        if code == tonic::Code::Internal {
            assert_eq!(status.message(), "internal error");
        }
    }
}

#[tokio::test]
async fn invalid_tenant_metadata_is_invalid_argument() {
    let app = app();
    let mut grpc = grpc_app(&app).await;
    let status = export(&mut grpc, vec![], Some("NO|PE")).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().contains("X-Scope-OrgID"), "{status:?}");
    assert!(app.sink.pushes.lock().unwrap().is_empty());
}

#[tokio::test]
async fn export_on_the_query_port_over_h2c() {
    let app = app();
    let addr = serve(app.router()).await;
    let mut grpc = client(addr)
        .await
        .send_compressed(CompressionEncoding::Gzip);
    let body = sample_trace().encode_to_vec();
    export(&mut grpc, body.clone(), Some("acme")).await.unwrap();
    assert_eq!(
        app.sink.pushes.lock().unwrap()[0].1.body.as_ref(),
        body.as_slice()
    );

    // A plain HTTP/1.1 POST to the gRPC path is not mistaken for an export.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST {EXPORT_PATH} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
    );
    tokio::io::AsyncWriteExt::write_all(&mut stream, req.as_bytes())
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut answer)
        .await
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 415"), "{answer}");
    assert_eq!(app.sink.pushes.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn limits_answer_with_retry_info_only_where_a_retry_can_succeed() {
    let app = app();
    app.tenants.set(
        "aaa",
        sextant_model::Limits {
            ingestion_rate_bytes: 1000,
            ingestion_burst_bytes: 1000,
            ..Default::default()
        },
    );
    let mut grpc = grpc_app(&app).await;
    export(&mut grpc, vec![0; 1000], Some("aaa")).await.unwrap();
    // Rate limited: RESOURCE_EXHAUSTED with the bucket's wait (250 bytes at 1000/s).
    let status = export(&mut grpc, vec![0; 250], Some("aaa"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    let delay = retry_info(&status).unwrap().retry_delay.unwrap();
    assert_eq!((delay.seconds, delay.nanos), (0, 250_000_000));
    // Over the burst: INVALID_ARGUMENT, never retryable.
    let status = export(&mut grpc, vec![0; 1001], Some("aaa"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(retry_info(&status).is_none());
    // Quota: RESOURCE_EXHAUSTED without RetryInfo, so the Collector does not retry until reset.
    app.tenants.set(
        "aaa",
        sextant_model::Limits {
            daily_ingest_bytes: 1,
            ..Default::default()
        },
    );
    app.usage.usage.lock().unwrap().insert(
        tid("aaa"),
        sextant_model::PeriodUsage {
            day_bytes: 1,
            month_bytes: 1,
        },
    );
    let status = export(&mut grpc, vec![0; 10], Some("aaa"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(retry_info(&status).is_none());
    assert_eq!(app.sink.pushes.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn keys_travel_in_metadata() {
    let mut auth = super::FakeAuth::default();
    auth.keys.insert(
        "sxt_k".into(),
        sextant_model::Identity::Key(sextant_model::KeyIdentity {
            key_id: "k".into(),
            tenant: tid("aaa"),
            status: sextant_model::TenantStatus::Active,
            write: true,
            read: false,
            read_tenants: vec![],
        }),
    );
    let app = super::app_full(
        crate::AuthMode::Keys,
        auth,
        GatewayConfig::default(),
        FakeReader::default(),
    );
    let mut grpc = grpc_app(&app).await;
    let status = export(&mut grpc, vec![], None).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    grpc.ready().await.unwrap();
    let mut req = tonic::Request::new(Bytes::new());
    req.metadata_mut()
        .insert("authorization", "Bearer sxt_k".parse().unwrap());
    grpc.unary(req, PathAndQuery::from_static(EXPORT_PATH), RawCodec)
        .await
        .unwrap();
    let mut req = tonic::Request::new(Bytes::new());
    req.metadata_mut()
        .insert("authorization", "Bearer sxt_k".parse().unwrap());
    req.metadata_mut()
        .insert("x-scope-orgid", "bbb".parse().unwrap());
    grpc.ready().await.unwrap();
    let status = grpc
        .unary::<_, Bytes, _>(req, PathAndQuery::from_static(EXPORT_PATH), RawCodec)
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied);
    let pushes = app.sink.pushes.lock().unwrap();
    assert_eq!(pushes.len(), 1);
    assert_eq!(pushes[0].0.as_str(), "aaa");
}
