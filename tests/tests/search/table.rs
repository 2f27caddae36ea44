//! The query table: each TraceQL query with its expected result written as plain Rust over the
//! generated traces (no TraceQL evaluator): per trace, the span sets that must come back, each
//! a set of span indices (several only for `by()`).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use super::data::{API, CACHE, Code, DB, FRONTEND, GTrace, Kind, MS, QUEUE, Val};

pub(crate) type Set = BTreeSet<usize>;
/// Span sets of one trace: the `by()` value (None without `by()`) and the span indices.
pub(crate) type Groups = Vec<(Option<String>, Set)>;

/// Where a `select()`ed attribute comes from.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Scope {
    Span,
    Resource,
}

pub(crate) struct Row {
    pub(crate) q: String,
    expect: Box<dyn Fn(&GTrace) -> Groups>,
    /// `by()` rows: span sets are compared group by group, keyed by this attribute.
    pub(crate) by: Option<&'static str>,
    /// `select()`ed attributes: the key in the answer and where the value comes from.
    pub(crate) select: Vec<(&'static str, Scope)>,
    /// The query must match nothing (a type mismatch, an anchored regex).
    pub(crate) none: bool,
}

impl Row {
    /// The non-empty span sets `t` must answer with (none: the trace must not come back).
    pub(crate) fn expect(&self, t: &GTrace) -> Groups {
        let mut groups = (self.expect)(t);
        groups.retain(|(_, s)| !s.is_empty());
        groups
    }
}

/// The relation of a structural operator between a left span `a` and a right span `b`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Rel {
    /// `>`: `b`'s parent is `a`.
    Child,
    /// `<`: `b` is `a`'s parent.
    Parent,
    /// `>>`: `a` is an ancestor of `b`.
    Descendant,
    /// `<<`: `b` is an ancestor of `a`.
    Ancestor,
    /// `~`: same parent, other span.
    Sibling,
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Mode {
    /// `A op B`: the right spans with such a left relative.
    Plain,
    /// `A !op B`: the right spans with no such left relative.
    Not,
    /// `A &op B`: both sides' spans that take part in the relation.
    Union,
}

pub(crate) fn related(t: &GTrace, rel: Rel, a: usize, b: usize) -> bool {
    match rel {
        Rel::Child => t.parent(b) == Some(a),
        Rel::Parent => t.parent(a) == Some(b),
        Rel::Descendant => t.is_ancestor(a, b),
        Rel::Ancestor => t.is_ancestor(b, a),
        Rel::Sibling => t.are_siblings(a, b),
    }
}

pub(crate) fn structural(t: &GTrace, rel: Rel, mode: Mode, lhs: &Set, rhs: &Set) -> Set {
    let has_left = |b: usize| lhs.iter().any(|&a| related(t, rel, a, b));
    let has_right = |a: usize| rhs.iter().any(|&b| related(t, rel, a, b));
    match mode {
        Mode::Plain => rhs.iter().copied().filter(|&b| has_left(b)).collect(),
        Mode::Not => rhs.iter().copied().filter(|&b| !has_left(b)).collect(),
        Mode::Union => rhs
            .iter()
            .copied()
            .filter(|&b| has_left(b))
            .chain(lhs.iter().copied().filter(|&a| has_right(a)))
            .collect(),
    }
}

pub(crate) fn spans(t: &GTrace, p: &impl Fn(&GTrace, usize) -> bool) -> Set {
    (0..t.spans.len()).filter(|&i| p(t, i)).collect()
}

fn one(s: Set) -> Groups {
    vec![(None, s)]
}

fn row(q: &str, expect: impl Fn(&GTrace) -> Groups + 'static) -> Row {
    Row {
        q: q.to_owned(),
        expect: Box::new(expect),
        by: None,
        select: Vec::new(),
        none: false,
    }
}

fn filter(q: &str, p: impl Fn(&GTrace, usize) -> bool + 'static) -> Row {
    row(q, move |t| one(spans(t, &p)))
}

fn op(
    q: &str,
    rel: Rel,
    mode: Mode,
    a: impl Fn(&GTrace, usize) -> bool + 'static,
    b: impl Fn(&GTrace, usize) -> bool + 'static,
) -> Row {
    row(q, move |t| {
        one(structural(t, rel, mode, &spans(t, &a), &spans(t, &b)))
    })
}

fn nothing(mut r: Row) -> Row {
    r.none = true;
    r
}

// Predicates on span `i` of a trace.

fn svc(t: &GTrace, i: usize, name: &str) -> bool {
    matches!(t.resource_attr(i, "service.name"), Some(Val::Str(s)) if s == name)
}

fn kind(t: &GTrace, i: usize, k: Kind) -> bool {
    t.spans[i].kind == k
}

fn error(t: &GTrace, i: usize) -> bool {
    t.spans[i].code == Code::Error
}

fn name(t: &GTrace, i: usize, n: &str) -> bool {
    t.spans[i].name == n
}

fn is_str(v: Option<&Val>, want: &str) -> bool {
    matches!(v, Some(Val::Str(s)) if s == want)
}

fn int(v: Option<&Val>) -> Option<i64> {
    match v {
        Some(Val::Int(i)) => Some(*i),
        _ => None,
    }
}

fn status_code(t: &GTrace, i: usize) -> Option<i64> {
    int(t.span_attr(i, "http.status_code"))
}

fn root_service_is(t: &GTrace, s: &str) -> bool {
    t.root().is_some_and(|r| r.service == s)
}

/// The table for `data` (the `span:id` row picks one of its spans).
pub(crate) fn rows(data: &[GTrace]) -> Vec<Row> {
    let picked = data
        .iter()
        .flat_map(|t| t.spans.iter())
        .find(|s| s.service == DB)
        .unwrap_or(&data[0].spans[0])
        .id;
    let picked_hex = hex::encode(picked);
    let mut rows = vec![
        filter("{}", |_, _| true),
        filter(r#"{ resource.service.name = "db" }"#, |t, i| svc(t, i, DB)),
        filter("{ span.http.status_code = 404 }", |t, i| {
            status_code(t, i) == Some(404)
        }),
        filter("{ span.http.status_code >= 500 }", |t, i| {
            status_code(t, i).is_some_and(|c| c >= 500)
        }),
        nothing(filter(r#"{ span.http.status_code = "404" }"#, |_, _| false)),
        filter(
            "{ span.load.ratio > 0.5 }",
            |t, i| matches!(t.span_attr(i, "load.ratio"), Some(Val::Double(d)) if *d > 0.5),
        ),
        filter("{ span.cache.hit = false }", |t, i| {
            t.span_attr(i, "cache.hit") == Some(&Val::Bool(false))
        }),
        filter(
            r#"{ span.tags = "beta" }"#,
            |t, i| matches!(t.span_attr(i, "tags"), Some(Val::StrArr(xs)) if xs.iter().any(|x| x == "beta")),
        ),
        filter(
            r#"{ span.tags != "beta" }"#,
            |t, i| matches!(t.span_attr(i, "tags"), Some(Val::StrArr(xs)) if xs.iter().all(|x| x != "beta")),
        ),
        filter(
            "{ span.codes = 2 }",
            |t, i| matches!(t.span_attr(i, "codes"), Some(Val::IntArr(xs)) if xs.contains(&2)),
        ),
        // `tier` is on every resource and on some api spans: unscoped prefers the span's.
        filter(r#"{ .tier = "core" }"#, |t, i| {
            is_str(t.unscoped(i, "tier"), "core")
        }),
        filter(r#"{ .tier = "override" }"#, |t, i| {
            is_str(t.unscoped(i, "tier"), "override")
        }),
        filter(r#"{ resource.tier = "core" }"#, |t, i| {
            is_str(t.resource_attr(i, "tier"), "core")
        }),
        filter(
            r#"{ .deployment.environment = "staging" && kind = server }"#,
            |t, i| {
                is_str(t.unscoped(i, "deployment.environment"), "staging")
                    && kind(t, i, Kind::Server)
            },
        ),
        // `attempt` is an int on some spans and the string "2" on others.
        filter("{ span.attempt = 2 }", |t, i| {
            int(t.span_attr(i, "attempt")) == Some(2)
        }),
        filter(
            r#"{ resource.host.name = "node-1" && span.http.method = "POST" }"#,
            |t, i| {
                is_str(t.resource_attr(i, "host.name"), "node-1")
                    && is_str(t.span_attr(i, "http.method"), "POST")
            },
        ),
        filter(
            r#"{ span.http.method = "POST" || span.http.status_code = 201 }"#,
            |t, i| is_str(t.span_attr(i, "http.method"), "POST") || status_code(t, i) == Some(201),
        ),
        filter(r#"{ name =~ "GET /.*" }"#, |t, i| {
            t.spans[i].name.starts_with("GET /")
        }),
        // Regexes are anchored: "query" matches no "query users".
        nothing(filter(r#"{ name =~ "query" }"#, |_, _| false)),
        filter(
            r#"{ span.db.statement !~ "SELECT .* FROM users" }"#,
            |t, i| matches!(t.span_attr(i, "db.statement"), Some(Val::Str(s)) if s != "SELECT * FROM users"),
        ),
        filter("{ span.cache.hit != nil }", |t, i| {
            t.span_attr(i, "cache.hit").is_some()
        }),
        filter(
            r#"{ resource.service.name = "api" && span.http.status_code = nil }"#,
            |t, i| svc(t, i, API) && t.span_attr(i, "http.status_code").is_none(),
        ),
        filter("{ status = error }", error),
        filter(r#"{ statusMessage = "connection refused" }"#, |t, i| {
            t.spans[i].message == "connection refused"
        }),
        filter("{ kind = producer || kind = consumer }", |t, i| {
            kind(t, i, Kind::Producer) || kind(t, i, Kind::Consumer)
        }),
        filter(
            r#"{ duration > 20ms && kind = server && resource.service.name = "db" }"#,
            |t, i| t.spans[i].duration() > 20 * MS && kind(t, i, Kind::Server) && svc(t, i, DB),
        ),
        filter(r#"{ name = "GET /a" }"#, |t, i| name(t, i, "GET /a")),
        filter(
            r#"{ rootServiceName = "frontend" && status = error }"#,
            |t, i| root_service_is(t, FRONTEND) && error(t, i),
        ),
        filter("{ traceDuration > 400ms }", |t, _| t.duration() > 400 * MS),
        filter(
            r#"{ trace:rootService = "frontend" && span:name = "authorize" }"#,
            |t, i| root_service_is(t, FRONTEND) && name(t, i, "authorize"),
        ),
        filter(
            &format!(r#"{{ span:id = "{picked_hex}" }}"#),
            move |t, i| t.spans[i].id == picked,
        ),
        filter(r#"{ event.exception.type = "Timeout" }"#, |t, i| {
            t.spans[i]
                .events
                .iter()
                .any(|e| is_str(e.attrs.get("exception.type"), "Timeout"))
        }),
        filter(r#"{ event:name = "cache.miss" }"#, |t, i| {
            t.spans[i].events.iter().any(|e| e.name == "cache.miss")
        }),
        // Structural operators.
        op(
            r#"{ name = "GET /a" } >> { resource.service.name = "db" }"#,
            Rel::Descendant,
            Mode::Plain,
            |t, i| name(t, i, "GET /a"),
            |t, i| svc(t, i, DB),
        ),
        op(
            r#"{ kind = server && resource.service.name = "api" } > { kind = client }"#,
            Rel::Child,
            Mode::Plain,
            |t, i| kind(t, i, Kind::Server) && svc(t, i, API),
            |t, i| kind(t, i, Kind::Client),
        ),
        op(
            "{ status = error } < { kind = client }",
            Rel::Parent,
            Mode::Plain,
            error,
            |t, i| kind(t, i, Kind::Client),
        ),
        op(
            "{ status = error } << { kind = server }",
            Rel::Ancestor,
            Mode::Plain,
            error,
            |t, i| kind(t, i, Kind::Server),
        ),
        op(
            r#"{ name = "authorize" } ~ { kind = client }"#,
            Rel::Sibling,
            Mode::Plain,
            |t, i| name(t, i, "authorize"),
            |t, i| kind(t, i, Kind::Client),
        ),
        op(
            r#"{ name = "SELECT" } ~ { name = "SELECT" }"#,
            Rel::Sibling,
            Mode::Plain,
            |t, i| name(t, i, "SELECT"),
            |t, i| name(t, i, "SELECT"),
        ),
        // In a trace without its root these two are siblings under the missing span.
        op(
            r#"{ name = "render" } ~ { name = "call api" }"#,
            Rel::Sibling,
            Mode::Plain,
            |t, i| name(t, i, "render"),
            |t, i| name(t, i, "call api"),
        ),
        op(
            "{ kind = client } !> { kind = server }",
            Rel::Child,
            Mode::Not,
            |t, i| kind(t, i, Kind::Client),
            |t, i| kind(t, i, Kind::Server),
        ),
        op(
            r#"{ status = error } !< { kind = client && resource.service.name = "api" }"#,
            Rel::Parent,
            Mode::Not,
            error,
            |t, i| kind(t, i, Kind::Client) && svc(t, i, API),
        ),
        op(
            r#"{ name = "GET /b" } !>> { resource.service.name = "db" }"#,
            Rel::Descendant,
            Mode::Not,
            |t, i| name(t, i, "GET /b"),
            |t, i| svc(t, i, DB),
        ),
        op(
            "{ status = error } !<< { kind = server }",
            Rel::Ancestor,
            Mode::Not,
            error,
            |t, i| kind(t, i, Kind::Server),
        ),
        op(
            r#"{ name = "authorize" } !~ { kind = client && resource.service.name = "api" }"#,
            Rel::Sibling,
            Mode::Not,
            |t, i| name(t, i, "authorize"),
            |t, i| kind(t, i, Kind::Client) && svc(t, i, API),
        ),
        op(
            r#"{ name = "SELECT" } &> { status = error }"#,
            Rel::Child,
            Mode::Union,
            |t, i| name(t, i, "SELECT"),
            error,
        ),
        op(
            "{ status = error } &< { kind = client }",
            Rel::Parent,
            Mode::Union,
            error,
            |t, i| kind(t, i, Kind::Client),
        ),
        op(
            r#"{ name = "GET /a" } &>> { status = error && resource.service.name = "db" }"#,
            Rel::Descendant,
            Mode::Union,
            |t, i| name(t, i, "GET /a"),
            |t, i| error(t, i) && svc(t, i, DB),
        ),
        op(
            r#"{ kind = consumer } &<< { kind = server }"#,
            Rel::Ancestor,
            Mode::Union,
            |t, i| kind(t, i, Kind::Consumer),
            |t, i| kind(t, i, Kind::Server),
        ),
        op(
            r#"{ name = "authorize" } &~ { name = "cache get" }"#,
            Rel::Sibling,
            Mode::Union,
            |t, i| name(t, i, "authorize"),
            |t, i| name(t, i, "cache get"),
        ),
        // Spanset operators.
        row(
            r#"{ resource.service.name = "cache" && span.cache.hit = false } && { status = error }"#,
            |t| {
                let a = spans(t, &|t: &GTrace, i| {
                    svc(t, i, CACHE) && t.span_attr(i, "cache.hit") == Some(&Val::Bool(false))
                });
                let b = spans(t, &error);
                if a.is_empty() || b.is_empty() {
                    return Vec::new();
                }
                one(a.union(&b).copied().collect())
            },
        ),
        row(
            r#"{ kind = producer } || { statusMessage = "timeout after 3s" }"#,
            |t| {
                let a = spans(t, &|t: &GTrace, i| kind(t, i, Kind::Producer));
                let b = spans(t, &|t: &GTrace, i| t.spans[i].message == "timeout after 3s");
                one(a.union(&b).copied().collect())
            },
        ),
        // Aggregates.
        row(r#"{ resource.service.name = "db" } | count() > 1"#, |t| {
            let s = spans(t, &|t: &GTrace, i| svc(t, i, DB));
            if s.len() > 1 { one(s) } else { Vec::new() }
        }),
        row(
            r#"{ resource.service.name = "db" } | avg(duration) > 20ms"#,
            |t| {
                let s = spans(t, &|t: &GTrace, i| svc(t, i, DB));
                let sum: u64 = s.iter().map(|&i| t.spans[i].duration()).sum();
                // avg > 20 ms, in integers.
                if !s.is_empty() && sum > 20 * MS * s.len() as u64 {
                    one(s)
                } else {
                    Vec::new()
                }
            },
        ),
        by_service(
            "{ kind = server } | by(resource.service.name)",
            |t, i| kind(t, i, Kind::Server),
            0,
        ),
        by_service(
            "{ } | by(resource.service.name) | count() > 2",
            |_, _| true,
            2,
        ),
    ];
    let mut select = filter(
        r#"{ resource.service.name = "db" } | select(span.db.system, resource.host.name)"#,
        |t, i| svc(t, i, DB),
    );
    select.select = vec![("db.system", Scope::Span), ("host.name", Scope::Resource)];
    rows.push(select);
    let mut select = filter(r#"{ kind = consumer } | select(span.tags)"#, |t, i| {
        kind(t, i, Kind::Consumer)
    });
    select.select = vec![("tags", Scope::Span)];
    rows.push(select);
    rows
}

