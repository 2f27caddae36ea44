//! TLS for end-to-end tests: a test CA, certificate/key pairs for `localhost` and 127.0.0.1
//! written where the binary reads them, https clients that trust only the CA, and the
//! certificate a listener presents to a new connection.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// A certificate authority made up for one test.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

/// A server certificate for `localhost` and 127.0.0.1 signed by a [`TestCa`], with its key.
#[derive(Clone, Debug)]
pub struct Leaf {
    /// The chain as PEM: the leaf, then the CA.
    pub cert_pem: String,
    /// The private key as PKCS#8 PEM.
    pub key_pem: String,
    /// The leaf certificate as DER, to compare with what a server presents.
    pub der: Vec<u8>,
}

impl TestCa {
    pub fn new() -> Self {
        let key = KeyPair::generate().expect("generate the CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // Distinct names: a leaf whose issuer equals its subject looks self-signed to OpenSSL.
        params
            .distinguished_name
            .push(DnType::CommonName, "sextant test ca");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).expect("self-sign the CA");
        Self {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// The CA certificate as PEM (what clients trust).
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// A new leaf with a new key.
    pub fn leaf(&self) -> Leaf {
        let key = KeyPair::generate().expect("generate a leaf key");
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("leaf params");
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let cert = params.signed_by(&key, &self.issuer).expect("sign the leaf");
        Leaf {
            cert_pem: format!("{}{}", cert.pem(), self.pem),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    /// An https client trusting only this CA (HTTP/2 or HTTP/1.1 as ALPN decides, unless
    /// `http1_only`). Each call makes new connections.
    pub fn client(&self, http1_only: bool) -> reqwest::Client {
        let ca = reqwest::Certificate::from_pem(self.pem.as_bytes()).expect("CA pem");
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .tls_certs_only([ca])
            .tls_info(true)
            .timeout(Duration::from_secs(30));
        if http1_only {
            builder = builder.http1_only();
        }
        builder.build().expect("https client")
    }

    /// The leaf certificate (DER) the listener at `addr` presents to a new connection.
    pub async fn presented_leaf(&self, addr: SocketAddr) -> Vec<u8> {
        let url = format!("https://{addr}/api/echo");
        let resp = self
            .client(true)
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e:?}"));
        resp.extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|info| info.peer_certificate())
            .unwrap_or_else(|| panic!("GET {url}: no peer certificate"))
            .to_vec()
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

/// The certificate, key and CA files in a temporary directory.
#[derive(Debug)]
pub struct TlsFiles {
    _dir: tempfile::TempDir,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

impl TlsFiles {
    /// Writes `leaf` and the CA.
    pub fn new(ca: &TestCa, leaf: &Leaf) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("sextant-tls-")
            .tempdir()
            .expect("temp dir");
        let files = Self {
            cert: dir.path().join("tls.crt"),
            key: dir.path().join("tls.key"),
            ca: dir.path().join("ca.crt"),
            _dir: dir,
        };
        write_atomic(&files.ca, ca.pem().as_bytes());
        files.install(leaf);
        files
    }

    /// Replaces the pair: the key first, then the certificate, each by a rename.
    pub fn install(&self, leaf: &Leaf) {
        write_atomic(&self.key, leaf.key_pem.as_bytes());
        write_atomic(&self.cert, leaf.cert_pem.as_bytes());
    }

    /// The environment that turns TLS on for the binary.
    pub fn env(&self) -> [(&'static str, String); 2] {
        [
            ("SEXTANT_SERVER__TLS__CERT_FILE", path_str(&self.cert)),
            ("SEXTANT_SERVER__TLS__KEY_FILE", path_str(&self.key)),
        ]
    }
}

/// Writes through a rename, as deployment tools do, so a reader never sees half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).unwrap_or_else(|e| panic!("write {}: {e}", tmp.display()));
    std::fs::rename(&tmp, path).unwrap_or_else(|e| panic!("rename to {}: {e}", path.display()));
}

fn path_str(path: &Path) -> String {
    path.to_str().expect("utf-8 temp path").to_owned()
}
