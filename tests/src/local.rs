//! What the harnesses of local helper servers (moto, Prometheus) share: a free loopback port,
//! an HTTP client that never goes through a proxy, stopping a child process, and query-string
//! encoding.

use std::net::TcpListener;
use std::time::Duration;

use tokio::process::Child;

/// A port nothing listens on right now on 127.0.0.1 (for servers that cannot bind port 0 and
/// report it).
pub(crate) fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// A client for a loopback server: no proxy, a 10 s deadline per request.
pub(crate) fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client")
}

/// Kills the child, if running, and reaps it.
pub(crate) async fn stop(child: &mut Option<Child>) {
    if let Some(mut child) = child.take() {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
}

/// Percent-encodes everything but unreserved characters (query parameters).
pub(crate) fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_parameters_are_percent_encoded() {
        assert_eq!(
            super::url_encode("x{a=~\"b.+\"} / 2"),
            "x%7Ba%3D~%22b.%2B%22%7D%20%2F%202"
        );
    }
}
