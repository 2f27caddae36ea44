//! Service graphs: edges between services, from pairs of spans — a client (or producer) span
//! and the server (or consumer) span whose parent it is, matched by (trace ID, span ID) =
//! (trace ID, parent span ID) — as Tempo's `traces_service_graph_request_total`,
//! `_request_failed_total` and the `_request_server_seconds` / `_request_client_seconds`
//! histograms, labelled `client`, `server` and, when not a plain request, `connection_type`
//! (`messaging_system` for producer→consumer, `database` for a client span with a database
//! attribute, `virtual_node` for an edge with one side inferred).
//!
//! A side waits in a bounded store for its other half for at most `wait`; a side that cannot
//! be stored (store full) is dropped and counted. When the wait ends: a root server span
//! becomes an edge from the virtual client named by its peer attribute, else `user`; a client
//! span with a peer attribute becomes an edge to that virtual server; any other side is counted
//! as an expired edge. A database client span is an edge at once (its server never reports).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use super::view::{KeyValue, Span};

use super::histogram::Histogram;
use super::labels::sanitize_value;
use super::{Labels, Sample, attribute, histogram_samples, sample};

pub(crate) const REQUEST_TOTAL: &str = "traces_service_graph_request_total";
pub(crate) const REQUEST_FAILED: &str = "traces_service_graph_request_failed_total";
pub(crate) const SERVER_SECONDS: &str = "traces_service_graph_request_server_seconds";
pub(crate) const CLIENT_SECONDS: &str = "traces_service_graph_request_client_seconds";

/// Tempo's default service-graph buckets, in seconds.
pub(crate) const DEFAULT_BUCKETS: [f64; 8] = [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8];

/// Attributes that make a client span a database call; the first present names the server
/// when no peer attribute does.
const DATABASE_ATTRIBUTES: [&str; 4] = ["db.namespace", "db.name", "db.system", "db.system.name"];
/// Attributes that name the other side of an unmatched span, in order.
const PEER_ATTRIBUTES: [&str; 4] = ["peer.service", "db.name", "db.system", "db.system.name"];

const SPAN_KIND_SERVER: i32 = 2;
const SPAN_KIND_CLIENT: i32 = 3;
const SPAN_KIND_PRODUCER: i32 = 4;
const SPAN_KIND_CONSUMER: i32 = 5;
const STATUS_ERROR: i32 = 2;

/// What kind of connection an edge is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Connection {
    Request,
    Messaging,
    Database,
    Virtual,
}

