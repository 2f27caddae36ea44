//! Durability of acknowledged data against the real binary: `kill -9` and SIGTERM under a
//! running load over OTLP HTTP and gRPC on both ports, and a damaged WAL (torn tail, flipped
//! bit) on restart. (Every byte offset of the last record is the store crate's unit test.)

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prost::Message;
use sextant_model::otlp::TracesData;
use sextant_model::otlp::any_value::Value;
use sextant_tests::{
    Auth, FlatSpan, Options, OtlpGrpc, ReadApi, Sextant, SpanKey, assert_same_spans, flatten, kv,
    post_otlp, request, trace, wait_until, wal_segments,
};

/// One trace whose export was acknowledged (one request carried the whole trace).
#[derive(Clone, Debug)]
struct Acked {
    auth: Auth,
    trace_id: Vec<u8>,
    spans: BTreeMap<SpanKey, FlatSpan>,
}

#[derive(Clone, Debug)]
enum Transport {
    Http(reqwest::Client, String),
    Grpc(OtlpGrpc),
}

impl Transport {
    /// Send one request; true when the server acknowledged it.
    async fn send(&mut self, auth: &Auth, data: TracesData) -> bool {
        match self {
            Self::Http(client, url) => {
                let body = data.encode_to_vec();
                let Ok(resp) = client
                    .post(url.as_str())
                    .header("content-type", "application/x-protobuf")
                    .header("authorization", auth.basic())
                    .body(body)
                    .send()
                    .await
                else {
                    return false;
                };
                resp.status() == 200
            }
            Self::Grpc(client) => client.export(Some(auth), data).await.is_ok(),
        }
    }
}

/// Concurrent senders, one per transport.
const TASKS: usize = 4;
/// Upper bound on each sender's requests, so that a test cannot run away.
const REQUESTS_PER_TASK: usize = 300;

/// Several tasks sending 3-span traces until `stop` (or a bounded count), recording what was
/// acknowledged.
struct Load {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<Acked>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    async fn start(server: &Sextant) -> Self {
        let tenants = [
            server.tenant("load-a").await.rw,
            server.tenant("load-b").await.rw,
        ];
        let client = server.client().clone();
        let transports: [Transport; TASKS] = [
            Transport::Http(
                client.clone(),
                format!("{}/v1/traces", server.otlp_http_url()),
            ),
            Transport::Http(client, format!("{}/v1/traces", server.http_url())),
            Transport::Grpc(OtlpGrpc::connect(server.addrs().otlp_grpc).await),
            Transport::Grpc(OtlpGrpc::connect(server.addrs().http).await),
        ];
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let tasks = transports
            .into_iter()
            .enumerate()
            .map(|(i, mut transport)| {
                let stop = stop.clone();
                let acked = acked.clone();
                let auth = tenants[i % 2].clone();
                tokio::spawn(async move {
                    for _ in 0..REQUESTS_PER_TASK {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let (trace_id, spans) = trace(3);
                        let data = request(&format!("svc-{i}"), spans);
                        let expected = flatten(&data);
                        if transport.send(&auth, data).await {
                            acked.lock().expect("acked lock").push(Acked {
                                auth: auth.clone(),
                                trace_id,
                                spans: expected,
                            });
                        }
                    }
                })
            })
            .collect();
        Self { stop, acked, tasks }
    }

    fn acked_count(&self) -> usize {
        self.acked.lock().expect("acked lock").len()
    }

    /// Stop the load (after the server went away) and return what was acknowledged.
    async fn finish(self) -> Vec<Acked> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await.expect("load task");
        }
        let acked = Arc::try_unwrap(self.acked)
            .expect("tasks done")
            .into_inner()
            .expect("acked lock");
        assert!(
            acked.len() < TASKS * REQUESTS_PER_TASK,
            "the load finished before the server was stopped; raise REQUESTS_PER_TASK"
        );
        acked
    }
}

