//! The TraceQL syntax tree. Parentheses are not kept where they only group: `Display` puts back
//! the ones precedence needs, so `parse(q.to_string()) == q` for every parsed query.

/// A whole query: an expression and the `with(...)` hints after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub root: RootExpr,
    pub hints: Vec<Hint>,
}

/// What a query computes.
#[derive(Debug, Clone, PartialEq)]
pub enum RootExpr {
    /// A search: spanset stages joined by `|`.
    Pipeline(Pipeline),
    /// Arithmetic over wrapped scalar pipelines compared with a value:
    /// `({ .a } | count()) + ({ .b } | count()) > 2`. Parses; the engine does not evaluate it.
    ScalarPipelineFilter(ScalarFilter),
    /// A metrics query: `{} | rate() by (name) | topk(5)`, or arithmetic over wrapped ones.
    Metrics(MetricsQuery),
}

/// Stages joined by `|`; never empty.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    pub stages: Vec<Stage>,
}

/// One stage of a spanset pipeline.
#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    Spanset(SpansetExpr),
    /// `count() > 2`, `avg(duration) < 1s`.
    ScalarFilter(ScalarFilter),
    /// `by(expr, ...)`: regroup the spans of each spanset.
    By(Vec<FieldExpr>),
    /// `select(field, ...)`: attributes and intrinsics to return with the spans.
    Select(Vec<FieldExpr>),
    /// `coalesce()`: merge the groups again.
    Coalesce,
}

/// Spansets combined with logical and structural operators.
#[derive(Debug, Clone, PartialEq)]
pub enum SpansetExpr {
    /// `{ expr }`, or `{}` (every span) when `None`.
    Filter(Option<FieldExpr>),
    /// `( pipeline )` with more than one stage, or whose stage is not a spanset expression.
    Wrapped(Box<Pipeline>),
    Binary {
        op: SpansetOp,
        lhs: Box<SpansetExpr>,
        rhs: Box<SpansetExpr>,
    },
}

/// Operators between spansets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpansetOp {
    And,
    Or,
    Descendant,
    Ancestor,
    Child,
    Parent,
    Sibling,
    NotDescendant,
    NotAncestor,
    NotChild,
    NotParent,
    NotSibling,
    UnionDescendant,
    UnionAncestor,
    UnionChild,
    UnionParent,
    UnionSibling,
}

impl SpansetOp {
    /// Every operator, for tests and generators.
    pub const ALL: [SpansetOp; 17] = [
        SpansetOp::And,
        SpansetOp::Or,
        SpansetOp::Descendant,
        SpansetOp::Ancestor,
        SpansetOp::Child,
        SpansetOp::Parent,
        SpansetOp::Sibling,
        SpansetOp::NotDescendant,
        SpansetOp::NotAncestor,
        SpansetOp::NotChild,
        SpansetOp::NotParent,
        SpansetOp::NotSibling,
        SpansetOp::UnionDescendant,
        SpansetOp::UnionAncestor,
        SpansetOp::UnionChild,
        SpansetOp::UnionParent,
        SpansetOp::UnionSibling,
    ];

    pub fn symbol(self) -> &'static str {
        match self {
            SpansetOp::And => "&&",
            SpansetOp::Or => "||",
            SpansetOp::Descendant => ">>",
            SpansetOp::Ancestor => "<<",
            SpansetOp::Child => ">",
            SpansetOp::Parent => "<",
            SpansetOp::Sibling => "~",
            SpansetOp::NotDescendant => "!>>",
            SpansetOp::NotAncestor => "!<<",
            SpansetOp::NotChild => "!>",
            SpansetOp::NotParent => "!<",
            SpansetOp::NotSibling => "!~",
            SpansetOp::UnionDescendant => "&>>",
            SpansetOp::UnionAncestor => "&<<",
            SpansetOp::UnionChild => "&>",
            SpansetOp::UnionParent => "&<",
            SpansetOp::UnionSibling => "&~",
        }
    }

    /// `&&` and `||` bind looser than the structural operators.
    pub(crate) fn is_logical(self) -> bool {
        matches!(self, SpansetOp::And | SpansetOp::Or)
    }
}

/// `lhs op rhs` where at least one side holds an aggregate (or, at the root, a wrapped scalar
/// pipeline).
#[derive(Debug, Clone, PartialEq)]
pub struct ScalarFilter {
    pub op: CmpOp,
    pub lhs: ScalarExpr,
    pub rhs: ScalarExpr,
}

/// Numbers computed per spanset.
#[derive(Debug, Clone, PartialEq)]
pub enum ScalarExpr {
    Aggregate(Aggregate),
    /// An int, float or duration.
    Static(Static),
    /// `( pipeline | aggregate )`: only in a root scalar pipeline filter.
    Wrapped(Box<Pipeline>, Aggregate),
    Binary {
        op: ArithOp,
        lhs: Box<ScalarExpr>,
        rhs: Box<ScalarExpr>,
    },
}

