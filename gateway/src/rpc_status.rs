//! `google.rpc.Status` and the messages it carries, written by hand with their field numbers:
//! `Status{code = 1 int32, message = 2 string, details = 3 repeated Any}`,
//! `Any{type_url = 1 string, value = 2 bytes}`, `RetryInfo{retry_delay = 1 Duration}`,
//! `Duration{seconds = 1 int64, nanos = 2 int32}`.

use std::time::Duration;

use prost::Message;
use serde_json::json;

/// The type URL of `google.rpc.RetryInfo` inside an `Any`.
pub(crate) const RETRY_INFO_TYPE_URL: &str = "type.googleapis.com/google.rpc.RetryInfo";

/// `google.rpc.Status`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<ProtoAny>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoAny {
    #[prost(string, tag = "1")]
    pub type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoDuration {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl From<Duration> for ProtoDuration {
    fn from(d: Duration) -> Self {
        Self {
            seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
        }
    }
}

impl RpcStatus {
    pub(crate) fn new(code: tonic::Code, message: impl Into<String>) -> Self {
        Self {
            code: code as i32,
            message: message.into(),
            details: Vec::new(),
        }
    }

    /// Adds a `google.rpc.RetryInfo` detail.
    pub(crate) fn with_retry_info(mut self, delay: Duration) -> Self {
        let info = RetryInfo {
            retry_delay: Some(delay.into()),
        };
        self.details.push(ProtoAny {
            type_url: RETRY_INFO_TYPE_URL.to_owned(),
            value: info.encode_to_vec(),
        });
        self
    }

    /// The protobuf-JSON form, fields in `.proto` order. `Any` holds a message we know, so it
    /// is written with `@type` and the message's own fields; `Duration` as a string of seconds
    /// (`"5s"`, `"1.5s"`).
    pub(crate) fn to_json(&self) -> String {
        let mut fields = Vec::new();
        if self.code != 0 {
            fields.push(format!("\"code\":{}", self.code));
        }
        if !self.message.is_empty() {
            fields.push(format!("\"message\":{}", json!(self.message)));
        }
        if !self.details.is_empty() {
            let details: Vec<String> = self.details.iter().map(any_to_json).collect();
            fields.push(format!("\"details\":[{}]", details.join(",")));
        }
        format!("{{{}}}", fields.join(","))
    }
}

fn any_to_json(any: &ProtoAny) -> String {
    let type_url = json!(any.type_url);
    if any.type_url == RETRY_INFO_TYPE_URL
        && let Ok(info) = RetryInfo::decode(any.value.as_slice())
    {
        return match info.retry_delay {
            Some(d) => format!(
                "{{\"@type\":{type_url},\"retryDelay\":\"{}\"}}",
                duration_json(&d)
            ),
            None => format!("{{\"@type\":{type_url}}}"),
        };
    }
    // Unknown payloads keep their bytes, as protobuf-JSON does for an unresolvable Any.
    use base64::Engine as _;
    let value = base64::engine::general_purpose::STANDARD.encode(&any.value);
    format!("{{\"@type\":{type_url},\"value\":\"{value}\"}}")
}

fn duration_json(d: &ProtoDuration) -> String {
    if d.nanos == 0 {
        format!("{}s", d.seconds)
    } else {
        let frac = format!("{:09}", d.nanos);
        format!("{}.{}s", d.seconds, frac.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Golden bytes written by hand from the field numbers above.
    #[test]
    fn status_with_retry_info_wire_layout() {
        let status = RpcStatus::new(tonic::Code::Unavailable, "x")
            .with_retry_info(Duration::from_millis(1500));
        let mut expected = vec![0x08, 14, 0x12, 1, b'x'];
        // details: Any { type_url, value = RetryInfo { retry_delay = { 1, 500000000 } } }
        let duration = [0x08, 1, 0x10, 0x80, 0xca, 0xb5, 0xee, 0x01];
        let mut retry = vec![0x0a, duration.len() as u8];
        retry.extend(duration);
        let mut any = vec![0x0a, RETRY_INFO_TYPE_URL.len() as u8];
        any.extend(RETRY_INFO_TYPE_URL.as_bytes());
        any.extend([0x12, retry.len() as u8]);
        any.extend(retry);
        expected.extend([0x1a, any.len() as u8]);
        expected.extend(any);
        assert_eq!(status.encode_to_vec(), expected);
        assert_eq!(
            status.to_json(),
            r#"{"code":14,"message":"x","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1.5s"}]}"#
        );
    }
}
