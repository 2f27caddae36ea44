//! The `sextant` binary's library: configuration, wiring of the crates, listeners, CLI
//! subcommands and graceful shutdown. The only crate that depends on everything; `main.rs`
//! only parses the command line and calls [`run`].

mod admin_cli;
mod alloc;
mod bench;
mod catalog_metrics;
mod cli;
pub mod config;
mod control;
mod internal;
mod loadgen;
mod repair;
mod roles;
mod serve;
mod telemetry;
mod tenant_deletion;
mod tenant_metrics;
mod tls;
mod traceql_check;

pub use cli::{Cli, run};
pub use serve::{TEMPO_API_VERSION, build_info};
pub use tls::TlsConfig;
