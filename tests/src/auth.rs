//! Credentials in the authenticated world: the keys the binary printed on its first start, and
//! tenants and keys created with the real CLI (`sextant tenant create`, `sextant key create`)
//! against the same database while `serve` runs — the way an operator onboards a tenant.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::server::{Sextant, sextant_bin};

/// How long a CLI command may take.
const CLI_DEADLINE: Duration = Duration::from_secs(30);
/// How long a new key may take to reach the running server's snapshot.
const SNAPSHOT_DEADLINE: Duration = Duration::from_secs(15);

/// One API key and the tenant it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Auth {
    pub tenant: String,
    pub key: String,
}

impl Auth {
    pub fn new(tenant: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            tenant: tenant.into(),
            key: key.into(),
        }
    }

    /// `Authorization` value for Basic auth (user = tenant, password = key), as Grafana and
    /// the OpenTelemetry exporters send it.
    pub fn basic(&self) -> String {
        basic(&self.tenant, &self.key)
    }

    /// `Authorization` value with the key as a bearer token.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.key)
    }

    /// The key ID (`sxt_<id>_…`), as `sextant key revoke` takes it.
    pub fn key_id(&self) -> &str {
        self.key
            .strip_prefix("sxt_")
            .and_then(|rest| rest.split('_').next())
            .unwrap_or_else(|| panic!("not an API key: {}", self.key))
    }
}

/// `Basic base64(user:password)`.
pub fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

/// A tenant created through the CLI with one key per scope set.
#[derive(Clone, Debug)]
pub struct TenantKeys {
    pub id: String,
    /// `traces:write,traces:read`.
    pub rw: Auth,
    /// `traces:write` only.
    pub write: Auth,
    /// `traces:read` only.
    pub read: Auth,
}

/// What the binary printed on its first start (`bootstrap …` lines on stdout).
#[derive(Clone, Debug, Default)]
pub struct Bootstrap {
    pub admin_token: Option<String>,
    pub tenant: Option<String>,
    pub key: Option<String>,
}

impl Bootstrap {
    /// Reads one stdout line; returns whether it was a bootstrap line.
    pub(crate) fn absorb(&mut self, line: &str) -> bool {
        let mut parts = line.split_whitespace();
        if parts.next() != Some("bootstrap") {
            return false;
        }
        match (parts.next(), parts.next()) {
            (Some("admin-token"), Some(v)) => self.admin_token = Some(v.to_owned()),
            (Some("tenant"), Some(v)) => self.tenant = Some(v.to_owned()),
            (Some("api-key"), Some(v)) => self.key = Some(v.to_owned()),
            _ => {}
        }
        true
    }
}

/// The output of a CLI run.
#[derive(Debug)]
pub struct CliOutput {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Sextant {
    /// The read+write key of `single-tenant` printed on the first start.
    pub fn single(&self) -> Auth {
        let b = self.bootstrap();
        Auth::new(
            b.tenant.clone().expect("no bootstrap tenant printed"),
            b.key
                .clone()
                .unwrap_or_else(|| panic!("no bootstrap key printed\n{}", self.stderr_tail())),
        )
    }

    /// The admin token printed on the first start (or the one given as SEXTANT_ADMIN_TOKEN).
    pub fn admin_token(&self) -> String {
        self.bootstrap()
            .admin_token
            .clone()
            .or_else(|| self.option_env("SEXTANT_ADMIN_TOKEN"))
            .expect("no admin token printed or configured")
    }

    /// Runs `sextant <args>` against this server's configuration (same data dir and
    /// environment, so the same database and pepper).
    pub async fn cli(&self, args: &[&str]) -> CliOutput {
        self.cli_with_stdin(args, "").await
    }

