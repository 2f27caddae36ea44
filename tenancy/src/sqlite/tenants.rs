//! Tenants and API keys on SQLite: writes take the write lock up front (`BEGIN IMMEDIATE`),
//! snapshots read in one transaction (one WAL snapshot).

fn sql(statement: &str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(statement.to_owned())
}

crate::tenant_sql::tenant_store!(
    super::SqliteStore,
    sqlx::SqliteConnection,
    sql = sql,
    write = "BEGIN IMMEDIATE",
    read = "BEGIN"
);
