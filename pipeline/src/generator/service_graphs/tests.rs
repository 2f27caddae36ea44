use crate::generator::view::{AnyValue, Status, any_value};

use super::*;

const T0: SystemTime = SystemTime::UNIX_EPOCH;
const WAIT: Duration = Duration::from_secs(10);

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned().into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned().into())),
        }),
    }
}

fn span(id: u8, parent: Option<u8>, kind: i32, millis: u64, error: bool) -> Span {
    Span {
        trace_id: vec![9; 16].into(),
        span_id: vec![id; 8].into(),
        parent_span_id: parent.map(|p| vec![p; 8]).unwrap_or_default().into(),
        kind,
        start_time_unix_nano: 0,
        end_time_unix_nano: millis * 1_000_000,
        status: error.then(|| Status {
            code: STATUS_ERROR,
            ..Status::default()
        }),
        ..Span::default()
    }
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && s.labels.len() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|s| s.value)
}

fn graphs() -> ServiceGraphs {
    ServiceGraphs::new(DEFAULT_BUCKETS.to_vec(), WAIT, 100)
}

#[test]
fn client_and_server_spans_pair_into_edges_in_either_order() {
    let mut g = graphs();
    // frontend calls api twice; the server side arrives first once.
    g.observe(
        "frontend",
        &[],
        &span(1, None, SPAN_KIND_CLIENT, 300, false),
        T0,
    );
    g.observe(
        "api",
        &[],
        &span(2, Some(1), SPAN_KIND_SERVER, 250, false),
        T0,
    );
    g.observe(
        "api",
        &[],
        &span(4, Some(3), SPAN_KIND_SERVER, 50, true),
        T0,
    );
    g.observe(
        "frontend",
        &[],
        &span(3, None, SPAN_KIND_CLIENT, 60, false),
        T0,
    );
    assert_eq!(g.pending(), 0);
    let samples = g.collect(T0, Duration::from_secs(60));
    let edge = [("client", "frontend"), ("server", "api")];
    assert_eq!(value(&samples, REQUEST_TOTAL, &edge), Some(2.0));
    assert_eq!(
        value(&samples, REQUEST_FAILED, &edge),
        Some(1.0),
        "an error on either side"
    );
    let bucket = |name: &str, le: &str| {
        let mut labels = edge.to_vec();
        labels.push(("le", le));
        value(&samples, &format!("{name}_bucket"), &labels)
    };
    // Server 0.25 s and 0.05 s; client 0.3 s and 0.06 s.
    assert_eq!(bucket(SERVER_SECONDS, "0.1"), Some(1.0));
    assert_eq!(bucket(SERVER_SECONDS, "0.4"), Some(2.0));
    assert_eq!(bucket(CLIENT_SECONDS, "0.2"), Some(1.0));
    assert_eq!(bucket(CLIENT_SECONDS, "0.4"), Some(2.0));
}

#[test]
fn database_and_messaging_edges_are_typed() {
    let mut g = graphs();
    let mut query = span(5, None, SPAN_KIND_CLIENT, 20, false);
    query.attributes = vec![
        kv("db.system", "postgresql"),
        kv("server.address", "pg-main"),
    ];
    g.observe("api", &[], &query, T0);
    let mut bare = span(6, None, SPAN_KIND_CLIENT, 20, true);
    bare.attributes = vec![kv("db.name", "orders")];
    g.observe("api", &[], &bare, T0);
    g.observe("api", &[], &span(7, None, SPAN_KIND_PRODUCER, 5, false), T0);
    g.observe(
        "worker",
        &[],
        &span(8, Some(7), SPAN_KIND_CONSUMER, 40, false),
        T0,
    );
    let samples = g.collect(T0, Duration::from_secs(60));
    let db = |server: &'static str| {
        [
            ("client", "api"),
            ("server", server),
            ("connection_type", "database"),
        ]
    };
    assert_eq!(value(&samples, REQUEST_TOTAL, &db("pg-main")), Some(1.0));
    assert_eq!(value(&samples, REQUEST_FAILED, &db("orders")), Some(1.0));
    let queue = [
        ("client", "api"),
        ("server", "worker"),
        ("connection_type", "messaging_system"),
    ];
    assert_eq!(value(&samples, REQUEST_TOTAL, &queue), Some(1.0));
}

