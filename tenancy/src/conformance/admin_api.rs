//! Conformance cases of what the admin API needs: tenant versions, updates, paging and purges,
//! the audit log, query counts and storage levels.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use sextant_model::{
    ErrorKind, GeneratorProcessor, GeneratorSettings, RemoteWriteTarget, TimeRange,
};

use super::{Harness, block, tenant, test_pepper};
use crate::audit::{AuditQuery, NewAuditEntry};
use crate::error::Error;
use crate::tenant::{LimitOverrides, NewKey, TenantQuery, TenantStatus, TenantUpdate};
use crate::usage::{StorageLevel, UsageRow, UtcDay};

fn kind<T: std::fmt::Debug>(r: crate::Result<T>) -> ErrorKind {
    r.expect_err("expected an error").kind()
}

fn generator() -> GeneratorSettings {
    let mut headers = BTreeMap::new();
    headers.insert("Authorization".to_owned(), "Bearer secret".to_owned());
    GeneratorSettings {
        processors: vec![
            GeneratorProcessor::ServiceGraphs,
            GeneratorProcessor::SpanMetrics,
        ],
        dimensions: vec!["http.method".into()],
        histogram_buckets: vec![0.1, 0.5, 2.5],
        max_active_series: 123,
        remote_write: Some(RemoteWriteTarget {
            headers,
            add_org_id_header: false,
            ..RemoteWriteTarget::new("https://prom.example/api/v1/write")
        }),
        status_message: true,
        target_info: true,
    }
}

pub async fn tenant_versions_and_generator_settings(h: &Harness) {
    let s = &h.tenants;
    let t = tenant("tenant-a");
    let created = s.create_tenant(&t, "A").await.expect("create");
    assert_eq!(created.version, 1);
    assert_eq!(created.generator, GeneratorSettings::default());
    let v2 = s
        .set_status(&t, TenantStatus::Suspended)
        .await
        .expect("status");
    assert_eq!(v2.version, 2);
    let v3 = s
        .set_limits(&t, LimitOverrides::default())
        .await
        .expect("limits");
    assert_eq!(v3.version, 3);
    h.clock.advance(Duration::from_secs(1));
    let update = TenantUpdate {
        generator: Some(generator()),
        ..TenantUpdate::default()
    };
    let v4 = s.update_tenant(&t, update, None).await.expect("generator");
    assert_eq!(v4.version, 4);
    assert_eq!(v4.generator, generator());
    assert_eq!(v4.updated_at, h.clock.now());
    assert_eq!(v4.status, TenantStatus::Suspended, "unset fields kept");
    assert_eq!(s.get_tenant(&t).await.expect("get"), Some(v4.clone()));
    let snap = s.snapshot().await.expect("snapshot");
    assert_eq!(snap.tenants[&t], v4);
    let listed = s.list_tenants().await.expect("list");
    assert_eq!(listed, [v4]);
}

