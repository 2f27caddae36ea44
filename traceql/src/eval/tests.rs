//! The engine on the hand-built trace of `testtrace`: a table of queries and the span names of
//! each spanset they return (spans in start order), then attributes, errors and the view.

use crate::testtrace::sample;
use crate::*;

fn run(q: &str) -> Vec<SpansetMatch> {
    let query = parse_valid(q).unwrap_or_else(|e| panic!("{q}: {e}"));
    let search = Search::new(&query).unwrap_or_else(|e| panic!("{q}: {e}"));
    let data = sample();
    let view = TraceView::new(&data);
    search
        .evaluate(&view)
        .unwrap_or_else(|e| panic!("{q}: {e}"))
}

fn names(q: &str) -> Vec<Vec<String>> {
    let data = sample();
    let view = TraceView::new(&data);
    run(q)
        .iter()
        .map(|s| {
            s.spans
                .iter()
                .map(|m| view.span(m.index).name.clone())
                .collect()
        })
        .collect()
}

// Short names for the spans, in start order.
const R: &str = "GET /";
const A: &str = "auth";
const Q: &str = "db.query";
const H: &str = "backend.handle";
const N: &str = "backend.render";
const D: &str = "backend.db";
const C: &str = "backend.cache";
const O: &str = "orphan";
const ALL: &[&str] = &[R, A, Q, H, N, D, C, O];

/// One spanset with these spans, or none when empty.
fn one(spans: &[&str]) -> Vec<Vec<String>> {
    if spans.is_empty() {
        return Vec::new();
    }
    vec![spans.iter().map(|s| s.to_string()).collect()]
}

