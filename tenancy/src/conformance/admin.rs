//! Conformance cases of [`crate::AdminStore`], [`crate::UsageStore`] and [`crate::bootstrap`].

use std::collections::BTreeMap;
use std::time::Duration;

use sextant_model::{DiscardReason, ErrorKind, PeriodUsage};

use super::{Harness, tenant, test_pepper};
use crate::auth::{authenticate, authenticate_admin};
use crate::database::bootstrap;
use crate::error::Error;
use crate::keys::{ADMIN_TOKEN_PREFIX, parse_with};
use crate::usage::{UsageRow, UtcDay};

fn kind<T: std::fmt::Debug>(r: crate::Result<T>) -> ErrorKind {
    r.expect_err("expected an error").kind()
}

pub async fn admin_user_passwords(h: &Harness) {
    let s = &h.admin;
    let revision = h.tenants.revision().await.expect("revision");
    let alice = s
        .create_admin_user("alice", "correct horse battery")
        .await
        .expect("create");
    assert_eq!(alice.name, "alice");
    assert_eq!(alice.created_at, h.clock.now());
    assert_eq!(
        kind(s.create_admin_user("alice", "another password").await),
        ErrorKind::Conflict
    );
    assert_eq!(
        kind(s.create_admin_user("bob", "short").await),
        ErrorKind::BadRequest
    );
    assert_eq!(
        kind(s.create_admin_user("", "long enough password").await),
        ErrorKind::BadRequest
    );
    s.create_admin_user("aaron", "yet another password")
        .await
        .expect("create");
    let names: Vec<String> = s
        .list_admin_users()
        .await
        .expect("list")
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert_eq!(names, ["aaron", "alice"]);
    assert!(
        s.verify_admin_password("alice", "correct horse battery")
            .await
            .expect("verify")
    );
    assert!(
        !s.verify_admin_password("alice", "correct horse batterY")
            .await
            .expect("verify")
    );
    assert!(
        !s.verify_admin_password("aaron", "correct horse battery")
            .await
            .expect("verify")
    );
    assert!(
        !s.verify_admin_password("nobody", "correct horse battery")
            .await
            .expect("verify")
    );
    assert_eq!(
        h.tenants.revision().await.expect("revision"),
        revision,
        "users are not in the snapshot"
    );
}

pub async fn admin_tokens_authenticate_until_revoked(h: &Harness) {
    let s = &h.admin;
    let pepper = test_pepper();
    let before = h.tenants.revision().await.expect("revision");
    let (token, secret) = s
        .create_admin_token("ci", None, &pepper)
        .await
        .expect("create");
    assert!(secret.starts_with(ADMIN_TOKEN_PREFIX));
    assert_eq!(
        parse_with(ADMIN_TOKEN_PREFIX, &secret)
            .expect("parse")
            .key_id,
        token.token_id
    );
    assert_eq!(token.name, "ci");
    assert_eq!(token.created_at, h.clock.now());
    assert_eq!((token.expires_at, token.revoked_at), (None, None));
    let after = h.tenants.revision().await.expect("revision");
    assert!(after > before, "a token bumps the revision");
    assert_eq!(
        s.list_admin_tokens().await.expect("list"),
        std::slice::from_ref(&token)
    );

    let snap = h.tenants.snapshot().await.expect("snapshot");
    assert_eq!(snap.admin_tokens.len(), 1);
    let found = authenticate_admin(&snap, &secret, &pepper, h.clock.now()).expect("admin");
    assert_eq!(found, token);
    for wrong in [&secret[..secret.len() - 1], "", "sxa_nope"] {
        assert!(matches!(
            authenticate_admin(&snap, wrong, &pepper, h.clock.now()),
            Err(Error::Unauthenticated)
        ));
    }
    let other = crate::keys::Pepper::new(b"not the pepper used....".to_vec()).expect("pepper");
    assert!(authenticate_admin(&snap, &secret, &other, h.clock.now()).is_err());
    // An admin token is no API key.
    assert!(authenticate(&snap, &secret, &pepper, h.clock.now()).is_err());

    h.clock.advance(Duration::from_secs(5));
    let revoked = s.revoke_admin_token(&token.token_id).await.expect("revoke");
    assert_eq!(revoked.revoked_at, Some(h.clock.now()));
    h.clock.advance(Duration::from_secs(5));
    let again = s.revoke_admin_token(&token.token_id).await.expect("again");
    assert_eq!(
        again.revoked_at, revoked.revoked_at,
        "first revocation kept"
    );
    assert!(h.tenants.revision().await.expect("revision") > after);
    let snap = h.tenants.snapshot().await.expect("snapshot");
    assert!(authenticate_admin(&snap, &secret, &pepper, h.clock.now()).is_err());
    assert_eq!(
        kind(s.revoke_admin_token("nope").await),
        ErrorKind::NotFound
    );
}

