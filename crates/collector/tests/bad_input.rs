//! Hostile input against the real binary. Every file under `tests/bad-input/` is replayed:
//!
//! * `otlp-proto/<signal>.<accept|reject>.<what>.bin`: over OTLP/HTTP (plain, gzip, zstd) and
//!   OTLP/gRPC (plain, gzip). `reject` must get HTTP 400 with an INVALID_ARGUMENT status, and
//!   gRPC INTERNAL (grpc-go's code for "error unmarshalling request"); `accept` 200 / OK.
//! * `otlp-json/<signal>.<accept|reject>.<what>.json`: over OTLP/HTTP JSON (plain, gzip).
//! * `config/*.yaml`: `kakehashi validate` must fail, bounded in time and memory, with every
//!   `# expect:` line in its output (`# env: NAME=value` lines set variables; `\n` is a newline).
//!
//! Inputs too big to check in (compression bombs, bodies over the limit, huge configs), slow
//! clients and a burst of connections are generated here. Traces also go through the Datadog
//! exporter (to a fake intake), so every accepted trace file drives the Datadog mapping and the
//! APM stats in a debug build. After each batch the collector must still be running and must
//! still accept and deliver a valid request, to both exporters. Fuzzer findings go into
//! the same folders (docs/fuzzing.md). The generated part of `otlp-proto/` is rewritten by
//! `cargo test -p kakehashi-collector --test bad_input -- --ignored`.

mod common;

use common::{free_port, poll_until, run_bounded, start_kakehashi, trace_request, ProcessGuard};
use kakehashi_pdata::proto::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tonic::codec::CompressionEncoding;

/// The receivers' limits in this test (small, so bombs and oversized bodies stay cheap).
const BODY_LIMIT: usize = 1 << 20;
const GRPC_LIMIT_MIB: usize = 1;
/// The HTTP header read timeout configured here, so slowloris connections are seen closed.
const HEADER_TIMEOUT: Duration = Duration::from_secs(2);

fn corpus_dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/bad-input")
        .join(sub)
}

/// A corpus file: its signal, whether it must be accepted, and its bytes.
struct Item {
    name: String,
    signal: &'static str,
    accept: bool,
    body: Vec<u8>,
}

fn corpus(sub: &str) -> Vec<Item> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(corpus_dir(sub))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    let items: Vec<Item> = paths
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            let mut parts = name.split('.');
            let signal = match parts.next() {
                Some("traces") => "traces",
                Some("metrics") => "metrics",
                Some("logs") => "logs",
                _ => panic!("{sub}/{name}: must start with traces., metrics. or logs."),
            };
            let accept = match parts.next() {
                Some("accept") => true,
                Some("reject") => false,
                _ => panic!("{sub}/{name}: second part must be accept or reject"),
            };
            Item {
                body: std::fs::read(&p).unwrap(),
                name,
                signal,
                accept,
            }
        })
        .collect();
    assert!(items.len() >= 10, "{sub}: corpus missing");
    items
}

// === HTTP/1.1 over a raw socket (so nothing is normalised on the way) ===

/// Sends `head` + `body` on a fresh connection and returns (status, response body). Write errors
/// are ignored (the server may answer and close before reading a rejected body to the end).
fn raw_http(port: u16, head: &str, body: &[u8]) -> Result<(u16, Vec<u8>), String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(head.as_bytes()).and_then(|_| s.write_all(body));
    let mut out = Vec::new();
    if let Err(e) = s.read_to_end(&mut out) {
        if out.is_empty() {
            return Err(format!("no response: {e}"));
        }
    }
    let text = String::from_utf8_lossy(&out);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("not an HTTP response: {text:?}"))?;
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(out.len(), |i| i + 4);
    Ok((status, out[split..].to_vec()))
}

fn post(port: u16, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Vec<u8>) {
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    raw_http(port, &head, body).unwrap_or_else(|e| panic!("POST {path}: {e}"))
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(b).unwrap();
    enc.finish().unwrap()
}

fn zstd(b: &[u8]) -> Vec<u8> {
    zstd::encode_all(b, 1).unwrap()
}

