//! Command-line interface: `serve`, `check-config`, `loadgen`, `store repair`, `bench`,
//! `traceql check`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, Overrides};
use crate::loadgen::LoadgenArgs;
use crate::repair::RepairArgs;

/// Sextant: multi-tenant tracing, compatible with Grafana Tempo's APIs.
#[derive(Debug, Parser)]
#[command(
    name = "sextant",
    version,
    about = "Sextant: multi-tenant tracing, compatible with Grafana Tempo's APIs"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every role in one process (the embedded default).
    Serve(ConfigArgs),
    /// Load the configuration and print every problem found, or the effective configuration.
    CheckConfig(ConfigArgs),
    /// Send realistic traces to a Sextant (or any OTLP endpoint) and report rates.
    Loadgen(LoadgenArgs),
    /// Maintenance of the block storage.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Benchmarks over data written directly to storage (never run in CI).
    #[command(subcommand)]
    Bench(crate::bench::BenchCommand),
    /// Apply the control-plane database's migrations (serve also does, under a lock).
    Migrate(ConfigArgs),
    /// Tenants: create, list, suspend, resume.
    #[command(subcommand)]
    Tenant(crate::control::TenantCommand),
    /// API keys: create, list, revoke.
    #[command(subcommand)]
    Key(crate::control::KeyCommand),
    /// Per-tenant limit overrides.
    #[command(subcommand)]
    Limits(crate::control::LimitsCommand),
    /// Operators of the admin API: users (password sign-in) and tokens.
    #[command(subcommand)]
    Admin(crate::admin_cli::AdminCommand),
    /// TraceQL tools: `check FILE` measures the parser against a table of queries.
    #[command(subcommand)]
    Traceql(crate::traceql_check::TraceqlCommand),
}

#[derive(Debug, Subcommand)]
enum StoreCommand {
    /// Re-register complete blocks the catalog lacks, delete orphaned block folders, report
    /// catalog entries whose blocks are gone.
    Repair(RepairArgs),
}

/// Where the configuration comes from. Flags win over `SEXTANT_*` variables, which win over
/// the file, which wins over the defaults.
#[derive(Debug, clap::Args)]
pub(crate) struct ConfigArgs {
    /// YAML configuration file.
    #[arg(long, short = 'c', env = "SEXTANT_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (WAL, local blocks).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Tempo API, OTLP/HTTP and OTLP gRPC listener.
    #[arg(long)]
    http_addr: Option<String>,
    /// OTLP gRPC listener.
    #[arg(long)]
    otlp_grpc_addr: Option<String>,
    /// OTLP HTTP listener.
    #[arg(long)]
    otlp_http_addr: Option<String>,
    /// Internal listener: /metrics, /ready, /live.
    #[arg(long)]
    internal_addr: Option<String>,
    /// Where blocks go: file:///path, s3://bucket/prefix, gs://…, az://…, memory://.
    #[arg(long)]
    storage_url: Option<String>,
    /// Control-plane database: postgres://… or sqlite://PATH (default sqlite://<data-dir>/sextant.db).
    #[arg(long)]
    database_url: Option<String>,
    /// Roles to run: `all` (default), or `compactor`, `admin` or `compactor,admin` apart from
    /// the others (PostgreSQL only).
    #[arg(long)]
    target: Option<String>,
}

impl ConfigArgs {
    pub(crate) fn load(&self) -> Result<Config, crate::config::ConfigErrors> {
        let overrides = Overrides {
            data_dir: self.data_dir.clone(),
            http_addr: self.http_addr.clone(),
            otlp_grpc_addr: self.otlp_grpc_addr.clone(),
            otlp_http_addr: self.otlp_http_addr.clone(),
            internal_addr: self.internal_addr.clone(),
            storage_url: self.storage_url.clone(),
            database_url: self.database_url.clone(),
            target: self.target.clone(),
        };
        Config::load(self.config.as_deref(), std::env::vars(), &overrides)
    }
}

/// Runs the parsed command line; the process exit code says how it went.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::CheckConfig(args) => match args.load() {
            Ok(config) => {
                println!("configuration is valid; effective configuration:");
                match serde_yaml::to_string(&config) {
                    Ok(text) => print!("{text}"),
                    Err(err) => eprintln!("cannot print the configuration: {err}"),
                }
                ExitCode::SUCCESS
            }
            Err(problems) => {
                eprint!("{problems}");
                ExitCode::FAILURE
            }
        },
        Command::Serve(args) => {
            let config = match args.load() {
                Ok(config) => config,
                Err(problems) => {
                    eprint!("{problems}");
                    return ExitCode::FAILURE;
                }
            };
            crate::alloc::limit_malloc_arenas();
            if let Err(err) = crate::telemetry::init(&config.log) {
                eprintln!("cannot set up logging: {err}");
                return ExitCode::FAILURE;
            }
            let Some(runtime) = runtime() else {
                return ExitCode::FAILURE;
            };
            match runtime.block_on(crate::serve::run(config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    tracing::error!(error = format!("{err:#}"), "sextant stopped with an error");
                    eprintln!("error: {err:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Store(StoreCommand::Repair(args)) => crate::repair::run(args),
        Command::Bench(command) => control(crate::bench::run(command)),
        Command::Migrate(args) => {
            control(async move { crate::control::migrate(&args.load()?).await })
        }
        Command::Tenant(command) => control(crate::control::tenant(command)),
        Command::Key(command) => control(crate::control::key(command)),
        Command::Limits(command) => control(crate::control::limits(command)),
        Command::Admin(command) => control(crate::admin_cli::run(command)),
        Command::Loadgen(args) => control(crate::loadgen::run(args)),
        Command::Traceql(command) => crate::traceql_check::run(command),
    }
}

/// Runs an operator command; errors go to stderr with every cause.
fn control(command: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    let Some(runtime) = runtime() else {
        return ExitCode::FAILURE;
    };
    match runtime.block_on(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("sextant")
        .build()
    {
        Ok(rt) => Some(rt),
        Err(err) => {
            eprintln!("cannot start the runtime: {err}");
            None
        }
    }
}
