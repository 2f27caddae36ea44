//! Property: for generated trees of bounded depth, `parse(tree.to_string()) == tree`.
//! The generators follow the tree's invariants (documented on the types): non-empty names and
//! lists, `parent.` only with the unscoped, span and resource scopes, `coalesce()` never first,
//! a wrapped pipeline never a lone spanset expression, metrics arithmetic holding a pipeline.

use proptest::prelude::*;
use proptest::strategy::Union;
use sextant_traceql::*;

fn finite_float() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("finite", |f| f.is_finite()),
        (-1000i32..1000).prop_map(|i| f64::from(i) / 8.0),
    ]
}

fn scalar_static() -> impl Strategy<Value = Static> {
    prop_oneof![
        Just(Static::Nil),
        any::<bool>().prop_map(Static::Bool),
        any::<i64>().prop_map(Static::Int),
        finite_float().prop_map(Static::Float),
        any::<i64>().prop_map(Static::Duration),
        (-5i64..5).prop_map(|n| Static::Duration(n * 1_500_000_000)),
        any::<String>().prop_map(Static::String),
        prop::sample::select(Status::ALL.to_vec()).prop_map(Static::Status),
        prop::sample::select(Kind::ALL.to_vec()).prop_map(Static::Kind),
    ]
}

fn any_static() -> impl Strategy<Value = Static> {
    prop_oneof![
        4 => scalar_static(),
        1 => prop::collection::vec(scalar_static(), 1..4).prop_map(Static::Array),
    ]
}

fn numeric_static() -> impl Strategy<Value = Static> {
    prop_oneof![
        any::<i64>().prop_map(Static::Int),
        finite_float().prop_map(Static::Float),
        any::<i64>().prop_map(Static::Duration),
    ]
}

fn attribute() -> impl Strategy<Value = Attribute> {
    let name = prop_oneof![
        "[a-z][a-z0-9_.]{0,10}",
        "[a-z .\"\\\\=:{}()!<>&|^,~+*/%-]{1,8}",
        "(span|resource)\\.[a-z]{1,3}",
        any::<String>().prop_filter("non-empty", |s| !s.is_empty()),
    ];
    (
        prop::sample::select(Scope::ALL.to_vec()),
        any::<bool>(),
        name,
    )
        .prop_map(|(scope, parent, name)| Attribute {
            scope,
            parent: parent && matches!(scope, Scope::None | Scope::Span | Scope::Resource),
            name,
        })
}

fn intrinsic() -> impl Strategy<Value = Intrinsic> {
    prop::sample::select(Intrinsic::ALL.to_vec())
}

fn field_ref() -> impl Strategy<Value = FieldExpr> {
    prop_oneof![
        attribute().prop_map(FieldExpr::Attribute),
        intrinsic().prop_map(FieldExpr::Intrinsic),
    ]
}

fn binary_op() -> impl Strategy<Value = BinaryOp> {
    let mut ops = vec![
        BinaryOp::And,
        BinaryOp::Or,
        BinaryOp::Regex,
        BinaryOp::NotRegex,
    ];
    ops.extend(CmpOp::ALL.map(BinaryOp::Cmp));
    ops.extend(ArithOp::ALL.map(BinaryOp::Arith));
    prop::sample::select(ops)
}

fn field_expr() -> impl Strategy<Value = FieldExpr> {
    let leaf = prop_oneof![any_static().prop_map(FieldExpr::Static), field_ref(),];
    leaf.prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            (
                prop::sample::select(vec![UnaryOp::Not, UnaryOp::Neg]),
                inner.clone()
            )
                .prop_map(|(op, e)| FieldExpr::Unary {
                    op,
                    expr: Box::new(e)
                }),
            (binary_op(), inner.clone(), inner).prop_map(|(op, l, r)| FieldExpr::Binary {
                op,
                lhs: Box::new(l),
                rhs: Box::new(r),
            }),
        ]
    })
}

fn aggregate() -> impl Strategy<Value = Aggregate> {
    prop_oneof![
        Just(Aggregate::Count),
        field_expr().prop_map(Aggregate::Avg),
        field_expr().prop_map(Aggregate::Min),
        field_expr().prop_map(Aggregate::Max),
        field_expr().prop_map(Aggregate::Sum),
    ]
}

fn arith_op() -> impl Strategy<Value = ArithOp> {
    prop::sample::select(ArithOp::ALL.to_vec())
}