/// The traces `row` must return from `traces`, in answer order, with their span sets.
pub(crate) fn expected<'t>(row: &Row, traces: &'t [GTrace]) -> Vec<(&'t GTrace, Groups)> {
    let mut want: Vec<(&GTrace, Groups)> = traces
        .iter()
        .map(|t| (t, row.expect(t)))
        .filter(|(_, g)| !g.is_empty())
        .collect();
    want.sort_by_key(|(t, _)| (Reverse(t.start()), t.id));
    want
}

/// `filter | by(resource.service.name)` keeping the groups of more than `more_than` spans.
fn by_service(q: &str, p: impl Fn(&GTrace, usize) -> bool + 'static, more_than: usize) -> Row {
    let mut r = row(q, move |t| {
        let mut groups: BTreeMap<String, Set> = BTreeMap::new();
        for i in spans(t, &p) {
            groups
                .entry(t.spans[i].service.to_owned())
                .or_default()
                .insert(i);
        }
        groups
            .into_iter()
            .filter(|(_, s)| s.len() > more_than)
            .map(|(k, s)| (Some(k), s))
            .collect()
    });
    r.by = Some("by(resource.service.name)");
    r
}

#[cfg(test)]
mod tests {
    use super::super::data::{GSpan, SEC, SEED_A, SEED_B, generate, rootless};
    use super::*;

