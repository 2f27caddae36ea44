//! Typed object keys: the only place a key is built or taken apart.
//!
//! Layout, tenant first so a tenant's objects share one prefix:
//! `<tenant>/blocks/<block-id>/{data.parquet,meta.json,bloom.bin}`.

use std::fmt;
use std::str::FromStr;

use object_store::path::Path;
use sextant_model::TenantId;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::wal::WalPosition;

/// The folder under a tenant that holds its blocks.
const BLOCKS: &str = "blocks";

/// A block's identity: 128 bits, written as 32 lower-case hex digits.
///
/// Derived, not random: the same tenant, WAL position and sequence give the same ID, so a
/// flush repeated after a crash overwrites its earlier objects instead of adding a copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockId([u8; 16]);

impl BlockId {
    /// Length of the text form.
    pub const TEXT_LEN: usize = 32;

    /// The ID of the block cut for `tenant` from the WAL at `position`, the `sequence`-th
    /// block of that cut. A SHA-256 prefix over a versioned, length-delimited encoding.
    pub fn derive(tenant: &TenantId, position: WalPosition, sequence: u64) -> Self {
        let mut hash = Sha256::new();
        hash.update(b"sextant-block-id-v1\0");
        hash.update((tenant.as_str().len() as u64).to_be_bytes());
        hash.update(tenant.as_str().as_bytes());
        hash.update(position.segment.to_be_bytes());
        hash.update(position.offset.to_be_bytes());
        hash.update(sequence.to_be_bytes());
        let digest = hash.finalize();
        let mut id = [0; 16];
        id.copy_from_slice(&digest[..16]);
        Self(id)
    }

    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Parses the text form; only lower-case hex is accepted, so every ID has one spelling.
    pub fn parse(text: &str) -> Result<Self> {
        let ok = text.len() == Self::TEXT_LEN
            && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !ok {
            return Err(Error::ObjectPath {
                path: text.chars().take(80).collect(),
                reason: "block id is not 32 lower-case hex digits",
            });
        }
        let mut id = [0; 16];
        hex::decode_to_slice(text, &mut id).map_err(|_| Error::ObjectPath {
            path: text.to_owned(),
            reason: "block id is not hex",
        })?;
        Ok(Self(id))
    }
}

impl fmt::Display for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl FromStr for BlockId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

/// One of the objects a block is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockFile {
    /// The spans, as Parquet.
    Data,
    /// `meta.json`: format version, time range, counts, sizes.
    Meta,
    /// The trace-ID pre-filter.
    Bloom,
}

impl BlockFile {
    pub const ALL: [Self; 3] = [Self::Data, Self::Meta, Self::Bloom];

    pub const fn file_name(self) -> &'static str {
        match self {
            Self::Data => "data.parquet",
            Self::Meta => "meta.json",
            Self::Bloom => "bloom.bin",
        }
    }

    fn from_file_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|file| file.file_name() == name)
    }
}

/// The key of one object of one block of one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlockPath {
    tenant: TenantId,
    block: BlockId,
    file: BlockFile,
}

impl BlockPath {
    pub fn new(tenant: TenantId, block: BlockId, file: BlockFile) -> Self {
        Self {
            tenant,
            block,
            file,
        }
    }

    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    pub fn block(&self) -> BlockId {
        self.block
    }

    pub fn file(&self) -> BlockFile {
        self.file
    }

    /// The object key.
    pub fn to_path(&self) -> Path {
        Path::from_iter([
            self.tenant.as_str(),
            BLOCKS,
            &self.block.to_string(),
            self.file.file_name(),
        ])
    }

    /// Every object of a tenant (`<tenant>`), for listing during repair.
    pub fn tenant_prefix(tenant: &TenantId) -> Path {
        Path::from_iter([tenant.as_str()])
    }

    /// Every block of a tenant (`<tenant>/blocks`).
    pub fn blocks_prefix(tenant: &TenantId) -> Path {
        Path::from_iter([tenant.as_str(), BLOCKS])
    }

    /// Every object of one block (`<tenant>/blocks/<block-id>`).
    pub fn block_prefix(tenant: &TenantId, block: BlockId) -> Path {
        Path::from_iter([tenant.as_str(), BLOCKS, &block.to_string()])
    }

    /// Takes a key apart; refuses anything outside the layout.
    pub fn parse(path: &Path) -> Result<Self> {
        let refuse = |reason| Error::ObjectPath {
            path: path.as_ref().chars().take(200).collect(),
            reason,
        };
        let parts: Vec<_> = path.parts().collect();
        let [tenant, blocks, block, file] = parts.as_slice() else {
            return Err(refuse("not <tenant>/blocks/<block-id>/<file>"));
        };
        let tenant = TenantId::new(tenant.as_ref()).map_err(|_| refuse("invalid tenant id"))?;
        if blocks.as_ref() != BLOCKS {
            return Err(refuse("second segment is not \"blocks\""));
        }
        let block =
            BlockId::parse(block.as_ref()).map_err(|_| refuse("invalid block id segment"))?;
        let file = BlockFile::from_file_name(file.as_ref())
            .ok_or_else(|| refuse("unknown block file name"))?;
        Ok(Self::new(tenant, block, file))
    }
}

impl fmt::Display for BlockPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{BLOCKS}/{}/{}",
            self.tenant,
            self.block,
            self.file.file_name()
        )
    }
}