pub async fn admin_token_expires(h: &Harness) {
    let pepper = test_pepper();
    let expiry = h.clock.now() + Duration::from_secs(30);
    let (token, secret) = h
        .admin
        .create_admin_token("short-lived", Some(expiry), &pepper)
        .await
        .expect("create");
    assert_eq!(token.expires_at, Some(expiry));
    let snap = h.tenants.snapshot().await.expect("snapshot");
    assert!(authenticate_admin(&snap, &secret, &pepper, h.clock.now()).is_ok());
    h.clock.advance(Duration::from_secs(30));
    assert!(authenticate_admin(&snap, &secret, &pepper, h.clock.now()).is_err());
}

pub async fn supplied_admin_token_is_recorded_once(h: &Harness) {
    let s = &h.admin;
    let pepper = test_pepper();
    let secret = "an operator supplied token of 32+ characters";
    assert_eq!(
        kind(
            s.insert_admin_token_secret("env", "too short", &pepper)
                .await
        ),
        ErrorKind::BadRequest
    );
    let first = s
        .insert_admin_token_secret("env", secret, &pepper)
        .await
        .expect("insert");
    let revision = h.tenants.revision().await.expect("revision");
    let again = s
        .insert_admin_token_secret("env", secret, &pepper)
        .await
        .expect("again");
    assert_eq!(again, first);
    assert_eq!(s.list_admin_tokens().await.expect("list").len(), 1);
    assert_eq!(
        h.tenants.revision().await.expect("revision"),
        revision,
        "nothing changed"
    );
    let snap = h.tenants.snapshot().await.expect("snapshot");
    let found = authenticate_admin(&snap, secret, &pepper, h.clock.now()).expect("admin");
    assert_eq!(found.name, "env");
}

pub async fn is_empty_until_anything_exists(h: &Harness) {
    let pepper = test_pepper();
    assert!(h.admin.is_empty().await.expect("empty"));
    h.admin
        .create_admin_user("alice", "long enough password")
        .await
        .expect("user");
    assert!(!h.admin.is_empty().await.expect("a user"));
    assert_eq!(
        bootstrap(&h.db, &pepper, None).await.expect("bootstrap"),
        None,
        "not a first start"
    );
    assert!(h.tenants.list_tenants().await.expect("list").is_empty());
}

pub async fn bootstrap_runs_once(h: &Harness) {
    let pepper = test_pepper();
    let racers: Vec<_> = (0..4)
        .map(|_| {
            let db = h.db.clone();
            let pepper = pepper.clone();
            tokio::spawn(async move { bootstrap(&db, &pepper, None).await })
        })
        .collect();
    let mut made = Vec::new();
    for racer in racers {
        if let Some(b) = racer.await.expect("task").expect("bootstrap") {
            made.push(b);
        }
    }
    assert_eq!(made.len(), 1, "exactly one bootstrap");
    let b = made.pop().expect("one");
    assert_eq!(b.tenant.as_str(), "single-tenant");
    let admin = b.admin_token.clone().expect("a generated admin token");
    assert!(admin.starts_with(ADMIN_TOKEN_PREFIX));
    assert!(!format!("{b:?}").contains(&b.key), "secrets never print");
    let snap = h.tenants.snapshot().await.expect("snapshot");
    assert_eq!(snap.tenants.len(), 1);
    assert_eq!(snap.keys.len(), 1);
    assert_eq!(snap.admin_tokens.len(), 1);
    let p = authenticate(&snap, &b.key, &pepper, h.clock.now()).expect("key");
    assert_eq!(p.tenant, b.tenant);
    assert!(p.scopes.read && p.scopes.write);
    authenticate_admin(&snap, &admin, &pepper, h.clock.now()).expect("admin token");
    assert_eq!(bootstrap(&h.db, &pepper, None).await.expect("again"), None);
}

pub async fn bootstrap_with_supplied_token(h: &Harness) {
    let pepper = test_pepper();
    assert_eq!(
        kind(bootstrap(&h.db, &pepper, Some("short")).await),
        ErrorKind::BadRequest
    );
    assert!(h.admin.is_empty().await.expect("nothing half-made"));
    let supplied = "SEXTANT_ADMIN_TOKEN supplied by the operator";
    let b = bootstrap(&h.db, &pepper, Some(supplied))
        .await
        .expect("bootstrap")
        .expect("first start");
    assert_eq!(b.admin_token, None, "a supplied token is not shown");
    let snap = h.tenants.snapshot().await.expect("snapshot");
    authenticate_admin(&snap, supplied, &pepper, h.clock.now()).expect("supplied token");
    authenticate(&snap, &b.key, &pepper, h.clock.now()).expect("key");
}

