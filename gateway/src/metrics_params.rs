//! Query parameters of Tempo's TraceQL metrics routes (tempo-spec §3.6), parsed into the model's
//! [`MetricsRequest`]. Every failure is a [`GatewayError::BadParameter`] naming the parameter.
//!
//! - `q` (or `query`): required.
//! - `start`, `end`: Unix seconds, fractional seconds, Unix nanoseconds (more than 10 digits) or
//!   RFC 3339. `end` absent: now; `start` absent: `end − since` (`since` a Prometheus duration
//!   such as `1h`, `30m`, `1d`; default 1h). `end` must be after `start`.
//! - `step` (range only): seconds (`30`, `0.5`) or a duration (`30s`, `1m`, `500ms`), positive;
//!   absent → 0, the evaluator's default.
//! - `exemplars`: default [`DEFAULT_EXEMPLARS`], larger values are lowered to [`MAX_EXEMPLARS`].
//! - `maxSeries`: 0 (absent) is the tenant's limit. `instant` (range route): one value per series.

use std::time::Duration;

use sextant_model::MetricsRequest;

use crate::clock::days_from_civil;
use crate::error::GatewayError;
use crate::search_params::{Params, bad, parse_go_duration, shown};

/// Exemplars returned when the client does not say (Tempo returns exemplars by default).
pub(crate) const DEFAULT_EXEMPLARS: u32 = 100;
/// The most exemplars one answer carries.
pub(crate) const MAX_EXEMPLARS: u32 = 1000;
/// The look-back when `start` is absent and `since` too.
const DEFAULT_SINCE: Duration = Duration::from_secs(3600);

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Which metrics route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MetricsApi {
    /// `/api/metrics/query_range`.
    Range,
    /// `/api/metrics/query`.
    Instant,
}

/// `GET /api/metrics/query_range` and `/api/metrics/query`; `now_ns` is the gateway's clock.
pub(crate) fn metrics_request(
    params: &Params,
    api: MetricsApi,
    now_ns: u64,
) -> Result<MetricsRequest, GatewayError> {
    let query = params
        .non_empty("q")
        .or_else(|| params.non_empty("query"))
        .ok_or_else(|| bad("invalid request: missing required parameter q".to_owned()))?
        .to_owned();
    let end = match params.non_empty("end") {
        Some(text) => parse_time("end", text)?,
        None => now_ns,
    };
    let start = match params.non_empty("start") {
        Some(text) => parse_time("start", text)?,
        None => {
            let since = match params.non_empty("since") {
                Some(text) => parse_since(text)
                    .map_err(|why| bad(format!("invalid since {}: {why}", shown(text))))?,
                None => DEFAULT_SINCE,
            };
            end.saturating_sub(nanos(since))
        }
    };
    if end <= start {
        return Err(bad(format!(
            "invalid time range: end ({end}) must be after start ({start})"
        )));
    }
    let step = match (api, params.non_empty("step")) {
        (MetricsApi::Range, Some(text)) => nanos(
            parse_step(text).map_err(|why| bad(format!("invalid step {}: {why}", shown(text))))?,
        ),
        _ => 0,
    };
    let instant = match (api, params.non_empty("instant")) {
        (MetricsApi::Instant, _) => true,
        (MetricsApi::Range, None) => false,
        (MetricsApi::Range, Some(text)) => parse_bool(text).ok_or_else(|| {
            bad(format!(
                "invalid instant {}: expected a boolean",
                shown(text)
            ))
        })?,
    };
    let exemplars = match params.non_empty("exemplars") {
        None => DEFAULT_EXEMPLARS,
        Some(text) => uint("exemplars", text)?.min(MAX_EXEMPLARS),
    };
    let max_series = match params.non_empty("maxSeries") {
        None => 0,
        Some(text) => uint("maxSeries", text)?,
    };
    Ok(MetricsRequest {
        query,
        start,
        end,
        step,
        instant,
        exemplars,
        max_series,
    })
}

