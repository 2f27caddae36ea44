//! Scalar filters (`count() > 2`) and root scalar pipeline filters
//! (`({ .a } | count()) + ({ .b } | count()) = 1`).

use super::{AGGREGATES, PResult, Parser, arith, arith_bp, is_cmp};
use crate::ast::*;
use crate::lexer::Tok;

impl Parser<'_> {
    pub(super) fn cmp_op(&mut self) -> PResult<CmpOp> {
        let op = is_cmp(self.peek()).ok_or_else(|| self.err("comparison operator"))?;
        self.bump();
        Ok(op)
    }

    pub(super) fn scalar_filter(&mut self) -> PResult<ScalarFilter> {
        let start = self.i;
        let lhs = self.scalar_expr(0)?;
        let op = self.cmp_op()?;
        let rhs = self.scalar_expr(0)?;
        if !has_aggregate(&lhs) && !has_aggregate(&rhs) {
            return Err(self.err_at(start, "aggregate (count, avg, min, max, sum)"));
        }
        Ok(ScalarFilter { op, lhs, rhs })
    }

    pub(super) fn scalar_expr(&mut self, min_bp: u8) -> PResult<ScalarExpr> {
        let saved = self.enter()?;
        let mut lhs = self.scalar_operand()?;
        while let Some(op) = arith(self.peek()) {
            let (l, r) = arith_bp(op);
            if l < min_bp {
                break;
            }
            self.bump();
            self.deeper()?;
            let rhs = self.scalar_expr(r)?;
            lhs = ScalarExpr::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            };
        }
        self.leave(saved);
        Ok(lhs)
    }

    pub(super) fn scalar_operand(&mut self) -> PResult<ScalarExpr> {
        if *self.peek() == Tok::LParen {
            self.bump();
            let e = self.scalar_expr(0)?;
            self.expect(Tok::RParen, "\")\"")?;
            return Ok(e);
        }
        if let Some(s) = self.numeric_literal()? {
            return Ok(ScalarExpr::Static(s));
        }
        if self.is_call(0, &AGGREGATES) {
            return Ok(ScalarExpr::Aggregate(self.aggregate()?));
        }
        Err(self.err("number or aggregate"))
    }

    pub(super) fn aggregate(&mut self) -> PResult<Aggregate> {
        let name = self.peek_ident(0).unwrap_or_default().to_owned();
        self.bump();
        self.expect(Tok::LParen, "\"(\"")?;
        let agg = if name == "count" {
            Aggregate::Count
        } else {
            let e = self.field_expr(0)?;
            match name.as_str() {
                "avg" => Aggregate::Avg(e),
                "min" => Aggregate::Min(e),
                "max" => Aggregate::Max(e),
                _ => Aggregate::Sum(e),
            }
        };
        self.expect(Tok::RParen, "\")\"")?;
        Ok(agg)
    }

    // ---- root scalar pipeline filters ----

    pub(super) fn scalar_pipeline_filter(&mut self) -> PResult<ScalarFilter> {
        let lhs = self.sp_expr(0)?;
        let op = self.cmp_op()?;
        let rhs = match self.numeric_literal()? {
            Some(s) => ScalarExpr::Static(s),
            None => self.sp_expr(0)?,
        };
        Ok(ScalarFilter { op, lhs, rhs })
    }

    pub(super) fn sp_expr(&mut self, min_bp: u8) -> PResult<ScalarExpr> {
        let saved = self.enter()?;
        let mut lhs = self.sp_operand()?;
        while let Some(op) = arith(self.peek()) {
            let (l, r) = arith_bp(op);
            if l < min_bp {
                break;
            }
            self.bump();
            self.deeper()?;
            let rhs = self.sp_expr(r)?;
            lhs = ScalarExpr::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            };
        }
        self.leave(saved);
        Ok(lhs)
    }

    pub(super) fn sp_operand(&mut self) -> PResult<ScalarExpr> {
        if *self.peek() != Tok::LParen {
            return Err(self.err("\"(\""));
        }
        let open = self.i;
        let wrapped = self
            .depth0(open)
            .into_iter()
            .any(|j| *self.tok(j) == Tok::Pipe);
        self.bump();
        if !wrapped {
            let e = self.sp_expr(0)?;
            self.expect(Tok::RParen, "\")\"")?;
            return Ok(e);
        }
        if !matches!(self.peek(), Tok::LBrace | Tok::LParen) {
            return Err(self.err("spanset filter"));
        }
        let mut stages = Vec::new();
        let agg = loop {
            if !stages.is_empty() && self.is_final_aggregate() {
                break self.aggregate()?;
            }
            stages.push(self.stage(stages.is_empty())?);
            self.expect(Tok::Pipe, "\"|\"")?;
        };
        self.expect(Tok::RParen, "\")\"")?;
        Ok(ScalarExpr::Wrapped(Box::new(Pipeline { stages }), agg))
    }

    /// An aggregate call closing the wrapped pipeline it is in.
    pub(super) fn is_final_aggregate(&self) -> bool {
        self.is_call(0, &AGGREGATES)
            && self.matching[self.i + 1].is_some_and(|m| *self.tok(m + 1) == Tok::RParen)
    }
}

fn has_aggregate(e: &ScalarExpr) -> bool {
    match e {
        ScalarExpr::Aggregate(_) | ScalarExpr::Wrapped(..) => true,
        ScalarExpr::Static(_) => false,
        ScalarExpr::Binary { lhs, rhs, .. } => has_aggregate(lhs) || has_aggregate(rhs),
    }
}
