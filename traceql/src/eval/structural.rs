//! Operators between two sets of spans of one trace (as masks over the trace's spans).

use std::collections::HashMap;

use crate::ast::SpansetOp;
use crate::view::TraceView;

/// How the B spans relate to the A spans.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rel {
    /// `A > B`: B's parent is in A.
    Child,
    /// `A < B`: B is the parent of an A span.
    Parent,
    /// `A >> B`: B has an ancestor in A.
    Descendant,
    /// `A << B`: B has a descendant in A.
    Ancestor,
    /// `A ~ B`: B has a sibling in A.
    Sibling,
}

/// `lhs op rhs` over masks of the trace's spans.
pub(crate) fn apply(op: SpansetOp, view: &TraceView<'_>, a: &[bool], b: &[bool]) -> Vec<bool> {
    use SpansetOp::*;
    match op {
        And => {
            if a.contains(&true) && b.contains(&true) {
                union(a, b)
            } else {
                vec![false; a.len()]
            }
        }
        Or => union(a, b),
        Child | NotChild | UnionChild => relate(Rel::Child, op, view, a, b),
        Parent | NotParent | UnionParent => relate(Rel::Parent, op, view, a, b),
        Descendant | NotDescendant | UnionDescendant => relate(Rel::Descendant, op, view, a, b),
        Ancestor | NotAncestor | UnionAncestor => relate(Rel::Ancestor, op, view, a, b),
        Sibling | NotSibling | UnionSibling => relate(Rel::Sibling, op, view, a, b),
    }
}

fn union(a: &[bool], b: &[bool]) -> Vec<bool> {
    a.iter().zip(b).map(|(x, y)| *x || *y).collect()
}

fn relate(rel: Rel, op: SpansetOp, view: &TraceView<'_>, a: &[bool], b: &[bool]) -> Vec<bool> {
    let (b_hit, a_hit) = pairs(rel, view, a, b);
    match op {
        SpansetOp::NotChild
        | SpansetOp::NotParent
        | SpansetOp::NotDescendant
        | SpansetOp::NotAncestor
        | SpansetOp::NotSibling => b.iter().zip(&b_hit).map(|(x, h)| *x && !h).collect(),
        SpansetOp::UnionChild
        | SpansetOp::UnionParent
        | SpansetOp::UnionDescendant
        | SpansetOp::UnionAncestor
        | SpansetOp::UnionSibling => union(&b_hit, &a_hit),
        _ => b_hit,
    }
}

/// The B spans in the relation with some A span, and the A spans in it with some B span.
fn pairs(rel: Rel, view: &TraceView<'_>, a: &[bool], b: &[bool]) -> (Vec<bool>, Vec<bool>) {
    let n = a.len();
    let mut b_hit = vec![false; n];
    let mut a_hit = vec![false; n];
    match rel {
        Rel::Child => {
            for i in (0..n).filter(|i| b[*i]) {
                if let Some(p) = view.parent(i).filter(|p| a[*p]) {
                    b_hit[i] = true;
                    a_hit[p] = true;
                }
            }
        }
        Rel::Parent => {
            for i in (0..n).filter(|i| a[*i]) {
                if let Some(p) = view.parent(i).filter(|p| b[*p]) {
                    b_hit[p] = true;
                    a_hit[i] = true;
                }
            }
        }
        Rel::Descendant => {
            for i in (0..n).filter(|i| b[*i]) {
                for anc in view.ancestors(i).filter(|p| a[*p]) {
                    b_hit[i] = true;
                    a_hit[anc] = true;
                }
            }
        }
        Rel::Ancestor => {
            for i in (0..n).filter(|i| a[*i]) {
                for anc in view.ancestors(i).filter(|p| b[*p]) {
                    b_hit[anc] = true;
                    a_hit[i] = true;
                }
            }
        }
        Rel::Sibling => {
            // Per parent span ID: how many of its children are A spans and B spans; a span has
            // a sibling in a set when the set holds another child of the same parent. Keyed by
            // ID, not by index, so the children of a parent that never arrived count too.
            let mut counts: HashMap<&[u8], (usize, usize)> = HashMap::new();
            for i in 0..n {
                if let Some(key) = view.sibling_key(i) {
                    let c = counts.entry(key).or_default();
                    c.0 += usize::from(a[i]);
                    c.1 += usize::from(b[i]);
                }
            }
            for i in 0..n {
                let Some((in_a, in_b)) = view.sibling_key(i).and_then(|k| counts.get(k)) else {
                    continue;
                };
                b_hit[i] = b[i] && in_a - usize::from(a[i]) > 0;
                a_hit[i] = a[i] && in_b - usize::from(b[i]) > 0;
            }
        }
    }
    (b_hit, a_hit)
}
