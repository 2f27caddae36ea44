//! The checks Tempo makes after parsing: operand types, regexes, aggregates that reference the
//! span, second-stage arguments, and the constructs the engine does not evaluate.

use regex::Regex;

use crate::ast::*;
use crate::error::ValidateError;

/// Compiles a TraceQL regex: fully anchored, as Tempo's `=~` is.
pub fn compile_regex(pattern: &str) -> Result<Regex, regex::Error> {
    regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(1 << 20)
        .build()
}

/// What the checker knows about a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Bool,
    Int,
    Float,
    Duration,
    String,
    Status,
    Kind,
    Nil,
    /// An attribute (or `parent`): any type, known only per span.
    Any,
    ArrayNum,
    ArrayStr,
    ArrayBool,
}

impl Ty {
    fn numeric(self) -> bool {
        matches!(self, Ty::Int | Ty::Float | Ty::Duration)
    }
}

type VResult<T> = Result<T, ValidateError>;

fn invalid<T>(msg: impl Into<String>) -> VResult<T> {
    Err(ValidateError::Invalid(msg.into()))
}

/// Walks the tree; type errors return at once, the first unsupported construct is remembered
/// and reported only if nothing is invalid.
#[derive(Default)]
struct Checker {
    unsupported: Option<String>,
}

impl Checker {
    fn unsupported(&mut self, why: &str) {
        if self.unsupported.is_none() {
            self.unsupported = Some(why.to_owned());
        }
    }

    fn query(&mut self, q: &Query) -> VResult<()> {
        match &q.root {
            RootExpr::Pipeline(p) => self.pipeline(p),
            RootExpr::ScalarPipelineFilter(s) => {
                self.scalar_filter(s)?;
                self.unsupported("arithmetic over scalar pipelines");
                Ok(())
            }
            RootExpr::Metrics(m) => self.metrics(m),
        }
    }

    fn pipeline(&mut self, p: &Pipeline) -> VResult<()> {
        for stage in &p.stages {
            match stage {
                Stage::Spanset(s) => self.spanset(s)?,
                Stage::ScalarFilter(s) => self.scalar_filter(s)?,
                Stage::By(fields) => {
                    for e in fields {
                        self.field(e)?;
                        if !references_span(e) {
                            return invalid("by() expressions must reference the span");
                        }
                    }
                }
                Stage::Select(fields) => {
                    for e in fields {
                        self.field(e)?;
                    }
                }
                Stage::Coalesce => {}
            }
        }
        Ok(())
    }

    fn spanset(&mut self, s: &SpansetExpr) -> VResult<()> {
        match s {
            SpansetExpr::Filter(None) => Ok(()),
            SpansetExpr::Filter(Some(e)) => match self.field(e)? {
                Ty::Bool | Ty::Any => Ok(()),
                _ => invalid(format!("spanset filter must evaluate to a boolean: {e}")),
            },
            SpansetExpr::Wrapped(p) => self.pipeline(p),
            SpansetExpr::Binary { lhs, rhs, .. } => {
                self.spanset(lhs)?;
                self.spanset(rhs)
            }
        }
    }

    fn scalar_filter(&mut self, s: &ScalarFilter) -> VResult<()> {
        self.scalar(&s.lhs)?;
        self.scalar(&s.rhs)?;
        let simple = |a: &ScalarExpr, b: &ScalarExpr| {
            matches!(a, ScalarExpr::Aggregate(_)) && !has_aggregate(b)
        };
        if !(simple(&s.lhs, &s.rhs) || simple(&s.rhs, &s.lhs)) {
            self.unsupported("scalar filters other than one aggregate compared with a value");
        }
        Ok(())
    }

