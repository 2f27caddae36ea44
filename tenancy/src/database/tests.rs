//! The database handle: URLs, migrating or refusing, two handles on one SQLite file, and the
//! password rehash against each engine.

use std::sync::Arc;

use sextant_model::{ErrorKind, TenantId};

use super::*;
use crate::conformance::test_pepper;
use crate::migrate;
use crate::testing::TestDatabase;

#[test]
fn urls_name_an_engine() {
    assert_eq!(target("sqlite::memory:").unwrap(), Target::SqliteMemory);
    assert_eq!(
        target("sqlite://data/sextant.db").unwrap(),
        Target::SqliteFile("data/sextant.db".into())
    );
    assert_eq!(
        target("sqlite:///var/lib/sextant.db").unwrap(),
        Target::SqliteFile("/var/lib/sextant.db".into())
    );
    assert_eq!(target("postgres://u@h/db").unwrap(), Target::Postgres);
    assert_eq!(target("postgresql://u@h/db").unwrap(), Target::Postgres);
    for bad in [
        "mysql://u:secret@h/db",
        "sqlite://",
        "",
        "data.db",
        "sqlite:data.db",
    ] {
        let err = target(bad).expect_err(bad);
        let text = err.to_string();
        assert_eq!(err.kind(), ErrorKind::BadRequest, "{bad}");
        assert!(!text.contains("secret"), "{text}");
        if !bad.starts_with("sqlite://") {
            assert!(
                text.contains("postgres://") && text.contains("sqlite://"),
                "{text}"
            );
        }
    }
}

fn options(migrate: bool) -> DatabaseOptions {
    DatabaseOptions {
        migrate,
        ..DatabaseOptions::default()
    }
}

#[tokio::test]
async fn connects_by_url_relative_and_absolute() {
    let dir = tempfile::tempdir().expect("tempdir");
    let abs = dir.path().join("abs.db");
    let db = Database::connect(&format!("sqlite://{}", abs.display()), &options(true))
        .await
        .expect("absolute");
    assert_eq!((db.kind(), db.is_embedded()), ("sqlite", true));
    assert!(db.is_empty().await.expect("empty"));
    db.close().await;
    assert!(abs.exists());
    // A relative path is relative to the working directory.
    let rel = format!("target-test-{}.db", std::process::id());
    let db = Database::connect(&format!("sqlite://{rel}"), &options(true))
        .await
        .expect("relative");
    db.close().await;
    assert!(std::path::Path::new(&rel).exists());
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{rel}{suffix}"));
    }
    let mem = Database::connect("sqlite::memory:", &options(true))
        .await
        .expect("memory");
    assert!(mem.is_empty().await.expect("empty"));
    let err = Database::connect("redis://h", &options(true))
        .await
        .expect_err("scheme");
    assert!(
        err.to_string().contains("unsupported database URL scheme"),
        "{err}"
    );
}

/// Applies only the first two migrations, as an older binary would have.
async fn old_sqlite_schema(path: &std::path::Path) {
    let store = SqliteStore::open_file(path, &SqliteConfig::default(), true)
        .await
        .expect("open");
    // Undo 0003 and every later migration as if they had never run.
    sqlx::raw_sql(
        "DROP TABLE forgotten_blocks; \
         DROP INDEX blocks_by_tenant_retired_at; ALTER TABLE blocks DROP COLUMN retired_at; \
         DROP TABLE audit_log; DROP INDEX tenants_by_status; \
         ALTER TABLE tenants DROP COLUMN version; ALTER TABLE tenants DROP COLUMN generator; \
         DROP TABLE admin_users; DROP TABLE admin_tokens; DROP TABLE usage_daily; \
         DROP TABLE usage_discards; DELETE FROM sextant_migrations WHERE version >= 3;",
    )
    .execute(&store.pool)
    .await
    .expect("downgrade");
    store.close().await;
}

#[tokio::test]
async fn without_migrating_a_schema_behind_is_refused_until_migrated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cp.db");
    let url = format!("sqlite://{}", path.display());
    let err = Database::connect(&url, &options(false))
        .await
        .expect_err("fresh file");
    assert!(err.to_string().contains("run `sextant migrate`"), "{err}");
    old_sqlite_schema(&path).await;
    let err = Database::connect(&url, &options(false))
        .await
        .expect_err("behind");
    assert!(
        matches!(
            err,
            Error::SchemaBehind { found: 2, expected }
                if Some(expected) == crate::migrate::SQLITE.last().map(|m| m.version)
        ),
        "{err}"
    );
    let db = Database::connect(&url, &options(true))
        .await
        .expect("migrating");
    assert!(
        db.migrate().await.expect("again").is_empty(),
        "already current"
    );
    db.close().await;
    Database::connect(&url, &options(false))
        .await
        .expect("current schema opens without migrating");
}

#[tokio::test]
async fn migrate_reports_what_it_applied() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cp.db");
    old_sqlite_schema(&path).await;
    // As `sextant migrate` does.
    let url = format!("sqlite://{}", path.display());
    let db = Database::connect_unmigrated(&url, &options(false))
        .await
        .expect("open without migrating");
    let expected: Vec<String> = crate::migrate::SQLITE[2..]
        .iter()
        .map(|m| m.name())
        .collect();
    assert_eq!(db.migrate().await.expect("migrate"), expected);
    assert!(db.migrate().await.expect("nothing left").is_empty());
}

