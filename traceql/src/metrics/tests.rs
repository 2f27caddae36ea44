//! The metrics engine on hand-built traces: the grid, each function, by(), second stages,
//! arithmetic, compare(), exemplars, limits, fork and merge, and the pre-filter.

use proptest::prelude::*;
use sextant_model::otlp::{KeyValue, TracesData, any_value::Value};
use sextant_model::{AttributeRef, Condition, FetchOp, Intrinsic as MI, MetricSeries, TimeRange};

use crate::testtrace::*;
use crate::*;

const SEC: u64 = 1_000_000_000;
/// A start aligned to the hour: 2023-11-14T22:00:00Z.
const T0: u64 = 1_699_999_200 * SEC;

/// A span: number, parent number, name, start offset from `T0` (ns), duration (ns),
/// attributes.
type Sp = (u8, Option<u8>, &'static str, u64, u64, Vec<KeyValue>);

/// One trace (ID `[id; 16]`) of one service.
fn trace(id: u8, service: &str, spans: Vec<Sp>) -> TracesData {
    let spans = spans
        .into_iter()
        .map(|(n, parent, name, start, dur, attrs)| {
            let mut sp = spec(n, parent, name, 2, T0 + start, T0 + start + dur);
            sp.attrs = attrs;
            let mut sp = span(sp);
            sp.trace_id = vec![id; 16];
            sp
        })
        .collect();
    TracesData {
        resource_spans: vec![resource_spans(
            vec![kv("service.name", s(service))],
            None,
            spans,
        )],
    }
}

/// `T0 .. T0 + 60s` by 10s: 7 samples, sample `i` covering `(T0 + (i−1)·10s, T0 + i·10s]`.
fn grid() -> Grid {
    Grid::new(T0, T0 + 60 * SEC, 10 * SEC, false)
}

fn metrics(q: &str, grid: Grid, max_series: usize, exemplars: usize) -> Metrics {
    let query = parse_valid(q).unwrap_or_else(|e| panic!("{q}: {e}"));
    Metrics::new(&query, grid, max_series, exemplars).unwrap_or_else(|e| panic!("{q}: {e}"))
}

fn run_with(q: &str, grid: Grid, traces: &[TracesData], max: usize, ex: usize) -> MetricsOutput {
    let mut m = metrics(q, grid, max, ex);
    for t in traces {
        m.observe(&TraceView::new(t)).unwrap();
    }
    m.finish()
}

fn run(q: &str, traces: &[TracesData]) -> Vec<MetricSeries> {
    let out = run_with(q, grid(), traces, 0, 0);
    assert!(!out.truncated);
    out.series
}

/// `{k=v, ...}` with Tempo-like value text; nil prints as `nil`.
fn labels(s: &MetricSeries) -> String {
    let items: Vec<String> = s
        .labels
        .iter()
        .map(|kv| {
            let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                None => "nil".to_owned(),
                Some(Value::StringValue(v)) => format!("{v:?}"),
                Some(Value::IntValue(v)) => v.to_string(),
                Some(Value::DoubleValue(v)) => format!("{v}f"),
                Some(Value::BoolValue(v)) => v.to_string(),
                Some(other) => format!("{other:?}"),
            };
            format!("{}={v}", kv.key)
        })
        .collect();
    format!("{{{}}}", items.join(", "))
}

/// Samples as (sample index, value).
fn points(s: &MetricSeries) -> Vec<(i64, f64)> {
    s.samples
        .iter()
        .map(|p| ((p.timestamp_ms - (T0 / 1_000_000) as i64) / 10_000, p.value))
        .collect()
}

fn table(series: &[MetricSeries]) -> Vec<(String, Vec<(i64, f64)>)> {
    series.iter().map(|s| (labels(s), points(s))).collect()
}

fn row(l: &str, p: &[(i64, f64)]) -> (String, Vec<(i64, f64)>) {
    (l.to_owned(), p.to_vec())
}

