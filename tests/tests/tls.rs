//! TLS on the public listeners (`server.tls`), end to end: the Python SDK's gRPC exporter
//! (`ssl_channel_credentials`) on the otlp-grpc and http ports, its HTTP exporter
//! (`certificate_file`) on the otlp-http and http ports, reads over https with HTTP/2 and
//! HTTP/1.1; the certificate replaced on disk is picked up by every listener, a bad
//! replacement is refused and counted while the old pair keeps serving; SIGTERM still exits
//! cleanly; and a bad pair or half a configuration stops the start with a clear message.

use std::process::Stdio;
use std::time::Duration;

use prost::Message;
use sextant_tests::{
    Expected, Options, Sextant, TestCa, TlsFiles, TraceByIdResponse, assert_same_spans,
    sextant_bin, spans_of, wait_until, write_atomic,
};

const RELOAD: Duration = Duration::from_secs(20);

fn https(addr: std::net::SocketAddr) -> String {
    format!("https://{addr}")
}

/// The OTLP endpoint as the SDK is given it: by name, which the certificate covers.
fn endpoint(addr: std::net::SocketAddr) -> String {
    format!("https://localhost:{}", addr.port())
}

/// Reads every expected trace over https (`/api/v2/traces/{id}`, protobuf) and compares.
async fn assert_readable_over_https(
    server: &Sextant,
    ca: &TestCa,
    expected: &Expected,
    when: &str,
) {
    let client = ca.client(false);
    for trace_id in &expected.trace_ids {
        let url = format!(
            "{}/api/v2/traces/{}",
            https(server.addrs().http),
            hex::encode(trace_id)
        );
        let resp = client
            .get(&url)
            .header("accept", "application/protobuf")
            .header("authorization", server.single().basic())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{when}: GET {url}: {e:?}"));
        assert_eq!(resp.version(), reqwest::Version::HTTP_2, "{when}: ALPN h2");
        assert_eq!(resp.status(), 200, "{when}: GET {url}");
        let body = resp.bytes().await.expect("body");
        let trace = TraceByIdResponse::decode(body.as_ref())
            .expect("TraceByIDResponse")
            .trace
            .expect("a trace");
        let what = format!("{when}: trace {}", hex::encode(trace_id));
        assert_same_spans(&what, &spans_of(&expected.spans, trace_id), &trace);
    }
}

async fn send_all(server: &Sextant, files: &TlsFiles, expected: &mut Expected) {
    let addrs = server.addrs();
    let ca = files.ca.to_str().expect("utf-8 path");
    for (exporter, addr) in [
        ("grpc", addrs.otlp_grpc),
        ("grpc", addrs.http),
        ("http", addrs.otlp_http),
        ("http", addrs.http),
    ] {
        let endpoint = endpoint(addr);
        expected
            .add_script(
                "send_tls.py",
                &[
                    "--exporter",
                    exporter,
                    "--endpoint",
                    &endpoint,
                    "--ca-file",
                    ca,
                    "--authorization",
                    &server.single().basic(),
                ],
            )
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_clients_over_tls_and_certificate_reload() {
    let ca = TestCa::new();
    let a = ca.leaf();
    let files = TlsFiles::new(&ca, &a);
    let mut opts = Options::new().env("SEXTANT_SERVER__TLS__RELOAD_INTERVAL", "20ms");
    for (key, value) in files.env() {
        opts = opts.env(key, value);
    }
    let mut server = Sextant::start(opts).await;
    let addrs = server.addrs();
    let public = [addrs.http, addrs.otlp_grpc, addrs.otlp_http];

    // TLS on every public port, and only TLS; the internal port stays plain (the harness
    // already waited for /ready on it).
    for addr in public {
        assert_eq!(ca.presented_leaf(addr).await, a.der, "{addr}");
        let plain = server
            .client()
            .get(format!("http://{addr}/api/echo"))
            .send()
            .await;
        assert!(plain.is_err(), "plain http answered on {addr}: {plain:?}");
    }
    for (http1_only, version) in [
        (false, reqwest::Version::HTTP_2),
        (true, reqwest::Version::HTTP_11),
    ] {
        let resp = ca
            .client(http1_only)
            .get(format!("{}/api/echo", https(addrs.http)))
            .send()
            .await
            .expect("GET /api/echo over https");
        assert_eq!(resp.version(), version);
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.text().await.unwrap(), "echo");
    }

    let mut expected = Expected::default();
    send_all(&server, &files, &mut expected).await;
    assert!(expected.trace_ids.len() >= 8, "too few traces sent");
    assert_readable_over_https(&server, &ca, &expected, "with certificate A").await;

    // A new pair on disk: every listener presents it to new connections.
    let b = ca.leaf();
    files.install(&b);
    for addr in public {
        wait_until(
            RELOAD,
            "the new certificate on every listener",
            async || ca.presented_leaf(addr).await == b.der,
        )
        .await;
    }
    assert_eq!(
        server
            .metric(
                "sextant_tls_certificate_reloads_total",
                &[("result", "reloaded")]
            )
            .await,
        1.0
    );

    // A broken replacement: refused and counted; B keeps serving, and clients keep working.
    write_atomic(&files.cert, b"-----BEGIN CERTIFICATE-----\nbroken\n");
    wait_until(RELOAD, "the broken certificate to be refused", async || {
        server
            .metric(
                "sextant_tls_certificate_reloads_total",
                &[("result", "rejected")],
            )
            .await
            == 1.0
    })
    .await;
    for addr in public {
        assert_eq!(ca.presented_leaf(addr).await, b.der, "{addr}");
    }
    send_all(&server, &files, &mut expected).await;
    assert_readable_over_https(&server, &ca, &expected, "with certificate B").await;

    let status = server.sigterm().await;
    assert!(
        status.success(),
        "exit {status} on SIGTERM\n{}",
        server.stderr_tail()
    );
}

/// Runs `sextant serve` expecting it to refuse to start; returns its stderr.
async fn refused_start(env: &[(&str, String)]) -> String {
    let data = tempfile::tempdir().expect("temp dir");
    let mut cmd = tokio::process::Command::new(sextant_bin());
    cmd.arg("serve")
        .arg("--data-dir")
        .arg(data.path())
        .args(["--http-addr", "127.0.0.1:0"])
        .args(["--otlp-grpc-addr", "127.0.0.1:0"])
        .args(["--otlp-http-addr", "127.0.0.1:0"])
        .args(["--internal-addr", "127.0.0.1:0"])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("sextant kept running with a bad tls configuration")
        .expect("run sextant");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "sextant started anyway\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        !stdout.contains("listening http"),
        "a public listener opened before the tls check\n{stdout}"
    );
    stderr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_tls_configuration_stops_the_start() {
    let ca = TestCa::new();
    let a = ca.leaf();
    let b = ca.leaf();
    let files = TlsFiles::new(&ca, &a);

    let cert_only = [("SEXTANT_SERVER__TLS__CERT_FILE", files.env()[0].1.clone())];
    let stderr = refused_start(&cert_only).await;
    assert!(
        stderr.contains("server.tls.cert_file is set but server.tls.key_file is not"),
        "{stderr}"
    );

    // B's key for A's certificate.
    write_atomic(&files.key, b.key_pem.as_bytes());
    let stderr = refused_start(&files.env()).await;
    assert!(
        stderr.contains("is not a usable key for the certificate"),
        "{stderr}"
    );
}