/// The `google.rpc.Status` code in a 400 body, protobuf or JSON.
fn status_code(json: bool, body: &[u8]) -> Option<i64> {
    if json {
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        v["code"].as_i64()
    } else {
        // Field 1 (code), varint: enough of google.rpc.Status for this check.
        match body {
            [0x08, code, ..] => Some(i64::from(*code)),
            _ => None,
        }
    }
}

// === gRPC with raw bytes (a codec that sends the corpus file as the message) ===

#[derive(Clone, Copy, Default)]
struct RawCodec;

struct RawEncoder;
struct RawDecoder;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl tonic::codec::Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        prost::bytes::BufMut::put_slice(dst, &item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        use prost::bytes::Buf;
        let mut out = vec![0; src.remaining()];
        src.copy_to_slice(&mut out);
        Ok(Some(out))
    }
}

fn grpc_path(signal: &str) -> &'static str {
    match signal {
        "traces" => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        "metrics" => "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
        _ => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    }
}

/// One unary call carrying `body` as the message, optionally compressed by the client.
fn grpc_raw(
    rt: &tokio::runtime::Runtime,
    port: u16,
    signal: &str,
    body: Vec<u8>,
    compression: Option<CompressionEncoding>,
) -> Result<(), tonic::Status> {
    let path = grpc_path(signal);
    rt.block_on(async move {
        let call = async {
            let channel =
                tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
                    .unwrap()
                    .connect()
                    .await
                    .map_err(|e| tonic::Status::unavailable(format!("connect: {e}")))?;
            let mut grpc = tonic::client::Grpc::new(channel);
            if let Some(c) = compression {
                grpc = grpc.send_compressed(c);
            }
            grpc.ready()
                .await
                .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
            let path = tonic::codegen::http::uri::PathAndQuery::from_static(path);
            grpc.unary(tonic::Request::new(body), path, RawCodec)
                .await
                .map(|_| ())
        };
        tokio::time::timeout(Duration::from_secs(15), call)
            .await
            .unwrap_or_else(|_| Err(tonic::Status::deadline_exceeded("client-side bound hit")))
    })
}

// === The collector under test ===

struct Collector {
    process: ProcessGuard,
    grpc: u16,
    http: u16,
    metrics: u16,
    rt: tokio::runtime::Runtime,
    _intake: common::dd_intake::FakeIntake,
    _dir: tempfile::TempDir,
}

impl Collector {
    fn start() -> Collector {
        let dir = tempfile::Builder::new()
            .prefix("kakehashi-bad-input-")
            .tempdir()
            .unwrap();
        let (grpc, http, metrics) = (free_port(), free_port(), free_port());
        let intake = common::dd_intake::FakeIntake::start();
        let config = format!(
            r#"receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
        max_recv_msg_size_mib: {GRPC_LIMIT_MIB}
      http:
        endpoint: 127.0.0.1:{http}
        max_request_body_size: {BODY_LIMIT}
        read_header_timeout: {timeout}s
exporters:
  nop:
  datadog:
    hostname: bad-input-test
    api:
      key: 0123456789abcdef0123456789abcdef
    traces:
      endpoint: {url}
    metrics:
      endpoint: {url}
service:
  telemetry:
    metrics:
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: {metrics}
  pipelines:
    traces: {{receivers: [otlp], exporters: [nop, datadog]}}
    metrics: {{receivers: [otlp], exporters: [nop]}}
    logs: {{receivers: [otlp], exporters: [nop]}}
"#,
            timeout = HEADER_TIMEOUT.as_secs(),
            url = intake.url()
        );
        let process = start_kakehashi(dir.path(), "kakehashi", &config, &[grpc, http, metrics]);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        Collector {
            process,
            grpc,
            http,
            metrics,
            rt,
            _intake: intake,
            _dir: dir,
        }
    }

    fn sent_spans(&self, exporter: &str) -> u64 {
        let label = format!("exporter=\"{exporter}\"");
        common::http_get(self.metrics, "/metrics")
            .lines()
            .filter(|l| l.starts_with("otelcol_exporter_sent_spans{") && l.contains(&label))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }

    /// The collector is alive, and a valid request over each transport is accepted and reaches
    /// the exporter.
    fn assert_healthy(&mut self, after: &str) {
        self.process.assert_running();
        let before = [self.sent_spans("nop"), self.sent_spans("datadog")];
        let body = trace_request(&format!("probe-{after}"), 2).encode_to_vec();
        let (status, resp) = post(
            self.http,
            "/v1/traces",
            &[("Content-Type", "application/x-protobuf")],
            &body,
        );
        assert_eq!(
            status,
            200,
            "after {after}: {}",
            String::from_utf8_lossy(&resp)
        );
        let uri = format!("http://127.0.0.1:{}", self.grpc);
        let grpc = self.rt.block_on(async {
            let mut c = TraceServiceClient::connect(uri)
                .await
                .map_err(|e| e.to_string())?;
            c.export(trace_request(&format!("probe-{after}"), 2))
                .await
                .map_err(|e| e.to_string())
        });
        assert!(grpc.is_ok(), "after {after}: gRPC probe failed: {grpc:?}");
        for (exporter, before) in ["nop", "datadog"].into_iter().zip(before) {
            let delivered = poll_until(Duration::from_secs(15), || {
                (self.sent_spans(exporter) >= before + 4).then_some(())
            });
            assert!(
                delivered.is_some(),
                "after {after}: probe spans not delivered by {exporter} (sent_spans {} -> {})\n{}",
                before,
                self.sent_spans(exporter),
                self.process.output_tail(4000)
            );
        }
    }

    fn rss_kb(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.process.pid()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }
}

fn http_path(signal: &str) -> String {
    format!("/v1/{signal}")
}