/// `count()`, `avg(expr)`, ...
#[derive(Debug, Clone, PartialEq)]
pub enum Aggregate {
    Count,
    Avg(FieldExpr),
    Min(FieldExpr),
    Max(FieldExpr),
    Sum(FieldExpr),
}

impl Aggregate {
    pub fn name(&self) -> &'static str {
        match self {
            Aggregate::Count => "count",
            Aggregate::Avg(_) => "avg",
            Aggregate::Min(_) => "min",
            Aggregate::Max(_) => "max",
            Aggregate::Sum(_) => "sum",
        }
    }

    pub fn arg(&self) -> Option<&FieldExpr> {
        match self {
            Aggregate::Count => None,
            Aggregate::Avg(e) | Aggregate::Min(e) | Aggregate::Max(e) | Aggregate::Sum(e) => {
                Some(e)
            }
        }
    }
}

/// Expressions over one span's fields.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldExpr {
    Static(Static),
    Intrinsic(Intrinsic),
    Attribute(Attribute),
    Unary {
        op: UnaryOp,
        expr: Box<FieldExpr>,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<FieldExpr>,
        rhs: Box<FieldExpr>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// `!`
    Not,
    /// `-`
    Neg,
}

/// Operators between field expressions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    And,
    Or,
    Cmp(CmpOp),
    Regex,
    NotRegex,
    Arith(ArithOp),
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::And => "&&",
            BinaryOp::Or => "||",
            BinaryOp::Cmp(c) => c.symbol(),
            BinaryOp::Regex => "=~",
            BinaryOp::NotRegex => "!~",
            BinaryOp::Arith(a) => a.symbol(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CmpOp {
    pub const ALL: [CmpOp; 6] = [
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::Gt,
        CmpOp::Ge,
        CmpOp::Lt,
        CmpOp::Le,
    ];

    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
        }
    }

    pub fn is_ordering(self) -> bool {
        !matches!(self, CmpOp::Eq | CmpOp::Ne)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
}

impl ArithOp {
    pub const ALL: [ArithOp; 6] = [
        ArithOp::Add,
        ArithOp::Sub,
        ArithOp::Mul,
        ArithOp::Div,
        ArithOp::Mod,
        ArithOp::Pow,
    ];

    pub fn symbol(self) -> &'static str {
        match self {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
            ArithOp::Div => "/",
            ArithOp::Mod => "%",
            ArithOp::Pow => "^",
        }
    }
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Static {
    Nil,
    Bool(bool),
    Int(i64),
    /// Always finite.
    Float(f64),
    /// Nanoseconds.
    Duration(i64),
    String(String),
    Status(Status),
    Kind(Kind),
    /// `[1, 2]`: never nested.
    Array(Vec<Static>),
}

impl Static {
    pub fn is_numeric(&self) -> bool {
        matches!(
            self,
            Static::Int(_) | Static::Float(_) | Static::Duration(_)
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Ok,
    Error,
    Unset,
}

impl Status {
    pub const ALL: [Status; 3] = [Status::Ok, Status::Error, Status::Unset];

    pub fn keyword(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Error => "error",
            Status::Unset => "unset",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Unspecified,
        Kind::Internal,
        Kind::Server,
        Kind::Client,
        Kind::Producer,
        Kind::Consumer,
    ];

    pub fn keyword(self) -> &'static str {
        match self {
            Kind::Unspecified => "unspecified",
            Kind::Internal => "internal",
            Kind::Server => "server",
            Kind::Client => "client",
            Kind::Producer => "producer",
            Kind::Consumer => "consumer",
        }
    }
}

/// Where an attribute is looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// `.name`: the span's attributes, then the resource's.
    None,
    Span,
    Resource,
    Event,
    Link,
    Instrumentation,
}

impl Scope {
    pub const ALL: [Scope; 6] = [
        Scope::None,
        Scope::Span,
        Scope::Resource,
        Scope::Event,
        Scope::Link,
        Scope::Instrumentation,
    ];

    /// The prefix before the dot (empty for unscoped).
    pub fn prefix(self) -> &'static str {
        match self {
            Scope::None => "",
            Scope::Span => "span",
            Scope::Resource => "resource",
            Scope::Event => "event",
            Scope::Link => "link",
            Scope::Instrumentation => "instrumentation",
        }
    }
}

/// `.a`, `span.http.method`, `parent.resource.x`, `."a b"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attribute {
    pub scope: Scope,
    /// `parent.`: the attribute of the span's parent (only with `None`, `Span` or `Resource`).
    pub parent: bool,
    /// Never empty.
    pub name: String,
}

/// What the type checker knows about an intrinsic's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntrinsicType {
    Duration,
    String,
    Status,
    Kind,
    Int,
    /// `parent`: parses, not evaluated.
    Parent,
}

