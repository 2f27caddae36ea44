//! Identifiers: tenants, traces and spans, with the parsing rules clients depend on.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("invalid tenant id {0:?}: must match [a-z0-9][a-z0-9_-]{{2,63}}")]
    Tenant(String),
    #[error("invalid trace id {0:?}: expected at most 32 hex characters")]
    Trace(String),
    #[error("invalid span id {0:?}: expected at most 16 hex characters")]
    Span(String),
}

/// A tenant identifier: `[a-z0-9][a-z0-9_-]{2,63}`. Immutable and the first component of every
/// storage key, so the rule also keeps keys safe (no `/`, `..`, upper case or empty ids).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(Arc<str>);

impl TenantId {
    /// The tenant used when no tenant is named (auth mode `none`, or no `X-Scope-OrgID`).
    pub const SINGLE_TENANT: &'static str = "single-tenant";

    pub fn new(id: &str) -> Result<Self, IdError> {
        if Self::is_valid(id) {
            Ok(Self(Arc::from(id)))
        } else {
            Err(IdError::Tenant(id.chars().take(80).collect()))
        }
    }

    pub fn single_tenant() -> Self {
        Self(Arc::from(Self::SINGLE_TENANT))
    }

    pub fn is_valid(id: &str) -> bool {
        let bytes = id.as_bytes();
        (3..=64).contains(&bytes.len())
            && matches!(bytes[0], b'a'..=b'z' | b'0'..=b'9')
            && bytes[1..]
                .iter()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for TenantId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantId({})", &self.0)
    }
}

/// Parses up to `N` bytes of hex the way Tempo does: case-insensitive, an odd length gets a
/// leading zero, shorter ids are left-padded with zero bytes.
fn parse_padded_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.is_empty() || s.len() > 2 * N || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut digits = Vec::with_capacity(2 * N);
    digits.resize(2 * N - s.len(), b'0');
    digits.extend_from_slice(s.as_bytes());
    let mut out = [0u8; N];
    hex::decode_to_slice(&digits, &mut out).ok()?;
    Some(out)
}

/// A 16-byte trace identifier.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TraceId(pub [u8; 16]);

impl TraceId {
    /// From wire bytes: exactly 16 of them.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// From hex as clients type it (see [`parse_padded_hex`]).
    pub fn parse_hex(s: &str) -> Result<Self, IdError> {
        parse_padded_hex::<16>(s)
            .map(Self)
            .ok_or_else(|| IdError::Trace(s.chars().take(80).collect()))
    }

    pub fn is_zero(&self) -> bool {
        self.0 == [0; 16]
    }

    /// Lower-case hex, 32 characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({})", self.to_hex())
    }
}

/// An 8-byte span identifier.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SpanId(pub [u8; 8]);

impl SpanId {
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    pub fn parse_hex(s: &str) -> Result<Self, IdError> {
        parse_padded_hex::<8>(s)
            .map(Self)
            .ok_or_else(|| IdError::Span(s.chars().take(80).collect()))
    }

    pub fn is_zero(&self) -> bool {
        self.0 == [0; 8]
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({})", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids() {
        for ok in ["abc", "single-tenant", "a_b-c", "0ab", &"a".repeat(64)] {
            assert!(TenantId::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "ab",
            "Abc",
            "-ab",
            "_ab",
            "a/b",
            "a..b",
            "a b",
            "ab\u{e9}",
            "a|b",
            &"a".repeat(65),
        ] {
            assert!(TenantId::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn trace_id_hex_rules() {
        let full = TraceId::parse_hex("0102030405060708090A0B0C0D0E0F10").unwrap();
        assert_eq!(full.to_hex(), "0102030405060708090a0b0c0d0e0f10");
        // Short and odd-length ids are left-padded.
        let short = TraceId::parse_hex("abc").unwrap();
        assert_eq!(short.to_hex(), "00000000000000000000000000000abc");
        let sixty_four_bit = TraceId::parse_hex("1122334455667788").unwrap();
        assert_eq!(sixty_four_bit.0[..8], [0; 8]);
        for bad in ["", "xyz", "0102030405060708090a0b0c0d0e0f1011", "12 34"] {
            assert!(TraceId::parse_hex(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn span_id_hex_rules() {
        assert_eq!(SpanId::parse_hex("1").unwrap().0, [0, 0, 0, 0, 0, 0, 0, 1]);
        assert!(SpanId::parse_hex("11223344556677889").is_err());
        assert!(SpanId::from_slice(&[1; 7]).is_none());
    }
}
