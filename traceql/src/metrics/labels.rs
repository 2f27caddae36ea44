//! Label values of series: typed, hashable, totally ordered, and their OTLP form.

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

use sextant_model::otlp::{AnyValue, KeyValue, any_value::Value};

use crate::eval::value::Val;

/// One label value. `Nil` is a label without a value (a `by()` field the span does not have).
#[derive(Debug, Clone)]
pub(crate) enum LabelVal {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

impl LabelVal {
    /// A field's value as a label: strings, ints, floats and bools as they are, durations as
    /// integer nanoseconds, status and kind as their keywords; arrays, maps and bytes are nil.
    pub(crate) fn from_val(v: &Val<'_>) -> LabelVal {
        match v {
            Val::Bool(b) => LabelVal::Bool(*b),
            Val::Int(i) | Val::Duration(i) => LabelVal::Int(*i),
            Val::Float(f) => LabelVal::Float(*f),
            Val::Str(s) => LabelVal::Str(s.to_string()),
            Val::Status(s) => LabelVal::Str(s.keyword().to_owned()),
            Val::Kind(k) => LabelVal::Str(k.keyword().to_owned()),
            Val::Nil | Val::Array(_) | Val::Opaque => LabelVal::Nil,
        }
    }

    pub(crate) fn to_any(&self) -> Option<AnyValue> {
        let value = match self {
            LabelVal::Nil => return None,
            LabelVal::Bool(b) => Value::BoolValue(*b),
            LabelVal::Int(i) => Value::IntValue(*i),
            LabelVal::Float(f) => Value::DoubleValue(*f),
            LabelVal::Str(s) => Value::StringValue(s.clone()),
        };
        Some(AnyValue { value: Some(value) })
    }

    fn rank(&self) -> u8 {
        match self {
            LabelVal::Nil => 0,
            LabelVal::Bool(_) => 1,
            LabelVal::Int(_) => 2,
            LabelVal::Float(_) => 3,
            LabelVal::Str(_) => 4,
        }
    }
}

impl PartialEq for LabelVal {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for LabelVal {}

impl PartialOrd for LabelVal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Nil first, then by type (bool, int, float, string), then by value (floats by
/// `total_cmp`).
impl Ord for LabelVal {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (LabelVal::Bool(a), LabelVal::Bool(b)) => a.cmp(b),
            (LabelVal::Int(a), LabelVal::Int(b)) => a.cmp(b),
            (LabelVal::Float(a), LabelVal::Float(b)) => a.total_cmp(b),
            (LabelVal::Str(a), LabelVal::Str(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl Hash for LabelVal {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.rank().hash(state);
        match self {
            LabelVal::Nil => {}
            LabelVal::Bool(b) => b.hash(state),
            LabelVal::Int(i) => i.hash(state),
            LabelVal::Float(f) => f.to_bits().hash(state),
            LabelVal::Str(s) => s.hash(state),
        }
    }
}

/// Labels of a series during evaluation: keys and values, in output order.
pub(crate) type Labels = Vec<(String, LabelVal)>;

pub(crate) fn to_otlp(labels: &Labels) -> Vec<KeyValue> {
    labels
        .iter()
        .map(|(k, v)| KeyValue {
            key: k.clone(),
            value: v.to_any(),
        })
        .collect()
}
