//! Request bodies: the content type is checked (415), the JSON parsed (400), and then decoded
//! field by field so that one answer names every bad field (unknown, wrong type, missing).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use http::header;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{AdminError, FieldDetail, Result};

/// A JSON request body (`application/json`, or `application/merge-patch+json` for merge
/// patches), parsed but not yet decoded.
#[derive(Debug)]
pub(crate) struct JsonBody(pub(crate) Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = AdminError;

    async fn from_request(request: Request, state: &S) -> Result<Self> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if essence != "application/json" && essence != "application/merge-patch+json" {
            return Err(AdminError::UnsupportedMediaType(format!(
                "expected Content-Type application/json (or application/merge-patch+json), \
                 got {:?}",
                content_type.chars().take(80).collect::<String>()
            )));
        }
        let bytes = Bytes::from_request(request, state).await.map_err(|e| {
            if e.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
                AdminError::TooLarge("the request body is too large".into())
            } else {
                AdminError::BadRequest("cannot read the request body".into())
            }
        })?;
        let value = serde_json::from_slice(&bytes)
            .map_err(|e| AdminError::BadRequest(format!("the body is not valid JSON: {e}")))?;
        Ok(Self(value))
    }
}

/// Decodes `value` into `T` one field at a time. Every field that is unknown, of the wrong
/// type or invalid for `T`'s deserializer, and every `required` field that is missing (or
/// `null`), becomes one detail; the fields that did decode are returned as a `T` (the others
/// at their defaults) so that the caller can validate them too and answer with everything.
pub(crate) fn decode_fields<T>(value: Value, required: &[&str]) -> (T, Vec<FieldDetail>)
where
    T: DeserializeOwned + Serialize + Default,
{
    let Value::Object(fields) = value else {
        return (
            T::default(),
            vec![FieldDetail::new("", "expected a JSON object")],
        );
    };
    let base = match serde_json::to_value(T::default()) {
        Ok(Value::Object(base)) => base,
        _ => Map::new(),
    };
    let mut details = Vec::new();
    for name in required {
        if fields.get(*name).is_none_or(Value::is_null) {
            details.push(FieldDetail::new(*name, "is required"));
        }
    }
    let mut good = base.clone();
    for (name, field) in fields {
        let mut probe = base.clone();
        probe.insert(name.clone(), field.clone());
        match serde_json::from_value::<T>(Value::Object(probe)) {
            Ok(_) => {
                good.insert(name, field);
            }
            Err(e) => details.push(FieldDetail::new(name, e.to_string())),
        }
    }
    let decoded = serde_json::from_value(Value::Object(good)).unwrap_or_default();
    (decoded, details)
}

/// [`decode_fields`], failing with every detail when there is one.
pub(crate) fn decode<T>(value: Value, required: &[&str]) -> Result<T>
where
    T: DeserializeOwned + Serialize + Default,
{
    let (decoded, details) = decode_fields(value, required);
    if details.is_empty() {
        Ok(decoded)
    } else {
        Err(AdminError::Validation(details))
    }
}

/// RFC 7386 JSON merge patch: `patch` applied to `target`.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target) = target else {
        return;
    };
    for (name, value) in patch {
        if value.is_null() {
            target.remove(name);
        } else {
            merge_patch(target.entry(name.clone()).or_insert(Value::Null), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        #[serde(default)]
        name: String,
        #[serde(default)]
        count: u64,
        #[serde(default)]
        tags: Vec<String>,
    }

    #[test]
    fn every_bad_field_is_named() {
        let (decoded, details) = decode_fields::<Sample>(
            json!({"name": 5, "count": "x", "tags": ["a"], "extra": 1}),
            &["name", "missing"],
        );
        let fields: Vec<&str> = details.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(fields, ["missing", "count", "extra", "name"]);
        assert_eq!(decoded.tags, ["a"]);
        assert!(details[2].message.contains("unknown field"), "{details:?}");
        assert!(details[1].message.contains("expected u64"), "{details:?}");
        let (_, details) = decode_fields::<Sample>(json!([1]), &[]);
        assert_eq!(details[0].field, "");
        assert_eq!(
            decode::<Sample>(json!({"count": 2}), &[]).unwrap(),
            Sample {
                count: 2,
                ..Sample::default()
            }
        );
    }

    #[test]
    fn merge_patch_follows_rfc_7386() {
        // The examples of RFC 7386 appendix A, a selection.
        let cases = [
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (
                json!({"a":"b","b":"c"}),
                json!({"a":null}),
                json!({"b":"c"}),
            ),
            (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
            (
                json!({"a":{"b":"c"}}),
                json!({"a":{"b":"d","c":null}}),
                json!({"a":{"b":"d"}}),
            ),
            (json!({"a":"foo"}), json!(null), json!(null)),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
            (json!([1, 2]), json!({"a":"b","c":null}), json!({"a":"b"})),
            (
                json!({}),
                json!({"a":{"bb":{"ccc":null}}}),
                json!({"a":{"bb":{}}}),
            ),
        ];
        for (mut target, patch, want) in cases {
            merge_patch(&mut target, &patch);
            assert_eq!(target, want, "patch {patch}");
        }
    }
}
