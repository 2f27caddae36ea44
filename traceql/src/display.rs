//! Queries back to text that parses to the same tree. An operand gets parentheses when its
//! operator binds looser than the one it sits under (or as tight, on the side associativity
//! does not favour); long left-leaning chains therefore print flat, and reparse within the
//! parser's nesting limit.

use std::fmt::{self, Display, Formatter, Write};

use crate::ast::*;
use crate::lexer::ends_attribute;

/// Precedence of an arithmetic operator, and whether it groups to the right.
fn arith_prec(op: ArithOp) -> (u8, bool) {
    match op {
        ArithOp::Add | ArithOp::Sub => (5, false),
        ArithOp::Mul | ArithOp::Div | ArithOp::Mod => (9, false),
        ArithOp::Pow => (12, true),
    }
}

fn binary_prec(op: BinaryOp) -> (u8, bool) {
    match op {
        BinaryOp::And | BinaryOp::Or => (1, false),
        BinaryOp::Cmp(_) | BinaryOp::Regex | BinaryOp::NotRegex => (3, false),
        BinaryOp::Arith(a) => arith_prec(a),
    }
}

/// Whether an operand of precedence `inner` under an operator of precedence `outer` needs
/// parentheses; `left` says which side it is on.
fn needs_parens(inner: Option<(u8, bool)>, outer: (u8, bool), left: bool) -> bool {
    let Some((p, _)) = inner else {
        return false;
    };
    let (q, right_assoc) = outer;
    p < q || (p == q && left == right_assoc)
}

/// Writes `lhs op rhs`, parenthesising operands as precedence needs.
fn binary<T: Display>(
    f: &mut Formatter<'_>,
    prec: (u8, bool),
    symbol: &str,
    (lhs, lhs_prec): (&T, Option<(u8, bool)>),
    (rhs, rhs_prec): (&T, Option<(u8, bool)>),
) -> fmt::Result {
    if needs_parens(lhs_prec, prec, true) {
        write!(f, "({lhs})")?;
    } else {
        lhs.fmt(f)?;
    }
    write!(f, " {symbol} ")?;
    if needs_parens(rhs_prec, prec, false) {
        write!(f, "({rhs})")
    } else {
        rhs.fmt(f)
    }
}

fn join<T: Display>(f: &mut Formatter<'_>, items: &[T]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        item.fmt(f)?;
    }
    Ok(())
}

impl Display for Query {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.root.fmt(f)?;
        if !self.hints.is_empty() {
            f.write_str(" with(")?;
            join(f, &self.hints)?;
            f.write_char(')')?;
        }
        Ok(())
    }
}

impl Display for Hint {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.name, self.value)
    }
}

impl Display for RootExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            RootExpr::Pipeline(p) => p.fmt(f),
            RootExpr::ScalarPipelineFilter(s) => s.fmt(f),
            RootExpr::Metrics(m) => m.fmt(f),
        }
    }
}

impl Display for Pipeline {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for (i, s) in self.stages.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            s.fmt(f)?;
        }
        Ok(())
    }
}

impl Display for Stage {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Stage::Spanset(s) => s.fmt(f),
            Stage::ScalarFilter(s) => s.fmt(f),
            Stage::By(fields) => {
                f.write_str("by(")?;
                join(f, fields)?;
                f.write_char(')')
            }
            Stage::Select(fields) => {
                f.write_str("select(")?;
                join(f, fields)?;
                f.write_char(')')
            }
            Stage::Coalesce => f.write_str("coalesce()"),
        }
    }
}

impl Display for SpansetExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            SpansetExpr::Filter(None) => f.write_str("{ }"),
            SpansetExpr::Filter(Some(e)) => write!(f, "{{ {e} }}"),
            SpansetExpr::Wrapped(p) => write!(f, "({p})"),
            SpansetExpr::Binary { op, lhs, rhs } => {
                let prec = |e: &SpansetExpr| match e {
                    SpansetExpr::Binary { op, .. } => Some(spanset_prec(*op)),
                    _ => None,
                };
                binary(
                    f,
                    spanset_prec(*op),
                    op.symbol(),
                    (&**lhs, prec(lhs)),
                    (&**rhs, prec(rhs)),
                )
            }
        }
    }
}

