//! Tenants and API keys on Postgres: every mutation updates the one revision row, which also
//! serialises them; snapshots read in one repeatable-read transaction.

fn sql(statement: &str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(crate::tenant_sql::numbered(statement))
}

crate::tenant_sql::tenant_store!(
    super::PostgresStore,
    sqlx::PgConnection,
    sql = sql,
    write = "BEGIN",
    read = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
);
