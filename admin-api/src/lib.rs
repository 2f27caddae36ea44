//! The admin REST API: tenants, keys, limits, retention, usage, audit and Grafana datasource
//! provisioning, with its OpenAPI document. Talks to the control plane only through the model's
//! ports and tenancy's types. (Filled in by the admin issue.)