impl Display for ScalarFilter {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.lhs, self.op.symbol(), self.rhs)
    }
}

impl Display for ScalarExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            ScalarExpr::Aggregate(a) => a.fmt(f),
            ScalarExpr::Static(s) => s.fmt(f),
            ScalarExpr::Wrapped(p, a) => write!(f, "({p} | {a})"),
            ScalarExpr::Binary { op, lhs, rhs } => {
                let prec = |e: &ScalarExpr| match e {
                    ScalarExpr::Binary { op, .. } => Some(arith_prec(*op)),
                    _ => None,
                };
                binary(
                    f,
                    arith_prec(*op),
                    op.symbol(),
                    (&**lhs, prec(lhs)),
                    (&**rhs, prec(rhs)),
                )
            }
        }
    }
}

impl Display for Aggregate {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.arg() {
            None => write!(f, "{}()", self.name()),
            Some(e) => write!(f, "{}({e})", self.name()),
        }
    }
}

impl Display for FieldExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        field(f, self, false)
    }
}

/// The precedence of the prefix `!`: it takes `* / % ^` into its operand (`!a * b` is
/// `!(a * b)`) but not the looser operators.
const NOT_PREC: u8 = 7;

/// Writes a field expression. `tight` says the text after it may start with an operator that
/// binds tighter than `!` (which a trailing `!x` would then swallow). Parentheses go only where
/// the tree needs them, so printing never nests deeper than the text that was parsed.
fn field(f: &mut Formatter<'_>, e: &FieldExpr, tight: bool) -> fmt::Result {
    match e {
        FieldExpr::Static(s) => s.fmt(f),
        FieldExpr::Intrinsic(i) => f.write_str(i.text()),
        FieldExpr::Attribute(a) => a.fmt(f),
        FieldExpr::Unary {
            op: UnaryOp::Not,
            expr,
        } => {
            if tight {
                return write!(f, "({e})");
            }
            f.write_char('!')?;
            match &**expr {
                FieldExpr::Binary { op, .. } if binary_prec(*op).0 < NOT_PREC => {
                    write!(f, "({expr})")
                }
                inner => field(f, inner, false),
            }
        }
        FieldExpr::Unary {
            op: UnaryOp::Neg,
            expr,
        } => {
            f.write_char('-')?;
            match &**expr {
                FieldExpr::Binary { .. } => write!(f, "({expr})"),
                FieldExpr::Static(s) if s.is_numeric() => write!(f, "({expr})"),
                inner => field(f, inner, tight),
            }
        }
        FieldExpr::Binary { op, lhs, rhs } => {
            let prec = binary_prec(*op);
            let of = |e: &FieldExpr| match e {
                FieldExpr::Binary { op, .. } => Some(binary_prec(*op)),
                _ => None,
            };
            if needs_parens(of(lhs), prec, true) {
                write!(f, "({lhs})")?;
            } else {
                field(f, lhs, prec.0 > NOT_PREC)?;
            }
            write!(f, " {} ", op.symbol())?;
            if needs_parens(of(rhs), prec, false) {
                write!(f, "({rhs})")
            } else {
                field(f, rhs, tight)
            }
        }
    }
}

impl Display for Attribute {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.parent {
            f.write_str("parent.")?;
            if self.scope != Scope::None {
                write!(f, "{}.", self.scope.prefix())?;
            }
        } else {
            write!(f, "{}.", self.scope.prefix())?;
        }
        let ambiguous = self.parent
            && self.scope == Scope::None
            && (self.name.starts_with("span.") || self.name.starts_with("resource."));
        let quote = self.name.is_empty()
            || ambiguous
            || self.name.chars().any(|c| ends_attribute(c) || c == '\\');
        if quote {
            f.write_char('"')?;
            for c in self.name.chars() {
                if c == '"' || c == '\\' {
                    f.write_char('\\')?;
                }
                f.write_char(c)?;
            }
            f.write_char('"')
        } else {
            f.write_str(&self.name)
        }
    }
}

