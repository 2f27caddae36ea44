//! Unit tests: lexing details, error positions, round trips of odd spellings.

use crate::*;

fn rt(q: &str) -> Query {
    let a = parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
    let shown = a.to_string();
    let b = parse(&shown).unwrap_or_else(|e| panic!("{q} -> {shown}: {e}"));
    assert_eq!(a, b, "{q} -> {shown}");
    a
}

#[test]
fn error_display_names_position_expected_and_found() {
    let e = parse("{ .a = 1 | count() }").unwrap_err();
    assert_eq!(e.pos, 9);
    assert_eq!(e.to_string(), r#"parse error at 9: expected "}" found "|""#);
    let e = parse("{ .a = 'x' }").unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"parse error at 7: expected a token found "'""#
    );
    let e = parse("{ .a = 1").unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"parse error at 8: expected "}" found end of input"#
    );
}

#[test]
fn durations_in_every_unit() {
    for (q, ns) in [
        ("1ns", 1i64),
        ("1us", 1_000),
        ("1µs", 1_000),
        ("2ms", 2_000_000),
        ("1.5s", 1_500_000_000),
        ("1m", 60_000_000_000),
        ("1h30m", 5_400_000_000_000),
        ("1d", 86_400_000_000_000),
    ] {
        let parsed = rt(&format!("{{ duration > {q} }}"));
        let RootExpr::Pipeline(p) = parsed.root else {
            panic!()
        };
        let Stage::Spanset(SpansetExpr::Filter(Some(FieldExpr::Binary { rhs, .. }))) = &p.stages[0]
        else {
            panic!()
        };
        assert_eq!(**rhs, FieldExpr::Static(Static::Duration(ns)), "{q}");
    }
    assert!(parse("{ duration > 1min }").is_err());
}

#[test]
fn integer_extremes() {
    rt("{ .a = -9223372036854775808 }");
    rt("{ .a = minInt }");
    rt("{ .a = maxInt }");
    assert!(parse("{ .a = 9223372036854775808 }").is_err());
    assert!(parse("{ .a = 99999999999999999999 }").is_err());
}

#[test]
fn strings_and_quoted_names() {
    let q = rt(r#"{ span."a \"b\" \\c" = `raw\n` && .x = "tab\there\u00e9\x41" }"#);
    let shown = q.to_string();
    assert!(shown.contains(r#"span."a \"b\" \\c""#), "{shown}");
    rt(r#"{ parent."span.x" = 1 }"#);
    rt("{ parent.span.x = 1 && parent.resource.y = 2 }");
    assert!(parse(r#"{ ."a\nb" = 1 }"#).is_err());
}

#[test]
fn negative_literals_and_negation_differ() {
    let a = rt("{ -(1) = -1 }");
    let b = rt("{ -1 = -1 }");
    assert_ne!(a, b);
    rt("{ --(1) = - -2 }");
    rt("{ !(.a * 2) = -.b }");
    rt("{ (!.a) * 2 = 1 }");
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!("{{ {}true{} }}", "(".repeat(5000), ")".repeat(5000));
    assert!(parse(&deep).is_err());
    let chain = format!("{{ .a{} = 1 }}", " + 1".repeat(5000));
    assert!(parse(&chain).is_err());
    let nots = format!("{{ {}true }}", "!".repeat(5000));
    assert!(parse(&nots).is_err());
    let spansets = format!("{{ }}{}", " && { }".repeat(5000));
    assert!(parse(&spansets).is_err());
}

#[test]
fn long_operator_chains_parse() {
    let ors = (0..400)
        .map(|i| format!(".a = {i}"))
        .collect::<Vec<_>>()
        .join(" || ");
    let q = rt(&format!("{{ {ors} }}"));
    assert!(q.is_supported());
    rt(&format!("{{ }}{}", " >> { .a }".repeat(300)));
}

#[test]
fn regexes_are_anchored() {
    let r = compile_regex("bar").unwrap();
    assert!(r.is_match("bar"));
    assert!(!r.is_match("foobar"));
    assert!(!r.is_match("barx"));
    let r = compile_regex("a|b").unwrap();
    assert!(r.is_match("a") && !r.is_match("ab"));
}

#[test]
fn scalar_filter_in_parentheses_round_trips() {
    rt("{ .a } | (1 + 2) * 3 < count()");
    rt("{ .a } | (count() > 1) && { .b }");
    rt("(({ .a } | count()) + ({ .b } | count())) + ({ .c } | count()) = 1");
}

#[test]
fn metrics_shapes_round_trip() {
    for q in [
        "{ } | rate()",
        "{ } | rate() > 6 | topk(2)",
        "({ } | rate() > 6) > 5",
        "({ } | rate()) > 1 / 2",
        "5 + (({ } | rate()) * 10)",
        "{ } | compare({ status = error }, 10, 1, 2)",
        "{ } | quantile_over_time(duration, 0, 0.5) by (name, .a)",
        "{ } | histogram_over_time(span:duration) with(sample=true, exemplars=5, x=\"y\", d=1s)",
    ] {
        rt(q);
    }
}

#[test]
fn kinds_of_validation_error() {
    let e = parse("{ 1 = \"a\" }").unwrap().validate().unwrap_err();
    assert!(!e.is_unsupported());
    let e = parse("{ parent.a = 1 }").unwrap().validate().unwrap_err();
    assert!(e.is_unsupported());
    // An invalid part wins over an unsupported one.
    let e = parse("{ parent.a = 1 && 1 = \"a\" }")
        .unwrap()
        .validate()
        .unwrap_err();
    assert!(!e.is_unsupported());
    assert!(parse("{ .a = [1, 2.5] }").unwrap().is_supported());
    assert!(parse("{ .a =~ [\"x.*\", \"y\"] }").unwrap().is_supported());
    assert!(parse("{ .a = [1, \"x\"] }").unwrap().validate().is_err());
    assert!(parse("{ .a > [1] }").unwrap().validate().is_err());
}

/// Found by the fuzzer: printing added parentheses around a `!` chain, which then nested past
/// the parser's limit on reparse.
#[test]
fn printing_does_not_nest_deeper_than_the_input() {
    let nots = "!".repeat(97);
    rt(&format!("{{{nots} .a =~ \"x\" }}"));
    rt("{ .x * !.a }");
    rt("{ .x * !.a * .b }");
    rt("{ (.x * !.a) * .b }");
    rt("{ (!.a) * .b }");
    rt("{ !.a = .b && !.c }");
    rt("{ -.a ^ 2 = --.b }");
}