impl Connection {
    fn label(self) -> Option<&'static str> {
        match self {
            Connection::Request => None,
            Connection::Messaging => Some("messaging_system"),
            Connection::Database => Some("database"),
            Connection::Virtual => Some("virtual_node"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct EdgeKey {
    client: String,
    server: String,
    connection: Connection,
}

#[derive(Debug)]
struct Edge {
    total: u64,
    failed: u64,
    server_seconds: Histogram,
    client_seconds: Histogram,
    updated: SystemTime,
}

/// One half of an edge, waiting for the other.
#[derive(Debug, Clone)]
struct Side {
    service: String,
    seconds: f64,
    failed: bool,
    messaging: bool,
    /// The first peer attribute's value (names a virtual other side).
    peer: Option<String>,
    /// A server span without a parent (the trace's entry point).
    root: bool,
    since: SystemTime,
}

#[derive(Debug, Default)]
struct Pending {
    client: Option<Side>,
    server: Option<Side>,
    /// A root server span, under its own span ID: it never pairs, and becomes a virtual-node
    /// edge when its wait ends. Apart from `server`, which a server span whose parent is this
    /// very span (no client span between them) would otherwise overwrite.
    root: Option<Side>,
}

impl Pending {
    fn since(&self) -> Option<SystemTime> {
        [&self.client, &self.server, &self.root]
            .into_iter()
            .flatten()
            .map(|s| s.since)
            .min()
    }
}

/// One tenant's service-graph edges.
#[derive(Debug)]
pub(crate) struct ServiceGraphs {
    buckets: Vec<f64>,
    wait: Duration,
    max_items: usize,
    pending: HashMap<([u8; 16], [u8; 8]), Pending>,
    edges: HashMap<EdgeKey, Edge>,
    /// Sides that found no room in the store.
    pub(crate) dropped_spans: u64,
    /// Sides whose other half never came and that name no peer.
    pub(crate) expired_edges: u64,
    /// Most edges held; a new edge beyond it is not recorded.
    max_edges: usize,
    /// Requests not recorded because their edge would have passed `max_edges`.
    pub(crate) limited_edges: u64,
}

impl ServiceGraphs {
    pub(crate) fn new(buckets: Vec<f64>, wait: Duration, max_items: usize) -> Self {
        Self {
            buckets,
            wait,
            max_items,
            pending: HashMap::new(),
            edges: HashMap::new(),
            dropped_spans: 0,
            expired_edges: 0,
            max_edges: usize::MAX,
            limited_edges: 0,
        }
    }

    /// Caps the edges held (the tenant's `max_active_series`).
    pub(crate) fn with_max_edges(mut self, max_edges: usize) -> Self {
        self.max_edges = max_edges;
        self
    }

    /// Takes one span of `service` (its resource's attributes in `resource`).
    pub(crate) fn observe(
        &mut self,
        service: &str,
        resource: &[KeyValue],
        span: &Span,
        now: SystemTime,
    ) {
        let (Ok(trace), Ok(span_id)) = (
            <[u8; 16]>::try_from(span.trace_id.as_ref()),
            <[u8; 8]>::try_from(span.span_id.as_ref()),
        ) else {
            return;
        };
        let side = |root: bool| Side {
            service: sanitize_value(service),
            seconds: span
                .end_time_unix_nano
                .saturating_sub(span.start_time_unix_nano) as f64
                / 1e9,
            failed: span.status.as_ref().is_some_and(|s| s.code == STATUS_ERROR),
            messaging: matches!(span.kind, SPAN_KIND_PRODUCER | SPAN_KIND_CONSUMER),
            peer: PEER_ATTRIBUTES
                .iter()
                .find_map(|a| attribute(&span.attributes, a).or_else(|| attribute(resource, a))),
            root,
            since: now,
        };
        match span.kind {
            SPAN_KIND_CLIENT => {
                if let Some(server) = database_server(&span.attributes) {
                    let client = side(false);
                    let key = EdgeKey {
                        client: client.service.clone(),
                        server: sanitize_value(&server),
                        connection: Connection::Database,
                    };
                    self.record(key, client.failed, client.seconds, client.seconds, now);
                    return;
                }
                self.offer((trace, span_id), side(false), true, now);
            }
            SPAN_KIND_PRODUCER => self.offer((trace, span_id), side(false), true, now),
            SPAN_KIND_SERVER | SPAN_KIND_CONSUMER => {
                match <[u8; 8]>::try_from(span.parent_span_id.as_ref()) {
                    Ok(parent) if parent != [0; 8] => {
                        self.offer((trace, parent), side(false), false, now);
                    }
                    // A root server span can only ever be an edge from a virtual client.
                    _ => self.offer((trace, span_id), side(true), false, now),
                }
            }
            _ => {}
        }
    }

    /// Stores one side, or completes its edge when the other side is waiting.
    fn offer(&mut self, key: ([u8; 16], [u8; 8]), side: Side, client: bool, now: SystemTime) {
        if !self.pending.contains_key(&key) && self.pending.len() >= self.max_items {
            self.dropped_spans += 1;
            return;
        }
        let pending = self.pending.entry(key).or_default();
        if side.root {
            pending.root = Some(side);
            return;
        }
        if client {
            pending.client = Some(side);
        } else {
            pending.server = Some(side);
        }
        if let Pending {
            client: Some(c),
            server: Some(s),
            ..
        } = pending
        {
            let connection = if c.messaging || s.messaging {
                Connection::Messaging
            } else {
                Connection::Request
            };
            let key_edge = EdgeKey {
                client: c.service.clone(),
                server: s.service.clone(),
                connection,
            };
            let (failed, server_seconds, client_seconds) =
                (c.failed || s.failed, s.seconds, c.seconds);
            if pending.root.is_some() {
                (pending.client, pending.server) = (None, None);
            } else {
                self.pending.remove(&key);
            }
            self.record(key_edge, failed, server_seconds, client_seconds, now);
        }
    }

    fn record(
        &mut self,
        key: EdgeKey,
        failed: bool,
        server_seconds: f64,
        client_seconds: f64,
        now: SystemTime,
    ) {
        if !self.edges.contains_key(&key) && self.edges.len() >= self.max_edges {
            self.limited_edges += 1;
            return;
        }
        let buckets = &self.buckets;
        let edge = self.edges.entry(key).or_insert_with(|| Edge {
            total: 0,
            failed: 0,
            server_seconds: Histogram::new(buckets),
            client_seconds: Histogram::new(buckets),
            updated: now,
        });
        edge.total += 1;
        edge.failed += u64::from(failed);
        edge.server_seconds.observe(buckets, server_seconds, 1);
        edge.client_seconds.observe(buckets, client_seconds, 1);
        edge.updated = now;
    }

    /// Ends the wait of every side stored longer than `wait` before `now`.
    pub(crate) fn expire(&mut self, now: SystemTime) {
        let wait = self.wait;
        let due: Vec<_> = self
            .pending
            .iter()
            .filter(|(_, p)| {
                p.since()
                    .is_some_and(|t| now.duration_since(t).is_ok_and(|d| d >= wait))
            })
            .map(|(k, _)| *k)
            .collect();
        for key in due {
            let Some(pending) = self.pending.remove(&key) else {
                continue;
            };
            if let Some(server) = pending.root {
                let client = server.peer.clone().unwrap_or_else(|| "user".to_owned());
                let edge = EdgeKey {
                    client: sanitize_value(&client),
                    server: server.service,
                    connection: Connection::Virtual,
                };
                self.record(edge, server.failed, server.seconds, server.seconds, now);
            }
            match (pending.client, pending.server) {
                (None, None) => {}
                (Some(client), None) if client.peer.is_some() => {
                    let server = client.peer.clone().unwrap_or_default();
                    let edge = EdgeKey {
                        client: client.service,
                        server: sanitize_value(&server),
                        connection: Connection::Virtual,
                    };
                    self.record(edge, client.failed, client.seconds, client.seconds, now);
                }
                _ => self.expired_edges += 1,
            }
        }
    }

    /// Every edge's samples, after dropping the edges not updated for `stale`.
    pub(crate) fn collect(&mut self, now: SystemTime, stale: Duration) -> Vec<Sample> {
        self.edges.retain(|_, e| {
            now.duration_since(e.updated)
                .map_or(true, |idle| idle < stale)
        });
        let mut keys: Vec<&EdgeKey> = self.edges.keys().collect();
        keys.sort();
        let mut out = Vec::new();
        for key in keys {
            let edge = &self.edges[key];
            let mut labels: Labels = vec![
                ("client".to_owned(), key.client.clone()),
                ("server".to_owned(), key.server.clone()),
            ];
            if let Some(kind) = key.connection.label() {
                labels.push(("connection_type".to_owned(), kind.to_owned()));
            }
            out.push(sample(
                REQUEST_TOTAL,
                &labels,
                None,
                edge.total as f64,
                None,
            ));
            out.push(sample(
                REQUEST_FAILED,
                &labels,
                None,
                edge.failed as f64,
                None,
            ));
            out.extend(histogram_samples(
                SERVER_SECONDS,
                &labels,
                &edge.server_seconds,
                &self.buckets,
                None,
            ));
            out.extend(histogram_samples(
                CLIENT_SECONDS,
                &labels,
                &edge.client_seconds,
                &self.buckets,
                None,
            ));
        }
        out
    }

    /// Sides waiting for their other half.
    /// Edges held now.
    pub(crate) fn active_series(&self) -> usize {
        self.edges.len()
    }

    #[cfg(test)]
    pub(crate) fn pending(&self) -> usize {
        self.pending.len()
    }
}

/// The server name of a database call, Tempo's way: `peer.service`, `server.address`,
/// `network.peer.address[:network.peer.port]`, else the database attribute's value; `None`
/// when the span carries no database attribute.
fn database_server(attributes: &[KeyValue]) -> Option<String> {
    let db = DATABASE_ATTRIBUTES
        .iter()
        .find_map(|a| attribute(attributes, a))?;
    let named = attribute(attributes, "peer.service")
        .or_else(|| attribute(attributes, "server.address"))
        .or_else(|| {
            attribute(attributes, "network.peer.address").map(|address| {
                match attribute(attributes, "network.peer.port") {
                    Some(port) => format!("{address}:{port}"),
                    None => address,
                }
            })
        });
    Some(named.unwrap_or(db))
}

#[cfg(test)]
mod tests;