    fn span(id: u8, parent: Option<u8>, service: &'static str, name: &str) -> GSpan {
        GSpan {
            id: [id; 8],
            parent: parent.map(|p| [p; 8]),
            service,
            name: name.to_owned(),
            kind: Kind::Internal,
            code: Code::Unset,
            message: String::new(),
            start: u64::from(id) * MS,
            end: u64::from(id) * MS + MS,
            attrs: Default::default(),
            events: Vec::new(),
            links: Vec::new(),
        }
    }

    /// root(1) → a(2) → {b(3) → d(5), c(4)}; e(6) under a missing span 9.
    fn tiny() -> GTrace {
        GTrace {
            id: [7; 16],
            spans: vec![
                span(1, None, FRONTEND, "root"),
                span(2, Some(1), API, "a"),
                span(3, Some(2), API, "b"),
                span(4, Some(2), DB, "c"),
                span(5, Some(3), DB, "d"),
                span(6, Some(9), QUEUE, "e"),
            ],
            resources: Default::default(),
        }
    }

    fn set(xs: &[usize]) -> Set {
        xs.iter().copied().collect()
    }

    #[test]
    fn structural_operators_on_a_hand_built_trace() {
        let t = tiny();
        let all = set(&[0, 1, 2, 3, 4, 5]);
        let a = set(&[1]); // span 2
        let run = |rel, mode, l: &Set, r: &Set| structural(&t, rel, mode, l, r);
        assert_eq!(run(Rel::Child, Mode::Plain, &a, &all), set(&[2, 3]));
        assert_eq!(run(Rel::Descendant, Mode::Plain, &a, &all), set(&[2, 3, 4]));
        assert_eq!(run(Rel::Parent, Mode::Plain, &a, &all), set(&[0]));
        assert_eq!(
            run(Rel::Ancestor, Mode::Plain, &set(&[4]), &all),
            set(&[0, 1, 2])
        );
        assert_eq!(run(Rel::Sibling, Mode::Plain, &set(&[2]), &all), set(&[3]));
        assert_eq!(run(Rel::Child, Mode::Not, &a, &all), set(&[0, 1, 4, 5]));
        assert_eq!(
            run(Rel::Descendant, Mode::Not, &set(&[0]), &all),
            set(&[0, 5])
        );
        assert_eq!(
            run(Rel::Sibling, Mode::Not, &set(&[2]), &all),
            set(&[0, 1, 2, 4, 5])
        );
        // d's ancestors among {root, b, c}, with d itself: root, b and d.
        assert_eq!(
            run(Rel::Ancestor, Mode::Union, &set(&[4]), &set(&[0, 2, 3])),
            set(&[0, 2, 4])
        );
        assert_eq!(
            run(Rel::Child, Mode::Union, &set(&[1, 2]), &set(&[4])),
            set(&[2, 4])
        );
        assert!(
            !t.are_siblings(0, 5),
            "the root and an orphan are not siblings"
        );
        assert_eq!(t.parent(5), None);
    }

