//! Numbered migrations embedded in the binary, applied in one transaction with a version table.
//! A database migrated by a newer binary is refused rather than used half-understood.

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
    fn migrations_are_numbered_from_one_without_gaps() {
        for set in [SQLITE, POSTGRES] {
            for (i, m) in set.iter().enumerate() {
                assert_eq!(m.version, i as i64 + 1);
                assert!(!m.sql.trim().is_empty());
            }
        }
        assert_eq!(SQLITE.len(), POSTGRES.len());
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
