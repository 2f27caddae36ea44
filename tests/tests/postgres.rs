//! The binary on Postgres (`SEXTANT_DATABASE__URL`), a fresh database per test on the server
//! `$SEXTANT_TEST_POSTGRES_URL` names (these tests fail without it: ./scripts/test.sh starts one),
//! reached through a TCP proxy the test cuts. While the database is unreachable the server
//! serves its last tenant snapshot (fail static, never fail open): known keys keep ingesting, a
//! key it has not seen is refused, `/ready` stays 200 and says what is wrong. Once the database
//! is back, keys created meanwhile and afterwards work without a restart.

use std::net::SocketAddr;
use std::time::Duration;

use prost::Message;
use reqwest::Url;
use sextant_tests::{
    Auth, Expected, Options, OtlpGrpc, ReadApi, Sextant, TcpProxy, assert_all_readable, basic,
    post_otlp, request, sextant_bin, trace, wait_until,
};
use tokio::io::AsyncBufReadExt;

const PROTO: &str = "application/x-protobuf";

fn server_url() -> Url {
    let url = std::env::var("SEXTANT_TEST_POSTGRES_URL").expect(
        "SEXTANT_TEST_POSTGRES_URL is unset: these tests need a Postgres server \
         (./scripts/test.sh starts one), e.g. postgres://postgres@127.0.0.1:55432/postgres",
    );
    Url::parse(&url).unwrap_or_else(|e| panic!("SEXTANT_TEST_POSTGRES_URL {url:?}: {e}"))
}

fn psql(url: &Url, sql: &str) -> std::process::Output {
    std::process::Command::new("psql")
        .arg(url.as_str())
        .args(["-v", "ON_ERROR_STOP=1", "-Atc", sql])
        .output()
        .expect("run psql (the postgresql-client package)")
}

/// A database created for one test on the test server, dropped (with its connections) on drop.
struct FreshDatabase {
    admin: Url,
    name: String,
}

impl FreshDatabase {
    fn create() -> Self {
        let admin = server_url();
        let name = format!("sextant_e2e_{}", hex::encode(rand::random::<[u8; 6]>()));
        let out = psql(&admin, &format!("CREATE DATABASE {name}"));
        assert!(
            out.status.success(),
            "CREATE DATABASE {name} on {}: {}",
            admin.host_str().unwrap_or_default(),
            String::from_utf8_lossy(&out.stderr)
        );
        Self { admin, name }
    }

    /// The database's URL on the server itself.
    fn direct_url(&self) -> Url {
        let mut url = self.admin.clone();
        url.set_path(&self.name);
        url
    }

    /// The database's URL through `proxy`.
    fn url_via(&self, proxy: SocketAddr) -> Url {
        let mut url = self.direct_url();
        url.set_host(Some(&proxy.ip().to_string())).expect("host");
        url.set_port(Some(proxy.port())).expect("port");
        url
    }