impl Display for Static {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Static::Nil => f.write_str("nil"),
            Static::Bool(b) => write!(f, "{b}"),
            Static::Int(i) => write!(f, "{i}"),
            Static::Float(v) => {
                let s = v.to_string();
                f.write_str(&s)?;
                if !s.contains('.') {
                    f.write_str(".0")?;
                }
                Ok(())
            }
            Static::Duration(ns) => fmt_duration(f, *ns),
            Static::String(s) => fmt_string(f, s),
            Static::Status(s) => f.write_str(s.keyword()),
            Static::Kind(k) => f.write_str(k.keyword()),
            Static::Array(items) => {
                f.write_char('[')?;
                join(f, items)?;
                f.write_char(']')
            }
        }
    }
}

fn spanset_prec(op: SpansetOp) -> (u8, bool) {
    (if op.is_logical() { 1 } else { 3 }, false)
}

fn fmt_duration(f: &mut Formatter<'_>, ns: i64) -> fmt::Result {
    const UNITS: [(i64, &str); 6] = [
        (3_600_000_000_000, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "us"),
        (1, "ns"),
    ];
    for (n, unit) in UNITS {
        if ns % n == 0 {
            return write!(f, "{}{unit}", ns / n);
        }
    }
    write!(f, "{ns}ns")
}

fn fmt_string(f: &mut Formatter<'_>, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\t' => f.write_str("\\t")?,
            '\r' => f.write_str("\\r")?,
            c if (c as u32) < 0x20 || c as u32 == 0x7f => write!(f, "\\x{:02x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

impl Display for MetricsQuery {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.expr {
            MetricsExpr::Pipeline(p) if self.stages.is_empty() => p.fmt(f),
            e => {
                e.fmt(f)?;
                fmt_stages(f, &self.stages)
            }
        }
    }
}

impl Display for MetricsExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            MetricsExpr::Pipeline(p) => write!(f, "({p})"),
            MetricsExpr::Number(n) => n.fmt(f),
            MetricsExpr::Binary { op, lhs, rhs } => {
                let prec = |e: &MetricsExpr| match e {
                    MetricsExpr::Binary { op, .. } => Some(arith_prec(*op)),
                    _ => None,
                };
                binary(
                    f,
                    arith_prec(*op),
                    op.symbol(),
                    (&**lhs, prec(lhs)),
                    (&**rhs, prec(rhs)),
                )
            }
        }
    }
}

impl Display for MetricsPipeline {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} | {}", self.pipeline, self.function)?;
        if !self.by.is_empty() {
            f.write_str(" by (")?;
            join(f, &self.by)?;
            f.write_char(')')?;
        }
        fmt_stages(f, &self.stages)
    }
}

fn fmt_stages(f: &mut Formatter<'_>, stages: &[SecondStage]) -> fmt::Result {
    for s in stages {
        match s {
            SecondStage::TopK(n) => write!(f, " | topk({n})")?,
            SecondStage::BottomK(n) => write!(f, " | bottomk({n})")?,
            SecondStage::Filter(op, v) => write!(f, " {} {v}", op.symbol())?,
        }
    }
    Ok(())
}

impl Display for MetricsFunction {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.name())?;
        match self {
            MetricsFunction::Rate | MetricsFunction::CountOverTime => {}
            MetricsFunction::MinOverTime(e)
            | MetricsFunction::MaxOverTime(e)
            | MetricsFunction::AvgOverTime(e)
            | MetricsFunction::SumOverTime(e)
            | MetricsFunction::HistogramOverTime(e) => e.fmt(f)?,
            MetricsFunction::QuantileOverTime(e, qs) => {
                e.fmt(f)?;
                for q in qs {
                    f.write_str(", ")?;
                    Static::Float(*q).fmt(f)?;
                }
            }
            MetricsFunction::Compare {
                filter,
                top_n,
                window,
            } => {
                filter.fmt(f)?;
                if let Some(n) = top_n {
                    write!(f, ", {n}")?;
                }
                if let Some((s, e)) = window {
                    write!(f, ", {s}, {e}")?;
                }
            }
        }
        f.write_char(')')
    }
}
