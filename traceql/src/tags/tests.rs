//! Tag search pairs, tag identifiers and lenient parsing.

use proptest::prelude::*;

use crate::testtrace::sample;
use crate::*;

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn tag_queries() {
    let table: &[(&[(&str, &str)], &str)] = &[
        (&[], "{ }"),
        (
            &[("service.name", "front")],
            r#"{ resource.service.name =~ ".*front.*" }"#,
        ),
        (&[("name", "a.b")], r#"{ name =~ ".*a\\.b.*" }"#),
        (
            &[("root.service.name", "x"), ("root.name", "GET /")],
            r#"{ rootServiceName =~ ".*x.*" } && { rootName =~ ".*GET /.*" }"#,
        ),
        (&[("status.code", "error")], "{ status = error }"),
        (
            &[("http.status_code", "500")],
            "{ .http.status_code = 500 }",
        ),
        (
            &[("region", "eu"), ("a b", "x\"y")],
            r#"{ .region = "eu" } && { ."a b" = "x\"y" }"#,
        ),
    ];
    for (input, want) in table {
        let q = tag_query(&pairs(input)).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(q, parse(want).unwrap(), "{input:?}");
    }
    for bad in [
        &[("status.code", "bad")][..],
        &[("http.status_code", "5xx")],
        &[("", "x")],
    ] {
        assert!(tag_query(&pairs(bad)).is_err(), "{bad:?}");
    }
}

#[test]
fn tag_queries_match_substrings_case_sensitively() {
    let data = sample();
    let view = TraceView::new(&data);
    let count = |p: &[(&str, &str)]| {
        let search = Search::new(&tag_query(&pairs(p)).unwrap()).unwrap();
        search
            .evaluate(&view)
            .unwrap()
            .iter()
            .map(|s| s.spans.len())
            .sum::<usize>()
    };
    assert_eq!(count(&[("service.name", "ack")]), 5);
    assert_eq!(count(&[("service.name", "ACK")]), 0);
    assert_eq!(count(&[("name", "backend.")]), 4);
    // `.` is literal.
    assert_eq!(count(&[("name", "backend.d*")]), 0);
    assert_eq!(count(&[("root.name", "GET")]), 8);
    assert_eq!(
        count(&[("status.code", "error"), ("http.status_code", "500")]),
        3
    );
    assert_eq!(
        count(&[("status.code", "error"), ("http.status_code", "501")]),
        0
    );
    assert_eq!(count(&[("db.system", "mysql")]), 1);
    assert_eq!(count(&[("db.system", "mys")]), 0);
}

#[test]
fn identifiers() {
    let attr = |scope, name: &str| {
        FieldExpr::Attribute(Attribute {
            scope,
            parent: false,
            name: name.to_owned(),
        })
    };
    let table = [
        (
            "resource.service.name",
            attr(Scope::Resource, "service.name"),
        ),
        (".foo", attr(Scope::None, "foo")),
        ("span.http.method", attr(Scope::Span, "http.method")),
        ("event.x", attr(Scope::Event, "x")),
        ("link.x", attr(Scope::Link, "x")),
        ("instrumentation.x", attr(Scope::Instrumentation, "x")),
        (r#"span."a b""#, attr(Scope::Span, "a b")),
        ("span:name", FieldExpr::Intrinsic(Intrinsic::SpanName)),
        ("status", FieldExpr::Intrinsic(Intrinsic::Status)),
        ("name", FieldExpr::Intrinsic(Intrinsic::Name)),
        ("trace:id", FieldExpr::Intrinsic(Intrinsic::TraceId)),
        (" duration ", FieldExpr::Intrinsic(Intrinsic::Duration)),
    ];
    for (text, want) in table {
        assert_eq!(parse_identifier(text).ok(), Some(want), "{text}");
    }
    for bad in [
        "",
        "foo",
        "span.",
        ".a = 1",
        ".a } | { .b",
        "{ .a }",
        "parent.x",
        "parent",
        "1",
        "\"x\"",
        ".a .b",
        "count()",
    ] {
        assert!(parse_identifier(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn lenient_parsing() {
    let table: &[(&str, Option<&str>)] = &[
        (
            r#"{ resource.service.name = "a" }"#,
            Some(r#"{ resource.service.name = "a" }"#),
        ),
        (
            r#"{ resource.service.name = "a" && span."#,
            Some(r#"{ resource.service.name = "a" }"#),
        ),
        (
            r#"{ resource.service.name = "a" && span.http"#,
            Some(r#"{ resource.service.name = "a" }"#),
        ),
        (
            r#"{ resource.service.name = "a" && span.http = "#,
            Some(r#"{ resource.service.name = "a" }"#),
        ),
        (
            r#"{ resource.service.name = "a" && name = "unterminated"#,
            Some(r#"{ resource.service.name = "a" }"#),
        ),
        (r#"{ .a = 1 && .b = 2"#, Some(r#"{ .a = 1 && .b = 2 }"#)),
        (r#"{ .a = 1 } | "#, Some(r#"{ .a = 1 }"#)),
        (r#"{ .a = 1 } >> { .b"#, Some(r#"{ .a = 1 } >> { }"#)),
        (
            r#"{ .a = 1 } >> { .b = 2"#,
            Some(r#"{ .a = 1 } >> { .b = 2 }"#),
        ),
        (
            r#"({ .a = 1 } | count() > 1"#,
            Some(r#"({ .a = 1 } | count() > 1)"#),
        ),
        (r#"{ .a =~ "(" }"#, Some("{ }")),
        ("{", Some("{ }")),
        ("{ span.", Some("{ }")),
        ("", None),
        ("}", None),
        ("hello", None),
        // A metrics query: its spanset part.
        ("{ } | rate()", Some("{ }")),
        ("rate()", None),
        (r#"{ .a = 1 }}"#, Some(r#"{ .a = 1 }"#)),
    ];
    let mut failures = Vec::new();
    for (input, want) in table {
        let got = lenient_parse(input);
        let want = want.map(|w| parse(w).unwrap());
        if got != want {
            failures.push(format!(
                "{input:?}\n   want {}\n   got  {}",
                want.map(|q| q.to_string()).unwrap_or_default(),
                got.map(|q| q.to_string()).unwrap_or_default()
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

const VALID: [&str; 6] = [
    r#"{ resource.service.name = "a" && span.http.method =~ "GE.*" }"#,
    r#"{ .a = 1 } >> { .b != nil } | by(.c) | count() > 2"#,
    r#"({ name = "x" } | select(.y)) && { status = error || kind = server }"#,
    r#"{ span."a b" = `raw` && duration > 1.5ms } | avg(duration) > 1s"#,
    r#"{ .arr = [1, 2] } ~ { !(.x = true) } | coalesce()"#,
    "{ } | rate() by (name)",
];

proptest! {
    #[test]
    fn lenient_parse_never_panics(s in ".{0,80}") {
        let _ = lenient_parse(&s);
    }

    #[test]
    fn lenient_parse_gives_supported_searches(
        s in r#"[{}()\[\]|&!=~<>.,:"` a-z0-9]{0,60}"#
    ) {
        if let Some(q) = lenient_parse(&s) {
            prop_assert!(matches!(q.root, RootExpr::Pipeline(_)));
            prop_assert!(q.is_supported());
        }
    }

    #[test]
    fn prefixes_of_valid_queries(which in 0usize..6, cut in 0usize..200) {
        let q = VALID[which];
        let mut cut = cut.min(q.len());
        while !q.is_char_boundary(cut) {
            cut -= 1;
        }
        let got = lenient_parse(&q[..cut]);
        if cut == q.len() && which != 5 {
            prop_assert_eq!(got, Some(parse(q).unwrap()));
        } else if let Some(got) = got {
            prop_assert!(got.is_supported());
        }
    }
}
