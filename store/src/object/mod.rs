//! Object storage: typed keys, the configured store and the decorators around it.
//!
//! [`open_store`] returns the store `storage.url` names, wrapped innermost first in a deadline
//! per request ([`timeout`]), retries of transient failures ([`retry`]) and metrics
//! ([`metered`]). Keys are built only by [`BlockPath`]; [`listing`] lists the bucket for
//! repair.

mod config;
#[cfg(test)]
mod decorator_tests;
mod listing;
mod metered;
mod metrics;
mod open;
mod paths;
mod retry;
mod timeout;

pub use config::{S3Options, Secret, StorageConfig};
pub use listing::{
    BlockFolder, RootListing, TenantListing, list_block_folder, list_block_folders, list_tenants,
};
/// Byte and request counts of block reads in the block tests.
#[cfg(test)]
pub(crate) use metered::MeteredStore;
pub use metrics::ObjectStoreMetrics;
pub use open::open_store;
pub use paths::{BlockFile, BlockId, BlockPath};