pub async fn tenant_update_sets_fields_in_one_change(h: &Harness) {
    let s = &h.tenants;
    let t = tenant("tenant-a");
    s.create_tenant(&t, "A").await.expect("create");
    let before = s.revision().await.expect("revision");
    h.clock.advance(Duration::from_secs(1));
    let limits = LimitOverrides {
        query_rate: Some(3),
        ..LimitOverrides::default()
    };
    let update = TenantUpdate {
        display_name: Some("Tenant A".into()),
        status: Some(TenantStatus::Suspended),
        limits: Some(limits.clone()),
        generator: Some(generator()),
    };
    let got = s.update_tenant(&t, update, Some(1)).await.expect("update");
    assert_eq!(
        (got.display_name.as_str(), got.status, got.version),
        ("Tenant A", TenantStatus::Suspended, 2)
    );
    assert_eq!(got.limits, limits);
    assert_eq!(got.generator, generator());
    assert_eq!(got.updated_at, h.clock.now());
    assert_eq!(s.revision().await.expect("revision"), before + 1);
    // No field: nothing changes, not even the version or the revision.
    h.clock.advance(Duration::from_secs(1));
    let same = s
        .update_tenant(&t, TenantUpdate::default(), Some(2))
        .await
        .expect("empty update");
    assert_eq!(same, got);
    assert_eq!(s.get_tenant(&t).await.expect("get"), Some(got.clone()));
    assert_eq!(s.revision().await.expect("revision"), before + 1);
    // Invalid settings are refused, naming the field, and change nothing.
    let bad = TenantUpdate {
        display_name: Some("changed".into()),
        limits: Some(LimitOverrides {
            ingestion_rate_bytes: Some(0),
            ..LimitOverrides::default()
        }),
        ..TenantUpdate::default()
    };
    let err = s.update_tenant(&t, bad, None).await.expect_err("invalid");
    assert_eq!(err.kind(), ErrorKind::BadRequest);
    assert!(err.to_string().contains("ingestion_rate_bytes"), "{err}");
    let bad = TenantUpdate {
        generator: Some(GeneratorSettings {
            histogram_buckets: vec![2.0, 1.0],
            ..GeneratorSettings::default()
        }),
        ..TenantUpdate::default()
    };
    assert_eq!(
        kind(s.update_tenant(&t, bad, None).await),
        ErrorKind::BadRequest
    );
    assert_eq!(s.get_tenant(&t).await.expect("get"), Some(got));
    let unknown = s
        .update_tenant(&tenant("tenant-x"), TenantUpdate::default(), None)
        .await;
    assert_eq!(kind(unknown), ErrorKind::NotFound);
    assert_eq!(s.revision().await.expect("revision"), before + 1);
}