    fn scalar(&mut self, e: &ScalarExpr) -> VResult<()> {
        match e {
            ScalarExpr::Static(_) => Ok(()),
            ScalarExpr::Aggregate(a) => self.aggregate(a),
            ScalarExpr::Wrapped(p, a) => {
                self.pipeline(p)?;
                self.aggregate(a)
            }
            ScalarExpr::Binary { lhs, rhs, .. } => {
                self.scalar(lhs)?;
                self.scalar(rhs)
            }
        }
    }

    fn aggregate(&mut self, a: &Aggregate) -> VResult<()> {
        let Some(arg) = a.arg() else {
            return Ok(());
        };
        let ty = self.field(arg)?;
        if !(ty.numeric() || ty == Ty::Any) {
            return invalid(format!("{}() needs a numeric argument: {arg}", a.name()));
        }
        if !references_span(arg) {
            return invalid(format!("{}() must reference the span: {arg}", a.name()));
        }
        Ok(())
    }

    fn field(&mut self, e: &FieldExpr) -> VResult<Ty> {
        match e {
            FieldExpr::Static(s) => static_ty(s),
            FieldExpr::Intrinsic(i) => Ok(match i.value_type() {
                IntrinsicType::Duration => Ty::Duration,
                IntrinsicType::String => Ty::String,
                IntrinsicType::Status => Ty::Status,
                IntrinsicType::Kind => Ty::Kind,
                IntrinsicType::Int => Ty::Int,
                IntrinsicType::Parent => {
                    self.unsupported("the parent intrinsic");
                    Ty::Any
                }
            }),
            FieldExpr::Attribute(a) => {
                if a.parent {
                    self.unsupported("parent. attributes");
                }
                Ok(Ty::Any)
            }
            FieldExpr::Unary { op, expr } => {
                let t = self.field(expr)?;
                match op {
                    UnaryOp::Not if matches!(t, Ty::Bool | Ty::Any) => Ok(Ty::Bool),
                    UnaryOp::Neg if t.numeric() || t == Ty::Any => Ok(t),
                    UnaryOp::Not => invalid(format!("! needs a boolean: {expr}")),
                    UnaryOp::Neg => invalid(format!("- needs a number: {expr}")),
                }
            }
            FieldExpr::Binary { op, lhs, rhs } => {
                let l = self.field(lhs)?;
                let r = self.field(rhs)?;
                self.binary(*op, lhs, rhs, l, r)
            }
        }
    }

    fn binary(
        &mut self,
        op: BinaryOp,
        lhs: &FieldExpr,
        rhs: &FieldExpr,
        l: Ty,
        r: Ty,
    ) -> VResult<Ty> {
        let bad = || {
            invalid(format!(
                "operator {} cannot apply to {lhs} and {rhs}",
                op.symbol()
            ))
        };
        match op {
            BinaryOp::And | BinaryOp::Or => {
                if matches!(l, Ty::Bool | Ty::Any) && matches!(r, Ty::Bool | Ty::Any) {
                    Ok(Ty::Bool)
                } else {
                    bad()
                }
            }
            BinaryOp::Arith(_) => {
                let ok = |t: Ty| t.numeric() || t == Ty::Any;
                if !(ok(l) && ok(r)) {
                    return bad();
                }
                Ok(if l.numeric() {
                    l
                } else if r.numeric() {
                    r
                } else {
                    Ty::Any
                })
            }
            BinaryOp::Regex | BinaryOp::NotRegex => {
                if !matches!(l, Ty::String | Ty::Any | Ty::ArrayStr) {
                    return bad();
                }
                let patterns: Vec<&str> = match rhs {
                    FieldExpr::Static(Static::String(p)) => vec![p],
                    FieldExpr::Static(Static::Array(items)) => {
                        let mut v = Vec::new();
                        for i in items {
                            match i {
                                Static::String(p) => v.push(p.as_str()),
                                _ => return bad(),
                            }
                        }
                        v
                    }
                    _ => return invalid("the right side of a regex match must be a string"),
                };
                for p in patterns {
                    if let Err(e) = compile_regex(p) {
                        return invalid(format!("invalid regex {p:?}: {e}"));
                    }
                }
                Ok(Ty::Bool)
            }
            BinaryOp::Cmp(c) => {
                if c == CmpOp::Eq {
                    let nil_of = |a: &FieldExpr, b: &FieldExpr| {
                        matches!(a, FieldExpr::Static(Static::Nil)) && never_nil(b)
                    };
                    if nil_of(lhs, rhs) || nil_of(rhs, lhs) {
                        return invalid(format!("{lhs} = {rhs} can never be true"));
                    }
                }
                let ok = if c.is_ordering() {
                    orderable(l, r)
                } else {
                    comparable(l, r)
                };
                if ok { Ok(Ty::Bool) } else { bad() }
            }
        }
    }