/// Refuses a range longer than `max` (zero: no limit) with the wording Grafana recognises.
pub(crate) fn check_duration(request: &MetricsRequest, max: Duration) -> Result<(), GatewayError> {
    let range = request.end.saturating_sub(request.start);
    if !max.is_zero() && u128::from(range) > max.as_nanos() {
        return Err(bad(format!(
            "metrics query time range exceeds the maximum allowed duration of {}",
            go_duration(max)
        )));
    }
    Ok(())
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn uint(name: &str, text: &str) -> Result<u32, GatewayError> {
    text.trim()
        .parse()
        .map_err(|_| bad(format!("invalid {name} {}: expected a number", shown(text))))
}

/// Go's `strconv.ParseBool`.
fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// A point in time as Unix nanoseconds.
pub(crate) fn parse_time(name: &str, text: &str) -> Result<u64, GatewayError> {
    let text = text.trim();
    let fail = || {
        bad(format!(
            "invalid {name} {}: expected unix seconds, unix nanoseconds or RFC 3339",
            shown(text)
        ))
    };
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let value: u64 = text.parse().map_err(|_| fail())?;
        return if text.len() > 10 {
            Ok(value)
        } else {
            value.checked_mul(NANOS_PER_SEC).ok_or_else(fail)
        };
    }
    if let Some((whole, fraction)) = text.split_once('.')
        && !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
    {
        let secs: u64 = whole.parse().map_err(|_| fail())?;
        return secs
            .checked_mul(NANOS_PER_SEC)
            .and_then(|ns| ns.checked_add(fraction_nanos(fraction)))
            .ok_or_else(fail);
    }
    parse_rfc3339(text).ok_or_else(fail)
}

