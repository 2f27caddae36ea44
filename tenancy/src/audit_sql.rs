//! The audit log's SQL, shared by both engines like [`crate::tenant_sql`]: one implementation
//! expanded per engine by [`audit_store!`].

use sextant_model::TenantId;

use crate::audit::AuditEntry;
use crate::error::{Error, Result};
use crate::rows::from_db;
use crate::tenant_sql::from_millis;

/// An `audit_log` row in [`SELECT_AUDIT`] order.
pub(crate) type AuditTuple = (
    i64,
    i64,
    String,
    String,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
);

pub(crate) const SELECT_AUDIT: &str =
    "SELECT id, at, actor, action, tenant, target, before_json, after_json FROM audit_log";

pub(crate) const INSERT_AUDIT: &str = "INSERT INTO audit_log \
    (at, actor, action, tenant, target, before_json, after_json) VALUES (?, ?, ?, ?, ?, ?, ?) \
    RETURNING id";

/// Refuses an entry without an actor or an action.
pub(crate) fn check_entry(entry: &crate::audit::NewAuditEntry) -> Result<()> {
    if entry.action.is_empty() || entry.actor.is_empty() {
        return Err(Error::Invalid(
            "an audit entry needs an actor and an action".into(),
        ));
    }
    Ok(())
}

/// Binds an entry and its time (unix ms) to [`INSERT_AUDIT`]'s parameters, in order.
macro_rules! bind_audit {
    ($query:expr, $entry:expr, $now:expr) => {
        $query
            .bind($now)
            .bind(&$entry.actor)
            .bind(&$entry.action)
            .bind($entry.tenant.as_ref().map(|t| t.as_str()))
            .bind(&$entry.target)
            .bind(crate::audit_sql::json_text($entry.before.as_ref()))
            .bind(crate::audit_sql::json_text($entry.after.as_ref()))
    };
}
pub(crate) use bind_audit;

pub(crate) fn json_text(value: Option<&serde_json::Value>) -> Option<String> {
    value.map(|v| serde_json::to_string(v).expect("a JSON value serialises"))
}

fn json_value(field: &str, text: Option<String>) -> Result<Option<serde_json::Value>> {
    text.map(|t| {
        serde_json::from_str(&t).map_err(|e| Error::Corrupt(format!("audit {field}: {e}")))
    })
    .transpose()
}

pub(crate) fn audit_from_row(t: AuditTuple) -> Result<AuditEntry> {
    let tenant =
        t.4.map(|id| {
            TenantId::new(&id).map_err(|e| Error::Corrupt(format!("audit tenant {id:?}: {e}")))
        })
        .transpose()?;
    Ok(AuditEntry {
        id: from_db("audit id", t.0)?,
        at: from_millis(t.1),
        actor: t.2,
        action: t.3,
        tenant,
        target: t.5,
        before: json_value("before", t.6)?,
        after: json_value("after", t.7)?,
    })
}

/// Implements [`crate::AuditStore`] for a store with `pool` and `clock` fields; arguments as
/// [`crate::tenant_sql::tenant_store!`].
macro_rules! audit_store {
    ($store:ty, sql = $sql:path) => {
        use async_trait::async_trait;

        use crate::audit::{AuditEntry, AuditQuery, AuditStore, NewAuditEntry};
        use crate::audit_sql::{
            AuditTuple, INSERT_AUDIT, SELECT_AUDIT, audit_from_row, bind_audit, check_entry,
        };
        use crate::error::{Error, Result};
        use crate::rows::{clamp_to_db, from_db, unix_millis};
        use crate::tenant_sql::from_millis;

        #[async_trait]
        impl AuditStore for $store {
            async fn append_audit(&self, entry: NewAuditEntry) -> Result<AuditEntry> {
                check_entry(&entry)?;
                let now = unix_millis((self.clock)());
                let (id,): (i64,) = bind_audit!(sqlx::query_as($sql(INSERT_AUDIT)), entry, now)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(Error::db("append audit entry"))?;
                Ok(AuditEntry {
                    id: from_db("audit id", id)?,
                    at: from_millis(now),
                    actor: entry.actor,
                    action: entry.action,
                    tenant: entry.tenant,
                    target: entry.target,
                    before: entry.before,
                    after: entry.after,
                })
            }

            async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
                if !(1..=AuditQuery::MAX_LIMIT).contains(&query.limit) {
                    return Err(Error::Invalid(format!(
                        "limit must be 1 to {} (got {})",
                        AuditQuery::MAX_LIMIT,
                        query.limit
                    )));
                }
                let mut sql = format!("{SELECT_AUDIT} WHERE 1 = 1");
                if query.tenant.is_some() {
                    sql.push_str(" AND tenant = ?");
                }
                if query.before_id.is_some() {
                    sql.push_str(" AND id < ?");
                }
                sql.push_str(" ORDER BY id DESC LIMIT ?");
                let sql = $sql(&sql);
                let mut select = sqlx::query_as::<_, AuditTuple>(sql);
                if let Some(tenant) = &query.tenant {
                    select = select.bind(tenant.as_str());
                }
                if let Some(before) = query.before_id {
                    select = select.bind(clamp_to_db(before));
                }
                let rows = select
                    .bind(i64::try_from(query.limit).unwrap_or(i64::MAX))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(Error::db("list audit entries"))?;
                rows.into_iter().map(audit_from_row).collect()
            }
        }
    };
}

pub(crate) use audit_store;
