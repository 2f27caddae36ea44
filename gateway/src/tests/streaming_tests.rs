//! Tempo's `StreamingQuerier` over real connections: the routers served by `axum::serve` on
//! loopback, called by the generated tonic client (h2c), as Grafana calls them.

use std::collections::HashSet;
use std::net::SocketAddr;

use sextant_model::{
    MetricSeries, MetricsResponse, Sample, SearchMetrics, TagScope, TagValue, TagValueType,
    TraceSummary,
};
use tonic::transport::Channel;

use super::auth_tests::{bearer, fake_auth};
use super::search_tests::kv;
use super::*;
use crate::scopes::STREAMING_QUERIER_METHODS;
use crate::tempopb;
use crate::tempopb::streaming_querier_client::StreamingQuerierClient;

async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

async fn client(router: axum::Router) -> StreamingQuerierClient<Channel> {
    let addr = serve(router).await;
    StreamingQuerierClient::connect(format!("http://{addr}"))
        .await
        .unwrap()
        .max_decoding_message_size(4 << 20)
}

/// A request as tenant `acme`, with an optional bearer secret.
fn call<T>(message: T, secret: Option<&str>) -> tonic::Request<T> {
    call_as("acme", message, secret)
}

fn call_as<T>(tenant: &str, message: T, secret: Option<&str>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("x-scope-orgid", tenant.parse().unwrap());
    if let Some(secret) = secret {
        request
            .metadata_mut()
            .insert("authorization", bearer(secret).parse().unwrap());
    }
    request
}

/// Every message of a stream, or the status that ended it.
async fn collect<T>(
    answer: Result<tonic::Response<tonic::Streaming<T>>, tonic::Status>,
) -> Result<Vec<T>, tonic::Status> {
    let mut stream = answer?.into_inner();
    let mut messages = Vec::new();
    while let Some(message) = stream.message().await? {
        messages.push(message);
    }
    Ok(messages)
}

fn summary(n: u8, name_len: usize) -> TraceSummary {
    let mut id = [0u8; 16];
    id[15] = n;
    id[0] = 1;
    TraceSummary {
        trace_id: TraceId(id),
        root_service_name: "api".into(),
        root_trace_name: "x".repeat(name_len.max(1)),
        start_time_unix_nano: 1_700_000_000_000_000_000 - u64::from(n),
        duration_nanos: 5_000_000,
        ..Default::default()
    }
}

fn jobs(done: u32, total: u32) -> SearchMetrics {
    SearchMetrics {
        completed_jobs: done,
        total_jobs: total,
        total_blocks: total - 1,
        inspected_spans: u64::from(done) * 10,
        ..Default::default()
    }
}

fn search_ids(messages: &[tempopb::SearchResponse]) -> Vec<String> {
    messages
        .iter()
        .flat_map(|m| m.traces.iter().map(|t| t.trace_id.clone()))
        .collect()
}

#[tokio::test]
async fn search_streams_progress_then_the_rest_each_trace_once() {
    let app = app();
    let all: Vec<TraceSummary> = (1..=5).map(|n| summary(n, 10)).collect();
    *app.searcher.progress_steps.lock().unwrap() = vec![
        (jobs(1, 3), vec![all[0].clone(), all[1].clone()]),
        (jobs(2, 3), vec![all[2].clone()]),
    ];
    app.searcher.search_answers.set(Ok(SearchResponse {
        traces: all.clone(),
        metrics: jobs(3, 3),
    }));
    // The :3200 router, h2c next to the HTTP routes.
    let mut grpc = client(app.router()).await;
    let request = tempopb::SearchRequest {
        query: "{ }".into(),
        limit: 10,
        spans_per_span_set: 2,
        start: 100,
        end: 200,
        ..Default::default()
    };
    let messages = collect(grpc.search(call(request, None)).await)
        .await
        .unwrap();
    assert!(messages.len() >= 3, "{messages:?}");
    assert!(messages.iter().all(|m| m.metrics.is_some()));
    let ids = search_ids(&messages);
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(ids.len(), unique.len(), "a trace was sent twice: {ids:?}");
    let expected: HashSet<String> = all
        .iter()
        .map(|t| crate::search_json::search_trace_id(&t.trace_id))
        .collect();
    assert_eq!(
        unique.into_iter().cloned().collect::<HashSet<_>>(),
        expected
    );
    assert_eq!(messages[0].traces.len(), 2);
    assert_eq!(messages[0].metrics.unwrap().completed_jobs, 1);
    let last = messages.last().unwrap().metrics.unwrap();
    assert_eq!((last.completed_jobs, last.total_jobs), (3, 3));

    let (tenant, seen) = app.searcher.searches.lock().unwrap().pop().unwrap();
    assert_eq!(tenant.as_str(), "acme");
    assert_eq!(seen.limit, 10);
    assert_eq!(seen.spans_per_spanset, 2);
    assert_eq!(seen.range, Some(TimeRange::from_unix_seconds(100, 200)));
}