#[test]
fn hostile_requests_are_refused_and_the_collector_keeps_serving() {
    let mut c = Collector::start();
    c.assert_healthy("start");
    let mut failures = Vec::new();

    // --- Protobuf corpus: HTTP (plain, gzip, zstd) and gRPC (plain, gzip).
    for item in corpus("otlp-proto") {
        let path = http_path(item.signal);
        for (enc, body) in [
            ("", item.body.clone()),
            ("gzip", gzip(&item.body)),
            ("zstd", zstd(&item.body)),
        ] {
            let mut headers = vec![("Content-Type", "application/x-protobuf")];
            if !enc.is_empty() {
                headers.push(("Content-Encoding", enc));
            }
            let (status, resp) = post(c.http, &path, &headers, &body);
            let ok = if item.accept {
                status == 200
            } else {
                status == 400 && status_code(false, &resp) == Some(3)
            };
            if !ok {
                failures.push(format!(
                    "otlp-proto/{} over HTTP {enc:?}: {status} {:?}",
                    item.name,
                    String::from_utf8_lossy(&resp)
                ));
            }
        }
        for comp in [None, Some(CompressionEncoding::Gzip)] {
            let r = grpc_raw(&c.rt, c.grpc, item.signal, item.body.clone(), comp);
            let ok = match &r {
                Ok(()) => item.accept,
                Err(s) => !item.accept && s.code() == tonic::Code::Internal,
            };
            if !ok {
                failures.push(format!(
                    "otlp-proto/{} over gRPC {comp:?}: {r:?}",
                    item.name
                ));
            }
        }
    }
    c.assert_healthy("protobuf corpus");

    // --- JSON corpus: HTTP (plain, gzip).
    for item in corpus("otlp-json") {
        let path = http_path(item.signal);
        for (enc, body) in [("", item.body.clone()), ("gzip", gzip(&item.body))] {
            let mut headers = vec![("Content-Type", "application/json")];
            if !enc.is_empty() {
                headers.push(("Content-Encoding", enc));
            }
            let (status, resp) = post(c.http, &path, &headers, &body);
            let ok = if item.accept {
                status == 200
            } else {
                status == 400 && status_code(true, &resp) == Some(3)
            };
            if !ok {
                failures.push(format!(
                    "otlp-json/{} over HTTP {enc:?}: {status} {:?}",
                    item.name,
                    String::from_utf8_lossy(&resp)
                ));
            }
        }
    }
    c.assert_healthy("JSON corpus");
    assert!(
        failures.is_empty(),
        "unexpected answers:\n{}",
        failures.join("\n")
    );

    // --- Bombs and oversized bodies (generated): refused without inflating past the limit.
    let zeros = vec![0u8; 64 << 20];
    let too_large = |status: u16, resp: &[u8]| {
        status == 400 && String::from_utf8_lossy(resp).contains("request body too large")
    };
    for (enc, body) in [("gzip", gzip(&zeros)), ("zstd", zstd(&zeros))] {
        assert!(body.len() < BODY_LIMIT, "the {enc} bomb itself is small");
        for ct in ["application/x-protobuf", "application/json"] {
            let started = Instant::now();
            let (status, resp) = post(
                c.http,
                "/v1/traces",
                &[("Content-Type", ct), ("Content-Encoding", enc)],
                &body,
            );
            assert!(
                too_large(status, &resp),
                "{enc} bomb ({ct}): {status} {resp:?}"
            );
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{enc} bomb was slow"
            );
        }
    }
    drop(zeros);
    let over = vec![b'x'; BODY_LIMIT + 1024];
    let (status, resp) = post(
        c.http,
        "/v1/traces",
        &[("Content-Type", "application/json")],
        &over,
    );
    assert!(
        too_large(status, &resp),
        "over the limit: {status} {resp:?}"
    );
    // A Content-Length far over the limit is refused before any body is read.
    let head = "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n\
                Content-Length: 1000000000000\r\n\r\n";
    let (status, resp) = raw_http(c.http, head, b"").unwrap();
    assert!(
        too_large(status, &resp),
        "huge Content-Length: {status} {resp:?}"
    );
    let (status, _) = post(
        c.http,
        "/v1/traces",
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "gzip"),
        ],
        b"\x1f\x8b\x08\x00 this is not gzip",
    );
    assert_eq!(status, 400, "corrupt gzip");
    for (headers, want) in [
        (
            vec![
                ("Content-Type", "application/x-protobuf"),
                ("Content-Encoding", "br"),
            ],
            400,
        ),
        (vec![("Content-Type", "text/plain")], 415),
    ] {
        let (status, _) = post(c.http, "/v1/traces", &headers, b"x");
        assert_eq!(status, want, "{headers:?}");
    }
    // Not HTTP at all, and a header section over the 1 MiB limit.
    let (status, _) = raw_http(c.http, "\x00\x01\x02 garbage \r\n\r\n", b"").unwrap();
    assert_eq!(status, 400, "garbage request line");
    let big_header = format!(
        "POST /v1/traces HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(2 << 20)
    );
    match raw_http(c.http, &big_header, b"") {
        Ok((status, _)) => assert_eq!(status, 431, "oversized header"),
        Err(e) => assert!(e.contains("no response"), "oversized header: {e}"),
    }
    // gRPC: over max_recv_msg_size, plain and as a compression bomb.
    let big = vec![0u8; (GRPC_LIMIT_MIB << 20) + 1];
    let r = grpc_raw(&c.rt, c.grpc, "traces", big, None);
    assert!(
        matches!(&r, Err(s) if s.code() == tonic::Code::ResourceExhausted
            && s.message().contains("grpc: received message larger than max")),
        "oversized gRPC message: {r:?}"
    );
    for comp in [CompressionEncoding::Gzip, CompressionEncoding::Zstd] {
        let r = grpc_raw(&c.rt, c.grpc, "traces", vec![0u8; 16 << 20], Some(comp));
        assert!(
            matches!(&r, Err(s) if s.code() == tonic::Code::ResourceExhausted),
            "gRPC {comp:?} bomb: {r:?}"
        );
    }
    let rss_mb = c.rss_kb() / 1024;
    assert!(rss_mb < 400, "RSS {rss_mb} MiB after the bombs");
    c.assert_healthy("bombs");

    // --- Slowloris: dozens of clients dribbling headers byte by byte block nobody, and the
    // HTTP ones are cut off after the header timeout.
    let slow_http: Vec<TcpStream> = (0..40)
        .map(|_| TcpStream::connect(("127.0.0.1", c.http)).unwrap())
        .collect();
    let slow_grpc: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(("127.0.0.1", c.grpc)).unwrap())
        .collect();
    let http_head = b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let h2_preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let dribble = std::thread::spawn(move || {
        let started = Instant::now();
        let mut closed = vec![false; slow_http.len()];
        let mut i = 0;
        while started.elapsed() < HEADER_TIMEOUT + Duration::from_secs(2) {
            for (n, mut s) in slow_http.iter().enumerate() {
                let b = http_head[i % http_head.len()];
                if s.write_all(&[b]).is_err() {
                    closed[n] = true;
                }
            }
            for mut s in &slow_grpc {
                let _ = s.write_all(&[h2_preface[i.min(h2_preface.len() - 2)]]);
            }
            i += 1;
            std::thread::sleep(Duration::from_millis(50));
        }
        // A connection the server closed reads EOF (or a reset) at once; an open one times out.
        for (n, mut s) in slow_http.iter().enumerate() {
            s.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let mut buf = [0u8; 256];
            closed[n] |= match s.read(&mut buf) {
                Ok(_) => true,
                Err(e) => !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
            };
        }
        closed.iter().filter(|c| **c).count()
    });
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    c.assert_healthy("slowloris (during)");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "normal clients were held up"
    );
    let closed = dribble.join().unwrap();
    assert!(
        closed >= 36,
        "only {closed} of 40 slow HTTP clients were cut off by the header timeout"
    );
    c.assert_healthy("slowloris");

    // --- A burst of concurrent connections (within the file descriptor limit of both
    // processes), half of them with a partial request; normal requests still succeed.
    let n = burst_size();
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        let port = if i % 2 == 0 { c.http } else { c.grpc };
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(mut s) => {
                if i % 4 == 0 {
                    let _ = s.write_all(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\n");
                }
                conns.push(s);
            }
            Err(e) => panic!("connection {i} of {n} failed: {e}"),
        }
    }
    let started = Instant::now();
    c.assert_healthy(&format!("{n} open connections"));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "burst held up a normal client"
    );
    drop(conns);
    c.assert_healthy("burst");
}

