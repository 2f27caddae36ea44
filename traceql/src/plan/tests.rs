//! The planner: a table of queries and the requests they lower to, and a property test that a
//! request never rules out a trace the engine matches.

use proptest::prelude::*;
use sextant_model::otlp::{SpanKind, StatusCode};
use sextant_model::{
    self as model, AttributeRef, Condition, FetchOp, FetchRequest, Intrinsic as MI, TimeRange,
};

use crate::testtrace::*;
use crate::*;

const RANGE: TimeRange = TimeRange {
    start: 0,
    end: u64::MAX,
};

fn plan(q: &str) -> FetchRequest {
    let query = parse_valid(q).unwrap_or_else(|e| panic!("{q}: {e}"));
    Search::new(&query)
        .unwrap_or_else(|e| panic!("{q}: {e}"))
        .fetch_request(RANGE)
}

fn all(conditions: Vec<Condition>) -> FetchRequest {
    FetchRequest {
        range: RANGE,
        conditions,
        all_conditions: true,
    }
}

fn any(conditions: Vec<Condition>) -> FetchRequest {
    FetchRequest {
        range: RANGE,
        conditions,
        all_conditions: false,
    }
}

fn c(attribute: AttributeRef, op: FetchOp, operand: model::Static) -> Condition {
    Condition::new(attribute, op, vec![operand])
}

fn str(s: &str) -> model::Static {
    model::Static::Str(s.to_owned())
}

fn intr(i: MI) -> AttributeRef {
    AttributeRef::Intrinsic(i)
}