    fn metrics(&mut self, m: &MetricsQuery) -> VResult<()> {
        self.metrics_expr(&m.expr)?;
        self.second_stages(&m.stages)?;
        let mut pipelines = Vec::new();
        collect_pipelines(&m.expr, &mut pipelines);
        let compare = pipelines
            .iter()
            .any(|p| matches!(p.function, MetricsFunction::Compare { .. }));
        if compare && (!m.stages.is_empty() || !matches!(m.expr, MetricsExpr::Pipeline(_))) {
            return invalid("compare() cannot be combined with arithmetic or second stages");
        }
        Ok(())
    }

    fn metrics_expr(&mut self, e: &MetricsExpr) -> VResult<()> {
        match e {
            MetricsExpr::Number(_) => Ok(()),
            MetricsExpr::Binary { lhs, rhs, .. } => {
                self.metrics_expr(lhs)?;
                self.metrics_expr(rhs)
            }
            MetricsExpr::Pipeline(p) => {
                self.pipeline(&p.pipeline)?;
                match &p.function {
                    MetricsFunction::Rate | MetricsFunction::CountOverTime => {}
                    MetricsFunction::MinOverTime(e)
                    | MetricsFunction::MaxOverTime(e)
                    | MetricsFunction::AvgOverTime(e)
                    | MetricsFunction::SumOverTime(e)
                    | MetricsFunction::HistogramOverTime(e) => self.numeric_field(e)?,
                    MetricsFunction::QuantileOverTime(e, qs) => {
                        self.numeric_field(e)?;
                        if let Some(q) = qs.iter().find(|q| !(0.0..=1.0).contains(*q)) {
                            return invalid(format!("quantile {q} is not between 0 and 1"));
                        }
                    }
                    MetricsFunction::Compare {
                        filter,
                        top_n,
                        window,
                    } => {
                        self.spanset(filter)?;
                        if let Some(n) = top_n
                            && !(1..=1000).contains(n)
                        {
                            return invalid("compare() topN must be between 1 and 1000");
                        }
                        if let Some((s, e)) = window
                            && s > e
                        {
                            return invalid("compare() window ends before it starts");
                        }
                        if !p.stages.is_empty() {
                            return invalid("compare() cannot have second stages");
                        }
                    }
                }
                for e in &p.by {
                    self.field(e)?;
                }
                self.second_stages(&p.stages)
            }
        }
    }

    fn numeric_field(&mut self, e: &FieldExpr) -> VResult<()> {
        let t = self.field(e)?;
        if t.numeric() || t == Ty::Any {
            Ok(())
        } else {
            invalid(format!("{e} is not numeric"))
        }
    }

    fn second_stages(&mut self, stages: &[SecondStage]) -> VResult<()> {
        for s in stages {
            if let SecondStage::TopK(n) | SecondStage::BottomK(n) = s
                && *n <= 0
            {
                return invalid("topk() and bottomk() need a positive limit");
            }
        }
        Ok(())
    }
}

fn collect_pipelines<'a>(e: &'a MetricsExpr, out: &mut Vec<&'a MetricsPipeline>) {
    match e {
        MetricsExpr::Pipeline(p) => out.push(p),
        MetricsExpr::Number(_) => {}
        MetricsExpr::Binary { lhs, rhs, .. } => {
            collect_pipelines(lhs, out);
            collect_pipelines(rhs, out);
        }
    }
}