/// Decimal digits after a point as nanoseconds (beyond nine digits truncated).
fn fraction_nanos(digits: &str) -> u64 {
    let digits = &digits[..digits.len().min(9)];
    let value: u64 = digits.parse().unwrap_or(0);
    value * 10u64.pow(9 - digits.len() as u32)
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`, `t`/space for `T` and `z` for `Z` tolerated; times
/// before 1970 are refused.
fn parse_rfc3339(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = text.get(range)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 60 {
        return None;
    }
    let mut rest = &text[19..];
    let mut frac = 0;
    if let Some(after) = rest.strip_prefix('.') {
        let len = after.bytes().take_while(u8::is_ascii_digit).count();
        if len == 0 {
            return None;
        }
        frac = fraction_nanos(&after[..len]);
        rest = &after[len..];
    }
    let offset_secs: i64 = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let zone = rest.get(1..)?;
            let (h, m) = zone.split_once(':')?;
            if h.len() != 2 || m.len() != 2 {
                return None;
            }
            let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
            if h > 23 || m > 59 {
                return None;
            }
            sign * (h * 3600 + m * 60)
        }
    };
    let days = days_from_civil(i64::from(year), month, day);
    let secs = days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second)
        - offset_secs;
    let secs = u64::try_from(secs).ok()?;
    secs.checked_mul(NANOS_PER_SEC)?.checked_add(frac)
}

/// `step`: seconds as a number (`30`, `0.5`), a Go duration (`30s`, `1m30s`) or a Prometheus
/// one (`1d`); must be positive.
pub(crate) fn parse_step(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let step = match text.parse::<f64>() {
        Ok(secs)
            if text
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-') =>
        {
            if !secs.is_finite() || secs <= 0.0 {
                return Err("must be a positive duration".to_owned());
            }
            Duration::try_from_secs_f64(secs).map_err(|_| "too large".to_owned())?
        }
        _ => parse_go_duration(text).or_else(|go| parse_prometheus_duration(text).ok_or(go))?,
    };
    if step.is_zero() {
        return Err("must be a positive duration".to_owned());
    }
    Ok(step)
}

/// `since`: a Prometheus duration (`1h`, `30m`, `1d`, `2w`, `1h30m`), or a Go one (`1.5h`).
fn parse_since(text: &str) -> Result<Duration, String> {
    parse_prometheus_duration(text)
        .map_or_else(|| parse_go_duration(text), Ok)
        .and_then(|d| {
            if d.is_zero() {
                Err("must be a positive duration".to_owned())
            } else {
                Ok(d)
            }
        })
}

/// Whole numbers with units `ms`, `s`, `m`, `h`, `d`, `w`, `y` (365 days), e.g. `1d12h`.
fn parse_prometheus_duration(text: &str) -> Option<Duration> {
    const UNITS: [(&str, u64); 7] = [
        ("ms", 1),
        ("s", 1_000),
        ("m", 60_000),
        ("h", 3_600_000),
        ("d", 86_400_000),
        ("w", 604_800_000),
        ("y", 31_536_000_000),
    ];
    let mut rest = text;
    let mut total_ms: u64 = 0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let len = rest.bytes().take_while(u8::is_ascii_digit).count();
        if len == 0 {
            return None;
        }
        let value: u64 = rest[..len].parse().ok()?;
        let after = &rest[len..];
        let (unit, remaining) = UNITS
            .iter()
            .find_map(|(name, ms)| after.strip_prefix(name).map(|r| (*ms, r)))?;
        total_ms = total_ms.checked_add(value.checked_mul(unit)?)?;
        rest = remaining;
    }
    Some(Duration::from_millis(total_ms))
}

/// A duration as Go's `time.Duration.String` writes it (`24h0m0s`, `1m30s`, `1.5s`, `500ms`).
pub(crate) fn go_duration(d: Duration) -> String {
    if d.is_zero() {
        return "0s".to_owned();
    }
    if d < Duration::from_secs(1) {
        let ns = d.subsec_nanos();
        return if ns.is_multiple_of(1_000_000) {
            format!("{}ms", ns / 1_000_000)
        } else if ns.is_multiple_of(1_000) {
            format!("{}\u{b5}s", ns / 1_000)
        } else {
            format!("{ns}ns")
        };
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut seconds = s.to_string();
    if d.subsec_nanos() > 0 {
        let frac = format!("{:09}", d.subsec_nanos());
        seconds.push('.');
        seconds.push_str(frac.trim_end_matches('0'));
    }
    if h > 0 {
        format!("{h}h{m}m{seconds}s")
    } else if m > 0 {
        format!("{m}m{seconds}s")
    } else {
        format!("{seconds}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000 * NANOS_PER_SEC;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    fn range(pairs: &[(&str, &str)]) -> Result<MetricsRequest, String> {
        metrics_request(&params(pairs), MetricsApi::Range, NOW).map_err(|e| e.to_string())
    }

    #[test]
    fn times() {
        let s = NANOS_PER_SEC;
        for (text, expected) in [
            ("1700000000", 1_700_000_000 * s),
            ("0", 0),
            ("1700000000.5", 1_700_000_000 * s + 500_000_000),
            ("1700000000.123456789123", 1_700_000_000 * s + 123_456_789),
            ("1700000000000000000", 1_700_000_000 * s),
            ("17000000000", 17_000_000_000),
            ("2023-11-14T22:13:20Z", 1_700_000_000 * s),
            ("2023-11-14T22:13:20.25Z", 1_700_000_000 * s + 250_000_000),
            ("2023-11-15T00:13:20+02:00", 1_700_000_000 * s),
            ("2023-11-14t20:13:20-02:00", 1_700_000_000 * s),
            ("2023-11-14 22:13:20z", 1_700_000_000 * s),
            ("1970-01-01T00:00:00Z", 0),
        ] {
            assert_eq!(parse_time("start", text).unwrap(), expected, "{text}");
        }
        for text in [
            "",
            "abc",
            "-5",
            "1.5e9",
            "2023-11-14",
            "2023-13-14T22:13:20Z",
            "2023-11-14T22:13:20",
            "2023-11-14T22:13:20+0200",
            "1969-12-31T23:59:59Z",
            "99999999999999999999",
        ] {
            let err = parse_time("start", text).unwrap_err().to_string();
            assert!(err.starts_with("invalid start"), "{text:?}: {err}");
        }
    }

    #[test]
    fn steps_and_durations() {
        let ms = Duration::from_millis;
        for (text, expected) in [
            ("30", ms(30_000)),
            ("0.5", ms(500)),
            ("30s", ms(30_000)),
            ("1m", ms(60_000)),
            ("500ms", ms(500)),
            ("1m30s", ms(90_000)),
            ("1d", ms(86_400_000)),
        ] {
            assert_eq!(parse_step(text), Ok(expected), "{text}");
        }
        for text in ["0", "-1", "0s", "-5s", "abc", "", "NaN", "inf"] {
            assert!(parse_step(text).is_err(), "{text:?}");
        }
        assert_eq!(parse_since("1h"), Ok(ms(3_600_000)));
        assert_eq!(parse_since("1d12h"), Ok(ms(129_600_000)));
        assert_eq!(parse_since("2w"), Ok(ms(1_209_600_000)));
        assert_eq!(parse_since("1.5h"), Ok(ms(5_400_000)));
        assert!(parse_since("0s").is_err());
        assert!(parse_since("1x").is_err());
        for (d, text) in [
            (Duration::from_secs(86_400), "24h0m0s"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_millis(500), "500ms"),
            (Duration::ZERO, "0s"),
            (Duration::from_secs(45), "45s"),
        ] {
            assert_eq!(go_duration(d), text);
        }
    }

    #[test]
    fn range_requests() {
        let s = NANOS_PER_SEC;
        let r = range(&[("q", "{} | rate()"), ("start", "1600"), ("end", "1700")]).unwrap();
        assert_eq!(
            r,
            MetricsRequest {
                query: "{} | rate()".into(),
                start: 1600 * s,
                end: 1700 * s,
                step: 0,
                instant: false,
                exemplars: DEFAULT_EXEMPLARS,
                max_series: 0,
            }
        );
        let r = range(&[
            ("query", "{} | rate()"),
            ("step", "30s"),
            ("exemplars", "5000"),
            ("maxSeries", "7"),
            ("instant", "true"),
        ])
        .unwrap();
        assert_eq!((r.start, r.end), (NOW - 3600 * s, NOW));
        assert_eq!(r.step, 30 * s);
        assert_eq!(r.exemplars, MAX_EXEMPLARS);
        assert_eq!(r.max_series, 7);
        assert!(r.instant);
        let r = range(&[("q", "x"), ("since", "30m"), ("end", "1700000000")]).unwrap();
        assert_eq!((r.start, r.end), (NOW - 1800 * s, NOW));
        let r = range(&[("q", "x"), ("exemplars", "0"), ("step", "0.25")]).unwrap();
        assert_eq!((r.exemplars, r.step), (0, 250_000_000));

        let instant = metrics_request(
            &params(&[("q", "x"), ("step", "bogus")]),
            MetricsApi::Instant,
            NOW,
        )
        .unwrap();
        assert!(instant.instant);
        assert_eq!(instant.step, 0);

        for (pairs, needle) in [
            (vec![], "missing required parameter q"),
            (vec![("q", "")], "missing required parameter q"),
            (vec![("q", "x"), ("start", "yesterday")], "invalid start"),
            (vec![("q", "x"), ("end", "soon")], "invalid end"),
            (vec![("q", "x"), ("start", "10"), ("end", "10")], "after"),
            (vec![("q", "x"), ("start", "20"), ("end", "10")], "after"),
            (vec![("q", "x"), ("step", "0")], "invalid step"),
            (vec![("q", "x"), ("step", "-1s")], "invalid step"),
            (vec![("q", "x"), ("since", "forever")], "invalid since"),
            (vec![("q", "x"), ("exemplars", "-1")], "invalid exemplars"),
            (vec![("q", "x"), ("maxSeries", "many")], "invalid maxSeries"),
            (vec![("q", "x"), ("instant", "yes")], "invalid instant"),
        ] {
            let err = range(&pairs).unwrap_err();
            assert!(err.contains(needle), "{pairs:?}: {err}");
        }
    }

    #[test]
    fn duration_limit() {
        let r = range(&[("q", "x"), ("start", "0"), ("end", "86401")]).unwrap();
        let err = check_duration(&r, Duration::from_secs(86_400)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "metrics query time range exceeds the maximum allowed duration of 24h0m0s"
        );
        assert!(check_duration(&r, Duration::from_secs(86_401)).is_ok());
        assert!(check_duration(&r, Duration::ZERO).is_ok());
    }
}
