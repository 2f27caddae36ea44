//! `sextant serve`: wires the crates into one process and runs it until SIGTERM/SIGINT.
//!
//! Order matters: the internal listener comes up first so probes see `/live` and an honest
//! `/ready` (503 while the WAL replays); the public listeners open only once the pipeline can
//! take data; on shutdown they stop accepting, in-flight requests drain (bounded by
//! `server.drain_timeout`), and the WAL is fsynced and closed before the process exits 0.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::serve::{Listener, ListenerExt};
use prometheus_client::registry::Registry;
use sextant_admin_api::AdminState;
use sextant_gateway::{AuthMode, BuildInfo, GatewayMetrics, GatewayPorts, GatewayState};
use sextant_model::{
    Authenticator, IngestSink, MetricsQuerier, TenantDirectory, TraceReader, TraceSearcher,
    UsageMeter,
};
use sextant_pipeline::{BlockBackend, Generator, Pipeline, PipelineConfig};
use sextant_store::{CompactionMetrics, Compactor, CompactorParts, ObjectStoreMetrics};
use sextant_tenancy::{
    Bootstrap, ControlPlane, ControlPlaneConfig, Database, Pepper, bootstrap, system_clock,
};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::catalog_metrics::CatalogMetrics;
use crate::config::Config;
use crate::config::redact_url;
use crate::control::{load_pepper, open_database};
use crate::internal::{self, Health};
use crate::roles::{Role, Roles};
use crate::tenant_deletion::TenantDeleter;
use crate::tenant_metrics::{LimitsExporter, MeteredUsage, UsageMetrics};
use crate::tls::{Tls, TlsMetrics};

/// The Tempo version reported by `/api/status/buildinfo`. Grafana gates streaming (≥ 2.2) and
/// metrics streaming (≥ 2.7) on it; our own version travels as semver build metadata.
pub const TEMPO_API_VERSION: &str = "2.9.0";

pub fn build_info() -> BuildInfo {
    BuildInfo {
        version: format!("{TEMPO_API_VERSION}+sextant.{}", env!("CARGO_PKG_VERSION")),
        revision: option_env!("SEXTANT_GIT_REVISION")
            .unwrap_or("unknown")
            .into(),
        branch: option_env!("SEXTANT_GIT_BRANCH")
            .unwrap_or("unknown")
            .into(),
        build_date: option_env!("SEXTANT_BUILD_DATE")
            .unwrap_or("unknown")
            .into(),
        build_user: "sextant".into(),
        go_version: format!("n/a (sextant {}, rust)", env!("CARGO_PKG_VERSION")),
    }
}

