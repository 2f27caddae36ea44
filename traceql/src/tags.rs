//! Tempo's non-TraceQL query inputs turned into TraceQL: tag search pairs, tag identifiers of
//! the v2 tag-values path, and the possibly incomplete query Grafana's editor sends.

use crate::ast::*;
use crate::error::{Error, ValidateError};
use crate::parser::parse;

fn invalid(msg: String) -> Error {
    Error::Validate(ValidateError::Invalid(msg))
}

/// Tempo's tag search (`tags=k=v …`, already split into pairs) as a query: `{c1} && {c2} && …`
/// (every pair holds on some span of the trace). `service.name`, `name`, `root.service.name`
/// and `root.name` match as a case-sensitive substring; `status.code` takes `unset`, `ok` or
/// `error`; `http.status_code` an integer; any other key is an exact string match on the
/// unscoped attribute. No pairs: `{}`.
pub fn tag_query(pairs: &[(String, String)]) -> Result<Query, Error> {
    let mut expr: Option<SpansetExpr> = None;
    for (key, value) in pairs {
        let cond = tag_condition(key, value)?;
        let filter = SpansetExpr::Filter(Some(cond));
        expr = Some(match expr {
            None => filter,
            Some(lhs) => SpansetExpr::Binary {
                op: SpansetOp::And,
                lhs: Box::new(lhs),
                rhs: Box::new(filter),
            },
        });
    }
    let query = Query {
        root: RootExpr::Pipeline(Pipeline {
            stages: vec![Stage::Spanset(expr.unwrap_or(SpansetExpr::Filter(None)))],
        }),
        hints: Vec::new(),
    };
    query.validate()?;
    Ok(query)
}

fn tag_condition(key: &str, value: &str) -> Result<FieldExpr, Error> {
    let binary = |op, lhs: FieldExpr, rhs: Static| FieldExpr::Binary {
        op,
        lhs: Box::new(lhs),
        rhs: Box::new(FieldExpr::Static(rhs)),
    };
    let substring = |field: FieldExpr| {
        let pattern = format!(".*{}.*", regex::escape(value));
        binary(BinaryOp::Regex, field, Static::String(pattern))
    };
    let attribute = |scope, name: &str| {
        FieldExpr::Attribute(Attribute {
            scope,
            parent: false,
            name: name.to_owned(),
        })
    };
    Ok(match key {
        "service.name" => substring(attribute(Scope::Resource, "service.name")),
        "name" => substring(FieldExpr::Intrinsic(Intrinsic::Name)),
        "root.service.name" => substring(FieldExpr::Intrinsic(Intrinsic::RootServiceName)),
        "root.name" => substring(FieldExpr::Intrinsic(Intrinsic::RootName)),
        "status.code" => {
            let status = Status::ALL
                .into_iter()
                .find(|s| s.keyword() == value)
                .ok_or_else(|| invalid(format!("invalid status.code {value:?}")))?;
            binary(
                BinaryOp::Cmp(CmpOp::Eq),
                FieldExpr::Intrinsic(Intrinsic::Status),
                Static::Status(status),
            )
        }
        "http.status_code" => {
            let code: i64 = value
                .trim()
                .parse()
                .map_err(|_| invalid(format!("invalid http.status_code {value:?}")))?;
            binary(
                BinaryOp::Cmp(CmpOp::Eq),
                attribute(Scope::None, "http.status_code"),
                Static::Int(code),
            )
        }
        "" => return Err(invalid("empty tag name".to_owned())),
        other => binary(
            BinaryOp::Cmp(CmpOp::Eq),
            attribute(Scope::None, other),
            Static::String(value.to_owned()),
        ),
    })
}

/// One identifier as in Tempo's v2 tag-values path: `resource.service.name`, `.foo`,
/// `span.http.method`, `span:name`, `status`, `event.x`, `name`, quoted names `span."a b"`.
/// `parent.` attributes and the `parent` intrinsic are refused (not evaluated).
pub fn parse_identifier(text: &str) -> Result<FieldExpr, Error> {
    let bad = || invalid(format!("not a tag identifier: {text:?}"));
    if text.trim().is_empty() || text.contains(['{', '}']) {
        return Err(bad());
    }
    let q = parse(&format!("{{ {text} }}")).map_err(|_| bad())?;
    let RootExpr::Pipeline(Pipeline { mut stages }) = q.root else {
        return Err(bad());
    };
    if stages.len() != 1 || !q.hints.is_empty() {
        return Err(bad());
    }
    match stages.pop() {
        Some(Stage::Spanset(SpansetExpr::Filter(Some(f)))) => match f {
            FieldExpr::Attribute(a) if !a.parent => Ok(FieldExpr::Attribute(a)),
            FieldExpr::Intrinsic(i) if i != Intrinsic::Parent => Ok(FieldExpr::Intrinsic(i)),
            _ => Err(bad()),
        },
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests;