    async fn server_addr(&self) -> SocketAddr {
        let host = self
            .admin
            .host_str()
            .expect("host in SEXTANT_TEST_POSTGRES_URL");
        let port = self.admin.port().unwrap_or(5432);
        tokio::net::lookup_host((host, port))
            .await
            .expect("resolve the Postgres host")
            .next()
            .expect("an address for the Postgres host")
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        let _ = psql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

async fn push(server: &Sextant, auth: &Auth, expected: Option<&mut Expected>) -> u16 {
    let (_, spans) = trace(3);
    let data = request("pg", spans);
    let status = post_otlp(
        server.client(),
        &format!("{}/v1/traces", server.otlp_http_url()),
        Some(auth),
        PROTO,
        None,
        data.encode_to_vec(),
    )
    .await
    .status()
    .as_u16();
    if status == 200
        && let Some(e) = expected
    {
        e.add_request(&data);
    }
    status
}

/// `/ready` while the database is down: must stay 200; true once it names the database.
async fn ready_reports_database(server: &Sextant) -> bool {
    let (status, body) = server.ready().await;
    assert_eq!(
        status, 200,
        "/ready must stay 200 while a tenant snapshot is served: {body}"
    );
    body.to_lowercase().contains("database")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_keeps_known_keys_working_and_heals_without_restart() {
    let db = FreshDatabase::create();
    let proxy = TcpProxy::start(db.server_addr().await).await;
    let server = Sextant::start(
        Options::new().env("SEXTANT_DATABASE__URL", db.url_via(proxy.addr()).as_str()),
    )
    .await;
    // First start on an empty Postgres database: the bootstrap tenant and key work.
    let single = server.single();
    assert_eq!(
        push(&server, &single, None).await,
        200,
        "bootstrap key on Postgres"
    );
    let a = server.tenant("pg-a").await;
    let mut expected = Expected::default();
    assert_eq!(
        push(&server, &a.rw, Some(&mut expected)).await,
        200,
        "before the outage"
    );
    let (status, body) = server.ready().await;
    assert!(
        status == 200 && !body.to_lowercase().contains("database"),
        "/ready before the outage: {status} {body}"
    );

    proxy.cut();
    // A check that started before the cut may wait out the pool's acquire timeout first.
    wait_until(
        Duration::from_secs(30),
        "/ready to report the unreachable database",
        async || ready_reports_database(&server).await,
    )
    .await;

    // Known keys keep ingesting, over HTTP and gRPC, for longer than many refreshes.
    for i in 0..20 {
        assert_eq!(
            push(&server, &a.rw, Some(&mut expected)).await,
            200,
            "write {i} with a known key while the database is down"
        );
    }
    let mut grpc = OtlpGrpc::connect(server.addrs().otlp_grpc).await;
    for i in 0..5 {
        let (_, spans) = trace(2);
        let data = request("pg-grpc", spans);
        grpc.export(Some(&a.write), data.clone())
            .await
            .unwrap_or_else(|s| panic!("gRPC write {i} with a known key, database down: {s:?}"));
        expected.add_request(&data);
    }

    // A key the server has not seen is refused: a real one created in the database behind
    // the server's back (through no proxy), and a known key with one character altered.
    let direct = db.direct_url();
    let unseen = server
        .cli_ok(&[
            "key",
            "create",
            "--tenant",
            "pg-a",
            "--scopes",
            "traces:write,traces:read",
            "--database-url",
            direct.as_str(),
        ])
        .await;
    let unseen = Auth::new("pg-a", unseen.trim());
    let mut forged = a.rw.key.clone();
    let at = forged.len() - 3;
    let replacement = if &forged[at..=at] == "A" { "B" } else { "A" };
    forged.replace_range(at..=at, replacement);
    let forged = Auth::new("pg-a", forged);
    for round in 0..5 {
        for (what, auth) in [("unseen key", &unseen), ("forged key", &forged)] {
            assert_eq!(
                push(&server, auth, None).await,
                401,
                "{what} while the database is down (round {round})"
            );
        }
        let url = format!(
            "{}/api/traces/{}",
            server.http_url(),
            hex::encode([1u8; 16])
        );
        let resp = server
            .client()
            .get(&url)
            .header("authorization", basic("pg-a", &unseen.key))
            .send()
            .await
            .expect("send");
        assert_eq!(
            resp.status(),
            401,
            "read with the unseen key, database down"
        );
        assert!(
            ready_reports_database(&server).await,
            "/ready stopped reporting the database while it is down"
        );
    }

    proxy.restore();
    wait_until(
        Duration::from_secs(30),
        "/ready to stop reporting the database",
        async || {
            let (status, body) = server.ready().await;
            status == 200 && !body.to_lowercase().contains("database")
        },
    )
    .await;
    // The key created during the outage now works; so does one created afterwards.
    server.wait_key_accepted(&unseen).await;
    assert_eq!(
        push(&server, &unseen, Some(&mut expected)).await,
        200,
        "the key created during the outage, after it"
    );
    let b = server.tenant("pg-b").await;
    let mut b_expected = Expected::default();
    assert_eq!(
        push(&server, &b.rw, Some(&mut b_expected)).await,
        200,
        "key created after the outage"
    );
    assert_eq!(
        push(&server, &forged, None).await,
        401,
        "the forged key after the outage"
    );
    let out = server.cli_ok(&["migrate"]).await;
    assert!(
        out.contains("up to date"),
        "sextant migrate on Postgres printed {out:?}"
    );

    assert_all_readable(
        &server,
        Some(&a.read),
        &expected,
        &[ReadApi::V1Proto],
        "tenant pg-a after the outage",
    )
    .await;
    assert_all_readable(
        &server,
        Some(&b.read),
        &b_expected,
        &ReadApi::ALL,
        "tenant pg-b",
    )
    .await;
    for id in &expected.trace_ids {
        assert!(
            server
                .read_trace(ReadApi::V1Proto, Some(&b.rw), id)
                .await
                .is_none(),
            "pg-a's trace readable by pg-b"
        );
    }
}

/// `sextant serve --target compactor` beside a process running every other role, sharing the
/// database and the object store: the compactor apart merges the blocks the other process
/// wrote, and every trace is still read exactly once through the other process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compactor_apart_merges_the_blocks_another_process_wrote() {
    let db = FreshDatabase::create();
    let shared = tempfile::tempdir().expect("shared storage dir");
    let storage = format!("file://{}", shared.path().display());
    let main = Sextant::start(
        Options::new()
            .fast_blocks()
            .without_compaction()
            .env("SEXTANT_DATABASE__URL", db.direct_url().as_str())
            .env("SEXTANT_STORAGE__URL", &storage)
            .env("SEXTANT_CATALOG__METRICS_INTERVAL", "50ms"),
    )
    .await;
    let auth = main.tenant("split-roles").await.rw;
    let mut expected = Expected::default();
    for round in 1..=4 {
        for _ in 0..3 {
            assert_eq!(push(&main, &auth, Some(&mut expected)).await, 200);
        }
        main.wait_all_in_blocks(Duration::from_secs(10)).await;
        wait_until(
            Duration::from_secs(5),
            "the block in the catalog gauge",
            async || live_blocks(&main).await >= f64::from(round),
        )
        .await;
    }
    assert_eq!(live_blocks(&main).await, 4.0, "one block per round");

    // A compactor alone: no ingest listeners, only the internal one.
    let data = tempfile::tempdir().expect("compactor data dir");
    let mut compactor = tokio::process::Command::new(sextant_bin())
        .args([
            "serve",
            "--target",
            "compactor",
            "--internal-addr",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(data.path())
        .args(["--database-url", db.direct_url().as_str()])
        .args(["--storage-url", &storage])
        .env("SEXTANT_COMPACTOR__INTERVAL", "100ms")
        .env("SEXTANT_COMPACTOR__GRACE_PERIOD", "100ms")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the compactor");
    let mut lines = tokio::io::BufReader::new(compactor.stdout.take().expect("stdout")).lines();
    let listening = tokio::time::timeout(Duration::from_secs(30), async {
        let mut seen = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            if line.starts_with("listening ") {
                seen.push(line);
            }
            if seen.iter().any(|l| l.starts_with("listening internal")) {
                return seen;
            }
        }
        seen
    })
    .await
    .expect("the compactor printed its listeners");
    assert_eq!(
        listening.len(),
        1,
        "a compactor apart opened public listeners: {listening:?}"
    );

    wait_until(
        Duration::from_secs(20),
        "the compactor apart to merge",
        async || live_blocks(&main).await == 1.0,
    )
    .await;
    assert_all_readable(
        &main,
        Some(&auth),
        &expected,
        &ReadApi::ALL,
        "compacted apart",
    )
    .await;
    compactor.start_kill().expect("stop the compactor");
    let _ = compactor.wait().await;
}

async fn live_blocks(server: &Sextant) -> f64 {
    server
        .metric(
            "sextant_catalog_blocks",
            &[("tenant", "split-roles"), ("state", "live")],
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_apart_need_postgres_and_only_compactor_and_admin_run_apart() {
    let check = |args: &'static [&'static str]| async move {
        let out = tokio::process::Command::new(sextant_bin())
            .arg("check-config")
            .args(args)
            .output()
            .await
            .expect("run check-config");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, err) = check(&["--target", "compactor"]).await;
    assert!(!ok && err.contains("need PostgreSQL"), "{err}");
    let (ok, err) = check(&[
        "--target",
        "ingester",
        "--database-url",
        "postgres://127.0.0.1/x",
    ])
    .await;
    assert!(!ok && err.contains("cannot run apart"), "{err}");
    let (ok, err) = check(&[
        "--target",
        "compactor,admin",
        "--database-url",
        "postgres://127.0.0.1/x",
    ])
    .await;
    assert!(ok, "{err}");
}