#[tokio::test]
async fn a_big_answer_is_split_into_messages_under_the_limit() {
    let app = app();
    // 30 traces of ~200 KB each: about 6 MB in all.
    let all: Vec<TraceSummary> = (1..=30).map(|n| summary(n, 200_000)).collect();
    app.searcher.search_answers.set(Ok(SearchResponse {
        traces: all,
        metrics: jobs(1, 1),
    }));
    let mut grpc = client(crate::otlp_grpc_router(app.state.clone())).await;
    let messages = collect(
        grpc.search(call(tempopb::SearchRequest::default(), None))
            .await,
    )
    .await
    .unwrap();
    assert!(messages.len() >= 6, "{}", messages.len());
    for m in &messages {
        assert!(m.metrics.is_some());
        assert!(prost::Message::encoded_len(m) <= (1 << 20) + 1024);
    }
    let ids = search_ids(&messages);
    assert_eq!(ids.len(), 30);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 30);
}

#[tokio::test]
async fn a_federated_search_is_merged_and_sent_at_the_end() {
    let app = app();
    app.searcher.search_answers.set_for(
        "aaa",
        Ok(SearchResponse {
            traces: vec![summary(1, 1)],
            metrics: jobs(1, 1),
        }),
    );
    app.searcher.search_answers.set_for(
        "bbb",
        Ok(SearchResponse {
            traces: vec![summary(2, 1)],
            metrics: jobs(1, 1),
        }),
    );
    let mut grpc = client(app.router()).await;
    let mut request = tonic::Request::new(tempopb::SearchRequest::default());
    request
        .metadata_mut()
        .insert("x-scope-orgid", "aaa|bbb".parse().unwrap());
    let messages = collect(grpc.search(request).await).await.unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].traces.len(), 2);
    assert_eq!(messages[0].metrics.unwrap().total_jobs, 2);
}

