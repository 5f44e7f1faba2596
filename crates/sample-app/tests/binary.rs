//! The real `sample-app` binary: configured by the standard `OTEL_*` variables, and on
//! SIGTERM/SIGINT it drains, flushes its spans and exits 0 within 10 s — also when the
//! collector cannot be reached.

mod common;

use common::{closed_port, only, str_attr, Receiver};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// The `OTEL_*` variables the tests set or rely on being unset.
const OTEL_VARS: &[&str] = &[
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    "OTEL_SDK_DISABLED",
];

/// A running `sample-app` process; killed if the test fails before it exits.
struct SampleApp {
    child: Child,
    addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
}

impl SampleApp {
    /// Starts the binary on 127.0.0.1:0 with `env` (on top of a clean `OTEL_*` slate) and waits
    /// for it to log the address it listens on.
    fn spawn(env: &[(&str, &str)]) -> SampleApp {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sample-app"));
        cmd.args(["--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1");
        for var in OTEL_VARS {
            cmd.env_remove(var);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn sample-app");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (addr_tx, addr_rx) = mpsc::channel::<SocketAddr>();
        let pipe = child.stderr.take().unwrap();
        let log = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if line.contains("sample-app listening") {
                    if let Some(addr) = line
                        .split_whitespace()
                        .find_map(|w| w.strip_prefix("addr="))
                        .and_then(|a| a.parse().ok())
                    {
                        let _ = addr_tx.send(addr);
                    }
                }
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let mut app = SampleApp {
            child,
            addr: "0.0.0.0:0".parse().unwrap(),
            stderr,
        };
        match addr_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(addr) => app.addr = addr,
            Err(_) => panic!(
                "sample-app did not log its address within 10 s\n{}",
                app.stderr()
            ),
        }
        app
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{sig} failed");
    }

    /// Waits up to `timeout` for the process to exit; panics (with its log) if it does not.
    async fn wait_exit(&mut self, timeout: Duration) -> (ExitStatus, Duration) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, started.elapsed());
            }
            if started.elapsed() > timeout {
                panic!(
                    "sample-app still running {timeout:?} after the signal\n{}",
                    self.stderr()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let resp = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap()
            .get(format!("http://{}{path}", self.addr))
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }
}

impl Drop for SampleApp {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_flushes_spans_and_exits_0() {
    let receiver = Receiver::start().await;
    let endpoint = receiver.endpoint();
    let mut app = SampleApp::spawn(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        // Only the shutdown can flush: the batch timer would not fire for a minute.
        ("OTEL_BSP_SCHEDULE_DELAY", "60000"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment.name=e2e",
        ),
    ]);

    assert_eq!(app.get("/health").await, (200, "OK".to_owned()));
    assert_eq!(
        receiver.request_count(),
        0,
        "nothing exported before the shutdown"
    );

    app.signal("TERM");
    let (status, _) = app.wait_exit(Duration::from_secs(10)).await;
    let log = app.stderr();
    assert!(status.success(), "{status}\n{log}");

    let spans = receiver.spans();
    assert_eq!(spans.len(), 2, "{spans:#?}\n{log}");
    let server = only(&spans, "GET /health");
    let check = only(&spans, "HealthCheck Local");
    assert_eq!(check.span.parent_span_id, server.span.span_id);
    for s in [server, check] {
        assert_eq!(str_attr(&s.resource, "service.name"), Some("sample-app"));
        assert_eq!(
            str_attr(&s.resource, "deployment.environment.name"),
            Some("e2e"),
            "OTEL_RESOURCE_ATTRIBUTES is honoured"
        );
    }

    // The request log and the shutdown steps are on stderr.
    assert!(
        log.lines().any(|l| l.contains("request")
            && l.contains("path=/health")
            && l.contains("status=200")),
        "{log}"
    );
    assert!(log.contains("SIGTERM received"), "{log}");
    assert!(log.contains("spans flushed"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otel_variables_name_the_service_and_pick_the_endpoint() {
    let receiver = Receiver::start().await;
    // The signal-specific variable wins over the generic one (which points nowhere); a value
    // without a scheme, as the seed's Go app takes it, works too.
    let traces_endpoint = receiver.addr.to_string();
    let nowhere = format!("http://127.0.0.1:{}", closed_port());
    let mut app = SampleApp::spawn(&[
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &traces_endpoint),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &nowhere),
        ("OTEL_SERVICE_NAME", "from-env"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "service.name=from-attributes,team=kakehashi",
        ),
    ]);

    assert_eq!(app.get("/health").await.0, 200);
    app.signal("INT");
    let (status, _) = app.wait_exit(Duration::from_secs(10)).await;
    let log = app.stderr();
    assert!(status.success(), "{status}\n{log}");
    assert!(log.contains("SIGINT received"), "{log}");

    let spans = receiver.spans();
    assert_eq!(spans.len(), 2, "{spans:#?}\n{log}");
    for s in &spans {
        // OTEL_SERVICE_NAME wins over OTEL_RESOURCE_ATTRIBUTES' service.name (the spec's rule).
        assert_eq!(str_attr(&s.resource, "service.name"), Some("from-env"));
        assert_eq!(str_attr(&s.resource, "team"), Some("kakehashi"));
    }
    // The span attribute is the app's own, whatever the resource says.
    let check = only(&spans, "HealthCheck Local");
    assert_eq!(
        str_attr(&check.span.attributes, "service.name"),
        Some("vote-app")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_collector_refusing_connections_exits_0_in_time() {
    let endpoint = format!("http://127.0.0.1:{}", closed_port());
    let mut app = SampleApp::spawn(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_BSP_SCHEDULE_DELAY", "60000"),
    ]);
    assert_eq!(app.get("/health").await, (200, "OK".to_owned()));
    app.signal("TERM");
    let (status, _) = app.wait_exit(Duration::from_secs(10)).await;
    let log = app.stderr();
    assert!(status.success(), "{status}\n{log}");
    assert!(log.contains("flushing spans failed"), "{log}");
    assert!(!log.contains("spans flushed"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_collector_never_answering_exits_0_in_time() {
    // A collector that accepts TCP connections (the kernel does, into the backlog) but never
    // answers, and an export timeout of a minute: without the shutdown budget the flush would
    // block for that long.
    let blackhole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", blackhole.local_addr().unwrap());
    let mut app = SampleApp::spawn(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "60000"),
        ("OTEL_BSP_SCHEDULE_DELAY", "60000"),
    ]);
    assert_eq!(app.get("/health").await, (200, "OK".to_owned()));
    app.signal("TERM");
    // The binary's budget is 9 s (+ up to 0.2 s for the runtime to stop); 12 s leaves room for a
    // loaded machine while still catching a hang.
    let (status, _) = app.wait_exit(Duration::from_secs(12)).await;
    let log = app.stderr();
    assert!(status.success(), "{status}\n{log}");
    drop(blackhole);
}
