//! TLS on the public listeners (`server.tls`): HTTP/1.1 and HTTP/2 chosen by ALPN, gRPC over
//! HTTP/2, with the certificate and key files reloaded when they change.
//!
//! One rustls server config serves every public listener; its certificate comes from a resolver
//! holding the current pair, which [`CertReloader`] swaps when the files change and the new
//! pair is good (a bad pair is logged and the old one kept). [`TlsListener`] performs the
//! handshakes off the accept loop so a slow client cannot hold up others. The crypto provider
//! is aws-lc-rs, chosen explicitly: nothing here depends on a process-wide default provider.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use parking_lot::RwLock;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::MissedTickBehavior;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

/// Handshakes in progress per listener; past this, new connections wait in the kernel backlog.
const MAX_HANDSHAKES: usize = 1024;
/// Finished handshakes waiting for the server to take them.
const READY_QUEUE: usize = 64;
/// How long the accept loop pauses after an error such as "too many open files".
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// `server.tls`: TLS on every public listener (never on the internal one). Enabled when both
/// files are set. Changing the file paths needs a restart; the files' contents are reloaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first. (`None` serialises as null rather than being skipped:
    /// the config loader learns the known keys from the serialised defaults.)
    pub cert_file: Option<PathBuf>,
    /// PEM private key: PKCS#8 (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`) or SEC1
    /// (`EC PRIVATE KEY`).
    pub key_file: Option<PathBuf>,
    /// How often both files are read; a changed pair is swapped in for new connections.
    #[serde(with = "humantime_serde")]
    pub reload_interval: Duration,
    /// A client that has not finished its TLS handshake by then is disconnected.
    #[serde(with = "humantime_serde")]
    pub handshake_timeout: Duration,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            cert_file: None,
            key_file: None,
            reload_interval: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

impl TlsConfig {
    /// TLS is on when both files are configured.
    pub fn enabled(&self) -> bool {
        self.cert_file.is_some() && self.key_file.is_some()
    }

    /// Adds every problem with these settings (keys named as under `server.tls`).
    pub fn validate(&self, problems: &mut Vec<String>) {
        match (&self.cert_file, &self.key_file) {
            (Some(_), None) => {
                problems.push("server.tls.cert_file is set but server.tls.key_file is not".into())
            }
            (None, Some(_)) => {
                problems.push("server.tls.key_file is set but server.tls.cert_file is not".into())
            }
            _ => {}
        }
        for (key, path) in [("cert_file", &self.cert_file), ("key_file", &self.key_file)] {
            if path.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
                problems.push(format!("server.tls.{key}: must not be empty"));
            }
        }
        if self.reload_interval.is_zero() {
            problems.push("server.tls.reload_interval: must be greater than zero".into());
        }
        if self.handshake_timeout.is_zero() {
            problems.push("server.tls.handshake_timeout: must be greater than zero".into());
        }
    }
}

/// `sextant_tls_certificate_reloads_total{result}` and
/// `sextant_tls_handshake_failures_total{reason}`.
#[derive(Debug, Clone, Default)]
pub(crate) struct TlsMetrics {
    reloads: Family<ResultLabel, Counter>,
    handshake_failures: Family<ReasonLabel, Counter>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

impl TlsMetrics {
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "sextant_tls_certificate_reloads",
            "Changes of the TLS certificate and key files, by result (reloaded, rejected)",
            metrics.reloads.clone(),
        );
        registry.register(
            "sextant_tls_handshake_failures",
            "TLS handshakes on the public listeners that failed, by reason (error, timeout)",
            metrics.handshake_failures.clone(),
        );
        metrics
    }

    fn reload(&self, result: &'static str) {
        self.reloads.get_or_create(&ResultLabel { result }).inc();
    }

    fn handshake_failed(&self, reason: &'static str) {
        self.handshake_failures
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    /// Pair changes with this result (`reloaded`, `rejected`).
    #[cfg(test)]
    pub(crate) fn reloads(&self, result: &'static str) -> u64 {
        self.reloads.get_or_create(&ResultLabel { result }).get()
    }

    /// Failed handshakes for this reason (`error`, `timeout`).
    #[cfg(test)]
    pub(crate) fn handshake_failures(&self, reason: &'static str) -> u64 {
        self.handshake_failures
            .get_or_create(&ReasonLabel { reason })
            .get()
    }
}

/// The TLS side of the public listeners: one server config shared by all of them, whose
/// certificate the [`CertReloader`] from the same [`Tls::load`] call replaces.
#[derive(Clone, Debug)]
pub(crate) struct Tls {
    server_config: Arc<rustls::ServerConfig>,
    handshake_timeout: Duration,
    metrics: TlsMetrics,
}