    #[test]
    fn generated_data_has_the_facts_the_queries_rely_on() {
        let now = 1_800_000_000 * SEC;
        let other = generate(SEED_B, 12, now);
        let data = generate(SEED_A, 90, now);
        assert_eq!(data.len(), 90);
        assert!(data.iter().all(|t| other.iter().all(|o| o.id != t.id)));
        // Unique IDs; roots first in time; children inside their parents.
        let ids: BTreeSet<_> = data.iter().map(|t| t.id).collect();
        assert_eq!(ids.len(), 90);
        let spans: BTreeSet<_> = data
            .iter()
            .flat_map(|t| t.spans.iter().map(|s| s.id))
            .collect();
        assert_eq!(
            spans.len(),
            data.iter().map(|t| t.spans.len()).sum::<usize>()
        );
        for (i, t) in data.iter().enumerate() {
            assert_eq!(t.root().is_none(), rootless(i), "trace {i}");
            if let Some(root) = t.root() {
                assert_eq!(root.start, t.start());
                assert_eq!(root.end, t.end());
            }
            assert_eq!(t.duration() % MS, 0, "whole milliseconds");
            assert!(t.end() < now - 28 * SEC, "ends in the past");
            for (k, s) in t.spans.iter().enumerate() {
                if let Some(p) = t.parent(k) {
                    // (A consumer may outlast its producer, never the trace.)
                    assert!(t.spans[p].start < s.start && s.end <= t.end(), "{i}/{k}");
                }
            }
        }
        // Traces 0 and 1 tie at the latest start; 1 has the smaller ID, with leading zeros.
        assert_eq!(data[0].start(), data[1].start());
        assert!(data.iter().skip(2).all(|t| t.start() < data[0].start()));
        assert!(data[1].id < data[0].id && data[1].id[..2] == [0, 0]);
        let mut starts: Vec<u64> = data.iter().skip(1).map(GTrace::start).collect();
        starts.sort_unstable();
        starts.dedup();
        assert_eq!(starts.len(), 89, "all other starts distinct");
        // The unscoped precedence is pinned: some api span overrides the resource's `tier`.
        assert!(data.iter().any(|t| (0..t.spans.len()).any(|i| {
            is_str(t.resource_attr(i, "tier"), "core") && is_str(t.unscoped(i, "tier"), "override")
        })));

        // Every query is discriminating: it matches something (or, when it must not, nothing)
        // and, apart from `{}`, not every span of every trace.
        let all: usize = data.iter().map(|t| t.spans.len()).sum();
        for r in rows(&data) {
            let matched: Vec<Groups> = data.iter().map(|t| r.expect(t)).collect();
            let traces = matched.iter().filter(|g| !g.is_empty()).count();
            let spans: usize = matched.iter().flatten().map(|(_, s)| s.len()).sum();
            if r.none {
                assert_eq!(traces, 0, "{}", r.q);
                continue;
            }
            assert!(traces > 0, "{} matches no trace", r.q);
            if r.q != "{}" && r.by.is_none() {
                assert!(spans < all, "{} matches every span", r.q);
            }
        }

        // Hand-checked: `{}` matches every span; SELECT ~ SELECT only traces with two SELECTs.
        let table = rows(&data);
        let every = table.iter().find(|r| r.q == "{}").expect("{} row");
        assert!(
            data.iter()
                .all(|t| every.expect(t) == one((0..t.spans.len()).collect()))
        );
        let twins = table
            .iter()
            .find(|r| r.q.contains(r#""SELECT" } ~"#))
            .expect("sibling row");
        for t in &data {
            let selects = t.spans.iter().filter(|s| s.name == "SELECT").count();
            let want = if selects == 2 { 2 } else { 0 };
            let got: usize = twins.expect(t).iter().map(|(_, s)| s.len()).sum();
            assert_eq!(got, want);
        }
    }
}