/// Two traces over the grid:
/// - trace 1 (frontend): `GET` at 1s (2s long, method GET, size 10), its child `db` at 5s
///   (0.5s, size 30), `POST` at 15s (1s, method POST, size 20);
/// - trace 2 (backend): `GET` at 12s (4s, method GET), `other` at 35s (3s, no method),
///   `late` at 70s (outside the grid).
fn corpus() -> Vec<TracesData> {
    vec![
        trace(
            1,
            "frontend",
            vec![
                (
                    1,
                    None,
                    "GET",
                    SEC,
                    2 * SEC,
                    vec![kv("http.method", s("GET")), kv("size", i(10))],
                ),
                (2, Some(1), "db", 5 * SEC, SEC / 2, vec![kv("size", i(30))]),
                (
                    3,
                    None,
                    "POST",
                    15 * SEC,
                    SEC,
                    vec![kv("http.method", s("POST")), kv("size", i(20))],
                ),
            ],
        ),
        trace(
            2,
            "backend",
            vec![
                (
                    1,
                    None,
                    "GET",
                    12 * SEC,
                    4 * SEC,
                    vec![kv("http.method", s("GET"))],
                ),
                (2, None, "other", 35 * SEC, 3 * SEC, vec![]),
                (3, None, "late", 70 * SEC, SEC, vec![]),
            ],
        ),
    ]
}

const ZEROS: [(i64, f64); 7] = [
    (0, 0.0),
    (1, 0.0),
    (2, 0.0),
    (3, 0.0),
    (4, 0.0),
    (5, 0.0),
    (6, 0.0),
];

fn with(values: &[(i64, f64)]) -> Vec<(i64, f64)> {
    let mut v = ZEROS.to_vec();
    for (i, x) in values {
        v[*i as usize].1 = *x;
    }
    v
}

#[test]
fn metrics_is_send() {
    fn send<T: Send>() {}
    send::<Metrics>();
}

#[test]
fn grid_alignment_and_default_steps() {
    let hour = 3600 * SEC;
    let g = Grid::new(T0, T0 + hour, 0, false);
    assert_eq!(
        (g.start, g.end, g.step, g.len()),
        (T0, T0 + hour, 15 * SEC, 241)
    );
    assert_eq!(Grid::default_step(T0, T0 + 24 * hour), 300 * SEC);
    assert_eq!(Grid::default_step(T0, T0 + 300 * SEC), SEC);
    assert_eq!(Grid::default_step(T0, T0 + 30 * SEC), 100_000_000);
    assert_eq!(Grid::default_step(T0, T0 + 5 * SEC), 50_000_000);
    assert_eq!(Grid::default_step(T0, T0 + 120 * SEC), SEC);
    // 90s rounds down to a multiple of 1m.
    assert_eq!(Grid::default_step(T0, T0 + 6 * hour), 60 * SEC);
    assert_eq!(Grid::default_step(T0, T0 + 7 * 24 * hour), 40 * 60 * SEC);
    assert_eq!(Grid::default_step(T0, T0 + 20 * 24 * hour), 2 * hour);

    // Start rounds down, end up.
    let g = Grid::new(T0 + 7 * SEC, T0 + 65 * SEC, 10 * SEC, false);
    assert_eq!((g.start, g.end, g.len()), (T0, T0 + 70 * SEC, 8));
    assert_eq!(g.timestamp(3), T0 + 30 * SEC);
    assert_eq!(g.index(T0 - 10 * SEC), None);
    assert_eq!(g.index(T0 - 10 * SEC + 1), Some(0));
    assert_eq!(g.index(T0), Some(0));
    assert_eq!(g.index(T0 + 1), Some(1));
    assert_eq!(g.index(T0 + 70 * SEC), Some(7));
    assert_eq!(g.index(T0 + 70 * SEC + 1), None);
    assert_eq!(g.window(), TimeRange::new(T0 - 10 * SEC, T0 + 70 * SEC));

    let g = Grid::new(T0 + 5, T0 + 100, 0, true);
    assert_eq!((g.len(), g.timestamp(0), g.step), (1, T0 + 100, 95));
    assert_eq!(g.index(T0 + 5), None);
    assert_eq!(g.index(T0 + 6), Some(0));
    assert_eq!(g.index(T0 + 100), Some(0));
    assert_eq!(g.index(T0 + 101), None);
}