impl FromStr for BlockPath {
    type Err = Error;
    /// Parses a key as text; a key object_store would refuse (`..`, empty segments) is refused.
    fn from_str(s: &str) -> Result<Self> {
        let refuse = |reason| Error::ObjectPath {
            path: s.chars().take(200).collect(),
            reason,
        };
        let path = Path::parse(s).map_err(|_| refuse("not a valid object key"))?;
        // `Path::parse` drops a leading or trailing delimiter; a key has one spelling.
        if path.as_ref() != s {
            return Err(refuse("not in canonical form"));
        }
        Self::parse(&path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tenant(id: &str) -> TenantId {
        TenantId::new(id).unwrap()
    }

    #[test]
    fn keys_are_tenant_first_and_parse_back() {
        let block = BlockId::derive(
            &tenant("acme"),
            WalPosition {
                segment: 3,
                offset: 64,
            },
            0,
        );
        for file in BlockFile::ALL {
            let path = BlockPath::new(tenant("acme"), block, file);
            let key = path.to_path();
            assert_eq!(
                key.as_ref(),
                format!("acme/blocks/{block}/{}", file.file_name())
            );
            assert_eq!(key.as_ref(), path.to_string());
            assert_eq!(BlockPath::parse(&key).unwrap(), path);
            assert_eq!(key.as_ref().parse::<BlockPath>().unwrap(), path);
            assert!(key.prefix_matches(&BlockPath::block_prefix(&tenant("acme"), block)));
            assert!(key.prefix_matches(&BlockPath::blocks_prefix(&tenant("acme"))));
            assert!(key.prefix_matches(&BlockPath::tenant_prefix(&tenant("acme"))));
            assert!(!key.prefix_matches(&BlockPath::tenant_prefix(&tenant("acm"))));
        }
    }

    #[test]
    fn block_ids_are_deterministic_and_distinct() {
        let at = |segment, offset| WalPosition { segment, offset };
        let a = BlockId::derive(&tenant("acme"), at(1, 2), 0);
        assert_eq!(a, BlockId::derive(&tenant("acme"), at(1, 2), 0));
        assert_ne!(a, BlockId::derive(&tenant("acme"), at(1, 2), 1));
        assert_ne!(a, BlockId::derive(&tenant("acme"), at(2, 1), 0));
        assert_ne!(a, BlockId::derive(&tenant("acme"), at(1, 3), 0));
        assert_ne!(a, BlockId::derive(&tenant("other"), at(1, 2), 0));
        // Pinned (computed independently): a changed derivation would make a re-flush after
        // an upgrade write a second copy of a block.
        assert_eq!(
            BlockId::derive(&tenant("single-tenant"), at(0, 0), 0).to_string(),
            "33f6acbc7edc345d7517ec4ab0fbdcad"
        );
        assert_eq!(a.to_string().parse::<BlockId>().unwrap(), a);
    }

    #[test]
    fn refuses_keys_outside_the_layout() {
        let id = "0123456789abcdef0123456789abcdef";
        let bad = [
            "",
            "acme",
            "acme/blocks",
            &format!("acme/blocks/{id}"),
            &format!("acme/blocks/{id}/data.parquet/extra"),
            &format!("acme/wal/{id}/data.parquet"),
            &format!("acme/blocks/{id}/data.csv"),
            &format!("Acme/blocks/{id}/data.parquet"),
            &format!("ab/blocks/{id}/data.parquet"),
            &format!("-acme/blocks/{id}/data.parquet"),
            &format!("../blocks/{id}/data.parquet"),
            &format!("acme/../{id}/data.parquet"),
            "acme/blocks/../data.parquet",
            &format!("acme/blocks/{}/data.parquet", id.to_uppercase()),
            "acme/blocks/0123/data.parquet",
            &format!("acme/blocks/{id}0/meta.json"),
            &format!("acme//blocks/{id}/meta.json"),
            &format!("/acme/blocks/{id}/meta.json"),
        ];
        for key in bad {
            assert!(key.parse::<BlockPath>().is_err(), "accepted {key:?}");
            // `Path::from` escapes `..` and drops empty segments; what stays the same key
            // must be refused as a `Path` too.
            let path = Path::from(key);
            if path.as_ref() == key {
                assert!(BlockPath::parse(&path).is_err(), "accepted path {key:?}");
            }
        }
        // Path::from percent-encodes what it cannot carry; such keys are refused too.
        assert!(
            BlockPath::parse(&Path::from_iter(["acme", "blocks", "a/b", "meta.json"])).is_err()
        );
    }

    #[test]
    fn block_id_text_is_strict() {
        for bad in [
            "",
            "xyz",
            "0123456789ABCDEF0123456789ABCDEF",
            "0123456789abcdef",
        ] {
            assert!(bad.parse::<BlockId>().is_err(), "accepted {bad:?}");
        }
    }

    proptest! {
        #[test]
        fn every_key_round_trips(
            tenant_id in "[a-z0-9][a-z0-9_-]{2,63}",
            bytes in any::<[u8; 16]>(),
            file in 0usize..3,
        ) {
            let path = BlockPath::new(tenant(&tenant_id), BlockId::from_bytes(bytes), BlockFile::ALL[file]);
            let key = path.to_path();
            prop_assert_eq!(BlockPath::parse(&key).unwrap(), path.clone());
            prop_assert_eq!(key.as_ref().parse::<BlockPath>().unwrap(), path.clone());
            prop_assert_eq!(BlockId::parse(&path.block().to_string()).unwrap(), path.block());
        }

        #[test]
        fn parse_never_panics_and_accepts_only_what_it_prints(key in "[a-z0-9/._-]{0,80}") {
            if let Ok(path) = key.parse::<BlockPath>() {
                prop_assert_eq!(path.to_string(), key);
            }
        }
    }
}