#[tokio::test]
async fn a_newer_schema_is_refused_with_or_without_migrating() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cp.db");
    let url = format!("sqlite://{}", path.display());
    let db = Database::connect(&url, &options(true))
        .await
        .expect("create");
    let Database::Sqlite(store) = &db else {
        panic!("sqlite")
    };
    sqlx::query("INSERT INTO sextant_migrations VALUES (99, 'future', 0)")
        .execute(&store.pool)
        .await
        .expect("insert");
    db.close().await;
    for migrate in [true, false] {
        let err = Database::connect(&url, &options(migrate))
            .await
            .expect_err("newer");
        assert!(
            matches!(err, Error::SchemaTooNew { found: 99, .. }),
            "{err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_handles_on_one_sqlite_file_both_write() {
    // As `sextant serve` and a CLI process would: WAL mode and the busy timeout let both write.
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("cp.db").display());
    let one = Arc::new(Database::connect(&url, &options(true)).await.expect("one"));
    let two = Arc::new(Database::connect(&url, &options(false)).await.expect("two"));
    let pepper = test_pepper();
    let mut tasks = tokio::task::JoinSet::new();
    for (n, db) in [one.clone(), two.clone()].into_iter().enumerate() {
        let pepper = pepper.clone();
        tasks.spawn(async move {
            for i in 0..10 {
                let t = TenantId::new(&format!("tenant-{n}-{i}")).expect("id");
                db.create_tenant(&t, "T").await.expect("create");
                db.create_key(NewKey::read_write(t), &pepper)
                    .await
                    .expect("key");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("writer");
    }
    for db in [&one, &two] {
        let snap = db.snapshot().await.expect("snapshot");
        assert_eq!((snap.tenants.len(), snap.keys.len()), (20, 20));
    }
}

/// Replaces `name`'s stored hash with one made at weak parameters, checks that the right
/// password still verifies and that the stored hash is then today's.
async fn weak_hash_is_rehashed(db: &Database) {
    db.create_admin_user("alice", "correct horse battery")
        .await
        .expect("create");
    let weak = crate::admin::hash_password_with("correct horse battery", 64, 1, 1).expect("hash");
    let stored = || async {
        let sql = "SELECT password FROM admin_users WHERE name = 'alice'";
        let (phc,): (String,) = match db {
            Database::Sqlite(s) => sqlx::query_as(sql).fetch_one(&s.pool).await,
            Database::Postgres(p) => sqlx::query_as(sql).fetch_one(&p.pool).await,
        }
        .expect("read hash");
        phc
    };
    let set = "UPDATE admin_users SET password = ? WHERE name = 'alice'";
    match db {
        Database::Sqlite(s) => {
            sqlx::query(set)
                .bind(&weak)
                .execute(&s.pool)
                .await
                .expect("weaken");
        }
        Database::Postgres(p) => {
            sqlx::query(sqlx::AssertSqlSafe(crate::tenant_sql::numbered(set)))
                .bind(&weak)
                .execute(&p.pool)
                .await
                .expect("weaken");
        }
    }
    assert!(stored().await.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
    assert!(
        !db.verify_admin_password("alice", "wrong password")
            .await
            .expect("verify")
    );
    assert_eq!(stored().await, weak, "a wrong password changes nothing");
    assert!(
        db.verify_admin_password("alice", "correct horse battery")
            .await
            .expect("verify")
    );
    let now = stored().await;
    assert!(now.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{now}");
    assert!(
        db.verify_admin_password("alice", "correct horse battery")
            .await
            .expect("verify")
    );
    assert_eq!(stored().await, now, "a current hash is kept");
}

#[tokio::test]
async fn sqlite_rehashes_weak_passwords() {
    let db = Database::connect("sqlite::memory:", &options(true))
        .await
        .expect("db");
    weak_hash_is_rehashed(&db).await;
}

#[tokio::test]
async fn postgres_rehashes_weak_passwords() {
    let test = TestDatabase::create("rehash").await;
    let db = Database::connect(&test.url, &options(true))
        .await
        .expect("db");
    assert_eq!((db.kind(), db.is_embedded()), ("postgres", false));
    weak_hash_is_rehashed(&db).await;
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_behind_schema_is_refused_and_concurrent_migrators_apply_once() {
    let test = TestDatabase::create("migrate").await;
    let err = Database::connect(&test.url, &options(false))
        .await
        .expect_err("fresh database");
    assert!(err.to_string().contains("run `sextant migrate`"), "{err}");
    // Four processes starting at once on the fresh database.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let url = test.url.clone();
        tasks.spawn(async move {
            let db = Database::connect_unmigrated(&url, &options(false))
                .await
                .expect("open");
            let applied = db.migrate().await.expect("migrate");
            db.close().await;
            applied
        });
    }
    let mut applied = Vec::new();
    while let Some(done) = tasks.join_next().await {
        applied.extend(done.expect("task"));
    }
    applied.sort();
    let expected: Vec<String> = migrate::POSTGRES.iter().map(|m| m.name()).collect();
    assert_eq!(applied, expected, "each migration applied exactly once");
    let db = Database::connect(&test.url, &options(false))
        .await
        .expect("current schema opens without migrating");
    assert!(db.migrate().await.expect("again").is_empty());
    db.close().await;
}