#[tokio::test]
async fn tag_methods_answer_in_one_message() {
    let app = app();
    app.searcher
        .tag_name_answers
        .set(Ok(sextant_model::TagNamesResponse {
            scopes: vec![
                (TagScope::Resource, vec!["service.name".into()]),
                (
                    TagScope::Span,
                    vec!["http.method".into(), "service.name".into()],
                ),
                (TagScope::Intrinsic, vec![]),
            ],
            metrics: SearchMetrics {
                inspected_bytes: 42,
                ..Default::default()
            },
        }));
    app.searcher
        .tag_value_answers
        .set(Ok(sextant_model::TagValuesResponse {
            values: vec![
                TagValue {
                    value_type: TagValueType::Int,
                    value: "200".into(),
                },
                TagValue {
                    value_type: TagValueType::String,
                    value: "GET".into(),
                },
            ],
            metrics: SearchMetrics::default(),
        }));
    let mut grpc = client(crate::otlp_grpc_router(app.state.clone())).await;

    let tags = tempopb::SearchTagsRequest {
        scope: String::new(),
        query: "{ }".into(),
        start: 100,
        end: 200,
        max_tags_per_scope: 5,
        ..Default::default()
    };
    let v1 = collect(grpc.search_tags(call(tags.clone(), None)).await)
        .await
        .unwrap();
    assert_eq!(v1.len(), 1);
    assert_eq!(v1[0].tag_names, ["http.method", "service.name"]);
    assert_eq!(v1[0].metrics.unwrap().inspected_bytes, 42);
    let (_, seen) = app
        .searcher
        .tag_name_requests
        .lock()
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(seen.scopes, [TagScope::Resource, TagScope::Span]);
    assert_eq!(seen.limit, 5);
    assert_eq!(seen.query.as_deref(), Some("{ }"));
    assert_eq!(seen.range, Some(TimeRange::from_unix_seconds(100, 200)));

    let v2 = collect(grpc.search_tags_v2(call(tags, None)).await)
        .await
        .unwrap();
    assert_eq!(v2.len(), 1);
    let scopes: Vec<(&str, usize)> = v2[0]
        .scopes
        .iter()
        .map(|s| (s.name.as_str(), s.tags.len()))
        .collect();
    assert_eq!(scopes, [("resource", 1), ("span", 2)]);
    let (_, seen) = app
        .searcher
        .tag_name_requests
        .lock()
        .unwrap()
        .pop()
        .unwrap();
    assert!(seen.scopes.is_empty(), "v2 without scope: every scope");

    let values = tempopb::SearchTagValuesRequest {
        tag_name: "span.http.method".into(),
        max_tag_values: 9,
        ..Default::default()
    };
    let v1 = collect(grpc.search_tag_values(call(values.clone(), None)).await)
        .await
        .unwrap();
    assert_eq!(v1[0].tag_values, ["200", "GET"], "v1: sorted texts");
    let (_, seen) = app
        .searcher
        .tag_value_requests
        .lock()
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(
        seen.tag,
        sextant_model::TagRef::Name("span.http.method".into())
    );
    assert_eq!(seen.limit, 9);
    let v2 = collect(grpc.search_tag_values_v2(call(values, None)).await)
        .await
        .unwrap();
    let typed: Vec<(&str, &str)> = v2[0]
        .tag_values
        .iter()
        .map(|v| (v.r#type.as_str(), v.value.as_str()))
        .collect();
    assert_eq!(
        typed,
        [("string", "GET"), ("int", "200")],
        "by type, then value"
    );
    let (_, seen) = app
        .searcher
        .tag_value_requests
        .lock()
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(
        seen.tag,
        sextant_model::TagRef::Identifier("span.http.method".into())
    );

    let empty = tempopb::SearchTagValuesRequest::default();
    let err = collect(grpc.search_tag_values_v2(call(empty, None)).await)
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
}

fn series(service: &str, samples: &[(i64, f64)]) -> MetricSeries {
    MetricSeries {
        labels: vec![kv(
            "resource.service.name",
            any_value::Value::StringValue(service.into()),
        )],
        samples: samples
            .iter()
            .map(|(t, v)| Sample {
                timestamp_ms: *t,
                value: *v,
            })
            .collect(),
        exemplars: vec![],
    }
}

#[tokio::test]
async fn metrics_range_streams_progress_then_series() {
    let app = app();
    *app.metrics_querier.progress_steps.lock().unwrap() = vec![jobs(1, 3), jobs(2, 3)];
    app.metrics_querier.answers.set(Ok(MetricsResponse {
        series: vec![
            series("a", &[(1000, 1.0), (2000, 0.0)]),
            series("b", &[(1000, 3.0)]),
        ],
        metrics: jobs(3, 3),
        partial: true,
        message: "series limit reached".into(),
    }));
    let mut grpc = client(app.router()).await;
    let request = tempopb::QueryRangeRequest {
        query: "{ } | rate() by (resource.service.name)".into(),
        start: 1_000_000_000_000,
        end: 2_000_000_000_000,
        step: 30_000_000_000,
        exemplars: 5,
        ..Default::default()
    };
    let messages = collect(grpc.metrics_query_range(call(request, None)).await)
        .await
        .unwrap();
    assert!(messages.len() >= 3, "{messages:?}");
    assert!(messages.iter().all(|m| m.metrics.is_some()));
    assert!(
        messages[..messages.len() - 1]
            .iter()
            .all(|m| m.series.is_empty())
    );
    let last = messages.last().unwrap();
    assert_eq!(last.series.len(), 2);
    assert_eq!(last.series[0].samples.len(), 2);
    assert_eq!(last.status, tempopb::PartialStatus::Partial as i32);
    assert_eq!(last.message, "series limit reached");
    let (_, seen) = app.metrics_querier.requests.lock().unwrap().pop().unwrap();
    assert_eq!(
        (
            seen.start,
            seen.end,
            seen.step,
            seen.exemplars,
            seen.instant
        ),
        (
            1_000_000_000_000,
            2_000_000_000_000,
            30_000_000_000,
            5,
            false
        )
    );
}

#[tokio::test]
async fn metrics_instant_answers_one_value_per_series() {
    let app = app();
    app.metrics_querier.answers.set(Ok(MetricsResponse {
        series: vec![series("a", &[(1000, 7.5)]), series("empty", &[])],
        metrics: jobs(1, 1),
        ..Default::default()
    }));
    let mut grpc = client(crate::otlp_grpc_router(app.state.clone())).await;
    let request = tempopb::QueryInstantRequest {
        query: "{ } | count_over_time()".into(),
        start: 1_000_000_000_000,
        end: 2_000_000_000_000,
    };
    let messages = collect(grpc.metrics_query_instant(call(request, None)).await)
        .await
        .unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].series.len(), 1);
    assert_eq!(messages[0].series[0].value, 7.5);
    assert_eq!(messages[0].status, tempopb::PartialStatus::Complete as i32);
    let (_, seen) = app.metrics_querier.requests.lock().unwrap().pop().unwrap();
    assert!(seen.instant);
}

