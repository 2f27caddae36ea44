use crate::generator::view::{AnyValue, Status, any_value};

use super::*;

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_owned().into(),
        value: Some(AnyValue { value: Some(value) }),
    }
}

fn s(v: &str) -> any_value::Value {
    any_value::Value::StringValue(v.to_owned().into())
}

fn span(name: &str, kind: i32, millis: u64, error: bool, attrs: Vec<KeyValue>) -> Span {
    Span {
        trace_id: vec![7; 16].into(),
        span_id: vec![1; 8].into(),
        name: name.to_owned().into(),
        kind,
        start_time_unix_nano: 1_000_000_000,
        end_time_unix_nano: 1_000_000_000 + millis * 1_000_000,
        status: error.then(|| Status {
            code: 2,
            ..Status::default()
        }),
        attributes: attrs,
        ..Span::default()
    }
}

fn settings(dimensions: &[&str], max: u64) -> GeneratorSettings {
    GeneratorSettings {
        dimensions: dimensions.iter().map(|d| (*d).to_owned()).collect(),
        histogram_buckets: vec![0.01, 0.1, 1.0],
        max_active_series: max,
        ..GeneratorSettings::default()
    }
}

fn value(samples: &[Sample], name: &str, want: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && want.len() == s.labels.len()
                && want
                    .iter()
                    .all(|(k, v)| s.labels.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|s| s.value)
}

const T0: SystemTime = SystemTime::UNIX_EPOCH;

#[test]
fn spans_become_calls_latency_and_size_by_series() {
    let mut m = SpanMetrics::new(&settings(&["http.method", "deployment.environment"], 100));
    let resource = vec![kv("deployment.environment", s("prod"))];
    let get = || vec![kv("http.method", s("GET"))];
    m.observe(
        "api",
        &resource,
        &span("GET /users", 2, 5, false, get()),
        100,
        T0,
    );
    m.observe(
        "api",
        &resource,
        &span("GET /users", 2, 50, false, get()),
        120,
        T0,
    );
    m.observe(
        "api",
        &resource,
        &span("GET /users", 2, 3000, true, get()),
        80,
        T0,
    );
    let samples = m.collect(T0, Duration::from_secs(60));

    let ok = [
        ("service", "api"),
        ("span_name", "GET /users"),
        ("span_kind", "SPAN_KIND_SERVER"),
        ("status_code", "STATUS_CODE_UNSET"),
        ("http_method", "GET"),
        ("deployment_environment", "prod"),
    ];
    assert_eq!(value(&samples, CALLS, &ok), Some(2.0));
    assert_eq!(value(&samples, SIZE, &ok), Some(220.0));
    let mut err = ok;
    err[3] = ("status_code", "STATUS_CODE_ERROR");
    assert_eq!(value(&samples, CALLS, &err), Some(1.0));

    // 5 ms ≤ 0.01 s; 50 ms ≤ 0.1 s; cumulative buckets.
    let bucket = |le: &str| {
        let mut want = ok.to_vec();
        want.push(("le", le));
        value(&samples, "traces_spanmetrics_latency_bucket", &want)
    };
    assert_eq!(bucket("0.01"), Some(1.0));
    assert_eq!(bucket("0.1"), Some(2.0));
    assert_eq!(bucket("1"), Some(2.0));
    assert_eq!(bucket("+Inf"), Some(2.0));
    let sum = value(&samples, "traces_spanmetrics_latency_sum", &ok).unwrap();
    assert!((sum - 0.055).abs() < 1e-9, "{sum}");
    assert_eq!(
        value(&samples, "traces_spanmetrics_latency_count", &ok),
        Some(2.0)
    );
    // The exemplar carries the trace ID in hex.
    let calls = samples.iter().find(|s| s.name == CALLS).unwrap();
    assert_eq!(
        calls.exemplar.as_ref().map(|e| e.trace_id.as_str()),
        Some("07070707070707070707070707070707")
    );
    // On the histogram, only the bucket its latency (the last span's, 50 ms) falls in has it.
    let with_exemplar: Vec<&str> = samples
        .iter()
        .filter(|s| s.name == "traces_spanmetrics_latency_bucket" && s.exemplar.is_some())
        .filter(|s| {
            s.labels
                .iter()
                .any(|(k, v)| k == "status_code" && v == "STATUS_CODE_UNSET")
        })
        .filter_map(|s| {
            s.labels
                .iter()
                .find(|(k, _)| k == "le")
                .map(|(_, v)| v.as_str())
        })
        .collect();
    assert_eq!(with_exemplar, ["0.1"]);
}

