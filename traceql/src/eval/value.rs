//! Values during evaluation, and TraceQL's comparison and arithmetic rules over them.

use std::borrow::Cow;
use std::cmp::Ordering;

use regex::Regex;
use sextant_model::otlp::{AnyValue, any_value::Value};

use crate::ast::{ArithOp, CmpOp, Kind, Static, Status};

/// A value read from a span or computed from one. Strings borrow from the trace.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val<'a> {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Nanoseconds.
    Duration(i64),
    Str(Cow<'a, str>),
    Status(Status),
    Kind(Kind),
    /// The scalar items of an OTLP array (never nested).
    Array(Vec<Val<'a>>),
    /// An OTLP map or bytes value: it exists, and compares with nothing.
    Opaque,
}

impl<'a> Val<'a> {
    /// An OTLP attribute value (`None`: the key has no value at all).
    pub(crate) fn from_any(v: Option<&'a AnyValue>) -> Val<'a> {
        let Some(v) = v else {
            return Val::Nil;
        };
        match &v.value {
            None => Val::Opaque,
            Some(Value::ArrayValue(a)) => Val::Array(
                a.values
                    .iter()
                    .map(|item| Val::from_any(Some(item)))
                    .filter(Val::is_scalar)
                    .collect(),
            ),
            Some(other) => scalar_value(other),
        }
    }

    fn is_scalar(&self) -> bool {
        !matches!(self, Val::Nil | Val::Array(_) | Val::Opaque)
    }

    pub(crate) fn is_nil(&self) -> bool {
        matches!(self, Val::Nil)
    }

    pub(crate) fn from_static(s: &Static) -> Val<'static> {
        match s {
            Static::Nil => Val::Nil,
            Static::Bool(b) => Val::Bool(*b),
            Static::Int(i) => Val::Int(*i),
            Static::Float(f) => Val::Float(*f),
            Static::Duration(d) => Val::Duration(*d),
            Static::String(s) => Val::Str(Cow::Owned(s.clone())),
            Static::Status(s) => Val::Status(*s),
            Static::Kind(k) => Val::Kind(*k),
            Static::Array(items) => Val::Array(items.iter().map(Val::from_static).collect()),
        }
    }

    /// As a TraceQL literal; maps and bytes have none and read as `Nil`.
    pub(crate) fn to_static(&self) -> Static {
        match self {
            Val::Nil | Val::Opaque => Static::Nil,
            Val::Bool(b) => Static::Bool(*b),
            Val::Int(i) => Static::Int(*i),
            Val::Float(f) => Static::Float(*f),
            Val::Duration(d) => Static::Duration(*d),
            Val::Str(s) => Static::String(s.to_string()),
            Val::Status(s) => Static::Status(*s),
            Val::Kind(k) => Static::Kind(*k),
            Val::Array(items) => Static::Array(items.iter().map(Val::to_static).collect()),
        }
    }

    pub(crate) fn into_owned(self) -> Val<'static> {
        match self {
            Val::Nil => Val::Nil,
            Val::Bool(b) => Val::Bool(b),
            Val::Int(i) => Val::Int(i),
            Val::Float(f) => Val::Float(f),
            Val::Duration(d) => Val::Duration(d),
            Val::Str(s) => Val::Str(Cow::Owned(s.into_owned())),
            Val::Status(s) => Val::Status(s),
            Val::Kind(k) => Val::Kind(k),
            Val::Array(items) => Val::Array(items.into_iter().map(Val::into_owned).collect()),
            Val::Opaque => Val::Opaque,
        }
    }
}

fn scalar_value(v: &Value) -> Val<'_> {
    match v {
        Value::StringValue(s) => Val::Str(Cow::Borrowed(s)),
        Value::BoolValue(b) => Val::Bool(*b),
        Value::IntValue(i) => Val::Int(*i),
        Value::DoubleValue(d) => Val::Float(*d),
        Value::ArrayValue(_) | Value::KvlistValue(_) | Value::BytesValue(_) => Val::Opaque,
    }
}

/// A number for comparison: integers exactly, floats as floats.
#[derive(Clone, Copy)]
enum Num {
    I(i64),
    F(f64),
}

fn num(v: &Val<'_>) -> Option<Num> {
    match v {
        Val::Int(i) | Val::Duration(i) => Some(Num::I(*i)),
        Val::Float(f) => Some(Num::F(*f)),
        _ => None,
    }
}

fn num_cmp(a: Num, b: Num) -> Option<Ordering> {
    match (a, b) {
        (Num::I(a), Num::I(b)) => Some(a.cmp(&b)),
        (Num::I(a), Num::F(b)) => (a as f64).partial_cmp(&b),
        (Num::F(a), Num::I(b)) => a.partial_cmp(&(b as f64)),
        (Num::F(a), Num::F(b)) => a.partial_cmp(&b),
    }
}

/// Two scalars within a family: their order, and whether the family is ordered.
fn order(l: &Val<'_>, r: &Val<'_>) -> Option<(Ordering, bool)> {
    match (l, r) {
        (Val::Str(a), Val::Str(b)) => Some((a.as_bytes().cmp(b.as_bytes()), true)),
        (Val::Bool(a), Val::Bool(b)) => Some((a.cmp(b), false)),
        (Val::Status(a), Val::Status(b)) => Some((eq_order(a == b), false)),
        (Val::Kind(a), Val::Kind(b)) => Some((eq_order(a == b), false)),
        _ => Some((num_cmp(num(l)?, num(r)?)?, true)),
    }
}

