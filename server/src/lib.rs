//! The `sextant` binary's library: configuration, wiring of the crates, listeners, CLI
//! subcommands and graceful shutdown. The only crate that depends on everything.
