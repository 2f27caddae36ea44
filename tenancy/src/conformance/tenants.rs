//! Conformance cases of [`TenantStore`]: tenants, limit overrides, API keys and snapshots.

use std::time::Duration;

use sextant_model::{ErrorKind, Limits};

use super::{Harness, tenant};
use crate::auth::authenticate;
use crate::error::Error;
use crate::keys::{Pepper, parse};
use crate::tenant::{LimitOverrides, NewKey, Scopes, TenantStatus};

/// The pepper the cases create keys with.
pub fn test_pepper() -> Pepper {
    Pepper::new(b"conformance-pepper-0123456789".to_vec()).expect("pepper")
}

fn kind<T: std::fmt::Debug>(r: crate::Result<T>) -> ErrorKind {
    r.expect_err("expected an error").kind()
}

pub async fn tenant_create_list_get(h: &Harness) {
    let s = &h.tenants;
    assert!(s.list_tenants().await.expect("list").is_empty());
    let b = s.create_tenant(&tenant("tenant-b"), "B").await.expect("b");
    let a = s.create_tenant(&tenant("tenant-a"), "A").await.expect("a");
    assert_eq!(a.id, tenant("tenant-a"));
    assert_eq!(a.display_name, "A");
    assert_eq!(a.status, TenantStatus::Active);
    assert_eq!(a.limits, LimitOverrides::default());
    assert_eq!(a.created_at, h.clock.now());
    assert_eq!(a.updated_at, h.clock.now());
    let listed = s.list_tenants().await.expect("list");
    assert_eq!(listed, [a.clone(), b.clone()], "ordered by id");
    assert_eq!(s.get_tenant(&a.id).await.expect("get"), Some(a));
    assert_eq!(s.get_tenant(&tenant("tenant-x")).await.expect("get"), None);
}

pub async fn tenant_duplicate_conflicts(h: &Harness) {
    let s = &h.tenants;
    let first = s.create_tenant(&tenant("tenant-a"), "A").await.expect("a");
    h.clock.advance(Duration::from_secs(1));
    let err = s
        .create_tenant(&tenant("tenant-a"), "other")
        .await
        .expect_err("duplicate");
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert_eq!(s.get_tenant(&first.id).await.expect("get"), Some(first));
}

pub async fn tenant_status_changes(h: &Harness) {
    let s = &h.tenants;
    let t = tenant("tenant-a");
    let created = s.create_tenant(&t, "A").await.expect("create");
    for status in [
        TenantStatus::Suspended,
        TenantStatus::Active,
        TenantStatus::Deleting,
    ] {
        h.clock.advance(Duration::from_secs(1));
        let got = s.set_status(&t, status).await.expect("set status");
        assert_eq!(got.status, status);
        assert_eq!(got.updated_at, h.clock.now());
        assert_eq!(got.created_at, created.created_at);
        assert_eq!(s.get_tenant(&t).await.expect("get"), Some(got));
    }
    let unknown = s
        .set_status(&tenant("tenant-x"), TenantStatus::Suspended)
        .await;
    assert_eq!(kind(unknown), ErrorKind::NotFound);
}

pub async fn limit_overrides_round_trip(h: &Harness) {
    let s = &h.tenants;
    let t = tenant("tenant-a");
    s.create_tenant(&t, "A").await.expect("create");
    let overrides = LimitOverrides {
        ingestion_rate_bytes: Some(1_000),
        block_retention: Some(Duration::from_secs(3_600)),
        query_rate: Some(0),
        ..LimitOverrides::default()
    };
    let got = s.set_limits(&t, overrides.clone()).await.expect("set");
    assert_eq!(got.limits, overrides);
    assert_eq!(
        s.get_tenant(&t).await.expect("get").expect("t").limits,
        overrides
    );
    let snap = s.snapshot().await.expect("snapshot");
    let defaults = Limits::default();
    let effective = snap.limits(&t, &defaults);
    assert_eq!(effective.ingestion_rate_bytes, 1_000);
    assert_eq!(effective.block_retention, Duration::from_secs(3_600));
    assert_eq!(
        effective.ingestion_burst_bytes,
        defaults.ingestion_burst_bytes
    );
    // Setting replaces the whole override set.
    let fewer = LimitOverrides {
        max_bytes_per_trace: Some(7),
        ..LimitOverrides::default()
    };
    let got = s.set_limits(&t, fewer.clone()).await.expect("replace");
    assert_eq!(got.limits, fewer);
    let cleared = s
        .set_limits(&t, LimitOverrides::default())
        .await
        .expect("clear");
    assert_eq!(cleared.limits, LimitOverrides::default());
    let unknown = s.set_limits(&tenant("tenant-x"), fewer).await;
    assert_eq!(kind(unknown), ErrorKind::NotFound);
}

