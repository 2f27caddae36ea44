//! [`Projection`]: which optional parts of a span pass two of a block search reads.

use super::schema;

/// Which optional parts of each span pass two of a search reads and decodes, for callers (such
/// as TraceQL metrics) that need every passing trace but not every field of it.
///
/// Always read: trace and span IDs (with the span's own `trace_id` when it differs from the
/// row's), the parent, the times (trace start, start offset, duration), name, kind, flags,
/// status code, the resource and the scope. A part left out is neither fetched from the object
/// store nor decoded; the returned spans have it empty: no attributes, events or links, their
/// dropped counts 0, status message and trace state "".
///
/// Conditions are evaluated in pass one on their own columns, so a condition on a span
/// attribute still filters when the projection leaves the attributes out.
///
/// A projection of fewer than every part also skips the trace-level columns (trace duration,
/// root service and span names, service name), from which decoding takes nothing;
/// [`Projection::ALL`] reads every column, exactly as [`TraceSelect::All`] does.
///
/// [`TraceSelect::All`]: super::TraceSelect::All
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Projection {
    /// Span attributes and their dropped count.
    pub span_attributes: bool,
    /// Span events and their dropped count.
    pub events: bool,
    /// Span links and their dropped count.
    pub links: bool,
    /// `Status.message` (the code is always read).
    pub status_message: bool,
    /// The W3C trace state.
    pub trace_state: bool,
}

impl Projection {
    /// Every part: the same as [`TraceSelect::All`](super::TraceSelect::All), byte for byte.
    pub const ALL: Projection = Projection {
        span_attributes: true,
        events: true,
        links: true,
        status_message: true,
        trace_state: true,
    };

    /// The columns pass two reads for this projection; `None` for every column of the block
    /// (what [`Projection::ALL`] reads, as pass two always did).
    pub(crate) fn columns(&self) -> Option<Vec<&'static str>> {
        if *self == Projection::ALL {
            return None;
        }
        let mut columns = ALWAYS.to_vec();
        let parts = [
            (self.span_attributes, SPAN_ATTRIBUTES),
            (self.events, EVENTS),
            (self.links, LINKS),
            (self.status_message, STATUS_MESSAGE),
            (self.trace_state, TRACE_STATE),
        ];
        for (wanted, names) in parts {
            if wanted {
                columns.extend_from_slice(names);
            }
        }
        Some(columns)
    }
}

/// The columns decoding a span needs whatever the projection.
const ALWAYS: &[&str] = &[
    schema::TRACE_ID,
    schema::TRACE_START,
    schema::RESOURCE,
    schema::SCOPE,
    schema::SPAN_ID,
    schema::PARENT_POS,
    schema::PARENT_SPAN_ID,
    schema::START_OFFSET,
    schema::DURATION,
    schema::NAME,
    schema::KIND,
    schema::FLAGS,
    schema::STATUS_CODE,
    schema::SPAN_TRACE_ID,
];
const SPAN_ATTRIBUTES: &[&str] = &[schema::ATTRIBUTES, schema::DROPPED_ATTRIBUTES];
const EVENTS: &[&str] = &[schema::EVENTS, schema::DROPPED_EVENTS];
const LINKS: &[&str] = &[schema::LINKS, schema::DROPPED_LINKS];
const STATUS_MESSAGE: &[&str] = &[schema::STATUS_MESSAGE];
const TRACE_STATE: &[&str] = &[schema::TRACE_STATE];

#[cfg(test)]
mod tests {
    use super::*;

    /// Every column of the schema is either always read or belongs to exactly one part, but
    /// the trace-level columns, which decoding derives nothing from.
    #[test]
    fn every_decoded_column_is_always_read_or_in_one_part() {
        let trace_level = [
            schema::TRACE_DURATION,
            schema::ROOT_SERVICE_NAME,
            schema::ROOT_SPAN_NAME,
            schema::SERVICE_NAME,
        ];
        let parts = [SPAN_ATTRIBUTES, EVENTS, LINKS, STATUS_MESSAGE, TRACE_STATE];
        for field in schema::schema().fields() {
            let name = field.name().as_str();
            let homes = usize::from(ALWAYS.contains(&name))
                + parts.iter().filter(|p| p.contains(&name)).count()
                + usize::from(trace_level.contains(&name));
            assert_eq!(homes, 1, "column {name}");
        }
        assert_eq!(Projection::ALL.columns(), None);
        assert_eq!(Projection::default().columns(), Some(ALWAYS.to_vec()));
    }
}
