//! Tempo's `tempopb.StreamingQuerier` gRPC service (tempo-spec §3.9, grafana-datasource §2.5),
//! served by path on the `:3200` router (h2c, next to the HTTP routes) and on the OTLP gRPC
//! router. The authentication layer has already put the tenants in the request's extensions.
//!
//! - `Search`: a message after each unit of work with the traces settled so far and the
//!   metrics, then a final message with every trace of the answer not sent before (each trace
//!   goes out exactly once) and the final metrics. `a|b` is answered by one final message.
//! - `SearchTags`, `SearchTagsV2`, `SearchTagValues`, `SearchTagValuesV2`: one final message.
//! - `MetricsQueryRange`: a metrics-only message after each unit of work, then the series.
//! - `MetricsQueryInstant`: one final message.
//!
//! Every message carries `metrics` and stays under 1 MiB of traces or series when they can be
//! split (one trace larger than that goes alone). Errors end the stream with the status mapped
//! from the error's kind. A plain HTTP request to a method's path gets 415.

use std::collections::HashSet;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use sextant_model::{Error, ErrorKind, Progress, SearchMetrics, TraceId, TraceSummary};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::codec::CompressionEncoding;
use tonic::{Request, Status};

use crate::GatewayState;
use crate::error::GatewayError;
use crate::grpc::is_grpc;
use crate::mapping;
use crate::metrics_query;
use crate::search;
use crate::search_params::TagApi;
use crate::streaming_convert as convert;
use crate::tempopb::streaming_querier_server::{StreamingQuerier, StreamingQuerierServer};
use crate::tempopb::{
    QueryInstantRequest, QueryInstantResponse, QueryRangeRequest, QueryRangeResponse,
    SearchRequest, SearchResponse, SearchTagValuesRequest, SearchTagValuesResponse,
    SearchTagValuesV2Response, SearchTagsRequest, SearchTagsResponse, SearchTagsV2Response,
    SearchTagsV2Scope, TagValue,
};
use crate::tenant::TenantSet;

/// Messages buffered between the query and a slow client.
const BUFFER: usize = 16;

/// The largest request accepted (requests are a query and a few numbers).
const MAX_REQUEST_BYTES: usize = 4 << 20;

type Sender<T> = mpsc::Sender<Result<T, Status>>;
type Answer<T> = Result<tonic::Response<ReceiverStream<Result<T, Status>>>, Status>;

/// The tower service behind every `StreamingQuerier` path: gRPC only, then tonic's generated
/// server.
#[derive(Clone)]
pub(crate) struct StreamingService {
    inner: StreamingQuerierServer<Querier>,
}

impl StreamingService {
    pub(crate) fn new(state: GatewayState) -> Self {
        let inner = StreamingQuerierServer::new(Querier { state })
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Zstd)
            .send_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(MAX_REQUEST_BYTES);
        Self { inner }
    }
}

impl tower::Service<http::Request<Body>> for StreamingService {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        if !is_grpc(request.headers()) {
            return Box::pin(async {
                Ok((
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "this path serves gRPC only: expected content-type application/grpc",
                )
                    .into_response())
            });
        }
        let mut inner = self.inner.clone();
        Box::pin(async move {
            let Ok(response) = tower::Service::call(&mut inner, request).await;
            Ok(response.into_response())
        })
    }
}

/// The methods.
pub(crate) struct Querier {
    state: GatewayState,
}

/// Hears a query's progress and hands it to the task that streams the answer.
struct ChannelProgress(mpsc::UnboundedSender<(SearchMetrics, Vec<TraceSummary>)>);

impl Progress for ChannelProgress {
    fn report(&self, metrics: &SearchMetrics, settled: Vec<TraceSummary>) {
        // The receiver is gone only when the stream has ended; nothing to tell then.
        let _ = self.0.send((*metrics, settled));
    }
}