pub async fn key_authenticates_until_revoked(h: &Harness) {
    let s = &h.tenants;
    let pepper = test_pepper();
    let t = tenant("tenant-a");
    s.create_tenant(&t, "A").await.expect("create");
    let (key, full) = s
        .create_key(
            NewKey {
                description: "ci".into(),
                ..NewKey::read_write(t.clone())
            },
            &pepper,
        )
        .await
        .expect("create key");
    assert_eq!(parse(&full).expect("parse").key_id, key.key_id);
    assert_eq!(key.tenant, t);
    assert_eq!(key.scopes, Scopes::read_write());
    assert_eq!(key.created_at, h.clock.now());
    assert_eq!(key.description, "ci");
    assert_eq!(
        (key.expires_at, key.revoked_at, key.last_used_at),
        (None, None, None)
    );
    let found = s.find_key(&key.key_id).await.expect("find").expect("found");
    assert_eq!(found.key, key);
    assert!(s.find_key("aaaaaaaaaaaa").await.expect("find").is_none());

    let snap = s.snapshot().await.expect("snapshot");
    let p = authenticate(&snap, &full, &pepper, h.clock.now()).expect("authenticates");
    assert_eq!(p.tenant, t);
    assert_eq!(p.key_id, key.key_id);
    assert_eq!(p.status, TenantStatus::Active);
    // A wrong secret with the right key ID.
    let parsed = parse(&full).expect("parse");
    let (_, other) = crate::keys::generate().expect("generate");
    let other = parse(&other).expect("parse other");
    let wrong = snap.keys[&parsed.key_id]
        .digest
        .matches(&crate::keys::KeyDigest::compute(&pepper, &other.secret));
    assert!(!wrong);
    let other_pepper = Pepper::new(b"not the pepper used....".to_vec()).expect("pepper");
    let err = authenticate(&snap, &full, &other_pepper, h.clock.now()).expect_err("pepper");
    assert!(matches!(err, Error::Unauthenticated));

    // Suspension shows in the principal; the key still authenticates.
    s.set_status(&t, TenantStatus::Suspended)
        .await
        .expect("suspend");
    let snap = s.snapshot().await.expect("snapshot");
    let p = authenticate(&snap, &full, &pepper, h.clock.now()).expect("suspended");
    assert_eq!(p.status, TenantStatus::Suspended);

    h.clock.advance(Duration::from_secs(5));
    let revoked = s.revoke_key(&key.key_id).await.expect("revoke");
    assert_eq!(revoked.revoked_at, Some(h.clock.now()));
    h.clock.advance(Duration::from_secs(5));
    let again = s.revoke_key(&key.key_id).await.expect("revoke again");
    assert_eq!(
        again.revoked_at, revoked.revoked_at,
        "first revocation kept"
    );
    let snap = s.snapshot().await.expect("snapshot");
    let err = authenticate(&snap, &full, &pepper, h.clock.now()).expect_err("revoked");
    assert!(matches!(err, Error::Unauthenticated));
    assert_eq!(
        kind(s.revoke_key("aaaaaaaaaaaa").await),
        ErrorKind::NotFound
    );
}

pub async fn key_expires(h: &Harness) {
    let s = &h.tenants;
    let pepper = test_pepper();
    let t = tenant("tenant-a");
    s.create_tenant(&t, "A").await.expect("create");
    let expiry = h.clock.now() + Duration::from_secs(30);
    let (key, full) = s
        .create_key(
            NewKey {
                expires_at: Some(expiry),
                ..NewKey::read_write(t.clone())
            },
            &pepper,
        )
        .await
        .expect("create key");
    assert_eq!(key.expires_at, Some(expiry));
    let snap = s.snapshot().await.expect("snapshot");
    assert!(authenticate(&snap, &full, &pepper, h.clock.now()).is_ok());
    h.clock.advance(Duration::from_secs(30));
    let err = authenticate(&snap, &full, &pepper, h.clock.now()).expect_err("expired");
    assert!(matches!(err, Error::Unauthenticated));
}