/// Runs every role in this process until a termination signal.
pub(crate) async fn run(config: Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data dir {}", config.data_dir.display()))?;
    let shutdown = CancellationToken::new();
    spawn_signal_handler(shutdown.clone());

    let health = Health::new("replaying the wal");
    // server.tls: checked before anything else starts, so a bad pair fails the start at once.
    let tls = if config.server.tls.enabled() {
        let mut registry = Registry::default();
        let (tls, reloader) = Tls::load(&config.server.tls, TlsMetrics::register(&mut registry))?;
        health.add_registry(registry);
        tokio::spawn(reloader.run(shutdown.child_token()));
        Some(tls)
    } else {
        None
    };
    let internal = bind("internal", config.server.internal_addr).await?;
    let internal_task = tokio::spawn(serve_listener(
        plain(internal),
        internal::router(health.clone()),
        shutdown.clone(),
        // Probes and scrapes must keep answering until the very end.
        Duration::from_secs(1),
    ));

    let mut pipeline_registry = Registry::default();
    let store = sextant_store::open_store(
        &config.storage,
        &config.data_dir,
        ObjectStoreMetrics::register(&mut pipeline_registry),
    )
    .context("cannot open the block storage")?;
    health.set_phase(Some("opening the control-plane database"));
    // Migrations run here, under an advisory lock on Postgres.
    let catalog = Arc::new(open_database(&config, true).await?);
    if !catalog.is_embedded() && config.auth.mode == AuthMode::Keys {
        tracing::info!(database = %redact_url(&config.database.url), "control plane on postgres");
    }
    let (control, pepper) = start_control_plane(&config, catalog.clone()).await?;
    health.add_warning_source(control_plane_warning(control.clone()));
    health.set_phase(Some("replaying the wal"));
    // Catalog size is known before the first flush: metrics start from it, not from zero.
    let catalog_metrics = CatalogMetrics::register(&mut pipeline_registry);
    catalog_metrics.refresh(&catalog).await;
    let catalog_metrics_task = tokio::spawn(catalog_metrics.run(
        catalog.clone(),
        config.catalog.metrics_interval,
        shutdown.child_token(),
    ));
    let roles = config.server.roles();
    // compactor: retention, compaction and deletion of retired blocks, every interval.
    let compactor_task = (roles.has(Role::Compactor) && config.compactor.enabled).then(|| {
        let compactor = Compactor::new(CompactorParts {
            store: store.clone(),
            catalog: catalog.clone(),
            lease: catalog.clone(),
            tenants: control.clone() as Arc<dyn TenantDirectory>,
            holder: lease_holder(),
            config: config.compactor.clone(),
            block_options: config.block.options(),
            metrics: CompactionMetrics::register(&mut pipeline_registry),
        });
        tokio::spawn(compactor.run(shutdown.child_token().cancelled_owned()))
    });
    // Deleted tenants' data goes in the background, under the compactor's lease.
    let deletion_task = roles.has(Role::Compactor).then(|| {
        tokio::spawn(
            TenantDeleter::new(
                catalog.clone(),
                store.clone(),
                config.tenant_deletion.clone(),
                lease_holder(),
                &mut pipeline_registry,
            )
            .run(shutdown.child_token()),
        )
    });
    let admin = roles.has(Role::Admin).then(|| {
        sextant_admin_api::router(AdminState::new(
            catalog.clone(),
            control.clone() as Arc<dyn Authenticator>,
            pepper,
            config.limits.clone(),
            config.admin.clone(),
        ))
    });
    if !roles.is_all() {
        // Split roles (compactor, admin): no ingest path, no WAL; state is in the database.
        health.add_registry(pipeline_registry);
        let public = admin
            .map(|admin| vec![("http", config.server.http_addr, admin)])
            .unwrap_or_default();
        let tasks = Background {
            catalog_metrics: catalog_metrics_task,
            compactor: compactor_task,
            deletion: deletion_task,
        };
        return serve_until_shutdown(
            &config,
            &roles,
            tls,
            public,
            health,
            internal_task,
            shutdown,
            tasks,
            None,
            control,
        )
        .await;
    }
    let backend = BlockBackend {
        store,
        catalog: catalog.clone(),
    };
    let pipeline_config = PipelineConfig {
        ingester: config.ingester.clone(),
        wal: config.wal.clone(),
        block: config.block.clone(),
    };
    let tenants = control.clone() as Arc<dyn TenantDirectory>;
    let pipeline = tokio::task::spawn_blocking(move || {
        let pipeline = Pipeline::open(
            pipeline_config,
            tenants,
            Some(backend),
            &mut pipeline_registry,
        );
        pipeline.map(|p| (p, pipeline_registry))
    })
    .await
    .context("pipeline start panicked")?
    .context("cannot open the pipeline")?;
    let (pipeline, mut pipeline_registry) = pipeline;
    let generator = if config.generator.enabled {
        let generator = Generator::start(
            config.generator.clone(),
            control.clone() as Arc<dyn TenantDirectory>,
            &mut pipeline_registry,
        )
        .context("cannot start the metrics generator")?;
        pipeline.feed_generator(generator.feed());
        Some(generator)
    } else {
        None
    };
    health.add_registry(pipeline_registry);
    health.add_probe(pipeline.clone());

    let mut gateway_registry = Registry::default();
    let usage = MeteredUsage::new(
        control.clone(),
        UsageMetrics::register(&mut gateway_registry),
    );
    LimitsExporter::register(
        &mut gateway_registry,
        control.clone(),
        config.limits.clone(),
    );
    let ports = GatewayPorts {
        ingest: pipeline.clone() as Arc<dyn IngestSink>,
        reader: pipeline.clone() as Arc<dyn TraceReader>,
        searcher: pipeline.clone() as Arc<dyn TraceSearcher>,
        metrics_querier: pipeline.clone() as Arc<dyn MetricsQuerier>,
        authenticator: control.clone() as Arc<dyn Authenticator>,
        tenants: control.clone() as Arc<dyn TenantDirectory>,
        usage: Arc::new(usage) as Arc<dyn UsageMeter>,
    };
    let state = GatewayState::new(
        ports,
        config.auth.mode,
        config.gateway.clone(),
        build_info(),
        Arc::new(GatewayMetrics::register(&mut gateway_registry)),
    );
    health.add_registry(gateway_registry);

    let mut http = sextant_gateway::router(state.clone());
    if let Some(admin) = admin {
        http = http.merge(sextant_gateway::with_access_log(admin, &state));
    }
    let background = tokio::spawn(pipeline.clone().run(shutdown.child_token()));
    let listeners = vec![
        ("http", config.server.http_addr, http),
        (
            "otlp-grpc",
            config.server.otlp_grpc_addr,
            sextant_gateway::otlp_grpc_router(state.clone()),
        ),
        (
            "otlp-http",
            config.server.otlp_http_addr,
            sextant_gateway::otlp_http_router(state),
        ),
    ];
    let tasks = Background {
        catalog_metrics: catalog_metrics_task,
        compactor: compactor_task,
        deletion: deletion_task,
    };
    let ingest = Some(Ingest {
        pipeline,
        background,
        generator,
    });
    serve_until_shutdown(
        &config,
        &roles,
        tls,
        listeners,
        health,
        internal_task,
        shutdown,
        tasks,
        ingest,
        control,
    )
    .await
}

