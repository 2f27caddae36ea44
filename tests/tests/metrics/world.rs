//! The metrics tests' data set: seeded, deterministic spans of three services (`api`, `db`,
//! `web`) spread over one hour of one-minute steps. In each minute the three services have
//! distinct span counts (0 to 5; two minutes are empty), so the busiest and quietest service of a
//! minute are known; spans start 10 s to 50 s into their minute, clear of every step boundary;
//! durations spread over eleven powers of two; a fifth of the spans fail; `api` and `web` spans
//! mostly carry `http.route` (`/a`, `/b`, `/c`), `db` spans never. `db` spans are children of
//! the minute's `api` spans, so traces hold spans of several services.

use std::collections::BTreeMap;

use super::data::{Attrs, Code, GSpan, GTrace, Kind, MS, SEC, SpanId, TraceId, Val};

/// The step of the data set and of most queries, in seconds.
pub(crate) const STEP: u64 = 60;
/// Minutes of data.
pub(crate) const MINUTES: u64 = 60;
pub(crate) const SERVICES: [&str; 3] = ["api", "db", "web"];
const ROUTES: [&str; 3] = ["/a", "/b", "/c"];
/// Minutes without any span.
const EMPTY_MINUTES: [u64; 2] = [17, 42];
/// Span durations before jitter, in ms: from under 2^20 ns to over 2^30 ns.
const DURATIONS_MS: [u64; 9] = [1, 3, 7, 15, 40, 90, 250, 600, 1500];

pub(crate) const SEED_A: u64 = 0x006d_6574_7269_630a;
pub(crate) const SEED_B: u64 = 0x006d_6574_7269_630b;

/// A span as the metrics see it.
#[derive(Clone, Debug)]
pub(crate) struct MSpan {
    pub(crate) trace: TraceId,
    pub(crate) id: SpanId,
    pub(crate) service: &'static str,
    pub(crate) route: Option<&'static str>,
    pub(crate) error: bool,
    /// Unix nanoseconds.
    pub(crate) start: u64,
    /// Nanoseconds.
    pub(crate) duration: u64,
}

impl MSpan {
    pub(crate) fn seconds(&self) -> f64 {
        self.duration as f64 / 1e9
    }
}

/// One tenant's data.
#[derive(Clone, Debug)]
pub(crate) struct World {
    /// Unix seconds, a multiple of [`STEP`]: every span starts in `(base, base + 3600)`.
    pub(crate) base: u64,
    pub(crate) traces: Vec<GTrace>,
    pub(crate) spans: Vec<MSpan>,
}

/// SplitMix64: small, seeded, the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn id<const N: usize>(&mut self) -> [u8; N] {
        let mut id = [0u8; N];
        for chunk in id.chunks_mut(8) {
            let bytes = self.next().to_be_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        id[N - 1] |= 1; // never all zero
        id
    }
}

/// `base` for data that ends at least a minute before `now` (unix nanoseconds).
pub(crate) fn base_for(now: u64) -> u64 {
    (now / SEC / STEP) * STEP - (MINUTES + 1) * STEP
}

pub(crate) fn generate(seed: u64, base: u64) -> World {
    assert_eq!(base % STEP, 0, "base not aligned");
    let mut rng = Rng(seed);
    let mut traces: Vec<GTrace> = Vec::new();
    let mut spans: Vec<MSpan> = Vec::new();
    for minute in 0..MINUTES {
        if EMPTY_MINUTES.contains(&minute) {
            continue;
        }
        // Three distinct counts out of 0..=5 (Fisher–Yates on the first three places).
        let mut counts = [0u64, 1, 2, 3, 4, 5];
        for k in 0..3 {
            let j = k + rng.below((counts.len() - k) as u64) as usize;
            counts.swap(k, j);
        }
        let mut api_traces: Vec<usize> = Vec::new();
        for (service, &n) in SERVICES.iter().zip(&counts) {
            for _ in 0..n {
                let start = (base + minute * STEP + 10) * SEC + rng.below(40 * SEC);
                let mut duration = DURATIONS_MS[rng.below(DURATIONS_MS.len() as u64) as usize] * MS
                    + rng.below(MS);
                if duration.is_power_of_two() {
                    duration += 1;
                }
                let route = match *service {
                    "db" => None,
                    _ if rng.below(100) < 15 => None,
                    _ => Some(ROUTES[rng.below(3) as usize]),
                };
                let error = rng.below(100) < 20;
                let id: SpanId = rng.id();
                let mut attrs = Attrs::new();
                if let Some(r) = route {
                    attrs.insert("http.route", Val::str(r));
                }
                if *service == "db" {
                    attrs.insert("db.system", Val::str("postgresql"));
                }
                let parent = match (*service, api_traces.is_empty()) {
                    ("db", false) => {
                        let t = api_traces[spans.len() % api_traces.len()];
                        Some((t, traces[t].spans[0].id))
                    }
                    _ => None,
                };
                let span = GSpan {
                    id,
                    parent: parent.map(|(_, p)| p),
                    service,
                    name: match route {
                        Some(r) => format!("GET {r}"),
                        None => format!("{service} work"),
                    },
                    kind: if parent.is_some() {
                        Kind::Internal
                    } else {
                        Kind::Server
                    },
                    code: if error { Code::Error } else { Code::Unset },
                    message: if error {
                        "failed".into()
                    } else {
                        String::new()
                    },
                    start,
                    end: start + duration,
                    attrs,
                    events: Vec::new(),
                    links: Vec::new(),
                };
                let t = match parent {
                    Some((t, _)) => {
                        traces[t].spans.push(span);
                        t
                    }
                    None => {
                        traces.push(GTrace {
                            id: rng.id(),
                            spans: vec![span],
                            resources: BTreeMap::new(),
                        });
                        traces.len() - 1
                    }
                };
                if *service == "api" {
                    api_traces.push(t);
                }
                traces[t].resources.insert(
                    service,
                    Attrs::from([
                        ("service.name", Val::str(service)),
                        ("deployment.environment", Val::str("prod")),
                    ]),
                );
                spans.push(MSpan {
                    trace: traces[t].id,
                    id,
                    service,
                    route,
                    error,
                    start,
                    duration,
                });
            }
        }
    }
    World {
        base,
        traces,
        spans,
    }
}