pub async fn key_creation_checks_tenants(h: &Harness) {
    let s = &h.tenants;
    let pepper = test_pepper();
    let (a, b) = (tenant("tenant-a"), tenant("tenant-b"));
    s.create_tenant(&a, "A").await.expect("create");
    let r = s
        .create_key(NewKey::read_write(tenant("tenant-x")), &pepper)
        .await;
    assert_eq!(kind(r), ErrorKind::NotFound);
    let read_b = NewKey {
        read_tenants: vec![b.clone()],
        ..NewKey::read_write(a.clone())
    };
    assert_eq!(
        kind(s.create_key(read_b.clone(), &pepper).await),
        ErrorKind::NotFound
    );
    let none = NewKey {
        scopes: Scopes::default(),
        ..NewKey::read_write(a.clone())
    };
    assert_eq!(
        kind(s.create_key(none, &pepper).await),
        ErrorKind::BadRequest
    );
    assert!(
        s.list_keys(&a).await.expect("list").is_empty(),
        "nothing half-made"
    );
    s.create_tenant(&b, "B").await.expect("create b");
    let (key, _) = s
        .create_key(read_b, &pepper)
        .await
        .expect("with read tenant");
    assert_eq!(key.read_tenants, [b]);
}

pub async fn listed_keys_hold_no_secret(h: &Harness) {
    let s = &h.tenants;
    let pepper = test_pepper();
    let t = tenant("tenant-a");
    s.create_tenant(&t, "A").await.expect("create");
    let mut made = Vec::new();
    for scopes in ["traces:write", "traces:read", "traces:write,traces:read"] {
        h.clock.advance(Duration::from_millis(1));
        let new = NewKey {
            scopes: Scopes::parse(scopes).expect("scopes"),
            ..NewKey::read_write(t.clone())
        };
        made.push(s.create_key(new, &pepper).await.expect("create key"));
    }
    let listed = s.list_keys(&t).await.expect("list");
    let keys: Vec<_> = made.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(listed, keys, "ordered by creation");
    let printed = format!("{listed:?}");
    for (key, full) in &made {
        let secret = parse(full).expect("parse").secret;
        assert!(!printed.contains(&secret), "a listed key shows its secret");
        let record = s.find_key(&key.key_id).await.expect("find").expect("found");
        assert!(!format!("{record:?}").contains(&secret));
        let hex: String = record
            .digest
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(!printed.contains(&hex));
    }
}

pub async fn keys_are_isolated_by_tenant(h: &Harness) {
    let s = &h.tenants;
    let pepper = test_pepper();
    let (a, b) = (tenant("tenant-a"), tenant("tenant-b"));
    s.create_tenant(&a, "A").await.expect("a");
    s.create_tenant(&b, "B").await.expect("b");
    let (ka, fa) = s
        .create_key(NewKey::read_write(a.clone()), &pepper)
        .await
        .expect("ka");
    let (kb, fb) = s
        .create_key(NewKey::read_write(b.clone()), &pepper)
        .await
        .expect("kb");
    let la = s.list_keys(&a).await.expect("list a");
    let lb = s.list_keys(&b).await.expect("list b");
    assert_eq!(la, std::slice::from_ref(&ka));
    assert_eq!(lb, std::slice::from_ref(&kb));
    assert!(
        s.list_keys(&tenant("tenant-x"))
            .await
            .expect("list x")
            .is_empty()
    );
    let snap = s.snapshot().await.expect("snapshot");
    let now = h.clock.now();
    assert_eq!(authenticate(&snap, &fa, &pepper, now).expect("a").tenant, a);
    assert_eq!(authenticate(&snap, &fb, &pepper, now).expect("b").tenant, b);
    // Revoking B's key leaves A's alone.
    s.revoke_key(&kb.key_id).await.expect("revoke b");
    let snap = s.snapshot().await.expect("snapshot");
    assert!(authenticate(&snap, &fa, &pepper, now).is_ok());
    assert!(authenticate(&snap, &fb, &pepper, now).is_err());
    assert_eq!(s.list_keys(&a).await.expect("list a"), [ka]);
}

