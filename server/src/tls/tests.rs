use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Request;
use axum::routing::get;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, oneshot};
use tokio_util::sync::CancellationToken;

use super::*;

const DEADLINE: Duration = Duration::from_secs(10);

/// A test CA and the leaf certificates it signs for `localhost` and 127.0.0.1.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
    der: CertificateDer<'static>,
}

/// A leaf certificate and its key, as PEM, and the certificate as DER.
struct Leaf {
    cert_pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
}

impl Ca {
    fn new() -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // Distinct names: a leaf whose issuer equals its subject looks self-signed to OpenSSL.
        params
            .distinguished_name
            .push(DnType::CommonName, "sextant test ca");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).unwrap();
        Self {
            pem: cert.pem(),
            der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    fn leaf_with(&self, key: KeyPair) -> Leaf {
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            // The chain: leaf first, then the CA (clients ignore a trust anchor sent along).
            cert_pem: format!("{}{}", cert.pem(), self.pem),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }

    fn leaf(&self) -> Leaf {
        self.leaf_with(KeyPair::generate().unwrap())
    }
}

/// Cert and key files in a temporary directory.
struct Files {
    _dir: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
}

impl Files {
    fn new(leaf: &Leaf) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let files = Self {
            cert: dir.path().join("tls.crt"),
            key: dir.path().join("tls.key"),
            _dir: dir,
        };
        files.write_cert(leaf.cert_pem.as_bytes());
        files.write_key(leaf.key_pem.as_bytes());
        files
    }

    fn write_cert(&self, bytes: &[u8]) {
        write_atomic(&self.cert, bytes);
    }

    fn write_key(&self, bytes: &[u8]) {
        write_atomic(&self.key, bytes);
    }

    fn config(&self) -> TlsConfig {
        TlsConfig {
            cert_file: Some(self.cert.clone()),
            key_file: Some(self.key.clone()),
            reload_interval: Duration::from_millis(10),
            handshake_timeout: Duration::from_secs(30),
        }
    }
}

