//! The one typed configuration tree: defaults → YAML file → `SEXTANT_*` environment (double
//! underscore for nesting) → command-line flags. Every problem is reported at once.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_yaml::Value;
use sextant_admin_api::AdminConfig;
use sextant_gateway::{AuthMode, GatewayConfig};
use sextant_model::Limits;
use sextant_pipeline::{BlockConfig, GeneratorConfig, IngesterConfig};
use sextant_store::{CompactorConfig, StorageConfig, WalConfig};
use sextant_tenancy::SqliteConfig;

use crate::roles::Roles;
use crate::tenant_deletion::TenantDeletionConfig;
use crate::tls::TlsConfig;

/// Everything `sextant serve` can be told. Per-tenant settings live in the control-plane
/// database, never here; `limits` are the defaults every tenant starts from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the WAL (and, with the default storage, blocks and the embedded database) live.
    pub data_dir: PathBuf,
    pub server: ServerConfig,
    pub log: LogConfig,
    pub gateway: GatewayConfig,
    pub ingester: IngesterConfig,
    pub wal: WalConfig,
    pub block: BlockConfig,
    pub storage: StorageConfig,
    pub database: DatabaseConfig,
    pub auth: AuthConfig,
    /// The admin token to create on a first start instead of generating one
    /// (`SEXTANT_ADMIN_TOKEN`; at least 32 characters). Never printed.
    #[serde(serialize_with = "redact")]
    pub admin_token: Option<String>,
    pub catalog: CatalogConfig,
    /// Compaction, retention and deletion of retired blocks.
    pub compactor: CompactorConfig,
    pub limits: Limits,
    /// The admin API: session lifetime and what Grafana provisioning points at.
    pub admin: AdminConfig,
    /// Removal of deleted tenants' data.
    pub tenant_deletion: TenantDeletionConfig,
    /// The metrics generator: span metrics and service graphs, remote-written per tenant.
    pub generator: GeneratorConfig,
}

/// The control-plane database: tenants, keys, usage, the block catalog and leases.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://user:pass@host/db` or `sqlite://path` (relative paths under data_dir);
    /// empty means `sqlite://<data_dir>/sextant.db`, the embedded default. Its password is
    /// never printed.
    #[serde(serialize_with = "redact_url_field")]
    pub url: String,
    /// Pool size for Postgres.
    pub max_connections: u32,
    /// How long a Postgres statement waits for a pool connection (and so how quickly an
    /// unreachable database is noticed).
    #[serde(with = "humantime_serde")]
    pub acquire_timeout: Duration,
    /// How the embedded SQLite database is opened.
    pub sqlite: SqliteConfig,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            max_connections: 10,
            acquire_timeout: Duration::from_secs(10),
            sqlite: SqliteConfig::default(),
        }
    }
}

/// Who may send and read, and how the control plane's snapshot is kept fresh.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// `keys` (every data request carries an API key), `none` (one tenant, no credentials:
    /// local experiments only) or `trusted-header` (tenant from `X-Scope-OrgID`, behind an
    /// authenticating proxy).
    pub mode: AuthMode,
    /// The secret API key digests are keyed with (HMAC-SHA-256). Created with 32 random bytes
    /// on first use when missing; every process sharing a database needs the same file. A
    /// relative path is under data_dir.
    pub pepper_file: PathBuf,
    /// How often the tenant snapshot is checked for changes (Postgres also pushes changes).
    #[serde(with = "humantime_serde")]
    pub refresh_interval: Duration,
    /// How often usage counters are written to the database (at most this much is lost in a
    /// crash).
    #[serde(with = "humantime_serde")]
    pub usage_flush_interval: Duration,
    /// How often keys' last-used times are written.
    #[serde(with = "humantime_serde")]
    pub last_used_flush_interval: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            mode: AuthMode::Keys,
            pepper_file: PathBuf::from("pepper"),
            refresh_interval: Duration::from_secs(1),
            usage_flush_interval: Duration::from_secs(10),
            last_used_flush_interval: Duration::from_secs(60),
        }
    }
}

