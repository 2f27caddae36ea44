//! Versions as entity tags: a tenant's `version` is the `ETag` (`"7"`) of every document of
//! that tenant (the tenant, its limits, its generator settings), and `If-Match` carries it back
//! for optimistic concurrency.

use http::{HeaderMap, HeaderValue, header};

use crate::error::{AdminError, Result};

/// The entity tag of `version`: `"<version>"`, quotes included.
pub(crate) fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

pub(crate) fn etag_header(version: u64) -> (header::HeaderName, HeaderValue) {
    (
        header::ETAG,
        HeaderValue::from_str(&etag(version)).expect("digits and quotes are a header value"),
    )
}

/// What `If-Match` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IfMatch {
    /// No `If-Match` header.
    Absent,
    /// `*`: any current version.
    Any,
    /// `"<version>"` (a weak `W/"…"` tag is refused: versions are strong).
    Version(u64),
}

impl IfMatch {
    pub(crate) fn from_headers(headers: &HeaderMap) -> Result<Self> {
        let mut values = headers.get_all(header::IF_MATCH).iter();
        let Some(value) = values.next() else {
            return Ok(Self::Absent);
        };
        let bad = || {
            AdminError::BadRequest(
                "If-Match must be one ETag as returned by a GET, e.g. If-Match: \"3\"".into(),
            )
        };
        if values.next().is_some() {
            return Err(bad());
        }
        let text = value.to_str().map_err(|_| bad())?.trim();
        if text == "*" {
            return Ok(Self::Any);
        }
        let digits = text
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .ok_or_else(bad)?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        digits.parse().map(Self::Version).map_err(|_| bad())
    }

    /// The version a store update must find, if any.
    pub(crate) fn expected(self) -> Option<u64> {
        match self {
            Self::Version(v) => Some(v),
            Self::Absent | Self::Any => None,
        }
    }

    /// Like [`IfMatch::from_headers`], but a missing header is 428.
    pub(crate) fn required(headers: &HeaderMap) -> Result<Self> {
        match Self::from_headers(headers)? {
            Self::Absent => Err(AdminError::PreconditionRequired),
            other => Ok(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(values: &[&str]) -> Result<IfMatch> {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::IF_MATCH, HeaderValue::from_str(v).unwrap());
        }
        IfMatch::from_headers(&h)
    }

    #[test]
    fn if_match_values() {
        assert_eq!(parse(&[]).unwrap(), IfMatch::Absent);
        assert_eq!(parse(&["*"]).unwrap(), IfMatch::Any);
        assert_eq!(parse(&["\"12\""]).unwrap(), IfMatch::Version(12));
        assert_eq!(parse(&[" \"0\" "]).unwrap().expected(), Some(0));
        for bad in ["12", "W/\"12\"", "\"\"", "\"1a\"", "\"1\", \"2\""] {
            assert!(parse(&[bad]).is_err(), "{bad}");
        }
        assert!(parse(&["\"1\"", "\"2\""]).is_err());
        assert!(matches!(
            IfMatch::required(&HeaderMap::new()),
            Err(AdminError::PreconditionRequired)
        ));
        assert_eq!(etag(7), "\"7\"");
    }
}
