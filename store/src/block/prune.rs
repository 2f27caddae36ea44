//! Row-group pruning: what a column chunk's min/max statistics prove about a condition.
//!
//! Only intrinsic columns and span attributes are pruned on. Span attribute values are pruned
//! on the typed columns (`str`, `int`, `double`) only while the row group's `any` column
//! (arrays, maps, bytes) holds no value, because those values may match any comparison.
//! Resource attributes live in an encoded column without statistics and are never pruned on.

use std::cmp::Ordering;

use parquet::file::metadata::RowGroupMetaData;
use parquet::file::statistics::Statistics;
use sextant_model::{AttributeRef, AttributeScope, Condition, FetchOp, Intrinsic, Static};

use super::filter::Num;
use super::schema;

/// One statistics value of a column.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
pub(super) enum Stat {
    I(i64),
    U(u64),
    F(f64),
    B(Vec<u8>),
}

/// What a column chunk's statistics say about its values.
#[derive(Debug)]
pub(super) enum Bounds {
    /// No non-null value.
    Empty,
    Range(Stat, Stat),
    /// No usable statistics.
    Unknown,
}

/// The bounds of the column chunk at `path` (dotted leaf path) in `rg`.
pub(super) fn column_bounds(rg: &RowGroupMetaData, path: &str) -> Bounds {
    let Some(chunk) = rg
        .columns()
        .iter()
        .find(|c| c.column_path().string() == path)
    else {
        return Bounds::Unknown;
    };
    let Some(stats) = chunk.statistics() else {
        return Bounds::Unknown;
    };
    let unsigned = path == schema::TRACE_START || path == schema::TRACE_DURATION;
    let range = match stats {
        Statistics::Int32(s) => s
            .min_opt()
            .zip(s.max_opt())
            .map(|(a, b)| (Stat::I(*a as i64), Stat::I(*b as i64))),
        Statistics::Int64(s) if unsigned => s
            .min_opt()
            .zip(s.max_opt())
            .map(|(a, b)| (Stat::U(*a as u64), Stat::U(*b as u64))),
        Statistics::Int64(s) => s
            .min_opt()
            .zip(s.max_opt())
            .map(|(a, b)| (Stat::I(*a), Stat::I(*b))),
        Statistics::Double(s) => s
            .min_opt()
            .zip(s.max_opt())
            .map(|(a, b)| (Stat::F(*a), Stat::F(*b))),
        Statistics::ByteArray(s) => s
            .min_opt()
            .zip(s.max_opt())
            .map(|(a, b)| (Stat::B(a.data().to_vec()), Stat::B(b.data().to_vec()))),
        Statistics::FixedLenByteArray(s) => s
            .min_opt()
            .zip(s.max_opt())
            .map(|(a, b)| (Stat::B(a.data().to_vec()), Stat::B(b.data().to_vec()))),
        _ => None,
    };
    match range {
        Some((min, max)) => Bounds::Range(min, max),
        None if stats.null_count_opt() == Some(chunk.num_values() as u64) => Bounds::Empty,
        None => Bounds::Unknown,
    }
}

/// True when `stats` prove the condition false on every row of the row group.
pub(super) fn condition_ruled_out(c: &Condition, stats: &dyn Fn(&str) -> Bounds) -> bool {
    if c.operands.iter().any(|o| matches!(o, Static::Nil)) {
        return false;
    }
    let attr_key = |key: &str| stats(ATTR_KEY_PATH).excludes_eq(&Stat::B(key.as_bytes().to_vec()));
    match &c.attribute {
        // Every span has its intrinsics: `Exists` rules nothing out (and has no operands for
        // the statistics to exclude).
        AttributeRef::Intrinsic(_) if c.op == FetchOp::Exists => false,
        AttributeRef::Intrinsic(i) => {
            let path = match i {
                Intrinsic::Name => schema::NAME,
                Intrinsic::StatusMessage => schema::STATUS_MESSAGE,
                Intrinsic::RootServiceName => schema::ROOT_SERVICE_NAME,
                Intrinsic::RootName => schema::ROOT_SPAN_NAME,
                Intrinsic::ServiceName => schema::SERVICE_NAME,
                Intrinsic::Kind => schema::KIND,
                Intrinsic::Duration => schema::DURATION,
                Intrinsic::TraceDuration => schema::TRACE_DURATION,
                Intrinsic::TraceId => {
                    // Only `=` on lower-case hex: the column holds the bytes, whose order is
                    // that of their lower-case hex.
                    let bounds = stats(schema::TRACE_ID);
                    return c.op == FetchOp::Eq
                        && c.operands.iter().all(|o| match o {
                            Static::Str(h) if h.bytes().all(|b| !b.is_ascii_uppercase()) => {
                                hex::decode(h).is_ok_and(|id| bounds.excludes_eq(&Stat::B(id)))
                            }
                            _ => false,
                        });
                }
                // Null codes read as Unset; span IDs have no statistics.
                Intrinsic::Status | Intrinsic::SpanId => return false,
            };
            let bounds = stats(path);
            c.operands
                .iter()
                .all(|o| operand_stat(o).is_some_and(|s| bounds.excludes(c.op, &s)))
        }
        AttributeRef::Attribute {
            scope: AttributeScope::Span,
            key,
        } => {
            if attr_key(key) {
                return true;
            }
            if c.op == FetchOp::Exists {
                return false;
            }
            // Array, map and bytes values live in the `any` column and may match every
            // comparison: the typed columns' statistics prove nothing while it holds a value.
            if !matches!(stats(ATTR_ANY_PATH), Bounds::Empty) {
                return false;
            }
            c.operands.iter().all(|o| match o {
                Static::Str(_) => {
                    operand_stat(o).is_some_and(|s| stats(ATTR_STR_PATH).excludes(c.op, &s))
                }
                Static::Int(_) | Static::Float(_) | Static::Duration(_) => {
                    numeric_excluded(c.op, o, &stats(ATTR_INT_PATH))
                        && numeric_excluded(c.op, o, &stats(ATTR_DOUBLE_PATH))
                }
                _ => false,
            })
        }
        AttributeRef::Attribute { .. } => false,
    }
}