pub async fn tenant_update_refuses_a_stale_version(h: &Harness) {
    let s = &h.tenants;
    let t = tenant("tenant-a");
    s.create_tenant(&t, "A").await.expect("create");
    let v2 = s
        .update_tenant(
            &t,
            TenantUpdate {
                display_name: Some("first".into()),
                ..TenantUpdate::default()
            },
            Some(1),
        )
        .await
        .expect("first edit");
    let revision = s.revision().await.expect("revision");
    // A second editor who read version 1 loses.
    let late = TenantUpdate {
        display_name: Some("second".into()),
        ..TenantUpdate::default()
    };
    let err = s
        .update_tenant(&t, late.clone(), Some(1))
        .await
        .expect_err("stale");
    assert!(matches!(err, Error::Stale { current: 2 }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::PreconditionFailed);
    let err = s
        .update_tenant(&t, TenantUpdate::default(), Some(7))
        .await
        .expect_err("stale empty update");
    assert!(matches!(err, Error::Stale { current: 2 }), "{err:?}");
    assert_eq!(s.get_tenant(&t).await.expect("get"), Some(v2));
    assert_eq!(s.revision().await.expect("revision"), revision);
    let v3 = s.update_tenant(&t, late, Some(2)).await.expect("re-read");
    assert_eq!((v3.display_name.as_str(), v3.version), ("second", 3));
    // Of racing editors at the same version exactly one wins.
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..4 {
        let s = h.tenants.clone();
        let t = t.clone();
        tasks.spawn(async move {
            let update = TenantUpdate {
                display_name: Some(format!("racer {n}")),
                ..TenantUpdate::default()
            };
            s.update_tenant(&t, update, Some(3)).await
        });
    }
    let mut won = 0;
    while let Some(done) = tasks.join_next().await {
        match done.expect("task") {
            Ok(t) => {
                won += 1;
                assert_eq!(t.version, 4);
            }
            Err(Error::Stale { current: 4 }) => {}
            Err(e) if e.kind() == ErrorKind::Unavailable => {}
            Err(e) => panic!("unexpected error {e:?}"),
        }
    }
    assert_eq!(won, 1, "exactly one editor wins");
}

pub async fn tenant_deleting_is_final(h: &Harness) {
    let s = &h.tenants;
    let t = tenant("tenant-a");
    s.create_tenant(&t, "A").await.expect("create");
    let deleting = s
        .set_status(&t, TenantStatus::Deleting)
        .await
        .expect("delete");
    for status in TenantStatus::ALL {
        let update = TenantUpdate {
            status: Some(status),
            ..TenantUpdate::default()
        };
        assert_eq!(
            kind(s.update_tenant(&t, update, None).await),
            ErrorKind::BadRequest,
            "{status}"
        );
        assert_eq!(kind(s.set_status(&t, status).await), ErrorKind::BadRequest);
    }
    assert_eq!(s.get_tenant(&t).await.expect("get"), Some(deleting));
    // Its other fields can still be edited; its ID stays taken.
    let renamed = s
        .update_tenant(
            &t,
            TenantUpdate {
                display_name: Some("going".into()),
                ..TenantUpdate::default()
            },
            None,
        )
        .await
        .expect("rename");
    assert_eq!(renamed.status, TenantStatus::Deleting);
    assert_eq!(
        kind(s.create_tenant(&t, "again").await),
        ErrorKind::Conflict
    );
}

pub async fn tenant_pages_filter_by_status(h: &Harness) {
    let s = &h.tenants;
    let mut suspended = Vec::new();
    for i in 0..7 {
        let t = tenant(&format!("tenant-{i}"));
        s.create_tenant(&t, "T").await.expect("create");
        if i % 2 == 1 {
            s.set_status(&t, TenantStatus::Suspended)
                .await
                .expect("suspend");
            suspended.push(t);
        }
    }
    // All of them, two at a time.
    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let query = TenantQuery {
            status: None,
            after: after.clone(),
            limit: 2,
        };
        let page = s.list_tenants_page(&query).await.expect("page");
        pages += 1;
        assert!(page.tenants.len() <= 2);
        seen.extend(page.tenants.iter().map(|t| t.id.clone()));
        match page.next {
            Some(next) => {
                assert_eq!(Some(&next), page.tenants.last().map(|t| &t.id));
                after = Some(next);
            }
            None => break,
        }
    }
    assert_eq!(pages, 4);
    let all: Vec<_> = (0..7).map(|i| tenant(&format!("tenant-{i}"))).collect();
    assert_eq!(seen, all);
    // Exactly a page's worth left: no further page is promised.
    let query = TenantQuery {
        status: None,
        after: Some(tenant("tenant-4")),
        limit: 2,
    };
    let page = s.list_tenants_page(&query).await.expect("page");
    assert_eq!(page.tenants.len(), 2);
    assert_eq!(page.next, None);
    // Suspended ones only, over two pages.
    let query = TenantQuery {
        status: Some(TenantStatus::Suspended),
        after: None,
        limit: 2,
    };
    let first = s.list_tenants_page(&query).await.expect("page");
    assert_eq!(first.next, Some(tenant("tenant-3")));
    let query = TenantQuery {
        after: first.next.clone(),
        ..query
    };
    let second = s.list_tenants_page(&query).await.expect("page");
    assert_eq!(second.next, None);
    let ids: Vec<_> = first
        .tenants
        .iter()
        .chain(&second.tenants)
        .map(|t| {
            assert_eq!(t.status, TenantStatus::Suspended);
            t.id.clone()
        })
        .collect();
    assert_eq!(ids, suspended);
    let deleting = TenantQuery {
        status: Some(TenantStatus::Deleting),
        after: None,
        limit: 10,
    };
    let none = s.list_tenants_page(&deleting).await.expect("page");
    assert!(none.tenants.is_empty() && none.next.is_none());
    assert!(
        h.db.tenants_in_status(TenantStatus::Suspended)
            .await
            .expect("in status")
            == suspended
    );
    for limit in [0, TenantQuery::MAX_LIMIT + 1] {
        let query = TenantQuery {
            status: None,
            after: None,
            limit,
        };
        assert_eq!(
            kind(s.list_tenants_page(&query).await),
            ErrorKind::BadRequest
        );
    }
}