fn redact_url_field<S: serde::Serializer>(value: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&redact_url(value))
}

fn redact<S: serde::Serializer>(value: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(_) => s.serialize_str("***"),
        None => s.serialize_none(),
    }
}

/// The block catalog's gauges (the catalog itself lives in the control-plane database).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CatalogConfig {
    /// How often `sextant_catalog_blocks` / `sextant_catalog_bytes` are read from the catalog.
    #[serde(with = "humantime_serde")]
    pub metrics_interval: Duration,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        Self {
            metrics_interval: Duration::from_secs(30),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("sextant-data"),
            server: ServerConfig::default(),
            log: LogConfig::default(),
            gateway: GatewayConfig::default(),
            ingester: IngesterConfig::default(),
            wal: WalConfig::default(),
            block: BlockConfig::default(),
            storage: StorageConfig::default(),
            database: DatabaseConfig::default(),
            auth: AuthConfig::default(),
            admin_token: None,
            catalog: CatalogConfig::default(),
            compactor: CompactorConfig::default(),
            limits: Limits::default(),
            admin: AdminConfig::default(),
            tenant_deletion: TenantDeletionConfig::default(),
            generator: GeneratorConfig::default(),
        }
    }
}

/// Listeners and process lifecycle.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Tempo query API, OTLP/HTTP and OTLP gRPC (by content type), HTTP/1.1 and h2c.
    pub http_addr: SocketAddr,
    pub otlp_grpc_addr: SocketAddr,
    pub otlp_http_addr: SocketAddr,
    /// `/metrics`, `/ready`, `/live`: for probes and Prometheus, never exposed publicly.
    pub internal_addr: SocketAddr,
    /// How long SIGTERM waits for in-flight requests before closing anyway.
    #[serde(with = "humantime_serde")]
    pub drain_timeout: Duration,
    /// TLS on the public listeners; off unless both files are set.
    pub tls: TlsConfig,
    /// Roles this process runs (`--target`): `all`, or some of `compactor,admin` apart from
    /// the others (on PostgreSQL only).
    pub target: String,
}

impl ServerConfig {
    /// The roles of `target` (validated when the configuration was loaded; `all` otherwise).
    pub(crate) fn roles(&self) -> Roles {
        Roles::parse(&self.target).unwrap_or(Roles::All)
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            http_addr: ([127, 0, 0, 1], 3200).into(),
            otlp_grpc_addr: ([127, 0, 0, 1], 4317).into(),
            otlp_http_addr: ([127, 0, 0, 1], 4318).into(),
            internal_addr: ([127, 0, 0, 1], 3201).into(),
            drain_timeout: Duration::from_secs(30),
            tls: TlsConfig::default(),
            target: "all".into(),
        }
    }
}

/// Log output.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A level (`info`) or an env-filter directive (`info,sextant_pipeline=debug`).
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Logfmt,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Logfmt,
    Json,
}

/// Values given on the command line; they win over everything else.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub http_addr: Option<String>,
    pub otlp_grpc_addr: Option<String>,
    pub otlp_http_addr: Option<String>,
    pub internal_addr: Option<String>,
    pub storage_url: Option<String>,
    pub database_url: Option<String>,
    pub target: Option<String>,
}

