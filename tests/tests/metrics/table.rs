//! The metrics query table: each TraceQL metrics query with its expected answer, computed from
//! the generated spans (`world.rs`) with the helpers of `expect.rs`.

use std::collections::BTreeMap;

use sextant_tests::{Label, Labels};

use super::expect::{
    By, Density, Grid, Values, bucket, counts, groups, map_values, per_sample, quantile_bounds,
};
use super::world::{MSpan, STEP};

/// What a query should answer.
pub(crate) enum Want {
    Exact(Values, Density),
    /// Quantile estimates, as bounds.
    Within(BTreeMap<Labels, BTreeMap<i64, (f64, f64)>>),
    /// `topk`/`bottomk(n)` over these series.
    Top {
        base: Values,
        n: usize,
        top: bool,
    },
}

pub(crate) struct Row {
    pub(crate) q: String,
    pub(crate) want: Want,
    /// Arithmetic: compare labels without `__name__`.
    pub(crate) drop_name: bool,
}

fn row(q: &str, want: Want) -> Row {
    Row {
        q: q.to_owned(),
        want,
        drop_name: false,
    }
}

fn service(name: &'static str) -> impl Fn(&MSpan) -> bool {
    move |s| s.service == name
}

fn all(_: &MSpan) -> bool {
    true
}

