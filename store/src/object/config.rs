//! Where blocks are stored, and how patiently requests are made.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};

/// Object storage settings (`storage` in the server config).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// `file:///path`, `s3://bucket/prefix`, `gs://bucket/prefix`, `az://container/prefix` or
    /// `memory://` (tests). Empty: `file://<data_dir>/blocks`.
    pub url: String,
    /// S3 settings; unset ones come from the standard `AWS_*` environment variables.
    pub s3: S3Options,
    /// Deadline of one request attempt (and of each chunk of a streamed body or listing).
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Attempts after the first for transient failures (unreachable, 5xx, timeouts).
    pub retries: u32,
    /// Wait before the first retry, doubled for each further one.
    #[serde(with = "humantime_serde")]
    pub retry_backoff: Duration,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            s3: S3Options::default(),
            request_timeout: Duration::from_secs(30),
            retries: 3,
            retry_backoff: Duration::from_millis(100),
        }
    }
}

impl StorageConfig {
    /// Every problem with the settings that can be seen without the URL (empty when fine).
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.request_timeout.is_zero() {
            problems.push("storage.request_timeout must be positive".to_owned());
        }
        if self.retries > 0 && self.retry_backoff.is_zero() {
            problems.push("storage.retry_backoff must be positive when retrying".to_owned());
        }
        if self.s3.access_key_id.is_some() != self.s3.secret_access_key.is_some() {
            problems.push(
                "storage.s3.access_key_id and storage.s3.secret_access_key must be set together"
                    .to_owned(),
            );
        }
        problems
    }
}

/// S3 settings (`storage.s3`). A value set here overrides the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Options {
    /// `scheme://host:port` of an S3-compatible server, without the bucket (`AWS_ENDPOINT`).
    pub endpoint: Option<String>,
    /// Region (`AWS_REGION`); S3-compatible servers accept any value.
    pub region: Option<String>,
    /// Allow `http://` endpoints (`AWS_ALLOW_HTTP`); `false` leaves the environment's choice.
    pub allow_http: bool,
    /// Virtual-hosted-style requests (`bucket.host`); `false`: path style (`host/bucket`),
    /// unless `AWS_VIRTUAL_HOSTED_STYLE_REQUEST` says otherwise.
    pub virtual_hosted_style: bool,
    /// `AWS_ACCESS_KEY_ID`.
    pub access_key_id: Option<String>,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: Option<Secret>,
    /// `AWS_SESSION_TOKEN`.
    pub session_token: Option<Secret>,
}

/// A value that `Debug`, `Display` and `Serialize` never show (they print `***`).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for handing to the client that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let config: StorageConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(config, StorageConfig::default());
        assert_eq!(config.request_timeout, Duration::from_secs(30));
        assert_eq!(config.retries, 3);
        assert_eq!(config.retry_backoff, Duration::from_millis(100));
        assert!(!config.s3.virtual_hosted_style);
        assert!(config.validate().is_empty());

        let config: StorageConfig = serde_json::from_str(
            r#"{"url": "s3://traces/prod", "request_timeout": "250ms", "retry_backoff": "5ms",
                "s3": {"endpoint": "http://127.0.0.1:9000", "allow_http": true,
                       "access_key_id": "id", "secret_access_key": "hidden"}}"#,
        )
        .unwrap();
        assert_eq!(config.url, "s3://traces/prod");
        assert_eq!(config.request_timeout, Duration::from_millis(250));
        assert_eq!(config.retry_backoff, Duration::from_millis(5));
        assert_eq!(
            config.s3.secret_access_key.as_ref().unwrap().expose(),
            "hidden"
        );
        assert!(config.validate().is_empty());
    }

    #[test]
    fn secrets_never_print() {
        let config = StorageConfig {
            s3: S3Options {
                secret_access_key: Some(Secret::new("hunter2")),
                session_token: Some(Secret::new("tok3n")),
                ..S3Options::default()
            },
            ..StorageConfig::default()
        };
        let shown = [
            format!("{config:?}"),
            format!("{}", config.s3.secret_access_key.as_ref().unwrap()),
            serde_json::to_string(&config).unwrap(),
        ];
        for text in shown {
            assert!(
                !text.contains("hunter2") && !text.contains("tok3n"),
                "{text}"
            );
            assert!(text.contains("***"), "{text}");
        }
    }

    #[test]
    fn validation_reports_every_problem() {
        let config = StorageConfig {
            request_timeout: Duration::ZERO,
            retry_backoff: Duration::ZERO,
            s3: S3Options {
                access_key_id: Some("id".into()),
                ..S3Options::default()
            },
            ..StorageConfig::default()
        };
        assert_eq!(config.validate().len(), 3, "{:?}", config.validate());
    }

    #[test]
    fn unknown_fields_are_refused() {
        for json in [r#"{"bucket": "x"}"#, r#"{"s3": {"path_style": true}}"#] {
            let err = serde_json::from_str::<StorageConfig>(json).unwrap_err();
            assert!(err.to_string().contains("unknown field"), "{err}");
        }
    }
}
