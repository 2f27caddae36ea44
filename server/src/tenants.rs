//! The tenant directory of Foundation I: every tenant gets the configured default limits.
//! The tenancy issue replaces it with snapshots of the control-plane database.

use std::sync::Arc;

use sextant_model::{Limits, TenantDirectory, TenantId};

/// Serves the same limits to every tenant.
#[derive(Debug)]
pub(crate) struct DefaultLimits(Arc<Limits>);

impl DefaultLimits {
    pub(crate) fn new(limits: Limits) -> Self {
        Self(Arc::new(limits))
    }
}

impl TenantDirectory for DefaultLimits {
    fn limits(&self, _tenant: &TenantId) -> Arc<Limits> {
        self.0.clone()
    }
}
