//! Metrics queries: `pipeline | function by (...)`, second stages, and arithmetic over wrapped
//! metrics pipelines and numbers.

use super::{PResult, Parser, arith, arith_bp, is_cmp};
use crate::ast::*;
use crate::lexer::Tok;

impl Parser<'_> {
    pub(super) fn metrics_root(&mut self) -> PResult<MetricsQuery> {
        if self.has_metrics_pipe(self.i, self.toks.len()) {
            let mp = self.metrics_pipeline()?;
            return Ok(MetricsQuery {
                expr: MetricsExpr::Pipeline(Box::new(mp)),
                stages: Vec::new(),
            });
        }
        let start = self.i;
        let expr = self.metrics_expr(0)?;
        if !has_pipeline(&expr) {
            return Err(self.err_at(start, "metrics pipeline"));
        }
        let stages = self.second_stages()?;
        Ok(MetricsQuery { expr, stages })
    }

    pub(super) fn metrics_pipeline(&mut self) -> PResult<MetricsPipeline> {
        let (pipeline, stopped) = self.pipeline(true)?;
        if !stopped {
            return Err(self.err("\"|\" and a metrics function"));
        }
        let function = self.metrics_function()?;
        let by = if self.is_call(0, &["by"]) {
            self.bump();
            self.bump();
            self.field_list()?
        } else {
            Vec::new()
        };
        let stages = self.second_stages()?;
        Ok(MetricsPipeline {
            pipeline,
            function,
            by,
            stages,
        })
    }

    pub(super) fn metrics_function(&mut self) -> PResult<MetricsFunction> {
        let name = self.peek_ident(0).unwrap_or_default().to_owned();
        self.bump();
        self.expect(Tok::LParen, "\"(\"")?;
        let f = match name.as_str() {
            "rate" => MetricsFunction::Rate,
            "count_over_time" => MetricsFunction::CountOverTime,
            "min_over_time" => MetricsFunction::MinOverTime(self.field_ref()?),
            "max_over_time" => MetricsFunction::MaxOverTime(self.field_ref()?),
            "avg_over_time" => MetricsFunction::AvgOverTime(self.field_ref()?),
            "sum_over_time" => MetricsFunction::SumOverTime(self.field_ref()?),
            "histogram_over_time" => MetricsFunction::HistogramOverTime(self.field_ref()?),
            "quantile_over_time" => {
                let field = self.field_ref()?;
                let mut qs = Vec::new();
                while *self.peek() == Tok::Comma {
                    self.bump();
                    qs.push(match *self.peek() {
                        Tok::Int(u) => u as f64,
                        Tok::Float(f) => f,
                        _ => return Err(self.err("quantile")),
                    });
                    self.bump();
                }
                if qs.is_empty() {
                    return Err(self.err("\",\" and a quantile"));
                }
                MetricsFunction::QuantileOverTime(field, qs)
            }
            _ => {
                if *self.peek() != Tok::LBrace {
                    return Err(self.err("\"{\""));
                }
                let filter = self.spanset_filter()?;
                let mut ints = Vec::new();
                while *self.peek() == Tok::Comma && ints.len() < 3 {
                    self.bump();
                    match self.numeric_literal()? {
                        Some(Static::Int(n)) => ints.push(n),
                        _ => return Err(self.err("integer")),
                    }
                }
                let (top_n, window) = match ints[..] {
                    [] => (None, None),
                    [n] => (Some(n), None),
                    [n, s, e] => (Some(n), Some((s, e))),
                    _ => return Err(self.err("\",\" and the window end")),
                };
                MetricsFunction::Compare {
                    filter,
                    top_n,
                    window,
                }
            }
        };
        self.expect(Tok::RParen, "\")\"")?;
        Ok(f)
    }

    pub(super) fn second_stages(&mut self) -> PResult<Vec<SecondStage>> {
        let mut out = Vec::new();
        loop {
            if *self.peek() == Tok::Pipe && self.is_call(1, &["topk", "bottomk"]) {
                let top = self.peek_ident(1) == Some("topk");
                self.bump();
                self.bump();
                self.bump();
                let n = match *self.peek() {
                    Tok::Int(u) => self.signed(u, false, self.i)?,
                    _ => return Err(self.err("positive integer")),
                };
                self.bump();
                self.expect(Tok::RParen, "\")\"")?;
                out.push(if top {
                    SecondStage::TopK(n)
                } else {
                    SecondStage::BottomK(n)
                });
            } else if let Some(op) = is_cmp(self.peek()) {
                self.bump();
                out.push(SecondStage::Filter(op, self.threshold()?));
            } else {
                return Ok(out);
            }
        }
    }

    /// A duration, or constant arithmetic over ints and floats (folded).
    pub(super) fn threshold(&mut self) -> PResult<Static> {
        let neg = *self.peek() == Tok::Minus;
        if matches!(self.tok(self.i + usize::from(neg)), Tok::Duration(_)) {
            return self.numeric_literal()?.ok_or_else(|| self.err("duration"));
        }
        let start = self.i;
        let v = self.const_expr(0)?;
        match v {
            Static::Float(f) if !f.is_finite() => Err(self.err_at(start, "finite threshold")),
            v => Ok(v),
        }
    }

    pub(super) fn const_expr(&mut self, min_bp: u8) -> PResult<Static> {
        let saved = self.enter()?;
        let mut lhs = self.const_operand()?;
        while let Some(op @ (ArithOp::Add | ArithOp::Sub | ArithOp::Mul | ArithOp::Div)) =
            arith(self.peek())
        {
            let (l, r) = arith_bp(op);
            if l < min_bp {
                break;
            }
            let at = self.i;
            self.bump();
            self.deeper()?;
            let rhs = self.const_expr(r)?;
            lhs = fold(op, &lhs, &rhs).ok_or_else(|| self.err_at(at, "arithmetic in range"))?;
        }
        self.leave(saved);
        Ok(lhs)
    }

    pub(super) fn const_operand(&mut self) -> PResult<Static> {
        if *self.peek() == Tok::LParen {
            self.bump();
            let v = self.const_expr(0)?;
            self.expect(Tok::RParen, "\")\"")?;
            return Ok(v);
        }
        let neg = *self.peek() == Tok::Minus;
        if matches!(
            self.tok(self.i + usize::from(neg)),
            Tok::Int(_) | Tok::Float(_)
        ) && let Some(s) = self.numeric_literal()?
        {
            return Ok(s);
        }
        Err(self.err("number"))
    }

    pub(super) fn metrics_expr(&mut self, min_bp: u8) -> PResult<MetricsExpr> {
        let saved = self.enter()?;
        let mut lhs = self.metrics_operand()?;
        while let Some(op @ (ArithOp::Add | ArithOp::Sub | ArithOp::Mul | ArithOp::Div)) =
            arith(self.peek())
        {
            let (l, r) = arith_bp(op);
            if l < min_bp {
                break;
            }
            self.bump();
            self.deeper()?;
            let rhs = self.metrics_expr(r)?;
            lhs = MetricsExpr::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            };
        }
        self.leave(saved);
        Ok(lhs)
    }

    pub(super) fn metrics_operand(&mut self) -> PResult<MetricsExpr> {
        if *self.peek() == Tok::LParen {
            let open = self.i;
            let end = self.matching[open].unwrap_or(self.toks.len());
            self.bump();
            if self.has_metrics_pipe(open + 1, end) {
                let mp = self.metrics_pipeline()?;
                self.expect(Tok::RParen, "\")\"")?;
                return Ok(MetricsExpr::Pipeline(Box::new(mp)));
            }
            let e = self.metrics_expr(0)?;
            self.expect(Tok::RParen, "\")\"")?;
            return Ok(e);
        }
        let neg = *self.peek() == Tok::Minus;
        if matches!(
            self.tok(self.i + usize::from(neg)),
            Tok::Int(_) | Tok::Float(_)
        ) && let Some(s) = self.numeric_literal()?
        {
            return Ok(MetricsExpr::Number(s));
        }
        Err(self.err("wrapped metrics pipeline or number"))
    }
}

fn has_pipeline(e: &MetricsExpr) -> bool {
    match e {
        MetricsExpr::Pipeline(_) => true,
        MetricsExpr::Number(_) => false,
        MetricsExpr::Binary { lhs, rhs, .. } => has_pipeline(lhs) || has_pipeline(rhs),
    }
}

/// Constant arithmetic: ints stay ints except for division; `None` on overflow or a
/// non-finite result.
fn fold(op: ArithOp, a: &Static, b: &Static) -> Option<Static> {
    let as_f = |s: &Static| match *s {
        Static::Int(i) => Some(i as f64),
        Static::Float(f) => Some(f),
        _ => None,
    };
    if let (Static::Int(x), Static::Int(y), false) = (a, b, op == ArithOp::Div) {
        return match op {
            ArithOp::Add => x.checked_add(*y),
            ArithOp::Sub => x.checked_sub(*y),
            _ => x.checked_mul(*y),
        }
        .map(Static::Int);
    }
    let (x, y) = (as_f(a)?, as_f(b)?);
    let v = match op {
        ArithOp::Add => x + y,
        ArithOp::Sub => x - y,
        ArithOp::Mul => x * y,
        _ => x / y,
    };
    v.is_finite().then_some(Static::Float(v))
}
