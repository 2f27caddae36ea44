//! The internal listener: `/live`, `/ready` and `/metrics`, for probes and Prometheus. Never
//! exposed publicly: `/metrics` names tenants.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use parking_lot::RwLock;
use prometheus_client::registry::Registry;
use sextant_model::ReadinessProbe;

/// Whether the process is ready, and the metrics registries it exposes.
#[derive(Default)]
pub(crate) struct Health {
    /// Why the process as a whole is not ready (starting, replaying, shutting down).
    phase: RwLock<Option<String>>,
    probes: RwLock<Vec<Arc<dyn ReadinessProbe>>>,
    registries: RwLock<Vec<Arc<Registry>>>,
    /// Conditions that leave the process ready but degraded (the control-plane database down
    /// while a snapshot is served), shown on `/ready`.
    warnings: RwLock<Vec<WarningSource>>,
}

/// Says what is degraded, or `None`.
pub(crate) type WarningSource = Box<dyn Fn() -> Option<String> + Send + Sync>;

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("phase", &*self.phase.read())
            .finish_non_exhaustive()
    }
}

impl Health {
    pub(crate) fn new(initial_phase: &str) -> Arc<Self> {
        let health = Self::default();
        *health.phase.write() = Some(initial_phase.to_string());
        Arc::new(health)
    }

    pub(crate) fn set_phase(&self, reason: Option<&str>) {
        *self.phase.write() = reason.map(str::to_string);
    }

    pub(crate) fn add_probe(&self, probe: Arc<dyn ReadinessProbe>) {
        self.probes.write().push(probe);
    }

    pub(crate) fn add_warning_source(&self, source: WarningSource) {
        self.warnings.write().push(source);
    }

    /// What is degraded while ready.
    pub(crate) fn warnings(&self) -> Vec<String> {
        self.warnings.read().iter().filter_map(|w| w()).collect()
    }

    pub(crate) fn add_registry(&self, registry: Registry) {
        self.registries.write().push(Arc::new(registry));
    }

    /// `Ok(())` when ready, otherwise every reason it is not.
    pub(crate) fn readiness(&self) -> Result<(), String> {
        if let Some(reason) = self.phase.read().clone() {
            return Err(reason);
        }
        let reasons: Vec<String> = self
            .probes
            .read()
            .iter()
            .filter_map(|p| p.readiness().err())
            .collect();
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(reasons.join("; "))
        }
    }

    fn encode_metrics(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        for registry in self.registries.read().iter() {
            prometheus_client::encoding::text::encode_registry(&mut out, registry)?;
        }
        prometheus_client::encoding::text::encode_eof(&mut out)?;
        Ok(out)
    }
}

pub(crate) fn router(health: Arc<Health>) -> Router {
    Router::new()
        .route("/live", get(|| async { "live" }))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .with_state(health)
}

async fn ready(State(health): State<Arc<Health>>) -> impl IntoResponse {
    match health.readiness() {
        Ok(()) => {
            let warnings = health.warnings();
            if warnings.is_empty() {
                (StatusCode::OK, "ready".to_string()).into_response()
            } else {
                let body = serde_json::json!({ "status": "ready", "degraded": warnings });
                (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "application/json")],
                    body.to_string(),
                )
                    .into_response()
            }
        }
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {reason}"),
        )
            .into_response(),
    }
}

async fn metrics(State(health): State<Arc<Health>>) -> impl IntoResponse {
    match health.encode_metrics() {
        Ok(body) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