pub async fn purge_only_a_deleting_tenant(h: &Harness) {
    let s = &h.tenants;
    let t = tenant("tenant-a");
    assert!(!s.purge_tenant(&t).await.expect("unknown"));
    s.create_tenant(&t, "A").await.expect("create");
    let revision = s.revision().await.expect("revision");
    for status in [TenantStatus::Active, TenantStatus::Suspended] {
        if status != TenantStatus::Active {
            s.set_status(&t, status).await.expect("status");
        }
        assert_eq!(kind(s.purge_tenant(&t).await), ErrorKind::BadRequest);
        assert!(s.get_tenant(&t).await.expect("get").is_some());
    }
    assert_eq!(s.revision().await.expect("revision"), revision + 1);
}

pub async fn purge_removes_everything_but_usage_and_audit(h: &Harness) {
    let s = &h.tenants;
    let pepper = test_pepper();
    // An underscore: a LIKE wildcard that must not match `tenxa`.
    let (a, b, x) = (tenant("ten_a"), tenant("tenant-b"), tenant("tenxa"));
    for t in [&a, &b, &x] {
        s.create_tenant(t, "T").await.expect("create");
    }
    let (key_a, _) = s
        .create_key(NewKey::read_write(a.clone()), &pepper)
        .await
        .expect("key a");
    let reader = NewKey {
        read_tenants: vec![a.clone(), x.clone()],
        ..NewKey::read_write(b.clone())
    };
    let (key_b, _) = s.create_key(reader, &pepper).await.expect("key b");
    h.catalog
        .register(block(&a, "a1", 0, 10))
        .await
        .expect("a1");
    h.catalog
        .register(block(&b, "b1", 0, 10))
        .await
        .expect("b1");
    // A forgotten block of the tenant: its memory goes with the tenant.
    h.catalog
        .register(block(&a, "a0", 0, 10))
        .await
        .expect("a0");
    h.catalog
        .retire(&a, &["a0".to_owned()])
        .await
        .expect("retire");
    assert!(h.catalog.forget(&a, "a0").await.expect("forget"));
    let ttl = Duration::from_secs(60);
    for name in ["compaction/ten_a", "retention/ten_a", "compaction/tenxa"] {
        let got = h.lease.acquire(name, "worker", ttl).await.expect("lease");
        assert!(got.is_some(), "{name}");
    }
    let day: UtcDay = "2026-03-01".parse().expect("day");
    let mut usage = UsageRow::empty(a.clone(), day);
    usage.accepted_bytes = 10;
    h.usage.add_usage(&[usage]).await.expect("usage");
    let entry = NewAuditEntry {
        actor: "admin".into(),
        action: "tenant.delete".into(),
        tenant: Some(a.clone()),
        target: String::new(),
        before: None,
        after: None,
    };
    h.audit.append_audit(entry).await.expect("audit");

    s.set_status(&a, TenantStatus::Deleting)
        .await
        .expect("deleting");
    let revision = s.revision().await.expect("revision");
    assert!(s.purge_tenant(&a).await.expect("purge"));
    assert!(s.revision().await.expect("revision") > revision);
    assert_eq!(s.get_tenant(&a).await.expect("get"), None);
    assert!(s.find_key(&key_a.key_id).await.expect("find").is_none());
    assert!(s.list_keys(&a).await.expect("keys").is_empty());
    let snap = s.snapshot().await.expect("snapshot");
    assert!(!snap.tenants.contains_key(&a));
    assert_eq!(
        snap.keys[&key_b.key_id].key.read_tenants,
        std::slice::from_ref(&x)
    );
    let everything = TimeRange::new(0, u64::MAX);
    let blocks = h.catalog.candidates(&a, everything).await.expect("a");
    assert!(blocks.is_empty());
    let blocks = h.catalog.candidates(&b, everything).await.expect("b");
    assert_eq!(blocks.len(), 1, "other tenants' blocks stay");
    assert!(
        !h.catalog.is_forgotten(&a, "a0").await.expect("forgotten"),
        "a purged tenant's forgotten blocks are remembered"
    );
    for name in ["compaction/ten_a", "retention/ten_a"] {
        let got = h.lease.acquire(name, "other", ttl).await.expect("lease");
        assert!(got.is_some(), "{name} was not removed");
    }
    let got = h
        .lease
        .acquire("compaction/tenxa", "other", ttl)
        .await
        .expect("lease");
    assert_eq!(got, None, "another tenant's lease was removed");
    // Billing records stay.
    let kept = h.usage.usage(&a, day, day).await.expect("usage");
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].accepted_bytes, 10);
    let query = AuditQuery {
        tenant: Some(a.clone()),
        before_id: None,
        limit: 10,
    };
    assert_eq!(h.audit.list_audit(&query).await.expect("audit").len(), 1);
    // Purged: unknown now, and the ID is free again, as new.
    assert!(!s.purge_tenant(&a).await.expect("again"));
    let again = s.create_tenant(&a, "new A").await.expect("recreate");
    assert_eq!(again.version, 1);
    assert_eq!(again.status, TenantStatus::Active);
    assert_eq!(again.limits, LimitOverrides::default());
    assert!(s.list_keys(&a).await.expect("keys").is_empty());
    let snap = s.snapshot().await.expect("snapshot");
    assert_eq!(
        snap.keys[&key_b.key_id].key.read_tenants,
        [x],
        "an old grant does not revive"
    );
}

