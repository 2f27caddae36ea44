//! The audit log on SQLite.

fn sql(statement: &str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(statement.to_owned())
}

crate::audit_sql::audit_store!(super::SqliteStore, sql = sql);
