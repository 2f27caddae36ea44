//! The one per-tenant metrics-generator settings schema (DESIGN.md §8): which processors run,
//! the extra span-metrics dimensions, the latency buckets, the series cap and the tenant's
//! remote-write target. Stored by `tenancy`, edited through the admin API, read by the
//! generator. [`GeneratorSettings::validate`] names every bad field at once.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Tempo's default span-metrics latency buckets, in seconds.
pub const DEFAULT_HISTOGRAM_BUCKETS: [f64; 14] = [
    0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192,
    16.384,
];

/// The default cap on a tenant's active generated series.
pub const DEFAULT_MAX_ACTIVE_SERIES: u64 = 10_000;

/// One tenant's metrics-generator settings; JSON with snake_case names, every field optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GeneratorSettings {
    /// The processors that run for the tenant; none means the generator ignores it.
    pub processors: Vec<GeneratorProcessor>,
    /// Span or resource attributes added as span-metrics labels.
    pub dimensions: Vec<String>,
    /// Latency histogram bucket bounds in seconds, strictly increasing.
    pub histogram_buckets: Vec<f64>,
    /// The most active series the tenant may have; new series beyond it are dropped.
    pub max_active_series: u64,
    /// Where the tenant's series are written; none: the configured default target, if any.
    pub remote_write: Option<RemoteWriteTarget>,
    /// Adds the span status message as the span-metrics label `status_message` (Tempo's
    /// `intrinsic_dimensions.status_message`; off by default: it can make many series).
    pub status_message: bool,
    /// Emits `traces_target_info` per resource (its attributes other than `service.*` as
    /// labels) and adds `job` and `instance` to every span-metrics series (Tempo's
    /// `enable_target_info`).
    pub target_info: bool,
}

impl Default for GeneratorSettings {
    fn default() -> Self {
        Self {
            processors: Vec::new(),
            dimensions: Vec::new(),
            histogram_buckets: DEFAULT_HISTOGRAM_BUCKETS.to_vec(),
            max_active_series: DEFAULT_MAX_ACTIVE_SERIES,
            remote_write: None,
            status_message: false,
            target_info: false,
        }
    }
}

/// A metrics-generator processor, named as Tempo names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum GeneratorProcessor {
    #[serde(rename = "span-metrics")]
    SpanMetrics,
    #[serde(rename = "service-graphs")]
    ServiceGraphs,
}

impl GeneratorProcessor {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SpanMetrics => "span-metrics",
            Self::ServiceGraphs => "service-graphs",
        }
    }
}

/// A Prometheus remote-write endpoint. `Debug` hides header values (they carry credentials).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteWriteTarget {
    /// An `http://` or `https://` URL.
    pub url: String,
    /// Extra request headers (e.g. `Authorization`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Adds `X-Scope-OrgID: <tenant>` unless a header of that name is configured.
    #[serde(default = "default_true")]
    pub add_org_id_header: bool,
}

fn default_true() -> bool {
    true
}

impl RemoteWriteTarget {
    /// A target at `url` without headers, adding the org ID header.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            headers: BTreeMap::new(),
            add_org_id_header: true,
        }
    }
}

impl std::fmt::Debug for RemoteWriteTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: BTreeMap<&str, &str> =
            self.headers.keys().map(|k| (k.as_str(), "***")).collect();
        f.debug_struct("RemoteWriteTarget")
            .field("url", &self.url)
            .field("headers", &headers)
            .field("add_org_id_header", &self.add_org_id_header)
            .finish()
    }
}

/// One invalid field of a settings document: its JSON path (`remote_write.url`,
/// `histogram_buckets[2]`) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl GeneratorSettings {
    /// Every problem of these settings, empty when they are valid.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        for (i, p) in self.processors.iter().enumerate() {
            if self.processors[..i].contains(p) {
                errors.push(FieldError::new(
                    format!("processors[{i}]"),
                    format!("{} is listed twice", p.as_str()),
                ));
            }
        }
        for (i, d) in self.dimensions.iter().enumerate() {
            let field = format!("dimensions[{i}]");
            if d.trim().is_empty() {
                errors.push(FieldError::new(field, "must not be empty"));
            } else if self.dimensions[..i].contains(d) {
                errors.push(FieldError::new(field, format!("{d:?} is listed twice")));
            }
        }
        if self.histogram_buckets.is_empty() {
            errors.push(FieldError::new(
                "histogram_buckets",
                "needs at least one bucket",
            ));
        }
        for (i, b) in self.histogram_buckets.iter().enumerate() {
            let field = format!("histogram_buckets[{i}]");
            if !b.is_finite() || *b <= 0.0 {
                errors.push(FieldError::new(field, "must be a finite number above 0"));
            } else if i > 0 && self.histogram_buckets[i - 1] >= *b {
                errors.push(FieldError::new(
                    field,
                    "must be greater than the bucket before it",
                ));
            }
        }
        if self.max_active_series == 0 {
            errors.push(FieldError::new("max_active_series", "must be above 0"));
        }
        if let Some(target) = &self.remote_write {
            target.check(&mut errors);
        }
        errors
    }
}