/// Background loops every role set may run.
struct Background {
    catalog_metrics: JoinHandle<()>,
    compactor: Option<JoinHandle<()>>,
    deletion: Option<JoinHandle<()>>,
}

/// The ingest path of a process that runs it: the pipeline, its background loop and the
/// metrics generator it feeds.
struct Ingest {
    pipeline: Arc<Pipeline>,
    background: JoinHandle<()>,
    generator: Option<Generator>,
}

/// Opens the public listeners, serves until a termination signal, then drains and closes in
/// order: listeners, background loops, the WAL (when this process ingests), usage.
#[expect(
    clippy::too_many_arguments,
    reason = "the one place where a started process's parts come together for shutdown"
)]
async fn serve_until_shutdown(
    config: &Config,
    roles: &Roles,
    tls: Option<Tls>,
    listeners: Vec<(&'static str, SocketAddr, Router)>,
    health: Arc<Health>,
    mut internal_task: JoinHandle<anyhow::Result<()>>,
    shutdown: CancellationToken,
    tasks: Background,
    ingest: Option<Ingest>,
    control: Arc<ControlPlane>,
) -> anyhow::Result<()> {
    let drain = config.server.drain_timeout;
    let mut public = JoinSet::new();
    for (name, addr, router) in listeners {
        let listener = bind(name, addr).await?;
        match &tls {
            Some(tls) => public.spawn(serve_listener(
                tls.listener(listener)?,
                router,
                shutdown.clone(),
                drain,
            )),
            None => public.spawn(serve_listener(
                plain(listener),
                router,
                shutdown.clone(),
                drain,
            )),
        };
    }
    health.set_phase(None);
    tracing::info!(version = %build_info().version, roles = %roles,
        data_dir = %config.data_dir.display(), "sextant ready");

    tokio::select! {
        _ = shutdown.cancelled() => {}
        result = &mut internal_task => {
            shutdown.cancel();
            result.context("internal listener panicked")??;
        }
    }
    health.set_phase(Some("shutting down"));
    tracing::info!(drain_timeout = ?drain, "shutting down: draining in-flight requests");
    while let Some(result) = public.join_next().await {
        result.context("listener task panicked")??;
    }
    let _ = tasks.catalog_metrics.await;
    for task in [tasks.compactor, tasks.deletion].into_iter().flatten() {
        let _ = task.await;
    }
    if let Some(Ingest {
        pipeline,
        background,
        generator,
    }) = ingest
    {
        let _ = background.await;
        pipeline.close().await.context("closing the wal")?;
        tracing::info!("wal closed");
        if let Some(generator) = generator {
            generator.stop().await;
        }
    }
    match control.close().await {
        Ok(()) => tracing::info!("usage flushed; bye"),
        Err(err) => tracing::error!(%err, "could not flush usage to the database at shutdown"),
    }
    if !internal_task.is_finished() {
        let _ = internal_task.await;
    }
    Ok(())
}

/// This process's lease holder name: host, process ID and a random part, so two processes
/// (even with one host name and PID, as in containers) never share it.
fn lease_holder() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".to_owned());
    format!(
        "{host}/{}/{:016x}",
        std::process::id(),
        rand::random::<u64>()
    )
}

