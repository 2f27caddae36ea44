//! Storage: the write-ahead log, and (next) object storage, typed object paths, Parquet blocks,
//! compaction and retention. Talks to the catalog and leases only through the model's ports;
//! never speaks SQL or HTTP.
//!
//! The write-ahead log ([`Wal`]) is the ingester's durability promise: an append resolves only
//! once its record is on disk and fsynced (group commit), and replay at start returns every
//! intact record, truncating a torn tail and skipping (counting, logging) damaged regions; it
//! never panics on a bad file. [`scan_segment`] is its pure decoder, shared with the fuzz target.
//!
//! Object storage is opened from [`StorageConfig`] by [`open_store`] (local disk, S3, GCS,
//! Azure or memory), each request with a deadline, retries of transient failures and metrics.
//! Every object key is built and parsed by [`BlockPath`] (`<tenant>/blocks/<block-id>/<file>`),
//! tenant first; [`BlockId`]s are derived from tenant and WAL position, so a repeated flush
//! overwrites rather than duplicates. Listing the bucket ([`list_tenants`],
//! [`list_block_folders`]) is only for `sextant store repair`.
//!
//! Blocks ([`write_block`], [`find_trace`], [`search_block`], [`read_block_traces`]) are the
//! immutable Parquet form of completed traces on object storage; the block module documents the
//! schema (format version [`FORMAT_VERSION`]).
//!
//! The [`Compactor`] keeps a tenant's blocks in shape under the lease `compaction/<tenant>`:
//! retention retires blocks past the tenant's `block_retention`, compaction merges small blocks
//! of one time window into one (duplicate spans dropped; the swap of inputs for output is one
//! catalog transaction), and retired blocks lose their objects, then their catalog rows, after a
//! grace period. A crash at any [`Step`] leaves every span visible exactly once (tested with
//! [`Faults`]). [`delete_tenant_objects`] removes everything under a deleted tenant's prefix.

mod block;
mod compact;
mod error;
mod object;
mod wal;

pub use block::{
    BLOOM_FILE, BlockCaches, BlockInfo, BlockOptions, BlockSearchResult, DATA_FILE, FORMAT_VERSION,
    FORMAT_VERSION_KEY, META_FILE, Projection, RowGroupInfo, TraceBloom, TraceSelect,
    block_overlaps, find_trace, read_block_info, read_block_traces, search_block,
    search_block_select, write_block, write_block_from,
};
pub use compact::{
    CompactionMetrics, Compactor, CompactorConfig, CompactorParts, Faults, NoFaults, PassReport,
    Step, delete_block_objects, delete_tenant_objects,
};
pub use error::{Error, Result, WAL_RETRY_AFTER};
pub use object::{
    BlockFile, BlockFolder, BlockId, BlockPath, ObjectStoreMetrics, RootListing, S3Options, Secret,
    StorageConfig, TenantListing, list_block_folder, list_block_folders, list_tenants, open_store,
};
/// The object_store crate this one is built against, so users name the same version.
pub use object_store;
pub use wal::{
    FRAME_HEADER_LEN, FRAME_MAGIC, HeaderState, MAX_RECORD_BYTES, ReplayStats, SEGMENT_HEADER_LEN,
    SEGMENT_MAGIC, SEGMENT_VERSION, ScanResult, ScannedRecord, Wal, WalConfig, WalMetrics,
    WalPosition, scan_segment,
};
