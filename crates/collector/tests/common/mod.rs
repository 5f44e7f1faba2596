//! Helpers shared by the collector's integration tests: process guards, free ports, waiting for a
//! port, the Python OTLP sink (tests/python/otlp_sink.py) and reading what it received.
#![allow(dead_code)]

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod dd_intake;
pub mod fault;

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// `<workspace>/.venv/bin/python`. Panics (never skips) when it is missing.
pub fn python() -> PathBuf {
    let py = workspace_root().join(".venv/bin/python");
    assert!(
        py.exists(),
        "{} is missing: run `scripts/test-setup.sh` first to create the Python venv used by the \
         interoperability tests",
        py.display()
    );
    py
}

pub fn python_script(name: &str) -> PathBuf {
    workspace_root().join("tests/python").join(name)
}

/// The kakehashi binary built by cargo for this test.
pub fn kakehashi_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kakehashi"))
}

/// `127.0.0.1:<port>` of a metadata service that knows nothing: every request gets an empty
/// 404, which no metadata client retries, so a collector asking it finds no cloud at once
/// (where a refused connection would cost Google's client's ~3 s of retries). One per test
/// process, on a thread of its own.
fn metadata_knows_nothing() -> &'static str {
    static ADDR: OnceLock<String> = OnceLock::new();
    ADDR.get_or_init(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else {
                    // Out of descriptors, say: wait rather than spin.
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                };
                std::thread::spawn(move || {
                    use std::io::Write;
                    conn.set_read_timeout(Some(Duration::from_secs(5))).ok();
                    // The request head; metadata requests carry no body.
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = conn.write_all(
                        b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    );
                    // Close without a reset (which Google's client would retry): our side
                    // first, then whatever the client still sends.
                    let _ = conn.shutdown(std::net::Shutdown::Write);
                    while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
                });
            }
        });
        addr
    })
}

/// A command running the kakehashi binary with every cloud metadata address it could ask (the
/// datadog exporter's fallback host, `resourcedetection`) moved to a local service that knows
/// nothing, and without the Kubernetes or ECS variables of the machine running the tests: no
/// test reaches a real metadata service or API server. A test faking one sets its variable
/// after this. (With `GCE_METADATA_HOST` set, `resourcedetection`'s `gcp` detector takes itself
/// to be on GCP, as Google's client does. A test of it off GCP must not simply remove the
/// variable, which would send it to the real address: it belongs in a network namespace, as
/// the measurements in docs/datadog.md were made.)
pub fn kakehashi_command() -> Command {
    let mut cmd = Command::new(kakehashi_bin());
    let nowhere = metadata_knows_nothing();
    let url = format!("http://{nowhere}");
    cmd.env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &url)
        .env("KAKEHASHI_AZURE_METADATA_ENDPOINT", &url)
        .env("GCE_METADATA_HOST", nowhere)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .env_remove("ECS_CONTAINER_METADATA_URI_V4")
        .env_remove("ECS_CONTAINER_METADATA_URI");
    cmd
}

/// A free TCP port on 127.0.0.1 for a child process to listen on. Never hands out the same port
/// twice within one test process, so parallel tests do not collide with each other.
///
/// Chosen below the kernel's ephemeral range (`ip_local_port_range`) where there is room: a
/// port taken from that range (bind to :0, drop) can be handed to another socket — a test's
/// outgoing connection, an intake double's listener — before the child binds it.
pub fn free_port() -> u16 {
    static USED: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    let used = USED.get_or_init(|| Mutex::new(HashSet::new()));
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32768);
    // Below the ephemeral range: up to 10000 ports under its start, never under 1024.
    let (low, high) = (
        ephemeral_low.saturating_sub(10_000).max(1024),
        ephemeral_low,
    );
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        ^ (u64::from(std::process::id()) << 32);
    for _ in 0..200 {
        // xorshift: spreads the candidates, so separate test processes rarely try the same one.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let port = if high > low + 1000 {
            (low + (seed % u64::from(high - low)) as u32) as u16
        } else {
            TcpListener::bind("127.0.0.1:0")
                .expect("bind 127.0.0.1:0")
                .local_addr()
                .unwrap()
                .port()
        };
        if TcpListener::bind(("127.0.0.1", port)).is_ok() && used.lock().unwrap().insert(port) {
            return port;
        }
    }
    panic!("no free port found");
}

/// A child process that is killed (and reaped) when dropped, even when the test panics. Its
/// stdout/stderr go to files; on a panicking thread their tails are printed for diagnosis.
pub struct ProcessGuard {
    pub name: String,
    child: Option<Child>,
    pub stdout_path: PathBuf,
    pub stderr_path: PathBuf,
}

