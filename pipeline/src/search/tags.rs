//! Tag names and values: what a tag query collects from the spans it visits, Tempo's fixed
//! lists (intrinsics, v1's virtual values, v2's enumerations) and the storage condition that
//! narrows a tag-values query to spans having the tag.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use sextant_model::otlp::{KeyValue, TracesData};
use sextant_model::{SearchMetrics, TagScope, TagValue, TagValueType};
use sextant_traceql::{FieldExpr, Intrinsic, Kind, Search, Static, Status, TraceView};

use sextant_model::Error as ModelError;

/// Tempo's list of intrinsic tag names (`/api/v2/search/tags`, scope `intrinsic`).
pub(super) const INTRINSIC_TAGS: [&str; 25] = [
    "duration",
    "event:name",
    "event:timeSinceStart",
    "instrumentation:name",
    "instrumentation:version",
    "kind",
    "link:spanID",
    "link:traceID",
    "name",
    "rootName",
    "rootServiceName",
    "span:duration",
    "span:id",
    "span:kind",
    "span:name",
    "span:parentID",
    "span:status",
    "span:statusMessage",
    "status",
    "statusMessage",
    "trace:duration",
    "trace:id",
    "trace:rootName",
    "trace:rootService",
    "traceDuration",
];

/// A tag-values `q`: what can be used of it, or nothing (an unusable `q` filters nothing, as
/// in Tempo).
pub(super) fn lenient_search(q: &str) -> Option<Search> {
    let query = sextant_traceql::lenient_parse(q)?;
    Search::new(&query).ok()
}

