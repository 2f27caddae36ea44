//! The control plane against real databases: changes seen through polling (SQLite) and
//! notifications (Postgres), fail static behind a proxy that is cut, usage metering, last-use
//! bookkeeping and limits.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sextant_model::{
    Authenticator, Discard, DiscardReason, ErrorKind, Identity, Limits, PeriodUsage,
    TenantDirectory, TenantId, UsageDelta, UsageMeter,
};

use super::*;
use crate::admin::AdminStore;
use crate::clock::{ManualClock, system_clock};
use crate::conformance::test_pepper;
use crate::database::{DatabaseOptions, bootstrap};
use crate::tenant::{LimitOverrides, NewKey};
use crate::testing::{CutProxy, TestDatabase, eventually, host_port, with_host};

const WITHIN: Duration = Duration::from_secs(10);

fn t(s: &str) -> TenantId {
    TenantId::new(s).expect("tenant")
}

fn config() -> ControlPlaneConfig {
    ControlPlaneConfig {
        refresh_interval: Duration::from_millis(20),
        usage_flush_interval: Duration::from_secs(3600),
        last_used_flush_interval: Duration::from_secs(3600),
        ..ControlPlaneConfig::new(Limits::default(), test_pepper())
    }
}

async fn sqlite_file(dir: &std::path::Path) -> (String, Arc<Database>) {
    let url = format!("sqlite://{}", dir.join("cp.db").display());
    let db = Database::connect(&url, &DatabaseOptions::default())
        .await
        .expect("connect");
    (url, Arc::new(db))
}