impl ProcessGuard {
    /// Spawns `cmd` with stdout/stderr redirected to `<log_dir>/<name>.{stdout,stderr}`.
    pub fn spawn(name: &str, mut cmd: Command, log_dir: &Path) -> ProcessGuard {
        let stdout_path = log_dir.join(format!("{name}.stdout"));
        let stderr_path = log_dir.join(format!("{name}.stderr"));
        cmd.stdin(Stdio::null())
            .stdout(File::create(&stdout_path).unwrap())
            .stderr(File::create(&stderr_path).unwrap());
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        ProcessGuard {
            name: name.to_string(),
            child: Some(child),
            stdout_path,
            stderr_path,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// SIGTERM, as Kubernetes stops a pod; the process must exit cleanly within `timeout`.
    /// Returns its stdout and stderr.
    pub fn terminate(&mut self, timeout: Duration) -> String {
        let killed = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let exit = self.wait_exit(timeout);
        let output = format!("{}{}", self.stdout(), self.stderr());
        assert!(exit.success(), "{} exit {exit:?}\n{output}", self.name);
        output
    }

    /// Panics (with the process output) if the process has exited.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
            panic!(
                "{} exited early with {status}\n{}",
                self.name,
                self.output_tail(8000)
            );
        }
    }

    /// Waits for the process to exit, at most `timeout`; panics on timeout.
    pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                return status;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{} did not exit within {timeout:?}\n{}",
                    self.name,
                    self.output_tail(8000)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// The last `max` bytes of stdout and stderr, labelled.
    pub fn output_tail(&self, max: usize) -> String {
        fn tail(s: String, max: usize) -> String {
            if s.len() <= max {
                return s;
            }
            let mut start = s.len() - max;
            while !s.is_char_boundary(start) {
                start += 1;
            }
            format!("...{}", &s[start..])
        }
        format!(
            "--- {} stdout ---\n{}\n--- {} stderr ---\n{}",
            self.name,
            tail(self.stdout(), max),
            self.name,
            tail(self.stderr(), max)
        )
    }
}

impl Drop for ProcessGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("{}", self.output_tail(4000));
        }
    }
}

