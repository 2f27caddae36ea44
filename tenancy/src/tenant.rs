//! Tenants, their limit overrides and API keys as the store hands them out.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use sextant_model::{FieldError, GeneratorSettings, Limits, TenantId};

use crate::admin::AdminToken;
use crate::error::{Error, Result};
use crate::keys::KeyDigest;

/// Where a tenant is in its life: the model's type, so the edge and the store agree.
pub use sextant_model::TenantStatus;

/// Parses a status as stored or typed by an operator.
pub(crate) fn parse_status(s: &str) -> Result<TenantStatus> {
    TenantStatus::parse(s).ok_or_else(|| {
        Error::Invalid(format!(
            "unknown tenant status {s:?} (active, suspended or deleting)"
        ))
    })
}

/// A tenant's overrides of the configured [`Limits`]: each field set here replaces the default,
/// each unset one keeps it. Stored as JSON with the unset fields left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingestion_rate_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingestion_burst_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_traces_per_tenant: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_bytes_per_trace: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_attribute_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", with = "humantime_serde")]
    pub block_retention: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none", with = "humantime_serde")]
    pub max_search_duration: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_spans_per_span_set: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_search_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", with = "humantime_serde")]
    pub max_metrics_duration: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_metrics_series: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", with = "humantime_serde")]
    pub search_timeout: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub daily_ingest_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monthly_ingest_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_rate: Option<u64>,
}

impl LimitOverrides {
    /// The effective limits: `defaults` with every field set here replaced.
    pub fn apply(&self, defaults: &Limits) -> Limits {
        // Destructured so a field added to `Limits` fails to compile here until handled.
        let Limits {
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
            query_rate,
        } = defaults.clone();
        Limits {
            ingestion_rate_bytes: self.ingestion_rate_bytes.unwrap_or(ingestion_rate_bytes),
            ingestion_burst_bytes: self.ingestion_burst_bytes.unwrap_or(ingestion_burst_bytes),
            max_traces_per_tenant: self.max_traces_per_tenant.unwrap_or(max_traces_per_tenant),
            max_bytes_per_trace: self.max_bytes_per_trace.unwrap_or(max_bytes_per_trace),
            max_attribute_bytes: self.max_attribute_bytes.unwrap_or(max_attribute_bytes),
            block_retention: self.block_retention.unwrap_or(block_retention),
            max_search_duration: self.max_search_duration.unwrap_or(max_search_duration),
            max_spans_per_span_set: self
                .max_spans_per_span_set
                .unwrap_or(max_spans_per_span_set),
            max_search_bytes: self.max_search_bytes.unwrap_or(max_search_bytes),
            search_timeout: self.search_timeout.unwrap_or(search_timeout),
            max_metrics_duration: self.max_metrics_duration.unwrap_or(max_metrics_duration),
            max_metrics_series: self.max_metrics_series.unwrap_or(max_metrics_series),
            daily_ingest_bytes: self.daily_ingest_bytes.unwrap_or(daily_ingest_bytes),
            monthly_ingest_bytes: self.monthly_ingest_bytes.unwrap_or(monthly_ingest_bytes),
            query_rate: self.query_rate.unwrap_or(query_rate),
        }
    }

    /// Every override that cannot be meant, empty when all are valid: rates, sizes, durations
    /// and span counts must be above 0. Where the limit's 0 means "none" (quotas, the query
    /// rate, search bytes, attribute truncation) 0 is allowed.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let positive = [
            ("ingestion_rate_bytes", self.ingestion_rate_bytes),
            ("ingestion_burst_bytes", self.ingestion_burst_bytes),
            ("max_traces_per_tenant", self.max_traces_per_tenant),
            ("max_bytes_per_trace", self.max_bytes_per_trace),
            ("max_spans_per_span_set", self.max_spans_per_span_set),
            ("max_metrics_series", self.max_metrics_series),
        ];
        for (field, value) in positive {
            if value == Some(0) {
                errors.push(FieldError::new(field, "must be above 0"));
            }
        }
        let durations = [
            ("block_retention", self.block_retention),
            ("max_search_duration", self.max_search_duration),
            ("max_metrics_duration", self.max_metrics_duration),
            ("search_timeout", self.search_timeout),
        ];
        for (field, value) in durations {
            if value.is_some_and(|d| d.is_zero()) {
                errors.push(FieldError::new(field, "must be longer than 0s"));
            }
        }
        errors
    }

    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).expect("overrides serialise")
    }

    pub(crate) fn from_json(text: &str) -> Result<Self> {
        serde_json::from_str(text).map_err(|e| Error::Corrupt(format!("limit overrides: {e}")))
    }
}