impl Tls {
    /// Reads and checks the configured pair. The error names the file and what is wrong with
    /// it, so a bad pair stops the start with a clear message.
    pub(crate) fn load(
        config: &TlsConfig,
        metrics: TlsMetrics,
    ) -> anyhow::Result<(Tls, CertReloader)> {
        let (Some(cert_file), Some(key_file)) = (&config.cert_file, &config.key_file) else {
            anyhow::bail!("server.tls needs both cert_file and key_file");
        };
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let files = PairFiles {
            cert: cert_file.clone(),
            key: key_file.clone(),
        };
        let pem = files.read_blocking()?;
        let key = files.certified_key(&pem, &provider)?;
        let certs = Arc::new(CurrentCert(RwLock::new(Arc::new(key))));
        let mut server_config = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .context("the tls crypto provider supports no safe protocol version")?
            .with_no_client_auth()
            .with_cert_resolver(certs.clone());
        server_config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        tracing::info!(
            cert_file = %files.cert.display(),
            key_file = %files.key.display(),
            reload_interval = ?config.reload_interval,
            "tls enabled on the public listeners"
        );
        let tls = Tls {
            server_config: Arc::new(server_config),
            handshake_timeout: config.handshake_timeout,
            metrics: metrics.clone(),
        };
        let reloader = CertReloader {
            certs,
            metrics,
            provider,
            files,
            interval: config.reload_interval,
            loaded: pem,
            rejected: None,
            read_error: None,
        };
        Ok((tls, reloader))
    }

    /// Serves TLS on an already bound listener (what `axum::serve` takes).
    pub(crate) fn listener(&self, tcp: TcpListener) -> io::Result<TlsListener> {
        TlsListener::new(
            tcp,
            TlsAcceptor::from(self.server_config.clone()),
            self.handshake_timeout,
            self.metrics.clone(),
        )
    }
}

/// The pair served to new connections.
#[derive(Debug)]
struct CurrentCert(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for CurrentCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.read().clone())
    }
}

#[derive(Debug, Clone)]
struct PairFiles {
    cert: PathBuf,
    key: PathBuf,
}

/// The raw contents of both files. `Debug` shows sizes only: the key is a secret.
#[derive(Clone, PartialEq, Eq)]
struct PairPem {
    cert: Vec<u8>,
    key: Vec<u8>,
}

impl fmt::Debug for PairPem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PairPem")
            .field("cert_bytes", &self.cert.len())
            .field("key_bytes", &self.key.len())
            .finish()
    }
}

impl PairFiles {
    fn read_blocking(&self) -> anyhow::Result<PairPem> {
        Ok(PairPem {
            cert: read_file(&self.cert, std::fs::read(&self.cert))?,
            key: read_file(&self.key, std::fs::read(&self.key))?,
        })
    }

    async fn read(&self) -> anyhow::Result<PairPem> {
        Ok(PairPem {
            cert: read_file(&self.cert, tokio::fs::read(&self.cert).await)?,
            key: read_file(&self.key, tokio::fs::read(&self.key).await)?,
        })
    }

    /// Parses the pair and checks that the key belongs to the leaf certificate.
    fn certified_key(
        &self,
        pem: &PairPem,
        provider: &CryptoProvider,
    ) -> anyhow::Result<CertifiedKey> {
        let chain = CertificateDer::pem_slice_iter(&pem.cert)
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("tls cert_file {}: bad PEM", self.cert.display()))?;
        anyhow::ensure!(
            !chain.is_empty(),
            "tls cert_file {}: no PEM certificate (BEGIN CERTIFICATE) found",
            self.cert.display()
        );
        let key = PrivateKeyDer::from_pem_slice(&pem.key).with_context(|| {
            format!(
                "tls key_file {}: no PEM private key (PKCS#8, PKCS#1 or SEC1) found",
                self.key.display()
            )
        })?;
        CertifiedKey::from_der(chain, key, provider).with_context(|| {
            format!(
                "tls key_file {} is not a usable key for the certificate in {}",
                self.key.display(),
                self.cert.display()
            )
        })
    }
}

fn read_file(path: &Path, result: io::Result<Vec<u8>>) -> anyhow::Result<Vec<u8>> {
    result.with_context(|| format!("cannot read tls file {}", path.display()))
}

/// What one look at the files found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reload {
    /// The files hold the pair being served (or the pair last refused).
    Unchanged,
    /// A new, good pair is now served to new connections.
    Reloaded,
    /// The files changed but cannot be used; the previous pair is still served.
    Rejected(String),
}

/// Watches the certificate and key files and swaps in a changed pair once it parses and the key
/// matches the certificate. Comparing contents (not modification times) catches every change,
/// including a Kubernetes secret's symlink swap and two writes within one timestamp tick.
#[derive(Debug)]
pub(crate) struct CertReloader {
    certs: Arc<CurrentCert>,
    metrics: TlsMetrics,
    provider: Arc<CryptoProvider>,
    files: PairFiles,
    interval: Duration,
    /// The contents of the pair being served.
    loaded: PairPem,
    /// The contents last refused, not parsed (nor logged) again while unchanged.
    rejected: Option<PairPem>,
    /// The last read failure, logged once while it persists.
    read_error: Option<String>,
}