/// Every problem found while loading, each on its own line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<String>);

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{} configuration problem(s):", self.0.len())?;
        for problem in &self.0 {
            writeln!(f, "  - {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

const ENV_PREFIX: &str = "SEXTANT_";

impl Config {
    /// Loads the configuration from an optional file, the given environment and flags.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &Overrides,
    ) -> Result<Self, ConfigErrors> {
        let mut problems = Vec::new();
        let mut tree = match file {
            Some(path) => match std::fs::read_to_string(path) {
                Ok(text) => parse_yaml(&text, path, &mut problems),
                Err(err) => {
                    problems.push(format!("cannot read {}: {err}", path.display()));
                    empty_map()
                }
            },
            None => empty_map(),
        };
        let known = serde_yaml::to_value(Config::default()).expect("defaults serialize");
        apply_env(&mut tree, &known, env, &mut problems);
        apply_overrides(&mut tree, overrides);
        unknown_keys(&tree, &known, "", &mut problems);
        let config = deserialize_sections(&tree, &mut problems);
        if let Some(config) = &config {
            config.validate(&mut problems);
        }
        match config {
            Some(config) if problems.is_empty() => Ok(config.resolved()),
            _ => Err(ConfigErrors(problems)),
        }
    }

    /// Fills paths derived from others (the WAL under the data dir unless set absolutely).
    fn resolved(mut self) -> Self {
        if self.wal.dir.is_relative() {
            self.wal.dir = self.data_dir.join(&self.wal.dir);
        }
        if self.auth.pepper_file.is_relative() {
            self.auth.pepper_file = self.data_dir.join(&self.auth.pepper_file);
        }
        self.database.url = match self.database.url.strip_prefix("sqlite://") {
            _ if self.database.url.is_empty() => {
                format!("sqlite://{}", self.data_dir.join("sextant.db").display())
            }
            Some(path) if !path.starts_with('/') && !path.starts_with(':') => {
                format!("sqlite://{}", self.data_dir.join(path).display())
            }
            _ => self.database.url.clone(),
        };
        self
    }

    fn validate(&self, problems: &mut Vec<String>) {
        if self.data_dir.as_os_str().is_empty() {
            problems.push("data_dir: must not be empty".into());
        }
        let zero_durations = [
            ("ingester.trace_idle", self.ingester.trace_idle),
            ("ingester.trace_max_live", self.ingester.trace_max_live),
            ("ingester.sweep_interval", self.ingester.sweep_interval),
            ("catalog.metrics_interval", self.catalog.metrics_interval),
            ("admin.session_ttl", self.admin.session_ttl),
            ("tenant_deletion.interval", self.tenant_deletion.interval),
            ("tenant_deletion.lease_ttl", self.tenant_deletion.lease_ttl),
            ("auth.refresh_interval", self.auth.refresh_interval),
            ("database.acquire_timeout", self.database.acquire_timeout),
            ("auth.usage_flush_interval", self.auth.usage_flush_interval),
            (
                "auth.last_used_flush_interval",
                self.auth.last_used_flush_interval,
            ),
        ];
        for (key, value) in zero_durations {
            if value.is_zero() {
                problems.push(format!("{key}: must be greater than zero"));
            }
        }
        match Roles::parse(&self.server.target) {
            Err(problem) => problems.push(format!("server.target: {problem}")),
            Ok(roles)
                if !roles.is_all()
                    && (self.database.url.is_empty() || self.database.url.starts_with("sqlite:")) =>
            {
                problems.push(
                    "server.target: roles run apart share their state through the database and                      need PostgreSQL (database.url is SQLite, for one process only)"
                        .into(),
                )
            }
            Ok(_) => {}
        }
        let url = &self.database.url;
        if !(url.is_empty()
            || url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            problems.push(format!(
                "database.url: {:?} is neither sqlite://PATH nor postgres://…",
                redact_url(url)
            ));
        }
        if self.database.max_connections == 0 {
            problems.push("database.max_connections: must be greater than zero".into());
        }
        if let Some(token) = &self.admin_token
            && token.len() < 32
        {
            problems.push("admin_token: must be at least 32 characters".into());
        }
        if self.gateway.max_request_bytes == 0 {
            problems.push("gateway.max_request_bytes: must be greater than zero".into());
        }
        self.server.tls.validate(problems);
        problems.extend(self.wal.validate());
        problems.extend(self.generator.validate());
        problems.extend(self.storage.validate());
        problems.extend(self.compactor.problems("compactor."));
        let pipeline = sextant_pipeline::PipelineConfig {
            ingester: self.ingester.clone(),
            wal: self.wal.clone(),
            block: self.block.clone(),
        };
        problems.extend(
            pipeline
                .validate()
                .into_iter()
                .filter(|p| !p.starts_with("wal.") && !p.starts_with("ingester.")),
        );
        if self.limits.ingestion_burst_bytes < self.limits.ingestion_rate_bytes {
            problems.push(
                "limits.ingestion_burst_bytes must be at least limits.ingestion_rate_bytes".into(),
            );
        }
        if let Err(err) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            problems.push(format!("log.level: {err}"));
        }
        let addrs = [
            ("server.http_addr", self.server.http_addr),
            ("server.otlp_grpc_addr", self.server.otlp_grpc_addr),
            ("server.otlp_http_addr", self.server.otlp_http_addr),
            ("server.internal_addr", self.server.internal_addr),
        ];
        for (i, (key, addr)) in addrs.iter().enumerate() {
            for (other, other_addr) in &addrs[i + 1..] {
                if addr == other_addr && addr.port() != 0 {
                    problems.push(format!("{key} and {other} are both {addr}"));
                }
            }
        }
    }
}