/// Loads the pepper, creates the first admin token, tenant and key on an empty database (keys
/// mode), and starts the snapshot refresher; returns it with the pepper (the admin API keys
/// new API keys and sessions with it).
async fn start_control_plane(
    config: &Config,
    db: Arc<Database>,
) -> anyhow::Result<(Arc<ControlPlane>, Pepper)> {
    let pepper = load_pepper(&config.auth.pepper_file, true)?;
    match config.auth.mode {
        AuthMode::Keys => {
            let created = bootstrap(&db, &pepper, config.admin_token.as_deref())
                .await
                .context("first-start bootstrap failed")?;
            if let Some(b) = created {
                print_bootstrap(&b);
            }
        }
        AuthMode::None => tracing::warn!(
            "auth.mode is none: anyone who can reach the listeners can write and read every \
             trace, as tenant single-tenant. For local experiments only."
        ),
        AuthMode::TrustedHeader => tracing::warn!(
            "auth.mode is trusted-header: the tenant is taken from X-Scope-OrgID without any \
             credential. Only run this behind a proxy that authenticates and sets that header."
        ),
    }
    let cp_config = ControlPlaneConfig {
        defaults: config.limits.clone(),
        pepper: pepper.clone(),
        refresh_interval: config.auth.refresh_interval,
        usage_flush_interval: config.auth.usage_flush_interval,
        last_used_flush_interval: config.auth.last_used_flush_interval,
    };
    let control = ControlPlane::start(db, cp_config, system_clock())
        .await
        .context("cannot load the tenant snapshot")?;
    Ok((control, pepper))
}

/// The first start's credentials, printed once: a human reads the prose, scripts and tests the
/// `bootstrap <what> <value>` lines.
fn print_bootstrap(b: &Bootstrap) {
    println!("bootstrap: first start with an empty database; these credentials are shown only now");
    if let Some(token) = &b.admin_token {
        println!("bootstrap admin-token {token}");
    }
    println!("bootstrap tenant {}", b.tenant);
    println!("bootstrap api-key {}", b.key);
    tracing::warn!(
        tenant = %b.tenant,
        "first start: created an admin token, the tenant and a read+write key (printed on stdout once)"
    );
}

/// `/ready` stays 200 while the database is unreachable (fail static), with the reason shown.
fn control_plane_warning(
    control: Arc<ControlPlane>,
) -> Box<dyn Fn() -> Option<String> + Send + Sync> {
    Box::new(move || {
        let status = control.status();
        status.db_error.map(|err| {
            format!(
                "control-plane database unreachable ({err}); serving the tenant snapshot of revision {}",
                status.revision
            )
        })
    })
}

async fn bind(name: &str, addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} ({name})"))?;
    let local = listener.local_addr()?;
    // A machine-readable line per listener: scripts and tests start us on port 0 and read it.
    println!("listening {name} {local}");
    tracing::info!(listener = name, addr = %local, "listening");
    Ok(listener)
}

/// A listener without TLS (HTTP/1.1 and h2c).
fn plain(listener: TcpListener) -> impl Listener<Addr = SocketAddr> {
    listener.tap_io(|tcp| {
        // gRPC and small OTLP requests suffer from Nagle's delay.
        let _ = tcp.set_nodelay(true);
    })
}

/// Serves one listener (plain or TLS) until shutdown, then drains for at most `drain`.
async fn serve_listener<L>(
    listener: L,
    router: Router,
    shutdown: CancellationToken,
    drain: Duration,
) -> anyhow::Result<()>
where
    L: Listener,
    L::Addr: std::fmt::Debug,
{
    let graceful =
        axum::serve(listener, router).with_graceful_shutdown(shutdown.clone().cancelled_owned());
    let server = tokio::spawn(async move { graceful.await });
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => return Ok(result??),
        _ = shutdown.cancelled() => {}
    }
    match tokio::time::timeout(drain, &mut server).await {
        Ok(result) => Ok(result??),
        Err(_) => {
            tracing::warn!(drain_timeout = ?drain, "drain timeout reached; closing remaining connections");
            server.abort();
            Ok(())
        }
    }
}

fn spawn_signal_handler(shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(err) => {
                    tracing::error!(%err, "cannot install the SIGTERM handler");
                    return;
                }
            };
        tokio::select! {
            _ = term.recv() => tracing::info!(signal = "SIGTERM", "signal received"),
            _ = tokio::signal::ctrl_c() => tracing::info!(signal = "SIGINT", "signal received"),
        }
        shutdown.cancel();
    });
}
