//! Blocks: immutable, columnar files of completed traces on object storage.
//!
//! A block is a folder (`<tenant>/blocks/<block-id>/`, given by the caller) of three objects,
//! written in this order so that a block with a `meta.json` is complete:
//!
//! - `data.parquet`: one row per span, rows sorted by (trace ID, start time, span ID), every
//!   row group holding whole traces; zstd everywhere, dictionary encoding where values repeat;
//!   key-value metadata `sextant.block.format_version` = [`FORMAT_VERSION`].
//! - `bloom.bin`: a bloom filter over the block's trace IDs ([`TraceBloom`]), small and cached,
//!   so a lookup decides "not in this block" without touching `data.parquet`.
//! - `meta.json`: [`BlockInfo`] — format version, block ID, tenant, time range, counts, sizes
//!   and the trace-ID range of each row group.
//!
//! # Schema, format version 1
//!
//! Trace-level columns (the same value on every row of a trace; dictionary/RLE makes the
//! repetition nearly free) exist for TraceQL and for lookups:
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `trace_id` | fixed 16 bytes | trace ID; sort key, min/max statistics pick the row group |
//! | `trace_start_unix_nano` | u64 | earliest span start of the trace |
//! | `trace_duration_nano` | u64 | latest span end − earliest start |
//! | `root_service_name` | string | `service.name` of the root span (first span without a parent, else the earliest) |
//! | `root_span_name` | string | name of that root span |
//!
//! Resource and scope, stored whole (they repeat across spans, so the dictionary reduces them
//! to an index per row):
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `service_name` | string | `service.name` of the span's resource (empty if absent) |
//! | `resource` | binary | protobuf `ResourceSpans` holding only `resource` and `schema_url` (attributes, dropped count, entity refs) |
//! | `scope` | binary | protobuf `ScopeSpans` holding only `scope` and `schema_url` (name, version, attributes, dropped count) |
//!
//! Span columns:
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `span_id` | binary | span ID |
//! | `parent_pos` | i32 | row index of the parent within the trace's rows, −1 if none is found |
//! | `parent_span_id` | binary, null | parent span ID only when `parent_pos` cannot give it (null: resolved, or no parent) |
//! | `start_offset_nano` | i64 | start − `trace_start_unix_nano` (wrapping) |
//! | `duration_nano` | i64 | end − start (wrapping; so an end before the start survives) |
//! | `name` | string | span name |
//! | `kind` | i32 | `SpanKind` |
//! | `flags` | u32 | span flags |
//! | `trace_state` | string | W3C trace state |
//! | `status_code` | i32, null | `Status.code`; null when the span has no status |
//! | `status_message` | string | `Status.message` |
//! | `attributes` | list of struct | one entry per attribute, in order: `key` string, and exactly one of `str` string, `int` i64, `double` f64, `bool` bool, `any` binary (protobuf `AnyValue`: arrays, kvlists, bytes; empty for an `AnyValue` without a value); all null when the attribute has no value |
//! | `dropped_attributes_count` | u32 | |
//! | `events` | binary, null | protobuf `Span` holding only `events` (times, names, attributes, dropped counts); null when none |
//! | `dropped_events_count` | u32 | |
//! | `links` | binary, null | protobuf `Span` holding only `links`; null when none |
//! | `dropped_links_count` | u32 | |
//! | `span_trace_id` | binary, null | the span's own `trace_id` bytes, only when they differ from `trace_id` |
//!
//! Reading a trace back regroups its spans by resource and scope in the order they first
//! appear; everything else is returned exactly as written.
//!
//! Search ([`search_block`]) evaluates a `sextant_model::FetchRequest` as a pre-filter: row
//! groups whose column statistics rule out the time range or an AND-condition are skipped, the
//! conditions' columns alone are read to find passing rows, then every column of only the row
//! groups (and only the rows) of the traces holding them — or, with a [`Projection`], only the
//! columns of the span parts the caller needs.

mod bloom;
mod decode;
mod encode;
mod filter;
mod projection;
mod prune;
mod reader;
mod schema;
mod search;
mod writer;

#[cfg(test)]
mod projection_tests;
#[cfg(test)]
mod search_tests;
#[cfg(test)]
mod testgen;
#[cfg(test)]
mod tests;

pub use bloom::TraceBloom;
pub use projection::Projection;
pub use reader::{BlockCaches, find_trace, read_block_info, read_block_traces};
pub use search::{
    BlockSearchResult, TraceSelect, block_overlaps, search_block, search_block_select,
};
pub use writer::{BlockInfo, BlockOptions, RowGroupInfo, write_block, write_block_from};

/// The version of the block layout this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Parquet key-value metadata key holding [`FORMAT_VERSION`].
pub const FORMAT_VERSION_KEY: &str = "sextant.block.format_version";
/// Parquet footer key: OTLP protobuf bytes of each row group's spans, comma-separated.
pub(crate) const OTLP_BYTES_KEY: &str = "sextant.block.row_group_otlp_bytes";

/// Object names within a block's folder.
pub const DATA_FILE: &str = "data.parquet";
pub const BLOOM_FILE: &str = "bloom.bin";
pub const META_FILE: &str = "meta.json";
