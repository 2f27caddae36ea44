//! The block's bloom filter over trace IDs (`bloom.bin`), read before anything else so a
//! lookup can decide "not in this block" with one small, cacheable object.
//!
//! Layout (little-endian): magic `SXBF`, format version `u32` (1), hash count `k: u32`, bit
//! count `m: u64` (a multiple of 64), then `m / 64` words of `u64`. Bit positions for a trace ID
//! are `h1 + i * h2 (mod m)` for `i < k`, with `h1`, `h2` two 64-bit mixes of its 16 bytes.

use sextant_model::TraceId;

use crate::error::{Error, Result};

const MAGIC: &[u8; 4] = b"SXBF";
const VERSION: u32 = 1;
const HEADER_LEN: usize = 4 + 4 + 4 + 8;

/// A bloom filter over trace IDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceBloom {
    k: u32,
    words: Vec<u64>,
}

impl TraceBloom {
    /// An empty filter sized for `items` IDs at false-positive rate `fp`.
    pub fn with_capacity(items: usize, fp: f64) -> Self {
        let fp = fp.clamp(1e-6, 0.5);
        let n = items.max(1) as f64;
        let ln2 = std::f64::consts::LN_2;
        let m = (-(n * fp.ln()) / (ln2 * ln2)).ceil().max(64.0) as u64;
        let words = m.div_ceil(64) as usize;
        let k = ((words as f64 * 64.0 / n) * ln2).round().clamp(1.0, 16.0) as u32;
        Self {
            k,
            words: vec![0; words],
        }
    }

    pub fn insert(&mut self, id: &TraceId) {
        let m = self.words.len() as u64 * 64;
        let (h1, h2) = hashes(id);
        for i in 0..u64::from(self.k) {
            let bit = h1.wrapping_add(i.wrapping_mul(h2)) % m;
            self.words[(bit / 64) as usize] |= 1 << (bit % 64);
        }
    }

    /// False means the ID is certainly not in the block.
    pub fn may_contain(&self, id: &TraceId) -> bool {
        let m = self.words.len() as u64 * 64;
        let (h1, h2) = hashes(id);
        (0..u64::from(self.k)).all(|i| {
            let bit = h1.wrapping_add(i.wrapping_mul(h2)) % m;
            self.words[(bit / 64) as usize] & (1 << (bit % 64)) != 0
        })
    }

    /// Bytes of the serialised filter.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.words.len() * 8
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&self.k.to_le_bytes());
        out.extend_from_slice(&(self.words.len() as u64 * 64).to_le_bytes());
        for w in &self.words {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let bad = |reason: &str| Error::BlockFormat {
            reason: format!("bloom filter: {reason}"),
        };
        if bytes.len() < HEADER_LEN || &bytes[..4] != MAGIC {
            return Err(bad("bad magic"));
        }
        let u32_at = |at: usize| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let version = u32_at(4);
        if version != VERSION {
            return Err(Error::UnsupportedBlockVersion {
                what: "bloom filter",
                version,
            });
        }
        let k = u32_at(8);
        let mut m = [0u8; 8];
        m.copy_from_slice(&bytes[12..20]);
        let m = u64::from_le_bytes(m);
        let body = &bytes[HEADER_LEN..];
        if m == 0 || m % 64 != 0 || body.len() as u64 != m / 8 || k == 0 || k > 64 {
            return Err(bad("bad size"));
        }
        let words = body
            .chunks_exact(8)
            .map(|c| {
                let mut w = [0u8; 8];
                w.copy_from_slice(c);
                u64::from_le_bytes(w)
            })
            .collect();
        Ok(Self { k, words })
    }
}

fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn hashes(id: &TraceId) -> (u64, u64) {
    let mut lo = [0u8; 8];
    let mut hi = [0u8; 8];
    lo.copy_from_slice(&id.0[..8]);
    hi.copy_from_slice(&id.0[8..]);
    let (a, b) = (u64::from_le_bytes(lo), u64::from_le_bytes(hi));
    let h1 = mix(a ^ mix(b ^ 0x9e37_79b9_7f4a_7c15));
    let h2 = mix(b ^ mix(a ^ 0x6a09_e667_f3bc_c909)) | 1;
    (h1, h2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> TraceId {
        let mut b = [0u8; 16];
        b[8..].copy_from_slice(&n.to_be_bytes());
        TraceId(b)
    }

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        let mut bloom = TraceBloom::with_capacity(10_000, 0.01);
        for n in 0..10_000 {
            bloom.insert(&id(n));
        }
        assert!((0..10_000).all(|n| bloom.may_contain(&id(n))));
        let fps = (10_000..110_000)
            .filter(|n| bloom.may_contain(&id(*n)))
            .count();
        assert!(fps < 2_000, "{fps} false positives in 100000");
        let back = TraceBloom::decode(&bloom.encode()).unwrap();
        assert_eq!(back, bloom);
    }

    #[test]
    fn refuses_other_versions_and_garbage() {
        let mut bytes = TraceBloom::with_capacity(10, 0.01).encode();
        bytes[4] = 2;
        assert!(matches!(
            TraceBloom::decode(&bytes),
            Err(Error::UnsupportedBlockVersion { version: 2, .. })
        ));
        assert!(TraceBloom::decode(b"SXBF").is_err());
        assert!(TraceBloom::decode(&[0; 40]).is_err());
    }
}