/// A database URL with its password replaced, for messages.
pub(crate) fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

fn empty_map() -> Value {
    Value::Mapping(Default::default())
}

fn parse_yaml(text: &str, path: &Path, problems: &mut Vec<String>) -> Value {
    match serde_yaml::from_str::<Value>(text) {
        Ok(Value::Null) => empty_map(),
        Ok(value @ Value::Mapping(_)) => value,
        Ok(_) => {
            problems.push(format!(
                "{}: the top level must be a mapping",
                path.display()
            ));
            empty_map()
        }
        Err(err) => {
            problems.push(format!("{}: {err}", path.display()));
            empty_map()
        }
    }
}

/// `SEXTANT_WAL__MAX_BYTES=5` sets `wal.max_bytes`. Variables whose first part names no config
/// section or key (e.g. `SEXTANT_BIN` used by scripts) are not configuration and are left alone;
/// an unknown key inside a known section is reported by [`unknown_keys`].
fn apply_env(
    tree: &mut Value,
    known: &Value,
    env: impl IntoIterator<Item = (String, String)>,
    problems: &mut Vec<String>,
) {
    let vars: BTreeMap<String, String> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX))
        .collect();
    for (name, raw) in vars {
        let path: Vec<String> = name[ENV_PREFIX.len()..]
            .split("__")
            .map(|p| p.to_ascii_lowercase())
            .collect();
        if path.iter().any(String::is_empty) || known.get(path[0].as_str()).is_none() {
            continue;
        }
        let value = match serde_yaml::from_str::<Value>(&raw) {
            Ok(v @ (Value::Bool(_) | Value::Number(_) | Value::String(_))) => v,
            Ok(Value::Null) | Ok(_) | Err(_) => Value::String(raw.clone()),
        };
        if let Err(problem) = set_path(tree, &path, value) {
            problems.push(format!("{name}: {problem}"));
        }
    }
}

fn apply_overrides(tree: &mut Value, o: &Overrides) {
    let mut set = |path: &[&str], value: Option<String>| {
        if let Some(value) = value {
            let path: Vec<String> = path.iter().map(|s| s.to_string()).collect();
            // Flags always land on mappings the defaults define, so this cannot fail.
            let _ = set_path(tree, &path, Value::String(value));
        }
    };
    set(
        &["data_dir"],
        o.data_dir.as_ref().map(|p| p.display().to_string()),
    );
    set(&["server", "http_addr"], o.http_addr.clone());
    set(&["server", "otlp_grpc_addr"], o.otlp_grpc_addr.clone());
    set(&["server", "otlp_http_addr"], o.otlp_http_addr.clone());
    set(&["server", "internal_addr"], o.internal_addr.clone());
    set(&["storage", "url"], o.storage_url.clone());
    set(&["database", "url"], o.database_url.clone());
    set(&["server", "target"], o.target.clone());
}

