//! What every handler shares.

use std::sync::Arc;
use std::time::SystemTime;

use sextant_model::{Authenticator, Limits};
use sextant_tenancy::{Clock, Database, Pepper, system_clock};

use crate::config::AdminConfig;
use crate::login_guard::LoginGuard;
use crate::session::SessionKeys;

/// The admin API's state: the control-plane database, the snapshot authenticator (admin
/// tokens), the key pepper, the configured default limits and the API's settings.
#[derive(Clone)]
pub struct AdminState {
    pub(crate) db: Arc<Database>,
    pub(crate) authenticator: Arc<dyn Authenticator>,
    pub(crate) pepper: Pepper,
    pub(crate) defaults: Arc<Limits>,
    pub(crate) config: Arc<AdminConfig>,
    pub(crate) sessions: Arc<SessionKeys>,
    /// Bounds and throttles password checks at sign-in.
    pub(crate) logins: Arc<LoginGuard>,
    pub(crate) clock: Clock,
    /// The OpenAPI document, serialised once.
    pub(crate) openapi: Arc<String>,
}

impl std::fmt::Debug for AdminState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminState")
            .field("db", &self.db.kind())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl AdminState {
    /// `authenticator` is the control plane's snapshot authenticator (admin tokens resolve to
    /// `Identity::Admin`); `pepper` keys new API keys and the session signing key, so every
    /// replica with the same pepper accepts every replica's sessions; `defaults` are the
    /// configured limits that tenants' overrides apply over.
    pub fn new(
        db: Arc<Database>,
        authenticator: Arc<dyn Authenticator>,
        pepper: Pepper,
        defaults: Limits,
        config: AdminConfig,
    ) -> Self {
        let sessions = Arc::new(SessionKeys::new(&pepper));
        let openapi = serde_json::to_string_pretty(&crate::router::openapi())
            .expect("the OpenAPI document serialises");
        Self {
            db,
            authenticator,
            pepper,
            defaults: Arc::new(defaults),
            config: Arc::new(config),
            sessions,
            logins: Arc::new(LoginGuard::default()),
            clock: system_clock(),
            openapi: Arc::new(openapi),
        }
    }

    /// The same state reading time from `clock` (tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub(crate) fn now(&self) -> SystemTime {
        (self.clock)()
    }
}
