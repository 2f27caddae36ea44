//! `sextant store repair`: brings the block catalog and the bucket back into agreement.
//!
//! Queries find blocks only through the catalog, so a complete block the catalog lacks is
//! invisible and a folder without `meta.json` (a flush that crashed half-way) is garbage. The
//! repair lists the store tenant by tenant and, for each block folder:
//!
//! - complete (`meta.json` reads, names this tenant and block, format version supported) and
//!   not in the catalog: registers it once every object is older than `min_age` (a flush or
//!   compaction registers its own blocks right after writing them) — unless it is a
//!   compaction output (`compacted_from` in `meta.json`) one of whose inputs is still live: a
//!   crash left it behind and its spans are in those inputs, so it is deleted as an orphan;
//!   in the catalog with the
//!   same metadata: nothing to do; with different metadata: reports a conflict and changes
//!   nothing;
//! - incomplete (no `meta.json`, or one that does not parse) and not in the catalog: deletes
//!   its objects when every one of them is older than `min_age` (so a flush in progress is
//!   never touched), otherwise reports it and leaves it;
//! - in the catalog but incomplete or gone: reports it missing, and with `remove_missing`
//!   forgets it (its leftover objects then count as an orphan).
//!
//! Keys outside the layout are reported and left alone. A dry run reports the same actions
//! and changes nothing; a second run after a real one has nothing to do.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use sextant_model::{BlockCatalog, BlockMeta, BlockState, TenantId};
use sextant_store::object_store::{ObjectStore, ObjectStoreExt};
use sextant_store::{
    BlockFile, BlockFolder, ObjectStoreMetrics, list_block_folder, list_block_folders,
    list_tenants, read_block_info,
};
use sextant_tenancy::Database;

use crate::config::{Config, Overrides};

#[cfg(test)]
mod tests;

/// What a repair may do.
#[derive(Debug, Clone)]
pub(crate) struct RepairOptions {
    /// Report only; change nothing.
    pub(crate) dry_run: bool,
    /// An incomplete folder is deleted only when all its objects are at least this old.
    pub(crate) min_age: Duration,
    /// Only this tenant (otherwise every tenant in the store or the catalog).
    pub(crate) tenant: Option<TenantId>,
    /// Forget catalog entries whose block is gone (otherwise only report them).
    pub(crate) remove_missing: bool,
    /// The time ages are measured against.
    pub(crate) now: SystemTime,
}

/// One thing the repair did (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// A complete block the catalog lacked, now registered.
    Registered { tenant: TenantId, block: String },
    /// An incomplete folder old enough to be garbage, deleted.
    RemovedOrphan {
        tenant: TenantId,
        block: String,
        objects: usize,
    },
    /// An incomplete folder too young to judge (a flush may be writing it).
    SkippedYoung {
        tenant: TenantId,
        block: String,
        objects: usize,
        age: Duration,
    },
    /// A catalog entry without a complete block behind it; `removed` when it was forgotten.
    /// A retired one is usually retention half-way through deleting it.
    Missing {
        tenant: TenantId,
        block: String,
        retired: bool,
        removed: bool,
    },
    /// The catalog and `meta.json` disagree; nothing was changed.
    Conflict {
        tenant: TenantId,
        block: String,
        reason: String,
    },
    /// A folder this binary must not judge (newer format, `meta.json` naming another block).
    Skipped {
        tenant: TenantId,
        block: String,
        reason: String,
    },
    /// A key outside the block layout, left alone.
    Foreign { key: String },
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Registered { tenant, block } => write!(f, "registered {tenant}/{block}"),
            Self::RemovedOrphan {
                tenant,
                block,
                objects,
            } => write!(f, "removed orphan {tenant}/{block} ({objects} objects)"),
            Self::SkippedYoung {
                tenant,
                block,
                objects,
                age,
            } => write!(
                f,
                "skipped young {tenant}/{block} ({objects} objects, newest {} old)",
                humantime::format_duration(Duration::from_secs(age.as_secs()))
            ),
            Self::Missing {
                tenant,
                block,
                retired,
                removed,
            } => {
                write!(f, "missing {tenant}/{block}")?;
                match (retired, removed) {
                    (false, false) => Ok(()),
                    (true, false) => f.write_str(" (retired)"),
                    (false, true) => f.write_str(" (removed from the catalog)"),
                    (true, true) => f.write_str(" (retired, removed from the catalog)"),
                }
            }
            Self::Conflict {
                tenant,
                block,
                reason,
            } => write!(f, "conflict {tenant}/{block}: {reason}"),
            Self::Skipped {
                tenant,
                block,
                reason,
            } => write!(f, "skipped {tenant}/{block}: {reason}"),
            Self::Foreign { key } => write!(f, "ignored {key}: not a block object"),
        }
    }
}