    /// Like [`Sextant::cli`], writing `stdin` to the command's standard input (passwords).
    pub async fn cli_with_stdin(&self, args: &[&str], stdin: &str) -> CliOutput {
        use tokio::io::AsyncWriteExt;
        let mut cmd = tokio::process::Command::new(sextant_bin());
        cmd.args(args)
            .arg("--data-dir")
            .arg(self.data_dir())
            .envs(self.env_vars())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("run sextant {args:?}: {e}"));
        let mut input = child.stdin.take().expect("piped stdin");
        input
            .write_all(stdin.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("write the stdin of sextant {args:?}: {e}"));
        drop(input);
        let out = tokio::time::timeout(CLI_DEADLINE, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("sextant {args:?} ran longer than {CLI_DEADLINE:?}"))
            .unwrap_or_else(|e| panic!("run sextant {args:?}: {e}"));
        CliOutput {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Like [`Sextant::cli`], panicking unless it succeeds; returns stdout.
    pub async fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args).await;
        assert!(
            out.success,
            "sextant {args:?} failed\nstdout:\n{}\nstderr:\n{}",
            out.stdout, out.stderr
        );
        out.stdout
    }

    /// Creates a key with the CLI and returns it (not yet waited for).
    pub async fn create_key(&self, tenant: &str, scopes: &str, extra: &[&str]) -> Auth {
        let mut args = vec!["key", "create", "--tenant", tenant, "--scopes", scopes];
        args.extend_from_slice(extra);
        let stdout = self.cli_ok(&args).await;
        let key = stdout.trim().to_owned();
        assert!(key.starts_with("sxt_"), "key create printed {stdout:?}");
        Auth::new(tenant, key)
    }

    /// The tenant `id` with a read+write, a write-only and a read-only key, created with the
    /// CLI on first use (cached per server), once the running server accepts its keys.
    pub async fn tenant(&self, id: &str) -> TenantKeys {
        if let Some(keys) = self.cached_tenant(id) {
            return keys;
        }
        if id != "single-tenant" {
            self.cli_ok(&["tenant", "create", id, "--display-name", id])
                .await;
        }
        let keys = TenantKeys {
            id: id.to_owned(),
            rw: self.create_key(id, "traces:write,traces:read", &[]).await,
            write: self.create_key(id, "traces:write", &[]).await,
            read: self.create_key(id, "traces:read", &[]).await,
        };
        // Each key may reach the server's snapshot in a different refresh.
        for key in [&keys.rw, &keys.write, &keys.read] {
            self.wait_key_accepted(key).await;
        }
        self.cache_tenant(keys.clone());
        keys
    }

    /// Status of one small OTLP/HTTP protobuf write (a two-span trace) with `auth`.
    pub async fn write_status(&self, auth: &Auth) -> u16 {
        use prost::Message;
        let (_, spans) = crate::trace(2);
        crate::post_otlp(
            self.client(),
            &format!("{}/v1/traces", self.otlp_http_url()),
            Some(auth),
            "application/x-protobuf",
            None,
            crate::request("e2e-writer", spans).encode_to_vec(),
        )
        .await
        .status()
        .as_u16()
    }

    /// Status of `GET /api/traces/{id}` with `auth` (Basic).
    pub async fn read_status(&self, auth: &Auth, trace_id: &[u8]) -> u16 {
        let url = format!("{}/api/traces/{}", self.http_url(), hex::encode(trace_id));
        self.client()
            .get(&url)
            .header("authorization", auth.basic())
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"))
            .status()
            .as_u16()
    }

    /// Polls a read route with `auth` until the server's snapshot knows the key (any answer
    /// but 401).
    pub async fn wait_key_accepted(&self, auth: &Auth) {
        let url = format!(
            "{}/api/traces/00000000000000000000000000000001",
            self.http_url()
        );
        let deadline = Instant::now() + SNAPSHOT_DEADLINE;
        loop {
            let status = self
                .client()
                .get(&url)
                .header("authorization", auth.basic())
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0);
            if status != 401 && status != 0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "key of {} not accepted within {SNAPSHOT_DEADLINE:?} (last status {status})\n{}",
                auth.tenant,
                self.stderr_tail()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
