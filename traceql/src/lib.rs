//! TraceQL: the lexer, parser, AST and validation (planner and evaluator to come, over a
//! `SpanSource` port). Pure: no IO, no knowledge of where spans are stored.
//!
//! `parse` turns text into a [`Query`]; [`Query::validate`] applies Tempo's checks after
//! parsing and tells invalid queries from ones the engine does not evaluate; `Display` prints
//! a query that parses back to the same tree.

mod ast;
mod display;
mod error;
mod lexer;
mod parser;
mod validate;

pub use ast::*;
pub use error::{Error, ParseError, ValidateError};
pub use parser::parse;
pub use validate::compile_regex;

/// Parses and validates: the query the engine can run, or why not.
pub fn parse_valid(src: &str) -> Result<Query, Error> {
    let q = parse(src)?;
    q.validate()?;
    Ok(q)
}

#[cfg(test)]
mod tests;
