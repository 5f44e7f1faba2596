//! The harness of the fault matrix and the overload test: the counting Datadog sink in this
//! process (so it can go down and come back on the same port with its counters intact), the
//! loadgen in this process, the collector's self-metrics and its peak RSS.

use super::{http_body, http_get, poll_until, ProcessGuard};
use kakehashi_intake::{CountingSink, SinkConfig};
use kakehashi_loadgen::cli::{resolve_loopback, Compression, Protocol};
use kakehashi_loadgen::report::SendReport;
use kakehashi_loadgen::send::{self, SendSettings};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// A runtime for the sink and the loadgen (two workers: both stay off the test thread).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The counting sink (`kakehashi intake --count-only`) served from this process on 127.0.0.1.
pub struct Intake {
    pub port: u16,
    sink: CountingSink,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<Result<(), String>>>,
}

impl Intake {
    pub fn start(rt: &tokio::runtime::Runtime, port: u16) -> Intake {
        let mut intake = Intake {
            port,
            sink: CountingSink::new(SinkConfig::default()),
            stop: None,
            server: None,
        };
        intake.up(rt);
        intake
    }

    /// Serves again on the same port (the port may take a moment to be free again).
    pub fn up(&mut self, rt: &tokio::runtime::Runtime) {
        let addr = format!("127.0.0.1:{}", self.port);
        let listener = poll_until(Duration::from_secs(5), || {
            rt.block_on(tokio::net::TcpListener::bind(&addr)).ok()
        })
        .unwrap_or_else(|| panic!("cannot listen on {addr} again"));
        let (tx, rx) = oneshot::channel();
        let sink = self.sink.clone();
        self.server = Some(rt.spawn(async move {
            sink.serve(listener, async move {
                let _ = rx.await;
            })
            .await
        }));
        self.stop = Some(tx);
    }

    /// Stops listening: connections are refused until [`Intake::up`]. Waits (bounded) until the
    /// server has closed its connections.
    pub fn down(&mut self, rt: &tokio::runtime::Runtime) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ =
                rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), server).await });
        }
    }

    /// `GET /counts`.
    pub fn counts(&self) -> Value {
        let r = http_get(self.port, "/counts");
        serde_json::from_str(http_body(&r)).unwrap_or_else(|e| panic!("/counts: {e}: {r}"))
    }

    /// `POST /control` with `body` (see the sink's docs).
    pub fn control(&self, body: &str) {
        let r = http_post(self.port, "/control", body);
        assert!(r.starts_with("HTTP/1.1 204"), "/control {body}: {r}");
    }
}

/// A plain HTTP/1.1 POST to 127.0.0.1:`port`: the whole response.
pub fn http_post(port: u16, path: &str, body: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// What the loadgen does in a run.
#[derive(Debug, Clone)]
pub struct Load {
    pub protocol: Protocol,
    pub rate: u64,
    pub connections: u64,
    pub duration: Duration,
    pub seed: u64,
    pub retry_for: Duration,
}

/// Starts the loadgen against 127.0.0.1:`port` on `rt`; its report comes from the handle.
pub fn start_load(
    rt: &tokio::runtime::Runtime,
    port: u16,
    load: &Load,
) -> tokio::task::JoinHandle<Result<SendReport, String>> {
    let endpoint = format!("127.0.0.1:{port}");
    let settings = SendSettings {
        addr: resolve_loopback(&endpoint).unwrap(),
        endpoint,
        protocol: load.protocol,
        compression: Compression::None,
        rate: load.rate,
        batch_size: 100,
        connections: load.connections,
        duration: load.duration,
        max_spans: None,
        seed: load.seed,
        retry_for: load.retry_for,
    };
    rt.spawn(async move { send::run(settings).await.map_err(|e| format!("{e:#}")) })
}

/// The sum of every sample of `name` (any labels, with or without `_total`) on the collector's
/// Prometheus endpoint.
pub fn metric_sum(metrics_port: u16, name: &str) -> u64 {
    let r = http_get(metrics_port, "/metrics");
    http_body(&r)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            let metric = l.split(['{', ' ']).next().unwrap_or("");
            metric == name || metric.strip_suffix("_total") == Some(name)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// A field of `/proc/<pid>/status` in KiB (`VmHWM`: peak RSS, `VmRSS`: current).
pub fn proc_status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// SIGKILL, then reap.
pub fn kill_9(p: &mut ProcessGuard) {
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &p.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    p.wait_exit(Duration::from_secs(5));
}

/// Polls the sink until `done(counts)` or until its span count has not moved for `quiet`;
/// at most `timeout`. Returns the last counts.
pub fn settle(
    intake: &Intake,
    timeout: Duration,
    quiet: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + timeout;
    let mut last_spans = u64::MAX;
    let mut since = Instant::now();
    loop {
        let c = intake.counts();
        if done(&c) || Instant::now() >= deadline {
            return c;
        }
        let spans = c["spans"].as_u64().unwrap_or(0);
        if spans != last_spans {
            last_spans = spans;
            since = Instant::now();
        } else if since.elapsed() >= quiet {
            return c;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