/// Everything a repair found and did.
#[derive(Debug, Clone, Default)]
pub(crate) struct RepairReport {
    pub(crate) dry_run: bool,
    /// Block folders and catalog entries looked at.
    pub(crate) checked: usize,
    pub(crate) actions: Vec<Action>,
    /// Failures (listing, reading, registering, deleting); the repair goes on past each.
    pub(crate) errors: Vec<String>,
}

impl RepairReport {
    fn count(&self, pick: impl Fn(&Action) -> bool) -> usize {
        self.actions.iter().filter(|a| pick(a)).count()
    }

    /// The one-line summary printed after the actions.
    pub(crate) fn summary(&self) -> String {
        format!(
            "repair {}: {} blocks checked, {} registered, {} orphans removed, {} young skipped, \
             {} missing, {} conflicts, {} skipped, {} foreign keys, {} errors{}",
            if self.errors.is_empty() {
                "done"
            } else {
                "finished with errors"
            },
            self.checked,
            self.count(|a| matches!(a, Action::Registered { .. })),
            self.count(|a| matches!(a, Action::RemovedOrphan { .. })),
            self.count(|a| matches!(a, Action::SkippedYoung { .. })),
            self.count(|a| matches!(a, Action::Missing { .. })),
            self.count(|a| matches!(a, Action::Conflict { .. })),
            self.count(|a| matches!(a, Action::Skipped { .. })),
            self.count(|a| matches!(a, Action::Foreign { .. })),
            self.errors.len(),
            if self.dry_run {
                " (dry run: nothing was changed)"
            } else {
                ""
            },
        )
    }
}

/// Repairs the catalog against the store; see the module documentation. Never fails as a
/// whole: each failure is recorded in the report and the repair moves on.
pub(crate) async fn repair(
    store: &dyn ObjectStore,
    catalog: &Database,
    options: &RepairOptions,
) -> RepairReport {
    let mut report = RepairReport {
        dry_run: options.dry_run,
        ..RepairReport::default()
    };
    let tenants = match &options.tenant {
        Some(tenant) => vec![tenant.clone()],
        None => {
            let mut tenants = BTreeSet::new();
            match list_tenants(store).await {
                Ok(root) => {
                    tenants.extend(root.tenants);
                    report
                        .actions
                        .extend(root.foreign.into_iter().map(|key| Action::Foreign {
                            key: key.to_string(),
                        }));
                }
                Err(err) => report
                    .errors
                    .push(format!("list tenants in the store: {err}")),
            }
            match catalog.tenants().await {
                Ok(known) => tenants.extend(known),
                Err(err) => report
                    .errors
                    .push(format!("list tenants in the catalog: {err}")),
            }
            tenants.into_iter().collect()
        }
    };
    for tenant in &tenants {
        repair_tenant(store, catalog, options, tenant, &mut report).await;
    }
    report
}

