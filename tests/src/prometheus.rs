//! A real Prometheus for the end-to-end tests: the `prometheus` binary on a free loopback port,
//! with the remote-write receiver and exemplar storage on, a config without scrape jobs and
//! its TSDB in a temporary directory that outlives a stop, so a test can take the target down
//! and bring it back with its data. Read through the HTTP API: instant queries, series and
//! exemplars.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value as Json;
use tokio::process::{Child, Command};

use crate::local::{free_port, http_client, stop, url_encode};

/// How long Prometheus may take to answer `/-/ready` after a start (a resume replays its WAL).
const START_DEADLINE: Duration = Duration::from_secs(60);
/// The configuration: no scrape jobs; everything a test reads arrives by remote write.
const CONFIG: &str = "global:\n  scrape_interval: 15s\n";
/// Bytes of Prometheus' log quoted in a failure message.
const LOG_TAIL_BYTES: usize = 4000;

/// Path of `prometheus`: `$SEXTANT_TEST_PROMETHEUS`, else the first on `PATH`. Panics (the
/// tests never skip) when there is none.
pub fn prometheus_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("SEXTANT_TEST_PROMETHEUS") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "SEXTANT_TEST_PROMETHEUS={} is not a file; run ./scripts/test.sh, which installs \
             prometheus",
            path.display()
        );
        return path;
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("prometheus"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "prometheus not found: set SEXTANT_TEST_PROMETHEUS or run ./scripts/test.sh (it \
                 installs the Debian package)"
            )
        })
}

/// One sample of an instant query: its labels (`__name__` among them) and value.
#[derive(Clone, Debug, PartialEq)]
pub struct PromSample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// One stored exemplar.
#[derive(Clone, Debug, PartialEq)]
pub struct PromExemplar {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
    /// Unix seconds.
    pub timestamp: f64,
}

/// The exemplars of one series.
#[derive(Clone, Debug, PartialEq)]
pub struct PromExemplars {
    pub series: BTreeMap<String, String>,
    pub exemplars: Vec<PromExemplar>,
}

/// A running (or stopped) Prometheus.
#[derive(Debug)]
pub struct Prometheus {
    // Declared before `dir` so the process is killed before its directory is removed.
    child: Option<Child>,
    port: u16,
    http: reqwest::Client,
    dir: tempfile::TempDir,
}

impl Prometheus {
    /// Start Prometheus on a free port with an empty TSDB and wait until it is ready.
    pub async fn start() -> Self {
        let port = free_port();
        let dir = tempfile::Builder::new()
            .prefix("sextant-prometheus-")
            .tempdir()
            .expect("create prometheus dir");
        std::fs::write(dir.path().join("prometheus.yml"), CONFIG).expect("write prometheus.yml");
        let http = http_client();
        let mut prometheus = Self {
            child: None,
            port,
            http,
            dir,
        };
        prometheus.resume().await;
        prometheus
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Where a remote-write client sends.
    pub fn remote_write_url(&self) -> String {
        format!("{}/api/v1/write", self.url())
    }

    /// The directory holding the config, the TSDB and the log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What Prometheus logged (warnings and errors), over every start.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("prometheus.log")
    }

    fn log_tail(&self) -> String {
        let log = self.log();
        let mut start = log.len().saturating_sub(LOG_TAIL_BYTES);
        while !log.is_char_boundary(start) {
            start += 1;
        }
        log[start..].to_owned()
    }

    /// Kill the process and reap it; the TSDB stays for [`Prometheus::resume`].
    pub async fn stop(&mut self) {
        stop(&mut self.child).await;
    }