/// The table over `spans` on `grid`.
pub(crate) fn rows(spans: &[MSpan], grid: Grid) -> Vec<Row> {
    let step = grid.step as f64;
    let rate = |filter: &dyn Fn(&MSpan) -> bool, by| {
        map_values(counts(spans, grid, filter, by), |c| c / step)
    };
    let secs = |f: fn(&[&MSpan]) -> f64| f;
    let min = secs(|s| s.iter().map(|s| s.seconds()).fold(f64::MAX, f64::min));
    let max = secs(|s| s.iter().map(|s| s.seconds()).fold(0.0, f64::max));
    let sum = secs(|s| s.iter().map(|s| s.seconds()).sum());
    let avg = secs(|s| s.iter().map(|s| s.seconds()).sum::<f64>() / s.len() as f64);
    let error = |s: &MSpan| s.error;

    let mut rows = vec![
        row(
            "{} | rate()",
            Want::Exact(rate(&all, By::Name("rate")), Density::Full),
        ),
        row(
            "{} | count_over_time()",
            Want::Exact(
                counts(spans, grid, all, By::Name("count_over_time")),
                Density::ZeroOptional,
            ),
        ),
        row(
            "{} | rate() by (resource.service.name)",
            Want::Exact(rate(&all, By::Service), Density::Full),
        ),
        row(
            "{ status = error } | rate() by (resource.service.name)",
            Want::Exact(rate(&error, By::Service), Density::Full),
        ),
        row(
            r#"{ resource.service.name = "api" } | count_over_time() by (span.http.route)"#,
            Want::Exact(
                counts(spans, grid, service("api"), By::Route),
                Density::ZeroOptional,
            ),
        ),
        row(
            r#"{ resource.service.name != "db" } | count_over_time() by (resource.service.name, span.http.route)"#,
            Want::Exact(
                counts(spans, grid, |s| s.service != "db", By::ServiceRoute),
                Density::ZeroOptional,
            ),
        ),
        row(
            "{} | min_over_time(duration) by (resource.service.name)",
            Want::Exact(
                per_sample(spans, grid, all, By::Service, min),
                Density::Sparse,
            ),
        ),
        row(
            "{} | max_over_time(duration)",
            Want::Exact(
                per_sample(spans, grid, all, By::Name("max_over_time"), max),
                Density::Sparse,
            ),
        ),
        row(
            r#"{ resource.service.name = "web" } | avg_over_time(duration)"#,
            Want::Exact(
                per_sample(spans, grid, service("web"), By::Name("avg_over_time"), avg),
                Density::Sparse,
            ),
        ),
        row(
            "{ status = error } | sum_over_time(duration) by (resource.service.name)",
            Want::Exact(
                per_sample(spans, grid, error, By::Service, sum),
                Density::Sparse,
            ),
        ),
        row(
            "{ duration > 100ms } | count_over_time() by (resource.service.name)",
            Want::Exact(
                counts(spans, grid, |s| s.duration > 100_000_000, By::Service),
                Density::ZeroOptional,
            ),
        ),
        row(
            r#"{ span.http.route = "/a" || span.http.route = "/b" } | rate()"#,
            Want::Exact(
                rate(
                    &|s: &MSpan| matches!(s.route, Some("/a" | "/b")),
                    By::Name("rate"),
                ),
                Density::Full,
            ),
        ),
        row(
            "{} | quantile_over_time(duration, 0.5, 0.9) by (resource.service.name)",
            Want::Within(quantiles(spans, grid, &[0.5, 0.9])),
        ),
        row(
            r#"{ resource.service.name = "db" } | histogram_over_time(duration) by (resource.service.name)"#,
            Want::Exact(histogram(spans, grid, "db"), Density::ZeroOptional),
        ),
        row(
            "{} | rate() by (resource.service.name) | topk(1)",
            Want::Top {
                base: rate(&all, By::Service),
                n: 1,
                top: true,
            },
        ),
        row(
            "{} | rate() by (resource.service.name) | bottomk(2)",
            Want::Top {
                base: rate(&all, By::Service),
                n: 2,
                top: false,
            },
        ),
        row(
            "{} | count_over_time() by (resource.service.name) > 3",
            Want::Exact(
                counts(spans, grid, all, By::Service)
                    .into_iter()
                    .map(|(l, v)| (l, v.into_iter().filter(|(_, c)| *c > 3.0).collect()))
                    .collect(),
                Density::Sparse,
            ),
        ),
    ];
    // Arithmetic, with a scalar and between two pipelines.
    let mut scaled = row(
        "({} | rate() by (resource.service.name)) * 60",
        Want::Exact(
            map_values(rate(&all, By::Service), |r| r * 60.0),
            Density::Full,
        ),
    );
    scaled.drop_name = true;
    rows.push(scaled);
    let errors = rate(&error, By::Service);
    let total = rate(&all, By::Service);
    let ratio: Values = errors
        .iter()
        .map(|(l, e)| {
            let t = &total[l];
            let v = e
                .iter()
                .filter(|(ts, _)| t[*ts] > 0.0)
                .map(|(ts, x)| (*ts, x / t[ts]))
                .collect();
            (l.clone(), v)
        })
        .collect();
    let mut divided = row(
        "({ status = error } | rate() by (resource.service.name)) / ({} | rate() by (resource.service.name))",
        Want::Exact(ratio, Density::Sparse),
    );
    divided.drop_name = true;
    rows.push(divided);
    assert_eq!(grid.step, STEP, "the table is written for one-minute steps");
    rows
}

/// Quantile bounds per (service, p).
fn quantiles(
    spans: &[MSpan],
    grid: Grid,
    qs: &[f64],
) -> BTreeMap<Labels, BTreeMap<i64, (f64, f64)>> {
    let mut out = BTreeMap::new();
    for (labels, samples) in groups(spans, grid, all, By::Service) {
        for q in qs {
            let mut l = labels.clone();
            l.insert("p".into(), Label::double(*q));
            let bounds = samples
                .iter()
                .map(|(t, s)| (*t, quantile_bounds(s, *q)))
                .collect();
            out.insert(l, bounds);
        }
    }
    out
}

/// Counts per (service, `__bucket`).
fn histogram(spans: &[MSpan], grid: Grid, name: &'static str) -> Values {
    let mut out: Values = BTreeMap::new();
    for (labels, samples) in groups(spans, grid, service(name), By::Service) {
        for (t, s) in samples {
            for span in s {
                let mut l = labels.clone();
                l.insert("__bucket".into(), Label::double(bucket(span.duration)));
                *out.entry(l).or_default().entry(t).or_default() += 1.0;
            }
        }
    }
    out
}