fn key_of(id: Identity) -> sextant_model::KeyIdentity {
    match id {
        Identity::Key(k) => k,
        Identity::Admin { name } => panic!("admin {name}, expected a key"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_through_another_handle_are_seen_by_polling() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, db) = sqlite_file(dir.path()).await;
    let cp = ControlPlane::start(db, config(), system_clock())
        .await
        .expect("start");
    // Another process (the CLI) on the same file.
    let cli = Database::connect(&url, &DatabaseOptions::default())
        .await
        .expect("cli");
    let pepper = test_pepper();
    let a = t("tenant-a");
    cli.create_tenant(&a, "A").await.expect("tenant");
    let (key, secret) = cli
        .create_key(NewKey::read_write(a.clone()), &pepper)
        .await
        .expect("key");
    assert!(cp.authenticate(&secret).is_err(), "not loaded yet");
    eventually("the new key authenticates", WITHIN, || async {
        cp.authenticate(&secret).is_ok()
    })
    .await;
    let id = key_of(cp.authenticate(&secret).expect("key"));
    assert_eq!(
        (id.tenant.clone(), id.key_id.clone()),
        (a.clone(), key.key_id.clone())
    );
    assert!(id.read && id.write);
    assert_eq!(cp.tenant_status(&a), Some(TenantStatus::Active));
    assert_eq!(cp.tenant_status(&t("tenant-x")), None);

    cli.set_limits(
        &a,
        LimitOverrides {
            ingestion_rate_bytes: Some(7),
            ..LimitOverrides::default()
        },
    )
    .await
    .expect("limits");
    eventually("the new limits apply", WITHIN, || async {
        cp.limits(&a).ingestion_rate_bytes == 7
    })
    .await;
    cli.set_status(&a, TenantStatus::Suspended)
        .await
        .expect("suspend");
    eventually("the suspension shows", WITHIN, || async {
        cp.tenant_status(&a) == Some(TenantStatus::Suspended)
    })
    .await;
    cli.revoke_key(&key.key_id).await.expect("revoke");
    eventually("the revoked key is refused", WITHIN, || async {
        cp.authenticate(&secret).is_err()
    })
    .await;
    let status = cp.status();
    assert_eq!(status.revision, cli.revision().await.expect("revision"));
    assert_eq!(status.db_error, None);
    assert!(!status.listening, "no LISTEN on SQLite");
    cp.close().await.expect("close");
}

#[tokio::test]
async fn keys_and_admin_tokens_authenticate_from_the_snapshot() {
    let db = Arc::new(
        Database::connect("sqlite::memory:", &DatabaseOptions::default())
            .await
            .expect("db"),
    );
    let pepper = test_pepper();
    let boot = bootstrap(&db, &pepper, None)
        .await
        .expect("bootstrap")
        .expect("first start");
    let (_, named) = db
        .create_admin_token("ops", None, &pepper)
        .await
        .expect("token");
    let cp = ControlPlane::start(Arc::clone(&db), config(), system_clock())
        .await
        .expect("start");
    let admin = boot.admin_token.expect("generated");
    assert_eq!(
        cp.authenticate(&admin).expect("admin"),
        Identity::Admin {
            name: "bootstrap".into()
        }
    );
    assert_eq!(
        cp.authenticate(&named).expect("admin"),
        Identity::Admin { name: "ops".into() }
    );
    let key = key_of(cp.authenticate(&boot.key).expect("key"));
    assert_eq!(key.tenant, boot.tenant);
    let (_, unknown) = crate::keys::generate().expect("key");
    for bad in [
        unknown.as_str(),
        "",
        "sxa_nope",
        &admin[..admin.len() - 1],
        "x".repeat(40).as_str(),
    ] {
        let err = cp.authenticate(bad).expect_err("refused");
        assert_eq!(err.kind, ErrorKind::Unauthenticated, "{bad}");
    }
    cp.close().await.expect("close");
}

#[tokio::test]
async fn limits_are_shared_per_snapshot_and_default_for_unknown_tenants() {
    let db = Arc::new(
        Database::connect("sqlite::memory:", &DatabaseOptions::default())
            .await
            .expect("db"),
    );
    let a = t("tenant-a");
    db.create_tenant(&a, "A").await.expect("tenant");
    db.set_limits(
        &a,
        LimitOverrides {
            max_attribute_bytes: Some(9),
            ..LimitOverrides::default()
        },
    )
    .await
    .expect("limits");
    let defaults = Limits {
        query_rate: 3,
        ..Limits::default()
    };
    let cfg = ControlPlaneConfig {
        defaults: defaults.clone(),
        ..config()
    };
    let cp = ControlPlane::start(db, cfg, system_clock())
        .await
        .expect("start");
    let one = cp.limits(&a);
    assert_eq!(
        *one,
        Limits {
            max_attribute_bytes: 9,
            ..defaults.clone()
        }
    );
    assert!(
        Arc::ptr_eq(&one, &cp.limits(&a)),
        "computed once per snapshot"
    );
    assert_eq!(*cp.limits(&t("tenant-x")), defaults);
    cp.close().await.expect("close");
}

fn accepted(bytes: u64) -> UsageDelta {
    UsageDelta {
        accepted_bytes: bytes,
        accepted_spans: 2,
        queries: 0,
        discarded: vec![Discard {
            reason: DiscardReason::TraceTooLarge,
            spans: 1,
            bytes: 10,
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_is_metered_flushed_and_read_back_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, db) = sqlite_file(dir.path()).await;
    // 2026-03-31 12:00 UTC.
    let clock = ManualClock::new(1_774_958_400_000);
    let today = UtcDay::of(clock.now());
    assert_eq!(today.to_string(), "2026-03-31");
    let a = t("tenant-a");
    // Earlier this month, as persisted by a previous run.
    let mut earlier = crate::usage::UsageRow::empty(a.clone(), "2026-03-02".parse().expect("day"));
    earlier.accepted_bytes = 1_000;
    db.add_usage(&[earlier]).await.expect("seed");

    let cfg = ControlPlaneConfig {
        usage_flush_interval: Duration::from_millis(20),
        ..config()
    };
    let cp = ControlPlane::start(Arc::clone(&db), cfg, clock.clock())
        .await
        .expect("start");
    assert_eq!(
        cp.usage(&a, clock.now()),
        PeriodUsage {
            day_bytes: 0,
            month_bytes: 1_000
        }
    );
    cp.record(&a, clock.now(), &accepted(100));
    cp.record(&a, clock.now(), &accepted(50));
    assert_eq!(
        cp.usage(&a, clock.now()),
        PeriodUsage {
            day_bytes: 150,
            month_bytes: 1_150
        }
    );
    // The background flush writes it.
    eventually("usage is flushed", WITHIN, || async {
        db.period_totals(&a, today).await.expect("totals").day_bytes == 150
    })
    .await;
    let rows = db.usage(&a, today, today).await.expect("usage");
    assert_eq!(rows[0].accepted_spans, 4);
    assert_eq!(rows[0].discarded[&DiscardReason::TraceTooLarge], (2, 20));
    // After midnight the day starts over and, in a new month, the month too.
    clock.advance(Duration::from_secs(12 * 3600));
    assert_eq!(cp.usage(&a, clock.now()), PeriodUsage::default());
    cp.record(&a, clock.now(), &accepted(7));
    cp.close().await.expect("close flushes");

    let cp = ControlPlane::start(Arc::clone(&db), config(), clock.clock())
        .await
        .expect("restart");
    assert_eq!(
        cp.usage(&a, clock.now()),
        PeriodUsage {
            day_bytes: 7,
            month_bytes: 7
        },
        "seeded from the database"
    );
    cp.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_count_what_other_processes_on_the_database_accepted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, db) = sqlite_file(dir.path()).await;
    let other = Arc::new(
        Database::connect(&url, &DatabaseOptions::default())
            .await
            .expect("second handle"),
    );
    let clock = ManualClock::new(1_774_958_400_000);
    // Flushing only when asked, so the test decides when each process writes and reads.
    let one = ControlPlane::start(Arc::clone(&db), config(), clock.clock())
        .await
        .expect("first gateway");
    let two = ControlPlane::start(other, config(), clock.clock())
        .await
        .expect("second gateway");
    let a = t("tenant-a");
    one.record(&a, clock.now(), &accepted(600));
    two.record(&a, clock.now(), &accepted(50));
    assert_eq!(
        two.usage(&a, clock.now()).day_bytes,
        50,
        "only its own so far"
    );
    one.flush_usage().await.expect("first flushes");
    two.flush_usage()
        .await
        .expect("second flushes and re-reads");
    assert_eq!(
        two.usage(&a, clock.now()),
        PeriodUsage {
            day_bytes: 650,
            month_bytes: 650
        },
        "both processes' traffic"
    );
    // Recorded after the last flush: counted once, on top of the stored totals.
    two.record(&a, clock.now(), &accepted(5));
    assert_eq!(two.usage(&a, clock.now()).day_bytes, 655);
    one.flush_usage().await.expect("first re-reads");
    assert_eq!(
        one.usage(&a, clock.now()).day_bytes,
        650,
        "second's 5 not written yet"
    );
    two.flush_usage().await.expect("second writes its 5");
    one.flush_usage().await.expect("first re-reads");
    assert_eq!(one.usage(&a, clock.now()).day_bytes, 655);
    assert_eq!(two.usage(&a, clock.now()).day_bytes, 655);
    one.close().await.expect("close");
    two.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_last_use_is_written_lazily() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, db) = sqlite_file(dir.path()).await;
    let pepper = test_pepper();
    let boot = bootstrap(&db, &pepper, None)
        .await
        .expect("bootstrap")
        .expect("first start");
    let clock = ManualClock::new(1_774_958_400_000);
    let cfg = ControlPlaneConfig {
        last_used_flush_interval: Duration::from_millis(20),
        ..config()
    };
    let cp = ControlPlane::start(Arc::clone(&db), cfg, clock.clock())
        .await
        .expect("start");
    let id = key_of(cp.authenticate(&boot.key).expect("key"));
    let revision = db.revision().await.expect("revision");
    eventually("last use is written", WITHIN, || async {
        db.find_key(&id.key_id)
            .await
            .expect("find")
            .expect("key")
            .key
            .last_used_at
            == Some(clock.now())
    })
    .await;
    assert_eq!(db.revision().await.expect("revision"), revision);
    clock.advance(Duration::from_secs(5));
    cp.authenticate(&boot.key).expect("key");
    cp.close().await.expect("close flushes");
    let found = db.find_key(&id.key_id).await.expect("find").expect("key");
    assert_eq!(found.key.last_used_at, Some(clock.now()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_notifications_reload_without_polling() {
    let test = TestDatabase::create("notify").await;
    let db = Arc::new(
        Database::connect(&test.url, &DatabaseOptions::default())
            .await
            .expect("connect"),
    );
    let cfg = ControlPlaneConfig {
        refresh_interval: Duration::from_secs(3600),
        ..config()
    };
    let cp = ControlPlane::start(Arc::clone(&db), cfg, system_clock())
        .await
        .expect("start");
    // The listener is up and its catch-up check is done: from here on only a notification
    // (or the hour-long poll) can make the control plane look again.
    eventually("the listener is up", WITHIN, || async {
        let s = cp.status();
        s.listening && s.checks >= 1
    })
    .await;
    let other = Database::connect(&test.url, &DatabaseOptions::default())
        .await
        .expect("another process");
    let pepper = test_pepper();
    let a = t("tenant-a");
    other.create_tenant(&a, "A").await.expect("tenant");
    let (_, secret) = other
        .create_key(NewKey::read_write(a.clone()), &pepper)
        .await
        .expect("key");
    eventually("the notification reloads the snapshot", WITHIN, || async {
        cp.authenticate(&secret).is_ok()
    })
    .await;
    assert_eq!(cp.status().revision, other.revision().await.expect("rev"));
    cp.close().await.expect("close");
    other.close().await;
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_unreachable_serves_the_last_snapshot_and_heals() {
    let test = TestDatabase::create("failstatic").await;
    let direct = Database::connect(&test.url, &DatabaseOptions::default())
        .await
        .expect("direct");
    let pepper = test_pepper();
    let a = t("tenant-a");
    direct.create_tenant(&a, "A").await.expect("tenant");
    let (_, known) = direct
        .create_key(NewKey::read_write(a.clone()), &pepper)
        .await
        .expect("key");

    let proxy = CutProxy::start(host_port(&test.url)).await;
    let options = DatabaseOptions {
        acquire_timeout: Duration::from_millis(300),
        ..DatabaseOptions::default()
    };
    let db = Arc::new(
        Database::connect(&with_host(&test.url, &proxy.addr), &options)
            .await
            .expect("through the proxy"),
    );
    let cfg = ControlPlaneConfig {
        usage_flush_interval: Duration::from_millis(50),
        ..config()
    };
    let cp = ControlPlane::start(Arc::clone(&db), cfg, system_clock())
        .await
        .expect("start");
    key_of(cp.authenticate(&known).expect("known key"));
    eventually("the listener is up", WITHIN, || async {
        cp.status().listening
    })
    .await;

    proxy.cut();
    let (_, added) = direct
        .create_key(NewKey::read_write(a.clone()), &pepper)
        .await
        .expect("key added while cut off");
    eventually("the error shows", WITHIN, || async {
        cp.status().db_error.is_some()
    })
    .await;
    let status = cp.status();
    assert!(!status.listening);
    // Fail static: the known key works, the one added meanwhile and unknown ones do not.
    key_of(
        cp.authenticate(&known)
            .expect("known key while unreachable"),
    );
    assert_eq!(
        cp.authenticate(&added)
            .expect_err("not in the snapshot")
            .kind,
        ErrorKind::Unauthenticated
    );
    let (_, unknown) = crate::keys::generate().expect("key");
    assert!(cp.authenticate(&unknown).is_err());
    // Usage recorded meanwhile survives failed flushes.
    cp.record(&a, SystemTime::now(), &accepted(123));
    assert!(
        cp.flush_usage().await.is_err(),
        "the database is unreachable"
    );
    assert_eq!(cp.usage(&a, SystemTime::now()).day_bytes, 123);

    proxy.heal();
    eventually("the control plane heals", WITHIN, || async {
        let s = cp.status();
        s.db_error.is_none() && s.listening && cp.authenticate(&added).is_ok()
    })
    .await;
    let today = UtcDay::of(SystemTime::now());
    eventually("the kept usage is written", WITHIN, || async {
        direct
            .period_totals(&a, today)
            .await
            .map(|p| p.day_bytes == 123)
            .unwrap_or(false)
    })
    .await;
    cp.close().await.expect("close");
    db.close().await;
    direct.close().await;
}

#[tokio::test]
async fn generator_settings_are_served_for_tenants_with_a_processor_on() {
    let db = Arc::new(
        Database::connect("sqlite::memory:", &DatabaseOptions::default())
            .await
            .expect("db"),
    );
    let (on, off) = (t("tenant-on"), t("tenant-off"));
    db.create_tenant(&on, "on").await.expect("tenant");
    db.create_tenant(&off, "off").await.expect("tenant");
    let settings = sextant_model::GeneratorSettings {
        processors: vec![sextant_model::GeneratorProcessor::SpanMetrics],
        dimensions: vec!["http.method".into()],
        ..sextant_model::GeneratorSettings::default()
    };
    let update = crate::tenant::TenantUpdate {
        generator: Some(settings.clone()),
        ..crate::tenant::TenantUpdate::default()
    };
    db.update_tenant(&on, update, None).await.expect("settings");
    let cp = ControlPlane::start(db, config(), system_clock())
        .await
        .expect("start");
    let got = cp
        .generator(&on)
        .expect("settings of the tenant with a processor on");
    assert_eq!(*got, settings);
    assert!(
        Arc::ptr_eq(&got, &cp.generator(&on).unwrap()),
        "shared per snapshot"
    );
    assert!(cp.generator(&off).is_none(), "no processor, no generator");
    assert!(cp.generator(&t("tenant-x")).is_none());
    cp.close().await.expect("close");
}