/// The tenants the authentication layer resolved (without them the request was never
/// authorised), each counted one query in usage.
fn tenants<T>(state: &GatewayState, request: &Request<T>) -> Result<TenantSet, Status> {
    let tenants = request
        .extensions()
        .get::<TenantSet>()
        .cloned()
        .ok_or_else(|| {
            mapping::grpc_status(&Error::new(
                ErrorKind::Unauthenticated,
                "the request was not authenticated",
            ))
        })?;
    crate::query::count_query(state, &tenants);
    Ok(tenants)
}

fn invalid(state: &GatewayState, method: &'static str, err: GatewayError) -> Status {
    let status = mapping::grpc_status(&err.into());
    state.metrics.observe_grpc(method, status.code());
    status
}

/// Runs `work` in its own task, which sends the messages to the stream returned; an error
/// ends the stream with its mapped status. The call is counted when it ends; a client that
/// goes away cancels the work.
fn spawn<T, F, Fut>(state: &GatewayState, method: &'static str, work: F) -> Answer<T>
where
    T: Send + 'static,
    F: FnOnce(Sender<T>) -> Fut,
    Fut: Future<Output = Result<(), Error>> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(BUFFER);
    let metrics = state.metrics.clone();
    let work = work(tx.clone());
    tokio::spawn(async move {
        let code = tokio::select! {
            result = work => match result {
                Ok(()) => tonic::Code::Ok,
                Err(err) => {
                    if err.kind == ErrorKind::Internal {
                        tracing::error!(method, error = %err.message, "streaming query failed");
                    }
                    let status = mapping::grpc_status(&err);
                    let code = status.code();
                    let _ = tx.send(Err(status)).await;
                    code
                }
            },
            () = tx.closed() => tonic::Code::Cancelled,
        };
        metrics.observe_grpc(method, code);
    });
    Ok(tonic::Response::new(ReceiverStream::new(rx)))
}

/// Sends messages in order; a client that went away is not an error of the query.
async fn send_all<T>(tx: &Sender<T>, messages: Vec<T>) {
    for message in messages {
        if tx.send(Ok(message)).await.is_err() {
            return;
        }
    }
}

/// Runs `work` while forwarding its progress reports, converted by `each`, to `tx`.
async fn with_progress<R, T>(
    work: impl Future<Output = R>,
    mut reports: mpsc::UnboundedReceiver<(SearchMetrics, Vec<TraceSummary>)>,
    mut each: impl FnMut(SearchMetrics, Vec<TraceSummary>) -> Vec<T>,
    tx: &Sender<T>,
) -> R {
    let forward = async {
        while let Some((metrics, settled)) = reports.recv().await {
            send_all(tx, each(metrics, settled)).await;
        }
    };
    let (result, ()) = tokio::join!(work, forward);
    result
}

const SEARCH: &str = "StreamingQuerier/Search";
const SEARCH_TAGS: &str = "StreamingQuerier/SearchTags";
const SEARCH_TAGS_V2: &str = "StreamingQuerier/SearchTagsV2";
const SEARCH_TAG_VALUES: &str = "StreamingQuerier/SearchTagValues";
const SEARCH_TAG_VALUES_V2: &str = "StreamingQuerier/SearchTagValuesV2";
const METRICS_RANGE: &str = "StreamingQuerier/MetricsQueryRange";
const METRICS_INSTANT: &str = "StreamingQuerier/MetricsQueryInstant";