#[tokio::test]
async fn errors_end_the_stream_with_the_mapped_code() {
    let app = app();
    let mut grpc = client(app.router()).await;
    // Refused before the port: a limit over the maximum, a range past the tenant's limit.
    let too_many = tempopb::SearchRequest {
        limit: 1_000_000,
        ..Default::default()
    };
    let err = collect(grpc.search(call(too_many, None)).await)
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("invalid limit"), "{err:?}");
    let two_days = tempopb::QueryRangeRequest {
        query: "{} | rate()".into(),
        start: 1,
        end: 2 * 86_400 * 1_000_000_000,
        ..Default::default()
    };
    let err = collect(grpc.metrics_query_range(call(two_days, None)).await)
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(
        err.message()
            .contains("metrics query time range exceeds the maximum allowed duration"),
        "{err:?}"
    );
    assert!(app.metrics_querier.requests.lock().unwrap().is_empty());

    for (error, code, message) in [
        (
            Error::bad_request("parse error: unexpected }"),
            tonic::Code::InvalidArgument,
            "parse error: unexpected }",
        ),
        (
            Error::new(ErrorKind::RateLimited, "slow down"),
            tonic::Code::ResourceExhausted,
            "slow down",
        ),
        (
            Error::internal("disk on fire"),
            tonic::Code::Internal,
            "internal error",
        ),
    ] {
        app.searcher.search_answers.set(Err(error.clone()));
        app.metrics_querier.answers.set(Err(error.clone()));
        let err = collect(
            grpc.search(call(tempopb::SearchRequest::default(), None))
                .await,
        )
        .await
        .unwrap_err();
        assert_eq!((err.code(), err.message()), (code, message), "{error:?}");
        let request = tempopb::QueryRangeRequest {
            query: "{} | rate()".into(),
            ..Default::default()
        };
        let err = collect(grpc.metrics_query_range(call(request, None)).await)
            .await
            .unwrap_err();
        assert_eq!((err.code(), err.message()), (code, message), "{error:?}");
    }
    let counted = app
        .state
        .metrics
        .grpc_requests
        .get_or_create(&crate::metrics::MethodCode {
            method: "StreamingQuerier/Search".into(),
            code: "Internal".into(),
        })
        .get();
    assert_eq!(counted, 1);
}

#[tokio::test]
async fn every_method_needs_a_read_credential() {
    let app = app_full(
        AuthMode::Keys,
        fake_auth(),
        GatewayConfig::default(),
        FakeReader::default(),
    );
    for router in [app.router(), crate::otlp_grpc_router(app.state.clone())] {
        let mut grpc = client(router).await;
        for (secret, expected) in [
            (None, Err(tonic::Code::Unauthenticated)),
            (Some("nope"), Err(tonic::Code::Unauthenticated)),
            (Some("sxt_a_write"), Err(tonic::Code::PermissionDenied)),
            (Some("sxt_a_read"), Ok(())),
        ] {
            let outcomes = [
                collect(
                    grpc.search(call_as("aaa", tempopb::SearchRequest::default(), secret))
                        .await,
                )
                .await
                .map(|_| ()),
                collect(
                    grpc.metrics_query_range(call_as(
                        "aaa",
                        tempopb::QueryRangeRequest {
                            query: "{} | rate()".into(),
                            ..Default::default()
                        },
                        secret,
                    ))
                    .await,
                )
                .await
                .map(|_| ()),
            ];
            for outcome in outcomes {
                assert_eq!(outcome.map_err(|s| s.code()), expected, "{secret:?}");
            }
        }
    }
    let (tenant, _) = app.searcher.searches.lock().unwrap().pop().unwrap();
    assert_eq!(tenant.as_str(), "aaa");
}

#[tokio::test]
async fn plain_http_to_a_method_path_is_415() {
    let app = app();
    for path in STREAMING_QUERIER_METHODS {
        let req = Request::post(path)
            .header("content-type", "application/json")
            .body(Body::from("{}"))
            .unwrap();
        let (status, _, _) = send(app.router(), req).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{path}");
    }
}
