//! The data pipeline: the distributor (decode, validate, truncate, regroup by trace), the
//! ingester (WAL append, live traces, completion), the querier (merge live, WAL and blocks) and,
//! later, the metrics generator. Implements the model's `IngestSink` and `TraceReader`; knows
//! nothing of HTTP, gRPC or SQL.