/// `key` as the name part of a TraceQL identifier, quoted when it is not a plain name.
fn quote_name(key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':'));
    if plain {
        key.to_string()
    } else {
        format!("\"{}\"", key.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// The fields a v1 tag name reads, as in Tempo: `name` is the span name, `root.name` and
/// `root.service.name` the trace's root span name and service; any other name is a span or
/// resource attribute.
pub(super) fn v1_tag_fields(name: &str) -> Result<Vec<FieldExpr>, sextant_traceql::Error> {
    let identifiers = match name {
        "name" => vec!["name".to_owned()],
        "root.name" => vec!["trace:rootName".to_owned()],
        "root.service.name" => vec!["trace:rootService".to_owned()],
        _ => {
            let key = quote_name(name);
            vec![format!("span.{key}"), format!("resource.{key}")]
        }
    };
    identifiers
        .iter()
        .map(|i| sextant_traceql::parse_identifier(i))
        .collect()
}

/// v1's virtual values: `status.code` and `error` are not attributes in OTLP.
pub(super) fn virtual_values_v1(name: &str) -> Option<Vec<TagValue>> {
    let values: &[&str] = match name {
        "status.code" => &["error", "ok", "unset"],
        "error" => &["true"],
        _ => return None,
    };
    Some(
        values
            .iter()
            .map(|v| TagValue {
                value_type: TagValueType::String,
                value: (*v).to_string(),
            })
            .collect(),
    )
}

/// v2's enumerations: every value of `status` and `kind`, whatever the data holds.
pub(super) fn keyword_values(field: &FieldExpr) -> Option<Vec<TagValue>> {
    let FieldExpr::Intrinsic(i) = field else {
        return None;
    };
    let words: Vec<&str> = match i {
        Intrinsic::Status | Intrinsic::SpanStatus => {
            Status::ALL.iter().map(|s| s.keyword()).collect()
        }
        Intrinsic::Kind | Intrinsic::SpanKind => Kind::ALL.iter().map(|k| k.keyword()).collect(),
        _ => return None,
    };
    let mut values: Vec<TagValue> = words
        .into_iter()
        .map(|w| TagValue {
            value_type: TagValueType::Keyword,
            value: w.to_string(),
        })
        .collect();
    values.sort();
    Some(values)
}

/// A storage condition that the tag has a value, when it is a plain span or resource attribute.
pub(super) fn exists_condition(fields: &[FieldExpr]) -> Option<sextant_model::Condition> {
    use sextant_model::{AttributeRef, AttributeScope, Condition};
    let [FieldExpr::Attribute(a)] = fields else {
        return None;
    };
    if a.parent {
        return None;
    }
    let scope = match a.scope {
        sextant_traceql::Scope::None => AttributeScope::Any,
        sextant_traceql::Scope::Span => AttributeScope::Span,
        sextant_traceql::Scope::Resource => AttributeScope::Resource,
        _ => return None,
    };
    Some(Condition::exists(AttributeRef::Attribute {
        scope,
        key: a.name.clone(),
    }))
}

/// The fields as the store can list their values directly ([`TraceSelect::Values`]): span,
/// resource and unscoped attributes, span names and service names; `None` when any field is
/// something else (then whole traces are read and evaluated).
///
/// [`TraceSelect::Values`]: sextant_store::TraceSelect::Values
pub(super) fn stored_fields(fields: &[FieldExpr]) -> Option<Vec<sextant_model::AttributeRef>> {
    use sextant_model::{AttributeRef, AttributeScope, Intrinsic as Stored};
    fields
        .iter()
        .map(|field| match field {
            FieldExpr::Intrinsic(Intrinsic::Name | Intrinsic::SpanName) => {
                Some(AttributeRef::Intrinsic(Stored::Name))
            }
            FieldExpr::Attribute(a) if !a.parent => {
                let scope = match a.scope {
                    sextant_traceql::Scope::None => AttributeScope::Any,
                    sextant_traceql::Scope::Span => AttributeScope::Span,
                    sextant_traceql::Scope::Resource => AttributeScope::Resource,
                    _ => return None,
                };
                Some(AttributeRef::Attribute {
                    scope,
                    key: a.name.clone(),
                })
            }
            _ => None,
        })
        .collect()
}

/// What a tag query collects.
pub(super) enum Collect {
    Names(Vec<TagScope>),
    Values {
        /// The same fields as the store lists their values, when it can and no filter
        /// applies ([`stored_fields`]).
        stored: Option<Vec<sextant_model::AttributeRef>>,
        fields: Vec<FieldExpr>,
        /// v1: every value as a string.
        as_strings: bool,
        limit: usize,
    },
}

pub(super) enum Collected {
    Names(BTreeMap<TagScope, BTreeSet<String>>),
    Values(BTreeSet<TagValue>),
}

pub(super) struct CollectOutcome {
    pub(super) collected: Collected,
    pub(super) metrics: SearchMetrics,
}

/// The most bytes of distinct values one tag-values query gathers (Tempo's
/// `max_bytes_per_tag_values_query` default): past it the answer is cut off, so a
/// high-cardinality attribute (request IDs) cannot exhaust memory.
pub(super) const MAX_TAG_VALUES_BYTES: usize = 1_000_000;

pub(super) struct CollectState {
    collect: Collect,
    names: BTreeMap<TagScope, BTreeSet<String>>,
    values: BTreeSet<TagValue>,
    /// Bytes of the distinct values in `values`.
    value_bytes: usize,
}

impl CollectState {
    pub(super) fn new(collect: Collect) -> Self {
        Self {
            collect,
            names: BTreeMap::new(),
            values: BTreeSet::new(),
            value_bytes: 0,
        }
    }

    /// Enough values already: the limit or [`MAX_TAG_VALUES_BYTES`] reached (names are
    /// gathered whole: the limit applies per scope, sorted).
    pub(super) fn full(&self) -> bool {
        match &self.collect {
            Collect::Values { limit, .. } => {
                (*limit > 0 && self.values.len() >= *limit)
                    || self.value_bytes >= MAX_TAG_VALUES_BYTES
            }
            Collect::Names(_) => false,
        }
    }

    /// Adds values the store listed ([`sextant_store::TraceSelect::Values`]), up to the limit
    /// and the byte cap.
    pub(super) fn add_stored(&mut self, values: &[sextant_model::Static]) {
        let Collect::Values { as_strings, .. } = &self.collect else {
            return;
        };
        let as_strings = *as_strings;
        for value in values {
            if self.full() {
                return;
            }
            let value = match value {
                sextant_model::Static::Str(s) => Static::String(s.clone()),
                sextant_model::Static::Int(i) => Static::Int(*i),
                sextant_model::Static::Float(f) => Static::Float(*f),
                sextant_model::Static::Bool(b) => Static::Bool(*b),
                _ => continue,
            };
            self.value_bytes += add_values(&value, as_strings, &mut self.values);
        }
    }

    pub(super) fn visit(
        &mut self,
        trace: &TracesData,
        filter: Option<&Search>,
        metrics: &mut SearchMetrics,
    ) -> sextant_model::Result<()> {
        let view = TraceView::new(trace);
        metrics.inspected_traces = metrics.inspected_traces.saturating_add(1);
        metrics.inspected_spans += view.len() as u64;
        let spans: Vec<usize> = match filter {
            Some(search) => {
                let sets = search.evaluate(&view).map_err(|e| {
                    ModelError::bad_request(format!("cannot evaluate the query: {e}"))
                })?;
                let set: BTreeSet<usize> = sets
                    .iter()
                    .flat_map(|s| s.spans.iter().map(|m| m.index))
                    .collect();
                set.into_iter().collect()
            }
            None => (0..view.len()).collect(),
        };
        match &self.collect {
            Collect::Names(scopes) => {
                for &i in &spans {
                    for scope in scopes {
                        let names = self.names.entry(*scope).or_default();
                        add_names(&view, i, *scope, names);
                    }
                }
            }
            Collect::Values {
                fields, as_strings, ..
            } => {
                for &i in &spans {
                    for field in fields {
                        let value = view.value(i, field);
                        self.value_bytes += add_values(&value, *as_strings, &mut self.values);
                    }
                    if self.full() {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    pub(super) fn finish(self) -> Collected {
        match self.collect {
            Collect::Names(_) => Collected::Names(self.names),
            Collect::Values { limit, .. } => {
                let mut values = self.values;
                if limit > 0 {
                    while values.len() > limit {
                        values.pop_last();
                    }
                }
                Collected::Values(values)
            }
        }
    }
}

/// The attribute names of span `i` in `scope`.
pub(super) fn add_names(
    view: &TraceView<'_>,
    i: usize,
    scope: TagScope,
    names: &mut BTreeSet<String>,
) {
    let mut add = |kvs: &[KeyValue]| {
        for kv in kvs {
            if !names.contains(&kv.key) {
                names.insert(kv.key.clone());
            }
        }
    };
    let span = view.span(i);
    match scope {
        TagScope::Resource => {
            if let Some(r) = view.resource(i) {
                add(&r.attributes);
            }
        }
        TagScope::Span => add(&span.attributes),
        TagScope::Event => {
            for e in &span.events {
                add(&e.attributes);
            }
        }
        TagScope::Link => {
            for l in &span.links {
                add(&l.attributes);
            }
        }
        TagScope::Instrumentation => {
            if let Some(s) = view.scope(i) {
                add(&s.attributes);
            }
        }
        TagScope::Intrinsic => {}
    }
}

/// Adds the distinct values of `value` (each item of an array); the bytes of those not already
/// in `out`.
pub(super) fn add_values(value: &Static, as_strings: bool, out: &mut BTreeSet<TagValue>) -> usize {
    let (value_type, text) = match value {
        Static::Nil => return 0,
        Static::Array(items) => {
            return items
                .iter()
                .map(|item| add_values(item, as_strings, out))
                .sum();
        }
        Static::Bool(b) => (TagValueType::Bool, b.to_string()),
        Static::Int(i) => (TagValueType::Int, i.to_string()),
        Static::Float(f) => (TagValueType::Float, f.to_string()),
        Static::Duration(d) => (
            TagValueType::Duration,
            humantime::format_duration(Duration::from_nanos((*d).max(0) as u64)).to_string(),
        ),
        Static::String(s) => (TagValueType::String, s.clone()),
        Static::Status(s) => (TagValueType::Keyword, s.keyword().to_string()),
        Static::Kind(k) => (TagValueType::Keyword, k.keyword().to_string()),
    };
    let value_type = if as_strings {
        TagValueType::String
    } else {
        value_type
    };
    let bytes = text.len();
    let added = out.insert(TagValue {
        value_type,
        value: text,
    });
    if added { bytes } else { 0 }
}