#[test]
fn rate_and_count() {
    let c = corpus();
    assert_eq!(
        table(&run("{} | count_over_time()", &c)),
        vec![row(
            r#"{__name__="count_over_time"}"#,
            &with(&[(1, 2.0), (2, 2.0), (4, 1.0)])
        )]
    );
    assert_eq!(
        table(&run("{} | rate()", &c)),
        vec![row(
            r#"{__name__="rate"}"#,
            &with(&[(1, 0.2), (2, 0.2), (4, 0.1)])
        )]
    );
    // Instant: one sample over the whole range, per second of it.
    let instant = Grid::new(T0, T0 + 50 * SEC, 0, true);
    let out = run_with("{} | rate()", instant, &c, 0, 0);
    assert_eq!(out.series.len(), 1);
    assert_eq!(out.series[0].samples.len(), 1);
    assert_eq!(
        out.series[0].samples[0].timestamp_ms,
        ((T0 + 50 * SEC) / 1_000_000) as i64
    );
    assert!((out.series[0].samples[0].value - 5.0 / 50.0).abs() < 1e-12);
}

#[test]
fn value_functions() {
    let c = corpus();
    let one = |q: &str| {
        let t = table(&run(q, &c));
        assert_eq!(t.len(), 1, "{q}");
        t.into_iter().next().unwrap().1
    };
    // Durations in seconds; steps without spans are absent.
    assert_eq!(
        one("{} | max_over_time(duration)"),
        vec![(1, 2.0), (2, 4.0), (4, 3.0)]
    );
    assert_eq!(
        one("{} | min_over_time(duration)"),
        vec![(1, 0.5), (2, 1.0), (4, 3.0)]
    );
    assert_eq!(
        one("{} | sum_over_time(span:duration)"),
        vec![(1, 2.5), (2, 5.0), (4, 3.0)]
    );
    assert_eq!(
        one("{} | avg_over_time(duration)"),
        vec![(1, 1.25), (2, 2.5), (4, 3.0)]
    );
    // Spans without the attribute are skipped.
    assert_eq!(one("{} | avg_over_time(.size)"), vec![(1, 20.0), (2, 20.0)]);
    assert_eq!(
        one("{} | sum_over_time(span.size)"),
        vec![(1, 40.0), (2, 20.0)]
    );
    let t = table(&run("{} | min_over_time(.size)", &c));
    assert_eq!(
        t,
        vec![row(
            r#"{__name__="min_over_time"}"#,
            &[(1, 10.0), (2, 20.0)]
        )]
    );
}

