//! Which blocks to compact together, and the output's identity.

use std::collections::BTreeMap;
use std::time::Duration;

use sextant_model::{BlockMeta, TenantId};
use sha2::{Digest, Sha256};

use crate::object::BlockId;

/// The limits a plan respects.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PlanLimits {
    pub(crate) window: Duration,
    pub(crate) max_inputs: usize,
    pub(crate) max_block_bytes: u64,
    /// Blocks whose newest span is newer than this (unix ns) are left alone.
    pub(crate) newest_end: u64,
}

/// Groups of a tenant's live blocks to merge, one per time window (by block start time) that
/// has at least two eligible blocks: oldest first, at most `max_inputs`, and while their
/// combined size stays at or under `max_block_bytes`.
pub(crate) fn plan(live: &[BlockMeta], limits: PlanLimits) -> Vec<Vec<BlockMeta>> {
    let window = u64::try_from(limits.window.as_nanos())
        .unwrap_or(u64::MAX)
        .max(1);
    let mut windows: BTreeMap<u64, Vec<&BlockMeta>> = BTreeMap::new();
    for meta in live {
        if meta.range.end > limits.newest_end || meta.size_bytes >= limits.max_block_bytes {
            continue;
        }
        windows
            .entry(meta.range.start / window)
            .or_default()
            .push(meta);
    }
    let mut groups = Vec::new();
    for (_, mut blocks) in windows {
        blocks.sort_by(|a, b| {
            (a.range.start, a.range.end, &a.block_id).cmp(&(
                b.range.start,
                b.range.end,
                &b.block_id,
            ))
        });
        let mut group = Vec::new();
        let mut bytes = 0u64;
        for meta in blocks {
            if group.len() >= limits.max_inputs.max(2) {
                break;
            }
            let Some(total) = bytes
                .checked_add(meta.size_bytes)
                .filter(|&t| t <= limits.max_block_bytes)
            else {
                break;
            };
            bytes = total;
            group.push(meta.clone());
        }
        if group.len() >= 2 {
            groups.push(group);
        }
    }
    groups
}

/// The output block's ID: derived from the tenant and the sorted input IDs, so a retried
/// compaction of the same inputs writes the same objects again instead of adding a copy.
pub(crate) fn output_id(tenant: &TenantId, inputs: &[String]) -> BlockId {
    let mut sorted: Vec<&str> = inputs.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    let mut hash = Sha256::new();
    hash.update(b"sextant-compacted-block-v1\0");
    hash.update((tenant.as_str().len() as u64).to_be_bytes());
    hash.update(tenant.as_str().as_bytes());
    hash.update((sorted.len() as u64).to_be_bytes());
    for id in sorted {
        hash.update((id.len() as u64).to_be_bytes());
        hash.update(id.as_bytes());
    }
    let digest = hash.finalize();
    let mut id = [0; 16];
    id.copy_from_slice(&digest[..16]);
    BlockId::from_bytes(id)
}

#[cfg(test)]
mod tests {
    use sextant_model::{BlockState, TimeRange};

    use super::*;

    const HOUR: u64 = 3_600_000_000_000;

    fn meta(id: &str, start: u64, size: u64) -> BlockMeta {
        BlockMeta {
            tenant: TenantId::new("tenant-a").unwrap(),
            block_id: id.to_owned(),
            range: TimeRange::new(start, start + 10),
            size_bytes: size,
            span_count: 1,
            trace_count: 1,
            compaction_level: 0,
            format_version: 1,
            state: BlockState::Live,
        }
    }

    fn limits() -> PlanLimits {
        PlanLimits {
            window: Duration::from_secs(3600),
            max_inputs: 3,
            max_block_bytes: 100,
            newest_end: u64::MAX,
        }
    }

    fn ids(groups: &[Vec<BlockMeta>]) -> Vec<Vec<&str>> {
        groups
            .iter()
            .map(|g| g.iter().map(|m| m.block_id.as_str()).collect())
            .collect()
    }

    #[test]
    fn groups_by_window_oldest_first_within_limits() {
        let live = [
            meta("w0-c", 30, 10),
            meta("w0-a", 10, 10),
            meta("w0-b", 20, 10),
            meta("w0-d", 40, 10),
            meta("w1-alone", HOUR + 5, 10),
            meta("w2-big", 2 * HOUR, 95),
            meta("w2-small", 2 * HOUR + 1, 10),
            meta("w3-a", 3 * HOUR, 60),
            meta("w3-b", 3 * HOUR + 1, 30),
            meta("w3-c", 3 * HOUR + 2, 30),
        ];
        let groups = plan(&live, limits());
        assert_eq!(
            ids(&groups),
            [vec!["w0-a", "w0-b", "w0-c"], vec!["w3-a", "w3-b"]],
            "max_inputs caps window 0; window 1 has one block; window 2 is over the size cap"
        );
    }

    #[test]
    fn young_and_full_blocks_are_left() {
        let live = [meta("a", 10, 10), meta("b", 20, 10), meta("full", 30, 100)];
        let mut l = limits();
        assert_eq!(ids(&plan(&live, l)), [vec!["a", "b"]]);
        l.newest_end = 25;
        assert!(plan(&live, l).is_empty(), "b is too young");
    }

    #[test]
    fn output_id_depends_on_tenant_and_input_set_only() {
        let t = TenantId::new("tenant-a").unwrap();
        let u = TenantId::new("tenant-b").unwrap();
        let ab = output_id(&t, &["a".into(), "b".into()]);
        assert_eq!(ab, output_id(&t, &["b".into(), "a".into()]));
        assert_ne!(ab, output_id(&u, &["a".into(), "b".into()]));
        assert_ne!(ab, output_id(&t, &["a".into(), "b".into(), "c".into()]));
        assert_ne!(ab, output_id(&t, &["ab".into()]));
    }
}
