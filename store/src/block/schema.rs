//! The Arrow schema of block format v1 and the names of its columns.

use std::sync::{Arc, LazyLock};

use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};

pub(crate) const TRACE_ID: &str = "trace_id";
pub(crate) const TRACE_START: &str = "trace_start_unix_nano";
pub(crate) const TRACE_DURATION: &str = "trace_duration_nano";
pub(crate) const ROOT_SERVICE_NAME: &str = "root_service_name";
pub(crate) const ROOT_SPAN_NAME: &str = "root_span_name";
pub(crate) const SERVICE_NAME: &str = "service_name";
pub(crate) const RESOURCE: &str = "resource";
pub(crate) const SCOPE: &str = "scope";
pub(crate) const SPAN_ID: &str = "span_id";
pub(crate) const PARENT_POS: &str = "parent_pos";
pub(crate) const PARENT_SPAN_ID: &str = "parent_span_id";
pub(crate) const START_OFFSET: &str = "start_offset_nano";
pub(crate) const DURATION: &str = "duration_nano";
pub(crate) const NAME: &str = "name";
pub(crate) const KIND: &str = "kind";
pub(crate) const FLAGS: &str = "flags";
pub(crate) const TRACE_STATE: &str = "trace_state";
pub(crate) const STATUS_CODE: &str = "status_code";
pub(crate) const STATUS_MESSAGE: &str = "status_message";
pub(crate) const ATTRIBUTES: &str = "attributes";
pub(crate) const DROPPED_ATTRIBUTES: &str = "dropped_attributes_count";
pub(crate) const EVENTS: &str = "events";
pub(crate) const DROPPED_EVENTS: &str = "dropped_events_count";
pub(crate) const LINKS: &str = "links";
pub(crate) const DROPPED_LINKS: &str = "dropped_links_count";
pub(crate) const SPAN_TRACE_ID: &str = "span_trace_id";

pub(crate) const ATTR_KEY: &str = "key";
pub(crate) const ATTR_STR: &str = "str";
pub(crate) const ATTR_INT: &str = "int";
pub(crate) const ATTR_DOUBLE: &str = "double";
pub(crate) const ATTR_BOOL: &str = "bool";
pub(crate) const ATTR_ANY: &str = "any";

/// The fields of one attribute entry.
pub(crate) fn attribute_fields() -> Fields {
    Fields::from(vec![
        Field::new(ATTR_KEY, DataType::Utf8, false),
        Field::new(ATTR_STR, DataType::Utf8, true),
        Field::new(ATTR_INT, DataType::Int64, true),
        Field::new(ATTR_DOUBLE, DataType::Float64, true),
        Field::new(ATTR_BOOL, DataType::Boolean, true),
        Field::new(ATTR_ANY, DataType::Binary, true),
    ])
}

/// The list item field of the attributes column.
pub(crate) fn attribute_item() -> Arc<Field> {
    Arc::new(Field::new(
        "item",
        DataType::Struct(attribute_fields()),
        false,
    ))
}

/// The schema, in column order (the order is part of the format: readers project by index).
pub(crate) fn schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            Field::new(TRACE_ID, DataType::FixedSizeBinary(16), false),
            Field::new(TRACE_START, DataType::UInt64, false),
            Field::new(TRACE_DURATION, DataType::UInt64, false),
            Field::new(ROOT_SERVICE_NAME, DataType::Utf8, false),
            Field::new(ROOT_SPAN_NAME, DataType::Utf8, false),
            Field::new(SERVICE_NAME, DataType::Utf8, false),
            Field::new(RESOURCE, DataType::Binary, false),
            Field::new(SCOPE, DataType::Binary, false),
            Field::new(SPAN_ID, DataType::Binary, false),
            Field::new(PARENT_POS, DataType::Int32, false),
            Field::new(PARENT_SPAN_ID, DataType::Binary, true),
            Field::new(START_OFFSET, DataType::Int64, false),
            Field::new(DURATION, DataType::Int64, false),
            Field::new(NAME, DataType::Utf8, false),
            Field::new(KIND, DataType::Int32, false),
            Field::new(FLAGS, DataType::UInt32, false),
            Field::new(TRACE_STATE, DataType::Utf8, false),
            Field::new(STATUS_CODE, DataType::Int32, true),
            Field::new(STATUS_MESSAGE, DataType::Utf8, false),
            Field::new(ATTRIBUTES, DataType::List(attribute_item()), false),
            Field::new(DROPPED_ATTRIBUTES, DataType::UInt32, false),
            Field::new(EVENTS, DataType::Binary, true),
            Field::new(DROPPED_EVENTS, DataType::UInt32, false),
            Field::new(LINKS, DataType::Binary, true),
            Field::new(DROPPED_LINKS, DataType::UInt32, false),
            Field::new(SPAN_TRACE_ID, DataType::Binary, true),
        ]))
    });
    SCHEMA.clone()
}