pub async fn touch_key_records_last_use(h: &Harness) {
    let s = &h.tenants;
    let t = tenant("tenant-a");
    s.create_tenant(&t, "A").await.expect("create");
    let (key, _) = s
        .create_key(NewKey::read_write(t.clone()), &test_pepper())
        .await
        .expect("key");
    let before = s.revision().await.expect("revision");
    let later = h.clock.now() + Duration::from_secs(10);
    s.touch_key(&key.key_id, later).await.expect("touch");
    s.touch_key(&key.key_id, h.clock.now())
        .await
        .expect("touch older");
    s.touch_key("aaaaaaaaaaaa", later)
        .await
        .expect("unknown key is a no-op");
    let found = s.find_key(&key.key_id).await.expect("find").expect("found");
    assert_eq!(found.key.last_used_at, Some(later), "never moves backwards");
    assert_eq!(s.revision().await.expect("revision"), before);
}

pub async fn snapshot_revision_bumps_on_every_mutation(h: &Harness) {
    let s = &h.tenants;
    let pepper = test_pepper();
    let t = tenant("tenant-a");
    let mut last = s.revision().await.expect("revision");
    assert_eq!(s.snapshot().await.expect("snapshot").revision, last);
    let mut moved = |label: &str, now: u64| {
        assert!(
            now > last,
            "{label} did not bump the revision ({last} -> {now})"
        );
        last = now;
    };
    s.create_tenant(&t, "A").await.expect("create");
    moved("create tenant", s.revision().await.expect("rev"));
    s.set_status(&t, TenantStatus::Suspended)
        .await
        .expect("status");
    moved("set status", s.revision().await.expect("rev"));
    s.set_limits(&t, LimitOverrides::default())
        .await
        .expect("limits");
    moved("set limits", s.revision().await.expect("rev"));
    let (key, _) = s
        .create_key(NewKey::read_write(t.clone()), &pepper)
        .await
        .expect("key");
    moved("create key", s.revision().await.expect("rev"));
    s.revoke_key(&key.key_id).await.expect("revoke");
    moved("revoke key", s.revision().await.expect("rev"));
    let snap = s.snapshot().await.expect("snapshot");
    assert_eq!(snap.revision, last);
    assert_eq!(snap.tenants[&t].status, TenantStatus::Suspended);
    assert!(snap.keys[&key.key_id].key.revoked_at.is_some());
    // Failed mutations change nothing.
    let _ = s.create_tenant(&t, "again").await.expect_err("duplicate");
    let _ = s
        .set_status(&tenant("tenant-x"), TenantStatus::Active)
        .await
        .expect_err("unknown");
    let _ = s.revoke_key("aaaaaaaaaaaa").await.expect_err("unknown key");
    assert_eq!(s.revision().await.expect("rev"), last);
}

pub async fn snapshot_is_consistent_under_writes(h: &Harness) {
    // Each tenant gets its key in a later transaction; a snapshot must never show a key of a
    // tenant it does not show, and its revision must account for what it holds.
    let s = h.tenants.clone();
    let pepper = test_pepper();
    let start = s.revision().await.expect("revision");
    let writer = {
        let s = s.clone();
        tokio::spawn(async move {
            for i in 0..15 {
                let t = tenant(&format!("tenant-{i:02}"));
                s.create_tenant(&t, "T").await.expect("create");
                s.create_key(NewKey::read_write(t), &pepper)
                    .await
                    .expect("key");
            }
        })
    };
    let mut seen = 0;
    while !writer.is_finished() || seen < 2 {
        let snap = s.snapshot().await.expect("snapshot");
        for record in snap.keys.values() {
            assert!(
                snap.tenants.contains_key(&record.key.tenant),
                "orphan key in snapshot"
            );
        }
        let mutations = (snap.tenants.len() + snap.keys.len()) as u64;
        assert_eq!(
            snap.revision - start,
            mutations,
            "revision and contents disagree"
        );
        seen += 1;
    }
    writer.await.expect("writer");
    let snap = s.snapshot().await.expect("snapshot");
    assert_eq!((snap.tenants.len(), snap.keys.len()), (15, 15));
    assert_eq!(snap.revision, start + 30);
}