fn check(table: &[(&str, &[&str])]) {
    let mut failures = Vec::new();
    for (q, want) in table {
        let got = names(q);
        if got != one(want) {
            failures.push(format!("{q}\n   want {want:?}\n   got  {got:?}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn intrinsics() {
    let trace_id = "ab".repeat(16);
    let q_trace_id = format!(r#"{{ trace:id = "{trace_id}" && name = "auth" }}"#);
    check(&[
        ("{}", ALL),
        (r#"{ name = "auth" }"#, &[A]),
        (r#"{ span:name =~ "backend\\..*" }"#, &[H, N, D, C]),
        ("{ duration > 300ns }", &[R, H, N, D]),
        ("{ span:duration <= 100ns }", &[Q, C, O]),
        ("{ status = error }", &[Q, D]),
        ("{ span:status = ok }", &[R]),
        ("{ status = unset }", &[A, H, N, C, O]),
        (r#"{ statusMessage = "timeout" }"#, &[Q]),
        (r#"{ span:statusMessage = "" && status = error }"#, &[D]),
        ("{ kind = server }", &[R, H]),
        ("{ span:kind = client }", &[Q, D]),
        ("{ kind = unspecified }", &[O]),
        ("{ kind = internal }", &[A]),
        ("{ kind = producer }", &[C]),
        ("{ kind = consumer }", &[N]),
        (r#"{ rootName = "GET /" }"#, ALL),
        (r#"{ trace:rootName != "GET /" }"#, &[]),
        (
            r#"{ rootServiceName = "frontend" && resource.service.name = "backend" }"#,
            &[H, N, D, C, O],
        ),
        (
            r#"{ trace:rootService = "frontend" && name = "orphan" }"#,
            &[O],
        ),
        ("{ traceDuration = 1200ns }", ALL),
        ("{ trace:duration > 2us }", &[]),
        (&q_trace_id, &[A]),
        (r#"{ span:id = "0000000000000003" }"#, &[Q]),
        (r#"{ span:parentID = "0000000000000004" }"#, &[N, D]),
        ("{ nestedSetParent < 0 }", &[R]),
        ("{ nestedSetLeft = 9 }", &[D]),
        ("{ nestedSetRight = 14 }", &[R]),
        ("{ nestedSetLeft = 0 }", &[O]),
        ("{ nestedSetParent = 6 }", &[N, D]),
        ("{ childCount = 2 }", &[R, H]),
        ("{ span:childCount = 0 }", &[Q, N, C, O]),
        (r#"{ event:name = "log" }"#, &[A]),
        ("{ event:name != nil }", &[A]),
        ("{ !(event:name != nil) }", &[R, Q, H, N, D, C, O]),
        ("{ event:timeSinceStart > 100ns }", &[A]),
        (
            r#"{ event:timeSinceStart = 50ns && event:name = "cache.miss" }"#,
            &[A],
        ),
        // Event fields bind to one event at a time.
        (r#"{ event:name = "log" && event.hit = false }"#, &[]),
        (
            r#"{ event:name = "cache.miss" && event.hit = false }"#,
            &[A],
        ),
        (r#"{ event.key = "k2" }"#, &[A]),
        (
            &format!(r#"{{ link:traceID = "{}" }}"#, "ff".repeat(16)),
            &[Q],
        ),
        (
            r#"{ link:spanID = "eeeeeeeeeeeeeeee" && link.link.kind = "follows" }"#,
            &[Q],
        ),
        (r#"{ instrumentation:name = "lib-b" }"#, &[H, N, D, C, O]),
        (r#"{ instrumentation:version = "1.0" }"#, &[R, A, Q]),
        (r#"{ instrumentation.scope.attr = "x" }"#, &[R, A, Q]),
    ]);
}

#[test]
fn attributes_nil_and_types() {
    check(&[
        (r#"{ span.http.method = "GET" }"#, &[R]),
        (r#"{ .http.method =~ "P.*" }"#, &[A]),
        (r#"{ resource.region = "us" }"#, &[H, N, D, C, O]),
        // Unscoped: the span's attribute wins over the resource's.
        (r#"{ .shared = "span" }"#, &[R]),
        (r#"{ .shared = "res" }"#, &[A, Q]),
        (r#"{ resource.shared = "res" }"#, &[R, A, Q]),
        (r#"{ span.shared = "res" }"#, &[]),
        (r#"{ span."a b" = "spaced" }"#, &[Q]),
        ("{ .num.res = 7 }", &[R, A, Q]),
        ("{ .ratio > 1 }", &[N]),
        ("{ .ratio = 0.5 }", &[R]),
        ("{ .flag = true }", &[R]),
        ("{ .flag }", &[R]),
        ("{ .flag != true }", &[H]),
        ("{ .db.system = nil }", &[R, A, H, N, C, O]),
        ("{ .db.system != nil }", &[Q, D]),
        ("{ .map != nil }", &[R]),
        ("{ .blob = nil }", &[A, Q, H, N, D, C, O]),
        // Mismatched types are false, also for `!=`.
        (r#"{ .http.status_code = "200" }"#, &[]),
        (r#"{ .http.status_code != "200" }"#, &[]),
        (r#"{ .str > "0" && .str < "b" }"#, &[R]),
        (r#"{ .str >= "b" }"#, &[]),
        // Maps and bytes compare with nothing.
        (r#"{ .map = "v" }"#, &[]),
        (r#"{ .map != "v" }"#, &[]),
        (r#"{ .blob != "x" }"#, &[]),
        // Numbers of different types compare as numbers.
        ("{ .http.status_code = 200.0 }", &[R]),
        ("{ duration = 1000 }", &[R]),
    ]);
}

#[test]
fn regex_arrays_and_arithmetic() {
    check(&[
        (r#"{ name =~ "auth|db.*" }"#, &[A, Q]),
        (r#"{ name =~ "auth" }"#, &[A]),
        (r#"{ name =~ "aut" }"#, &[]),
        (r#"{ name !~ "backend.*" }"#, &[R, A, Q, O]),
        (r#"{ .http.status_code =~ "2.*" }"#, &[]),
        (r#"{ .tags = "a" }"#, &[R]),
        (r#"{ .tags != "a" }"#, &[A]),
        (r#"{ .tags =~ "[bc]" }"#, &[R, A]),
        (r#"{ .tags !~ "a" }"#, &[A]),
        ("{ .nums > 2 }", &[R]),
        ("{ .nums = 4 }", &[]),
        ("{ .nums != 4 }", &[R]),
        ("{ .nums <= 1 }", &[R]),
        ("{ .http.status_code + 1 = 201 }", &[R]),
        ("{ duration * 2 > 1us }", &[R, H]),
        ("{ .count / 0 = 1 }", &[]),
        ("{ .count % 0 != 1 }", &[]),
        ("{ .count / 2 = 2 }", &[N]),
        ("{ .count % 2 = 1 }", &[N]),
        ("{ .ratio * 2 = 3.0 }", &[N]),
        ("{ -.count < 0 }", &[N]),
        ("{ .count ^ 2 = 25 }", &[N]),
        ("{ .count - 10 = -5 }", &[N]),
        (r#"{ !(.flag = true) && kind = server }"#, &[H]),
        (r#"{ name = "auth" || name = "orphan" }"#, &[A, O]),
        (
            r#"{ !(name = "auth") && resource.service.name = "frontend" }"#,
            &[R, Q],
        ),
        // `!` of a missing value is nil, not true.
        ("{ !.missing }", &[]),
    ]);
}

#[test]
fn structural_operators() {
    check(&[
        (r#"{ name = "GET /" } > { }"#, &[A, H]),
        (r#"{ name = "db.query" } < { }"#, &[A]),
        ("{ kind = client } < { }", &[A, H]),
        (r#"{ name = "GET /" } >> { kind = client }"#, &[Q, D]),
        (r#"{ name = "backend.handle" } >> { }"#, &[N, D, C]),
        (r#"{ name = "backend.cache" } << { }"#, &[R, H, D]),
        (r#"{ name = "backend.db" } ~ { }"#, &[N]),
        ("{ } ~ { }", &[A, H, N, D]),
        (r#"{ name = "GET /" } !> { }"#, &[R, Q, N, D, C, O]),
        ("{ kind = client } !< { }", &[R, Q, N, D, C, O]),
        (r#"{ name = "backend.handle" } !>> { }"#, &[R, A, Q, H, O]),
        (r#"{ name = "backend.cache" } !<< { }"#, &[A, Q, N, C, O]),
        (r#"{ name = "backend.db" } !~ { }"#, &[R, A, Q, H, D, C, O]),
        (r#"{ name = "GET /" } &> { kind = server }"#, &[R, H]),
        (r#"{ name = "db.query" } &< { }"#, &[A, Q]),
        (
            r#"{ name = "backend.handle" } &>> { kind = client }"#,
            &[H, D],
        ),
        (
            r#"{ name = "backend.cache" } &<< { kind = server }"#,
            &[R, H, C],
        ),
        (r#"{ name = "backend.db" } &~ { }"#, &[N, D]),
        (r#"{ name = "nope" } &~ { }"#, &[]),
        (r#"{ name = "nope" } !> { name = "auth" }"#, &[A]),
        (r#"{ name = "GET /" } > { } > { }"#, &[Q, N, D]),
        (r#"{ name = "auth" } && { name = "orphan" }"#, &[A, O]),
        (r#"{ name = "auth" } && { name = "nope" }"#, &[]),
        (r#"{ name = "auth" } || { name = "nope" }"#, &[A]),
        (
            r#"({ name = "auth" } || { name = "orphan" }) && { kind = server }"#,
            &[R, A, H, O],
        ),
    ]);
}

#[test]
fn pipelines() {
    check(&[
        ("{ } | { kind = server }", &[R, H]),
        (r#"{ .http.status_code >= 500 } | { kind = client }"#, &[D]),
        (r#"{ } | { name = "backend.handle" } > { }"#, &[N, D]),
        // Later stages see only their spanset's spans; relations come from the whole trace.
        (
            r#"{ resource.service.name = "frontend" } | { name = "GET /" } > { }"#,
            &[A],
        ),
        ("{ } | by(resource.service.name) | coalesce()", ALL),
        ("{ } | avg(duration) > 300ns", ALL),
        ("{ } | avg(duration) > 400ns", &[]),
        ("{ kind = client } | max(duration) = 400ns", &[Q, D]),
        ("{ kind = client } | min(duration) < 200ns", &[Q, D]),
        ("{ kind = client } | sum(duration) = 500ns", &[Q, D]),
        ("{ } | count() = 8", ALL),
        ("{ } | count() > 8", &[]),
        ("{ } | avg(.missing) > 0", &[]),
        (
            r#"({ } | by(kind) | count() > 1) && { name = "orphan" }"#,
            &[R, Q, H, D, O],
        ),
        (r#"({ kind = client } | { status = error }) > { }"#, &[C]),
        (r#"({ kind = client } | { status = ok }) > { }"#, &[]),
        (r#"({ kind = server } | { .flag = false }) > { }"#, &[N, D]),
        ("{ } | select(.db.system)", ALL),
    ]);
}

#[test]
fn by_groups_in_order_of_first_appearance_with_their_values() {
    let sets = run(r#"{ resource.service.name = "backend" } | by(kind)"#);
    let keys: Vec<_> = sets.iter().map(|s| s.attributes.clone()).collect();
    let by = |k: Kind| vec![("by(kind)".to_owned(), Static::Kind(k))];
    assert_eq!(
        keys,
        vec![
            by(Kind::Server),
            by(Kind::Consumer),
            by(Kind::Client),
            by(Kind::Producer),
            by(Kind::Unspecified)
        ]
    );
    // Spans without the field form their own group, without the attribute.
    let sets = names("{ } | by(.db.system)");
    assert_eq!(sets, vec![vec![R, A, H, N, C, O], vec![Q], vec![D]]);
    let sets = run("{ } | by(.db.system)");
    assert!(sets[0].attributes.is_empty());
    assert_eq!(
        sets[1].attributes,
        vec![(
            "by(.db.system)".to_owned(),
            Static::String("postgres".into())
        )]
    );
}

#[test]
fn scalar_filters_report_their_aggregates() {
    let sets = run("{ } | by(resource.service.name) | count() > 3");
    assert_eq!(sets.len(), 1);
    assert_eq!(
        sets[0].attributes,
        vec![
            (
                "by(resource.service.name)".to_owned(),
                Static::String("backend".into())
            ),
            ("count()".to_owned(), Static::Int(5)),
        ]
    );
    let sets = run("{ } | avg(duration) > 300ns");
    assert_eq!(
        sets[0].attributes,
        vec![("avg(duration)".to_owned(), Static::Duration(350))]
    );
    let sets = run("{ } | by(resource.service.name) | sum(.http.status_code) > 1000");
    assert_eq!(sets.len(), 1);
    assert_eq!(
        sets[0].attributes[1],
        ("sum(.http.status_code)".to_owned(), Static::Int(1003))
    );
    let sets = run("{ } | avg(.ratio) = 1.0");
    assert_eq!(
        sets[0].attributes,
        vec![("avg(.ratio)".to_owned(), Static::Float(1.0))]
    );
}

#[test]
fn span_attributes_report_compared_and_selected_fields() {
    let sets = run(
        r#"{ span.http.method = "GET" && status = ok && name = "GET /" && duration > 1ns && .shared != nil && trace:rootName = "GET /" }"#,
    );
    assert_eq!(sets.len(), 1);
    assert_eq!(sets[0].spans.len(), 1);
    assert_eq!(
        sets[0].spans[0].attributes,
        vec![
            ("http.method".to_owned(), Static::String("GET".into())),
            ("status".to_owned(), Static::Status(Status::Ok)),
            ("shared".to_owned(), Static::String("span".into())),
        ]
    );
    let sets =
        run(r#"{ name = "db.query" } | select(span:id, resource.service.name, name, .missing)"#);
    assert_eq!(
        sets[0].spans[0].attributes,
        vec![
            (
                "span:id".to_owned(),
                Static::String("0000000000000003".into())
            ),
            ("service.name".to_owned(), Static::String("frontend".into())),
            ("name".to_owned(), Static::String("db.query".into())),
        ]
    );
    // Only non-nil values; one entry per key.
    let sets = run(r#"{ kind = server || span.region = "x" || resource.region = "x" }"#);
    let data = sample();
    let view = TraceView::new(&data);
    let root = &sets[0].spans[0];
    assert_eq!(view.span(root.index).name, R);
    assert_eq!(
        root.attributes,
        vec![
            ("kind".to_owned(), Static::Kind(Kind::Server)),
            ("region".to_owned(), Static::String("eu".into())),
        ]
    );
}

#[test]
fn search_refuses_what_it_does_not_evaluate() {
    for q in [
        "{ parent.x = 1 }",
        "{ } | rate()",
        "({ } | count()) + ({ } | count()) = 1",
        "{ } | count() + 1 > 2",
    ] {
        let query = parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        let err = Search::new(&query).expect_err(q);
        assert!(err.to_string().contains("unsupported"), "{q}: {err}");
    }
    let query = parse(r#"{ .a =~ "(" }"#).unwrap();
    assert!(Search::new(&query).is_err());
}

#[test]
fn search_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Search>();
}

#[test]
fn view_basics() {
    let data = sample();
    let view = TraceView::new(&data);
    assert_eq!(view.len(), 8);
    assert!(!view.is_empty());
    assert_eq!(view.root(), Some(0));
    assert_eq!((view.start(), view.end()), (100, 1300));
    let field = |q: &str| parse_identifier(q).unwrap();
    assert_eq!(view.value(4, &field("span:name")), Static::String(D.into()));
    assert_eq!(
        view.value(4, &field("resource.service.name")),
        Static::String("backend".into())
    );
    assert_eq!(
        view.value(0, &field(".tags")),
        Static::Array(vec![Static::String("a".into()), Static::String("b".into())])
    );
    assert_eq!(view.value(0, &field(".map")), Static::Nil);
    assert_eq!(
        view.value(1, &field("event.key")),
        Static::String("k1".into())
    );
    assert_eq!(view.value(1, &field("duration")), Static::Duration(200));
    assert_eq!(
        view.value(2, &field("status")),
        Static::Status(Status::Error)
    );
    assert_eq!(view.value(0, &field(".nope")), Static::Nil);
    let empty = sextant_model::otlp::TracesData::default();
    let view = TraceView::new(&empty);
    assert!(view.is_empty());
    assert_eq!(view.root(), None);
    let q = Search::new(&parse("{}").unwrap()).unwrap();
    assert!(q.evaluate(&view).unwrap().is_empty());
}

#[test]
fn several_roots_pick_the_earliest_and_all_zero_parent_is_a_root() {
    use crate::testtrace::*;
    let mk = |n: u8, parent: Option<Vec<u8>>, start: u64| {
        span(SpanSpec {
            n,
            parent,
            name: "x",
            kind: 0,
            start,
            end: start + 10,
            status: None,
            attrs: Vec::new(),
            events: Vec::new(),
            links: Vec::new(),
        })
    };
    let data = sextant_model::otlp::TracesData {
        resource_spans: vec![resource_spans(
            vec![kv("service.name", s("svc"))],
            None,
            vec![
                mk(1, None, 50),
                mk(2, Some(vec![0; 8]), 20),
                mk(3, Some(sid(2)), 30),
            ],
        )],
    };
    let view = TraceView::new(&data);
    assert_eq!(view.root(), Some(1));
    let sets = {
        let q = Search::new(&parse("{ nestedSetParent < 0 }").unwrap()).unwrap();
        q.evaluate(&view).unwrap()
    };
    let roots: Vec<usize> = sets[0].spans.iter().map(|m| m.index).collect();
    // Spans in start order.
    assert_eq!(roots, vec![1, 0]);
    assert_eq!(
        view.value(2, &parse_identifier("nestedSetParent").unwrap()),
        Static::Int(1)
    );
    assert_eq!(
        view.value(0, &parse_identifier("instrumentation:name").unwrap()),
        Static::Nil
    );
}

#[test]
fn children_of_a_parent_that_never_arrived_are_siblings() {
    use crate::testtrace::{resource_spans, span, spec};
    let data = sextant_model::otlp::TracesData {
        resource_spans: vec![resource_spans(
            Vec::new(),
            None,
            vec![
                span(spec(1, Some(9), "render", 1, 10, 20)),
                span(spec(2, Some(9), "call api", 3, 12, 18)),
                span(spec(3, Some(8), "elsewhere", 1, 13, 14)),
            ],
        )],
    };
    let view = TraceView::new(&data);
    let names = |q: &str| -> Vec<String> {
        let search = Search::new(&parse_valid(q).unwrap()).unwrap();
        search
            .evaluate(&view)
            .unwrap()
            .iter()
            .flat_map(|set| set.spans.iter().map(|m| view.span(m.index).name.clone()))
            .collect()
    };
    assert_eq!(
        names(r#"{ name = "render" } ~ { name = "call api" }"#),
        ["call api"]
    );
    assert_eq!(
        names(r#"{ name = "render" } ~ { name = "elsewhere" }"#),
        Vec::<String>::new()
    );
    assert_eq!(
        names(r#"{ name = "render" } !~ { }"#),
        ["render", "elsewhere"]
    );
}