fn entry(action: &str, tenant_id: Option<&str>, n: u64) -> NewAuditEntry {
    NewAuditEntry {
        actor: "alice".into(),
        action: action.into(),
        tenant: tenant_id.map(tenant),
        target: format!("target-{n}"),
        before: (n > 0).then(|| json!({"n": n - 1})),
        after: Some(json!({"n": n, "nested": {"list": [1, 2.5, "x"], "null": null}})),
    }
}

pub async fn audit_log_reads_newest_first(h: &Harness) {
    let a = &h.audit;
    let mut appended = Vec::new();
    for (n, t) in [
        Some("tenant-a"),
        Some("tenant-b"),
        None,
        Some("tenant-a"),
        Some("tenant-a"),
    ]
    .into_iter()
    .enumerate()
    {
        h.clock.advance(Duration::from_millis(5));
        let got = a
            .append_audit(entry("tenant.update", t, n as u64))
            .await
            .expect("append");
        assert_eq!(got.at, h.clock.now());
        assert_eq!(got.tenant, t.map(tenant));
        assert_eq!(got.after, entry("tenant.update", t, n as u64).after);
        if let Some(last) = appended.last() {
            let last: &crate::AuditEntry = last;
            assert!(got.id > last.id, "ids grow");
        }
        appended.push(got);
    }
    let newest_first: Vec<_> = appended.iter().rev().cloned().collect();
    let all = AuditQuery {
        tenant: None,
        before_id: None,
        limit: 100,
    };
    assert_eq!(a.list_audit(&all).await.expect("all"), newest_first);
    // Paging by cursor.
    let first = a
        .list_audit(&AuditQuery {
            limit: 2,
            ..all.clone()
        })
        .await
        .expect("page");
    assert_eq!(first, newest_first[..2]);
    let second = a
        .list_audit(&AuditQuery {
            before_id: Some(first[1].id),
            limit: 2,
            ..all.clone()
        })
        .await
        .expect("page");
    assert_eq!(second, newest_first[2..4]);
    // One tenant's.
    let of_a = a
        .list_audit(&AuditQuery {
            tenant: Some(tenant("tenant-a")),
            ..all.clone()
        })
        .await
        .expect("a");
    let ids: Vec<u64> = of_a.iter().map(|e| e.id).collect();
    assert_eq!(ids, [appended[4].id, appended[3].id, appended[0].id]);
    let older = a
        .list_audit(&AuditQuery {
            tenant: Some(tenant("tenant-a")),
            before_id: Some(appended[3].id),
            limit: 10,
        })
        .await
        .expect("a");
    assert_eq!(older, [appended[0].clone()]);
    for limit in [0, AuditQuery::MAX_LIMIT + 1] {
        let r = a
            .list_audit(&AuditQuery {
                limit,
                ..all.clone()
            })
            .await;
        assert_eq!(kind(r), ErrorKind::BadRequest);
    }
    let mut anonymous = entry("tenant.update", None, 0);
    anonymous.actor.clear();
    assert_eq!(kind(a.append_audit(anonymous).await), ErrorKind::BadRequest);
}