fn scalar_expr() -> impl Strategy<Value = ScalarExpr> {
    let leaf = prop_oneof![
        aggregate().prop_map(ScalarExpr::Aggregate),
        numeric_static().prop_map(ScalarExpr::Static),
    ];
    leaf.prop_recursive(3, 8, 2, |inner| {
        (arith_op(), inner.clone(), inner).prop_map(|(op, l, r)| ScalarExpr::Binary {
            op,
            lhs: Box::new(l),
            rhs: Box::new(r),
        })
    })
}

fn scalar_filter() -> impl Strategy<Value = ScalarFilter> {
    (
        prop::sample::select(CmpOp::ALL.to_vec()),
        aggregate(),
        scalar_expr(),
        scalar_expr(),
        any::<bool>(),
    )
        .prop_map(|(op, agg, lhs, rhs, left)| {
            // At least one aggregate, on either side.
            let (lhs, rhs) = if left {
                (
                    ScalarExpr::Binary {
                        op: ArithOp::Add,
                        lhs: Box::new(ScalarExpr::Aggregate(agg)),
                        rhs: Box::new(lhs),
                    },
                    rhs,
                )
            } else {
                (lhs, ScalarExpr::Aggregate(agg))
            };
            ScalarFilter { op, lhs, rhs }
        })
}

fn spanset_filter() -> impl Strategy<Value = SpansetExpr> {
    prop::option::of(field_expr()).prop_map(SpansetExpr::Filter)
}

fn pipeline_with(spanset: BoxedStrategy<SpansetExpr>) -> BoxedStrategy<Pipeline> {
    let refs = prop::collection::vec(field_ref(), 1..3);
    let stage = prop_oneof![
        3 => spanset.clone().prop_map(Stage::Spanset),
        1 => scalar_filter().prop_map(Stage::ScalarFilter),
        1 => prop::collection::vec(field_expr(), 1..3).prop_map(Stage::By),
        1 => refs.prop_map(Stage::Select),
        1 => Just(Stage::Coalesce),
    ];
    prop::collection::vec(stage, 1..4)
        .prop_map(|mut stages| {
            if stages[0] == Stage::Coalesce {
                stages[0] = Stage::Spanset(SpansetExpr::Filter(None));
            }
            Pipeline { stages }
        })
        .boxed()
}

fn spanset_expr() -> BoxedStrategy<SpansetExpr> {
    spanset_filter()
        .prop_recursive(3, 12, 2, |inner| {
            let wrapped = pipeline_with(inner.clone().boxed())
                .prop_filter("a lone spanset stage is not wrapped", |p| {
                    !(p.stages.len() == 1 && matches!(p.stages[0], Stage::Spanset(_)))
                })
                .prop_map(|p| SpansetExpr::Wrapped(Box::new(p)));
            prop_oneof![
                (
                    prop::sample::select(SpansetOp::ALL.to_vec()),
                    inner.clone(),
                    inner
                )
                    .prop_map(|(op, l, r)| SpansetExpr::Binary {
                        op,
                        lhs: Box::new(l),
                        rhs: Box::new(r),
                    }),
                wrapped,
            ]
        })
        .boxed()
}

fn pipeline() -> BoxedStrategy<Pipeline> {
    pipeline_with(spanset_expr())
}

fn second_stage() -> impl Strategy<Value = SecondStage> {
    let threshold = prop_oneof![
        any::<i64>().prop_map(Static::Int),
        finite_float().prop_map(Static::Float),
        any::<i64>().prop_map(Static::Duration),
    ];
    prop_oneof![
        (0i64..i64::MAX).prop_map(SecondStage::TopK),
        (0i64..100).prop_map(SecondStage::BottomK),
        (prop::sample::select(CmpOp::ALL.to_vec()), threshold)
            .prop_map(|(op, v)| SecondStage::Filter(op, v)),
    ]
}

fn metrics_function() -> impl Strategy<Value = MetricsFunction> {
    let quantiles = prop::collection::vec(
        prop_oneof![0.0..=1.0f64, (0u32..100).prop_map(f64::from)],
        1..4,
    );
    let window = prop::option::of((any::<i64>(), any::<i64>()));
    Union::new(vec![
        Just(MetricsFunction::Rate).boxed(),
        Just(MetricsFunction::CountOverTime).boxed(),
        field_ref().prop_map(MetricsFunction::MinOverTime).boxed(),
        field_ref().prop_map(MetricsFunction::MaxOverTime).boxed(),
        field_ref().prop_map(MetricsFunction::AvgOverTime).boxed(),
        field_ref().prop_map(MetricsFunction::SumOverTime).boxed(),
        field_ref()
            .prop_map(MetricsFunction::HistogramOverTime)
            .boxed(),
        (field_ref(), quantiles)
            .prop_map(|(f, q)| MetricsFunction::QuantileOverTime(f, q))
            .boxed(),
        (spanset_filter(), prop::option::of(any::<i64>()), window)
            .prop_map(|(filter, top_n, window)| MetricsFunction::Compare {
                filter,
                window: if top_n.is_some() { window } else { None },
                top_n,
            })
            .boxed(),
    ])
}