fn day(s: &str) -> UtcDay {
    s.parse().expect("day")
}

fn row(
    t: &str,
    d: &str,
    bytes: u64,
    spans: u64,
    discards: &[(DiscardReason, u64, u64)],
) -> UsageRow {
    UsageRow {
        tenant: tenant(t),
        day: day(d),
        accepted_bytes: bytes,
        accepted_spans: spans,
        queries: 0,
        stored_bytes: 0,
        stored_blocks: 0,
        discarded: discards
            .iter()
            .map(|&(r, s, b)| (r, (s, b)))
            .collect::<BTreeMap<_, _>>(),
    }
}

pub async fn usage_adds_up(h: &Harness) {
    let u = &h.usage;
    let rl = DiscardReason::RateLimited;
    let big = DiscardReason::TraceTooLarge;
    u.add_usage(&[
        row("tenant-a", "2026-02-28", 100, 10, &[]),
        row("tenant-a", "2026-03-01", 50, 5, &[(rl, 0, 700)]),
        row("tenant-b", "2026-03-01", 9, 1, &[]),
    ])
    .await
    .expect("add");
    u.add_usage(&[
        row(
            "tenant-a",
            "2026-03-01",
            25,
            2,
            &[(rl, 0, 300), (big, 3, 90)],
        ),
        row("tenant-a", "2026-03-03", 0, 0, &[(big, 1, 10)]),
    ])
    .await
    .expect("add more");
    u.add_usage(&[]).await.expect("nothing");
    let rows = u
        .usage(&tenant("tenant-a"), day("2026-03-01"), day("2026-03-31"))
        .await
        .expect("usage");
    assert_eq!(
        rows,
        [
            row(
                "tenant-a",
                "2026-03-01",
                75,
                7,
                &[(rl, 0, 1_000), (big, 3, 90)]
            ),
            row("tenant-a", "2026-03-03", 0, 0, &[(big, 1, 10)]),
        ]
    );
    let all = u
        .usage(&tenant("tenant-a"), day("2026-01-01"), day("2026-12-31"))
        .await
        .expect("usage");
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].day, day("2026-02-28"));
    let b = u
        .usage(&tenant("tenant-b"), day("2026-03-01"), day("2026-03-01"))
        .await
        .expect("usage");
    assert_eq!(b, [row("tenant-b", "2026-03-01", 9, 1, &[])]);
    assert!(
        u.usage(&tenant("tenant-c"), day("2026-01-01"), day("2026-12-31"))
            .await
            .expect("usage")
            .is_empty()
    );
}

pub async fn usage_period_totals(h: &Harness) {
    let u = &h.usage;
    u.add_usage(&[
        row("tenant-a", "2026-02-28", 1_000, 1, &[]),
        row("tenant-a", "2026-03-01", 10, 1, &[]),
        row("tenant-a", "2026-03-02", 20, 1, &[]),
        row("tenant-a", "2026-03-05", 40, 1, &[]),
        row("tenant-b", "2026-03-02", 7, 1, &[]),
    ])
    .await
    .expect("add");
    let a = tenant("tenant-a");
    let totals = |d: u64, m: u64| PeriodUsage {
        day_bytes: d,
        month_bytes: m,
    };
    assert_eq!(
        u.period_totals(&a, day("2026-03-02")).await.expect("t"),
        totals(20, 30)
    );
    assert_eq!(
        u.period_totals(&a, day("2026-03-04")).await.expect("t"),
        totals(0, 30)
    );
    assert_eq!(
        u.period_totals(&a, day("2026-03-31")).await.expect("t"),
        totals(0, 70)
    );
    assert_eq!(
        u.period_totals(&a, day("2026-02-28")).await.expect("t"),
        totals(1_000, 1_000)
    );
    assert_eq!(
        u.period_totals(&tenant("tenant-x"), day("2026-03-02"))
            .await
            .expect("t"),
        totals(0, 0)
    );
    let all = u.all_period_totals(day("2026-03-02")).await.expect("all");
    assert_eq!(
        all,
        [
            (a.clone(), totals(20, 30)),
            (tenant("tenant-b"), totals(7, 7))
        ]
    );
}

pub async fn usage_write_is_all_or_nothing(h: &Harness) {
    let u = &h.usage;
    let err = u
        .add_usage(&[
            row("tenant-a", "2026-03-01", 10, 1, &[]),
            row("tenant-a", "2026-03-02", u64::MAX, 1, &[]),
        ])
        .await
        .expect_err("out of range");
    assert_eq!(err.kind(), ErrorKind::BadRequest);
    assert!(
        u.usage(&tenant("tenant-a"), day("2026-01-01"), day("2026-12-31"))
            .await
            .expect("usage")
            .is_empty(),
        "nothing written"
    );
}
