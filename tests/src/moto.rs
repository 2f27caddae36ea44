//! A real S3-compatible server for the end-to-end tests: `moto_server` (PyPI `moto[server]`) on
//! a free loopback port, in its own process, killed on drop. It keeps its data in memory, so a
//! stopped and resumed moto is empty; to make S3 unreachable without losing the bucket, put a
//! [`crate::TcpProxy`] in front of it instead.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::local::{free_port, http_client, stop, url_encode};

use crate::server::workspace_root;

/// How long moto may take to answer after it was started.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// Path of `moto_server`: `$SEXTANT_TEST_MOTO`, else `<root>/.venv/bin/moto_server`. Panics
/// (the tests never skip) when it is missing.
pub fn moto_server() -> PathBuf {
    if let Some(path) = std::env::var_os("SEXTANT_TEST_MOTO") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "SEXTANT_TEST_MOTO={} is not a file; run ./scripts/test.sh, which installs moto",
            path.display()
        );
        return path;
    }
    let venv = workspace_root().join(".venv/bin/moto_server");
    assert!(
        venv.is_file(),
        "moto_server not found: set SEXTANT_TEST_MOTO or run ./scripts/test.sh (it installs \
         moto[server] into {})",
        venv.parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    );
    venv
}

/// A running `moto_server`.
#[derive(Debug)]
pub struct Moto {
    child: Option<Child>,
    port: u16,
    http: reqwest::Client,
}

impl Moto {
    /// Start moto on a free port and wait until it answers.
    pub async fn start() -> Self {
        let port = free_port();
        let http = http_client();
        let mut moto = Self {
            child: None,
            port,
            http,
        };
        moto.resume().await;
        moto
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port moto listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Create `bucket` with an unsigned PUT (moto accepts unsigned requests).
    pub async fn create_bucket(&self, bucket: &str) {
        let url = format!("{}/{bucket}", self.endpoint());
        let resp = self
            .http
            .put(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("PUT {url}: {e}"));
        assert_eq!(resp.status(), 200, "creating bucket {bucket}");
    }

    /// Every key in `bucket` that starts with `prefix` (ListObjectsV2, following continuation
    /// tokens).
    pub async fn list_keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut url = format!(
                "{}/{bucket}?list-type=2&prefix={}",
                self.endpoint(),
                url_encode(prefix)
            );
            if let Some(t) = &token {
                url.push_str(&format!("&continuation-token={}", url_encode(t)));
            }
            let resp = self
                .http
                .get(&url)
                .send()
                .await
                .unwrap_or_else(|e| panic!("GET {url}: {e}"));
            let status = resp.status();
            let body = resp.text().await.expect("list body");
            assert_eq!(status, 200, "listing {bucket}: {body}");
            keys.extend(xml_values(&body, "Key"));
            token = xml_values(&body, "NextContinuationToken")
                .into_iter()
                .next();
            if token.is_none() {
                return keys;
            }
        }
    }

    /// Kill the server (its state is in memory and goes with it).
    pub async fn stop(&mut self) {
        stop(&mut self.child).await;
    }

    /// Start the server (again) on the same port and wait until it answers.
    pub async fn resume(&mut self) {
        assert!(self.child.is_none(), "moto is running");
        let exe = moto_server();
        let child = Command::new(&exe)
            .args(["-H", "127.0.0.1", "-p", &self.port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", exe.display()));
        self.child = Some(child);
        let deadline = Instant::now() + START_DEADLINE;
        let url = format!("{}/moto-api/", self.endpoint());
        loop {
            if self.http.get(&url).send().await.is_ok() {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("moto_server exited at start with {status}");
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer within {START_DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Percent-encode everything but unreserved characters.
/// The text of every `<tag>…</tag>` element in `xml` (no nesting, entities unescaped).
fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        rest = &rest[start + open.len()..];
        let Some(end) = rest.find(&close) else { break };
        out.push(
            rest[..end]
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&"),
        );
        rest = &rest[end + close.len()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::xml_values;

    #[test]
    fn keys_are_read_from_a_list_response() {
        let xml = "<ListBucketResult><Contents><Key>a/b&amp;c</Key></Contents>\
                   <Contents><Key>d</Key></Contents><IsTruncated>false</IsTruncated>\
                   </ListBucketResult>";
        assert_eq!(xml_values(xml, "Key"), ["a/b&c", "d"]);
        assert!(xml_values(xml, "NextContinuationToken").is_empty());
    }
}