const ATTR_KEY_PATH: &str = "attributes.list.item.key";
const ATTR_STR_PATH: &str = "attributes.list.item.str";
const ATTR_INT_PATH: &str = "attributes.list.item.int";
const ATTR_DOUBLE_PATH: &str = "attributes.list.item.double";
const ATTR_ANY_PATH: &str = "attributes.list.item.any";

fn static_num(o: &Static) -> Option<Num> {
    match o {
        Static::Int(i) => Some(Num::I(*i as i128)),
        Static::Duration(d) => Some(Num::I(*d as i128)),
        Static::Float(f) => Some(Num::F(*f)),
        _ => None,
    }
}

/// Numeric operand against integer or float bounds, compared as numbers.
fn numeric_excluded(op: FetchOp, operand: &Static, bounds: &Bounds) -> bool {
    let Some(x) = static_num(operand) else {
        return false;
    };
    let (min, max) = match bounds {
        Bounds::Empty => return true,
        Bounds::Unknown => return false,
        Bounds::Range(min, max) => (min, max),
    };
    let as_num = |s: &Stat| match s {
        Stat::I(i) => Some(Num::I(*i as i128)),
        Stat::U(u) => Some(Num::I(*u as i128)),
        Stat::F(f) => Some(Num::F(*f)),
        Stat::B(_) => None,
    };
    let (Some(min), Some(max)) = (as_num(min), as_num(max)) else {
        return false;
    };
    let lt = |a: Num, b: Num| a.cmp(b) == Some(Ordering::Less);
    match op {
        FetchOp::Eq => lt(x, min) || lt(max, x),
        FetchOp::Gt => max.cmp(x).is_some_and(|o| o != Ordering::Greater),
        FetchOp::Ge => lt(max, x),
        FetchOp::Lt => min.cmp(x).is_some_and(|o| o != Ordering::Less),
        FetchOp::Le => lt(x, min),
        _ => false,
    }
}

/// An operand as a statistics value of the column its field lives in.
fn operand_stat(o: &Static) -> Option<Stat> {
    match o {
        Static::Str(s) => Some(Stat::B(s.as_bytes().to_vec())),
        Static::Int(i) => Some(Stat::I(*i)),
        Static::Duration(d) => Some(Stat::I(i64::try_from(*d).ok()?)),
        Static::Float(f) => Some(Stat::F(*f)),
        Static::Kind(k) => Some(Stat::I(*k as i64)),
        Static::Status(s) => Some(Stat::I(*s as i64)),
        Static::Bool(_) | Static::Nil => None,
    }
}

impl Bounds {
    fn excludes_eq(&self, x: &Stat) -> bool {
        self.excludes(FetchOp::Eq, x)
    }

    /// True when no value within the bounds satisfies `value op x`.
    fn excludes(&self, op: FetchOp, x: &Stat) -> bool {
        match self {
            // Every operator needs a value.
            Bounds::Empty => true,
            Bounds::Unknown => false,
            Bounds::Range(min, max) => {
                // Numbers: a trace ID hex operand is not a number, and so on: mixed kinds of
                // statistics and operands (e.g. a float against an integer column) go through
                // the numeric path.
                match (min, x) {
                    (Stat::B(_), Stat::B(_)) => {}
                    (Stat::B(_), _) | (_, Stat::B(_)) => return false,
                    _ => {
                        let operand = match x {
                            Stat::I(i) => Static::Int(*i),
                            Stat::U(u) => Static::Duration(*u),
                            Stat::F(f) => Static::Float(*f),
                            Stat::B(_) => return false,
                        };
                        return numeric_excluded(op, &operand, self);
                    }
                }
                match op {
                    FetchOp::Eq => x < min || x > max,
                    FetchOp::Gt => max <= x,
                    FetchOp::Ge => max < x,
                    FetchOp::Lt => min >= x,
                    FetchOp::Le => min > x,
                    _ => false,
                }
            }
        }
    }
}