async fn repair_tenant(
    store: &dyn ObjectStore,
    catalog: &Database,
    options: &RepairOptions,
    tenant: &TenantId,
    report: &mut RepairReport,
) {
    let registered: BTreeMap<String, BlockMeta> = match catalog.list_blocks(Some(tenant)).await {
        Ok(blocks) => blocks
            .into_iter()
            .map(|b| (b.block_id.clone(), b))
            .collect(),
        Err(err) => {
            report
                .errors
                .push(format!("list catalog blocks of tenant {tenant}: {err}"));
            return;
        }
    };
    let listing = match list_block_folders(store, tenant).await {
        Ok(listing) => listing,
        Err(err) => {
            report
                .errors
                .push(format!("list objects of tenant {tenant}: {err}"));
            return;
        }
    };
    report
        .actions
        .extend(listing.foreign.into_iter().map(|key| Action::Foreign {
            key: key.to_string(),
        }));
    let live: BTreeSet<&str> = registered
        .values()
        .filter(|m| m.state == BlockState::Live)
        .map(|m| m.block_id.as_str())
        .collect();
    let mut seen = BTreeSet::new();
    for folder in &listing.folders {
        let block = folder.block.to_string();
        report.checked += 1;
        let known = registered.get(&block);
        seen.insert(block);
        repair_folder(store, catalog, options, folder, known, &live, report).await;
    }
    for meta in registered.values().filter(|m| !seen.contains(&m.block_id)) {
        report.checked += 1;
        missing(catalog, options, meta, report).await;
    }
}

/// What reading a folder's `meta.json` told.
enum Meta {
    /// With the blocks it replaces when it is a compaction's output.
    Complete(BlockMeta, Vec<String>),
    /// Absent or does not parse: the folder is not a block.
    Incomplete,
    /// Nothing this binary may act on.
    Skip(String),
}

async fn read_meta(store: &dyn ObjectStore, folder: &BlockFolder) -> Result<Meta, String> {
    if !folder.has(BlockFile::Meta) {
        return Ok(Meta::Incomplete);
    }
    let info = match read_block_info(store, &folder.prefix()).await {
        Ok(info) => info,
        Err(sextant_store::Error::BlockFormat { .. }) => return Ok(Meta::Incomplete),
        Err(err @ sextant_store::Error::UnsupportedBlockVersion { .. }) => {
            return Ok(Meta::Skip(err.to_string()));
        }
        Err(err) => return Err(format!("read meta.json: {err}")),
    };
    if info.tenant != folder.tenant.as_str() || info.block_id != folder.block.to_string() {
        return Ok(Meta::Skip(format!(
            "meta.json names block {}/{}",
            info.tenant, info.block_id
        )));
    }
    match info.to_block_meta() {
        Ok(meta) => Ok(Meta::Complete(meta, info.compacted_from)),
        Err(err) => Ok(Meta::Skip(format!("meta.json: {err}"))),
    }
}

async fn repair_folder(
    store: &dyn ObjectStore,
    catalog: &Database,
    options: &RepairOptions,
    folder: &BlockFolder,
    known: Option<&BlockMeta>,
    live: &BTreeSet<&str>,
    report: &mut RepairReport,
) {
    let (tenant, block) = (folder.tenant.clone(), folder.block.to_string());
    let meta = match read_meta(store, folder).await {
        Ok(meta) => meta,
        Err(err) => {
            report.errors.push(format!("{tenant}/{block}: {err}"));
            return;
        }
    };
    match (meta, known) {
        (Meta::Skip(reason), _) => report.actions.push(Action::Skipped {
            tenant,
            block,
            reason,
        }),
        (Meta::Complete(meta, compacted_from), None) => {
            // A flush or a compaction registers its block right after writing it; registering
            // it first would race with them (and a compaction output registered as a fresh
            // level-0 block would be visible next to its inputs).
            if let Some(action) = too_young(folder, options) {
                report.actions.push(action);
                return;
            }
            // A compaction output whose inputs are still live was abandoned by a crash (the
            // next pass wrote another): its spans are in those inputs, so it must go.
            if compacted_from.iter().any(|id| live.contains(id.as_str())) {
                orphan(store, options, folder, true, report).await;
                return;
            }
            if !options.dry_run
                && let Err(err) = catalog.register(meta).await
            {
                report
                    .errors
                    .push(format!("register {tenant}/{block}: {err}"));
                return;
            }
            report.actions.push(Action::Registered { tenant, block });
        }
        (Meta::Complete(meta, _), Some(known)) => {
            if let Some(reason) = difference(known, &meta) {
                report.actions.push(Action::Conflict {
                    tenant,
                    block,
                    reason,
                });
            }
        }
        (Meta::Incomplete, Some(known)) => {
            missing(catalog, options, known, report).await;
            // Once forgotten, what is left of the folder is an orphan like any other.
            if options.remove_missing {
                orphan(store, options, folder, false, report).await;
            }
        }
        (Meta::Incomplete, None) => orphan(store, options, folder, false, report).await,
    }
}

