//! The audit trail: every mutation appends who did what to which tenant, with the document
//! before and after (secrets redacted by the callers' views), and `GET /admin/api/v1/audit`
//! reads it back newest first.

use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sextant_model::TenantId;
use sextant_tenancy::{
    ApiKey, AuditEntry, AuditHook, AuditQuery, AuditStore, Change, NewAuditEntry, Tenant,
};
use utoipa::{IntoParams, ToSchema};

use crate::error::{AdminError, ErrorBody, FieldDetail, Result};
use crate::state::AdminState;
use crate::views::{KeyView, rfc3339};

/// One mutation, to record.
#[derive(Debug)]
pub(crate) struct Audit<'a> {
    pub(crate) actor: &'a str,
    pub(crate) action: &'static str,
    pub(crate) tenant: Option<TenantId>,
    pub(crate) target: String,
    pub(crate) before: Option<Value>,
    pub(crate) after: Option<Value>,
}

/// The audit hook of a tenant mutation: recorded as `action` on `target`, the tenant before
/// and after rendered by `view` (which leaves secrets out). The store appends it in the
/// mutation's own transaction: both happen or neither.
pub(crate) fn tenant_change(
    actor: &str,
    action: &'static str,
    target: &str,
    view: impl Fn(&Tenant) -> Option<Value> + Send + 'static,
) -> AuditHook {
    let (actor, target) = (actor.to_owned(), target.to_owned());
    Box::new(move |change| {
        let (tenant, before, after) = match change {
            Change::Tenant { before, after } => {
                (Some(after.id.clone()), before.and_then(&view), view(after))
            }
            Change::Key { after, .. } => (Some(after.tenant.clone()), None, None),
        };
        NewAuditEntry {
            actor,
            action: action.to_owned(),
            tenant,
            target,
            before,
            after,
        }
    })
}

/// The audit hook of a key mutation (`key:<id>`, the key as listed: never its secret).
pub(crate) fn key_change(actor: &str, action: &'static str) -> AuditHook {
    let actor = actor.to_owned();
    let view = |key: &ApiKey| serde_json::to_value(KeyView::from(key)).ok();
    Box::new(move |change| {
        let (tenant, target, before, after) = match change {
            Change::Key { before, after } => (
                Some(after.tenant.clone()),
                format!("key:{}", after.key_id),
                before.and_then(view),
                view(after),
            ),
            Change::Tenant { after, .. } => (Some(after.id.clone()), String::new(), None, None),
        };
        NewAuditEntry {
            actor,
            action: action.to_owned(),
            tenant,
            target,
            before,
            after,
        }
    })
}

/// Appends `entry` to the audit log, for what changes nothing in the store (a sign-in).
/// A failure is logged at error level rather than answered as a failure of the request.
pub(crate) async fn record(state: &AdminState, entry: Audit<'_>) {
    let new = NewAuditEntry {
        actor: entry.actor.to_owned(),
        action: entry.action.to_owned(),
        tenant: entry.tenant,
        target: entry.target,
        before: entry.before,
        after: entry.after,
    };
    if let Err(error) = state.db.append_audit(new.clone()).await {
        tracing::error!(
            %error,
            actor = %new.actor,
            action = %new.action,
            target = %new.target,
            "cannot append to the audit log"
        );
    }
}

/// The most entries one page returns.
const MAX_PAGE: usize = 500;
const DEFAULT_PAGE: usize = 100;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditParams {
    /// Only entries about this tenant.
    tenant: Option<String>,
    /// Only entries older than this ID: the previous page's `next`.
    before: Option<String>,
    /// Entries per page, 1 to 500 (default 100).
    limit: Option<String>,
}

/// One recorded mutation.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditView {
    pub(crate) id: u64,
    /// RFC 3339.
    pub(crate) at: String,
    /// The admin token's name, or `user:<name>` for a session.
    pub(crate) actor: String,
    /// `<object>.<verb>`: `tenant.create`, `key.revoke`, `limits.patch`, ...
    pub(crate) action: String,
    pub(crate) tenant: Option<String>,
    pub(crate) target: String,
    #[schema(value_type = Option<Object>)]
    pub(crate) before: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub(crate) after: Option<Value>,
}

impl From<AuditEntry> for AuditView {
    fn from(e: AuditEntry) -> Self {
        Self {
            id: e.id,
            at: rfc3339(e.at),
            actor: e.actor,
            action: e.action,
            tenant: e.tenant.map(|t| t.to_string()),
            target: e.target,
            before: e.before,
            after: e.after,
        }
    }
}

/// A page of audit entries, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditPage {
    pub(crate) items: Vec<AuditView>,
    /// `before` for the next (older) page; null on the last page.
    pub(crate) next: Option<String>,
}

pub(crate) fn page_limit(text: Option<&str>, max: usize, details: &mut Vec<FieldDetail>) -> usize {
    match text {
        None => DEFAULT_PAGE.min(max),
        Some(t) => match t.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => n,
            _ => {
                details.push(FieldDetail::new("limit", format!("must be 1 to {max}")));
                1
            }
        },
    }
}

/// The audit log, newest first.
#[utoipa::path(
    get,
    path = "/admin/api/v1/audit",
    tag = "audit",
    params(AuditParams),
    responses(
        (status = 200, description = "Entries, newest first", body = AuditPage),
        (status = 400, description = "Invalid parameters", body = ErrorBody),
    )
)]
pub(crate) async fn list(
    State(state): State<AdminState>,
    Query(params): Query<AuditParams>,
) -> Result<Json<AuditPage>> {
    let mut details = Vec::new();
    let tenant = match params.tenant.as_deref().filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => match TenantId::new(t) {
            Ok(id) => Some(id),
            Err(_) => {
                details.push(FieldDetail::new("tenant", "not a tenant ID"));
                None
            }
        },
    };
    let before_id = match params.before.as_deref().filter(|b| !b.is_empty()) {
        None => None,
        Some(b) => match b.parse::<u64>() {
            Ok(id) => Some(id),
            Err(_) => {
                details.push(FieldDetail::new(
                    "before",
                    "must be an entry ID (a page's next)",
                ));
                None
            }
        },
    };
    let limit = page_limit(params.limit.as_deref(), MAX_PAGE, &mut details);
    if !details.is_empty() {
        return Err(AdminError::Validation(details));
    }
    // One more than asked tells whether another page follows.
    let mut entries = state
        .db
        .list_audit(&AuditQuery {
            tenant,
            before_id,
            limit: limit + 1,
        })
        .await?;
    let more = entries.len() > limit;
    entries.truncate(limit);
    let next = if more {
        entries.last().map(|e| e.id.to_string())
    } else {
        None
    };
    Ok(Json(AuditPage {
        items: entries.into_iter().map(AuditView::from).collect(),
        next,
    }))
}