/// ~2000 connections, or fewer when `ulimit -n` is low (each one costs a descriptor here and in
/// the collector, which inherits the limit).
fn burst_size() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft: usize = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3)?.parse().ok())
        .unwrap_or(1024);
    2000.min(soft.saturating_sub(200) / 2)
}

// === Hostile configs ===

/// Runs `kakehashi validate` on `path` under a 2 GiB address-space limit and a 30 s timeout;
/// returns (success, stderr).
fn validate(path: &Path, env: &[(String, String)]) -> (bool, String) {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(r#"ulimit -v 2097152 && exec "$0" validate --config "$1""#)
        .arg(env!("CARGO_BIN_EXE_kakehashi"))
        .arg(path)
        .env_remove("RUST_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let (status, _, stderr) = run_bounded(cmd, Duration::from_secs(30));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{}: validate took {:?}",
        path.display(),
        started.elapsed()
    );
    (status.success(), stderr)
}

#[test]
fn hostile_configs_fail_fast_with_a_clear_message() {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(corpus_dir("config"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    assert!(paths.len() >= 10, "config corpus missing");
    let mut failures = Vec::new();
    for path in &paths {
        let text = String::from_utf8_lossy(&std::fs::read(path).unwrap()).to_string();
        let header = |tag: &str| -> Vec<String> {
            text.lines()
                .filter_map(|l| l.strip_prefix(tag))
                .map(|v| v.replace("\\n", "\n"))
                .collect()
        };
        let env: Vec<(String, String)> = header("# env: ")
            .into_iter()
            .map(|kv| {
                let (k, v) = kv.split_once('=').expect("# env: NAME=value");
                (k.to_string(), v.to_string())
            })
            .collect();
        let expects = header("# expect: ");
        assert!(!expects.is_empty(), "{}: no # expect: line", path.display());
        let (ok, stderr) = validate(path, &env);
        let missing: Vec<_> = expects
            .iter()
            .filter(|e| !stderr.contains(e.as_str()))
            .collect();
        if ok || !missing.is_empty() || stderr.len() > 64 * 1024 {
            failures.push(format!(
                "{}: success={ok}, missing {missing:?}, stderr ({} bytes):\n{}",
                path.display(),
                stderr.len(),
                &stderr[..stderr.len().min(2000)]
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn huge_and_deep_generated_configs_fail_fast() {
    let dir = tempfile::tempdir().unwrap();
    // ~10 MB: 150k attribute actions, then one mistake at the end.
    let huge = dir.path().join("huge.yaml");
    let mut text = String::from(
        "receivers: {otlp: {protocols: {grpc: {endpoint: 127.0.0.1:4317}}}}\n\
         exporters: {nop: {}}\nprocessors:\n  attributes:\n    actions:\n",
    );
    for i in 0..150_000 {
        text.push_str(&format!(
            "      - {{key: attribute.number.{i}, value: value-{i}, action: upsert}}\n"
        ));
    }
    text.push_str(
        "service: {pipelines: {traces: {receivers: [otlp], processors: [attributes], \
         exporters: [nop]}}}\nnot_a_section: 1\n",
    );
    std::fs::write(&huge, &text).unwrap();
    let (ok, stderr) = validate(&huge, &[]);
    assert!(
        !ok && stderr.contains("not_a_section"),
        "huge config: {stderr}"
    );

    // One million nested flow sequences, and a 5 MB single-line scalar.
    let deep = dir.path().join("deep.yaml");
    std::fs::write(&deep, format!("receivers: {}\n", "[".repeat(1_000_000))).unwrap();
    let (ok, stderr) = validate(&deep, &[]);
    assert!(!ok && stderr.contains("yaml: "), "deep config: {stderr}");
    let long = dir.path().join("long.yaml");
    std::fs::write(
        &long,
        format!("receivers:\n  otlp/{}: {{}}\n", "x".repeat(5 << 20)),
    )
    .unwrap();
    let (ok, stderr) = validate(&long, &[]);
    assert!(
        !ok && stderr.len() < (12 << 20),
        "long scalar: {} bytes",
        stderr.len()
    );
}

// === Regenerating the protobuf part of the corpus ===

/// A length-delimited field.
fn field(tag: u32, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    prost::encoding::encode_key(tag, prost::encoding::WireType::LengthDelimited, &mut out);
    prost::encoding::encode_varint(bytes.len() as u64, &mut out);
    out.extend_from_slice(bytes);
    out
}

/// A request with one span whose attribute `deep` holds `depth` nested kvlists (or arrays),
/// written by hand from the inside out, since prost would recurse to encode it.
fn deep_span_request(depth: usize, array: bool) -> Vec<u8> {
    let mut value = field(1, b"leaf"); // AnyValue.string_value
    for _ in 0..depth {
        value = if array {
            field(5, &field(1, &value)) // AnyValue.array_value.values[0]
        } else {
            let kv = [field(1, b"k"), field(2, &value)].concat(); // KeyValue{key, value}
            field(6, &field(1, &kv)) // AnyValue.kvlist_value.values[0]
        };
    }
    let attr = [field(1, b"deep"), field(2, &value)].concat();
    let span = [
        field(1, &[1; 16]),
        field(2, &[2; 8]),
        field(5, b"deep"),
        field(9, &attr),
    ]
    .concat();
    field(1, &field(2, &field(2, &span))) // resource_spans[0].scope_spans[0].spans[0]
}

#[test]
#[ignore = "rewrites the generated part of tests/bad-input/otlp-proto; run with --ignored"]
fn regenerate_proto_corpus() {
    use kakehashi_pdata::proto::common::v1::{any_value::Value, AnyValue, KeyValue};
    use kakehashi_pdata::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use kakehashi_pdata::proto::metrics::v1::{
        exemplar, metric, Exemplar, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
        ResourceMetrics, ScopeMetrics,
    };
    use kakehashi_pdata::{ExportLogsServiceRequest, ExportMetricsServiceRequest};
    let dir = corpus_dir("otlp-proto");
    let write = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).unwrap();
    let kv = |k: &str, v: Value| KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    };
    let valid = trace_request("corpus", 3).encode_to_vec();

    write(
        "traces.reject.garbage.bin",
        b"\xff\xff\xff garbage \x00\x01\x02",
    );
    write("traces.reject.truncated.bin", &valid[..valid.len() / 2]);
    write("traces.reject.wire-type-7.bin", &[0x0f, 0x00]);
    write("traces.reject.group-wire-type.bin", &[0x0b, 0x0c]);
    write(
        "traces.reject.length-past-end.bin",
        &[0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01],
    );
    write(
        "traces.reject.varint-too-long.bin",
        &[&[0x0a][..], &[0x80; 10], &[0x01]].concat(),
    );
    write(
        "traces.reject.deep-kvlist-2000.bin",
        &deep_span_request(2000, false),
    );
    write(
        "traces.reject.deep-array-5000.bin",
        &deep_span_request(5000, true),
    );
    write(
        "traces.accept.nested-kvlist-20.bin",
        &deep_span_request(20, false),
    );

    let mut bad_ids = trace_request("corpus", 1);
    bad_ids.resource_spans[0].scope_spans[0].spans[0].trace_id = vec![7; 5];
    write(
        "traces.reject.trace-id-5-bytes.bin",
        &bad_ids.encode_to_vec(),
    );
    let mut bad_ids = trace_request("corpus", 1);
    bad_ids.resource_spans[0].scope_spans[0].spans[0].span_id = vec![7; 9];
    write(
        "traces.reject.span-id-9-bytes.bin",
        &bad_ids.encode_to_vec(),
    );
    // A string field holding invalid UTF-8 (span.name is field 5 of the span): accepted, as
    // otelcol accepts it, with the bad bytes replaced by U+FFFD.
    let span = [field(2, &[2; 8]), field(5, b"bad \xff\xfe utf-8")].concat();
    write(
        "traces.accept.invalid-utf8-name.bin",
        &field(1, &field(2, &field(2, &span))),
    );

    write("traces.accept.empty.bin", b"");
    let mut unknown = valid.clone();
    unknown.extend_from_slice(&[0xf8, 0x06, 0x2a]); // field 111, varint 42
    unknown.extend_from_slice(&field(112, b"unknown"));
    write("traces.accept.unknown-fields.bin", &unknown);
    let mut extreme = trace_request("corpus", 1);
    let s = &mut extreme.resource_spans[0].scope_spans[0].spans[0];
    s.start_time_unix_nano = u64::MAX;
    s.end_time_unix_nano = 0;
    s.kind = 12345;
    s.dropped_attributes_count = u32::MAX;
    s.name = "x".repeat(16 << 10);
    s.attributes = (0..1000)
        .map(|i| kv(&format!("a{i}"), Value::IntValue(i64::MIN + i)))
        .chain([
            kv("nan", Value::DoubleValue(f64::NAN)),
            kv("inf", Value::DoubleValue(f64::NEG_INFINITY)),
            kv("", Value::StringValue(String::new())),
        ])
        .collect();
    write("traces.accept.extreme-values.bin", &extreme.encode_to_vec());

    write("metrics.reject.garbage.bin", b"\x0a\x05\x12\x03\x0a\xff");
    let gauge = |exemplar_span: Vec<u8>| ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "g".into(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: vec![NumberDataPoint {
                            exemplars: vec![Exemplar {
                                span_id: exemplar_span,
                                value: Some(exemplar::Value::AsDouble(1.0)),
                                ..Default::default()
                            }],
                            ..Default::default()
                        }],
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    write(
        "metrics.reject.exemplar-span-id-3-bytes.bin",
        &gauge(vec![1, 2, 3]).encode_to_vec(),
    );
    let histogram = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "h".into(),
                    data: Some(metric::Data::Histogram(Histogram {
                        data_points: vec![HistogramDataPoint {
                            count: 1,
                            bucket_counts: vec![u64::MAX; 7],
                            explicit_bounds: vec![f64::NAN, 5.0, 1.0],
                            sum: Some(f64::INFINITY),
                            ..Default::default()
                        }],
                        aggregation_temporality: 99,
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    write(
        "metrics.accept.inconsistent-histogram.bin",
        &histogram.encode_to_vec(),
    );

    write("logs.reject.garbage.bin", b"\x0a\x02\x12");
    let logs = |trace_id: Vec<u8>, body: Value| ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    trace_id,
                    severity_number: 9999,
                    body: Some(AnyValue { value: Some(body) }),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    write(
        "logs.reject.trace-id-15-bytes.bin",
        &logs(vec![1; 15], Value::StringValue("x".into())).encode_to_vec(),
    );
    write(
        "logs.accept.bytes-body-and-odd-severity.bin",
        &logs(Vec::new(), Value::BytesValue(vec![0xff; 64])).encode_to_vec(),
    );
}