fn static_ty(s: &Static) -> VResult<Ty> {
    Ok(match s {
        Static::Nil => Ty::Nil,
        Static::Bool(_) => Ty::Bool,
        Static::Int(_) => Ty::Int,
        Static::Float(_) => Ty::Float,
        Static::Duration(_) => Ty::Duration,
        Static::String(_) => Ty::String,
        Static::Status(_) => Ty::Status,
        Static::Kind(_) => Ty::Kind,
        Static::Array(items) => {
            let mut tys = items.iter().map(static_ty);
            let first = tys.next().transpose()?;
            let arr = match first {
                Some(t) if t.numeric() => Ty::ArrayNum,
                Some(Ty::String) => Ty::ArrayStr,
                Some(Ty::Bool) => Ty::ArrayBool,
                _ => return invalid("arrays hold ints, floats, strings or booleans"),
            };
            for t in tys {
                let t = t?;
                let same = match arr {
                    Ty::ArrayNum => t.numeric(),
                    Ty::ArrayStr => t == Ty::String,
                    _ => t == Ty::Bool,
                };
                if !same {
                    return invalid("array elements must all have one type");
                }
            }
            arr
        }
    })
}

fn element_of(array: Ty, t: Ty) -> bool {
    match array {
        Ty::ArrayNum => t.numeric(),
        Ty::ArrayStr => t == Ty::String,
        Ty::ArrayBool => t == Ty::Bool,
        _ => false,
    }
}

fn comparable(l: Ty, r: Ty) -> bool {
    l == r
        || (l.numeric() && r.numeric())
        || l == Ty::Any
        || r == Ty::Any
        || l == Ty::Nil
        || r == Ty::Nil
        || element_of(l, r)
        || element_of(r, l)
}

fn orderable(l: Ty, r: Ty) -> bool {
    let ord = |t: Ty| t.numeric() || t == Ty::String || t == Ty::Any;
    ord(l) && ord(r) && (l == Ty::Any || r == Ty::Any || l == r || (l.numeric() && r.numeric()))
}

/// Fields that always have a value, so `= nil` is a mistake.
fn never_nil(e: &FieldExpr) -> bool {
    match e {
        FieldExpr::Intrinsic(i) => i.value_type() != IntrinsicType::Parent,
        FieldExpr::Attribute(a) => {
            a.scope == Scope::Resource && !a.parent && a.name == "service.name"
        }
        _ => false,
    }
}

fn references_span(e: &FieldExpr) -> bool {
    match e {
        FieldExpr::Static(_) => false,
        FieldExpr::Intrinsic(_) | FieldExpr::Attribute(_) => true,
        FieldExpr::Unary { expr, .. } => references_span(expr),
        FieldExpr::Binary { lhs, rhs, .. } => references_span(lhs) || references_span(rhs),
    }
}

fn has_aggregate(e: &ScalarExpr) -> bool {
    match e {
        ScalarExpr::Aggregate(_) | ScalarExpr::Wrapped(..) => true,
        ScalarExpr::Static(_) => false,
        ScalarExpr::Binary { lhs, rhs, .. } => has_aggregate(lhs) || has_aggregate(rhs),
    }
}

impl Query {
    /// Tempo's checks after parsing. `Err(Unsupported)` means the query is valid TraceQL the
    /// engine will not evaluate.
    pub fn validate(&self) -> Result<(), ValidateError> {
        let mut c = Checker::default();
        c.query(self)?;
        match c.unsupported {
            Some(why) => Err(ValidateError::Unsupported(why)),
            None => Ok(()),
        }
    }

    /// Valid and evaluable.
    pub fn is_supported(&self) -> bool {
        self.validate().is_ok()
    }
}