fn eq_order(eq: bool) -> Ordering {
    if eq { Ordering::Equal } else { Ordering::Less }
}

fn scalar_cmp(op: CmpOp, l: &Val<'_>, r: &Val<'_>) -> bool {
    let Some((ord, ordered)) = order(l, r) else {
        return false;
    };
    match op {
        CmpOp::Eq => ord == Ordering::Equal,
        CmpOp::Ne => ord != Ordering::Equal,
        CmpOp::Gt => ordered && ord == Ordering::Greater,
        CmpOp::Ge => ordered && ord != Ordering::Less,
        CmpOp::Lt => ordered && ord == Ordering::Less,
        CmpOp::Le => ordered && ord != Ordering::Greater,
    }
}

/// `l op r`. Nil, maps and bytes compare with nothing; an array holds for `=` and orderings
/// when any item does, for `!=` when no item equals; two arrays compare item by item.
pub(crate) fn compare(op: CmpOp, l: &Val<'_>, r: &Val<'_>) -> bool {
    match (l, r) {
        (Val::Nil | Val::Opaque, _) | (_, Val::Nil | Val::Opaque) => false,
        (Val::Array(a), Val::Array(b)) => {
            let equal =
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| scalar_cmp(CmpOp::Eq, x, y));
            match op {
                CmpOp::Eq => equal,
                CmpOp::Ne => !equal,
                _ => false,
            }
        }
        (Val::Array(a), x) => match op {
            CmpOp::Ne => !a.iter().any(|e| scalar_cmp(CmpOp::Eq, e, x)),
            _ => a.iter().any(|e| scalar_cmp(op, e, x)),
        },
        (x, Val::Array(b)) => match op {
            CmpOp::Ne => !b.iter().any(|e| scalar_cmp(CmpOp::Eq, x, e)),
            _ => b.iter().any(|e| scalar_cmp(op, x, e)),
        },
        _ => scalar_cmp(op, l, r),
    }
}

/// `v =~ any of res` (or `!~`: none of them). Arrays: any item matches (`!~`: none does).
/// Values that are not strings match neither way.
pub(crate) fn regex_match(v: &Val<'_>, res: &[Regex], negate: bool) -> bool {
    let hit = |s: &str| res.iter().any(|re| re.is_match(s));
    match v {
        Val::Str(s) => hit(s) != negate,
        Val::Array(items) => {
            let any = items.iter().any(|e| matches!(e, Val::Str(s) if hit(s)));
            any != negate
        }
        _ => false,
    }
}

/// Arithmetic on numbers; anything else, an overflow, or a division or modulo by zero gives
/// `Nil`. A duration operand makes the result a duration; a float one makes it a float.
pub(crate) fn arith(op: ArithOp, l: &Val<'_>, r: &Val<'_>) -> Val<'static> {
    let duration = matches!(l, Val::Duration(_)) || matches!(r, Val::Duration(_));
    let (Some(a), Some(b)) = (num(l), num(r)) else {
        return Val::Nil;
    };
    let result = match (a, b) {
        (Num::I(a), Num::I(b)) => int_arith(op, a, b),
        (a, b) => {
            let f = |n: Num| match n {
                Num::I(i) => i as f64,
                Num::F(f) => f,
            };
            float_arith(op, f(a), f(b))
        }
    };
    match (result, duration) {
        (Some(Num::I(i)), true) => Val::Duration(i),
        (Some(Num::F(f)), true) if f.is_finite() => Val::Duration(f as i64),
        (Some(Num::I(i)), false) => Val::Int(i),
        (Some(Num::F(f)), false) if f.is_finite() => Val::Float(f),
        _ => Val::Nil,
    }
}

fn int_arith(op: ArithOp, a: i64, b: i64) -> Option<Num> {
    Some(Num::I(match op {
        ArithOp::Add => a.checked_add(b)?,
        ArithOp::Sub => a.checked_sub(b)?,
        ArithOp::Mul => a.checked_mul(b)?,
        ArithOp::Div => a.checked_div(b)?,
        ArithOp::Mod => a.checked_rem(b)?,
        ArithOp::Pow => {
            if b < 0 {
                return float_arith(op, a as f64, b as f64);
            }
            a.checked_pow(u32::try_from(b).ok()?)?
        }
    }))
}

fn float_arith(op: ArithOp, a: f64, b: f64) -> Option<Num> {
    let v = match op {
        ArithOp::Add => a + b,
        ArithOp::Sub => a - b,
        ArithOp::Mul => a * b,
        ArithOp::Div if b == 0.0 => return None,
        ArithOp::Div => a / b,
        ArithOp::Mod if b == 0.0 => return None,
        ArithOp::Mod => a % b,
        ArithOp::Pow => a.powf(b),
    };
    v.is_finite().then_some(Num::F(v))
}

/// `-v` on numbers; `Nil` otherwise.
pub(crate) fn negate(v: &Val<'_>) -> Val<'static> {
    match v {
        Val::Int(i) => i.checked_neg().map_or(Val::Nil, Val::Int),
        Val::Duration(d) => d.checked_neg().map_or(Val::Nil, Val::Duration),
        Val::Float(f) => Val::Float(-f),
        _ => Val::Nil,
    }
}

/// A stable text key for grouping (`by()`): equal values give equal keys.
pub(crate) fn group_key(v: &Val<'_>) -> String {
    format!("{v:?}")
}
