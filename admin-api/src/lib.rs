//! The admin REST API under `/admin/api/v1`: tenants and their life cycle, API keys, limit
//! overrides, metrics-generator settings, usage, the audit log and Grafana datasource
//! provisioning, with an OpenAPI 3.1 document generated from the same route declarations
//! (`GET /admin/api/v1/openapi.json`, snapshot in `admin-api/openapi.json`).
//!
//! Every route but `POST …/login` and the document needs an admin credential: an admin token
//! (Bearer, or Basic with an empty username) or a session JWT from `login` (HS256, keyed by a
//! digest of the key pepper so every replica agrees). A tenant's API key is refused (403).
//! Every error is one envelope, `{"error":{"code","message","details"}}`; validation names
//! every bad field at once. A tenant's `version` is the `ETag` of its documents and `If-Match`
//! makes updates conditional (required for limits). Every mutation is appended to the audit
//! log with its actor, and never with a secret, in the mutation's own transaction.
//!
//! The crate talks to the control-plane database only through tenancy's store traits and the
//! model's `Authenticator`; it holds no state of its own, so changes reach running processes
//! through the control plane's snapshot refresh. It must not reach for object storage, the
//! pipeline or the gateway.

mod audit;
mod auth;
mod body;
mod config;
mod error;
mod etag;
mod generator;
mod grafana;
mod keys;
mod limits;
mod login_guard;
mod router;
mod session;
mod state;
mod tenants;
mod usage;
mod views;
mod yaml;

pub use config::{AdminConfig, GrafanaProvisioning};
pub use error::{AdminError, ErrorBody, ErrorObject, FieldDetail, Result};
pub use router::{openapi, router};
pub use state::AdminState;
#[cfg(test)]
mod tests;