/// Waits until something accepts TCP connections on 127.0.0.1:`port`, at most `timeout`.
/// Panics if `guard`'s process exits meanwhile or on timeout.
pub fn wait_for_port(port: u16, timeout: Duration, mut guard: Option<&mut ProcessGuard>) {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let deadline = Instant::now() + timeout;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        if let Some(g) = guard.as_deref_mut() {
            g.assert_running();
        }
        if Instant::now() >= deadline {
            let out = guard.map(|g| g.output_tail(8000)).unwrap_or_default();
            panic!("nothing listens on {addr} after {timeout:?}\n{out}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls `f` every 50 ms until it returns Some, at most `timeout`.
pub fn poll_until<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The Python OTLP sink (tests/python/otlp_sink.py): a downstream OTLP server that is not our
/// code, recording every request it receives as a JSON line.
pub struct Sink {
    pub process: ProcessGuard,
    pub grpc_port: u16,
    pub http_port: u16,
    pub output: PathBuf,
}

impl Sink {
    /// Starts the sink with both gRPC and HTTP listeners and waits for its `READY` line.
    pub fn start(dir: &Path) -> Sink {
        let grpc_port = free_port();
        let http_port = free_port();
        let output = dir.join("sink.jsonl");
        File::create(&output).unwrap();
        let mut cmd = Command::new(python());
        cmd.arg("-u")
            .arg(python_script("otlp_sink.py"))
            .arg("--output")
            .arg(&output)
            .arg("--grpc-port")
            .arg(grpc_port.to_string())
            .arg("--http-port")
            .arg(http_port.to_string());
        let mut process = ProcessGuard::spawn("otlp_sink", cmd, dir);
        let ready = poll_until(Duration::from_secs(20), || {
            process.assert_running();
            process.stdout().contains("READY").then_some(())
        });
        if ready.is_none() {
            panic!(
                "otlp_sink not READY after 20s\n{}",
                process.output_tail(8000)
            );
        }
        Sink {
            process,
            grpc_port,
            http_port,
            output,
        }
    }

    /// Every record written so far (one per received request), parsed.
    pub fn records(&self) -> Vec<Value> {
        read_json_lines(&self.output)
    }

    /// Records of one signal ("traces", "metrics", "logs").
    pub fn records_of(&self, signal: &str) -> Vec<Value> {
        self.records()
            .into_iter()
            .filter(|r| r["signal"] == signal)
            .collect()
    }

    /// Panics if the sink rejected any request (it writes an `error` field for those).
    pub fn assert_no_errors(&self) {
        let errors: Vec<_> = self
            .records()
            .into_iter()
            .filter(|r| r.get("error").is_some())
            .collect();
        assert!(errors.is_empty(), "the sink rejected requests: {errors:#?}");
    }
}

/// Parses a JSON-lines file; an incomplete last line (being written) is ignored.
pub fn read_json_lines(path: &Path) -> Vec<Value> {
    let mut text = String::new();
    if let Ok(mut f) = File::open(path) {
        let _ = f.read_to_string(&mut text);
    }
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Runs a command to completion (bounded by `timeout`), returning (status, stdout, stderr).
pub fn run_bounded(
    mut cmd: Command,
    timeout: Duration,
) -> (std::process::ExitStatus, String, String) {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let (tx_o, rx_o) = mpsc::channel();
    let (tx_e, rx_e) = mpsc::channel();
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        let _ = tx_o.send(s);
    });
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        let _ = tx_e.send(s);
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = rx_e
                .recv_timeout(Duration::from_secs(2))
                .unwrap_or_default();
            panic!("{cmd:?} did not finish within {timeout:?}\nstderr:\n{stderr}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = rx_o
        .recv_timeout(Duration::from_secs(5))
        .unwrap_or_default();
    let stderr = rx_e
        .recv_timeout(Duration::from_secs(5))
        .unwrap_or_default();
    (status, stdout, stderr)
}

/// tests/python/send.py (the OpenTelemetry Python SDK) sends `signal` ("traces", "metrics",
/// "logs" or "all") over OTLP/gRPC to `127.0.0.1:port`, and must succeed.
pub fn send_with_python_sdk(port: u16, signal: &str) {
    let mut cmd = Command::new(python());
    cmd.arg(python_script("send.py")).args([
        "--protocol",
        "grpc",
        "--endpoint",
        &format!("http://127.0.0.1:{port}"),
        "--signal",
        signal,
    ]);
    let (status, _, stderr) = run_bounded(cmd, Duration::from_secs(60));
    assert!(status.success(), "send.py failed: {stderr}");
}

/// Starts kakehashi on `config` (written to `<dir>/<name>.yaml`) and waits until every port in
/// `wait_ports` accepts TCP connections (20 s at most).
pub fn start_kakehashi(dir: &Path, name: &str, config: &str, wait_ports: &[u16]) -> ProcessGuard {
    let config_path = dir.join(format!("{name}.yaml"));
    std::fs::write(&config_path, config).unwrap();
    let mut cmd = kakehashi_command();
    cmd.arg("--config").arg(&config_path);
    let mut guard = ProcessGuard::spawn(name, cmd, dir);
    for &port in wait_ports {
        wait_for_port(port, Duration::from_secs(20), Some(&mut guard));
    }
    guard
}

// ---------------------------------------------------------------------------------------------
// Reading OTLP/JSON (MessageToDict form: camelCase keys, hex ids, int64 as strings).
// ---------------------------------------------------------------------------------------------

/// One item (span, metric or log record) with the resource and scope it came in.
#[derive(Debug, Clone)]
pub struct Item {
    pub resource: Value,
    pub scope: Value,
    pub item: Value,
}

/// Flattens OTLP/JSON requests of `signal` into their items.
pub fn flatten<'a>(signal: &str, requests: impl IntoIterator<Item = &'a Value>) -> Vec<Item> {
    let (res_key, scope_key, items_key) = match signal {
        "traces" => ("resourceSpans", "scopeSpans", "spans"),
        "metrics" => ("resourceMetrics", "scopeMetrics", "metrics"),
        "logs" => ("resourceLogs", "scopeLogs", "logRecords"),
        other => panic!("unknown signal {other}"),
    };
    let mut out = Vec::new();
    for req in requests {
        for rs in req[res_key].as_array().into_iter().flatten() {
            let resource = rs.get("resource").cloned().unwrap_or(Value::Null);
            for ss in rs[scope_key].as_array().into_iter().flatten() {
                let scope = ss.get("scope").cloned().unwrap_or(Value::Null);
                for item in ss[items_key].as_array().into_iter().flatten() {
                    out.push(Item {
                        resource: resource.clone(),
                        scope: scope.clone(),
                        item: item.clone(),
                    });
                }
            }
        }
    }
    out
}

/// Items of `signal` the sink has received so far.
pub fn sink_items(sink: &Sink, signal: &str) -> Vec<Item> {
    let recs = sink.records_of(signal);
    flatten(signal, recs.iter().filter_map(|r| r.get("request")))
}

/// The value of attribute `key` in an OTLP/JSON attribute list (`[{key, value}]`), if present.
pub fn attr<'a>(attrs: &'a Value, key: &str) -> Option<&'a Value> {
    attrs
        .as_array()?
        .iter()
        .find(|kv| kv["key"] == key)
        .map(|kv| &kv["value"])
}

