//! The web console (tenant console and trace explorer). Its assets are embedded at compile time
//! so `cargo build` needs no Node toolchain; it exports a router only. (Filled in later.)
