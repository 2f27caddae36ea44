//! A real S3-compatible server for tests: `moto_server` (PyPI `moto[server]`) on a free
//! loopback port, in its own process, killed on drop.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const START_DEADLINE: Duration = Duration::from_secs(30);

fn executable() -> PathBuf {
    if let Some(path) = std::env::var_os("SEXTANT_TEST_MOTO") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "SEXTANT_TEST_MOTO={} is not a file; run ./scripts/test.sh, which installs moto",
            path.display()
        );
        return path;
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/moto_server");
    assert!(
        venv.is_file(),
        "moto_server not found: set SEXTANT_TEST_MOTO or run ./scripts/test.sh (it installs \
         moto[server] into {})",
        venv.display()
    );
    venv
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// One plain HTTP/1.1 request; moto takes unsigned requests. Returns the status code.
fn http(port: u16, method: &str, path: &str) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad response: {response:.80}")))?;
    Ok(status)
}

#[derive(Debug)]
pub(crate) struct Moto {
    child: Option<Child>,
    port: u16,
}

impl Moto {
    pub(crate) fn start() -> Self {
        let mut moto = Self {
            child: None,
            port: free_port(),
        };
        moto.resume();
        moto
    }

    /// `http://127.0.0.1:<port>`.
    pub(crate) fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub(crate) fn create_bucket(&self, bucket: &str) {
        let status = http(self.port, "PUT", &format!("/{bucket}")).unwrap();
        assert_eq!(status, 200, "creating bucket {bucket}");
    }

    /// Kills the server (its state is in memory and goes with it).
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and waits until it answers.
    pub(crate) fn resume(&mut self) {
        assert!(self.child.is_none(), "moto is running");
        let exe = executable();
        let child = Command::new(&exe)
            .args(["-H", "127.0.0.1", "-p", &self.port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", exe.display()));
        self.child = Some(child);
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if http(self.port, "GET", "/moto-api/").is_ok() {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!("moto_server exited at start with {status}");
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer within {START_DEADLINE:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}
