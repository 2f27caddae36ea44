//! The API key format and its keyed digest; pure, no database.
//!
//! A key reads `sxt_<id>_<secret><check>`: `id` is 12 lower-case base32 characters (60 random
//! bits, public, the lookup key), `secret` 32 base62 characters (about 190 bits from the OS
//! random source) and `check` 6 base62 characters of the CRC32 of everything before it, so a
//! mistyped key is refused before any lookup. Only `HMAC-SHA-256(pepper, secret)` is stored.
//!
//! Admin tokens have the same shape with the prefix `sxa_` ([`ADMIN_TOKEN_PREFIX`]); their
//! stored digest is the HMAC of the whole token string, so an operator-supplied token of any
//! shape is handled the same way.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::error::{Error, Result};

/// What every key starts with.
pub const KEY_PREFIX: &str = "sxt_";
/// What every generated admin token starts with.
pub const ADMIN_TOKEN_PREFIX: &str = "sxa_";
/// Characters of a key ID.
pub(crate) const KEY_ID_LEN: usize = 12;
/// Characters of a key's secret.
pub(crate) const SECRET_LEN: usize = 32;
const CHECK_LEN: usize = 6;
/// Characters of a whole key.
pub const KEY_LEN: usize = KEY_PREFIX.len() + KEY_ID_LEN + 1 + SECRET_LEN + CHECK_LEN;

const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The server-side secret key digests are computed with; prints as `***`.
#[derive(Clone)]
pub struct Pepper(Vec<u8>);

impl Pepper {
    /// The shortest pepper accepted, in bytes.
    pub const MIN_LEN: usize = 16;

    /// A pepper of at least [`Pepper::MIN_LEN`] bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self> {
        let bytes = bytes.into();
        if bytes.len() < Self::MIN_LEN {
            return Err(Error::Invalid(format!(
                "the key pepper must be at least {} bytes",
                Self::MIN_LEN
            )));
        }
        Ok(Self(bytes))
    }
}

impl std::fmt::Debug for Pepper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl std::fmt::Display for Pepper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// The stored digest of a key's secret; prints as `***`, compares in constant time.
#[derive(Clone)]
pub struct KeyDigest(pub(crate) [u8; 32]);

impl KeyDigest {
    /// `HMAC-SHA-256(pepper, secret)`.
    pub fn compute(pepper: &Pepper, secret: &str) -> Self {
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&pepper.0).expect("hmac takes any key");
        mac.update(secret.as_bytes());
        Self(mac.finalize().into_bytes().into())
    }

    /// A digest as read from the database.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::Corrupt(format!("key digest of {} bytes", bytes.len())))?;
        Ok(Self(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether two digests are equal, in time independent of where they differ.
    pub fn matches(&self, other: &KeyDigest) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl std::fmt::Debug for KeyDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyDigest(***)")
    }
}

/// A presented key split into its parts; the secret prints as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct ParsedKey {
    pub key_id: String,
    pub secret: String,
}

impl std::fmt::Debug for ParsedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedKey")
            .field("key_id", &self.key_id)
            .field("secret", &"***")
            .finish()
    }
}

/// A new key: its ID and the whole key string (to be shown once).
pub fn generate() -> Result<(String, String)> {
    generate_with(KEY_PREFIX)
}

/// A new credential of the key shape with `prefix` (4 ASCII characters such as `sxa_`): its ID
/// and the whole string.
pub(crate) fn generate_with(prefix: &str) -> Result<(String, String)> {
    debug_assert_eq!(prefix.len(), KEY_PREFIX.len());
    let key_id = new_id()?;
    let secret = random_chars(BASE62, SECRET_LEN)?;
    let body = format!("{prefix}{key_id}_{secret}");
    let check = checksum(&body);
    Ok((key_id, format!("{body}{check}")))
}

/// A fresh random ID of the key-ID shape.
pub(crate) fn new_id() -> Result<String> {
    random_chars(BASE32, KEY_ID_LEN)
}

/// Splits a presented key, refusing a wrong prefix, length, alphabet or checksum.
pub fn parse(key: &str) -> Result<ParsedKey> {
    parse_with(KEY_PREFIX, key)
}

/// [`parse`] for credentials of the key shape with another `prefix`.
pub(crate) fn parse_with(prefix: &str, key: &str) -> Result<ParsedKey> {
    let malformed = || Error::Unauthenticated;
    if key.len() != KEY_LEN || !key.is_ascii() {
        return Err(malformed());
    }
    let rest = key.strip_prefix(prefix).ok_or_else(malformed)?;
    let (key_id, rest) = rest.split_at(KEY_ID_LEN);
    let rest = rest.strip_prefix('_').ok_or_else(malformed)?;
    let (secret, check) = rest.split_at(SECRET_LEN);
    if !key_id.bytes().all(|b| BASE32.contains(&b)) || !secret.bytes().all(|b| BASE62.contains(&b))
    {
        return Err(malformed());
    }
    let body = &key[..key.len() - CHECK_LEN];
    if checksum(body) != check {
        return Err(malformed());
    }
    Ok(ParsedKey {
        key_id: key_id.to_owned(),
        secret: secret.to_owned(),
    })
}