impl RemoteWriteTarget {
    fn check(&self, errors: &mut Vec<FieldError>) {
        if let Err(message) = check_url(&self.url) {
            errors.push(FieldError::new("remote_write.url", message));
        }
        for (name, value) in &self.headers {
            let field = format!("remote_write.headers.{name}");
            if !is_header_name(name) {
                errors.push(FieldError::new(
                    field.clone(),
                    "is not a valid HTTP header name",
                ));
            }
            if value.contains(['\r', '\n', '\0']) {
                errors.push(FieldError::new(
                    field,
                    "value must not contain CR, LF or NUL",
                ));
            }
        }
    }
}

/// An absolute `http` or `https` URL with a host and nothing unprintable.
fn check_url(url: &str) -> Result<(), &'static str> {
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .ok_or("must be an http:// or https:// URL")?;
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters");
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    if host.is_empty() || host.starts_with(':') {
        return Err("must name a host");
    }
    Ok(())
}

/// An RFC 9110 token: one or more of `!#$%&'*+-.^_`|~`, digits and letters.
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(settings: &GeneratorSettings) -> Vec<String> {
        settings.validate().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn defaults_are_tempos_and_valid() {
        let d = GeneratorSettings::default();
        assert!(d.processors.is_empty());
        assert_eq!(d.histogram_buckets.len(), 14);
        assert_eq!(d.histogram_buckets[0], 0.002);
        assert_eq!(d.histogram_buckets[13], 16.384);
        assert_eq!(d.max_active_series, 10_000);
        assert!(d.validate().is_empty());
        let parsed: GeneratorSettings = serde_json::from_str("{}").unwrap();
        assert_eq!(parsed, d);
    }

    #[test]
    fn json_round_trips_with_tempos_processor_names() {
        let text = r#"{"processors":["span-metrics","service-graphs"],"dimensions":["http.method"],
            "histogram_buckets":[0.1,1.0],"max_active_series":5,
            "remote_write":{"url":"https://prom.example/api/v1/write","headers":{"Authorization":"Bearer x"}}}"#;
        let s: GeneratorSettings = serde_json::from_str(text).unwrap();
        assert_eq!(
            s.processors,
            [
                GeneratorProcessor::SpanMetrics,
                GeneratorProcessor::ServiceGraphs
            ]
        );
        let target = s.remote_write.clone().unwrap();
        assert!(target.add_org_id_header, "defaults to true");
        assert_eq!(target.headers["Authorization"], "Bearer x");
        assert!(s.validate().is_empty(), "{:?}", s.validate());
        let again: GeneratorSettings =
            serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(again, s);
        assert!(
            !format!("{s:?}").contains("Bearer x"),
            "debug hides headers"
        );
    }

    #[test]
    fn unknown_fields_and_processors_are_refused() {
        for bad in [
            r#"{"nope":1}"#,
            r#"{"processors":["local-blocks"]}"#,
            r#"{"remote_write":{"url":"http://x","extra":true}}"#,
            r#"{"remote_write":{}}"#,
        ] {
            assert!(
                serde_json::from_str::<GeneratorSettings>(bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn every_bad_field_is_named() {
        let mut headers = BTreeMap::new();
        headers.insert("Bad Name".to_owned(), "v".to_owned());
        headers.insert("X-Ok".to_owned(), "a\r\nb".to_owned());
        let s = GeneratorSettings {
            processors: vec![
                GeneratorProcessor::SpanMetrics,
                GeneratorProcessor::SpanMetrics,
            ],
            dimensions: vec!["a".into(), String::new(), "a".into()],
            histogram_buckets: vec![1.0, 0.5, f64::NAN, -1.0, 2.0, 2.0],
            max_active_series: 0,
            remote_write: Some(RemoteWriteTarget {
                headers,
                ..RemoteWriteTarget::new("ftp://x")
            }),
            status_message: false,
            target_info: false,
        };
        assert_eq!(
            fields(&s),
            [
                "processors[1]",
                "dimensions[1]",
                "dimensions[2]",
                "histogram_buckets[1]",
                "histogram_buckets[2]",
                "histogram_buckets[3]",
                "histogram_buckets[5]",
                "max_active_series",
                "remote_write.url",
                "remote_write.headers.Bad Name",
                "remote_write.headers.X-Ok",
            ]
        );
        let empty = GeneratorSettings {
            histogram_buckets: Vec::new(),
            ..GeneratorSettings::default()
        };
        assert_eq!(fields(&empty), ["histogram_buckets"]);
    }

    #[test]
    fn remote_write_urls() {
        for ok in [
            "http://prom:9090/api/v1/write",
            "HTTPS://user:pw@prom.example",
            "https://[::1]:9090/w",
        ] {
            assert_eq!(check_url(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "prom:9090",
            "ftp://prom",
            "http://",
            "http:///path",
            "http://:9090",
            "http://a b",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        assert!(is_header_name("X-Scope-OrgID"));
        assert!(!is_header_name(""));
        assert!(!is_header_name("a:b"));
    }
}
