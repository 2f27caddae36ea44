//! TraceQL: the lexer, parser, AST, validation, planner and evaluator over a `SpanSource` port.
//! Pure: no IO, no knowledge of where spans are stored. (Filled in by the search issue.)
