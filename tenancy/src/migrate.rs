//! Numbered migrations embedded in the binary, applied in one transaction with a version table.
//! A database migrated by a newer binary is refused rather than used half-understood, and so
//! is, when opened without migrating, one that lacks migrations this binary needs.

use crate::error::{Error, Result};

/// What opening a database does about its schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnOpen {
    /// Apply the missing migrations.
    Migrate,
    /// Refuse a schema that is not exactly this binary's.
    Check,
    /// Nothing: the caller migrates next (`sextant migrate`).
    Nothing,
}

impl OnOpen {
    pub(crate) fn from_flag(migrate: bool) -> Self {
        if migrate { Self::Migrate } else { Self::Check }
    }
}

/// One embedded migration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Migration {
    pub(crate) version: i64,
    pub(crate) description: &'static str,
    pub(crate) sql: &'static str,
}

impl Migration {
    /// FNV-1a over the SQL text: detects a migration edited after it was applied.
    pub(crate) fn checksum(&self) -> i64 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in self.sql.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // Stored as a signed 64-bit integer; the bit pattern is what matters.
        i64::from_ne_bytes(hash.to_ne_bytes())
    }

    /// How `migrate` reports it: `0003 admin users, tokens and usage`.
    pub(crate) fn name(&self) -> String {
        format!("{:04} {}", self.version, self.description)
    }
}

/// The migrations of `migrations` missing from `applied` (version, checksum pairs as
/// recorded), refusing a database from a newer binary or with an edited migration.
pub(crate) fn pending<'a>(
    applied: &[(i64, i64)],
    migrations: &'a [Migration],
) -> Result<Vec<&'a Migration>> {
    let latest = migrations.last().map_or(0, |m| m.version);
    if let Some(&(found, _)) = applied.iter().max_by_key(|(v, _)| *v)
        && found > latest
    {
        return Err(Error::SchemaTooNew {
            found,
            supported: latest,
        });
    }
    let mut missing = Vec::new();
    for migration in migrations {
        match applied.iter().find(|(v, _)| *v == migration.version) {
            Some(&(_, checksum)) if checksum == migration.checksum() => {}
            Some(_) => {
                return Err(Error::MigrationChanged {
                    version: migration.version,
                });
            }
            None => missing.push(migration),
        }
    }
    Ok(missing)
}

/// Refuses a database that [`pending`] would change: opened without migrating, the schema must
/// be exactly this binary's.
pub(crate) fn check_current(applied: &[(i64, i64)], migrations: &[Migration]) -> Result<()> {
    let missing = pending(applied, migrations)?;
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::SchemaBehind {
        found: applied.iter().map(|(v, _)| *v).max().unwrap_or(0),
        expected: migrations.last().map_or(0, |m| m.version),
    })
}

/// The SQLite migrations, in order.
pub(crate) const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        description: "block catalog",
        sql: include_str!("../../migrations/sqlite/0001_block_catalog.sql"),
    },
    Migration {
        version: 2,
        description: "tenants and api keys",
        sql: include_str!("../../migrations/sqlite/0002_tenants_keys.sql"),
    },
    Migration {
        version: 3,
        description: "admin users, tokens and usage",
        sql: include_str!("../../migrations/sqlite/0003_admin_usage.sql"),
    },
    Migration {
        version: 4,
        description: "admin api: tenant versions, generator settings, audit log, usage levels",
        sql: include_str!("../../migrations/sqlite/0004_admin_api.sql"),
    },
    Migration {
        version: 5,
        description: "block retirement time",
        sql: include_str!("../../migrations/sqlite/0005_block_retirement.sql"),
    },
    Migration {
        version: 6,
        description: "forgotten blocks",
        sql: include_str!("../../migrations/sqlite/0006_forgotten_blocks.sql"),
    },
];

/// The Postgres migrations, in order.
pub(crate) const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        description: "block catalog",
        sql: include_str!("../../migrations/postgres/0001_block_catalog.sql"),
    },
    Migration {
        version: 2,
        description: "tenants and api keys",
        sql: include_str!("../../migrations/postgres/0002_tenants_keys.sql"),
    },
    Migration {
        version: 3,
        description: "admin users, tokens and usage",
        sql: include_str!("../../migrations/postgres/0003_admin_usage.sql"),
    },
    Migration {
        version: 4,
        description: "admin api: tenant versions, generator settings, audit log, usage levels",
        sql: include_str!("../../migrations/postgres/0004_admin_api.sql"),
    },
    Migration {
        version: 5,
        description: "block retirement time",
        sql: include_str!("../../migrations/postgres/0005_block_retirement.sql"),
    },
    Migration {
        version: 6,
        description: "forgotten blocks",
        sql: include_str!("../../migrations/postgres/0006_forgotten_blocks.sql"),
    },
];

/// The version table, the same on both engines.
pub(crate) const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS sextant_migrations (
    version     BIGINT NOT NULL PRIMARY KEY,
    description TEXT   NOT NULL,
    checksum    BIGINT NOT NULL
)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_from_one_in_order() {
        for set in [SQLITE, POSTGRES] {
            assert_eq!(set[0].version, 1);
            for pair in set.windows(2) {
                assert!(pair[0].version < pair[1].version, "{}", pair[1].name());
            }
            for m in set {
                assert!(!m.sql.trim().is_empty());
            }
        }
        let versions = |set: &[Migration]| set.iter().map(|m| m.version).collect::<Vec<_>>();
        assert_eq!(versions(SQLITE), versions(POSTGRES));
    }

    #[test]
    fn pending_and_check_current() {
        let all: Vec<(i64, i64)> = SQLITE.iter().map(|m| (m.version, m.checksum())).collect();
        assert!(pending(&all, SQLITE).unwrap().is_empty());
        check_current(&all, SQLITE).unwrap();
        let behind = &all[..1];
        let missing: Vec<i64> = pending(behind, SQLITE)
            .unwrap()
            .iter()
            .map(|m| m.version)
            .collect();
        assert_eq!(
            missing,
            SQLITE[1..].iter().map(|m| m.version).collect::<Vec<_>>()
        );
        let err = check_current(behind, SQLITE).unwrap_err();
        assert!(err.to_string().contains("run `sextant migrate`"), "{err}");
        assert!(check_current(&[], SQLITE).is_err());
        let mut newer = all.clone();
        newer.push((99, 0));
        assert!(matches!(
            pending(&newer, SQLITE),
            Err(Error::SchemaTooNew { found: 99, .. })
        ));
        let mut edited = all.clone();
        edited[0].1 += 1;
        assert!(matches!(
            check_current(&edited, SQLITE),
            Err(Error::MigrationChanged { version: 1 })
        ));
    }

    #[test]
    fn checksum_changes_with_text() {
        let a = Migration {
            version: 1,
            description: "",
            sql: "a",
        };
        let b = Migration { sql: "b", ..a };
        assert_ne!(a.checksum(), b.checksum());
        assert_eq!(a.checksum(), a.checksum());
    }
}
