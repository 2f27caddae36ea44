//! The project's own query table (`queries.yaml`, next to this file): every query behaves as
//! its section says, and every query that parses prints back to text that parses to the same
//! tree.

use std::collections::BTreeMap;

use sextant_traceql::{ValidateError, parse};

fn table() -> BTreeMap<String, Vec<String>> {
    serde_yaml::from_str(include_str!("queries.yaml")).expect("queries.yaml parses")
}

fn outcome(q: &str) -> Result<&'static str, String> {
    let parsed = match parse(q) {
        Ok(p) => p,
        Err(_) => return Ok("parse_fails"),
    };
    let shown = parsed.to_string();
    match parse(&shown) {
        Ok(again) if again == parsed => {}
        Ok(again) => return Err(format!("{q:?} printed as {shown:?} reparses to {again:?}")),
        Err(e) => return Err(format!("{q:?} printed as {shown:?} does not parse: {e}")),
    }
    Ok(match parsed.validate() {
        Ok(()) => "valid",
        Err(ValidateError::Unsupported(_)) => "unsupported",
        Err(ValidateError::Invalid(_)) => "validate_fails",
    })
}

#[test]
fn every_section_behaves_as_named() {
    let table = table();
    let mut total = 0;
    let mut wrong = Vec::new();
    for section in ["valid", "parse_fails", "validate_fails", "unsupported"] {
        let queries = &table[section];
        assert!(!queries.is_empty(), "{section} is empty");
        for q in queries {
            total += 1;
            match outcome(q) {
                Ok(got) if got == section => {}
                Ok(got) => wrong.push(format!("{section}: {q:?} was {got}")),
                Err(e) => wrong.push(e),
            }
        }
    }
    assert!(total >= 120, "only {total} queries");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn parse_errors_point_into_the_query() {
    for q in &table()["parse_fails"] {
        let e = parse(q).unwrap_err();
        assert!(e.pos <= q.len(), "{q:?}: {e}");
        assert!(q.is_char_boundary(e.pos), "{q:?}: {e}");
        assert!(
            e.to_string()
                .starts_with(&format!("parse error at {}: expected ", e.pos))
        );
    }
}