/// Writes through a rename, as deployment tools do, so the watcher never reads half a file.
fn write_atomic(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Answers with the HTTP version the server saw; `/slow` waits for `release`.
fn router(entered: Arc<Notify>, release: Arc<Notify>) -> Router {
    Router::new()
        .route(
            "/version",
            get(|req: Request| async move { format!("{:?}", req.version()) }),
        )
        .route(
            "/slow",
            get(move || async move {
                entered.notify_one();
                release.notified().await;
                "done"
            }),
        )
}

struct Server {
    addr: SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    entered: Arc<Notify>,
    release: Arc<Notify>,
}

async fn serve(tls: &Tls) -> Server {
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let listener = tls.listener(tcp).unwrap();
    let shutdown = CancellationToken::new();
    let (entered, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let app = router(entered.clone(), release.clone());
    let graceful =
        axum::serve(listener, app).with_graceful_shutdown(shutdown.clone().cancelled_owned());
    let task = tokio::spawn(async move { graceful.await });
    Server {
        addr,
        shutdown,
        task,
        entered,
        release,
    }
}

fn load(config: &TlsConfig) -> (Tls, CertReloader, TlsMetrics) {
    let metrics = TlsMetrics::default();
    let (tls, reloader) = Tls::load(config, metrics.clone()).unwrap();
    (tls, reloader, metrics)
}

fn https_client(ca: &Ca, addr: SocketAddr) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([reqwest::Certificate::from_pem(ca.pem.as_bytes()).unwrap()])
        .resolve("localhost", addr)
        .timeout(DEADLINE)
}

/// A fresh TLS connection (no session resumption) trusting `ca`; returns the leaf the server
/// presented.
async fn presented_leaf(addr: SocketAddr, ca: &CertificateDer<'static>) -> CertificateDer<'static> {
    let stream = connect_tls(addr, ca).await.expect("tls handshake");
    let (_, conn) = stream.get_ref();
    conn.peer_certificates().expect("peer certificates")[0].clone()
}

async fn connect_tls(
    addr: SocketAddr,
    ca: &CertificateDer<'static>,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await?;
    connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

async fn wait_for(what: &str, mut cond: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !cond().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[test]
fn config_validation_reports_every_problem() {
    let ok = TlsConfig {
        cert_file: Some("c.pem".into()),
        key_file: Some("k.pem".into()),
        ..TlsConfig::default()
    };
    let cases: [(TlsConfig, &[&str]); 5] = [
        (TlsConfig::default(), &[]),
        (ok.clone(), &[]),
        (
            TlsConfig {
                key_file: None,
                ..ok.clone()
            },
            &["server.tls.cert_file is set but server.tls.key_file is not"],
        ),
        (
            TlsConfig {
                cert_file: None,
                ..ok.clone()
            },
            &["server.tls.key_file is set but server.tls.cert_file is not"],
        ),
        (
            TlsConfig {
                cert_file: Some(PathBuf::new()),
                reload_interval: Duration::ZERO,
                handshake_timeout: Duration::ZERO,
                ..ok.clone()
            },
            &[
                "server.tls.cert_file: must not be empty",
                "server.tls.reload_interval: must be greater than zero",
                "server.tls.handshake_timeout: must be greater than zero",
            ],
        ),
    ];
    for (config, want) in cases {
        let mut problems = Vec::new();
        config.validate(&mut problems);
        assert_eq!(problems, want, "{config:?}");
    }
    assert!(!TlsConfig::default().enabled());
    assert!(ok.enabled());
}

#[test]
fn config_reads_paths_and_humantime_durations() {
    let config: TlsConfig = serde_yaml::from_str(
        "cert_file: /etc/tls/tls.crt\nkey_file: /etc/tls/tls.key\nreload_interval: 50ms\nhandshake_timeout: 2s\n",
    )
    .unwrap();
    assert_eq!(
        config.cert_file.as_deref(),
        Some(Path::new("/etc/tls/tls.crt"))
    );
    assert_eq!(
        config.key_file.as_deref(),
        Some(Path::new("/etc/tls/tls.key"))
    );
    assert_eq!(config.reload_interval, Duration::from_millis(50));
    assert_eq!(config.handshake_timeout, Duration::from_secs(2));
    assert!(serde_yaml::from_str::<TlsConfig>("cert: x\n").is_err());
    // Unset paths serialise as null keys: the config loader learns known keys from defaults.
    let defaults = serde_yaml::to_value(TlsConfig::default()).unwrap();
    assert!(
        defaults
            .get("cert_file")
            .is_some_and(serde_yaml::Value::is_null)
    );
    assert!(
        defaults
            .get("key_file")
            .is_some_and(serde_yaml::Value::is_null)
    );
}

#[tokio::test]
async fn serves_http1_and_http2_chosen_by_alpn() {
    let ca = Ca::new();
    let files = Files::new(&ca.leaf());
    let (tls, _reloader, _) = load(&files.config());
    let server = serve(&tls).await;
    let url = format!("https://localhost:{}/version", server.addr.port());

    let h2 = https_client(&ca, server.addr).build().unwrap();
    let resp = h2.get(&url).send().await.unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.text().await.unwrap(), "HTTP/2.0");

    let h1 = https_client(&ca, server.addr).http1_only().build().unwrap();
    let resp = h1.get(&url).send().await.unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_11);
    assert_eq!(resp.text().await.unwrap(), "HTTP/1.1");

    // ALPN as the server chose it, seen by a bare TLS client.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der.clone()).unwrap();
    for (offered, want) in [
        (vec![b"h2".to_vec(), b"http/1.1".to_vec()], Some(&b"h2"[..])),
        (vec![b"http/1.1".to_vec()], Some(&b"http/1.1"[..])),
        (vec![], None),
    ] {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots.clone())
            .with_no_client_auth();
        config.alpn_protocols = offered;
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap();
        assert_eq!(stream.get_ref().1.alpn_protocol(), want);
    }
    server.shutdown.cancel();
    server.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn reload_swaps_a_good_pair_and_keeps_the_old_one_on_a_bad_pair() {
    let ca = Ca::new();
    let a = ca.leaf();
    let b = ca.leaf();
    assert_ne!(a.der, b.der);
    let files = Files::new(&a);
    let (tls, reloader, metrics) = load(&files.config());
    let server = serve(&tls).await;
    let watcher = tokio::spawn(reloader.run(server.shutdown.child_token()));
    assert_eq!(presented_leaf(server.addr, &ca.der).await, a.der);

    // B's certificate with A's key: refused, A still served.
    files.write_cert(b.cert_pem.as_bytes());
    wait_for("the mismatched pair to be rejected", async || {
        metrics.reloads("rejected") == 1
    })
    .await;
    assert_eq!(presented_leaf(server.addr, &ca.der).await, a.der);

    // Not PEM at all: refused, A still served.
    files.write_cert(b"not a certificate\n");
    wait_for("the garbage certificate to be rejected", async || {
        metrics.reloads("rejected") == 2
    })
    .await;
    assert_eq!(presented_leaf(server.addr, &ca.der).await, a.der);
    assert_eq!(metrics.reloads("reloaded"), 0);

    // B's key, then B's certificate: B is served to new connections.
    files.write_key(b.key_pem.as_bytes());
    files.write_cert(b.cert_pem.as_bytes());
    wait_for("a new connection to present B", async || {
        presented_leaf(server.addr, &ca.der).await == b.der
    })
    .await;
    assert_eq!(metrics.reloads("reloaded"), 1);

    // A missing file: refused once, B still served.
    std::fs::remove_file(&files.key).unwrap();
    let rejected = metrics.reloads("rejected");
    wait_for("the missing key to be noticed", async || {
        metrics.reloads("rejected") == rejected + 1
    })
    .await;
    assert_eq!(presented_leaf(server.addr, &ca.der).await, b.der);

    server.shutdown.cancel();
    server.task.await.unwrap().unwrap();
    watcher.await.unwrap();
}

#[tokio::test]
async fn check_reports_each_change_once() {
    let ca = Ca::new();
    let a = ca.leaf();
    let files = Files::new(&a);
    let (_tls, mut reloader, metrics) = load(&files.config());
    assert_eq!(reloader.check().await, Reload::Unchanged);
    files.write_cert(b"garbage");
    assert!(matches!(reloader.check().await, Reload::Rejected(m) if m.contains("tls.crt")));
    // The same bad contents are not parsed, logged or counted again.
    assert_eq!(reloader.check().await, Reload::Unchanged);
    assert_eq!(metrics.reloads("rejected"), 1);
    // Back to the pair being served: nothing to do.
    files.write_cert(a.cert_pem.as_bytes());
    assert_eq!(reloader.check().await, Reload::Unchanged);
    let b = ca.leaf();
    files.write_key(b.key_pem.as_bytes());
    files.write_cert(b.cert_pem.as_bytes());
    assert_eq!(reloader.check().await, Reload::Reloaded);
    assert_eq!(reloader.check().await, Reload::Unchanged);
    assert_eq!(metrics.reloads("reloaded"), 1);
}

#[test]
fn a_bad_initial_pair_fails_with_a_clear_message() {
    let ca = Ca::new();
    let a = ca.leaf();
    let b = ca.leaf();
    let files = Files::new(&a);
    let err = |config: &TlsConfig| {
        format!(
            "{:#}",
            Tls::load(config, TlsMetrics::default()).expect_err("load must fail")
        )
    };

    let mut missing = files.config();
    missing.cert_file = Some(files.cert.with_file_name("nope.crt"));
    let msg = err(&missing);
    assert!(
        msg.contains("cannot read tls file") && msg.contains("nope.crt"),
        "{msg}"
    );

    files.write_key(b.key_pem.as_bytes());
    let msg = err(&files.config());
    assert!(
        msg.contains("is not a usable key for the certificate"),
        "{msg}"
    );

    files.write_key(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    let msg = err(&files.config());
    assert!(msg.contains("no PEM private key"), "{msg}");

    files.write_key(a.key_pem.as_bytes());
    files.write_cert(b"");
    let msg = err(&files.config());
    assert!(msg.contains("no PEM certificate"), "{msg}");

    files.write_cert(a.cert_pem.as_bytes());
    assert!(Tls::load(&files.config(), TlsMetrics::default()).is_ok());
}

/// PKCS#8 (what rcgen writes), PKCS#1 and SEC1 keys (converted by the `openssl` tool) all load
/// and serve.
#[tokio::test]
async fn loads_pkcs8_pkcs1_and_sec1_keys() {
    let ca = Ca::new();
    let rsa = ca.leaf_with(KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap());
    let ec = ca.leaf();
    let cases: [(&Leaf, &[&str], &str); 3] = [
        (&ec, &[], "-----BEGIN PRIVATE KEY-----"),
        // `openssl rsa` writes PKCS#8 unless told -traditional; `openssl ec` writes SEC1.
        (
            &rsa,
            &["rsa", "-traditional"],
            "-----BEGIN RSA PRIVATE KEY-----",
        ),
        (&ec, &["ec"], "-----BEGIN EC PRIVATE KEY-----"),
    ];
    for (leaf, convert, header) in cases {
        let files = Files::new(leaf);
        if !convert.is_empty() {
            let out = files.key.with_extension("converted");
            let status = std::process::Command::new("openssl")
                .args(convert)
                .arg("-in")
                .arg(&files.key)
                .arg("-out")
                .arg(&out)
                .status()
                .expect("run openssl");
            assert!(status.success(), "openssl {convert:?} failed");
            std::fs::rename(&out, &files.key).unwrap();
        }
        let key = std::fs::read_to_string(&files.key).unwrap();
        assert!(key.starts_with(header), "{header}: {key}");
        let (tls, _reloader, _) = load(&files.config());
        let server = serve(&tls).await;
        assert_eq!(
            presented_leaf(server.addr, &ca.der).await,
            leaf.der,
            "{header}"
        );
        server.shutdown.cancel();
        server.task.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn a_silent_client_holds_up_no_one_and_is_cut_off() {
    let ca = Ca::new();
    let files = Files::new(&ca.leaf());

    // A long handshake timeout: were handshakes done on the accept loop, the second client
    // would wait for the first one's 30 s.
    let (tls, _reloader, _) = load(&files.config());
    let server = serve(&tls).await;
    let _silent = TcpStream::connect(server.addr).await.unwrap();
    let client = https_client(&ca, server.addr).build().unwrap();
    let url = format!("https://localhost:{}/version", server.addr.port());
    let resp = tokio::time::timeout(Duration::from_secs(5), client.get(&url).send())
        .await
        .expect("a silent client blocked the listener")
        .unwrap();
    assert_eq!(resp.status(), 200);

    // A short one: the silent client is disconnected and counted.
    let mut config = files.config();
    config.handshake_timeout = Duration::from_millis(100);
    let (tls, _reloader, metrics) = load(&config);
    let server = serve(&tls).await;
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(DEADLINE, silent.read(&mut buf))
        .await
        .expect("the silent client was never disconnected");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert_eq!(metrics.handshake_failures("timeout"), 1);

    // Plain HTTP on the TLS port: the handshake fails, and is counted.
    let mut plain = TcpStream::connect(server.addr).await.unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    wait_for("the plain-http handshake failure", async || {
        metrics.handshake_failures("error") == 1
    })
    .await;
}

#[tokio::test]
async fn graceful_shutdown_stops_accepting_and_drains() {
    let ca = Ca::new();
    let files = Files::new(&ca.leaf());
    let (tls, _reloader, _) = load(&files.config());
    let server = serve(&tls).await;
    let client = https_client(&ca, server.addr).http1_only().build().unwrap();
    let url = format!("https://localhost:{}/slow", server.addr.port());
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let resp = client.get(&url).send().await;
        let _ = tx.send(resp.map(|r| r.status()));
    });
    server.entered.notified().await;

    server.shutdown.cancel();
    wait_for("the listener to close", async || {
        TcpStream::connect(server.addr).await.is_err()
    })
    .await;
    assert!(
        !server.task.is_finished(),
        "the server must wait for the request in flight"
    );
    server.release.notify_one();
    let status = rx
        .await
        .unwrap()
        .expect("the request in flight must finish");
    assert_eq!(status, 200);
    tokio::time::timeout(DEADLINE, server.task)
        .await
        .expect("the server did not stop after draining")
        .unwrap()
        .unwrap();
}