pub async fn audit_log_is_append_only(h: &Harness) {
    let a = &h.audit;
    let first = a
        .append_audit(entry("key.create", Some("tenant-a"), 0))
        .await
        .expect("append");
    let mut statements = vec![
        "UPDATE audit_log SET actor = 'mallory'".to_owned(),
        format!(
            "UPDATE audit_log SET after_json = NULL WHERE id = {}",
            first.id
        ),
        "DELETE FROM audit_log".to_owned(),
        format!("DELETE FROM audit_log WHERE id = {}", first.id),
    ];
    if h.db.kind() == "postgres" {
        statements.push("TRUNCATE audit_log".to_owned());
    }
    for statement in &statements {
        let r = h.db.execute_raw(statement).await;
        assert!(r.is_err(), "{statement} was allowed");
    }
    let all = AuditQuery {
        tenant: None,
        before_id: None,
        limit: 10,
    };
    assert_eq!(a.list_audit(&all).await.expect("list"), [first]);
}

pub async fn usage_counts_queries_and_sets_storage_levels(h: &Harness) {
    let u = &h.usage;
    let a = tenant("tenant-a");
    let d1: UtcDay = "2026-03-01".parse().expect("day");
    let d2: UtcDay = "2026-03-02".parse().expect("day");
    let mut counted = UsageRow::empty(a.clone(), d1);
    counted.accepted_bytes = 5;
    counted.queries = 3;
    counted.stored_bytes = 999; // a level: add_usage ignores it
    u.add_usage(&[counted.clone()]).await.expect("add");
    counted.queries = 4;
    u.add_usage(&[counted]).await.expect("add again");
    let level = |day, bytes, blocks| StorageLevel {
        tenant: a.clone(),
        day,
        bytes,
        blocks,
    };
    u.record_storage(&[level(d1, 1_000, 4), level(d2, 70, 1)])
        .await
        .expect("storage");
    u.record_storage(&[level(d1, 600, 3)])
        .await
        .expect("overwrite");
    u.record_storage(&[]).await.expect("nothing");
    let rows = u.usage(&a, d1, d2).await.expect("usage");
    let mut want1 = UsageRow::empty(a.clone(), d1);
    want1.accepted_bytes = 10;
    want1.queries = 7;
    want1.stored_bytes = 600;
    want1.stored_blocks = 3;
    let mut want2 = UsageRow::empty(a.clone(), d2);
    want2.stored_bytes = 70;
    want2.stored_blocks = 1;
    assert_eq!(rows, [want1.clone(), want2]);
    // Counting more leaves the level alone; storage is not ingest.
    let mut more = UsageRow::empty(a.clone(), d1);
    more.queries = 1;
    u.add_usage(&[more]).await.expect("add");
    let rows = u.usage(&a, d1, d1).await.expect("usage");
    assert_eq!((rows[0].queries, rows[0].stored_bytes), (8, 600));
    let totals = u.period_totals(&a, d2).await.expect("totals");
    assert_eq!((totals.day_bytes, totals.month_bytes), (0, 10));
    // All or nothing.
    let err = u
        .record_storage(&[level(d1, 1, 1), level(d2, u64::MAX, 1)])
        .await
        .expect_err("out of range");
    assert_eq!(err.kind(), ErrorKind::BadRequest);
    let rows = u.usage(&a, d1, d1).await.expect("usage");
    assert_eq!((rows[0].stored_bytes, rows[0].stored_blocks), (600, 3));
}