/// Where the catalog and `meta.json` disagree, on what `meta.json` records (state and
/// compaction level live only in the catalog).
fn difference(catalog: &BlockMeta, meta: &BlockMeta) -> Option<String> {
    let mut out = Vec::new();
    let mut check = |field: &str, a: String, b: String| {
        if a != b {
            out.push(format!("{field}: catalog {a}, meta.json {b}"));
        }
    };
    check(
        "time range",
        format!("{}..{}", catalog.range.start, catalog.range.end),
        format!("{}..{}", meta.range.start, meta.range.end),
    );
    check(
        "size",
        catalog.size_bytes.to_string(),
        meta.size_bytes.to_string(),
    );
    check(
        "spans",
        catalog.span_count.to_string(),
        meta.span_count.to_string(),
    );
    check(
        "traces",
        catalog.trace_count.to_string(),
        meta.trace_count.to_string(),
    );
    check(
        "format version",
        catalog.format_version.to_string(),
        meta.format_version.to_string(),
    );
    (!out.is_empty()).then(|| out.join("; "))
}

async fn missing(
    catalog: &Database,
    options: &RepairOptions,
    known: &BlockMeta,
    report: &mut RepairReport,
) {
    let (tenant, block) = (&known.tenant, known.block_id.as_str());
    let removed = options.remove_missing;
    if removed
        && !options.dry_run
        && let Err(err) = catalog.remove(tenant, block).await
    {
        report
            .errors
            .push(format!("remove {tenant}/{block} from the catalog: {err}"));
        return;
    }
    report.actions.push(Action::Missing {
        tenant: tenant.clone(),
        block: block.to_owned(),
        retired: known.state == BlockState::Retired,
        removed,
    });
}

/// The age of the newest object of a folder (zero when it is from the future).
fn age(folder: &BlockFolder, now: SystemTime) -> Duration {
    let now_ms = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let newest = folder.newest_modified_ms().unwrap_or(now_ms);
    Duration::from_millis(u64::try_from(now_ms.saturating_sub(newest)).unwrap_or(0))
}

/// `SkippedYoung` when some object of the folder is younger than `min_age`.
fn too_young(folder: &BlockFolder, options: &RepairOptions) -> Option<Action> {
    let age = age(folder, options.now);
    (age < options.min_age).then(|| Action::SkippedYoung {
        tenant: folder.tenant.clone(),
        block: folder.block.to_string(),
        objects: folder.objects.len(),
        age,
    })
}

