//! The real `sextant` binary as a child process on random loopback ports.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use crate::auth::{Bootstrap, TenantKeys};

/// How long the binary may take to print its listeners and to become ready.
const START_DEADLINE: Duration = Duration::from_secs(60);
/// How long a stopped process may take to exit.
const EXIT_DEADLINE: Duration = Duration::from_secs(30);
/// Lines of stderr kept for failure messages.
const TAIL_LINES: usize = 200;

/// Path of the binary under test: `$SEXTANT_BIN`, else `<target>/debug/sextant`.
pub fn sextant_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("SEXTANT_BIN") {
        return PathBuf::from(bin);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let bin = target.join("debug").join("sextant");
    assert!(
        bin.exists(),
        "SEXTANT_BIN is unset and {} does not exist: run `cargo build -p sextant` or ./scripts/test.sh",
        bin.display()
    );
    bin
}

/// The workspace root (this crate's parent folder).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests crate has a parent folder")
        .to_path_buf()
}

/// Settings every test server gets unless its options say otherwise: snapshot refresh and
/// usage persistence fast enough that tests never wait long.
const TEST_ENV: &[(&str, &str)] = &[
    ("SEXTANT_AUTH__REFRESH_INTERVAL", "50ms"),
    ("SEXTANT_AUTH__USAGE_FLUSH_INTERVAL", "200ms"),
    ("SEXTANT_AUTH__LAST_USED_FLUSH_INTERVAL", "200ms"),
];

/// How to start the binary: extra environment and an optional existing data dir.
#[derive(Clone, Debug, Default)]
pub struct Options {
    env: BTreeMap<String, String>,
    data_dir: Option<PathBuf>,
    wait_ready: bool,
}

impl Options {
    /// Default options: a fresh temporary data dir, wait for `/ready`.
    pub fn new() -> Self {
        Self {
            wait_ready: true,
            ..Self::default()
        }
    }

    /// Set an environment variable for the child (e.g. `SEXTANT_INGESTER__TRACE_IDLE`).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Use this data dir instead of a fresh temporary one.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Return as soon as the listeners are printed, without waiting for `/ready`.
    pub fn no_wait_ready(mut self) -> Self {
        self.wait_ready = false;
        self
    }
}

/// The four listener addresses the binary printed.
#[derive(Clone, Copy, Debug)]
pub struct Addrs {
    pub http: SocketAddr,
    pub otlp_grpc: SocketAddr,
    pub otlp_http: SocketAddr,
    pub internal: SocketAddr,
}

/// A running `sextant serve`; the child is killed when this is dropped.
#[derive(Debug)]
pub struct Sextant {
    child: Option<Child>,
    addrs: Addrs,
    data_dir: PathBuf,
    opts: Options,
    stderr: Arc<Mutex<VecDeque<String>>>,
    http: reqwest::Client,
    /// What the first start printed; carried over restarts.
    bootstrap: Bootstrap,
    /// Tenants created through the CLI, by ID; carried over restarts.
    tenants: Arc<Mutex<BTreeMap<String, TenantKeys>>>,
    // Kept so the temporary data dir survives restarts; removed on drop.
    _temp: Option<Arc<tempfile::TempDir>>,
}