#[test]
fn by_labels_and_nil() {
    let c = corpus();
    assert_eq!(
        table(&run("{} | count_over_time() by (span.http.method)", &c)),
        vec![
            row("{span.http.method=nil}", &with(&[(1, 1.0), (4, 1.0)])),
            row(r#"{span.http.method="GET"}"#, &with(&[(1, 1.0), (2, 1.0)])),
            row(r#"{span.http.method="POST"}"#, &with(&[(2, 1.0)])),
        ]
    );
    let t = table(&run(
        "{} | count_over_time() by (resource.service.name, .size)",
        &c,
    ));
    let keys: Vec<&str> = t.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(
        keys,
        vec![
            r#"{resource.service.name="backend", .size=nil}"#,
            r#"{resource.service.name="frontend", .size=10}"#,
            r#"{resource.service.name="frontend", .size=20}"#,
            r#"{resource.service.name="frontend", .size=30}"#,
        ]
    );
    let t = table(&run("{} | count_over_time() by (status, kind)", &c));
    assert_eq!(t[0].0, r#"{status="unset", kind="server"}"#);
}

/// An LCG, for reproducible spreads of values.
fn lcg(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    *seed >> 33
}

#[test]
fn quantiles_are_within_their_bucket_of_the_exact_value() {
    let mut seed = 7;
    let mut durations: Vec<u64> = (0..2000)
        .map(|_| 1_000 + lcg(&mut seed) % 5_000_000_000)
        .collect();
    let spans: Vec<Sp> = durations
        .iter()
        .enumerate()
        .map(|(n, d)| ((n % 250) as u8 + 1, None, "x", SEC + n as u64, *d, vec![]))
        .collect();
    let traces: Vec<TracesData> = spans
        .chunks(250)
        .enumerate()
        .map(|(k, c)| trace(k as u8 + 1, "svc", c.to_vec()))
        .collect();
    let instant = Grid::new(T0, T0 + 60 * SEC, 0, true);
    let out = run_with(
        "{} | quantile_over_time(duration, 0, 0.5, 0.9, 0.99, 1)",
        instant,
        &traces,
        0,
        0,
    );
    durations.sort_unstable();
    let qs = [0.0, 0.5, 0.9, 0.99, 1.0];
    assert_eq!(out.series.len(), qs.len());
    for (series, q) in out.series.iter().zip(qs) {
        assert_eq!(labels(series), format!("{{p={q}f}}"));
        let got = series.samples[0].value;
        // Nearest rank.
        let rank = ((q * durations.len() as f64).ceil() as usize).max(1);
        let exact = durations[rank - 1] as f64 / 1e9;
        let ratio = got / exact;
        assert!(
            (0.5..=2.0).contains(&ratio),
            "q={q} got={got} exact={exact}"
        );
        // Same log2 bucket of nanoseconds: [b/2, b].
        let b = (exact * 1e9).log2().ceil();
        let (lo, hi) = (2f64.powf(b - 1.0) / 1e9, 2f64.powf(b) / 1e9);
        assert!(
            got >= lo * (1.0 - 1e-12) && got <= hi * (1.0 + 1e-12),
            "q={q}"
        );
    }
    // By-labels come before `p`.
    let out = run(
        "{} | quantile_over_time(duration, 0.5) by (resource.service.name)",
        &corpus(),
    );
    assert_eq!(
        labels(&out[0]),
        r#"{resource.service.name="backend", p=0.5f}"#
    );
}

#[test]
fn histogram_buckets() {
    let t = trace(
        1,
        "svc",
        vec![
            (1, None, "a", SEC, 1_500_000_000, vec![kv("n", i(3))]),
            (2, None, "b", 2 * SEC, 1_600_000_000, vec![kv("n", i(4))]),
            (3, None, "c", 3 * SEC, 3_000_000_000, vec![kv("n", i(5))]),
            (4, None, "d", 13 * SEC, 3_000_000_000, vec![kv("n", f(0.5))]),
        ],
    );
    assert_eq!(
        table(&run(
            "{} | histogram_over_time(duration)",
            std::slice::from_ref(&t)
        )),
        vec![
            row("{__bucket=2.147483648f}", &with(&[(1, 2.0)])),
            row("{__bucket=4.294967296f}", &with(&[(1, 1.0), (2, 1.0)])),
        ]
    );
    assert_eq!(
        table(&run("{} | histogram_over_time(.n) by (name)", &[t])),
        vec![
            row(r#"{name="a", __bucket=4f}"#, &with(&[(1, 1.0)])),
            row(r#"{name="b", __bucket=4f}"#, &with(&[(1, 1.0)])),
            row(r#"{name="c", __bucket=8f}"#, &with(&[(1, 1.0)])),
            row(r#"{name="d", __bucket=1f}"#, &with(&[(2, 1.0)])),
        ]
    );
}

/// Names a, b, c with counts per sample: a = [3, 1], b = [2, 2], c = [1, 3] in samples 1, 2.
fn ranking() -> TracesData {
    let mut spans = Vec::new();
    let mut n = 0u8;
    for (name, first, second) in [("a", 3, 1), ("b", 2, 2), ("c", 1, 3)] {
        for k in 0..first {
            n += 1;
            spans.push((n, None, name, SEC + k, 1, vec![]));
        }
        for k in 0..second {
            n += 1;
            spans.push((n, None, name, 11 * SEC + k, 1, vec![]));
        }
    }
    trace(3, "svc", spans)
}

#[test]
fn topk_and_bottomk_per_timestamp() {
    let t = [ranking()];
    assert_eq!(
        table(&run("{} | count_over_time() by (name) | topk(1)", &t)),
        vec![
            // Zeros elsewhere tie; the first series in label order wins them.
            row(
                r#"{name="a"}"#,
                &[(0, 0.0), (1, 3.0), (3, 0.0), (4, 0.0), (5, 0.0), (6, 0.0)]
            ),
            row(r#"{name="c"}"#, &[(2, 3.0)]),
        ]
    );
    assert_eq!(
        table(&run("{} | count_over_time() by (name) | bottomk(2)", &t)),
        vec![
            row(
                r#"{name="a"}"#,
                &[(0, 0.0), (2, 1.0), (3, 0.0), (4, 0.0), (5, 0.0), (6, 0.0)]
            ),
            row(r#"{name="b"}"#, &with(&[(1, 2.0), (2, 2.0)])),
            row(r#"{name="c"}"#, &[(1, 1.0)]),
        ]
    );
    // Whole-query stages apply after arithmetic.
    assert_eq!(
        table(&run(
            "({} | count_over_time() by (name)) * 10 | topk(1)",
            &t
        )),
        vec![
            row(
                r#"{name="a"}"#,
                &[(0, 0.0), (1, 30.0), (3, 0.0), (4, 0.0), (5, 0.0), (6, 0.0)]
            ),
            row(r#"{name="c"}"#, &[(2, 30.0)]),
        ]
    );
}

#[test]
fn filter_stage() {
    let t = [ranking()];
    assert_eq!(
        table(&run("{} | count_over_time() by (name) > 2", &t)),
        vec![
            row(r#"{name="a"}"#, &[(1, 3.0)]),
            row(r#"{name="c"}"#, &[(2, 3.0)])
        ]
    );
    // Durations compare in seconds.
    assert_eq!(
        table(&run("{} | max_over_time(duration) >= 3s", &corpus())),
        vec![row(r#"{__name__="max_over_time"}"#, &[(2, 4.0), (4, 3.0)])]
    );
}

#[test]
fn arithmetic() {
    let c = corpus();
    // Pipeline by pipeline: labels match without __name__.
    assert_eq!(
        table(&run(
            r#"({ span.http.method = "GET" } | count_over_time()) / ({} | count_over_time())"#,
            &c
        )),
        vec![row("{}", &[(1, 0.5), (2, 0.5), (4, 0.0)])]
    );
    // Division by zero drops the sample.
    assert_eq!(
        table(&run(
            "({} | count_over_time() by (resource.service.name)) / ({} | count_over_time() by (resource.service.name)) * 2",
            &c
        )),
        vec![
            row(
                r#"{resource.service.name="backend"}"#,
                &[(2, 2.0), (4, 2.0)]
            ),
            row(
                r#"{resource.service.name="frontend"}"#,
                &[(1, 2.0), (2, 2.0)]
            ),
        ]
    );
    // Unmatched series are dropped.
    assert_eq!(
        table(&run(
            "({} | count_over_time() by (resource.service.name)) + ({} | count_over_time() by (name))",
            &c
        )),
        vec![]
    );
    // With a scalar, on either side.
    assert_eq!(
        table(&run("({} | count_over_time()) * 10", &c)),
        vec![row(
            r#"{__name__="count_over_time"}"#,
            &with(&[(1, 20.0), (2, 20.0), (4, 10.0)])
        )]
    );
    assert_eq!(
        table(&run("1 - ({} | count_over_time())", &c)),
        vec![row(
            r#"{__name__="count_over_time"}"#,
            &[
                (0, 1.0),
                (1, -1.0),
                (2, -1.0),
                (3, 1.0),
                (4, 0.0),
                (5, 1.0),
                (6, 1.0)
            ]
        )]
    );
}

#[test]
fn number_arithmetic_is_a_constant_series() {
    // The grammar wants a pipeline somewhere; the engine still takes numbers alone.
    let num = |n: i64| Box::new(MetricsExpr::Number(Static::Int(n)));
    let q = Query {
        root: RootExpr::Metrics(MetricsQuery {
            expr: MetricsExpr::Binary {
                op: ArithOp::Mul,
                lhs: Box::new(MetricsExpr::Binary {
                    op: ArithOp::Add,
                    lhs: num(2),
                    rhs: num(3),
                }),
                rhs: num(2),
            },
            stages: Vec::new(),
        }),
        hints: Vec::new(),
    };
    let out = Metrics::new(&q, grid(), 0, 0).unwrap().finish();
    let tens: Vec<(i64, f64)> = (0..7).map(|i| (i, 10.0)).collect();
    assert_eq!(table(&out.series), vec![row("{}", &tens)]);
    // Inside a query with a pipeline, the number folds into each sample.
    assert_eq!(
        table(&run("({} | count_over_time()) + (2 * 3)", &corpus())),
        vec![row(
            r#"{__name__="count_over_time"}"#,
            &[
                (0, 6.0),
                (1, 8.0),
                (2, 8.0),
                (3, 6.0),
                (4, 7.0),
                (5, 6.0),
                (6, 6.0)
            ]
        )]
    );
}

#[test]
fn compare_series() {
    let c = corpus();
    let t = table(&run("{} | compare({ span.http.method = \"GET\" }, 2)", &c));
    let get = |l: &str| {
        t.iter()
            .find(|(k, _)| k == l)
            .unwrap_or_else(|| panic!("{l} missing from {t:#?}"))
            .1
            .clone()
    };
    assert_eq!(
        get(r#"{__meta_type="selection", span.http.method="GET"}"#),
        with(&[(1, 1.0), (2, 1.0)])
    );
    assert_eq!(
        get(r#"{__meta_type="baseline", span.http.method="POST"}"#),
        with(&[(2, 1.0)])
    );
    assert_eq!(
        get(r#"{__meta_type="selection_total", span.http.method=nil}"#),
        with(&[(1, 1.0), (2, 1.0)])
    );
    assert_eq!(
        get(r#"{__meta_type="baseline_total", name=nil}"#),
        with(&[(1, 1.0), (2, 1.0), (4, 1.0)])
    );
    assert_eq!(
        get(r#"{__meta_type="baseline", resource.service.name="frontend"}"#),
        with(&[(1, 1.0), (2, 1.0)])
    );
    // topN = 2: baseline has names db, POST, other (one each): the first two by value.
    let names: Vec<&String> = t
        .iter()
        .map(|(k, _)| k)
        .filter(|k| k.starts_with(r#"{__meta_type="baseline", name="#))
        .collect();
    assert_eq!(
        names,
        vec![
            r#"{__meta_type="baseline", name="POST"}"#,
            r#"{__meta_type="baseline", name="db"}"#
        ]
    );
    // A window narrows the selection: nothing starts in it, so all is baseline.
    let w0 = T0 + 40 * SEC;
    let q = format!(
        "{{}} | compare({{ span.http.method = \"GET\" }}, 10, {w0}, {})",
        w0 + SEC
    );
    let t = table(&run(&q, &c));
    assert!(t.iter().all(|(k, _)| !k.contains("selection")), "{t:#?}");
}

#[test]
fn exemplars_one_per_sample_oldest_first() {
    let c = corpus();
    let out = run_with("{} | count_over_time()", grid(), &c, 0, 2);
    let ex = &out.series[0].exemplars;
    assert_eq!(ex.len(), 2);
    assert!(ex[0].timestamp_ms < ex[1].timestamp_ms);
    let text = |e: &sextant_model::Exemplar, k: &str| {
        e.labels
            .iter()
            .find(|kv| kv.key == k)
            .and_then(|kv| kv.value.clone())
            .and_then(|v| v.value)
    };
    for e in ex {
        let Some(Value::StringValue(t)) = text(e, "trace:id") else {
            panic!("no trace id");
        };
        let Some(Value::StringValue(s)) = text(e, "span:id") else {
            panic!("no span id");
        };
        assert_eq!((t.len(), s.len()), (32, 16));
    }
    // Three samples hold spans; per sample the earliest span.
    let out = run_with("{} | max_over_time(duration)", grid(), &c, 0, 10);
    let ex: Vec<(i64, f64)> = out.series[0]
        .exemplars
        .iter()
        .map(|e| (e.timestamp_ms - (T0 / 1_000_000) as i64, e.value))
        .collect();
    assert_eq!(ex, vec![(1000, 2.0), (12_000, 4.0), (35_000, 3.0)]);
    let Some(Value::StringValue(t)) = text(&out.series[0].exemplars[1], "trace:id") else {
        panic!()
    };
    assert_eq!(t, "02".repeat(16));
    // The hint turns them off.
    let out = run_with(
        "{} | count_over_time() with (exemplars = false)",
        grid(),
        &c,
        0,
        5,
    );
    assert!(out.series[0].exemplars.is_empty());
    let out = run_with(
        "{} | count_over_time() with (exemplars = 1)",
        grid(),
        &c,
        0,
        5,
    );
    assert_eq!(out.series[0].exemplars.len(), 1);
}

#[test]
fn max_series_truncates() {
    let out = run_with(
        "{} | count_over_time() by (name)",
        grid(),
        &[ranking()],
        2,
        0,
    );
    assert!(out.truncated);
    assert_eq!(out.series.len(), 2);
    let out = run_with(
        "{} | count_over_time() by (name)",
        grid(),
        &[ranking()],
        3,
        0,
    );
    assert!(!out.truncated);
    assert_eq!(out.series.len(), 3);
    // Each quantile is a series.
    let out = run_with(
        "{} | quantile_over_time(duration, 0.5, 0.9) by (name)",
        grid(),
        &[ranking()],
        5,
        0,
    );
    assert!(out.truncated);
    assert_eq!(out.series.len(), 4);
}

#[test]
fn fork_and_merge_equal_one_accumulation() {
    let mut traces = corpus();
    traces.push(ranking());
    for q in [
        "{} | count_over_time() by (name)",
        "{} | quantile_over_time(duration, 0.5, 0.9) by (resource.service.name)",
        "{} | avg_over_time(duration) by (resource.service.name)",
        "{} | histogram_over_time(duration)",
        "{} | compare({ name = \"a\" })",
        "({} | rate()) / ({ name = \"b\" } | rate())",
    ] {
        let whole = run_with(q, grid(), &traces, 0, 3);
        let base = metrics(q, grid(), 0, 3);
        let mut parts: Vec<Metrics> = (0..traces.len()).map(|_| base.fork()).collect();
        for (m, t) in parts.iter_mut().zip(&traces) {
            m.observe(&TraceView::new(t)).unwrap();
        }
        let mut merged = base;
        for m in parts.into_iter().rev() {
            merged.merge(m);
        }
        let total = merged.spans_observed();
        assert_eq!(merged.finish(), whole, "{q}");
        assert!(total > 0);
    }
}

#[test]
fn structural_query_in_a_pipeline() {
    let c = corpus();
    assert_eq!(
        table(&run(r#"{ name = "GET" } > { } | count_over_time()"#, &c)),
        vec![row(r#"{__name__="count_over_time"}"#, &with(&[(1, 1.0)]))]
    );
    assert_eq!(
        table(&run(
            r#"{ resource.service.name = "frontend" } | count() > 1 | count_over_time()"#,
            &c
        )),
        vec![row(
            r#"{__name__="count_over_time"}"#,
            &with(&[(1, 2.0), (2, 1.0)])
        )]
    );
}

#[test]
fn spans_outside_the_grid_are_ignored() {
    let t = trace(
        1,
        "svc",
        vec![
            (1, None, "before", 0, 1, vec![]),
            (2, None, "first", 1, 1, vec![]),
            (3, None, "last", 60 * SEC, 1, vec![]),
            (4, None, "after", 60 * SEC + 1, 1, vec![]),
        ],
    );
    // Sample 0 covers (T0 − 10s, T0], so the span at T0 counts there.
    assert_eq!(
        table(&run("{} | count_over_time() by (name)", &[t])),
        vec![
            row(r#"{name="before"}"#, &with(&[(0, 1.0)])),
            row(r#"{name="first"}"#, &with(&[(1, 1.0)])),
            row(r#"{name="last"}"#, &with(&[(6, 1.0)])),
        ]
    );
    let late = trace(1, "svc", vec![(1, None, "x", 61 * SEC, 1, vec![])]);
    assert!(run("{} | count_over_time()", &[late]).is_empty());
}

#[test]
fn non_metrics_queries_are_refused() {
    let q = parse_valid("{ name = \"a\" }").unwrap();
    let err = Metrics::new(&q, grid(), 0, 0).unwrap_err();
    assert!(err.to_string().contains("not a metrics query"), "{err}");
}

#[test]
fn fetch_request_is_a_superset() {
    let name = |v: &str| {
        Condition::new(
            AttributeRef::Intrinsic(MI::Name),
            FetchOp::Eq,
            vec![sextant_model::Static::Str(v.to_owned())],
        )
    };
    let req = metrics(
        r#"({ name = "a" } | rate()) / ({ name = "b" } | rate())"#,
        grid(),
        0,
        0,
    )
    .fetch_request();
    assert_eq!(req.range, grid().window());
    assert_eq!(req.conditions, vec![name("a"), name("b")]);
    assert!(!req.all_conditions);
    let req = metrics(r#"({ name = "a" } | rate()) / ({} | rate())"#, grid(), 0, 0).fetch_request();
    assert!(req.conditions.is_empty());
    let req = metrics(r#"{ name = "a" } | compare({ name = "b" })"#, grid(), 0, 0).fetch_request();
    assert_eq!(req.conditions, vec![name("a")]);
    assert!(req.all_conditions);
}

proptest! {
    #[test]
    fn rate_and_count_total_the_matching_spans(
        spans in prop::collection::vec((0u64..80, 0u64..SEC, any::<bool>()), 1..60)
    ) {
        let sp: Vec<Sp> = spans
            .iter()
            .enumerate()
            .map(|(n, (s, frac, hit))| {
                let name = if *hit { "hit" } else { "miss" };
                ((n + 1) as u8, None, name, *s * SEC + frac, 1, vec![])
            })
            .collect();
        let window = grid().window();
        let expected = spans
            .iter()
            .filter(|(s, frac, hit)| {
                let t = T0 + s * SEC + frac;
                *hit && t > window.start && t <= window.end
            })
            .count();
        let traces = [trace(1, "svc", sp)];
        let count: f64 = run(r#"{ name = "hit" } | count_over_time()"#, &traces)
            .iter()
            .flat_map(|s| s.samples.iter().map(|p| p.value))
            .sum();
        prop_assert_eq!(count as usize, expected);
        let rate: f64 = run(r#"{ name = "hit" } | rate()"#, &traces)
            .iter()
            .flat_map(|s| s.samples.iter().map(|p| p.value))
            .sum();
        prop_assert!((rate * 10.0 - expected as f64).abs() < 1e-9);
    }
}
