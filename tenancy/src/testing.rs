//! Helpers for tests that need a Postgres database of their own (`LISTEN`/`NOTIFY` is per
//! database, and so is cutting connections) or a connection that can be cut.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const URL_VAR: &str = "SEXTANT_TEST_POSTGRES_URL";

/// The test server's URL; a missing one is a failure, never a skip.
pub(crate) fn test_url() -> String {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "{URL_VAR} is not set: set SEXTANT_TEST_POSTGRES_URL or run ./scripts/test.sh \
             (it starts a throwaway PostgreSQL and sets it)"
        ),
    }
}

/// `url` naming database `db` instead of its own.
pub(crate) fn with_database(url: &str, db: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_start = base.find("://").expect("url has a scheme") + 3;
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{db}", &base[..path_start]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// `url` with its host and port replaced by `host_port`.
pub(crate) fn with_host(url: &str, host_port: &str) -> String {
    let authority_start = url.find("://").expect("url has a scheme") + 3;
    let rest = &url[authority_start..];
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let host_start = rest[..end].rfind('@').map_or(0, |i| i + 1);
    format!(
        "{}{}{}",
        &url[..authority_start + host_start],
        host_port,
        &rest[end..]
    )
}

/// The `host:port` of `url`.
pub(crate) fn host_port(url: &str) -> String {
    let authority_start = url.find("://").expect("url has a scheme") + 3;
    let rest = &url[authority_start..];
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let host_start = rest[..end].rfind('@').map_or(0, |i| i + 1);
    let hp = &rest[host_start..end];
    if hp.contains(':') {
        hp.to_owned()
    } else {
        format!("{hp}:5432")
    }
}

/// A fresh, empty database on the test server, dropped with this value.
#[derive(Debug)]
pub(crate) struct TestDatabase {
    pub(crate) name: String,
    pub(crate) url: String,
    server: String,
}

impl TestDatabase {
    pub(crate) async fn create(label: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let server = test_url();
        let name = format!(
            "sxt_{label}_{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst),
            crate::rows::unix_millis(std::time::SystemTime::now())
        );
        let admin = sqlx::PgPool::connect(&server)
            .await
            .unwrap_or_else(|e| panic!("connect to {URL_VAR}: {e}"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .expect("create database");
        admin.close().await;
        Self {
            url: with_database(&server, &name),
            name,
            server,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Best effort, off the test's runtime (which may be shutting down).
        let (server, name) = (self.server.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                if let Ok(admin) = sqlx::PgPool::connect(&server).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&admin).await;
                    admin.close().await;
                }
            });
        })
        .join();
    }
}

/// A TCP proxy to a server that can be cut (every connection closed, new ones closed at once)
/// and healed, to make a database unreachable for real.
#[derive(Debug)]
pub(crate) struct CutProxy {
    pub(crate) addr: String,
    up: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl CutProxy {
    pub(crate) async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("addr").to_string();
        let (up, up_rx) = watch::channel(true);
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                if !*up_rx.borrow() {
                    drop(client);
                    continue;
                }
                let upstream = upstream.clone();
                let mut up_rx = up_rx.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let (mut client, mut server) = (client, server);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = up_rx.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Self { addr, up, task }
    }

    /// Closes every proxied connection and refuses new ones until [`CutProxy::heal`].
    pub(crate) fn cut(&self) {
        let _ = self.up.send(false);
    }

    pub(crate) fn heal(&self) {
        let _ = self.up.send(true);
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Polls `check` until it returns true or `within` passes (then panics with `what`).
pub(crate) async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if check().await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_rewritten() {
        let url = "postgres://postgres:pw@127.0.0.1:55432/postgres?sslmode=disable";
        assert_eq!(
            with_database(url, "other"),
            "postgres://postgres:pw@127.0.0.1:55432/other?sslmode=disable"
        );
        assert_eq!(
            with_host(url, "127.0.0.1:9"),
            "postgres://postgres:pw@127.0.0.1:9/postgres?sslmode=disable"
        );
        assert_eq!(host_port(url), "127.0.0.1:55432");
        assert_eq!(host_port("postgres://localhost/x"), "localhost:5432");
        assert_eq!(
            with_database("postgres://postgres@h:1", "d"),
            "postgres://postgres@h:1/d"
        );
    }
}
