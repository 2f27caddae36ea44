//! One trace's spans, flattened and indexed for evaluation: parent links, children, the root,
//! the trace's time span and the nested-set numbering TraceQL exposes.

use std::collections::HashMap;

use sextant_model::otlp::{InstrumentationScope, Resource, Span, TracesData};

use crate::ast::FieldExpr;
use crate::ast::Static;
use crate::eval::expr::{Ctx, Expr};

/// A flattened, indexed view of one trace's spans (spans `0..len` in the order they appear in
/// the `TracesData`).
#[derive(Debug)]
pub struct TraceView<'a> {
    spans: Vec<&'a Span>,
    resources: Vec<Option<&'a Resource>>,
    scopes: Vec<Option<&'a InstrumentationScope>>,
    /// The index of each span's parent within the trace (never itself).
    parents: Vec<Option<usize>>,
    /// Children of each span, by start time then index.
    children: Vec<Vec<usize>>,
    /// `(left, right, parent)` nested-set numbers; `(0, 0, 0)` when not reachable from a root.
    nested: Vec<(i64, i64, i64)>,
    root: Option<usize>,
    start: u64,
    end: u64,
}

/// No parent: an empty or all-zero parent span ID.
pub(crate) fn is_root_span(span: &Span) -> bool {
    span.parent_span_id.iter().all(|b| *b == 0)
}

impl<'a> TraceView<'a> {
    pub fn new(trace: &'a TracesData) -> Self {
        let mut spans = Vec::new();
        let mut resources = Vec::new();
        let mut scopes = Vec::new();
        for rs in &trace.resource_spans {
            for ss in &rs.scope_spans {
                for span in &ss.spans {
                    spans.push(span);
                    resources.push(rs.resource.as_ref());
                    scopes.push(ss.scope.as_ref());
                }
            }
        }
        let n = spans.len();
        let mut by_id: HashMap<&[u8], usize> = HashMap::with_capacity(n);
        for (i, s) in spans.iter().enumerate() {
            by_id.entry(s.span_id.as_slice()).or_insert(i);
        }
        let parents: Vec<Option<usize>> = spans
            .iter()
            .enumerate()
            .map(|(i, s)| {
                if is_root_span(s) {
                    return None;
                }
                by_id
                    .get(s.parent_span_id.as_slice())
                    .copied()
                    .filter(|p| *p != i)
            })
            .collect();
        let by_start = |a: &usize, b: &usize| {
            (spans[*a].start_time_unix_nano, *a).cmp(&(spans[*b].start_time_unix_nano, *b))
        };
        let mut children = vec![Vec::new(); n];
        for (i, p) in parents.iter().enumerate() {
            if let Some(p) = p {
                children[*p].push(i);
            }
        }
        for c in &mut children {
            c.sort_by(by_start);
        }
        let mut roots: Vec<usize> = (0..n).filter(|i| is_root_span(spans[*i])).collect();
        roots.sort_by(by_start);
        let root = roots.first().copied();
        let nested = nested_sets(n, &roots, &children);
        let start = spans
            .iter()
            .map(|s| s.start_time_unix_nano)
            .min()
            .unwrap_or(0);
        let end = spans
            .iter()
            .map(|s| s.end_time_unix_nano)
            .max()
            .unwrap_or(0);
        TraceView {
            spans,
            resources,
            scopes,
            parents,
            children,
            nested,
            root,
            start,
            end,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn span(&self, i: usize) -> &'a Span {
        self.spans[i]
    }

    pub fn resource(&self, i: usize) -> Option<&'a Resource> {
        self.resources[i]
    }

    pub fn scope(&self, i: usize) -> Option<&'a InstrumentationScope> {
        self.scopes[i]
    }

    /// The root span: one without a parent span ID (empty or all zero); the earliest-starting
    /// one if several (then the first in the data).
    pub fn root(&self) -> Option<usize> {
        self.root
    }

    /// Earliest span start (unix ns).
    pub fn start(&self) -> u64 {
        self.start
    }

    /// Latest span end (unix ns).
    pub fn end(&self) -> u64 {
        self.end
    }

    /// The value of a field expression on span `i` (`Static::Nil` when absent). Event and link
    /// fields read the first event (link) that has a value; map and bytes values, which have
    /// no TraceQL literal, read as `Nil`; a regex that does not compile makes the value `Nil`.
    pub fn value(&self, i: usize, field: &FieldExpr) -> Static {
        match Expr::compile(field) {
            Ok(e) => e.eval(&Ctx::span(self, i)).to_static(),
            Err(_) => Static::Nil,
        }
    }

    pub(crate) fn parent(&self, i: usize) -> Option<usize> {
        self.parents[i]
    }

    /// What siblings share: the parent span ID, whether or not the parent was received (the
    /// children of a root that never arrived are still siblings). `None` for root spans.
    pub(crate) fn sibling_key(&self, i: usize) -> Option<&'a [u8]> {
        let span = self.spans[i];
        (!is_root_span(span)).then_some(span.parent_span_id.as_slice())
    }

    pub(crate) fn child_count(&self, i: usize) -> usize {
        self.children[i].len()
    }

    pub(crate) fn nested(&self, i: usize) -> (i64, i64, i64) {
        self.nested[i]
    }

    /// The ancestors of `i`, nearest first (bounded by the span count, so a cycle in bad data
    /// ends).
    pub(crate) fn ancestors(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        let mut cur = self.parents[i];
        let mut steps = 0;
        std::iter::from_fn(move || {
            let p = cur?;
            steps += 1;
            if steps > self.spans.len() {
                return None;
            }
            cur = self.parents[p];
            Some(p)
        })
    }
}

/// Nested-set numbers by depth-first walk from each root (roots and children in start order),
/// iteratively so deep traces do not exhaust the stack.
fn nested_sets(n: usize, roots: &[usize], children: &[Vec<usize>]) -> Vec<(i64, i64, i64)> {
    let mut out = vec![(0, 0, 0); n];
    let mut visited = vec![false; n];
    let mut counter = 1i64;
    for &root in roots {
        // (span, parent's left, next child position)
        let mut stack: Vec<(usize, i64, usize)> = Vec::new();
        if visited[root] {
            continue;
        }
        visited[root] = true;
        out[root] = (counter, 0, -1);
        counter += 1;
        stack.push((root, -1, 0));
        while let Some(top) = stack.last_mut() {
            let (span, _, next) = *top;
            if let Some(&child) = children[span].get(next) {
                top.2 += 1;
                if visited[child] {
                    continue;
                }
                visited[child] = true;
                out[child] = (counter, 0, out[span].0);
                counter += 1;
                stack.push((child, out[span].0, 0));
            } else {
                out[span].1 = counter;
                counter += 1;
                stack.pop();
            }
        }
    }
    out
}
