//! Reading a request body with a hard cap, and decompressing it with the cap applied to the
//! decompressed size: decoding stops as soon as the output would pass the cap, and the output
//! buffer never grows beyond it, so a compression bomb costs at most the cap in memory.

use std::io::Read;

use axum::body::Body;
use bytes::Bytes;
use flate2::read::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};
use http::HeaderMap;
use http_body_util::BodyExt;

use crate::error::{GatewayError, Result};

/// Bodies larger than this are decompressed on the blocking pool, off the async executor.
const INLINE_DECOMPRESS_BYTES: usize = 64 * 1024;
/// Bytes decoded per read.
const CHUNK: usize = 64 * 1024;

/// A `Content-Encoding` the OTLP/HTTP endpoints accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ContentEncoding {
    Identity,
    Gzip,
    /// zlib-wrapped deflate as HTTP specifies it; raw deflate is accepted too.
    Deflate,
    Zstd,
}

impl ContentEncoding {
    /// From the request headers; an unknown coding is refused (415).
    pub(crate) fn from_headers(headers: &HeaderMap) -> Result<Self> {
        let Some(value) = headers.get(http::header::CONTENT_ENCODING) else {
            return Ok(Self::Identity);
        };
        let text = value.to_str().unwrap_or_default().trim();
        match text.to_ascii_lowercase().as_str() {
            "" | "identity" => Ok(Self::Identity),
            "gzip" | "x-gzip" => Ok(Self::Gzip),
            "deflate" => Ok(Self::Deflate),
            "zstd" => Ok(Self::Zstd),
            _ => Err(GatewayError::UnsupportedContentEncoding(
                text.chars().take(64).collect(),
            )),
        }
    }
}

/// How much of an oversize body is read and discarded before answering 413. Answering with
/// the body unread makes the connection close under a client still sending, which then sees a
/// broken pipe instead of the 413 that tells it not to retry; past this, the bandwidth matters
/// more and the connection is closed anyway.
const DRAIN_LIMIT: usize = 64 << 20;

/// Reads a whole body, refusing (413) one whose declared or actual length is over `cap`.
pub(crate) async fn read_capped(headers: &HeaderMap, mut body: Body, cap: usize) -> Result<Bytes> {
    let too_large = || GatewayError::BodyTooLarge { limit: cap as u64 };
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > cap as u64) {
        if declared.is_some_and(|len| len <= DRAIN_LIMIT as u64) {
            drain(&mut body, DRAIN_LIMIT).await;
        }
        return Err(too_large());
    }
    let mut collected = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|err| GatewayError::ReadBody(err.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if collected.len() + data.len() > cap {
            drain(&mut body, DRAIN_LIMIT.saturating_sub(collected.len())).await;
            return Err(too_large());
        }
        collected.extend_from_slice(&data);
    }
    Ok(collected.freeze())
}

/// Reads and discards up to `limit` more bytes of a body (errors end it quietly).
async fn drain(body: &mut Body, limit: usize) {
    let mut seen = 0usize;
    while seen < limit {
        match body.frame().await {
            Some(Ok(frame)) => seen += frame.data_ref().map_or(0, |d| d.len()),
            _ => return,
        }
    }
}

/// Decompresses `raw`, refusing (413) output over `cap` bytes. Large bodies are decoded on the
/// blocking pool.
pub(crate) async fn decompress(encoding: ContentEncoding, raw: Bytes, cap: usize) -> Result<Bytes> {
    if encoding == ContentEncoding::Identity {
        return Ok(raw);
    }
    if raw.len() <= INLINE_DECOMPRESS_BYTES {
        return decompress_blocking(encoding, &raw, cap);
    }
    tokio::task::spawn_blocking(move || decompress_blocking(encoding, &raw, cap))
        .await
        .map_err(|err| GatewayError::Internal(format!("decompression task failed: {err}")))?
}

/// Whether `raw` starts with a zlib header (RFC 1950: method 8, header checksum).
fn has_zlib_header(raw: &[u8]) -> bool {
    raw.len() >= 2 && raw[0] & 0x0f == 8 && (u16::from(raw[0]) << 8 | u16::from(raw[1])) % 31 == 0
}

pub(crate) fn decompress_blocking(
    encoding: ContentEncoding,
    raw: &[u8],
    cap: usize,
) -> Result<Bytes> {
    match encoding {
        ContentEncoding::Identity => {
            if raw.len() > cap {
                return Err(GatewayError::BodyTooLarge { limit: cap as u64 });
            }
            Ok(Bytes::copy_from_slice(raw))
        }
        ContentEncoding::Gzip => read_capped_sync(MultiGzDecoder::new(raw), raw.len(), cap),
        ContentEncoding::Deflate if has_zlib_header(raw) => {
            read_capped_sync(ZlibDecoder::new(raw), raw.len(), cap)
        }
        ContentEncoding::Deflate => read_capped_sync(DeflateDecoder::new(raw), raw.len(), cap),
        ContentEncoding::Zstd => {
            let decoder =
                zstd::stream::read::Decoder::new(raw).map_err(GatewayError::Decompress)?;
            read_capped_sync(decoder, raw.len(), cap)
        }
    }
}

/// Reads a decoder to its end into a buffer whose capacity never passes `cap`.
fn read_capped_sync(mut reader: impl Read, raw_len: usize, cap: usize) -> Result<Bytes> {
    let mut out: Vec<u8> = Vec::with_capacity(raw_len.saturating_mul(4).min(cap));
    let mut chunk = vec![0u8; CHUNK];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(GatewayError::Decompress(err)),
        };
        let needed = out.len() + n;
        if needed > cap {
            return Err(GatewayError::BodyTooLarge { limit: cap as u64 });
        }
        if needed > out.capacity() {
            let target = out.capacity().saturating_mul(2).max(needed).min(cap);
            out.reserve_exact(target - out.len());
        }
        out.extend_from_slice(&chunk[..n]);
    }
    Ok(out.into())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn every_encoding_round_trips() {
        let data = b"hello hello hello hello".repeat(100);
        let zlib = {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&data).unwrap();
            e.finish().unwrap()
        };
        let raw_deflate = {
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&data).unwrap();
            e.finish().unwrap()
        };
        let zstd = zstd::encode_all(data.as_slice(), 1).unwrap();
        for (enc, body) in [
            (ContentEncoding::Gzip, gzip(&data)),
            (ContentEncoding::Deflate, zlib),
            (ContentEncoding::Deflate, raw_deflate),
            (ContentEncoding::Zstd, zstd),
            (ContentEncoding::Identity, data.clone()),
        ] {
            let out = decompress_blocking(enc, &body, 1 << 20).unwrap();
            assert_eq!(out.as_ref(), data.as_slice(), "{enc:?}");
        }
    }

    #[test]
    fn cap_is_on_the_decompressed_size_and_bounds_the_buffer() {
        let data = vec![0u8; 10_000];
        let body = gzip(&data);
        assert!(decompress_blocking(ContentEncoding::Gzip, &body, 10_000).is_ok());
        let err = decompress_blocking(ContentEncoding::Gzip, &body, 9_999).unwrap_err();
        assert!(matches!(err, GatewayError::BodyTooLarge { limit: 9_999 }));
    }

    #[test]
    fn corrupt_input_is_a_bad_request() {
        let err = decompress_blocking(ContentEncoding::Gzip, b"not gzip", 100).unwrap_err();
        assert_eq!(err.kind(), sextant_model::ErrorKind::BadRequest);
    }
}