/// Reads lines of a child's stdout until one contains `needle` (used for READY-style handshakes).
pub fn wait_for_line(reader: impl Read + Send + 'static, needle: &str, timeout: Duration) -> bool {
    let (tx, rx) = mpsc::channel();
    let needle = needle.to_string();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            match line {
                Ok(l) if l.contains(&needle) => {
                    let _ = tx.send(());
                    return;
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
    rx.recv_timeout(timeout).is_ok()
}

// ---------------------------------------------------------------------------------------------
// Building OTLP requests in Rust and sending them over gRPC (a raw tonic client, so tests see the
// exact status the receiver answers).
// ---------------------------------------------------------------------------------------------

/// An `ExportTraceServiceRequest` with `n` spans named `<name>-<i>` (distinct, non-zero ids).
pub fn trace_request(name: &str, n: usize) -> kakehashi_pdata::ExportTraceServiceRequest {
    use kakehashi_pdata::proto::common::v1::{any_value, AnyValue, KeyValue};
    use kakehashi_pdata::proto::resource::v1::Resource;
    use kakehashi_pdata::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
    static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let spans = (0..n)
        .map(|i| {
            let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut trace_id = [0u8; 16];
            trace_id[..8].copy_from_slice(&u64::from(std::process::id()).to_be_bytes());
            trace_id[8..].copy_from_slice(&id.to_be_bytes());
            Span {
                trace_id: trace_id.to_vec(),
                span_id: id.to_be_bytes().to_vec(),
                name: format!("{name}-{i}"),
                kind: 2,
                start_time_unix_nano: now,
                end_time_unix_nano: now + 1_000_000,
                ..Default::default()
            }
        })
        .collect();
    kakehashi_pdata::ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("e2e-test".into())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Sends `req` over plaintext OTLP/gRPC to `uri` (e.g. `http://127.0.0.1:4317`) with a deadline of
/// `timeout` for connecting and for the call. Runs its own small runtime.
pub fn grpc_export(
    uri: &str,
    req: kakehashi_pdata::ExportTraceServiceRequest,
    timeout: Duration,
) -> Result<(), tonic::Status> {
    use kakehashi_pdata::proto::collector::trace::v1::trace_service_client::TraceServiceClient;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let uri = uri.to_string();
    rt.block_on(async move {
        let call = async {
            let channel = tonic::transport::Endpoint::from_shared(uri)
                .map_err(|e| tonic::Status::invalid_argument(e.to_string()))?
                .connect_timeout(timeout)
                .timeout(timeout)
                .connect()
                .await
                .map_err(|e| tonic::Status::unavailable(format!("connect: {}", error_chain(&e))))?;
            TraceServiceClient::new(channel)
                .export(req)
                .await
                .map(|_| ())
        };
        // An outer bound as well, so a server that never answers cannot hang the test.
        match tokio::time::timeout(timeout + Duration::from_secs(1), call).await {
            Ok(r) => r,
            Err(_) => Err(tonic::Status::deadline_exceeded("client-side bound hit")),
        }
    })
}

/// An error and all its sources, joined with ": ".
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    out
}

/// A plain HTTP/1.1 GET to 127.0.0.1:`port`: the whole response (status line, headers, body).
pub fn http_get(port: u16, path: &str) -> String {
    use std::io::Write;
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// The body of an HTTP response as returned by [`http_get`] (not chunked).
pub fn http_body(response: &str) -> &str {
    response.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// The log without terminal colour codes (`ESC [ ... m`). The collector writes none when its
/// output is not a terminal; this keeps log assertions independent of that.
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A config for one `signal` pipeline: otlp (gRPC) → `processors_yaml` (the `processors:`
/// section's body; `pipeline` lists them) → otlphttp into the Python sink.
pub fn otlp_to_sink_config(
    recv_grpc: u16,
    sink: &Sink,
    processors_yaml: &str,
    pipeline: &str,
    signal: &str,
) -> String {
    format!(
        r#"receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{recv_grpc}
processors:
{processors_yaml}
exporters:
  otlphttp:
    endpoint: http://127.0.0.1:{http}
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    {signal}:
      receivers: [otlp]
      processors: [{pipeline}]
      exporters: [otlphttp]
"#,
        http = sink.http_port
    )
}
