//! The sender against a real HTTP receiver on loopback: headers, retries, rejection, queue bound.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes as Body;
use axum::extract::State;
use axum::http::{HeaderMap as AxumHeaders, StatusCode};
use axum::routing::post;
use parking_lot::Mutex;
use sextant_model::{RemoteWriteTarget, TenantId};
use tokio_util::sync::CancellationToken;

use super::super::config::RemoteWriteConfig;
use super::super::metrics::{GeneratorMetrics, QUEUE_FULL, REJECTED, ReasonLabels};
use super::*;

/// What the receiver got, and the statuses it answers with, in order (then 204).
#[derive(Default)]
struct Receiver {
    got: Mutex<Vec<(AxumHeaders, Body)>>,
    answers: Mutex<Vec<u16>>,
}

async fn receive(State(r): State<Arc<Receiver>>, headers: AxumHeaders, body: Body) -> StatusCode {
    r.got.lock().push((headers, body));
    let mut answers = r.answers.lock();
    let code = if answers.is_empty() {
        204
    } else {
        answers.remove(0)
    };
    StatusCode::from_u16(code).unwrap()
}

async fn receiver(answers: Vec<u16>) -> (Arc<Receiver>, SocketAddr) {
    let r = Arc::new(Receiver {
        answers: Mutex::new(answers),
        ..Receiver::default()
    });
    let app = Router::new()
        .route("/api/v1/write", post(receive))
        .with_state(Arc::clone(&r));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (r, addr)
}

fn sender(queue_requests: usize) -> (Arc<Sender>, GeneratorMetrics, CancellationToken) {
    let config = RemoteWriteConfig {
        queue_requests,
        min_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        timeout: Duration::from_secs(5),
        ..RemoteWriteConfig::default()
    };
    let metrics = GeneratorMetrics::default();
    let shutdown = CancellationToken::new();
    let s = Sender::new(
        config,
        metrics.clone(),
        tokio::runtime::Handle::current(),
        shutdown.clone(),
    )
    .unwrap();
    (s, metrics, shutdown)
}

fn job(url: String, headers: &[(&str, &str)], add_org_id_header: bool, tag: u8) -> WriteJob {
    WriteJob {
        target: Arc::new(RemoteWriteTarget {
            url,
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
            add_org_id_header,
        }),
        body: Bytes::from(vec![tag; 4]),
        samples: 10,
    }
}

async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn tenant(id: &str) -> TenantId {
    TenantId::new(id).unwrap()
}

fn sent(m: &GeneratorMetrics, t: &str) -> u64 {
    m.samples_sent
        .get_or_create(&tenant_label(&tenant(t)))
        .get()
}

fn dropped(m: &GeneratorMetrics, t: &str, reason: &'static str) -> u64 {
    m.samples_dropped
        .get_or_create(&ReasonLabels {
            tenant: t.to_owned(),
            reason,
        })
        .get()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_carry_the_protocol_headers_the_targets_own_and_the_org_id() {
    let (r, addr) = receiver(vec![]).await;
    let url = format!("http://{addr}/api/v1/write");
    let (s, m, _stop) = sender(10);
    s.enqueue(
        &tenant("acme"),
        job(url.clone(), &[("Authorization", "Bearer k")], true, 1),
    );
    s.enqueue(
        &tenant("beta"),
        job(url.clone(), &[("X-Scope-OrgID", "chosen")], true, 2),
    );
    s.enqueue(&tenant("gamma"), job(url, &[], false, 3));
    until("three requests", || r.got.lock().len() == 3).await;
    let by_tag = |tag: u8| {
        r.got
            .lock()
            .iter()
            .find(|(_, body)| body[0] == tag)
            .map(|(h, _)| h.clone())
            .unwrap()
    };
    let acme = by_tag(1);
    assert_eq!(acme["content-encoding"], "snappy");
    assert_eq!(acme["content-type"], "application/x-protobuf");
    assert_eq!(acme["x-prometheus-remote-write-version"], "0.1.0");
    assert_eq!(acme["authorization"], "Bearer k");
    assert_eq!(acme["x-scope-orgid"], "acme");
    let beta = by_tag(2);
    assert_eq!(
        beta.get_all("x-scope-orgid").iter().collect::<Vec<_>>(),
        ["chosen"],
        "a configured org ID header wins and is not doubled"
    );
    assert!(by_tag(3).get("x-scope-orgid").is_none());
    until("sent counted", || {
        sent(&m, "acme") == 10 && sent(&m, "beta") == 10 && sent(&m, "gamma") == 10
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_5xx_and_429_in_order_and_drops_other_4xx() {
    let (r, addr) = receiver(vec![503, 429, 204, 400]).await;
    let url = format!("http://{addr}/api/v1/write");
    let (s, m, _stop) = sender(10);
    let t = tenant("acme");
    s.enqueue(&t, job(url.clone(), &[], true, 1));
    s.enqueue(&t, job(url.clone(), &[], true, 2));
    s.enqueue(&t, job(url, &[], true, 3));
    until("five attempts", || r.got.lock().len() == 5).await;
    until("outcomes counted", || {
        sent(&m, "acme") == 20 && dropped(&m, "acme", REJECTED) == 10
    })
    .await;
    let tags: Vec<u8> = r.got.lock().iter().map(|(_, b)| b[0]).collect();
    // 1 is refused twice then taken; 2 is rejected (400) and not tried again; 3 goes through.
    assert_eq!(tags, [1, 1, 1, 2, 3]);
    assert_eq!(
        m.samples_failed.get_or_create(&tenant_label(&t)).get(),
        20,
        "two failed attempts of ten samples"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_target_fills_only_its_tenants_bounded_queue() {
    // A port nothing listens on: every attempt fails at connect.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let (r, addr) = receiver(vec![]).await;
    let (s, m, stop) = sender(2);
    let down = tenant("tenant-down");
    for tag in 0..6 {
        s.enqueue(
            &down,
            job(format!("http://{dead}/api/v1/write"), &[], true, tag),
        );
        let len = m.queue_length.get_or_create(&tenant_label(&down)).get();
        assert!(len <= 2, "queue length {len} over its bound");
    }
    // Six requests: at most one in flight and two queued, the rest dropped oldest first.
    let full = dropped(&m, "tenant-down", QUEUE_FULL);
    assert!((30..=40).contains(&full), "dropped {full} samples");
    // Another tenant's target is not held up by it.
    s.enqueue(
        &tenant("tenant-up"),
        job(format!("http://{addr}/api/v1/write"), &[], true, 9),
    );
    until("the other tenant's request", || r.got.lock().len() == 1).await;
    until("failed attempts counted", || {
        m.samples_failed.get_or_create(&tenant_label(&down)).get() >= 20
    })
    .await;
    assert_eq!(sent(&m, "tenant-down"), 0);
    stop.cancel();
}
