//! Listing the bucket, for repair only: queries find blocks through the catalog, never here.
//!
//! [`list_tenants`] lists the root with a delimiter (one entry per tenant folder);
//! [`list_block_folders`] lists everything under one tenant and groups the keys that parse as
//! [`BlockPath`]s by block. A key outside the layout is returned as foreign, never guessed at.

use std::collections::BTreeMap;

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore};
use sextant_model::TenantId;

use super::paths::{BlockFile, BlockId, BlockPath};
use crate::error::{Error, Result};

/// The tenant folders at the root of the store, and what else is there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RootListing {
    /// Folders whose name is a valid tenant ID, in order.
    pub tenants: Vec<TenantId>,
    /// Objects at the root and folders whose name is not a tenant ID.
    pub foreign: Vec<Path>,
}

/// The objects of one block folder (`<tenant>/blocks/<block-id>/`), as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockFolder {
    pub tenant: TenantId,
    pub block: BlockId,
    /// Every object of the folder whose key parses as a [`BlockPath`].
    pub objects: Vec<ObjectMeta>,
}

impl BlockFolder {
    /// The folder's prefix, as `read_block_info` and `find_trace` take it.
    pub fn prefix(&self) -> Path {
        BlockPath::block_prefix(&self.tenant, self.block)
    }

    /// Whether the listing holds `file`.
    pub fn has(&self, file: BlockFile) -> bool {
        let key = BlockPath::new(self.tenant.clone(), self.block, file).to_path();
        self.objects.iter().any(|o| o.location == key)
    }

    /// The latest modification time of any object, in unix milliseconds (`None` when empty).
    pub fn newest_modified_ms(&self) -> Option<i64> {
        self.objects
            .iter()
            .map(|o| o.last_modified.timestamp_millis())
            .max()
    }
}

/// One tenant's objects: block folders in block-ID order, and keys outside the layout.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantListing {
    pub folders: Vec<BlockFolder>,
    pub foreign: Vec<Path>,
}

/// Lists the root of the store with a delimiter: tenant folders, and anything else.
pub async fn list_tenants(store: &dyn ObjectStore) -> Result<RootListing> {
    let listed = store
        .list_with_delimiter(None)
        .await
        .map_err(|e| Error::object_store("list the store root", e))?;
    let mut out = RootListing::default();
    for prefix in listed.common_prefixes {
        let name = prefix.filename().map(str::to_owned);
        match name.as_deref().map(TenantId::new) {
            Some(Ok(tenant)) if BlockPath::tenant_prefix(&tenant) == prefix => {
                out.tenants.push(tenant)
            }
            _ => out.foreign.push(prefix),
        }
    }
    out.foreign
        .extend(listed.objects.into_iter().map(|o| o.location));
    out.tenants.sort();
    out.foreign.sort();
    Ok(out)
}

/// Lists every object under `<tenant>/` and groups the block objects by folder.
pub async fn list_block_folders(
    store: &dyn ObjectStore,
    tenant: &TenantId,
) -> Result<TenantListing> {
    let prefix = BlockPath::tenant_prefix(tenant);
    let objects: Vec<ObjectMeta> = store
        .list(Some(&prefix))
        .try_collect()
        .await
        .map_err(|e| Error::object_store(format!("list {prefix}"), e))?;
    let mut folders: BTreeMap<BlockId, Vec<ObjectMeta>> = BTreeMap::new();
    let mut foreign = Vec::new();
    for object in objects {
        match BlockPath::parse(&object.location) {
            Ok(path) if path.tenant() == tenant => {
                folders.entry(path.block()).or_default().push(object)
            }
            _ => foreign.push(object.location),
        }
    }
    foreign.sort();
    let folders = folders
        .into_iter()
        .map(|(block, mut objects)| {
            objects.sort_by(|a, b| a.location.cmp(&b.location));
            BlockFolder {
                tenant: tenant.clone(),
                block,
                objects,
            }
        })
        .collect();
    Ok(TenantListing { folders, foreign })
}

/// Lists one block folder (to look again right before deleting it).
pub async fn list_block_folder(
    store: &dyn ObjectStore,
    tenant: &TenantId,
    block: BlockId,
) -> Result<BlockFolder> {
    let prefix = BlockPath::block_prefix(tenant, block);
    let listed: Vec<ObjectMeta> = store
        .list(Some(&prefix))
        .try_collect()
        .await
        .map_err(|e| Error::object_store(format!("list {prefix}"), e))?;
    let mut objects: Vec<ObjectMeta> = listed
        .into_iter()
        .filter(|o| {
            BlockPath::parse(&o.location).is_ok_and(|p| p.tenant() == tenant && p.block() == block)
        })
        .collect();
    objects.sort_by(|a, b| a.location.cmp(&b.location));
    Ok(BlockFolder {
        tenant: tenant.clone(),
        block,
        objects,
    })
}

#[cfg(test)]
mod tests {
    use object_store::memory::InMemory;
    use object_store::{ObjectStoreExt, PutPayload};

    use super::*;

    fn tenant(id: &str) -> TenantId {
        TenantId::new(id).unwrap()
    }

    async fn put(store: &InMemory, key: &str) {
        store
            .put(&Path::from(key), PutPayload::from_static(b"x"))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn groups_block_objects_and_sets_aside_the_rest() {
        let store = InMemory::new();
        let a = "0123456789abcdef0123456789abcdef";
        let b = "fedcba9876543210fedcba9876543210";
        put(&store, &format!("acme/blocks/{a}/data.parquet")).await;
        put(&store, &format!("acme/blocks/{a}/meta.json")).await;
        put(&store, &format!("acme/blocks/{b}/bloom.bin")).await;
        put(&store, &format!("acme/blocks/{b}/notes.txt")).await;
        put(&store, "acme/other/file").await;
        put(&store, "globex/blocks/xyz/data.parquet").await;
        put(&store, "README").await;
        put(&store, "UPPER/blocks/x").await;

        let root = list_tenants(&store).await.unwrap();
        assert_eq!(root.tenants, vec![tenant("acme"), tenant("globex")]);
        assert_eq!(
            root.foreign,
            vec![Path::from("README"), Path::from("UPPER")]
        );

        let listing = list_block_folders(&store, &tenant("acme")).await.unwrap();
        assert_eq!(listing.folders.len(), 2);
        let first = &listing.folders[0];
        assert_eq!(first.block.to_string(), a);
        assert!(first.has(BlockFile::Data) && first.has(BlockFile::Meta));
        assert!(!first.has(BlockFile::Bloom));
        assert_eq!(first.prefix(), Path::from(format!("acme/blocks/{a}")));
        assert!(first.newest_modified_ms().is_some());
        assert_eq!(listing.folders[1].objects.len(), 1);
        assert_eq!(
            listing.foreign,
            vec![
                Path::from(format!("acme/blocks/{b}/notes.txt")),
                Path::from("acme/other/file"),
            ]
        );

        let one = list_block_folder(&store, &tenant("acme"), first.block)
            .await
            .unwrap();
        assert_eq!(&one, first);
        let globex = list_block_folders(&store, &tenant("globex")).await.unwrap();
        assert!(globex.folders.is_empty());
        assert_eq!(globex.foreign.len(), 1);
    }
}
