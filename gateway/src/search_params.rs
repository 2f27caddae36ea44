//! Query parameters of Tempo's search and tag routes (tempo-spec §3.4, §3.5), parsed into the
//! model's requests. Every failure is a [`GatewayError::BadParameter`] whose message names the
//! parameter; the handlers answer it as a plain-text 400.

use std::time::Duration;

use sextant_model::{SearchQuery, SearchRequest, TagNamesRequest, TagRef, TagScope};
use sextant_model::{TagValuesRequest, TimeRange};

use crate::error::GatewayError;
use crate::query::parse_range;

/// The query string as `(name, value)` pairs in the order sent. A repeated parameter counts by
/// its first value, as Go's `url.Values.Get`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Params(pub(crate) Vec<(String, String)>);

impl Params {
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value, treating an empty one as absent.
    pub(crate) fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    fn range(&self) -> Result<Option<TimeRange>, GatewayError> {
        parse_range(self.get("start"), self.get("end"))
    }
}

pub(crate) fn bad(message: String) -> GatewayError {
    GatewayError::BadParameter(message)
}

/// A value as shown in a message: quoted, at most 40 characters.
pub(crate) fn shown(value: &str) -> String {
    format!("{:?}", value.chars().take(40).collect::<String>())
}

/// Which version of a tag route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TagApi {
    V1,
    V2,
}

/// The settings a search's `limit` and `spss` are checked against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SearchBounds {
    pub(crate) default_limit: u32,
    pub(crate) max_limit: u32,
    pub(crate) default_spss: u32,
    /// The smallest `max_spans_per_span_set` of the tenants asked.
    pub(crate) max_spss: u64,
}

/// The parameters the search route reads itself; in the legacy form every other parameter is a
/// tag.
const SEARCH_PARAMS: [&str; 9] = [
    "q",
    "tags",
    "minDuration",
    "maxDuration",
    "limit",
    "spss",
    "start",
    "end",
    "skip_ast_transformations",
];

/// `GET /api/search`.
pub(crate) fn search_request(
    params: &Params,
    bounds: &SearchBounds,
) -> Result<SearchRequest, GatewayError> {
    let query = search_query(params)?;
    let min_duration = duration_param(params, "minDuration")?;
    let max_duration = duration_param(params, "maxDuration")?;
    if let (Some(min), Some(max)) = (min_duration, max_duration)
        && max < min
    {
        return Err(bad(
            "invalid maxDuration: must be greater than or equal to minDuration".to_owned(),
        ));
    }
    let max_limit = bounds.max_limit.max(1);
    let limit = match params.get("limit") {
        None => bounds.default_limit.clamp(1, max_limit),
        Some(text) => {
            let limit = positive("limit", text)?;
            if limit > u64::from(max_limit) {
                return Err(bad(format!("invalid limit: must be at most {max_limit}")));
            }
            limit as u32
        }
    };
    let max_spss = bounds.max_spss.max(1);
    let spans_per_spanset = match params.get("spss") {
        None => u64::from(bounds.default_spss).clamp(1, max_spss) as u32,
        Some(text) => {
            let spss = positive("spss", text)?;
            if spss > max_spss {
                return Err(bad(format!("invalid spss: must be at most {max_spss}")));
            }
            spss as u32
        }
    };
    Ok(SearchRequest {
        query,
        range: params.range()?,
        min_duration,
        max_duration,
        limit,
        spans_per_spanset,
    })
}

/// `q`, `tags`, or (legacy: neither of them nor `start`/`end`) the other parameters as tags.
fn search_query(params: &Params) -> Result<SearchQuery, GatewayError> {
    match (params.non_empty("q"), params.non_empty("tags")) {
        (Some(_), Some(_)) => Err(bad(
            "invalid request: q and tags cannot be used together".to_owned()
        )),
        (Some(q), None) => Ok(SearchQuery::TraceQl(q.to_owned())),
        (None, Some(tags)) => parse_logfmt(tags).map(SearchQuery::Tags),
        (None, None) if params.has("q") => Ok(SearchQuery::TraceQl(String::new())),
        (None, None) => {
            let legacy = !["q", "tags", "start", "end"].iter().any(|p| params.has(p));
            let mut tags: Vec<(String, String)> = Vec::new();
            if legacy {
                for (key, value) in &params.0 {
                    let reserved = SEARCH_PARAMS.contains(&key.as_str());
                    if !reserved && !value.is_empty() && !tags.iter().any(|(k, _)| k == key) {
                        tags.push((key.clone(), value.clone()));
                    }
                }
                tags.sort();
            }
            Ok(SearchQuery::Tags(tags))
        }
    }
}

