//! Which optional parts of a span a query reads, so storage can leave the others undecoded.
//!
//! Every query reads the IDs, parent, times, name, kind, status code, resource and scope of
//! each span; [`Needs`] says which of the rest (span attributes, events, links, the status
//! message) some field of the query names. The walk covers every place a field can appear:
//! spanset filters, scalar filters and their aggregates, `by()`, `select()`, the arguments of
//! metrics functions and their `by()`. `compare()` reads every attribute and the status message.

use crate::ast::*;

/// The optional parts of a span a query reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// `span.x`, unscoped `.x` (span first, then resource), `parent.x`.
    pub span_attributes: bool,
    /// `event.x`, `event:name`, `event:timeSinceStart`.
    pub events: bool,
    /// `link.x`, `link:traceID`, `link:spanID`.
    pub links: bool,
    /// `statusMessage`, `span:statusMessage`.
    pub status_message: bool,
}

impl Needs {
    /// Everything.
    pub const ALL: Needs = Needs {
        span_attributes: true,
        events: true,
        links: true,
        status_message: true,
    };
}

impl Query {
    /// The optional span parts this query reads.
    pub fn needs(&self) -> Needs {
        let mut n = Needs::default();
        match &self.root {
            RootExpr::Pipeline(p) => pipeline(p, &mut n),
            RootExpr::ScalarPipelineFilter(f) => scalar_filter(f, &mut n),
            RootExpr::Metrics(m) => metrics_expr(&m.expr, &mut n),
        }
        n
    }
}

fn metrics_expr(e: &MetricsExpr, n: &mut Needs) {
    match e {
        MetricsExpr::Number(_) => {}
        MetricsExpr::Binary { lhs, rhs, .. } => {
            metrics_expr(lhs, n);
            metrics_expr(rhs, n);
        }
        MetricsExpr::Pipeline(p) => {
            pipeline(&p.pipeline, n);
            p.by.iter().for_each(|f| field(f, n));
            match &p.function {
                MetricsFunction::Rate | MetricsFunction::CountOverTime => {}
                MetricsFunction::MinOverTime(f)
                | MetricsFunction::MaxOverTime(f)
                | MetricsFunction::AvgOverTime(f)
                | MetricsFunction::SumOverTime(f)
                | MetricsFunction::QuantileOverTime(f, _)
                | MetricsFunction::HistogramOverTime(f) => field(f, n),
                MetricsFunction::Compare { filter, .. } => {
                    spanset(filter, n);
                    n.span_attributes = true;
                    n.status_message = true;
                }
            }
        }
    }
}

fn pipeline(p: &Pipeline, n: &mut Needs) {
    for stage in &p.stages {
        match stage {
            Stage::Spanset(e) => spanset(e, n),
            Stage::ScalarFilter(f) => scalar_filter(f, n),
            Stage::By(fields) | Stage::Select(fields) => fields.iter().for_each(|f| field(f, n)),
            Stage::Coalesce => {}
        }
    }
}

fn spanset(e: &SpansetExpr, n: &mut Needs) {
    match e {
        SpansetExpr::Filter(None) => {}
        SpansetExpr::Filter(Some(f)) => field(f, n),
        SpansetExpr::Wrapped(p) => pipeline(p, n),
        SpansetExpr::Binary { lhs, rhs, .. } => {
            spanset(lhs, n);
            spanset(rhs, n);
        }
    }
}

fn scalar_filter(f: &ScalarFilter, n: &mut Needs) {
    scalar(&f.lhs, n);
    scalar(&f.rhs, n);
}

fn scalar(e: &ScalarExpr, n: &mut Needs) {
    match e {
        ScalarExpr::Static(_) => {}
        ScalarExpr::Aggregate(a) => a.arg().into_iter().for_each(|f| field(f, n)),
        ScalarExpr::Wrapped(p, a) => {
            pipeline(p, n);
            a.arg().into_iter().for_each(|f| field(f, n));
        }
        ScalarExpr::Binary { lhs, rhs, .. } => {
            scalar(lhs, n);
            scalar(rhs, n);
        }
    }
}

fn field(f: &FieldExpr, n: &mut Needs) {
    match f {
        FieldExpr::Static(_) => {}
        FieldExpr::Unary { expr, .. } => field(expr, n),
        FieldExpr::Binary { lhs, rhs, .. } => {
            field(lhs, n);
            field(rhs, n);
        }
        FieldExpr::Attribute(a) => match a.scope {
            Scope::None | Scope::Span => n.span_attributes = true,
            Scope::Event => n.events = true,
            Scope::Link => n.links = true,
            Scope::Resource | Scope::Instrumentation => {}
        },
        FieldExpr::Intrinsic(i) => match i {
            Intrinsic::EventName | Intrinsic::EventTimeSinceStart => n.events = true,
            Intrinsic::LinkTraceId | Intrinsic::LinkSpanId => n.links = true,
            Intrinsic::StatusMessage | Intrinsic::SpanStatusMessage => n.status_message = true,
            _ => {}
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    fn needs(q: &str) -> Needs {
        parse(q).unwrap().needs()
    }

    #[test]
    fn each_place_a_field_can_appear_is_seen() {
        let none = Needs::default();
        let attrs = Needs {
            span_attributes: true,
            ..none
        };
        for (q, want) in [
            ("{ }", none),
            ("{ } | rate() by (resource.service.name)", none),
            (
                "{ name = \"a\" && kind = server && status = error } | rate()",
                none,
            ),
            (
                "{ duration > 1s } | quantile_over_time(duration, 0.9)",
                none,
            ),
            ("{ span.http.method = \"GET\" }", attrs),
            ("{ .foo = 1 }", attrs),
            ("{ } | rate() by (span.http.route)", attrs),
            ("{ } | avg_over_time(span.size)", attrs),
            ("{ } | count() > 2 | select(.x)", attrs),
            ("{ } | avg(span.x) > 2", attrs),
            ("{ } >> { parent.http.x = 1 }", attrs),
            (
                "{ event.exception.message = \"x\" }",
                Needs {
                    events: true,
                    ..none
                },
            ),
            (
                "{ } | count_over_time() by (event:name)",
                Needs {
                    events: true,
                    ..none
                },
            ),
            (
                "{ link:traceID = \"a\" }",
                Needs {
                    links: true,
                    ..none
                },
            ),
            (
                "{ statusMessage = \"x\" }",
                Needs {
                    status_message: true,
                    ..none
                },
            ),
            ("({ } | rate()) / ({ span.a = 1 } | rate())", attrs),
            (
                "{ } | compare({ status = error })",
                Needs {
                    span_attributes: true,
                    status_message: true,
                    ..none
                },
            ),
        ] {
            assert_eq!(needs(q), want, "{q}");
        }
    }
}
