//! The audit log on Postgres.

fn sql(statement: &str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(crate::tenant_sql::numbered(statement))
}

crate::audit_sql::audit_store!(super::PostgresStore, sql = sql);