#[test]
fn dimensions_prefer_the_span_then_the_resource_and_absent_ones_are_left_out() {
    let mut m = SpanMetrics::new(&settings(&["region", "missing", "service"], 100));
    let resource = vec![kv("region", s("eu")), kv("service", s("collides"))];
    m.observe("db", &resource, &span("q", 3, 1, false, vec![]), 1, T0);
    m.observe(
        "db",
        &resource,
        &span("q", 3, 1, false, vec![kv("region", s("us"))]),
        1,
        T0,
    );
    let samples = m.collect(T0, Duration::from_secs(60));
    let base = |region: &'static str| {
        [
            ("service", "db"),
            ("span_name", "q"),
            ("span_kind", "SPAN_KIND_CLIENT"),
            ("status_code", "STATUS_CODE_UNSET"),
            ("region", region),
            // A dimension named like an intrinsic label gets `__` in front.
            ("__service", "collides"),
        ]
    };
    assert_eq!(value(&samples, CALLS, &base("eu")), Some(1.0));
    assert_eq!(value(&samples, CALLS, &base("us")), Some(1.0));
}

#[test]
fn the_active_series_limit_drops_new_series_and_stale_series_go() {
    let mut m = SpanMetrics::new(&settings(&[], 2));
    for name in ["a", "b", "c", "a"] {
        m.observe("svc", &[], &span(name, 1, 1, false, vec![]), 1, T0);
    }
    assert_eq!(m.active_series(), 2);
    assert_eq!(m.dropped_spans, 1, "the span of series c");
    // Only `a` is updated later; `b` goes stale.
    let later = T0 + Duration::from_secs(100);
    m.observe("svc", &[], &span("a", 1, 1, false, vec![]), 1, later);
    let samples = m.collect(later, Duration::from_secs(60));
    assert_eq!(m.active_series(), 1);
    assert!(
        samples
            .iter()
            .all(|s| s.labels.contains(&("span_name".into(), "a".into())))
    );
    // With room again, a new series is counted.
    m.observe("svc", &[], &span("c", 1, 1, false, vec![]), 1, later);
    assert_eq!(m.active_series(), 2);
}

#[test]
fn status_message_and_target_info_are_opt_in() {
    let resource = vec![
        kv("service.name", s("api")),
        kv("service.namespace", s("shop")),
        kv("service.instance.id", s("api-1")),
        kv("k8s.pod.name", s("api-7f9")),
    ];
    let mut failing = span("GET /users", 2, 5, true, vec![]);
    failing.status.as_mut().unwrap().message = "db down".into();

    let mut off = SpanMetrics::new(&settings(&[], 100));
    off.observe("api", &resource, &failing, 10, T0);
    let samples = off.collect(T0, Duration::from_secs(60));
    assert!(samples.iter().all(|s| s.name != TARGET_INFO));
    assert!(samples.iter().all(|s| {
        s.labels
            .iter()
            .all(|(k, _)| k != "status_message" && k != "job")
    }));

    let mut on = SpanMetrics::new(&GeneratorSettings {
        status_message: true,
        target_info: true,
        ..settings(&[], 100)
    });
    on.observe("api", &resource, &failing, 10, T0);
    let samples = on.collect(T0, Duration::from_secs(60));
    let calls = [
        ("service", "api"),
        ("span_name", "GET /users"),
        ("span_kind", "SPAN_KIND_SERVER"),
        ("status_code", "STATUS_CODE_ERROR"),
        ("status_message", "db down"),
        ("job", "shop/api"),
        ("instance", "api-1"),
    ];
    assert_eq!(value(&samples, CALLS, &calls), Some(1.0));
    let info = [
        ("job", "shop/api"),
        ("instance", "api-1"),
        ("k8s_pod_name", "api-7f9"),
    ];
    assert_eq!(value(&samples, TARGET_INFO, &info), Some(1.0));
    assert_eq!(on.active_series(), 2, "the span series and the target");

    // A resource with nothing but service.* attributes has no target_info.
    let mut bare = SpanMetrics::new(&GeneratorSettings {
        target_info: true,
        ..settings(&[], 100)
    });
    bare.observe("api", &resource[..1], &failing, 10, T0);
    let samples = bare.collect(T0, Duration::from_secs(60));
    assert!(samples.iter().all(|s| s.name != TARGET_INFO));
}