    /// Start Prometheus (again) on the same port and TSDB and wait until it is ready.
    pub async fn resume(&mut self) {
        assert!(self.child.is_none(), "prometheus is running");
        let exe = prometheus_bin();
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open prometheus.log");
        let child = Command::new(&exe)
            .arg(format!(
                "--config.file={}",
                self.dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                self.dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{}", self.port))
            .arg("--web.enable-remote-write-receiver")
            .arg("--enable-feature=exemplar-storage")
            .arg("--storage.tsdb.retention.time=1d")
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", exe.display()));
        self.child = Some(child);
        let url = format!("{}/-/ready", self.url());
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            let last = match self.http.get(&url).send().await {
                Ok(resp) if resp.status() == 200 => return,
                Ok(resp) => resp.status().to_string(),
                Err(e) => e.to_string(),
            };
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "prometheus exited at start with {status}\n{}",
                    self.log_tail()
                );
            }
            assert!(
                Instant::now() < deadline,
                "prometheus not ready within {START_DEADLINE:?} (last answer: {last})\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `GET /api/v1/<path>?<params>`: the `data` field of a success answer; panics with the
    /// body on anything else.
    async fn api(&self, path: &str, params: &[(&str, &str)]) -> Json {
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v)))
            .collect();
        let url = format!("{}/api/v1/{path}?{}", self.url(), query.join("&"));
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        let doc: Json = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("GET {url} answered {status} without JSON ({e}): {body}"));
        assert!(
            status.is_success() && doc["status"] == "success",
            "GET {url} answered {status}: {body}"
        );
        doc["data"].clone()
    }

    /// An instant query at the current time.
    pub async fn query(&self, expr: &str) -> Vec<PromSample> {
        let data = self.api("query", &[("query", expr)]).await;
        let sample = |labels: BTreeMap<String, String>, pair: &Json| PromSample {
            labels,
            value: sample_value(&pair[1]).unwrap_or_else(|| panic!("{expr}: bad value {pair}")),
        };
        match data["resultType"].as_str() {
            Some("vector") => data["result"]
                .as_array()
                .unwrap_or_else(|| panic!("{expr}: no result in {data}"))
                .iter()
                .map(|s| sample(label_map(&s["metric"]), &s["value"]))
                .collect(),
            Some("scalar") => vec![sample(BTreeMap::new(), &data["result"])],
            other => panic!("{expr}: result type {other:?} is not a vector or a scalar: {data}"),
        }
    }

    /// The sum of every sample `expr` answers (0 when it answers none).
    pub async fn query_sum(&self, expr: &str) -> f64 {
        self.query(expr).await.iter().map(|s| s.value).sum()
    }

    /// The label sets of every series `matcher` selects, over all the stored time.
    pub async fn series(&self, matcher: &str) -> Vec<BTreeMap<String, String>> {
        let end = unix_seconds(SystemTime::now() + Duration::from_secs(60));
        let data = self
            .api(
                "series",
                &[("match[]", matcher), ("start", "1"), ("end", &end)],
            )
            .await;
        data.as_array()
            .unwrap_or_else(|| panic!("{matcher}: series answer is not a list: {data}"))
            .iter()
            .map(label_map)
            .collect()
    }

    /// The exemplars stored for the series of `query` from an hour ago to a minute ahead.
    pub async fn exemplars(&self, query: &str) -> Vec<PromExemplars> {
        let now = SystemTime::now();
        let start = unix_seconds(now - Duration::from_secs(3600));
        let end = unix_seconds(now + Duration::from_secs(60));
        let data = self
            .api(
                "query_exemplars",
                &[("query", query), ("start", &start), ("end", &end)],
            )
            .await;
        let Some(list) = data.as_array() else {
            // An empty answer has `data: null`.
            assert!(data.is_null(), "{query}: exemplars answer {data}");
            return Vec::new();
        };
        list.iter()
            .map(|s| PromExemplars {
                series: label_map(&s["seriesLabels"]),
                exemplars: s["exemplars"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{query}: no exemplars list in {s}"))
                    .iter()
                    .map(|e| PromExemplar {
                        labels: label_map(&e["labels"]),
                        value: sample_value(&e["value"])
                            .unwrap_or_else(|| panic!("{query}: bad exemplar value in {e}")),
                        timestamp: e["timestamp"]
                            .as_f64()
                            .unwrap_or_else(|| panic!("{query}: bad exemplar timestamp in {e}")),
                    })
                    .collect(),
            })
            .collect()
    }
}

/// A label object of the API as a map (panics on anything else).
fn label_map(doc: &Json) -> BTreeMap<String, String> {
    doc.as_object()
        .unwrap_or_else(|| panic!("labels are not an object: {doc}"))
        .iter()
        .map(|(k, v)| {
            let v = v
                .as_str()
                .unwrap_or_else(|| panic!("label {k} is not a string: {v}"));
            (k.clone(), v.to_owned())
        })
        .collect()
}

/// A value as the API writes it: a string (`"1.5"`, `"+Inf"`, `"NaN"`).
fn sample_value(doc: &Json) -> Option<f64> {
    doc.as_str()?.parse().ok()
}

/// `t` as unix seconds with milliseconds, as the API takes times.
fn unix_seconds(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).expect("after the epoch");
    format!("{}.{:03}", since.as_secs(), since.subsec_millis())
}

#[cfg(test)]
mod tests {
    use super::sample_value;
    use serde_json::json;

    #[test]
    fn api_values_and_query_parameters() {
        assert_eq!(sample_value(&json!("1.5")), Some(1.5));
        assert_eq!(sample_value(&json!("+Inf")), Some(f64::INFINITY));
        assert!(sample_value(&json!("NaN")).is_some_and(f64::is_nan));
        assert_eq!(sample_value(&json!(1.5)), None);
    }
}