macro_rules! intrinsics {
    ($($variant:ident => $text:literal, $ty:ident;)*) => {
        /// Built-in span and trace fields, each spelling its own variant (`duration` and
        /// `span:duration` print back as written).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Intrinsic {
            $($variant,)*
        }

        impl Intrinsic {
            pub const ALL: &'static [Intrinsic] = &[$(Intrinsic::$variant,)*];

            pub fn text(self) -> &'static str {
                match self {
                    $(Intrinsic::$variant => $text,)*
                }
            }

            pub fn value_type(self) -> IntrinsicType {
                match self {
                    $(Intrinsic::$variant => IntrinsicType::$ty,)*
                }
            }

            pub fn from_text(text: &str) -> Option<Intrinsic> {
                match text {
                    $($text => Some(Intrinsic::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

intrinsics! {
    Duration => "duration", Duration;
    Name => "name", String;
    Status => "status", Status;
    StatusMessage => "statusMessage", String;
    Kind => "kind", Kind;
    Parent => "parent", Parent;
    RootName => "rootName", String;
    RootServiceName => "rootServiceName", String;
    TraceDuration => "traceDuration", Duration;
    NestedSetLeft => "nestedSetLeft", Int;
    NestedSetRight => "nestedSetRight", Int;
    NestedSetParent => "nestedSetParent", Int;
    ChildCount => "childCount", Int;
    TraceDurationScoped => "trace:duration", Duration;
    TraceRootName => "trace:rootName", String;
    TraceRootService => "trace:rootService", String;
    TraceId => "trace:id", String;
    SpanDuration => "span:duration", Duration;
    SpanName => "span:name", String;
    SpanKind => "span:kind", Kind;
    SpanStatus => "span:status", Status;
    SpanStatusMessage => "span:statusMessage", String;
    SpanId => "span:id", String;
    SpanParentId => "span:parentID", String;
    SpanChildCount => "span:childCount", Int;
    EventName => "event:name", String;
    EventTimeSinceStart => "event:timeSinceStart", Duration;
    LinkTraceId => "link:traceID", String;
    LinkSpanId => "link:spanID", String;
    InstrumentationName => "instrumentation:name", String;
    InstrumentationVersion => "instrumentation:version", String;
}

/// `with(name = value, ...)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Hint {
    pub name: String,
    pub value: Static,
}

/// A metrics query: arithmetic over metrics pipelines and numbers, then second stages.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsQuery {
    pub expr: MetricsExpr,
    /// Applied to the result of `expr`.
    pub stages: Vec<SecondStage>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MetricsExpr {
    Pipeline(Box<MetricsPipeline>),
    /// An int or float.
    Number(Static),
    Binary {
        op: ArithOp,
        lhs: Box<MetricsExpr>,
        rhs: Box<MetricsExpr>,
    },
}

/// `pipeline | function by (...) | second stages`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsPipeline {
    pub pipeline: Pipeline,
    pub function: MetricsFunction,
    pub by: Vec<FieldExpr>,
    pub stages: Vec<SecondStage>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MetricsFunction {
    Rate,
    CountOverTime,
    MinOverTime(FieldExpr),
    MaxOverTime(FieldExpr),
    AvgOverTime(FieldExpr),
    SumOverTime(FieldExpr),
    QuantileOverTime(FieldExpr, Vec<f64>),
    HistogramOverTime(FieldExpr),
    /// `compare({filter}, topN, start, end)`: start and end in Unix nanoseconds.
    Compare {
        filter: SpansetExpr,
        top_n: Option<i64>,
        window: Option<(i64, i64)>,
    },
}

impl MetricsFunction {
    pub fn name(&self) -> &'static str {
        match self {
            MetricsFunction::Rate => "rate",
            MetricsFunction::CountOverTime => "count_over_time",
            MetricsFunction::MinOverTime(_) => "min_over_time",
            MetricsFunction::MaxOverTime(_) => "max_over_time",
            MetricsFunction::AvgOverTime(_) => "avg_over_time",
            MetricsFunction::SumOverTime(_) => "sum_over_time",
            MetricsFunction::QuantileOverTime(..) => "quantile_over_time",
            MetricsFunction::HistogramOverTime(_) => "histogram_over_time",
            MetricsFunction::Compare { .. } => "compare",
        }
    }

    pub(crate) const NAMES: [&'static str; 9] = [
        "rate",
        "count_over_time",
        "min_over_time",
        "max_over_time",
        "avg_over_time",
        "sum_over_time",
        "quantile_over_time",
        "histogram_over_time",
        "compare",
    ];
}

/// After a metrics function: `| topk(n)`, `| bottomk(n)`, or a comparison `> 10`.
#[derive(Debug, Clone, PartialEq)]
pub enum SecondStage {
    TopK(i64),
    BottomK(i64),
    /// The threshold is an int, float or duration (constant arithmetic is folded).
    Filter(CmpOp, Static),
}
