//! Admin users and tokens, usage and the bootstrap on Postgres.

fn sql(statement: &str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(crate::tenant_sql::numbered(statement))
}

crate::admin_sql::admin_store!(
    super::PostgresStore,
    sqlx::PgConnection,
    sql = sql,
    write = "BEGIN"
);
