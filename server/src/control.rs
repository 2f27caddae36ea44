//! Operator commands against the control-plane database `serve` uses (same `--config`,
//! `--data-dir`, `--database-url`): `migrate`, `tenant …`, `key …`, `limits …`. Changes reach a
//! running `serve` through its snapshot refresh (`auth.refresh_interval`), no restart needed.

use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use sextant_model::{Limits, TenantId};
use sextant_tenancy::{
    Database, DatabaseOptions, LimitOverrides, NewKey, Pepper, Scopes, TenantStatus, TenantStore,
};

use crate::cli::ConfigArgs;
use crate::config::{Config, redact_url};

#[derive(Debug, Subcommand)]
pub(crate) enum TenantCommand {
    /// Create an active tenant.
    Create {
        /// `[a-z0-9][a-z0-9_-]{2,63}`; immutable, the storage prefix.
        id: String,
        #[arg(long, default_value = "")]
        display_name: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// List tenants.
    List {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Refuse the tenant's ingest (403); reads stay allowed.
    Suspend {
        id: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Allow a suspended tenant to ingest again.
    Resume {
        id: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeyCommand {
    /// Create an API key and print it (the only time it is shown).
    Create {
        #[arg(long)]
        tenant: String,
        /// Comma-separated: traces:write, traces:read.
        #[arg(long, default_value = "traces:write,traces:read")]
        scopes: String,
        /// Expiry from now, e.g. 30d or 12h.
        #[arg(long)]
        expires_in: Option<String>,
        /// Further tenants the key may read (`a|b` queries), comma-separated.
        #[arg(long, default_value = "")]
        read_tenants: String,
        /// What the key is for.
        #[arg(long, default_value = "")]
        description: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// List a tenant's keys (never their secrets).
    List {
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Revoke a key by its ID (the part after `sxt_`, before the next `_`).
    Revoke {
        key_id: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

#[derive(Debug, Subcommand)]
#[expect(
    clippy::large_enum_variant,
    reason = "parsed once per command line; one flag per limit makes Set large"
)]
pub(crate) enum LimitsCommand {
    /// Override some of a tenant's limits; the others keep following the defaults.
    Set(LimitsSetArgs),
    /// Print a tenant's effective limits and its overrides.
    Show {
        id: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

/// One flag per limit of DESIGN.md §3; `--clear NAME` removes an override.
#[derive(Debug, Args)]
pub(crate) struct LimitsSetArgs {
    id: String,
    #[arg(long)]
    ingestion_rate_bytes: Option<u64>,
    #[arg(long)]
    ingestion_burst_bytes: Option<u64>,
    #[arg(long)]
    max_traces_per_tenant: Option<u64>,
    #[arg(long)]
    max_bytes_per_trace: Option<u64>,
    #[arg(long)]
    max_attribute_bytes: Option<u64>,
    #[arg(long, value_parser = humantime::parse_duration)]
    block_retention: Option<Duration>,
    #[arg(long, value_parser = humantime::parse_duration)]
    max_search_duration: Option<Duration>,
    #[arg(long)]
    max_spans_per_span_set: Option<u64>,
    #[arg(long)]
    max_search_bytes: Option<u64>,
    #[arg(long, value_parser = humantime::parse_duration)]
    search_timeout: Option<Duration>,
    #[arg(long, value_parser = humantime::parse_duration)]
    max_metrics_duration: Option<Duration>,
    #[arg(long)]
    max_metrics_series: Option<u64>,
    #[arg(long)]
    daily_ingest_bytes: Option<u64>,
    #[arg(long)]
    monthly_ingest_bytes: Option<u64>,
    #[arg(long)]
    query_rate: Option<u64>,
    /// Remove the override of this limit (repeatable), e.g. `--clear query_rate`.
    #[arg(long)]
    clear: Vec<String>,
    #[command(flatten)]
    config: ConfigArgs,
}

/// Opens the configured database; the embedded SQLite one is migrated on the spot, Postgres
/// must have been migrated (`sextant migrate`, or any `serve`).
pub(crate) async fn open_database(config: &Config, migrate: bool) -> anyhow::Result<Database> {
    let options = DatabaseOptions {
        sqlite: config.database.sqlite.clone(),
        max_connections: config.database.max_connections,
        acquire_timeout: config.database.acquire_timeout,
        migrate,
    };
    Database::connect(&config.database.url, &options)
        .await
        .with_context(|| {
            format!(
                "cannot open the database {}",
                redact_url(&config.database.url)
            )
        })
}

pub(crate) async fn open_for_cli(config: &Config) -> anyhow::Result<Database> {
    let embedded = config.database.url.starts_with("sqlite:");
    open_database(config, embedded).await
}

/// The pepper API key digests are keyed with: read from `auth.pepper_file`, created with 32
/// random bytes (hex) when missing and `create` is set.
pub(crate) fn load_pepper(path: &Path, create: bool) -> anyhow::Result<Pepper> {
    match std::fs::read_to_string(path) {
        Ok(text) => Pepper::new(text.trim().as_bytes().to_vec())
            .with_context(|| format!("bad pepper file {}", path.display())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound && create => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            let bytes: [u8; 32] = rand::random();
            let text = bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
            write_new_private(path, &text)?;
            // Another process may have won the race: whatever is on disk now is the pepper.
            load_pepper(path, false)
        }
        Err(err) => Err(err).with_context(|| format!("cannot read pepper {}", path.display())),
    }
}

fn write_new_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut file) => {
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            Ok(())
        }
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(err).with_context(|| format!("cannot create {}", path.display())),
    }
}

fn tenant_id(id: &str) -> anyhow::Result<TenantId> {
    TenantId::new(id).map_err(anyhow::Error::from)
}

/// `--expires-in` (e.g. `30d`) as a time from now.
pub(crate) fn parse_expiry(expires_in: Option<&str>) -> anyhow::Result<Option<SystemTime>> {
    expires_in
        .map(|text| {
            humantime::parse_duration(text)
                .map(|d| SystemTime::now() + d)
                .with_context(|| format!("--expires-in {text:?}"))
        })
        .transpose()
}

pub(crate) fn time(t: Option<SystemTime>) -> String {
    t.map_or_else(
        || "-".to_owned(),
        |t| humantime::format_rfc3339_seconds(t).to_string(),
    )
}

pub(crate) async fn migrate(config: &Config) -> anyhow::Result<()> {
    let options = DatabaseOptions {
        sqlite: config.database.sqlite.clone(),
        max_connections: 2,
        acquire_timeout: config.database.acquire_timeout,
        migrate: false,
    };
    let db = Database::connect_unmigrated(&config.database.url, &options)
        .await
        .with_context(|| {
            format!(
                "cannot open the database {}",
                redact_url(&config.database.url)
            )
        })?;
    let applied = db.migrate().await.context("migration failed")?;
    if applied.is_empty() {
        println!(
            "database {} is up to date",
            redact_url(&config.database.url)
        );
    } else {
        for name in applied {
            println!("applied {name}");
        }
    }
    Ok(())
}

pub(crate) async fn tenant(command: TenantCommand) -> anyhow::Result<()> {
    match command {
        TenantCommand::Create {
            id,
            display_name,
            config,
        } => {
            let db = open_for_cli(&config.load()?).await?;
            let t = db.create_tenant(&tenant_id(&id)?, &display_name).await?;
            println!("created tenant {} ({})", t.id, t.status);
        }
        TenantCommand::List { config } => {
            let db = open_for_cli(&config.load()?).await?;
            let tenants = db.list_tenants().await?;
            println!(
                "{:<24} {:<10} {:<20} DISPLAY NAME",
                "ID", "STATUS", "CREATED"
            );
            for t in tenants {
                println!(
                    "{:<24} {:<10} {:<20} {}",
                    t.id.as_str(),
                    t.status.as_str(),
                    time(Some(t.created_at)),
                    t.display_name
                );
            }
        }
        TenantCommand::Suspend { id, config } => {
            let db = open_for_cli(&config.load()?).await?;
            let t = db
                .set_status(&tenant_id(&id)?, TenantStatus::Suspended)
                .await?;
            println!("tenant {} is {}", t.id, t.status);
        }
        TenantCommand::Resume { id, config } => {
            let db = open_for_cli(&config.load()?).await?;
            let t = db
                .set_status(&tenant_id(&id)?, TenantStatus::Active)
                .await?;
            println!("tenant {} is {}", t.id, t.status);
        }
    }
    Ok(())
}

pub(crate) async fn key(command: KeyCommand) -> anyhow::Result<()> {
    match command {
        KeyCommand::Create {
            tenant,
            scopes,
            expires_in,
            read_tenants,
            description,
            config,
        } => {
            let config = config.load()?;
            let pepper = load_pepper(&config.auth.pepper_file, true)?;
            let expires_at = parse_expiry(expires_in.as_deref())?;
            let read_tenants = read_tenants
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(tenant_id)
                .collect::<anyhow::Result<Vec<_>>>()?;
            let new = NewKey {
                tenant: tenant_id(&tenant)?,
                scopes: Scopes::parse(&scopes)?,
                read_tenants,
                expires_at,
                description,
            };
            let db = open_for_cli(&config).await?;
            let (key, secret) = db.create_key(new, &pepper).await?;
            eprintln!(
                "created key {} for tenant {} ({}); it is shown only now:",
                key.key_id, key.tenant, key.scopes
            );
            println!("{secret}");
        }
        KeyCommand::List { tenant, config } => {
            let db = open_for_cli(&config.load()?).await?;
            let keys = db.list_keys(&tenant_id(&tenant)?).await?;
            println!(
                "{:<14} {:<26} {:<20} {:<20} {:<20} {:<20} READ TENANTS",
                "KEY ID", "SCOPES", "CREATED", "EXPIRES", "LAST USED", "REVOKED"
            );
            for k in keys {
                let reads: Vec<&str> = k.read_tenants.iter().map(TenantId::as_str).collect();
                println!(
                    "{:<14} {:<26} {:<20} {:<20} {:<20} {:<20} {}",
                    k.key_id,
                    k.scopes.to_string(),
                    time(Some(k.created_at)),
                    time(k.expires_at),
                    time(k.last_used_at),
                    time(k.revoked_at),
                    if reads.is_empty() {
                        "-".to_owned()
                    } else {
                        reads.join(",")
                    }
                );
            }
        }
        KeyCommand::Revoke { key_id, config } => {
            let db = open_for_cli(&config.load()?).await?;
            let key = db.revoke_key(&key_id).await?;
            println!("revoked key {} of tenant {}", key.key_id, key.tenant);
        }
    }
    Ok(())
}

pub(crate) async fn limits(command: LimitsCommand) -> anyhow::Result<()> {
    match command {
        LimitsCommand::Set(args) => {
            let config = args.config.load()?;
            let db = open_for_cli(&config).await?;
            let id = tenant_id(&args.id)?;
            let Some(tenant) = db.get_tenant(&id).await? else {
                bail!("no tenant {id}");
            };
            let mut o = tenant.limits.clone();
            macro_rules! set {
                ($($field:ident),*) => {
                    $(if args.$field.is_some() { o.$field = args.$field; })*
                };
            }
            set!(
                ingestion_rate_bytes,
                ingestion_burst_bytes,
                max_traces_per_tenant,
                max_bytes_per_trace,
                max_attribute_bytes,
                block_retention,
                max_search_duration,
                max_spans_per_span_set,
                max_search_bytes,
                search_timeout,
                max_metrics_duration,
                max_metrics_series,
                daily_ingest_bytes,
                monthly_ingest_bytes,
                query_rate
            );
            for name in &args.clear {
                clear(&mut o, name)?;
            }
            let effective = o.apply(&config.limits);
            if effective.ingestion_burst_bytes < effective.ingestion_rate_bytes {
                bail!(
                    "ingestion_burst_bytes ({}) must be at least ingestion_rate_bytes ({})",
                    effective.ingestion_burst_bytes,
                    effective.ingestion_rate_bytes
                );
            }
            let tenant = db.set_limits(&id, o).await?;
            print_limits(&tenant.limits, &config.limits);
        }
        LimitsCommand::Show { id, config } => {
            let config = config.load()?;
            let db = open_for_cli(&config).await?;
            let id = tenant_id(&id)?;
            let Some(tenant) = db.get_tenant(&id).await? else {
                bail!("no tenant {id}");
            };
            print_limits(&tenant.limits, &config.limits);
        }
    }
    Ok(())
}

fn clear(o: &mut LimitOverrides, name: &str) -> anyhow::Result<()> {
    macro_rules! clear {
        ($($field:ident),*) => {
            match name {
                $(stringify!($field) => o.$field = None,)*
                other => bail!("--clear {other:?}: no such limit"),
            }
        };
    }
    clear!(
        ingestion_rate_bytes,
        ingestion_burst_bytes,
        max_traces_per_tenant,
        max_bytes_per_trace,
        max_attribute_bytes,
        block_retention,
        max_search_duration,
        max_spans_per_span_set,
        max_search_bytes,
        search_timeout,
        max_metrics_duration,
        max_metrics_series,
        daily_ingest_bytes,
        monthly_ingest_bytes,
        query_rate
    );
    Ok(())
}

/// Effective value of every limit, marking the overridden ones.
fn print_limits(overrides: &LimitOverrides, defaults: &Limits) {
    let effective = serde_json::to_value(overrides.apply(defaults)).expect("limits serialise");
    let set = serde_json::to_value(overrides).expect("overrides serialise");
    let serde_json::Value::Object(effective) = effective else {
        return;
    };
    for (name, value) in effective {
        let marker = if set.get(&name).is_some() {
            "  (override)"
        } else {
            ""
        };
        println!("{name:<24} {value}{marker}");
    }
}