#[test]
fn requests_for_queries() {
    use FetchOp::*;
    let name_a = c(intr(MI::Name), Eq, str("a"));
    let name_b = c(intr(MI::Name), Eq, str("b"));
    let err = c(
        intr(MI::Status),
        Eq,
        model::Static::Status(StatusCode::Error),
    );
    let table: Vec<(&str, FetchRequest)> = vec![
        ("{}", all(vec![])),
        (r#"{ name = "a" }"#, all(vec![name_a.clone()])),
        (r#"{ span:name = "a" }"#, all(vec![name_a.clone()])),
        (
            r#"{ name = "a" && status = error && .x > 3 }"#,
            all(vec![
                name_a.clone(),
                err.clone(),
                c(AttributeRef::any("x"), Gt, model::Static::Int(3)),
            ]),
        ),
        // An unpushable conjunct is dropped.
        (
            r#"{ name = "a" && event.x = 1 && .y + 1 = 2 && !(.z = 1) }"#,
            all(vec![name_a.clone()]),
        ),
        (
            r#"{ name = "a" || name = "b" }"#,
            any(vec![name_a.clone(), name_b.clone()]),
        ),
        (r#"{ name = "a" || event.x = 1 }"#, all(vec![])),
        // A conjunction implies its first condition.
        (
            r#"{ (name = "a" && .q = 1) || name = "b" }"#,
            any(vec![name_a.clone(), name_b.clone()]),
        ),
        (
            r#"{ (name = "a" || name = "b") && event.x = 1 }"#,
            any(vec![name_a.clone(), name_b.clone()]),
        ),
        // Both sides must match: the side with more conditions (RHS on ties).
        (
            r#"{ name = "a" } && { name = "b" && status = error }"#,
            all(vec![name_b.clone(), err.clone()]),
        ),
        (
            r#"{ name = "a" } && { name = "b" }"#,
            all(vec![name_b.clone()]),
        ),
        (r#"{ name = "a" } >> { }"#, all(vec![name_a.clone()])),
        (
            r#"{ name = "a" } &~ { name = "b" }"#,
            all(vec![name_b.clone()]),
        ),
        (
            r#"{ name = "a" } < { name = "b" }"#,
            all(vec![name_b.clone()]),
        ),
        // Negated: only the right side counts.
        (
            r#"{ name = "a" && status = error } !> { name = "b" }"#,
            all(vec![name_b.clone()]),
        ),
        (r#"{ name = "a" } !~ { }"#, all(vec![])),
        (
            r#"{ name = "a" } || { name = "b" }"#,
            any(vec![name_a.clone(), name_b.clone()]),
        ),
        (r#"{ name = "a" } || { }"#, all(vec![])),
        // Only the first stage counts.
        (r#"{ } | { name = "a" }"#, all(vec![])),
        (
            r#"{ name = "a" } | by(.x) | count() > 2"#,
            all(vec![name_a.clone()]),
        ),
        (
            r#"({ name = "a" } | count() > 1) && { }"#,
            all(vec![name_a.clone()]),
        ),
        // Flipped comparisons, nil, durations, kinds, hex IDs.
        (
            "{ 5ns < duration }",
            all(vec![c(intr(MI::Duration), Gt, model::Static::Duration(5))]),
        ),
        ("{ duration > -5ns }", all(vec![])),
        (
            "{ span.x = nil }",
            all(vec![c(AttributeRef::span("x"), Eq, model::Static::Nil)]),
        ),
        (
            "{ resource.x != nil }",
            all(vec![Condition::exists(AttributeRef::resource("x"))]),
        ),
        (
            "{ kind = server }",
            all(vec![c(
                intr(MI::Kind),
                Eq,
                model::Static::Kind(SpanKind::Server),
            )]),
        ),
        (
            r#"{ .x =~ "a.*" && .y !~ "b" }"#,
            all(vec![
                c(AttributeRef::any("x"), Regex, str("a.*")),
                c(AttributeRef::any("y"), NotRegex, str("b")),
            ]),
        ),
        (
            r#"{ span:id = "00ff" && trace:id != "ab" }"#,
            all(vec![
                c(intr(MI::SpanId), Eq, str("00ff")),
                c(intr(MI::TraceId), Ne, str("ab")),
            ]),
        ),
        (r#"{ span:id = "00FF" || span:id > "00" }"#, all(vec![])),
        (
            r#"{ traceDuration > 1s && trace:rootService = "x" && rootName != "y" && statusMessage = "m" }"#,
            all(vec![
                c(
                    intr(MI::TraceDuration),
                    Gt,
                    model::Static::Duration(1_000_000_000),
                ),
                c(intr(MI::RootServiceName), Eq, str("x")),
                c(intr(MI::RootName), Ne, str("y")),
                c(intr(MI::StatusMessage), Eq, str("m")),
            ]),
        ),
        (
            "{ .f = 1.5 && .b = true }",
            all(vec![
                c(AttributeRef::any("f"), Eq, model::Static::Float(1.5)),
                c(AttributeRef::any("b"), Eq, model::Static::Bool(true)),
            ]),
        ),
        // Not pushed: arrays, other scopes and intrinsics, arithmetic.
        (
            r#"{ .x = [1, 2] && link.x = 1 && instrumentation.x = 1 && nestedSetParent < 0 && childCount = 1 && .a * 2 > 1 }"#,
            all(vec![]),
        ),
    ];
    let mut failures = Vec::new();
    for (q, want) in table {
        let got = plan(q);
        if got != want {
            failures.push(format!("{q}\n   want {want:?}\n   got  {got:?}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

// ---- a reference check of the fetch contract (model/src/fetch.rs) on one span ----

#[derive(Debug)]
enum RVal {
    Str(String),
    Num(f64),
    Bool(bool),
    Status(i32),
    Kind(i32),
    /// An array, map or bytes: may match anything.
    Any,
}

fn from_otlp(v: &sextant_model::otlp::AnyValue) -> RVal {
    use sextant_model::otlp::any_value::Value;
    match &v.value {
        Some(Value::StringValue(s)) => RVal::Str(s.clone()),
        Some(Value::IntValue(i)) => RVal::Num(*i as f64),
        Some(Value::DoubleValue(d)) => RVal::Num(*d),
        Some(Value::BoolValue(b)) => RVal::Bool(*b),
        _ => RVal::Any,
    }
}

fn from_static(s: Static) -> Option<RVal> {
    Some(match s {
        Static::Nil => return None,
        Static::String(s) => RVal::Str(s),
        Static::Int(i) | Static::Duration(i) => RVal::Num(i as f64),
        Static::Float(f) => RVal::Num(f),
        Static::Bool(b) => RVal::Bool(b),
        Static::Status(s) => RVal::Status(match s {
            Status::Unset => 0,
            Status::Ok => 1,
            Status::Error => 2,
        }),
        Static::Kind(k) => RVal::Kind(Kind::ALL.iter().position(|x| *x == k).unwrap() as i32),
        Static::Array(_) => RVal::Any,
    })
}

fn one_holds(op: FetchOp, v: &RVal, operand: &model::Static) -> bool {
    use std::cmp::Ordering::*;
    let ord = match (v, operand) {
        (RVal::Any, _) => return true,
        (RVal::Str(a), model::Static::Str(b)) => match op {
            FetchOp::Regex | FetchOp::NotRegex => {
                let m = compile_regex(b).unwrap().is_match(a);
                return m == (op == FetchOp::Regex);
            }
            _ => Some((a.as_bytes().cmp(b.as_bytes()), true)),
        },
        (RVal::Num(a), model::Static::Int(b)) => a.partial_cmp(&(*b as f64)).map(|o| (o, true)),
        (RVal::Num(a), model::Static::Float(b)) => a.partial_cmp(b).map(|o| (o, true)),
        (RVal::Num(a), model::Static::Duration(b)) => {
            a.partial_cmp(&(*b as f64)).map(|o| (o, true))
        }
        (RVal::Bool(a), model::Static::Bool(b)) => Some((a.cmp(b), false)),
        (RVal::Status(a), model::Static::Status(b)) => Some((a.cmp(&(*b as i32)), false)),
        (RVal::Kind(a), model::Static::Kind(b)) => Some((a.cmp(&(*b as i32)), false)),
        _ => None,
    };
    let Some((ord, ordered)) = ord else {
        return false;
    };
    match op {
        FetchOp::Eq => ord == Equal,
        FetchOp::Ne => ord != Equal,
        FetchOp::Gt => ordered && ord == Greater,
        FetchOp::Ge => ordered && ord != Less,
        FetchOp::Lt => ordered && ord == Less,
        FetchOp::Le => ordered && ord != Greater,
        _ => false,
    }
}

fn holds(c: &Condition, v: Option<&RVal>) -> bool {
    let each = |o: &model::Static| match (o, v) {
        (model::Static::Nil, v) => match c.op {
            FetchOp::Eq => v.is_none(),
            FetchOp::Ne => v.is_some(),
            _ => false,
        },
        (_, None) => false,
        (o, Some(v)) => one_holds(c.op, v, o),
    };
    match c.op {
        FetchOp::Exists => v.is_some(),
        FetchOp::Ne | FetchOp::NotRegex => c.operands.iter().all(each),
        _ => c.operands.iter().any(each),
    }
}

fn condition_on_span(c: &Condition, view: &TraceView<'_>, i: usize) -> bool {
    match &c.attribute {
        AttributeRef::Intrinsic(x) => {
            let field = match x {
                MI::Name => Intrinsic::Name,
                MI::Status => Intrinsic::Status,
                MI::StatusMessage => Intrinsic::StatusMessage,
                MI::Kind => Intrinsic::Kind,
                MI::Duration => Intrinsic::Duration,
                MI::TraceDuration => Intrinsic::TraceDuration,
                MI::RootServiceName => Intrinsic::RootServiceName,
                MI::RootName => Intrinsic::RootName,
                MI::TraceId => Intrinsic::TraceId,
                MI::SpanId => Intrinsic::SpanId,
                MI::ServiceName => unreachable!("the planner never asks for it"),
            };
            let v = from_static(view.value(i, &FieldExpr::Intrinsic(field)));
            holds(c, v.as_ref())
        }
        AttributeRef::Attribute { scope, key } => {
            let span = view.span(i);
            let mut lists = Vec::new();
            if matches!(
                scope,
                model::AttributeScope::Span | model::AttributeScope::Any
            ) {
                lists.push(&span.attributes);
            }
            if matches!(
                scope,
                model::AttributeScope::Resource | model::AttributeScope::Any
            ) && let Some(r) = view.resource(i)
            {
                lists.push(&r.attributes);
            }
            let values: Vec<RVal> = lists
                .into_iter()
                .flatten()
                .filter(|kv| kv.key == *key)
                .filter_map(|kv| kv.value.as_ref().map(from_otlp))
                .collect();
            if values.is_empty() {
                holds(c, None)
            } else {
                values.iter().any(|v| holds(c, Some(v)))
            }
        }
    }
}

/// Whether the store could return this trace for `request` (some span passes).
fn trace_passes(request: &FetchRequest, view: &TraceView<'_>) -> bool {
    (0..view.len()).any(|i| {
        let mut results = request
            .conditions
            .iter()
            .map(|c| condition_on_span(c, view, i));
        if request.conditions.is_empty() {
            true
        } else if request.all_conditions {
            results.all(|x| x)
        } else {
            results.any(|x| x)
        }
    })
}

// ---- generators ----

fn attr_value() -> impl Strategy<Value = Option<sextant_model::otlp::AnyValue>> {
    prop_oneof![
        Just(Some(s("x"))),
        Just(Some(s("y"))),
        Just(Some(i(1))),
        Just(Some(i(2))),
        Just(Some(f(1.5))),
        Just(Some(b(true))),
        Just(Some(arr(vec![s("x"), i(1)]))),
        Just(None),
    ]
}

fn attrs() -> impl Strategy<Value = Vec<sextant_model::otlp::KeyValue>> {
    proptest::collection::vec((prop_oneof![Just("a"), Just("b")], attr_value()), 0..3).prop_map(
        |kvs| {
            kvs.into_iter()
                .map(|(k, v)| sextant_model::otlp::KeyValue {
                    key: k.to_owned(),
                    value: v,
                })
                .collect()
        },
    )
}

fn arb_trace() -> impl Strategy<Value = sextant_model::otlp::TracesData> {
    let one_span = (
        0usize..8,
        prop_oneof![Just("n1"), Just("n2"), Just("n3")],
        0i32..6,
        0i32..4,
        0u64..20,
        0u64..20,
        attrs(),
        proptest::bool::ANY,
        0usize..2,
    );
    (
        proptest::collection::vec(one_span, 1..7),
        attrs(),
        prop_oneof![Just("s1"), Just("s2")],
    )
        .prop_map(|(specs, res_attrs, service)| {
            let mut per_resource = vec![Vec::new(), Vec::new()];
            for (n, (parent, name, kind, status, start, len, attrs, event, res)) in
                specs.into_iter().enumerate()
            {
                let n = n as u8 + 1;
                // A parent among the earlier spans, or none, or one not in the trace.
                let parent = match parent {
                    0 => None,
                    7 => Some(vec![9; 8]),
                    p if (p as u8) < n => Some(sid(p as u8)),
                    _ => None,
                };
                let events = if event {
                    vec![sextant_model::otlp::Event {
                        time_unix_nano: start + 1,
                        name: "e".to_owned(),
                        attributes: Vec::new(),
                        dropped_attributes_count: 0,
                    }]
                } else {
                    Vec::new()
                };
                per_resource[res].push(span(SpanSpec {
                    n,
                    parent,
                    name,
                    kind,
                    start,
                    end: start + len,
                    status: (status < 3).then_some((status, "m")),
                    attrs,
                    events,
                    links: Vec::new(),
                }));
            }
            let mut first = res_attrs.clone();
            first.push(kv("service.name", s(service)));
            let resources = [first, vec![kv("service.name", s("s2"))]];
            sextant_model::otlp::TracesData {
                resource_spans: per_resource
                    .into_iter()
                    .zip(resources)
                    .filter(|(spans, _)| !spans.is_empty())
                    .map(|(spans, attrs)| resource_spans(attrs, None, spans))
                    .collect(),
            }
        })
}

const CONDITIONS: &[&str] = &[
    r#"name = "n1""#,
    r#"name =~ "n[12]""#,
    r#"name != "n2""#,
    "status = error",
    "status != ok",
    "kind = server",
    "kind != client",
    "duration > 5ns",
    "duration <= 10ns",
    "5ns < duration",
    r#".a = "x""#,
    r#".a != "x""#,
    ".a = 1",
    ".a > 1",
    ".a >= 1.5",
    r#".a =~ "x|y""#,
    r#".a !~ "x""#,
    ".a = nil",
    ".a != nil",
    "span.b = true",
    "span.b != 2",
    "resource.b = 2",
    r#"resource.a < "y""#,
    r#"resource.service.name = "s1""#,
    r#"rootServiceName = "s1""#,
    r#"rootName != "n1""#,
    r#"statusMessage = "m""#,
    "traceDuration > 20ns",
    r#"span:id = "0000000000000002""#,
    r#"span:id != "0000000000000003""#,
    r#"trace:id = "abababababababababababababababab""#,
    ".a + 1 = 2",
    "nestedSetParent < 0",
    r#"event:name = "e""#,
];

fn field_expr() -> impl Strategy<Value = String> {
    let leaf = proptest::sample::select(CONDITIONS).prop_map(str::to_owned);
    leaf.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} && {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} || {b})")),
            inner.prop_map(|a| format!("!({a})")),
        ]
    })
}

fn spanset_expr() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        1 => Just("{ }".to_owned()),
        4 => field_expr().prop_map(|e| format!("{{ {e} }}")),
    ];
    leaf.prop_recursive(3, 8, 2, |inner| {
        (
            inner.clone(),
            proptest::sample::select(SpansetOp::ALL.to_vec()),
            inner,
        )
            .prop_map(|(a, op, b)| format!("({a}) {} ({b})", op.symbol()))
    })
}

fn query() -> impl Strategy<Value = String> {
    let stage = prop_oneof![
        Just(" | by(.a)".to_owned()),
        Just(" | count() > 1".to_owned()),
        Just(" | coalesce()".to_owned()),
        Just(" | select(.b)".to_owned()),
        field_expr().prop_map(|e| format!(" | {{ {e} }}")),
    ];
    (spanset_expr(), proptest::collection::vec(stage, 0..3))
        .prop_map(|(first, rest)| format!("{first}{}", rest.concat()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn the_request_never_loses_a_matching_trace(trace in arb_trace(), q in query()) {
        let Ok(query) = parse_valid(&q) else {
            return Ok(());
        };
        let search = Search::new(&query).unwrap();
        let view = TraceView::new(&trace);
        let matched = !search.evaluate(&view).unwrap().is_empty();
        if matched {
            let request = search.fetch_request(RANGE);
            prop_assert!(
                trace_passes(&request, &view),
                "{q} matched but the request {request:?} rules the trace out"
            );
        }
    }
}

#[test]
fn the_reference_check_can_rule_traces_out() {
    // The property above is only worth something if the reference check says no sometimes.
    let data = sample();
    let view = TraceView::new(&data);
    assert!(!trace_passes(&plan(r#"{ name = "nope" }"#), &view));
    assert!(trace_passes(&plan(r#"{ name = "auth" }"#), &view));
    assert!(!trace_passes(
        &plan(r#"{ .http.status_code > 600 }"#),
        &view
    ));
    // Array values may match anything.
    assert!(trace_passes(&plan(r#"{ .tags = "zzz" }"#), &view));
}
