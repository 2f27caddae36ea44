//! Admin users and tokens, usage and the bootstrap on SQLite.

fn sql(statement: &str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(statement.to_owned())
}

crate::admin_sql::admin_store!(
    super::SqliteStore,
    sqlx::SqliteConnection,
    sql = sql,
    write = "BEGIN IMMEDIATE"
);