/// Whether `key_id` has the shape of a key ID (for admin input).
pub fn is_key_id(key_id: &str) -> bool {
    key_id.len() == KEY_ID_LEN && key_id.bytes().all(|b| BASE32.contains(&b))
}

/// CRC32 of `body` as 6 base62 characters (62^6 > 2^32).
fn checksum(body: &str) -> String {
    let mut value = crc32fast::hash(body.as_bytes());
    let mut out = [b'0'; CHECK_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(value % 62) as usize];
        value /= 62;
    }
    out.iter().map(|&b| char::from(b)).collect()
}

/// `len` characters drawn uniformly from `alphabet` with the OS random source (rejection
/// sampling, so no character is more likely than another).
fn random_chars(alphabet: &[u8], len: usize) -> Result<String> {
    let n = alphabet.len();
    let limit = 256 - 256 % n;
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut buf).map_err(|e| Error::Random(e.to_string()))?;
        for &b in &buf {
            if usize::from(b) < limit && out.len() < len {
                out.push(char::from(alphabet[usize::from(b) % n]));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn pepper() -> Pepper {
        Pepper::new(b"0123456789abcdef-test".to_vec()).unwrap()
    }

    #[test]
    fn generated_keys_parse() {
        let (id, key) = generate().unwrap();
        assert_eq!(key.len(), KEY_LEN);
        assert!(key.starts_with("sxt_"));
        let parsed = parse(&key).unwrap();
        assert_eq!(parsed.key_id, id);
        assert!(is_key_id(&id));
        assert_eq!(parsed.secret.len(), SECRET_LEN);
        let (other, _) = generate().unwrap();
        assert_ne!(id, other);
    }

    #[test]
    fn malformed_keys_are_refused() {
        let (_, key) = generate().unwrap();
        let bad = [
            String::new(),
            key.replacen("sxt_", "sxa_", 1),
            key[..key.len() - 1].to_owned(),
            format!("{key}x"),
            key.replacen('_', "-", 2),
            format!("{}!{}", &key[..20], &key[21..]),
            key.to_uppercase(),
        ];
        for b in bad {
            assert!(matches!(parse(&b), Err(Error::Unauthenticated)), "{b}");
        }
    }

    #[test]
    fn checksum_catches_a_changed_character() {
        let (_, key) = generate().unwrap();
        let pos = KEY_PREFIX.len() + KEY_ID_LEN + 5;
        let mut bytes = key.into_bytes();
        bytes[pos] = if bytes[pos] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(bytes).unwrap();
        assert!(parse(&typo).is_err());
    }

    #[test]
    fn digests_are_keyed() {
        let p = pepper();
        let other = Pepper::new(b"another pepper of 16+".to_vec()).unwrap();
        let a = KeyDigest::compute(&p, "secret");
        assert!(a.matches(&KeyDigest::compute(&p, "secret")));
        assert!(!a.matches(&KeyDigest::compute(&p, "secres")));
        assert!(!a.matches(&KeyDigest::compute(&other, "secret")));
        assert!(KeyDigest::from_slice(&[0; 31]).is_err());
        assert!(KeyDigest::from_slice(a.as_bytes()).unwrap().matches(&a));
    }

    #[test]
    fn secrets_never_print() {
        let p = pepper();
        assert_eq!(format!("{p} {p:?}"), "*** ***");
        assert!(Pepper::new(b"short".to_vec()).is_err());
        let d = KeyDigest::compute(&p, "s");
        assert_eq!(format!("{d:?}"), "KeyDigest(***)");
        let (_, key) = generate().unwrap();
        let parsed = parse(&key).unwrap();
        assert!(!format!("{parsed:?}").contains(&parsed.secret));
    }

    #[test]
    fn admin_tokens_have_their_own_prefix() {
        let (id, token) = generate_with(ADMIN_TOKEN_PREFIX).unwrap();
        assert!(token.starts_with("sxa_"));
        assert_eq!(token.len(), KEY_LEN);
        assert_eq!(parse_with(ADMIN_TOKEN_PREFIX, &token).unwrap().key_id, id);
        assert!(parse(&token).is_err(), "an admin token is not an API key");
        let (_, key) = generate().unwrap();
        assert!(parse_with(ADMIN_TOKEN_PREFIX, &key).is_err());
    }

    #[test]
    fn checksum_is_fixed_width() {
        assert_eq!(checksum("").len(), CHECK_LEN);
        assert_eq!(checksum("sxt_x").len(), CHECK_LEN);
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in ".{0,80}") {
            let _ = parse(&s);
        }

        #[test]
        fn any_single_substitution_is_refused(pos in 0usize..KEY_LEN, c in any::<char>()) {
            let (_, key) = generate().unwrap();
            let mut chars: Vec<char> = key.chars().collect();
            prop_assume!(chars[pos] != c);
            chars[pos] = c;
            let typo: String = chars.into_iter().collect();
            // A CRC32 catches every single-character change.
            prop_assert!(parse(&typo).is_err());
        }

        #[test]
        fn round_trip(_n in 0u8..32) {
            let (id, key) = generate().unwrap();
            let parsed = parse(&key).unwrap();
            prop_assert_eq!(parsed.key_id, id);
        }
    }
}
