//! Scalars of the OTLP/JSON mapping: hex ids, base64 bytes, integers as numbers or strings,
//! doubles with their special strings, enums as integers or names.

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use sextant_model::otlp::{SpanKind, StatusCode};

/// An id in hex (OTLP/JSON's exception to protobuf-JSON's base64). The length is not checked
/// here: a wrong-length id rejects only its span, in validation.
#[derive(Default)]
pub(super) struct HexId(pub(super) Vec<u8>);

impl<'de> Deserialize<'de> for HexId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = Option::<Cow<'de, str>>::deserialize(d)?.unwrap_or_default();
        hex::decode(s.as_bytes())
            .map(HexId)
            .map_err(|e| de::Error::custom(format_args!("invalid hex id {:?}: {e}", Short(&s))))
    }
}

/// Base64 bytes (standard or URL-safe alphabet, padding optional).
#[derive(Default)]
pub(super) struct Base64(pub(super) Vec<u8>);

const LENIENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);

impl<'de> Deserialize<'de> for Base64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = Option::<Cow<'de, str>>::deserialize(d)?.unwrap_or_default();
        STANDARD
            .decode(s.as_bytes())
            .or_else(|_| URL_SAFE.decode(s.as_bytes()))
            .map(Base64)
            .map_err(|e| de::Error::custom(format_args!("invalid base64 bytesValue: {e}")))
    }
}

/// At most 40 characters of an offending input, for error messages.
struct Short<'a>(&'a str);

impl fmt::Debug for Short<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = self
            .0
            .char_indices()
            .nth(40)
            .map_or(self.0.len(), |(i, _)| i);
        fmt::Debug::fmt(&self.0[..end], f)
    }
}

/// An integer written as a JSON number or a decimal string (protobuf-JSON's 64-bit rule, which
/// parsers also accept for 32-bit fields).
#[derive(Default, Clone, Copy)]
pub(super) struct Int<T>(pub(super) T);

impl<'de, T> Deserialize<'de> for Int<T>
where
    T: TryFrom<u64> + TryFrom<i64> + std::str::FromStr + Default,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<T> Visitor<'_> for V<T>
        where
            T: TryFrom<u64> + TryFrom<i64> + std::str::FromStr + Default,
        {
            type Value = Int<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer as a number or a string")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Self::Value, E> {
                T::try_from(v)
                    .map(Int)
                    .map_err(|_| E::custom(format_args!("integer {v} out of range")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Self::Value, E> {
                T::try_from(v)
                    .map(Int)
                    .map_err(|_| E::custom(format_args!("integer {v} out of range")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Self::Value, E> {
                // Exponent notation of a whole number (`1e3`) is an integer to protobuf-JSON.
                #[expect(clippy::cast_possible_truncation, reason = "checked whole below")]
                let whole = v as i128;
                if v.fract() != 0.0 || !v.is_finite() || whole as f64 != v {
                    return Err(E::custom(format_args!("{v} is not an integer")));
                }
                if let Ok(u) = u64::try_from(whole) {
                    self.visit_u64(u)
                } else if let Ok(i) = i64::try_from(whole) {
                    self.visit_i64(i)
                } else {
                    Err(E::custom(format_args!("integer {v} out of range")))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
                v.trim()
                    .parse::<T>()
                    .map(Int)
                    .map_err(|_| E::custom(format_args!("invalid integer string {:?}", Short(v))))
            }
            fn visit_unit<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
                Ok(Int(T::default()))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A double written as a number, a numeric string, or `"NaN"`, `"Infinity"`, `"-Infinity"`.
#[derive(Default, Clone, Copy)]
pub(super) struct Double(pub(super) f64);

impl<'de> Deserialize<'de> for Double {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Double;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or \"NaN\", \"Infinity\", \"-Infinity\"")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Double, E> {
                Ok(Double(v))
            }
            #[expect(clippy::cast_precision_loss, reason = "JSON numbers are doubles")]
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Double, E> {
                Ok(Double(v as f64))
            }
            #[expect(clippy::cast_precision_loss, reason = "JSON numbers are doubles")]
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Double, E> {
                Ok(Double(v as f64))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Double, E> {
                match v {
                    "NaN" => Ok(Double(f64::NAN)),
                    "Infinity" => Ok(Double(f64::INFINITY)),
                    "-Infinity" => Ok(Double(f64::NEG_INFINITY)),
                    _ => v
                        .trim()
                        .parse()
                        .map(Double)
                        .map_err(|_| E::custom(format_args!("invalid double {:?}", Short(v)))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// The value names an enum accepts besides its integers.
pub(super) trait EnumNames {
    fn from_name(name: &str) -> Option<i32>;
}

#[derive(Default)]
pub(super) struct KindNames;
impl EnumNames for KindNames {
    fn from_name(name: &str) -> Option<i32> {
        SpanKind::from_proto_name(name).map(|k| k as i32)
    }
}

#[derive(Default)]
pub(super) struct StatusNames;
impl EnumNames for StatusNames {
    fn from_name(name: &str) -> Option<i32> {
        StatusCode::from_proto_name(name).map(|k| k as i32)
    }
}

/// An enum as an integer or its value name (`"SPAN_KIND_SERVER"`).
#[derive(Default)]
pub(super) struct Enum<N>(pub(super) i32, std::marker::PhantomData<N>);

impl<'de, N: EnumNames> Deserialize<'de> for Enum<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V<N>(std::marker::PhantomData<N>);
        impl<N: EnumNames> Visitor<'_> for V<N> {
            type Value = Enum<N>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an enum value as an integer or its name")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Self::Value, E> {
                i32::try_from(v)
                    .map(|v| Enum(v, std::marker::PhantomData))
                    .map_err(|_| E::custom(format_args!("enum value {v} out of range")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Self::Value, E> {
                i32::try_from(v)
                    .map(|v| Enum(v, std::marker::PhantomData))
                    .map_err(|_| E::custom(format_args!("enum value {v} out of range")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
                N::from_name(v)
                    .or_else(|| v.parse().ok())
                    .map(|v| Enum(v, std::marker::PhantomData))
                    .ok_or_else(|| E::custom(format_args!("unknown enum value {:?}", Short(v))))
            }
            fn visit_unit<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
                Ok(Enum(0, std::marker::PhantomData))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}
