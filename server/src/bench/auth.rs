//! `sextant bench auth`: what authenticating a request costs on the cached path — the control
//! plane's in-memory snapshot, as the gateway calls it for every request.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use sextant_model::{Authenticator, Limits, TenantId};
use sextant_tenancy::{
    ControlPlane, ControlPlaneConfig, Database, NewKey, Pepper, SqliteStore, TenantStore,
    system_clock,
};

#[derive(Debug, clap::Args)]
pub(crate) struct AuthArgs {
    /// Tenants (one read+write key each) in the snapshot.
    #[arg(long, default_value_t = 1_000)]
    tenants: usize,
    /// Authentications timed.
    #[arg(long, default_value_t = 1_000_000)]
    iterations: usize,
}

pub(crate) async fn auth(args: AuthArgs) -> anyhow::Result<()> {
    let db = Arc::new(Database::Sqlite(SqliteStore::open_in_memory().await?));
    let pepper = Pepper::new(b"bench-pepper-0123456789abcdef".to_vec())?;
    let mut keys = Vec::with_capacity(args.tenants);
    for i in 0..args.tenants.max(1) {
        let tenant = TenantId::new(&format!("tenant-{i:05}"))?;
        db.create_tenant(&tenant, "").await?;
        let (_, key) = db.create_key(NewKey::read_write(tenant), &pepper).await?;
        keys.push(key);
    }
    let control = ControlPlane::start(
        db,
        ControlPlaneConfig::new(Limits::default(), pepper),
        system_clock(),
    )
    .await
    .context("start the control plane")?;
    let started = Instant::now();
    for i in 0..args.iterations {
        let identity = control.authenticate(&keys[i % keys.len()])?;
        std::hint::black_box(identity);
    }
    let accepted = started.elapsed();
    // A wrong secret with a valid checksum would need the generator; a wrong last character
    // fails the checksum, the cheapest refusal. A wrong secret costs the same as a right one.
    let wrong = format!("{}x", &keys[0][..keys[0].len() - 1]);
    let refused_iterations = (args.iterations / 10).max(1);
    let started = Instant::now();
    for _ in 0..refused_iterations {
        std::hint::black_box(control.authenticate(&wrong).is_err());
    }
    let refused = started.elapsed();
    println!(
        "{} keys: {:.0} ns per accepted key, {:.0} ns per malformed key ({} iterations, one core)",
        keys.len(),
        accepted.as_nanos() as f64 / args.iterations.max(1) as f64,
        refused.as_nanos() as f64 / refused_iterations as f64,
        args.iterations
    );
    control.close().await?;
    Ok(())
}
