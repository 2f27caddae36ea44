//! Recursive descent over the token list, with precedence climbing for the operator levels.
//!
//! The root is one of three shapes, told apart before parsing: a metrics query when a metrics
//! function (`rate(`, `compare(`, ...) appears; a scalar pipeline filter when the query opens
//! with a wrapped pipeline ending in an aggregate; otherwise a spanset pipeline.

use crate::ast::*;
use crate::error::ParseError;
use crate::lexer::{Tok, Token, lex};

mod metrics;
mod scalar;

/// How deeply the parser may recurse (parentheses, prefix operators, nested pipelines).
pub(crate) const MAX_NESTING: usize = 100;
/// How deep the tree may get, operator chains included (`.a = 1 || .a = 2 || ...`): keeps
/// `Display`, validation and `Drop` of the tree within the stack.
pub(crate) const MAX_DEPTH: usize = 1000;

type PResult<T> = Result<T, ParseError>;

/// Parses one TraceQL query. Validation is separate: [`Query::validate`].
pub fn parse(src: &str) -> Result<Query, ParseError> {
    let toks = lex(src)?;
    let matching = match_brackets(&toks);
    let mut p = Parser {
        src,
        toks,
        matching,
        i: 0,
        nesting: 0,
        depth: 0,
    };
    p.query()
}

/// For each opening bracket, the index of its closing one.
fn match_brackets(toks: &[Token]) -> Vec<Option<usize>> {
    let mut out = vec![None; toks.len()];
    let mut stack: Vec<(usize, Tok)> = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        match t.tok {
            Tok::LParen | Tok::LBrace | Tok::LBracket => stack.push((i, t.tok.clone())),
            Tok::RParen | Tok::RBrace | Tok::RBracket => {
                let want = match t.tok {
                    Tok::RParen => Tok::LParen,
                    Tok::RBrace => Tok::LBrace,
                    _ => Tok::LBracket,
                };
                if stack.last().is_some_and(|(_, o)| *o == want) {
                    let (o, _) = stack.pop().unwrap_or((0, Tok::Eof));
                    out[o] = Some(i);
                } else {
                    // Mismatched: leave the rest unmatched; the parser reports it.
                    stack.clear();
                }
            }
            _ => {}
        }
    }
    out
}

const AGGREGATES: [&str; 5] = ["count", "avg", "min", "max", "sum"];

fn is_cmp(t: &Tok) -> Option<CmpOp> {
    Some(match t {
        Tok::Eq => CmpOp::Eq,
        Tok::Ne => CmpOp::Ne,
        Tok::Gt => CmpOp::Gt,
        Tok::Ge => CmpOp::Ge,
        Tok::Lt => CmpOp::Lt,
        Tok::Le => CmpOp::Le,
        _ => return None,
    })
}

fn arith(t: &Tok) -> Option<ArithOp> {
    Some(match t {
        Tok::Plus => ArithOp::Add,
        Tok::Minus => ArithOp::Sub,
        Tok::Star => ArithOp::Mul,
        Tok::Slash => ArithOp::Div,
        Tok::Percent => ArithOp::Mod,
        Tok::Caret => ArithOp::Pow,
        _ => return None,
    })
}

/// Binding powers (left, right) of the arithmetic operators.
fn arith_bp(op: ArithOp) -> (u8, u8) {
    match op {
        ArithOp::Add | ArithOp::Sub => (5, 6),
        ArithOp::Mul | ArithOp::Div | ArithOp::Mod => (9, 10),
        ArithOp::Pow => (12, 11),
    }
}

fn spanset_op(t: &Tok) -> Option<SpansetOp> {
    Some(match t {
        Tok::AndAnd => SpansetOp::And,
        Tok::OrOr => SpansetOp::Or,
        Tok::Desc => SpansetOp::Descendant,
        Tok::Anc => SpansetOp::Ancestor,
        Tok::Gt => SpansetOp::Child,
        Tok::Lt => SpansetOp::Parent,
        Tok::Tilde => SpansetOp::Sibling,
        Tok::NotDesc => SpansetOp::NotDescendant,
        Tok::NotAnc => SpansetOp::NotAncestor,
        Tok::NotGt => SpansetOp::NotChild,
        Tok::NotLt => SpansetOp::NotParent,
        Tok::NotRe => SpansetOp::NotSibling,
        Tok::UnionDesc => SpansetOp::UnionDescendant,
        Tok::UnionAnc => SpansetOp::UnionAncestor,
        Tok::UnionGt => SpansetOp::UnionChild,
        Tok::UnionLt => SpansetOp::UnionParent,
        Tok::UnionTilde => SpansetOp::UnionSibling,
        _ => return None,
    })
}

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    matching: Vec<Option<usize>>,
    i: usize,
    nesting: usize,
    depth: usize,
}

