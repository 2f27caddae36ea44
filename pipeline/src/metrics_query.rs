//! TraceQL metrics over live traces and blocks ([`MetricsQuerier`] for [`Pipeline`]).

use async_trait::async_trait;
use sextant_model::{
    Error as ModelError, MetricsQuerier, MetricsRequest, MetricsResponse, Progress, TenantId,
};

use crate::Pipeline;

#[async_trait]
impl MetricsQuerier for Pipeline {
    async fn query_range(
        &self,
        _tenant: &TenantId,
        _request: MetricsRequest,
        _progress: &dyn Progress,
    ) -> sextant_model::Result<MetricsResponse> {
        // Replaced by the evaluator in this next commit.
        Err(ModelError::bad_request(
            "TraceQL metrics are not evaluated yet",
        ))
    }
}