impl CertReloader {
    /// Checks the files every `reload_interval` until `shutdown`.
    pub(crate) async fn run(mut self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // The first tick is immediate; the pair was just loaded.
        tick.tick().await;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {
                    self.check().await;
                }
            }
        }
    }

    /// Reads both files once and acts on what changed.
    pub(crate) async fn check(&mut self) -> Reload {
        let pem = match self.files.read().await {
            Ok(pem) => pem,
            Err(err) => {
                let message = format!("{err:#}");
                if self.read_error.as_ref() != Some(&message) {
                    tracing::warn!(error = %message, "cannot read the tls files; keeping the current certificate");
                    self.metrics.reload("rejected");
                    self.read_error = Some(message.clone());
                    return Reload::Rejected(message);
                }
                return Reload::Unchanged;
            }
        };
        self.read_error = None;
        if pem == self.loaded || self.rejected.as_ref() == Some(&pem) {
            return Reload::Unchanged;
        }
        match self.files.certified_key(&pem, &self.provider) {
            Ok(key) => {
                *self.certs.0.write() = Arc::new(key);
                self.metrics.reload("reloaded");
                self.loaded = pem;
                self.rejected = None;
                tracing::info!(
                    cert_file = %self.files.cert.display(),
                    key_file = %self.files.key.display(),
                    "tls certificate reloaded"
                );
                Reload::Reloaded
            }
            Err(err) => {
                let message = format!("{err:#}");
                tracing::warn!(error = %message, "the changed tls files are not usable; keeping the current certificate");
                self.metrics.reload("rejected");
                self.rejected = Some(pem);
                Reload::Rejected(message)
            }
        }
    }
}

type Handshaken = (TlsStream<TcpStream>, SocketAddr);

/// A listener for `axum::serve` that yields connections whose TLS handshake is complete.
/// Handshakes run in their own tasks, each bounded by the handshake timeout, so a slow or
/// silent client never holds up the others. Dropping it (as `axum::serve` does on graceful
/// shutdown) closes the socket and abandons handshakes still in progress.
#[derive(Debug)]
pub(crate) struct TlsListener {
    local_addr: SocketAddr,
    ready: mpsc::Receiver<Handshaken>,
    accept_loop: JoinHandle<()>,
}

impl TlsListener {
    fn new(
        tcp: TcpListener,
        acceptor: TlsAcceptor,
        handshake_timeout: Duration,
        metrics: TlsMetrics,
    ) -> io::Result<Self> {
        let local_addr = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(READY_QUEUE);
        let accept_loop = tokio::spawn(accept_loop(tcp, acceptor, handshake_timeout, metrics, tx));
        Ok(Self {
            local_addr,
            ready,
            accept_loop,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accept loop never returns on its own; if it panicked, say so once and take
            // no more connections (shutdown still works: it does not wait for accept).
            None => {
                tracing::error!(addr = %self.local_addr, "the tls accept loop ended; no new connections");
                std::future::pending().await
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}

async fn accept_loop(
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    handshake_timeout: Duration,
    metrics: TlsMetrics,
    ready: mpsc::Sender<Handshaken>,
) {
    let mut handshakes = JoinSet::new();
    loop {
        tokio::select! {
            Some(_) = handshakes.join_next() => {}
            accepted = tcp.accept(), if handshakes.len() < MAX_HANDSHAKES => match accepted {
                Ok((stream, peer)) => {
                    // gRPC and small OTLP requests suffer from Nagle's delay.
                    let _ = stream.set_nodelay(true);
                    handshakes.spawn(handshake(
                        acceptor.clone(),
                        stream,
                        peer,
                        handshake_timeout,
                        metrics.clone(),
                        ready.clone(),
                    ));
                }
                Err(err) if is_connection_error(&err) => {}
                Err(err) => {
                    tracing::error!(%err, "accept failed; pausing before the next accept");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                }
            },
        }
    }
}

async fn handshake(
    acceptor: TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
    timeout: Duration,
    metrics: TlsMetrics,
    ready: mpsc::Sender<Handshaken>,
) {
    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => {
            // Fails only when the listener is gone (shutdown): the connection is dropped.
            let _ = ready.send((tls, peer)).await;
        }
        // Scanners and plain-HTTP clients end up here: not worth more than debug.
        Ok(Err(err)) => {
            metrics.handshake_failed("error");
            tracing::debug!(%peer, %err, "tls handshake failed");
        }
        Err(_) => {
            metrics.handshake_failed("timeout");
            tracing::debug!(%peer, ?timeout, "tls handshake timed out");
        }
    }
}

fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
mod tests;