/// An audit hook naming who did it; an empty `actor` makes the append (and so the mutation)
/// fail.
fn hook(actor: &'static str, action: &'static str) -> crate::AuditHook {
    Box::new(move |change| {
        let (tenant, target, before, after) = match change {
            crate::Change::Tenant { before, after } => (
                Some(after.id.clone()),
                String::new(),
                before.map(|t| json!({"version": t.version, "name": t.display_name})),
                Some(json!({"version": after.version, "name": after.display_name})),
            ),
            crate::Change::Key { before, after } => (
                Some(after.tenant.clone()),
                after.key_id.clone(),
                before.map(|k| json!({"revoked": k.revoked_at.is_some()})),
                Some(json!({"revoked": after.revoked_at.is_some()})),
            ),
        };
        NewAuditEntry {
            actor: actor.to_owned(),
            action: action.to_owned(),
            tenant,
            target,
            before,
            after,
        }
    })
}

/// Audited mutations store the change and its audit entry together or not at all.
pub async fn audited_mutations_append_with_the_change_or_not_at_all(h: &Harness) {
    let t = &h.tenants;
    let id = tenant("audited");
    let all = AuditQuery {
        tenant: Some(id.clone()),
        before_id: None,
        limit: 100,
    };
    // A failing audit append undoes the creation.
    assert_eq!(
        kind(
            t.create_tenant_audited(&id, "A", hook("", "tenant.create"))
                .await
        ),
        ErrorKind::BadRequest
    );
    assert!(t.get_tenant(&id).await.expect("get").is_none());
    t.create_tenant_audited(&id, "A", hook("ops", "tenant.create"))
        .await
        .expect("create");

    // An update whose audit fails changes nothing; one that succeeds records before/after.
    let rename = || TenantUpdate {
        display_name: Some("B".into()),
        ..TenantUpdate::default()
    };
    assert!(
        t.update_tenant_audited(&id, rename(), Some(1), hook("", "tenant.update"))
            .await
            .is_err()
    );
    let unchanged = t.get_tenant(&id).await.expect("get").expect("tenant");
    assert_eq!(
        (unchanged.display_name.as_str(), unchanged.version),
        ("A", 1)
    );
    let renamed = t
        .update_tenant_audited(&id, rename(), Some(1), hook("ops", "tenant.update"))
        .await
        .expect("rename");
    assert_eq!(renamed.version, 2);
    // Nothing to change: nothing appended.
    t.update_tenant_audited(&id, TenantUpdate::default(), None, hook("ops", "noop"))
        .await
        .expect("empty update");

    // Keys: created and revoked with their entries; a failing append revokes nothing.
    let (key, _) = t
        .create_key_audited(
            NewKey::read_write(id.clone()),
            &test_pepper(),
            hook("ops", "key.create"),
        )
        .await
        .expect("key");
    assert!(
        t.revoke_key_audited(&key.key_id, hook("", "key.revoke"))
            .await
            .is_err()
    );
    let keys = t.list_keys(&id).await.expect("keys");
    assert!(
        keys[0].revoked_at.is_none(),
        "revoked without its audit entry"
    );
    t.revoke_key_audited(&key.key_id, hook("ops", "key.revoke"))
        .await
        .expect("revoke");

    let entries = h.audit.list_audit(&all).await.expect("audit");
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["key.revoke", "key.create", "tenant.update", "tenant.create"]
    );
    assert_eq!(entries[2].before, Some(json!({"version": 1, "name": "A"})));
    assert_eq!(entries[2].after, Some(json!({"version": 2, "name": "B"})));
    assert_eq!(entries[0].before, Some(json!({"revoked": false})));
    assert_eq!(entries[0].after, Some(json!({"revoked": true})));
    assert_eq!(entries[0].target, key.key_id);
    assert!(entries.iter().all(|e| e.actor == "ops"));
}