/// A tenant as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Tenant {
    pub id: TenantId,
    pub display_name: String,
    pub status: TenantStatus,
    pub limits: LimitOverrides,
    /// Its metrics-generator settings (the defaults until set).
    pub generator: GeneratorSettings,
    /// 1 at creation, +1 on every change of the tenant (display name, status, limits,
    /// generator): the precondition of [`crate::TenantStore::update_tenant`].
    pub version: u64,
    pub created_at: SystemTime,
    pub updated_at: SystemTime,
}

/// Which tenants [`crate::TenantStore::list_tenants_page`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantQuery {
    /// Only tenants in this status; all when `None`.
    pub status: Option<TenantStatus>,
    /// Only tenants whose ID sorts after this one (the previous page's `next`).
    pub after: Option<TenantId>,
    /// At most this many, 1 to [`TenantQuery::MAX_LIMIT`].
    pub limit: usize,
}

impl TenantQuery {
    pub const MAX_LIMIT: usize = 1000;
}

/// One page of tenants, ordered by ID.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantPage {
    pub tenants: Vec<Tenant>,
    /// The last ID of this page when more tenants follow: the next query's `after`.
    pub next: Option<TenantId>,
}

/// The fields [`crate::TenantStore::update_tenant`] sets; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TenantUpdate {
    pub display_name: Option<String>,
    pub status: Option<TenantStatus>,
    /// Replaces the whole override set.
    pub limits: Option<LimitOverrides>,
    /// Replaces the whole generator settings.
    pub generator: Option<GeneratorSettings>,
}

impl TenantUpdate {
    /// Whether no field is set (such an update changes nothing).
    pub fn is_empty(&self) -> bool {
        self.display_name.is_none()
            && self.status.is_none()
            && self.limits.is_none()
            && self.generator.is_none()
    }

    /// Refuses limits or generator settings that do not validate, naming every bad field.
    pub(crate) fn check(&self) -> Result<()> {
        let mut errors = Vec::new();
        if let Some(limits) = &self.limits {
            errors.extend(
                limits
                    .validate()
                    .into_iter()
                    .map(|e| FieldError::new(format!("limits.{}", e.field), e.message)),
            );
        }
        if let Some(generator) = &self.generator {
            errors.extend(
                generator
                    .validate()
                    .into_iter()
                    .map(|e| FieldError::new(format!("generator.{}", e.field), e.message)),
            );
        }
        if errors.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
        Err(Error::Invalid(format!(
            "invalid tenant settings: {}",
            list.join("; ")
        )))
    }
}

pub(crate) fn generator_to_json(settings: &GeneratorSettings) -> String {
    serde_json::to_string(settings).expect("generator settings serialise")
}

pub(crate) fn generator_from_json(text: &str) -> Result<GeneratorSettings> {
    serde_json::from_str(text).map_err(|e| Error::Corrupt(format!("generator settings: {e}")))
}

/// What a key may do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Scopes {
    /// `traces:write`: ingest.
    pub write: bool,
    /// `traces:read`: query.
    pub read: bool,
}

impl Scopes {
    pub const WRITE: &'static str = "traces:write";
    pub const READ: &'static str = "traces:read";

    pub fn read_write() -> Self {
        Self {
            write: true,
            read: true,
        }
    }

    /// Parses a comma-separated list such as `traces:write,traces:read`; at least one scope.
    pub fn parse(list: &str) -> Result<Self> {
        let mut scopes = Self::default();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match item {
                Self::WRITE => scopes.write = true,
                Self::READ => scopes.read = true,
                other => {
                    return Err(Error::Invalid(format!(
                        "unknown scope {other:?} (traces:write, traces:read)"
                    )));
                }
            }
        }
        if scopes.is_empty() {
            return Err(Error::Invalid("a key needs at least one scope".into()));
        }
        Ok(scopes)
    }

    pub fn is_empty(self) -> bool {
        !self.write && !self.read
    }
}

impl std::fmt::Display for Scopes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = [(self.write, Self::WRITE), (self.read, Self::READ)]
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
            .collect();
        f.write_str(&names.join(","))
    }
}

/// An API key as listed: never its secret nor its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub key_id: String,
    pub tenant: TenantId,
    pub scopes: Scopes,
    /// Further tenants this key may read (`a|b` federation), set by an admin.
    pub read_tenants: Vec<TenantId>,
    pub expires_at: Option<SystemTime>,
    pub revoked_at: Option<SystemTime>,
    pub created_at: SystemTime,
    /// Written lazily: may lag the last use.
    pub last_used_at: Option<SystemTime>,
    pub description: String,
}

/// What a new key is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKey {
    pub tenant: TenantId,
    pub scopes: Scopes,
    pub read_tenants: Vec<TenantId>,
    pub expires_at: Option<SystemTime>,
    pub description: String,
}

