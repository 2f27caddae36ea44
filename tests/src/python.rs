//! Running the Python client scripts in `tests/python/` with the venv's interpreter.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use prost::Message;
use serde_json::Value as Json;
use sextant_model::otlp::TracesData;

use crate::json::{Dialect, resource_spans_from_json};
use crate::server::workspace_root;

/// How long one script may run.
const SCRIPT_DEADLINE: Duration = Duration::from_secs(60);

/// The Python with the OpenTelemetry SDK: `$SEXTANT_TEST_PYTHON`, else `<root>/.venv/bin/python`.
pub fn python() -> PathBuf {
    let py = std::env::var_os("SEXTANT_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    assert!(
        py.exists(),
        "{} does not exist: run ./scripts/test.sh (it creates the venv) or set SEXTANT_TEST_PYTHON",
        py.display()
    );
    py
}

/// Run `tests/python/<script> <args>`; panics unless it exits 0 and prints one JSON document.
pub async fn run_script(script: &str, args: &[&str]) -> Json {
    let path = workspace_root().join("tests/python").join(script);
    let mut cmd = tokio::process::Command::new(python());
    cmd.arg(&path).args(args).kill_on_drop(true);
    let out = tokio::time::timeout(SCRIPT_DEADLINE, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{script} {args:?} ran longer than {SCRIPT_DEADLINE:?}"))
        .unwrap_or_else(|e| panic!("run {}: {e}", path.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{script} {args:?} exited with {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{script} printed no JSON ({e}):\n{stdout}\nstderr:\n{stderr}"))
}

/// What a sender script says it sent: every request it exported, merged into one `TracesData`
/// (`requests`: base64 protobuf `ExportTraceServiceRequest`s; `json_requests`: OTLP/JSON
/// documents), and the trace IDs.
#[derive(Clone, Debug)]
pub struct Sent {
    pub data: TracesData,
    pub trace_ids: Vec<Vec<u8>>,
}

/// Parse a sender script's output.
pub fn sent(output: &Json) -> anyhow::Result<Sent> {
    let mut data = TracesData::default();
    if let Some(reqs) = output.get("requests").and_then(Json::as_array) {
        for r in reqs {
            let bytes = STANDARD.decode(r.as_str().context("request not a string")?)?;
            data.resource_spans
                .extend(TracesData::decode(bytes.as_slice())?.resource_spans);
        }
    }
    if let Some(reqs) = output.get("json_requests").and_then(Json::as_array) {
        for r in reqs {
            let rs = r.get("resourceSpans").context("no resourceSpans")?;
            data.resource_spans
                .extend(resource_spans_from_json(rs, Dialect::Otlp)?.resource_spans);
        }
    }
    let trace_ids = output
        .get("trace_ids")
        .and_then(Json::as_array)
        .context("no trace_ids")?
        .iter()
        .map(|t| Ok(hex::decode(t.as_str().context("trace id not a string")?)?))
        .collect::<anyhow::Result<Vec<_>>>()?;
    anyhow::ensure!(!trace_ids.is_empty(), "the script sent no traces");
    anyhow::ensure!(
        !data.resource_spans.is_empty(),
        "the script recorded no requests"
    );
    Ok(Sent { data, trace_ids })
}
