//! The metrics generator (issue #8), built bottom-up. This first slice is pure logic, not yet
//! fed by ingest nor remote-written: Prometheus label names ([`labels`]), histograms with
//! Tempo's bucket semantics ([`histogram`]) and the span-metrics registry ([`span_metrics`]),
//! which turns spans into Tempo's `traces_spanmetrics_*` series with the per-tenant settings
//! of `sextant_model::GeneratorSettings` (dimensions, buckets, active-series limit).

pub(crate) mod histogram;
pub(crate) mod labels;
pub(crate) mod span_metrics;
