//! Storage: the write-ahead log, and (next) object storage, typed object paths, Parquet blocks,
//! compaction and retention. Talks to the catalog and leases only through the model's ports;
//! never speaks SQL or HTTP.
//!
//! The write-ahead log ([`Wal`]) is the ingester's durability promise: an append resolves only
//! once its record is on disk and fsynced (group commit), and replay at start returns every
//! intact record, truncating a torn tail and skipping (counting, logging) damaged regions; it
//! never panics on a bad file. [`scan_segment`] is its pure decoder, shared with the fuzz target.
//!
//! Blocks ([`write_block`], [`find_trace`]) are the immutable Parquet form of completed traces on
//! object storage; the block module documents the schema (format version [`FORMAT_VERSION`]).

mod block;
mod error;
mod wal;

pub use block::{
    BLOOM_FILE, BlockCaches, BlockInfo, BlockOptions, DATA_FILE, FORMAT_VERSION,
    FORMAT_VERSION_KEY, META_FILE, RowGroupInfo, TraceBloom, find_trace, read_block_info,
    write_block,
};
pub use error::{Error, Result, WAL_RETRY_AFTER};
pub use wal::{
    FRAME_HEADER_LEN, FRAME_MAGIC, HeaderState, MAX_RECORD_BYTES, ReplayStats, SEGMENT_HEADER_LEN,
    SEGMENT_MAGIC, SEGMENT_VERSION, ScanResult, ScannedRecord, Wal, WalConfig, WalMetrics,
    WalPosition, scan_segment,
};
