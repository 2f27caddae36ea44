//! Conformance cases of the block catalog's retirement: retention's `retire`, the retirement
//! time `swap` and `retire` record, the `retired` listing deletion works from, and `forget`.

use std::time::Duration;

use sextant_model::{BlockState, TimeRange};

use super::{Harness, block, ids, tenant};

fn names(blocks: &[sextant_model::BlockMeta]) -> Vec<&str> {
    blocks.iter().map(|b| b.block_id.as_str()).collect()
}

pub async fn live_blocks_in_start_order(h: &Harness) {
    let (a, b) = (tenant("tenant-a"), tenant("tenant-b"));
    for blk in [
        block(&a, "late", 500, 600),
        block(&a, "early-2", 100, 150),
        block(&a, "early-1", 100, 900),
        block(&b, "other", 0, 10),
    ] {
        h.catalog.register(blk).await.expect("register");
    }
    let live = h.catalog.live_blocks(&a).await.expect("live");
    assert_eq!(names(&live), ["early-1", "early-2", "late"]);
    assert!(
        live.iter()
            .all(|m| m.state == BlockState::Live && m.tenant == a)
    );
    h.catalog
        .swap(&a, &["late".to_owned()], Vec::new())
        .await
        .expect("retire");
    let live = h.catalog.live_blocks(&a).await.expect("live");
    assert_eq!(names(&live), ["early-1", "early-2"]);
    assert!(
        h.catalog
            .live_blocks(&tenant("tenant-c"))
            .await
            .expect("live")
            .is_empty()
    );
    let tenants = h.catalog.tenants_with_blocks().await.expect("tenants");
    assert_eq!(tenants, [a, b]);
}

pub async fn retire_hides_blocks_and_records_when(h: &Harness) {
    let t = tenant("tenant-a");
    for (id, s, e) in [("a", 0, 10), ("b", 5, 20), ("c", 30, 40)] {
        h.catalog
            .register(block(&t, id, s, e))
            .await
            .expect("register");
    }
    let first = h.clock.now();
    let n = h
        .catalog
        .retire(&t, &["a".to_owned(), "b".to_owned(), "missing".to_owned()])
        .await
        .expect("retire");
    assert_eq!(n, 2, "only live blocks count");
    assert_eq!(ids(h, &t, 0, 100).await, ["c"]);
    // Idempotent: retired blocks are left as they are.
    assert_eq!(
        h.catalog
            .retire(&t, &["a".to_owned()])
            .await
            .expect("again"),
        0
    );
    // Another tenant's retire touches nothing here.
    assert_eq!(
        h.catalog
            .retire(&tenant("tenant-b"), &["c".to_owned()])
            .await
            .expect("other tenant"),
        0
    );
    assert_eq!(ids(h, &t, 0, 100).await, ["c"]);
    h.clock.advance(Duration::from_secs(10));
    assert_eq!(h.catalog.retire(&t, &["c".to_owned()]).await.expect("c"), 1);
    let before_first = first - Duration::from_millis(1);
    assert!(
        h.catalog
            .retired(&t, before_first)
            .await
            .expect("retired")
            .is_empty()
    );
    let due = h.catalog.retired(&t, first).await.expect("retired");
    assert_eq!(names(&due), ["a", "b"]);
    assert!(due.iter().all(|m| m.state == BlockState::Retired));
    let all = h.catalog.retired(&t, h.clock.now()).await.expect("retired");
    assert_eq!(names(&all), ["a", "b", "c"]);
    assert!(
        h.catalog
            .retired(&tenant("tenant-b"), h.clock.now())
            .await
            .expect("other tenant")
            .is_empty()
    );
    // Retired blocks are no candidates over any range.
    let got = h
        .catalog
        .candidates(&t, TimeRange::new(0, u64::MAX))
        .await
        .expect("candidates");
    assert!(got.is_empty());
}

pub async fn swap_records_when_inputs_retire(h: &Harness) {
    let t = tenant("tenant-a");
    for id in ["i1", "i2"] {
        h.catalog
            .register(block(&t, id, 0, 10))
            .await
            .expect("register");
    }
    h.clock.advance(Duration::from_secs(60));
    let at = h.clock.now();
    h.catalog
        .swap(
            &t,
            &["i1".to_owned(), "i2".to_owned()],
            vec![block(&t, "o1", 0, 10)],
        )
        .await
        .expect("swap");
    assert!(
        h.catalog
            .retired(&t, at - Duration::from_millis(1))
            .await
            .expect("retired")
            .is_empty(),
        "retirement time is the swap's, not the registration's"
    );
    let due = h.catalog.retired(&t, at).await.expect("retired");
    assert_eq!(names(&due), ["i1", "i2"]);
    let live = h.catalog.live_blocks(&t).await.expect("live");
    assert_eq!(names(&live), ["o1"]);
}

pub async fn forget_removes_only_retired_blocks(h: &Harness) {
    let (a, b) = (tenant("tenant-a"), tenant("tenant-b"));
    for blk in [
        block(&a, "live", 0, 10),
        block(&a, "old", 0, 10),
        block(&b, "old", 0, 10),
    ] {
        h.catalog.register(blk).await.expect("register");
    }
    h.catalog
        .retire(&a, &["old".to_owned()])
        .await
        .expect("retire");
    assert!(!h.catalog.forget(&a, "live").await.expect("forget live"));
    assert_eq!(ids(h, &a, 0, 100).await, ["live"]);
    assert!(!h.catalog.forget(&b, "old").await.expect("b's live block"));
    assert_eq!(ids(h, &b, 0, 100).await, ["old"]);
    assert!(!h.catalog.is_forgotten(&a, "old").await.expect("not yet"));
    assert!(h.catalog.forget(&a, "old").await.expect("forget"));
    // Remembered, for this tenant only: a replayed re-flush of it must be dropped.
    assert!(h.catalog.is_forgotten(&a, "old").await.expect("remembered"));
    assert!(
        !h.catalog
            .is_forgotten(&b, "old")
            .await
            .expect("other tenant")
    );
    assert!(
        !h.catalog
            .is_forgotten(&a, "live")
            .await
            .expect("live block")
    );
    assert!(!h.catalog.forget(&a, "old").await.expect("forget again"));
    assert!(!h.catalog.forget(&a, "missing").await.expect("unknown"));
    assert!(
        h.catalog
            .retired(&a, h.clock.now())
            .await
            .expect("retired")
            .is_empty()
    );
    // A forgotten block can be registered again (a repair re-registering objects it found).
    h.catalog
        .register(block(&a, "old", 0, 10))
        .await
        .expect("register again");
    assert_eq!(ids(h, &a, 0, 100).await, ["live", "old"]);
    // A tenant whose last block is forgotten is no longer listed.
    h.catalog
        .retire(&b, &["old".to_owned()])
        .await
        .expect("retire");
    assert!(h.catalog.forget(&b, "old").await.expect("forget"));
    assert_eq!(h.catalog.tenants_with_blocks().await.expect("tenants"), [a]);
}