fn metrics_pipeline() -> impl Strategy<Value = MetricsPipeline> {
    (
        pipeline(),
        metrics_function(),
        prop::collection::vec(field_ref(), 0..3),
        prop::collection::vec(second_stage(), 0..3),
    )
        .prop_map(|(pipeline, function, by, stages)| MetricsPipeline {
            pipeline,
            function,
            by,
            stages,
        })
}

fn metrics_expr() -> impl Strategy<Value = MetricsExpr> {
    let number = prop_oneof![
        any::<i64>().prop_map(Static::Int),
        finite_float().prop_map(Static::Float),
    ]
    .prop_map(MetricsExpr::Number);
    let ops = prop::sample::select(vec![ArithOp::Add, ArithOp::Sub, ArithOp::Mul, ArithOp::Div]);
    let leaf = prop_oneof![
        metrics_pipeline().prop_map(|p| MetricsExpr::Pipeline(Box::new(p))),
        number,
    ];
    let tree = leaf.prop_recursive(3, 8, 2, move |inner| {
        (ops.clone(), inner.clone(), inner).prop_map(|(op, l, r)| MetricsExpr::Binary {
            op,
            lhs: Box::new(l),
            rhs: Box::new(r),
        })
    });
    // Metrics arithmetic always holds a pipeline.
    (tree, metrics_pipeline()).prop_map(|(t, p)| {
        if has_pipeline(&t) {
            t
        } else {
            MetricsExpr::Binary {
                op: ArithOp::Mul,
                lhs: Box::new(t),
                rhs: Box::new(MetricsExpr::Pipeline(Box::new(p))),
            }
        }
    })
}

fn has_pipeline(e: &MetricsExpr) -> bool {
    match e {
        MetricsExpr::Pipeline(_) => true,
        MetricsExpr::Number(_) => false,
        MetricsExpr::Binary { lhs, rhs, .. } => has_pipeline(lhs) || has_pipeline(rhs),
    }
}

fn wrapped_scalar() -> impl Strategy<Value = ScalarExpr> {
    let leaf = (spanset_expr(), pipeline(), aggregate()).prop_map(|(first, rest, agg)| {
        let mut stages = vec![Stage::Spanset(first)];
        stages.extend(rest.stages.into_iter().take(1));
        ScalarExpr::Wrapped(Box::new(Pipeline { stages }), agg)
    });
    leaf.prop_recursive(2, 4, 2, |inner| {
        (arith_op(), inner.clone(), inner).prop_map(|(op, l, r)| ScalarExpr::Binary {
            op,
            lhs: Box::new(l),
            rhs: Box::new(r),
        })
    })
}

fn root() -> impl Strategy<Value = RootExpr> {
    let scalar_root = (
        prop::sample::select(CmpOp::ALL.to_vec()),
        wrapped_scalar(),
        prop_oneof![
            wrapped_scalar(),
            numeric_static().prop_map(ScalarExpr::Static)
        ],
    )
        .prop_map(|(op, lhs, rhs)| RootExpr::ScalarPipelineFilter(ScalarFilter { op, lhs, rhs }));
    prop_oneof![
        3 => pipeline().prop_map(RootExpr::Pipeline),
        1 => scalar_root,
        2 => (metrics_expr(), prop::collection::vec(second_stage(), 0..3))
            .prop_map(|(expr, stages)| RootExpr::Metrics(MetricsQuery { expr, stages })),
    ]
}

fn query() -> impl Strategy<Value = Query> {
    let hint = ("[a-z_][a-z0-9_]{0,8}", any_static())
        .prop_filter(
            "hint values are not arrays, nil, status or kind",
            |(_, v)| {
                matches!(
                    v,
                    Static::Int(_)
                        | Static::Float(_)
                        | Static::Duration(_)
                        | Static::String(_)
                        | Static::Bool(_)
                )
            },
        )
        .prop_map(|(name, value)| Hint { name, value });
    (root(), prop::collection::vec(hint, 0..3)).prop_map(|(root, hints)| Query { root, hints })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn display_parses_back_to_the_same_tree(q in query()) {
        let shown = q.to_string();
        let parsed = parse(&shown).map_err(|e| TestCaseError::fail(format!("{shown}\n{e}")))?;
        prop_assert_eq!(&parsed, &q, "{}", shown);
        // Validation never panics, whatever it decides.
        let _ = parsed.validate();
    }
}