/// A positive integer no larger than `u32::MAX`.
fn positive(name: &str, text: &str) -> Result<u64, GatewayError> {
    let value: u64 = text
        .trim()
        .parse()
        .ok()
        .filter(|v| *v <= u64::from(u32::MAX))
        .ok_or_else(|| bad(format!("invalid {name} {}: expected a number", shown(text))))?;
    if value == 0 {
        return Err(bad(format!("invalid {name}: must be a positive number")));
    }
    Ok(value)
}

/// An optional count; absent, empty or `0` mean no limit.
fn count(params: &Params, name: &str) -> Result<u32, GatewayError> {
    match params.non_empty(name) {
        None => Ok(0),
        Some(text) => text
            .trim()
            .parse()
            .map_err(|_| bad(format!("invalid {name} {}: expected a number", shown(text)))),
    }
}

fn duration_param(params: &Params, name: &str) -> Result<Option<Duration>, GatewayError> {
    params
        .non_empty(name)
        .map(|text| {
            parse_go_duration(text)
                .map_err(|why| bad(format!("invalid {name} {}: {why}", shown(text))))
        })
        .transpose()
}

/// A Go duration (`300ms`, `1.5h`, `2h45m`, units `ns`, `us`/`µs`, `ms`, `s`, `m`, `h`); negative
/// ones are refused.
pub(crate) fn parse_go_duration(text: &str) -> Result<Duration, String> {
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    if rest.starts_with('-') {
        return Err("must not be negative".to_owned());
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err("expected a duration such as 100ms or 1.5s".to_owned());
    }
    let mut total: u64 = 0;
    let overflow = || "too large".to_owned();
    while !rest.is_empty() {
        let whole_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (whole, after) = rest.split_at(whole_len);
        let (fraction, after) = match after.strip_prefix('.') {
            Some(f) => {
                let len = f.find(|c: char| !c.is_ascii_digit()).unwrap_or(f.len());
                f.split_at(len)
            }
            None => ("", after),
        };
        if whole.is_empty() && fraction.is_empty() {
            return Err("expected a number".to_owned());
        }
        let (unit, after) = split_unit(after)
            .ok_or_else(|| "missing or unknown unit (ns, us, ms, s, m, h)".to_owned())?;
        let whole: u64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| overflow())?
        };
        let mut nanos = whole.checked_mul(unit).ok_or_else(overflow)?;
        // The fraction, truncated to whole nanoseconds; 18 digits are more than any unit needs.
        let digits = &fraction[..fraction.len().min(18)];
        if !digits.is_empty() {
            let numerator: u128 = digits.parse().map_err(|_| overflow())?;
            let scaled = numerator * u128::from(unit) / 10u128.pow(digits.len() as u32);
            nanos = nanos
                .checked_add(u64::try_from(scaled).map_err(|_| overflow())?)
                .ok_or_else(overflow)?;
        }
        total = total.checked_add(nanos).ok_or_else(overflow)?;
        rest = after;
    }
    Ok(Duration::from_nanos(total))
}

/// The unit at the start of `text`, in nanoseconds, and what follows it.
fn split_unit(text: &str) -> Option<(u64, &str)> {
    // `ms` before `m`: the first prefix that matches wins.
    const UNITS: [(&str, u64); 8] = [
        ("ns", 1),
        ("us", 1_000),
        ("\u{b5}s", 1_000),
        ("\u{3bc}s", 1_000),
        ("ms", 1_000_000),
        ("s", 1_000_000_000),
        ("m", 60_000_000_000),
        ("h", 3_600_000_000_000),
    ];
    UNITS
        .iter()
        .find_map(|(name, nanos)| text.strip_prefix(name).map(|rest| (*nanos, rest)))
}

/// logfmt as Tempo's `tags` parameter carries it: `k=v k2="v 2"`, values optionally quoted with
/// `\"`, `\\`, `\n`, `\r`, `\t` escapes. Every key once.
pub(crate) fn parse_logfmt(text: &str) -> Result<Vec<(String, String)>, GatewayError> {
    let fail = |why: String| bad(format!("invalid tags: {why}"));
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| !c.is_whitespace() && *c != '=') {
            if c == '"' {
                return Err(fail("unexpected '\"' in a key".to_owned()));
            }
            key.push(c);
        }
        if key.is_empty() {
            return Err(fail("expected a key before '='".to_owned()));
        }
        if chars.next_if_eq(&'=').is_none() {
            return Err(fail(format!("expected '=' after key {}", shown(&key))));
        }
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next() {
                    None => {
                        return Err(fail(format!(
                            "unterminated quoted value of {}",
                            shown(&key)
                        )));
                    }
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some('"') => value.push('"'),
                        Some('\\') => value.push('\\'),
                        Some('n') => value.push('\n'),
                        Some('r') => value.push('\r'),
                        Some('t') => value.push('\t'),
                        other => {
                            return Err(fail(format!(
                                "invalid escape \\{} in the value of {}",
                                other.map(String::from).unwrap_or_default(),
                                shown(&key)
                            )));
                        }
                    },
                    Some(c) => value.push(c),
                }
            }
            if chars.peek().is_some_and(|c| !c.is_whitespace()) {
                return Err(fail(format!(
                    "expected a space after the value of {}",
                    shown(&key)
                )));
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '"' {
                    return Err(fail(format!(
                        "unexpected '\"' in the value of {}",
                        shown(&key)
                    )));
                }
                value.push(c);
            }
        }
        if pairs.iter().any(|(k, _)| *k == key) {
            return Err(fail(format!("duplicate key {}", shown(&key))));
        }
        pairs.push((key, value));
    }
    Ok(pairs)
}