/// Deletes an old folder that is not a block to keep: an incomplete one, or (`complete`) an
/// abandoned compaction output, whose `meta.json` is expected.
async fn orphan(
    store: &dyn ObjectStore,
    options: &RepairOptions,
    folder: &BlockFolder,
    complete: bool,
    report: &mut RepairReport,
) {
    let (tenant, block) = (folder.tenant.clone(), folder.block.to_string());
    let young = |folder: &BlockFolder| too_young(folder, options);
    if let Some(action) = young(folder) {
        report.actions.push(action);
        return;
    }
    if options.dry_run {
        report.actions.push(Action::RemovedOrphan {
            tenant,
            block,
            objects: folder.objects.len(),
        });
        return;
    }
    // Look again right before deleting: a re-flush of the same block (IDs are deterministic)
    // may have started since the listing.
    let current = match list_block_folder(store, &folder.tenant, folder.block).await {
        Ok(current) => current,
        Err(err) => {
            report.errors.push(format!("list {tenant}/{block}: {err}"));
            return;
        }
    };
    if let Some(action) = young(&current) {
        report.actions.push(action);
        return;
    }
    if current.has(BlockFile::Meta) && !complete {
        report.actions.push(Action::Skipped {
            tenant,
            block,
            reason: "meta.json appeared while repairing; run again".to_owned(),
        });
        return;
    }
    for object in &current.objects {
        if let Err(err) = store.delete(&object.location).await {
            report
                .errors
                .push(format!("delete {}: {err}", object.location));
            return;
        }
    }
    report.actions.push(Action::RemovedOrphan {
        tenant,
        block,
        objects: current.objects.len(),
    });
}

/// `sextant store repair` flags.
#[derive(Debug, clap::Args)]
pub(crate) struct RepairArgs {
    /// YAML configuration file.
    #[arg(long, short = 'c', env = "SEXTANT_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (the catalog and local blocks live under it by default).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Where blocks are: file:///path, s3://bucket/prefix, gs://…, az://…
    #[arg(long)]
    storage_url: Option<String>,
    /// Print what would be done; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Delete an incomplete block folder only when all its objects are at least this old.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    min_age: Duration,
    /// Repair only this tenant.
    #[arg(long)]
    tenant: Option<String>,
    /// Remove catalog entries whose block objects are gone (default: only report them).
    #[arg(long)]
    remove_missing: bool,
}

/// Runs `sextant store repair`: prints one line per action, then a summary. Exit code 0 when
/// the repair completed (conflicts included), 1 on any error.
pub(crate) fn run(args: RepairArgs) -> ExitCode {
    let overrides = Overrides {
        data_dir: args.data_dir.clone(),
        storage_url: args.storage_url.clone(),
        ..Overrides::default()
    };
    let config = match Config::load(args.config.as_deref(), std::env::vars(), &overrides) {
        Ok(config) => config,
        Err(problems) => {
            eprint!("{problems}");
            return ExitCode::FAILURE;
        }
    };
    let tenant = match args.tenant.as_deref().map(TenantId::new).transpose() {
        Ok(tenant) => tenant,
        Err(err) => {
            eprintln!("error: --tenant: {err}");
            return ExitCode::FAILURE;
        }
    };
    let options = RepairOptions {
        dry_run: args.dry_run,
        min_age: args.min_age,
        tenant,
        remove_missing: args.remove_missing,
        now: SystemTime::now(),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run_with(&config, &options)) {
        Ok(report) => {
            let prefix = if report.dry_run { "(dry run) " } else { "" };
            for action in &report.actions {
                println!("{prefix}{action}");
            }
            for error in &report.errors {
                eprintln!("error: {error}");
            }
            println!("{}", report.summary());
            if report.errors.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run_with(config: &Config, options: &RepairOptions) -> anyhow::Result<RepairReport> {
    use anyhow::Context;
    // A mistyped --data-dir must not quietly create an empty catalog (and register into it).
    if let Some(path) = config.database.url.strip_prefix("sqlite://")
        && !std::path::Path::new(path).exists()
    {
        anyhow::bail!(
            "the catalog {path} does not exist (check --config / --data-dir / --database-url; \
             `sextant serve` creates it)"
        );
    }
    let store = sextant_store::open_store(
        &config.storage,
        &config.data_dir,
        ObjectStoreMetrics::unregistered(),
    )
    .context("cannot open the block storage")?;
    let catalog = crate::control::open_database(config, false).await?;
    let report = repair(store.as_ref(), &catalog, options).await;
    catalog.close().await;
    Ok(report)
}