async fn assert_complete(server: &Sextant, acked: &[Acked], when: &str) {
    for (i, a) in acked.iter().enumerate() {
        // Every trace through the fast protobuf read; every tenth through the other APIs too.
        let apis: &[ReadApi] = if i % 10 == 0 {
            &ReadApi::ALL
        } else {
            &[ReadApi::V1Proto]
        };
        for api in apis {
            let got = server
                .read_trace(*api, Some(&a.auth), &a.trace_id)
                .await
                .unwrap_or_else(|| {
                    panic!(
                        "{when}: acknowledged trace {} of {} lost ({api:?} answered 404)",
                        hex::encode(&a.trace_id),
                        a.auth.tenant
                    )
                });
            let what = format!("{when}: trace {} via {api:?}", hex::encode(&a.trace_id));
            assert_same_spans(&what, &a.spans, &got);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_under_load_loses_nothing_acknowledged() {
    let mut server = Sextant::start(Options::new()).await;
    let load = Load::start(&server).await;
    wait_until(
        Duration::from_secs(20),
        "150 acknowledged traces",
        async || load.acked_count() >= 150,
    )
    .await;
    server.kill9().await;
    let acked = load.finish().await;
    server.restart().await;
    assert_complete(&server, &acked, "after kill -9").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_exits_0_and_loses_nothing_acknowledged() {
    let mut server =
        Sextant::start(Options::new().env("SEXTANT_SERVER__DRAIN_TIMEOUT", "5s")).await;
    let load = Load::start(&server).await;
    wait_until(
        Duration::from_secs(20),
        "150 acknowledged traces",
        async || load.acked_count() >= 150,
    )
    .await;
    let status = server.sigterm().await;
    let acked = load.finish().await;
    assert!(
        status.success(),
        "SIGTERM under load: exited with {status}\n{}",
        server.stderr_tail()
    );
    server.restart().await;
    assert_complete(&server, &acked, "after SIGTERM").await;
}

/// Random bytes an attribute carries so its record can be found in the WAL file.
fn blob(len: usize) -> Vec<u8> {
    (0..len).map(|_| rand::random::<u8>()).collect()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

const TENANT: &str = "wal-damage";

/// Sends `n` traces one request each, each with a random `blob` attribute (the last one large);
/// returns them with their blobs, after `kill -9` (acknowledged means fsynced).
async fn write_and_kill(server: &mut Sextant, auth: &Auth, n: usize) -> Vec<(Acked, Vec<u8>)> {
    let url = format!("{}/v1/traces", server.otlp_http_url());
    let mut out = Vec::new();
    for i in 0..n {
        let blob = blob(if i + 1 == n { 8192 } else { 256 });
        let (trace_id, mut spans) = trace(2);
        spans[0]
            .attributes
            .push(kv("blob", Value::BytesValue(blob.clone())));
        let data = request("wal-writer", spans);
        let resp = post_otlp(
            server.client(),
            &url,
            Some(auth),
            "application/x-protobuf",
            None,
            data.encode_to_vec(),
        )
        .await;
        assert_eq!(resp.status(), 200, "write trace {i}");
        let acked = Acked {
            auth: auth.clone(),
            trace_id,
            spans: flatten(&data),
        };
        out.push((acked, blob));
    }
    server.kill9().await;
    out
}

/// Start a server on a copy of `dir` whose WAL `damage` altered; check the survivors.
async fn check_damaged(
    dir: &Path,
    what: &str,
    damage: impl FnOnce(&Path),
    intact: &[Acked],
    lost: &[Acked],
) -> (Sextant, tempfile::TempDir) {
    let copy = tempfile::tempdir().expect("temp dir");
    copy_dir(dir, copy.path());
    damage(copy.path());
    let server = Sextant::start(Options::new().data_dir(copy.path())).await;
    assert_complete(&server, intact, what).await;
    for a in lost {
        for api in ReadApi::ALL {
            if let Some(got) = server.read_trace(api, Some(&a.auth), &a.trace_id).await {
                panic!(
                    "{what}: the damaged record's trace {} came back via {api:?}: {got:?}",
                    hex::encode(&a.trace_id)
                );
            }
        }
    }
    (server, copy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_wal_keeps_every_intact_record() {
    let mut server = Sextant::start(Options::new()).await;
    // The key lives in the data dir's database: it stays valid on copies of the dir.
    let auth = server.tenant(TENANT).await.rw;
    let written = write_and_kill(&mut server, &auth, 12).await;
    let dir = server.data_dir().to_path_buf();
    let segments = wal_segments(&dir);
    assert!(
        !segments.is_empty(),
        "no WAL segment files under {}",
        dir.join("wal").display()
    );
    let acked: Vec<Acked> = written.iter().map(|(a, _)| a.clone()).collect();
    let (last_acked, last_blob) = written.last().expect("written");
    let intact = &acked[..acked.len() - 1];

    // Torn tail: truncate the last segment inside its last record (the one with the 8 KiB blob).
    let last_seg = segments
        .iter()
        .rev()
        .find(|p| std::fs::metadata(p).map(|m| m.len() > 0).unwrap_or(false))
        .expect("a non-empty segment")
        .clone();
    let bytes = std::fs::read(&last_seg).expect("read segment");
    let offsets: Vec<usize> = match find(&bytes, &last_blob[..64]) {
        Some(p) => vec![p - 1, p + 1, p + 4096, p + last_blob.len() - 1],
        // Records are encoded some other way: the last 4 KiB still lie inside the large record.
        None => vec![bytes.len() - 1, bytes.len() - 2048, bytes.len() - 4096],
    };
    for (i, &offset) in offsets.iter().enumerate() {
        assert!(offset < bytes.len(), "offset {offset} beyond the segment");
        let name = last_seg.file_name().expect("file name").to_owned();
        let what = format!(
            "last segment truncated to {offset} of {} bytes",
            bytes.len()
        );
        let (mut restarted, _copy) = check_damaged(
            &dir,
            &what,
            |copy| {
                let seg = copy.join("wal").join(&name);
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&seg)
                    .expect("open segment");
                f.set_len(offset as u64).expect("truncate segment");
            },
            intact,
            std::slice::from_ref(last_acked),
        )
        .await;
        if i == 0 {
            // The torn tail was cut away: what is appended after it survives another crash.
            let more = write_and_kill(&mut restarted, &auth, 2).await;
            restarted.restart().await;
            let mut all: Vec<Acked> = intact.to_vec();
            all.extend(more.into_iter().map(|(a, _)| a));
            assert_complete(
                &restarted,
                &all,
                &format!("{what}, then new writes and kill -9"),
            )
            .await;
        }
    }

    // A flipped bit in the middle of a segment: only the record holding it is lost.
    let victim = acked.len() / 2;
    let victim_blob = &written[victim].1;
    let located = segments.iter().find_map(|seg| {
        let data = std::fs::read(seg).expect("read segment");
        find(&data, &victim_blob[..64]).map(|p| (seg.clone(), p + 32))
    });
    match located {
        Some((seg, pos)) => {
            let name = seg.file_name().expect("file name").to_owned();
            let mut intact = acked.clone();
            let lost = intact.remove(victim);
            check_damaged(
                &dir,
                &format!("bit flipped at {pos} of {}", seg.display()),
                |copy| flip_bit(&copy.join("wal").join(&name), pos),
                &intact,
                &[lost],
            )
            .await;
        }
        None => {
            // Record bytes are not visible in the file: flip the middle byte of the first
            // segment and require all but at most one trace back, each complete or absent.
            let name = segments[0].file_name().expect("file name").to_owned();
            let len = std::fs::metadata(&segments[0]).expect("stat").len() as usize;
            let copy = tempfile::tempdir().expect("temp dir");
            copy_dir(&dir, copy.path());
            flip_bit(&copy.path().join("wal").join(&name), len / 2);
            let server = Sextant::start(Options::new().data_dir(copy.path())).await;
            let mut missing = 0;
            for a in &acked {
                match server
                    .read_trace(ReadApi::V1Proto, Some(&a.auth), &a.trace_id)
                    .await
                {
                    Some(got) => assert_same_spans("after a flipped bit", &a.spans, &got),
                    None => missing += 1,
                }
            }
            assert!(missing <= 1, "a flipped bit lost {missing} traces");
        }
    }
}

fn flip_bit(path: &Path, pos: usize) {
    let mut data = std::fs::read(path).expect("read segment");
    data[pos] ^= 0x10;
    std::fs::write(path, data).expect("write segment");
}