fn set_path(tree: &mut Value, path: &[String], value: Value) -> Result<(), String> {
    let mut node = tree;
    for (i, key) in path.iter().enumerate() {
        let Value::Mapping(map) = node else {
            return Err(format!("{} is not a section", path[..i].join(".")));
        };
        let key = Value::String(key.clone());
        if i + 1 == path.len() {
            map.insert(key, value);
            return Ok(());
        }
        node = map.entry(key).or_insert_with(empty_map);
    }
    Ok(())
}

/// Reports keys the defaults do not have, with their full dotted path.
fn unknown_keys(tree: &Value, known: &Value, prefix: &str, problems: &mut Vec<String>) {
    let (Value::Mapping(map), Value::Mapping(known_map)) = (tree, known) else {
        return;
    };
    for (key, value) in map {
        let name = match key {
            Value::String(s) => s.clone(),
            other => format!("{other:?}"),
        };
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        match known_map.get(key) {
            None => problems.push(format!("{path}: unknown key")),
            Some(known_child) => unknown_keys(value, known_child, &path, problems),
        }
    }
}

/// Deserializes section by section so that one bad value does not hide the others.
fn deserialize_sections(tree: &Value, problems: &mut Vec<String>) -> Option<Config> {
    fn section<T: serde::de::DeserializeOwned + Default>(
        tree: &Value,
        key: &str,
        problems: &mut Vec<String>,
    ) -> Option<T> {
        match tree.get(key) {
            None | Some(Value::Null) => Some(T::default()),
            Some(value) => match serde_yaml::from_value::<T>(value.clone()) {
                Ok(v) => Some(v),
                Err(err) => {
                    problems.push(format!("{key}: {err}"));
                    None
                }
            },
        }
    }
    let data_dir = match tree.get("data_dir") {
        None | Some(Value::Null) => PathBuf::from("sextant-data"),
        Some(Value::String(s)) => PathBuf::from(s),
        Some(other) => {
            problems.push(format!("data_dir: expected a path, got {other:?}"));
            PathBuf::new()
        }
    };
    let server = section::<ServerConfig>(tree, "server", problems);
    let log = section::<LogConfig>(tree, "log", problems);
    let gateway = section::<GatewayConfig>(tree, "gateway", problems);
    let ingester = section::<IngesterConfig>(tree, "ingester", problems);
    let wal = section::<WalConfig>(tree, "wal", problems);
    let block = section::<BlockConfig>(tree, "block", problems);
    let storage = section::<StorageConfig>(tree, "storage", problems);
    let database = section::<DatabaseConfig>(tree, "database", problems);
    let auth = section::<AuthConfig>(tree, "auth", problems);
    let admin_token = match tree.get("admin_token") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            problems.push("admin_token: expected a string".into());
            None
        }
    };
    let catalog = section::<CatalogConfig>(tree, "catalog", problems);
    let compactor = section::<CompactorConfig>(tree, "compactor", problems);
    let limits = section::<Limits>(tree, "limits", problems);
    let admin = section::<AdminConfig>(tree, "admin", problems);
    let tenant_deletion = section::<TenantDeletionConfig>(tree, "tenant_deletion", problems);
    let generator = section::<GeneratorConfig>(tree, "generator", problems);
    Some(Config {
        data_dir,
        server: server?,
        log: log?,
        gateway: gateway?,
        ingester: ingester?,
        wal: wal?,
        block: block?,
        storage: storage?,
        database: database?,
        auth: auth?,
        admin_token,
        catalog: catalog?,
        compactor: compactor?,
        limits: limits?,
        admin: admin?,
        tenant_deletion: tenant_deletion?,
        generator: generator?,
    })
}

#[cfg(test)]
mod tests;