async fn stream_search(
    state: GatewayState,
    tenants: TenantSet,
    request: sextant_model::SearchRequest,
    tx: Sender<SearchResponse>,
) -> Result<(), Error> {
    let Some(tenant) = tenants.single_tenant().cloned() else {
        let answer = search::search_answer(&state, &tenants, request).await?;
        send_all(
            &tx,
            convert::search_messages(answer.traces, &answer.metrics),
        )
        .await;
        return Ok(());
    };
    let (report_tx, reports) = mpsc::unbounded_channel();
    let searcher = state.searcher.clone();
    let work = async move {
        let progress = ChannelProgress(report_tx);
        searcher
            .search_with_progress(&tenant, request, &progress)
            .await
    };
    let mut sent: HashSet<TraceId> = HashSet::new();
    let answer = with_progress(
        work,
        reports,
        |metrics, settled| {
            let fresh: Vec<TraceSummary> = settled
                .into_iter()
                .filter(|t| sent.insert(t.trace_id))
                .collect();
            convert::search_messages(fresh, &metrics)
        },
        &tx,
    )
    .await?;
    let rest: Vec<TraceSummary> = answer
        .traces
        .into_iter()
        .filter(|t| !sent.contains(&t.trace_id))
        .collect();
    send_all(&tx, convert::search_messages(rest, &answer.metrics)).await;
    Ok(())
}

async fn stream_metrics_range(
    state: GatewayState,
    tenants: TenantSet,
    request: sextant_model::MetricsRequest,
    tx: Sender<QueryRangeResponse>,
) -> Result<(), Error> {
    let (report_tx, reports) = mpsc::unbounded_channel();
    let work = {
        let state = state.clone();
        async move {
            let progress = ChannelProgress(report_tx);
            metrics_query::run(&state, &tenants, request, &progress).await
        }
    };
    let answer = with_progress(
        work,
        reports,
        |metrics, _| vec![convert::range_progress(&metrics)],
        &tx,
    )
    .await?;
    send_all(&tx, convert::range_messages(answer)).await;
    Ok(())
}

#[tonic::async_trait]
impl StreamingQuerier for Querier {
    type SearchStream = ReceiverStream<Result<SearchResponse, Status>>;
    type SearchTagsStream = ReceiverStream<Result<SearchTagsResponse, Status>>;
    type SearchTagsV2Stream = ReceiverStream<Result<SearchTagsV2Response, Status>>;
    type SearchTagValuesStream = ReceiverStream<Result<SearchTagValuesResponse, Status>>;
    type SearchTagValuesV2Stream = ReceiverStream<Result<SearchTagValuesV2Response, Status>>;
    type MetricsQueryRangeStream = ReceiverStream<Result<QueryRangeResponse, Status>>;
    type MetricsQueryInstantStream = ReceiverStream<Result<QueryInstantResponse, Status>>;

    async fn search(&self, request: Request<SearchRequest>) -> Answer<SearchResponse> {
        let state = self.state.clone();
        let tenants = tenants(&self.state, &request)?;
        let bounds = search::search_bounds(&state, &tenants);
        let search_request = convert::search_request(request.get_ref(), &bounds)
            .map_err(|err| invalid(&state, SEARCH, err))?;
        spawn(&self.state, SEARCH, move |tx| {
            stream_search(state, tenants, search_request, tx)
        })
    }

    async fn search_tags(&self, request: Request<SearchTagsRequest>) -> Answer<SearchTagsResponse> {
        let state = self.state.clone();
        let tenants = tenants(&self.state, &request)?;
        let names = convert::tag_names_request(request.get_ref(), TagApi::V1)
            .map_err(|err| invalid(&state, SEARCH_TAGS, err))?;
        spawn(&self.state, SEARCH_TAGS, move |tx| async move {
            let answer = search::tag_names_answer(&state, &tenants, names).await?;
            let message = SearchTagsResponse {
                tag_names: search::v1_names(answer.scopes),
                metrics: Some(convert::metadata_metrics(&answer.metrics)),
            };
            send_all(&tx, vec![message]).await;
            Ok(())
        })
    }