/// `scope`: absent → v1 resource and span, v2 every scope; `none` or empty → every scope (an
/// empty list); otherwise the one named.
fn scopes(params: &Params, api: TagApi) -> Result<Vec<TagScope>, GatewayError> {
    match params.get("scope") {
        None => Ok(match api {
            TagApi::V1 => vec![TagScope::Resource, TagScope::Span],
            TagApi::V2 => Vec::new(),
        }),
        Some("" | "none") => Ok(Vec::new()),
        Some(name) => TagScope::ALL
            .into_iter()
            .find(|s| s.as_str() == name)
            .map(|s| vec![s])
            .ok_or_else(|| bad(format!("invalid scope: {name}"))),
    }
}

/// `GET /api/search/tags`, `/api/v2/search/tags`: `scope`, `q`, `start`, `end`, `limit`
/// (`maxStaleValues` is read by Tempo's proto only and ignored here).
pub(crate) fn tag_names_request(
    params: &Params,
    api: TagApi,
) -> Result<TagNamesRequest, GatewayError> {
    Ok(TagNamesRequest {
        scopes: scopes(params, api)?,
        range: params.range()?,
        query: params.non_empty("q").map(str::to_owned),
        limit: count(params, "limit")?,
    })
}

/// `GET /api/search/tag/{tag}/values`, v2: the tag (already percent-decoded), `q`, `start`,
/// `end`, `limit`.
pub(crate) fn tag_values_request(
    tag: String,
    params: &Params,
    api: TagApi,
) -> Result<TagValuesRequest, GatewayError> {
    if tag.trim().is_empty() {
        return Err(bad("invalid tag: must not be empty".to_owned()));
    }
    Ok(TagValuesRequest {
        tag: match api {
            TagApi::V1 => TagRef::Name(tag),
            TagApi::V2 => TagRef::Identifier(tag),
        },
        range: params.range()?,
        query: params.non_empty("q").map(str::to_owned),
        limit: count(params, "limit")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let ms = Duration::from_millis;
        for (text, expected) in [
            ("0", Duration::ZERO),
            ("100ms", ms(100)),
            ("1.5s", ms(1500)),
            ("1h2m", Duration::from_secs(3720)),
            ("300us", Duration::from_micros(300)),
            ("300\u{b5}s", Duration::from_micros(300)),
            ("300\u{3bc}s", Duration::from_micros(300)),
            ("7ns", Duration::from_nanos(7)),
            (".5m", Duration::from_secs(30)),
            ("+2s", Duration::from_secs(2)),
            ("1h0.5s", Duration::from_millis(3_600_500)),
        ] {
            assert_eq!(parse_go_duration(text), Ok(expected), "{text}");
        }
        for text in [
            "",
            "5",
            "1x",
            "ms",
            "-1s",
            "1.s.",
            ".s",
            "99999999999999h",
            "1e3s",
        ] {
            assert!(parse_go_duration(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn logfmt_pairs() {
        let pairs = |t: &str| parse_logfmt(t).unwrap();
        assert_eq!(
            pairs(r#"service.name=api  name="GET /x" q="a \"b\" \\c" e="""#),
            vec![
                ("service.name".to_owned(), "api".to_owned()),
                ("name".to_owned(), "GET /x".to_owned()),
                ("q".to_owned(), r#"a "b" \c"#.to_owned()),
                ("e".to_owned(), String::new()),
            ]
        );
        assert_eq!(pairs("a=b=c"), vec![("a".to_owned(), "b=c".to_owned())]);
        assert!(pairs("  ").is_empty());
        for bad in [
            "a",
            "=b",
            "a=b a=c",
            r#"a="b"#,
            r#"a="b"c"#,
            r#"a=b"c"#,
            r#"a="\x""#,
            "\"a\"=b",
        ] {
            let err = parse_logfmt(bad).unwrap_err().to_string();
            assert!(err.starts_with("invalid tags: "), "{bad:?}: {err}");
        }
    }
}
