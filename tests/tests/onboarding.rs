//! Onboarding a tenant exactly as an operator would, with the real CLI against a running server
//! (`sextant tenant create`, `sextant key create`, …), and the tenant's services sending with
//! the OpenTelemetry Python SDK over gRPC and HTTP with Basic auth. Every change an operator
//! makes (revoking a key, suspending and resuming the tenant, limits, key expiry) reaches the
//! running server without a restart, within its snapshot refresh.

use std::time::Duration;

use sextant_tests::{Auth, Expected, Options, ReadApi, Sextant, assert_all_readable, wait_until};

const TENANT: &str = "acme-corp";
/// How long an operator's change may take to reach the server (refresh is 50 ms in tests).
const PROPAGATION: Duration = Duration::from_secs(5);

async fn wait_write_status(server: &Sextant, auth: &Auth, want: u16, what: &str) {
    wait_until(PROPAGATION, what, async || {
        server.write_status(auth).await == want
    })
    .await;
}

/// The line of a table printed by the CLI whose first column is `first`.
fn row<'a>(table: &'a str, first: &str) -> Option<&'a str> {
    table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(first))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_onboards_a_tenant_with_the_cli() {
    let server = Sextant::start(Options::new()).await;

    // Tenant and keys, as the README shows.
    let out = server
        .cli_ok(&["tenant", "create", TENANT, "--display-name", "Acme Corp"])
        .await;
    assert!(out.contains(TENANT), "tenant create printed {out:?}");
    let again = server.cli(&["tenant", "create", TENANT]).await;
    assert!(!again.success, "a second tenant create {TENANT} succeeded");
    let bad = server.cli(&["tenant", "create", "Not A Tenant"]).await;
    assert!(!bad.success, "tenant create accepted an invalid id");
    let orphan = server
        .cli(&[
            "key",
            "create",
            "--tenant",
            "no-such-tenant",
            "--scopes",
            "traces:write",
        ])
        .await;
    assert!(
        !orphan.success,
        "key create for an unknown tenant succeeded"
    );
    let bad_scope = server
        .cli(&[
            "key",
            "create",
            "--tenant",
            TENANT,
            "--scopes",
            "traces:admin",
        ])
        .await;
    assert!(!bad_scope.success, "key create accepted an unknown scope");

    let write = server
        .create_key(TENANT, "traces:write", &["--description", "collector"])
        .await;
    let read = server
        .create_key(TENANT, "traces:read", &["--description", "grafana"])
        .await;
    server.wait_key_accepted(&read).await;
    server.wait_key_accepted(&write).await;

    // The tenant's services send with the SDK: gRPC and HTTP, Basic auth with the write key.
    let basic = write.basic();
    let mut expected = Expected::default();
    for (exporter, endpoint) in [
        ("grpc", server.otlp_grpc_url()),
        ("http", server.otlp_http_url()),
    ] {
        expected
            .add_script(
                "send_traces.py",
                &[
                    "--exporter",
                    exporter,
                    "--endpoint",
                    &endpoint,
                    "--authorization",
                    &basic,
                ],
            )
            .await;
    }
    // Grafana reads with the read key.
    assert_all_readable(&server, Some(&read), &expected, &ReadApi::ALL, "onboarded").await;
    let some_trace = expected.trace_ids[0].clone();
    assert_eq!(
        server.read_status(&write, &some_trace).await,
        403,
        "the write key reads"
    );
    assert_eq!(server.write_status(&read).await, 403, "the read key writes");

    // Lists: the tenant, active; both keys with their scopes and never a secret.
    let tenants = server.cli_ok(&["tenant", "list"]).await;
    let line =
        row(&tenants, TENANT).unwrap_or_else(|| panic!("tenant list lacks {TENANT}:\n{tenants}"));
    assert!(
        line.contains("active") && line.contains("Acme Corp"),
        "tenant list row {line:?}"
    );
    assert!(
        row(&tenants, "single-tenant").is_some(),
        "tenant list lacks the bootstrap tenant:\n{tenants}"
    );
    let keys = server.cli_ok(&["key", "list", "--tenant", TENANT]).await;
    for (key, scope) in [(&write, "traces:write"), (&read, "traces:read")] {
        let line = row(&keys, key.key_id())
            .unwrap_or_else(|| panic!("key list lacks {}:\n{keys}", key.key_id()));
        assert!(line.contains(scope), "key list row {line:?} lacks {scope}");
        let secret = &key.key[key.key.len() - 16..];
        assert!(
            !keys.contains(&key.key) && !keys.contains(secret),
            "key list shows a secret:\n{keys}"
        );
    }

    // Limits: set two, show them as overrides; the others keep the defaults.
    let set = server
        .cli_ok(&[
            "limits",
            "set",
            TENANT,
            "--ingestion-rate-bytes",
            "2000000",
            "--ingestion-burst-bytes",
            "4000000",
        ])
        .await;
    let shown = server.cli_ok(&["limits", "show", TENANT]).await;
    for out in [&set, &shown] {
        for (name, value) in [
            ("ingestion_rate_bytes", "2000000"),
            ("ingestion_burst_bytes", "4000000"),
        ] {
            let line = row(out, name).unwrap_or_else(|| panic!("no {name} in:\n{out}"));
            assert!(
                line.contains(value) && line.contains("override"),
                "limits row {line:?}: want {value} as an override"
            );
        }
        let line = row(out, "max_bytes_per_trace")
            .unwrap_or_else(|| panic!("no max_bytes_per_trace in:\n{out}"));
        assert!(
            line.contains("5000000") && !line.contains("override"),
            "limits row {line:?}: want the default"
        );
    }
    let burst_below_rate = server
        .cli(&["limits", "set", TENANT, "--ingestion-burst-bytes", "1000"])
        .await;
    assert!(
        !burst_below_rate.success,
        "limits set accepted a burst below the rate"
    );
    assert_eq!(
        server.write_status(&write).await,
        200,
        "write within the new limits"
    );

    // Suspend: ingest refused, reads still allowed; resume: ingest again.
    let out = server.cli_ok(&["tenant", "suspend", TENANT]).await;
    assert!(out.contains("suspended"), "tenant suspend printed {out:?}");
    wait_write_status(&server, &write, 403, "ingest refused after tenant suspend").await;
    assert_eq!(
        server.read_status(&read, &some_trace).await,
        200,
        "a suspended tenant reads its data"
    );
    let tenants = server.cli_ok(&["tenant", "list"]).await;
    assert!(
        row(&tenants, TENANT).is_some_and(|l| l.contains("suspended")),
        "tenant list after suspend:\n{tenants}"
    );
    server.cli_ok(&["tenant", "resume", TENANT]).await;
    wait_write_status(&server, &write, 200, "ingest accepted after tenant resume").await;

    // Revoke: the key stops working within the refresh; the other key keeps working.
    let out = server.cli_ok(&["key", "revoke", write.key_id()]).await;
    assert!(out.contains(write.key_id()), "key revoke printed {out:?}");
    wait_write_status(&server, &write, 401, "the revoked key refused").await;
    assert_eq!(
        server.read_status(&read, &some_trace).await,
        200,
        "the read key after another key was revoked"
    );
    let keys = server.cli_ok(&["key", "list", "--tenant", TENANT]).await;
    // Columns: KEY ID, SCOPES, CREATED, EXPIRES, LAST USED, REVOKED, READ TENANTS.
    let revoked_column = |key: &Auth| {
        row(&keys, key.key_id())
            .and_then(|l| l.split_whitespace().nth(5))
            .unwrap_or_else(|| panic!("key list lacks {}:\n{keys}", key.key_id()))
            .to_owned()
    };
    assert_ne!(
        revoked_column(&write),
        "-",
        "revocation time of the revoked key:\n{keys}"
    );
    assert_eq!(
        revoked_column(&read),
        "-",
        "revocation time of the live key:\n{keys}"
    );

    // A key that expires: works, then stops on its own.
    let expiring = server
        .create_key(TENANT, "traces:write,traces:read", &["--expires-in", "3s"])
        .await;
    server.wait_key_accepted(&expiring).await;
    assert_eq!(
        server.write_status(&expiring).await,
        200,
        "the expiring key before its expiry"
    );
    wait_until(Duration::from_secs(10), "the key to expire", async || {
        server.write_status(&expiring).await == 401
    })
    .await;
    assert_eq!(
        server.read_status(&expiring, &some_trace).await,
        401,
        "the expired key reads"
    );

    // The database is migrated already.
    let out = server.cli_ok(&["migrate"]).await;
    assert!(out.contains("up to date"), "migrate printed {out:?}");
}