    async fn search_tags_v2(
        &self,
        request: Request<SearchTagsRequest>,
    ) -> Answer<SearchTagsV2Response> {
        let state = self.state.clone();
        let tenants = tenants(&self.state, &request)?;
        let names = convert::tag_names_request(request.get_ref(), TagApi::V2)
            .map_err(|err| invalid(&state, SEARCH_TAGS_V2, err))?;
        spawn(&self.state, SEARCH_TAGS_V2, move |tx| async move {
            let answer = search::tag_names_answer(&state, &tenants, names).await?;
            let message = SearchTagsV2Response {
                scopes: answer
                    .scopes
                    .into_iter()
                    .filter(|(_, tags)| !tags.is_empty())
                    .map(|(scope, tags)| SearchTagsV2Scope {
                        name: scope.as_str().to_owned(),
                        tags,
                    })
                    .collect(),
                metrics: Some(convert::metadata_metrics(&answer.metrics)),
            };
            send_all(&tx, vec![message]).await;
            Ok(())
        })
    }

    async fn search_tag_values(
        &self,
        request: Request<SearchTagValuesRequest>,
    ) -> Answer<SearchTagValuesResponse> {
        let state = self.state.clone();
        let tenants = tenants(&self.state, &request)?;
        let values = convert::tag_values_request(request.get_ref(), TagApi::V1)
            .map_err(|err| invalid(&state, SEARCH_TAG_VALUES, err))?;
        spawn(&self.state, SEARCH_TAG_VALUES, move |tx| async move {
            let answer = search::tag_values_answer(&state, &tenants, values).await?;
            let message = SearchTagValuesResponse {
                tag_values: search::v1_values(answer.values),
                metrics: Some(convert::metadata_metrics(&answer.metrics)),
            };
            send_all(&tx, vec![message]).await;
            Ok(())
        })
    }

    async fn search_tag_values_v2(
        &self,
        request: Request<SearchTagValuesRequest>,
    ) -> Answer<SearchTagValuesV2Response> {
        let state = self.state.clone();
        let tenants = tenants(&self.state, &request)?;
        let values = convert::tag_values_request(request.get_ref(), TagApi::V2)
            .map_err(|err| invalid(&state, SEARCH_TAG_VALUES_V2, err))?;
        spawn(&self.state, SEARCH_TAG_VALUES_V2, move |tx| async move {
            let answer = search::tag_values_answer(&state, &tenants, values).await?;
            let message = SearchTagValuesV2Response {
                tag_values: answer
                    .values
                    .into_iter()
                    .map(|v| TagValue {
                        r#type: v.value_type.as_str().to_owned(),
                        value: v.value,
                    })
                    .collect(),
                metrics: Some(convert::metadata_metrics(&answer.metrics)),
            };
            send_all(&tx, vec![message]).await;
            Ok(())
        })
    }

    async fn metrics_query_range(
        &self,
        request: Request<QueryRangeRequest>,
    ) -> Answer<QueryRangeResponse> {
        let state = self.state.clone();
        let tenants = tenants(&self.state, &request)?;
        let now = metrics_query::now_nanos(&state);
        let metrics_request = convert::range_request(request.get_ref(), now)
            .map_err(|err| invalid(&state, METRICS_RANGE, err))?;
        spawn(&self.state, METRICS_RANGE, move |tx| {
            stream_metrics_range(state, tenants, metrics_request, tx)
        })
    }

    async fn metrics_query_instant(
        &self,
        request: Request<QueryInstantRequest>,
    ) -> Answer<QueryInstantResponse> {
        let state = self.state.clone();
        let tenants = tenants(&self.state, &request)?;
        let now = metrics_query::now_nanos(&state);
        let metrics_request = convert::instant_request(request.get_ref(), now)
            .map_err(|err| invalid(&state, METRICS_INSTANT, err))?;
        spawn(&self.state, METRICS_INSTANT, move |tx| async move {
            let answer = metrics_query::run(
                &state,
                &tenants,
                metrics_request,
                &sextant_model::NoProgress,
            )
            .await?;
            send_all(&tx, convert::instant_messages(answer)).await;
            Ok(())
        })
    }
}