impl NewKey {
    /// A read and write key of `tenant` without expiry.
    pub fn read_write(tenant: TenantId) -> Self {
        Self {
            tenant,
            scopes: Scopes::read_write(),
            read_tenants: Vec::new(),
            expires_at: None,
            description: String::new(),
        }
    }
}

/// A key with its digest, for authentication.
#[derive(Debug, Clone)]
pub struct KeyRecord {
    pub key: ApiKey,
    pub digest: KeyDigest,
}

/// Everything authentication and limits need, read in one consistent transaction.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The store's revision when read; see [`crate::TenantStore::revision`].
    pub revision: u64,
    pub tenants: HashMap<TenantId, Tenant>,
    /// By key ID.
    pub keys: HashMap<String, KeyRecord>,
    /// Admin tokens by the HMAC digest of the whole token string (a lookup by a keyed digest
    /// leaks nothing about the tokens).
    pub admin_tokens: HashMap<[u8; 32], AdminToken>,
}

impl Snapshot {
    /// The effective limits of `tenant`: its overrides over `defaults` (the defaults alone for
    /// an unknown tenant).
    pub fn limits(&self, tenant: &TenantId, defaults: &Limits) -> Limits {
        self.tenants
            .get(tenant)
            .map_or_else(|| defaults.clone(), |t| t.limits.apply(defaults))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_override_leaves_the_other_fields_at_the_defaults() {
        let defaults = Limits::default();
        let overrides = LimitOverrides {
            ingestion_rate_bytes: Some(1),
            ..LimitOverrides::default()
        };
        let effective = overrides.apply(&defaults);
        assert_eq!(
            effective,
            Limits {
                ingestion_rate_bytes: 1,
                ..defaults.clone()
            }
        );
        assert_eq!(LimitOverrides::default().apply(&defaults), defaults);
    }

    #[test]
    fn overrides_serialise_only_what_is_set() {
        let overrides = LimitOverrides {
            block_retention: Some(Duration::from_secs(86_400)),
            query_rate: Some(5),
            ..LimitOverrides::default()
        };
        let json = overrides.to_json();
        assert_eq!(json, r#"{"block_retention":"1day","query_rate":5}"#);
        assert_eq!(LimitOverrides::from_json(&json).unwrap(), overrides);
        assert_eq!(LimitOverrides::default().to_json(), "{}");
        assert!(LimitOverrides::from_json(r#"{"nope":1}"#).is_err());
    }

    #[test]
    fn overrides_validate_where_zero_cannot_be_meant() {
        assert!(LimitOverrides::default().validate().is_empty());
        let zeros = LimitOverrides {
            ingestion_rate_bytes: Some(0),
            ingestion_burst_bytes: Some(0),
            max_bytes_per_trace: Some(0),
            block_retention: Some(Duration::ZERO),
            search_timeout: Some(Duration::ZERO),
            max_spans_per_span_set: Some(0),
            // 0 means "none" for these.
            max_attribute_bytes: Some(0),
            daily_ingest_bytes: Some(0),
            monthly_ingest_bytes: Some(0),
            query_rate: Some(0),
            max_search_bytes: Some(0),
            ..LimitOverrides::default()
        };
        let fields: Vec<String> = zeros.validate().into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "ingestion_rate_bytes",
                "ingestion_burst_bytes",
                "max_bytes_per_trace",
                "max_spans_per_span_set",
                "block_retention",
                "search_timeout",
            ]
        );
        let update = TenantUpdate {
            limits: Some(zeros),
            generator: Some(GeneratorSettings {
                max_active_series: 0,
                ..GeneratorSettings::default()
            }),
            ..TenantUpdate::default()
        };
        let err = update.check().unwrap_err().to_string();
        assert!(err.contains("limits.block_retention"), "{err}");
        assert!(err.contains("generator.max_active_series"), "{err}");
        assert!(TenantUpdate::default().check().is_ok());
        assert!(TenantUpdate::default().is_empty());
    }

    #[test]
    fn scopes_parse_and_print() {
        let s = Scopes::parse("traces:write, traces:read").unwrap();
        assert_eq!(s, Scopes::read_write());
        assert_eq!(s.to_string(), "traces:write,traces:read");
        let r = Scopes::parse("traces:read").unwrap();
        assert!(r.read && !r.write);
        assert_eq!(Scopes::parse(&r.to_string()).unwrap(), r);
        assert!(Scopes::parse("").is_err());
        assert!(Scopes::parse("traces:admin").is_err());
    }

    #[test]
    fn statuses_round_trip() {
        for s in [
            TenantStatus::Active,
            TenantStatus::Suspended,
            TenantStatus::Deleting,
        ] {
            assert_eq!(parse_status(s.as_str()).unwrap(), s);
        }
        assert!(parse_status("gone").is_err());
    }
}
