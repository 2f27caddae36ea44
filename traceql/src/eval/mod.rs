//! The search engine: a spanset query compiled once ([`Search`]) and evaluated on one trace at
//! a time, with Tempo's semantics (`reference/tempo-spec.md` §7.4).
//!
//! Choices where Tempo leaves room:
//! - `by(f)`: spans where `f` is nil form their own group, which carries no `by(f)` attribute;
//!   groups come in order of their first span by start time.
//! - `coalesce()` drops the groups' attributes.
//! - A span's reported event (link) attribute is the first event (link) that has one; map and
//!   bytes values are never reported (they have no TraceQL literal).
//! - A status code or kind outside OTLP's enums is nil (matches nothing), so the engine never
//!   matches where the store's raw code comparison would not.
//! - Two spans without a parent are not siblings.

pub(crate) mod expr;
pub(crate) mod pipeline;
mod structural;
pub(crate) mod value;

use sextant_model::{FetchRequest, TimeRange};

use crate::ast::*;
use crate::error::{Error, EvalError, ValidateError};
use crate::view::TraceView;
use expr::{Ctx, Expr, Field};
use pipeline::{CPipeline, Set};

/// A compiled spanset query (search).
#[derive(Debug)]
pub struct Search {
    query: Query,
    pipeline: CPipeline,
    /// What each returned span reports: (key, field), in query order.
    report: Vec<(String, Expr)>,
}

/// One spanset of a matching trace.
#[derive(Debug, Clone, PartialEq)]
pub struct SpansetMatch {
    /// By start time, then index.
    pub spans: Vec<SpanMatch>,
    /// `by(...)` values and aggregates of the scalar filters (`("count()", 3)`).
    pub attributes: Vec<(String, Static)>,
}

/// One span of a spanset.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanMatch {
    /// Into the [`TraceView`].
    pub index: usize,
    /// The fields the query's filters compared and the selected ones, non-nil, each once.
    pub attributes: Vec<(String, Static)>,
}

impl Search {
    /// Validates and compiles. Refuses metrics queries, root scalar pipeline filters and
    /// whatever [`Query::validate`] calls unsupported.
    pub fn new(query: &Query) -> Result<Search, Error> {
        query.validate()?;
        let pipeline = match &query.root {
            RootExpr::Pipeline(p) => p,
            RootExpr::Metrics(_) => {
                return Err(unsupported("metrics queries are not evaluated by search"));
            }
            RootExpr::ScalarPipelineFilter(_) => {
                return Err(unsupported("arithmetic over scalar pipelines"));
            }
        };
        let compiled = CPipeline::compile(pipeline)
            .map_err(|e| Error::Validate(ValidateError::Invalid(e.message().to_owned())))?;
        let mut report: Vec<(String, Expr)> = Vec::new();
        let mut seen = Vec::new();
        compiled.filter_fields(&mut |f| {
            if let Some(key) = reported_key(f)
                && !seen.contains(f)
            {
                seen.push(f.clone());
                report.push((key, Expr::Field(f.clone())));
            }
        });
        for stage in &pipeline.stages {
            if let Stage::Select(fields) = stage {
                for e in fields {
                    let key = match e {
                        FieldExpr::Attribute(a) => a.name.clone(),
                        FieldExpr::Intrinsic(i) => i.text().to_owned(),
                        other => other.to_string(),
                    };
                    let expr = Expr::compile(e).map_err(|e| {
                        Error::Validate(ValidateError::Invalid(e.message().to_owned()))
                    })?;
                    report.push((key, expr));
                }
            }
        }
        Ok(Search {
            query: query.clone(),
            pipeline: compiled,
            report,
        })
    }

    /// The storage pre-filter for this query: a superset condition for "this trace can match".
    pub fn fetch_request(&self, range: TimeRange) -> FetchRequest {
        crate::plan::fetch_request(&self.query, range)
    }

    /// Evaluates on one trace: the spansets that match (empty: the trace does not match).
    pub fn evaluate(&self, trace: &TraceView<'_>) -> Result<Vec<SpansetMatch>, EvalError> {
        if trace.is_empty() {
            return Ok(Vec::new());
        }
        let all = Set {
            spans: (0..trace.len()).collect(),
            attributes: Vec::new(),
        };
        let sets = self.pipeline.run(trace, vec![all]);
        Ok(sets
            .into_iter()
            .filter(|s| !s.spans.is_empty())
            .map(|s| self.to_match(trace, s))
            .collect())
    }

    fn to_match(&self, view: &TraceView<'_>, set: Set) -> SpansetMatch {
        let mut spans = set.spans;
        spans.sort_by_key(|i| (view.span(*i).start_time_unix_nano, *i));
        spans.dedup();
        let spans = spans
            .into_iter()
            .map(|index| {
                let cx = Ctx::span(view, index);
                let mut attributes: Vec<(String, Static)> = Vec::new();
                for (key, e) in &self.report {
                    if attributes.iter().any(|(k, _)| k == key) {
                        continue;
                    }
                    let v = e.eval(&cx).to_static();
                    if v != Static::Nil {
                        attributes.push((key.clone(), v));
                    }
                }
                SpanMatch { index, attributes }
            })
            .collect();
        SpansetMatch {
            spans,
            attributes: set.attributes,
        }
    }
}

fn unsupported(why: &str) -> Error {
    Error::Validate(ValidateError::Unsupported(why.to_owned()))
}

/// The key a compared field is reported under, or `None` for the fields Tempo leaves out of
/// span attributes (the name, the duration, trace-level intrinsics).
fn reported_key(f: &Field) -> Option<String> {
    match f {
        Field::Attribute(a) => Some(a.name.clone()),
        Field::Intrinsic(i) => match i {
            Intrinsic::Name
            | Intrinsic::SpanName
            | Intrinsic::Duration
            | Intrinsic::SpanDuration
            | Intrinsic::TraceDuration
            | Intrinsic::TraceDurationScoped
            | Intrinsic::RootName
            | Intrinsic::TraceRootName
            | Intrinsic::RootServiceName
            | Intrinsic::TraceRootService
            | Intrinsic::TraceId
            | Intrinsic::Parent => None,
            other => Some(other.text().to_owned()),
        },
    }
}

#[cfg(test)]
mod tests;