impl Parser<'_> {
    // ---- token helpers ----

    fn tok(&self, i: usize) -> &Tok {
        self.toks.get(i).map_or(&Tok::Eof, |t| &t.tok)
    }

    fn peek(&self) -> &Tok {
        self.tok(self.i)
    }

    fn peek_ident(&self, n: usize) -> Option<&str> {
        match self.tok(self.i + n) {
            Tok::Ident(s) => Some(s),
            _ => None,
        }
    }

    fn bump(&mut self) {
        if self.i + 1 < self.toks.len() {
            self.i += 1;
        }
    }

    fn err(&self, expected: &str) -> ParseError {
        self.err_at(self.i, expected)
    }

    fn err_at(&self, i: usize, expected: &str) -> ParseError {
        let t = &self.toks[i.min(self.toks.len() - 1)];
        let found = if t.tok == Tok::Eof {
            "end of input".to_owned()
        } else {
            format!("{:?}", &self.src[t.pos..t.end])
        };
        ParseError::new(t.pos, expected, found)
    }

    fn expect(&mut self, t: Tok, expected: &str) -> PResult<()> {
        if *self.peek() == t {
            self.bump();
            Ok(())
        } else {
            Err(self.err(expected))
        }
    }

    fn is_call(&self, n: usize, names: &[&str]) -> bool {
        self.peek_ident(n).is_some_and(|s| names.contains(&s))
            && *self.tok(self.i + n + 1) == Tok::LParen
    }

    fn enter(&mut self) -> PResult<(usize, usize)> {
        let saved = (self.nesting, self.depth);
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(self.err("a less deeply nested expression"));
        }
        self.deeper()?;
        Ok(saved)
    }

    fn leave(&mut self, saved: (usize, usize)) {
        (self.nesting, self.depth) = saved;
    }

    fn deeper(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("a shorter chain of operators"));
        }
        Ok(())
    }

    /// Indexes of the tokens between `open` and its closing bracket, at nesting depth 0.
    fn depth0(&self, open: usize) -> Vec<usize> {
        let end = self.matching[open].unwrap_or(self.toks.len());
        self.depth0_range(open + 1, end)
    }

    fn depth0_range(&self, from: usize, end: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut j = from;
        while j < end {
            out.push(j);
            match self.tok(j) {
                Tok::LParen | Tok::LBrace | Tok::LBracket => match self.matching[j] {
                    Some(m) => j = m + 1,
                    None => break,
                },
                _ => j += 1,
            }
        }
        out
    }

    fn is_metrics_call(&self, j: usize) -> bool {
        matches!(self.tok(j), Tok::Ident(s) if MetricsFunction::NAMES.contains(&s.as_str()))
            && *self.tok(j + 1) == Tok::LParen
    }

    /// A `|` then a metrics function at depth 0 between `from` and `end`.
    fn has_metrics_pipe(&self, from: usize, end: usize) -> bool {
        self.depth0_range(from, end)
            .into_iter()
            .any(|j| *self.tok(j) == Tok::Pipe && self.is_metrics_call(j + 1))
    }

    /// `( pipeline | aggregate )` opening at `open`.
    fn is_wrapped_scalar_pipeline(&self, open: usize) -> bool {
        let Some(close) = self.matching[open] else {
            return false;
        };
        let inner = self.depth0(open);
        let Some(&last_pipe) = inner.iter().rev().find(|&&j| *self.tok(j) == Tok::Pipe) else {
            return false;
        };
        matches!(self.tok(last_pipe + 1), Tok::Ident(s) if AGGREGATES.contains(&s.as_str()))
            && *self.tok(last_pipe + 2) == Tok::LParen
            && self.matching[last_pipe + 2].is_some_and(|m| m + 1 == close)
    }

    // ---- root ----

    fn query(&mut self) -> PResult<Query> {
        let has_metrics = (0..self.toks.len()).any(|j| self.is_metrics_call(j));
        let root = if has_metrics {
            RootExpr::Metrics(self.metrics_root()?)
        } else if self.opens_scalar_pipeline_filter() {
            RootExpr::ScalarPipelineFilter(self.scalar_pipeline_filter()?)
        } else {
            RootExpr::Pipeline(self.pipeline(false)?.0)
        };
        let hints = self.hints()?;
        if *self.peek() != Tok::Eof {
            return Err(self.err("\"|\", \"with\" or end of query"));
        }
        Ok(Query { root, hints })
    }

    fn opens_scalar_pipeline_filter(&self) -> bool {
        let mut j = self.i;
        while *self.tok(j) == Tok::LParen {
            if self.is_wrapped_scalar_pipeline(j) {
                return true;
            }
            j += 1;
        }
        false
    }

    fn hints(&mut self) -> PResult<Vec<Hint>> {
        if self.peek_ident(0) != Some("with") {
            return Ok(Vec::new());
        }
        self.bump();
        self.expect(Tok::LParen, "\"(\"")?;
        let mut hints = Vec::new();
        loop {
            let Some(name) = self.peek_ident(0).map(str::to_owned) else {
                return Err(self.err("hint name"));
            };
            self.bump();
            self.expect(Tok::Eq, "\"=\"")?;
            let value = match self.peek().clone() {
                Tok::Str(s) => {
                    self.bump();
                    Static::String(s)
                }
                Tok::Ident(w) if w == "true" || w == "false" => {
                    self.bump();
                    Static::Bool(w == "true")
                }
                _ => self
                    .numeric_literal()?
                    .ok_or_else(|| self.err("hint value"))?,
            };
            hints.push(Hint { name, value });
            if *self.peek() == Tok::Comma {
                self.bump();
            } else {
                break;
            }
        }
        self.expect(Tok::RParen, "\",\" or \")\"")?;
        Ok(hints)
    }

    // ---- spanset pipelines ----

    /// Stages joined by `|`. With `stop_at_metrics`, stops after a `|` followed by a metrics
    /// function and says so.
    fn pipeline(&mut self, stop_at_metrics: bool) -> PResult<(Pipeline, bool)> {
        let saved = self.enter()?;
        let mut stages = vec![self.stage(true)?];
        let mut stopped = false;
        while *self.peek() == Tok::Pipe {
            if stop_at_metrics && self.is_metrics_call(self.i + 1) {
                self.bump();
                stopped = true;
                break;
            }
            self.bump();
            stages.push(self.stage(false)?);
        }
        self.leave(saved);
        Ok((Pipeline { stages }, stopped))
    }

    fn stage(&mut self, first: bool) -> PResult<Stage> {
        match self.peek() {
            Tok::LBrace => Ok(Stage::Spanset(self.spanset_expr(0)?)),
            Tok::LParen => {
                if self.paren_starts_scalar_filter() {
                    Ok(Stage::ScalarFilter(self.scalar_filter()?))
                } else {
                    Ok(Stage::Spanset(self.spanset_expr(0)?))
                }
            }
            Tok::Int(_) | Tok::Float(_) | Tok::Duration(_) | Tok::Minus => {
                Ok(Stage::ScalarFilter(self.scalar_filter()?))
            }
            _ if self.is_call(0, &AGGREGATES) => Ok(Stage::ScalarFilter(self.scalar_filter()?)),
            _ if self.is_call(0, &["by"]) => {
                self.bump();
                self.bump();
                let mut fields = vec![self.field_expr(0)?];
                while *self.peek() == Tok::Comma {
                    self.bump();
                    fields.push(self.field_expr(0)?);
                }
                self.expect(Tok::RParen, "\",\" or \")\"")?;
                Ok(Stage::By(fields))
            }
            _ if self.is_call(0, &["select"]) => {
                self.bump();
                self.bump();
                Ok(Stage::Select(self.field_list()?))
            }
            _ if self.is_call(0, &["coalesce"]) && !first => {
                self.bump();
                self.bump();
                self.expect(Tok::RParen, "\")\"")?;
                Ok(Stage::Coalesce)
            }
            _ => Err(self.err("spanset filter")),
        }
    }

    /// `(1 + 2) * 3 < count()` rather than `({ a } | count() > 1) && { b }`.
    fn paren_starts_scalar_filter(&self) -> bool {
        let inner = self.depth0(self.i);
        let spanset_like = inner.iter().any(|&j| {
            let t = self.tok(j);
            *t == Tok::Pipe || is_cmp(t).is_some() || spanset_op(t).is_some()
        });
        if spanset_like {
            return false;
        }
        let mut j = self.i;
        while *self.tok(j) == Tok::LParen {
            j += 1;
        }
        match self.tok(j) {
            Tok::Int(_) | Tok::Float(_) | Tok::Duration(_) | Tok::Minus => true,
            Tok::Ident(s) => AGGREGATES.contains(&s.as_str()),
            _ => false,
        }
    }

    /// `( field, ... )` after the opening parenthesis: attributes and intrinsics only.
    fn field_list(&mut self) -> PResult<Vec<FieldExpr>> {
        let mut fields = vec![self.field_ref()?];
        while *self.peek() == Tok::Comma {
            self.bump();
            fields.push(self.field_ref()?);
        }
        self.expect(Tok::RParen, "\",\" or \")\"")?;
        Ok(fields)
    }

    fn field_ref(&mut self) -> PResult<FieldExpr> {
        let e = match self.peek().clone() {
            Tok::Attr(a) => FieldExpr::Attribute(a),
            Tok::Intrinsic(i) => FieldExpr::Intrinsic(i),
            Tok::Ident(w) => match Intrinsic::from_text(&w) {
                Some(i) => FieldExpr::Intrinsic(i),
                None => return Err(self.err("attribute or intrinsic")),
            },
            _ => return Err(self.err("attribute or intrinsic")),
        };
        self.bump();
        Ok(e)
    }

    fn spanset_expr(&mut self, min_bp: u8) -> PResult<SpansetExpr> {
        let saved = self.enter()?;
        let mut lhs = self.spanset_operand()?;
        while let Some(op) = spanset_op(self.peek()) {
            let bp = if op.is_logical() { 1 } else { 3 };
            if bp < min_bp {
                break;
            }
            self.bump();
            self.deeper()?;
            let rhs = self.spanset_expr(bp + 1)?;
            lhs = SpansetExpr::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            };
        }
        self.leave(saved);
        Ok(lhs)
    }

    fn spanset_operand(&mut self) -> PResult<SpansetExpr> {
        match self.peek() {
            Tok::LBrace => self.spanset_filter(),
            Tok::LParen => {
                self.bump();
                let (p, _) = self.pipeline(false)?;
                self.expect(Tok::RParen, "\"|\" or \")\"")?;
                let mut p = p;
                if p.stages.len() == 1
                    && matches!(p.stages[0], Stage::Spanset(_))
                    && let Some(Stage::Spanset(e)) = p.stages.pop()
                {
                    return Ok(e);
                }
                Ok(SpansetExpr::Wrapped(Box::new(p)))
            }
            _ => Err(self.err("spanset filter")),
        }
    }

    fn spanset_filter(&mut self) -> PResult<SpansetExpr> {
        self.expect(Tok::LBrace, "\"{\"")?;
        if *self.peek() == Tok::RBrace {
            self.bump();
            return Ok(SpansetExpr::Filter(None));
        }
        let e = self.field_expr(0)?;
        self.expect(Tok::RBrace, "\"}\"")?;
        Ok(SpansetExpr::Filter(Some(e)))
    }

    // ---- field expressions ----

    fn field_expr(&mut self, min_bp: u8) -> PResult<FieldExpr> {
        let saved = self.enter()?;
        let mut lhs = self.field_prefix()?;
        loop {
            let t = self.peek();
            let (op, l, r) = if let Some(c) = is_cmp(t) {
                (BinaryOp::Cmp(c), 3, 4)
            } else if let Some(a) = arith(t) {
                let (l, r) = arith_bp(a);
                (BinaryOp::Arith(a), l, r)
            } else {
                match t {
                    Tok::AndAnd => (BinaryOp::And, 1, 2),
                    Tok::OrOr => (BinaryOp::Or, 1, 2),
                    Tok::Re => (BinaryOp::Regex, 3, 4),
                    Tok::NotRe => (BinaryOp::NotRegex, 3, 4),
                    _ => break,
                }
            };
            if l < min_bp {
                break;
            }
            self.bump();
            self.deeper()?;
            let rhs = self.field_expr(r)?;
            lhs = FieldExpr::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            };
        }
        self.leave(saved);
        Ok(lhs)
    }

    fn field_prefix(&mut self) -> PResult<FieldExpr> {
        let t = self.peek().clone();
        match t {
            Tok::Not => {
                self.bump();
                let e = self.field_expr(7)?;
                Ok(FieldExpr::Unary {
                    op: UnaryOp::Not,
                    expr: Box::new(e),
                })
            }
            Tok::Minus => {
                if let Some(s) = self.numeric_literal()? {
                    return Ok(FieldExpr::Static(s));
                }
                self.bump();
                let e = self.field_expr(13)?;
                Ok(FieldExpr::Unary {
                    op: UnaryOp::Neg,
                    expr: Box::new(e),
                })
            }
            Tok::LParen => {
                self.bump();
                let e = self.field_expr(0)?;
                self.expect(Tok::RParen, "\")\"")?;
                Ok(e)
            }
            Tok::LBracket => {
                self.bump();
                let mut items = vec![self.array_item()?];
                while *self.peek() == Tok::Comma {
                    self.bump();
                    items.push(self.array_item()?);
                }
                self.expect(Tok::RBracket, "\",\" or \"]\"")?;
                Ok(FieldExpr::Static(Static::Array(items)))
            }
            Tok::Attr(a) => {
                self.bump();
                Ok(FieldExpr::Attribute(a))
            }
            Tok::Intrinsic(i) => {
                self.bump();
                Ok(FieldExpr::Intrinsic(i))
            }
            Tok::Ident(w) => {
                if let Some(i) = Intrinsic::from_text(&w) {
                    self.bump();
                    return Ok(FieldExpr::Intrinsic(i));
                }
                match self.scalar_static()? {
                    Some(s) => Ok(FieldExpr::Static(s)),
                    None => Err(self.err("field expression")),
                }
            }
            _ => match self.scalar_static()? {
                Some(s) => Ok(FieldExpr::Static(s)),
                None => Err(self.err("field expression")),
            },
        }
    }

    fn array_item(&mut self) -> PResult<Static> {
        self.scalar_static()?
            .ok_or_else(|| self.err("array element"))
    }

    /// Any literal but an array.
    fn scalar_static(&mut self) -> PResult<Option<Static>> {
        if let Some(n) = self.numeric_literal()? {
            return Ok(Some(n));
        }
        let s = match self.peek().clone() {
            Tok::Str(s) => Static::String(s),
            Tok::Ident(w) => match w.as_str() {
                "true" => Static::Bool(true),
                "false" => Static::Bool(false),
                "nil" => Static::Nil,
                "minInt" => Static::Int(i64::MIN),
                "maxInt" => Static::Int(i64::MAX),
                w => {
                    if let Some(s) = Status::ALL.into_iter().find(|s| s.keyword() == w) {
                        Static::Status(s)
                    } else if let Some(k) = Kind::ALL.into_iter().find(|k| k.keyword() == w) {
                        Static::Kind(k)
                    } else {
                        return Ok(None);
                    }
                }
            },
            _ => return Ok(None),
        };
        self.bump();
        Ok(Some(s))
    }

    /// An int, float or duration, with a leading minus folded in. `None` (nothing consumed) if
    /// the cursor is not on one.
    fn numeric_literal(&mut self) -> PResult<Option<Static>> {
        let neg = *self.peek() == Tok::Minus;
        let at = if neg { self.i + 1 } else { self.i };
        let out = match *self.tok(at) {
            Tok::Int(u) => Static::Int(self.signed(u, neg, at)?),
            Tok::Duration(u) => Static::Duration(self.signed(u, neg, at)?),
            Tok::Float(f) => Static::Float(if neg { -f } else { f }),
            _ => return Ok(None),
        };
        self.i = at;
        self.bump();
        Ok(Some(out))
    }

    fn signed(&self, u: u64, neg: bool, at: usize) -> PResult<i64> {
        if neg {
            if u <= 1u64 << 63 {
                Ok((u as i128).wrapping_neg() as i64)
            } else {
                Err(self.err_at(at, "number in range"))
            }
        } else {
            i64::try_from(u).map_err(|_| self.err_at(at, "number in range"))
        }
    }
}
