//! Parse and validation errors.

use std::fmt;

use sextant_model::ErrorKind;

/// The query is not TraceQL: where the parser stopped, what it wanted and what it saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset into the query.
    pub pos: usize,
    pub expected: String,
    pub found: String,
}

impl ParseError {
    pub(crate) fn new(pos: usize, expected: impl Into<String>, found: impl Into<String>) -> Self {
        ParseError {
            pos,
            expected: expected.into(),
            found: found.into(),
        }
    }

    /// A query the user got wrong.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::BadRequest
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "parse error at {}: expected {} found {}",
            self.pos, self.expected, self.found
        )
    }
}

impl std::error::Error for ParseError {}

/// The query parses but is rejected: a type error, a bad regex, or a construct the engine does
/// not evaluate (`Unsupported`, which Tempo reports the same way).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValidateError {
    Invalid(String),
    Unsupported(String),
}

impl ValidateError {
    pub fn message(&self) -> &str {
        match self {
            ValidateError::Invalid(m) | ValidateError::Unsupported(m) => m,
        }
    }

    pub fn is_unsupported(&self) -> bool {
        matches!(self, ValidateError::Unsupported(_))
    }

    /// Both are the user's to fix or avoid.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::BadRequest
    }
}

impl fmt::Display for ValidateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValidateError::Invalid(m) => write!(f, "invalid query: {m}"),
            ValidateError::Unsupported(m) => write!(f, "unsupported: {m}"),
        }
    }
}

impl std::error::Error for ValidateError {}

/// Parsing or validating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    Parse(ParseError),
    Validate(ValidateError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Parse(e) => e.fmt(f),
            Error::Validate(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {}

impl From<ParseError> for Error {
    fn from(e: ParseError) -> Self {
        Error::Parse(e)
    }
}

impl From<ValidateError> for Error {
    fn from(e: ValidateError) -> Self {
        Error::Validate(e)
    }
}

/// Evaluation failed on a trace (for example a regex that fails to compile at run time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalError {
    message: String,
}

impl EvalError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        EvalError {
            message: message.into(),
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The query asked for something that cannot be computed: the user's to fix.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::BadRequest
    }
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "evaluation error: {}", self.message)
    }
}

impl std::error::Error for EvalError {}
