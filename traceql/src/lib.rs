//! TraceQL: the lexer, parser, AST, validation, planner and evaluator. Pure: no IO, no
//! knowledge of where spans are stored.
//!
//! `parse` turns text into a [`Query`]; [`Query::validate`] applies Tempo's checks after
//! parsing and tells invalid queries from ones the engine does not evaluate; `Display` prints
//! a query that parses back to the same tree. [`Search`] compiles a spanset query once, lowers
//! it to the storage pre-filter ([`Search::fetch_request`]) and evaluates it on one trace at a
//! time ([`TraceView`]). [`Metrics`] does the same for a metrics query over a time [`Grid`],
//! accumulating series that can be split and merged. [`tag_query`], [`parse_identifier`] and
//! [`lenient_parse`] turn Tempo's other query inputs into TraceQL.

mod ast;
mod display;
mod error;
mod eval;
mod lenient;
mod lexer;
mod metrics;
mod parser;
mod plan;
mod tags;
mod validate;
mod view;

pub use ast::*;
pub use error::{Error, EvalError, ParseError, ValidateError};
pub use eval::{Search, SpanMatch, SpansetMatch};
pub use lenient::lenient_parse;
pub use metrics::{Grid, Metrics, MetricsOutput};
pub use parser::parse;
pub use tags::{parse_identifier, tag_query};
pub use validate::compile_regex;
pub use view::TraceView;

/// Parses and validates: the query the engine can run, or why not.
pub fn parse_valid(src: &str) -> Result<Query, Error> {
    let q = parse(src)?;
    q.validate()?;
    Ok(q)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod testtrace;
