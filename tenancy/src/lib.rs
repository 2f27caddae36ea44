//! The control-plane database: tenants, API keys, users, limits, quotas, usage, audit, the block
//! catalog and leases, on Postgres and on SQLite (the embedded default). The only crate that
//! speaks SQL; it implements the model's `TenantDirectory`, `BlockCatalog` and `Lease` ports.
//! (Filled in by the block-catalog and tenancy issues.)