#[test]
fn unmatched_sides_expire_into_virtual_nodes_or_are_counted() {
    let mut g = graphs();
    // A root server span (a user's request), one naming its peer, a client with a peer, and
    // a client with nothing to go on.
    g.observe(
        "frontend",
        &[],
        &span(1, None, SPAN_KIND_SERVER, 10, false),
        T0,
    );
    let mut from_lb = span(2, None, SPAN_KIND_SERVER, 10, false);
    from_lb.attributes = vec![kv("peer.service", "edge-lb")];
    g.observe("frontend", &[], &from_lb, T0);
    let mut to_ext = span(3, None, SPAN_KIND_CLIENT, 10, false);
    to_ext.attributes = vec![kv("peer.service", "payments-api")];
    g.observe("api", &[], &to_ext, T0);
    g.observe("api", &[], &span(4, None, SPAN_KIND_CLIENT, 10, false), T0);
    assert_eq!(g.pending(), 4);

    // Not yet: the wait has not passed.
    g.expire(T0 + WAIT - Duration::from_millis(1));
    assert_eq!(g.pending(), 4);
    g.expire(T0 + WAIT);
    assert_eq!(g.pending(), 0);
    assert_eq!(g.expired_edges, 1);
    let samples = g.collect(T0 + WAIT, Duration::from_secs(60));
    let virtual_edge = |client: &'static str, server: &'static str| {
        [
            ("client", client),
            ("server", server),
            ("connection_type", "virtual_node"),
        ]
    };
    assert_eq!(
        value(&samples, REQUEST_TOTAL, &virtual_edge("user", "frontend")),
        Some(1.0)
    );
    assert_eq!(
        value(
            &samples,
            REQUEST_TOTAL,
            &virtual_edge("edge-lb", "frontend")
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &samples,
            REQUEST_TOTAL,
            &virtual_edge("api", "payments-api")
        ),
        Some(1.0)
    );
}

#[test]
fn the_store_is_bounded_and_stale_edges_go() {
    let mut g = ServiceGraphs::new(DEFAULT_BUCKETS.to_vec(), WAIT, 2);
    for id in 1..=3 {
        g.observe("a", &[], &span(id, None, SPAN_KIND_CLIENT, 1, false), T0);
    }
    assert_eq!(g.pending(), 2);
    assert_eq!(g.dropped_spans, 1);
    // The pair of a stored side still completes.
    g.observe("b", &[], &span(9, Some(1), SPAN_KIND_SERVER, 1, false), T0);
    assert_eq!(g.pending(), 1);
    assert!(!g.collect(T0, Duration::from_secs(60)).is_empty());
    assert!(
        g.collect(T0 + Duration::from_secs(61), Duration::from_secs(60))
            .is_empty()
    );
}

#[test]
fn a_server_span_under_a_root_server_span_leaves_the_roots_virtual_edge() {
    // frontend's root server span 1, and a server span 2 of the same service whose parent is
    // span 1 itself (no client span between them, as some frameworks nest).
    let mut g = graphs();
    g.observe(
        "frontend",
        &[],
        &span(1, None, SPAN_KIND_SERVER, 10, false),
        T0,
    );
    g.observe(
        "frontend",
        &[],
        &span(2, Some(1), SPAN_KIND_SERVER, 5, false),
        T0,
    );
    g.expire(T0 + WAIT);
    assert_eq!(g.pending(), 0);
    assert_eq!(g.expired_edges, 1, "the nested server span has no client");
    let samples = g.collect(T0 + WAIT, Duration::from_secs(60));
    assert_eq!(
        value(
            &samples,
            REQUEST_TOTAL,
            &[
                ("client", "user"),
                ("server", "frontend"),
                ("connection_type", "virtual_node"),
            ]
        ),
        Some(1.0),
        "the root still becomes user → frontend"
    );
}

#[test]
fn edges_beyond_the_series_cap_are_counted_not_kept() {
    let mut g = graphs().with_max_edges(1);
    let mut db = span(1, None, SPAN_KIND_CLIENT, 10, false);
    db.attributes = vec![kv("db.name", "orders")];
    g.observe("api", &[], &db, T0);
    g.observe("api", &[], &db, T0);
    let mut other = span(2, None, SPAN_KIND_CLIENT, 10, false);
    other.attributes = vec![kv("db.name", "users")];
    g.observe("api", &[], &other, T0);
    assert_eq!(g.active_series(), 1);
    assert_eq!(g.limited_edges, 1, "the second database's request");
    let samples = g.collect(T0, Duration::from_secs(60));
    assert_eq!(
        value(
            &samples,
            REQUEST_TOTAL,
            &[
                ("client", "api"),
                ("server", "orders"),
                ("connection_type", "database")
            ]
        ),
        Some(2.0)
    );
}