impl Sextant {
    /// Start the binary with `opts` and wait until it listens (and is ready, by default).
    pub async fn start(opts: Options) -> Self {
        let (data_dir, temp) = match &opts.data_dir {
            Some(dir) => (dir.clone(), None),
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("sextant-e2e-")
                    .tempdir()
                    .expect("create temp data dir");
                (temp.path().to_path_buf(), Some(Arc::new(temp)))
            }
        };
        Self::spawn(opts, data_dir, temp, Bootstrap::default(), Arc::default()).await
    }

    async fn spawn(
        opts: Options,
        data_dir: PathBuf,
        temp: Option<Arc<tempfile::TempDir>>,
        mut bootstrap: Bootstrap,
        tenants: Arc<Mutex<BTreeMap<String, TenantKeys>>>,
    ) -> Self {
        let bin = sextant_bin();
        let mut cmd = Command::new(&bin);
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["--http-addr", "127.0.0.1:0"])
            .args(["--otlp-grpc-addr", "127.0.0.1:0"])
            .args(["--otlp-http-addr", "127.0.0.1:0"])
            .args(["--internal-addr", "127.0.0.1:0"])
            .env("SEXTANT_LOG__LEVEL", "info")
            .envs(TEST_ENV.iter().copied())
            .envs(&opts.env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));

        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        let mut err_lines = BufReader::new(child.stderr.take().expect("piped stderr")).lines();
        let tail = stderr.clone();
        let echo = std::env::var_os("SEXTANT_TEST_ECHO").is_some();
        tokio::spawn(async move {
            while let Ok(Some(line)) = err_lines.next_line().await {
                if echo {
                    eprintln!("[sextant] {line}");
                }
                let mut tail = tail.lock().expect("stderr tail lock");
                if tail.len() == TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        });
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut out_lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = out_lines.next_line().await {
                if tx.send(line).is_err() {
                    // Nobody listens any more; keep draining so the child never blocks.
                    while let Ok(Some(_)) = out_lines.next_line().await {}
                    break;
                }
            }
        });

        let mut found: BTreeMap<String, SocketAddr> = BTreeMap::new();
        let deadline = Instant::now() + START_DEADLINE;
        let names = ["http", "otlp-grpc", "otlp-http", "internal"];
        while !names.iter().all(|n| found.contains_key(*n)) {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, rx.recv()).await {
                Ok(Some(line)) => {
                    if bootstrap.absorb(&line) {
                        continue;
                    }
                    let mut parts = line.split_whitespace();
                    if parts.next() == Some("listening")
                        && let (Some(name), Some(addr)) = (parts.next(), parts.next())
                    {
                        let addr = addr
                            .parse()
                            .unwrap_or_else(|e| panic!("bad address in {line:?}: {e}"));
                        found.insert(name.to_owned(), addr);
                    }
                }
                Ok(None) => {
                    let status = child.wait().await.ok();
                    panic!(
                        "sextant exited ({status:?}) before printing its listeners (got {found:?})\n{}",
                        tail_of(&stderr)
                    );
                }
                Err(_) => panic!(
                    "sextant printed no `listening` lines for all listeners within {START_DEADLINE:?} (got {found:?})\n{}",
                    tail_of(&stderr)
                ),
            }
        }
        let addrs = Addrs {
            http: found["http"],
            otlp_grpc: found["otlp-grpc"],
            otlp_http: found["otlp-http"],
            internal: found["internal"],
        };
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        let server = Self {
            child: Some(child),
            addrs,
            data_dir,
            opts,
            stderr,
            http,
            bootstrap,
            tenants,
            _temp: temp,
        };
        if server.opts.wait_ready {
            server.wait_ready(START_DEADLINE).await;
        }
        server
    }

    /// Poll `/ready` on the internal listener until it answers 200.
    pub async fn wait_ready(&self, timeout: Duration) {
        let url = format!("{}/ready", self.internal_url());
        let deadline = Instant::now() + timeout;
        loop {
            let last = match self.http.get(&url).send().await {
                Ok(resp) if resp.status() == 200 => return,
                Ok(resp) => {
                    let status = resp.status();
                    format!("{status} {}", resp.text().await.unwrap_or_default())
                }
                Err(e) => e.to_string(),
            };
            assert!(
                Instant::now() < deadline,
                "sextant not ready within {timeout:?}; last /ready answer: {last}\n{}",
                self.stderr_tail()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The listener addresses.
    pub fn addrs(&self) -> Addrs {
        self.addrs
    }

    /// `http://` base URL of the public port (Tempo API, OTLP HTTP, gRPC by content type).
    pub fn http_url(&self) -> String {
        format!("http://{}", self.addrs.http)
    }

    /// `http://` base URL of the OTLP gRPC port.
    pub fn otlp_grpc_url(&self) -> String {
        format!("http://{}", self.addrs.otlp_grpc)
    }

    /// `http://` base URL of the OTLP HTTP port.
    pub fn otlp_http_url(&self) -> String {
        format!("http://{}", self.addrs.otlp_http)
    }

    /// `http://` base URL of the internal port (`/ready`, `/live`, `/metrics`).
    pub fn internal_url(&self) -> String {
        format!("http://{}", self.addrs.internal)
    }

    /// The data dir this process runs on.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// A plain HTTP/1.1 client (no proxy, 30 s timeout).
    pub fn client(&self) -> &reqwest::Client {
        &self.http
    }

    /// What the first start printed (admin token, tenant, key).
    pub fn bootstrap(&self) -> &Bootstrap {
        &self.bootstrap
    }

    /// An environment variable given to the child through [`Options::env`].
    pub fn option_env(&self, key: &str) -> Option<String> {
        self.opts.env.get(key).cloned()
    }

    /// The environment the child runs with beyond the inherited one (test defaults, then the
    /// options'), for CLI runs against the same configuration.
    pub fn env_vars(&self) -> BTreeMap<String, String> {
        let mut vars: BTreeMap<String, String> = TEST_ENV
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        vars.extend(self.opts.env.clone());
        vars
    }

    pub(crate) fn cached_tenant(&self, id: &str) -> Option<TenantKeys> {
        self.tenants.lock().expect("tenant cache").get(id).cloned()
    }

    pub(crate) fn cache_tenant(&self, keys: TenantKeys) {
        self.tenants
            .lock()
            .expect("tenant cache")
            .insert(keys.id.clone(), keys);
    }

    /// The process id of the running child.
    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .and_then(Child::id)
            .expect("sextant is not running")
    }

    /// The last lines the binary wrote to stderr.
    pub fn stderr_tail(&self) -> String {
        tail_of(&self.stderr)
    }

    /// `kill -9` the process and reap it.
    pub async fn kill9(&mut self) {
        let mut child = self.child.take().expect("sextant is not running");
        child.start_kill().expect("send SIGKILL");
        child.wait().await.expect("reap killed sextant");
    }

    /// Send SIGTERM and wait for the exit status.
    pub async fn sigterm(&mut self) -> ExitStatus {
        let pid = self.pid();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("run kill -TERM");
        assert!(status.success(), "kill -TERM {pid} failed");
        self.wait_exit().await
    }

    /// Wait for the process to exit on its own (after a signal).
    pub async fn wait_exit(&mut self) -> ExitStatus {
        let child = self.child.as_mut().expect("sextant is not running");
        let status = match tokio::time::timeout(EXIT_DEADLINE, child.wait()).await {
            Ok(status) => status.expect("wait for sextant"),
            Err(_) => panic!(
                "sextant did not exit within {EXIT_DEADLINE:?}\n{}",
                tail_of(&self.stderr)
            ),
        };
        self.child = None;
        status
    }

    /// Start the binary again on the same data dir with the same options (SIGTERM first when
    /// it is still running). Listener addresses change.
    pub async fn restart(&mut self) {
        if self.child.is_some() {
            let status = self.sigterm().await;
            assert!(
                status.success(),
                "sextant exited with {status} on SIGTERM\n{}",
                self.stderr_tail()
            );
        }
        let next = Self::spawn(
            self.opts.clone(),
            self.data_dir.clone(),
            self._temp.clone(),
            self.bootstrap.clone(),
            self.tenants.clone(),
        )
        .await;
        let old = std::mem::replace(self, next);
        drop(old);
    }
}

impl Drop for Sextant {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        if std::thread::panicking() {
            eprintln!(
                "--- sextant stderr (last {TAIL_LINES} lines) ---\n{}",
                tail_of(&self.stderr)
            );
        }
    }
}

fn tail_of(lines: &Mutex<VecDeque<String>>) -> String {
    let lines = lines.lock().expect("stderr tail lock");
    lines.iter().cloned().collect::<Vec<_>>().join("\n")
}

/// Poll `cond` every 20 ms until it is true; panic with `what` after `timeout`.
pub async fn wait_until(timeout: Duration, what: &str, mut cond: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    loop {
        if cond().await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The WAL segment files under `<data_dir>/wal`, in append order (sorted by name).
pub fn wal_segments(data_dir: &Path) -> Vec<PathBuf> {
    let dir = data_dir.join("wal");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("wal dir entry").path())
        .filter(|p| p.is_file())
        .collect();
    // Prefer `*.wal` files when the WAL keeps other files (locks, checkpoints) beside them.
    if files
        .iter()
        .any(|p| p.extension().is_some_and(|e| e == "wal"))
    {
        files.retain(|p| p.extension().is_some_and(|e| e == "wal"));
    }
    files.sort();
    files
}
