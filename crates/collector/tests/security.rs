//! Security properties of the real binary, end to end:
//!
//! * Secrets never leave the process: a collector with every component we ship, each holding a
//!   distinctive secret, runs at debug log level (config) with `RUST_LOG=trace` (so every
//!   dependency logs too), takes traffic with a right and a wrong bearer token, fails to export to dead
//!   endpoints, and shuts down; no secret may appear in stdout, stderr, the self-metrics
//!   endpoint, `kakehashi validate` or the errors for broken configs.
//! * Receivers with `auth::authenticator: bearertokenauth` refuse requests without the token.
//! * With every endpoint left at its default, every listening socket is on loopback.

mod common;

use common::*;
use kakehashi_pdata::proto::collector::trace::v1::trace_service_client::TraceServiceClient;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// One distinctive value per place a secret can be configured. A leak of any of them, whole,
/// fails the test; so does a leak of a long-enough fragment (see [`assert_no_secret`]).
const GRPC_TOKEN: &str = "kkGrpcBearer7f3a91c2";
const HTTP_TOKEN_FILE: &str = "kkFileBearer0c55d2e8";
const DD_API_KEY: &str = "5ec0e7a91c2d0c55d2e87f3a91c2d0aa";
const OTLP_GRPC_HEADER: &str = "kkOtlpGrpcHdr39b7e1";
const OTLP_HTTP_HEADER: &str = "kkOtlpHttpHdr84d20f";
const RESPONSE_HEADER: &str = "kkRespHdr51e7c3aa";
const TLS_KEY_MARKER: &str = "kkTlsKeyPem0b7d11";
const GATEWAY_TOKEN: &str = "kkGatewayBearer4e1d9a";
const SECRETS: [&str; 8] = [
    GATEWAY_TOKEN,
    GRPC_TOKEN,
    HTTP_TOKEN_FILE,
    DD_API_KEY,
    OTLP_GRPC_HEADER,
    OTLP_HTTP_HEADER,
    RESPONSE_HEADER,
    TLS_KEY_MARKER,
];

/// Fails if `text` contains any secret, or any 12-character piece of one (a truncated or
/// partially masked value is still a leak).
fn assert_no_secret(what: &str, text: &str) {
    for s in SECRETS {
        for start in 0..=s.len() - 12 {
            let piece = &s[start..start + 12];
            if let Some(at) = text.find(piece) {
                let from = at.saturating_sub(200);
                let ctx: String = text[from..(at + 200).min(text.len())].to_owned();
                panic!("{what} leaks {piece:?} (from a configured secret):\n...{ctx}...");
            }
        }
    }
}

/// A port nothing listens on: bound, then closed.
fn dead_port() -> u16 {
    free_port()
}

fn full_config(dir: &Path, p: &Ports) -> String {
    let token_file = dir.join("http.token");
    std::fs::write(&token_file, format!("{HTTP_TOKEN_FILE}\n")).unwrap();
    format!(
        r#"
extensions:
  health_check:
    endpoint: 127.0.0.1:{health}
  pprof:
    endpoint: 127.0.0.1:{pprof}
  zpages:
    endpoint: 127.0.0.1:{zpages}
    expvar:
      enabled: true
  bearertokenauth:
    token: {GRPC_TOKEN}
  bearertokenauth/file:
    filename: {token_file}
  file_storage:
    directory: {storage_dir}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
        include_metadata: true
        auth:
          authenticator: bearertokenauth
      http:
        endpoint: 127.0.0.1:{http}
        include_metadata: true
        response_headers:
          x-response-secret: {RESPONSE_HEADER}
        auth:
          authenticator: bearertokenauth/file
processors:
  memory_limiter:
    check_interval: 1s
    limit_mib: 4000
    spike_limit_mib: 500
  resource:
    attributes:
      - key: deployment.environment
        value: security-test
        action: upsert
  attributes:
    actions:
      - key: http.request.header.authorization
        action: delete
  batch:
    timeout: 100ms
  resourcedetection:
    detectors: [env, system]
    system:
      hostname_sources: [os]
  transform:
    trace_statements:
      - context: span
        statements:
          - set(attributes["security.test"], "transformed")
  filter:
    traces:
      span:
        - attributes["drop.me"] == "yes"
  probabilistic_sampler:
    sampling_percentage: 100
  tail_sampling:
    decision_wait: 1s
    policies: [{{name: all, type: always_sample}}]
connectors:
  datadog/connector:
  forward:
exporters:
  datadog:
    api:
      key: ${{env:KK_TEST_DD_API_KEY}}
    hostname: security-test-host
    traces:
      endpoint: http://127.0.0.1:{dead_dd}
    metrics:
      endpoint: http://127.0.0.1:{dead_dd}
    retry_on_failure:
      enabled: false
  otlp_grpc:
    endpoint: 127.0.0.1:{dead_grpc}
    tls:
      insecure: true
    headers:
      authorization: Bearer {OTLP_GRPC_HEADER}
    retry_on_failure:
      enabled: false
  otlp_http:
    endpoint: http://127.0.0.1:{dead_http}
    headers:
      x-api-key: {OTLP_HTTP_HEADER}
    retry_on_failure:
      enabled: false
  otlp_http/queued:
    endpoint: http://127.0.0.1:{dead_http}
    headers:
      x-api-key: {OTLP_HTTP_HEADER}
    sending_queue:
      storage: file_storage
    retry_on_failure:
      enabled: false
  debug:
    verbosity: detailed
service:
  telemetry:
    logs:
      level: debug
    metrics:
      level: detailed
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: {metrics}
  extensions: [health_check, pprof, zpages, bearertokenauth, bearertokenauth/file, file_storage]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [memory_limiter, resource, attributes, batch]
      exporters: [datadog, otlp_grpc, otlp_http, debug]
    # Every other processor and connector, so their logging runs too.
    traces/every:
      receivers: [otlp]
      processors: [resourcedetection, transform, filter, probabilistic_sampler, tail_sampling]
      exporters: [datadog/connector, forward]
    metrics/stats:
      receivers: [datadog/connector]
      exporters: [debug]
    traces/forwarded:
      receivers: [forward]
      exporters: [otlp_http/queued]
    logs:
      receivers: [otlp]
      processors: [memory_limiter, batch]
      exporters: [otlp_grpc, otlp_http, debug]
"#,
        token_file = token_file.display(),
        storage_dir = dir.display(),
        health = p.health,
        pprof = p.pprof,
        zpages = p.zpages,
        grpc = p.grpc,
        http = p.http,
        metrics = p.metrics,
        dead_dd = dead_port(),
        dead_grpc = dead_port(),
        dead_http = dead_port(),
    )
}

struct Ports {
    health: u16,
    pprof: u16,
    zpages: u16,
    grpc: u16,
    http: u16,
    metrics: u16,
}

/// An OTLP/gRPC export with an optional `authorization` value; returns the gRPC status code.
fn grpc_export_with(port: u16, authorization: Option<&str>) -> tonic::Code {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let ch = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
            .unwrap()
            .timeout(Duration::from_secs(5))
            .connect()
            .await
            .unwrap();
        let mut req = tonic::Request::new(trace_request("secure", 3));
        if let Some(a) = authorization {
            req.metadata_mut()
                .insert("authorization", a.parse().unwrap());
        }
        match TraceServiceClient::new(ch).export(req).await {
            Ok(_) => tonic::Code::Ok,
            Err(s) => {
                assert_no_secret("a gRPC error message", s.message());
                s.code()
            }
        }
    })
}

/// A plain HTTP/1.1 POST of an OTLP/JSON log request; returns (status, whole response).
fn http_post_logs(port: u16, authorization: Option<&str>) -> (u16, String) {
    let body =
        r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"hello"}}]}]}]}"#;
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let auth = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "POST /v1/logs HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, out)
}

fn sigterm(pid: u32) {
    let ok = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -TERM {pid}");
}

#[test]
fn no_secret_leaks_at_debug_level_with_every_component() {
    let dir = tempfile::tempdir().unwrap();
    let p = Ports {
        health: free_port(),
        pprof: free_port(),
        zpages: free_port(),
        grpc: free_port(),
        http: free_port(),
        metrics: free_port(),
    };
    let config = full_config(dir.path(), &p);
    let config_path = dir.path().join("collector.yaml");
    std::fs::write(&config_path, &config).unwrap();

    // `kakehashi validate` on the valid config prints nothing secret.
    let mut validate = kakehashi_command();
    validate
        .arg("validate")
        .arg("--config")
        .arg(&config_path)
        .env("KK_TEST_DD_API_KEY", DD_API_KEY);
    let (status, out, err) = run_bounded(validate, Duration::from_secs(20));
    assert!(status.success(), "validate failed:\n{out}\n{err}");
    assert_no_secret("validate stdout", &out);
    assert_no_secret("validate stderr", &err);

    let mut cmd = kakehashi_command();
    cmd.arg("--config")
        .arg(&config_path)
        // A secret on the command line too: the debug pages that show it must hide it.
        .arg("--set")
        .arg(format!(
            "exporters::otlp_http::headers::x-api-key={OTLP_HTTP_HEADER}"
        ))
        .env("KK_TEST_DD_API_KEY", DD_API_KEY)
        // Trace, not only debug: every dependency's logging is exercised too.
        .env("RUST_LOG", "trace");
    let mut collector = ProcessGuard::spawn("collector", cmd, dir.path());
    for port in [p.grpc, p.http, p.health, p.metrics, p.pprof, p.zpages] {
        wait_for_port(port, Duration::from_secs(20), Some(&mut collector));
    }

    // gRPC: no token, a wrong token, another receiver's token: UNAUTHENTICATED; the right one: OK.
    assert_eq!(grpc_export_with(p.grpc, None), tonic::Code::Unauthenticated);
    let wrong = format!("Bearer {GRPC_TOKEN}x");
    assert_eq!(
        grpc_export_with(p.grpc, Some(&wrong)),
        tonic::Code::Unauthenticated
    );
    let other = format!("Bearer {HTTP_TOKEN_FILE}");
    assert_eq!(
        grpc_export_with(p.grpc, Some(&other)),
        tonic::Code::Unauthenticated
    );
    let right = format!("Bearer {GRPC_TOKEN}");
    assert_eq!(grpc_export_with(p.grpc, Some(&right)), tonic::Code::Ok);

    // HTTP: 401 without the file's token, 200 with it.
    let (status, resp) = http_post_logs(p.http, None);
    assert_eq!(status, 401, "{resp}");
    let (status, resp) = http_post_logs(p.http, Some(&right));
    assert_eq!(status, 401, "{resp}");
    let (status, resp) = http_post_logs(p.http, Some(&format!("Bearer {HTTP_TOKEN_FILE}")));
    assert_eq!(status, 200, "{resp}");

    // Let the exports to the dead endpoints fail and be logged, then read the self-metrics.
    let logged = poll_until(Duration::from_secs(15), || {
        let s = common::strip_ansi(&(collector.stdout() + &collector.stderr()));
        let failed = |exporter: &str| {
            s.lines().any(|l| {
                l.contains("Exporting failed") && l.contains(&format!("exporter={exporter} "))
            })
        };
        // otlp_http/queued's spans came through every other processor, tail_sampling's wait
        // and the forward connector.
        (failed("datadog")
            && failed("otlp_grpc")
            && failed("otlp_http")
            && failed("otlp_http/queued"))
        .then_some(())
    });
    assert!(logged.is_some(), "{}", collector.output_tail(4000));
    std::thread::sleep(Duration::from_millis(500));
    let metrics = http_get(p.metrics, "/metrics");
    assert!(metrics.contains("otelcol_"), "{metrics}");
    assert_no_secret("the /metrics endpoint", &metrics);
    assert_no_secret("health_check", &http_get(p.health, "/"));
    let cmdline = http_get(p.pprof, "/debug/pprof/cmdline");
    assert!(cmdline.contains("x-api-key=[REDACTED]"), "{cmdline}");
    assert_no_secret("pprof cmdline", &cmdline);
    for page in ["servicez", "pipelinez", "extensionz", "featurez", "expvarz"] {
        let body = http_get(p.zpages, &format!("/debug/{page}"));
        assert!(body.starts_with("HTTP/1.1 200"), "{page}: {body}");
        assert_no_secret(page, &body);
    }

    sigterm(collector.pid());
    collector.wait_exit(Duration::from_secs(20));
    let (stdout, stderr) = (
        common::strip_ansi(&collector.stdout()),
        common::strip_ansi(&collector.stderr()),
    );
    // The run really was at debug level with our components and the failing exports logged.
    let all = format!("{stdout}\n{stderr}");
    assert!(
        all.contains("DEBUG"),
        "not at debug level:\n{}",
        collector.output_tail(4000)
    );
    assert!(all.contains("secure-0"), "debug exporter output missing");
    assert_no_secret("collector stdout", &stdout);
    assert_no_secret("collector stderr", &stderr);
}

/// `auth::authenticator` on the client side: an agent's `otlp_http` exporter authenticates to a
/// gateway's receiver with the token; the same exporter with another token is refused (401) and
/// nothing it sent reaches the gateway's pipeline.
#[test]
fn exporter_authenticates_to_a_receiver_with_bearertokenauth() {
    let dir = tempfile::tempdir().unwrap();
    let (gw_http, right_in, wrong_in) = (free_port(), free_port(), free_port());
    let gateway = format!(
        r#"
extensions:
  bearertokenauth:
    token: {GATEWAY_TOKEN}
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{gw_http}
        auth:
          authenticator: bearertokenauth
exporters:
  debug:
    verbosity: detailed
service:
  telemetry:
    metrics:
      level: none
  extensions: [bearertokenauth]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [debug]
"#
    );
    let agent = format!(
        r#"
extensions:
  bearertokenauth:
    token: {GATEWAY_TOKEN}
  bearertokenauth/wrong:
    token: not-the-gateway-token
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{right_in}
  otlp/wrong:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{wrong_in}
exporters:
  otlp_http:
    endpoint: http://127.0.0.1:{gw_http}
    auth:
      authenticator: bearertokenauth
    retry_on_failure:
      enabled: false
  otlp_http/wrong:
    endpoint: http://127.0.0.1:{gw_http}
    auth:
      authenticator: bearertokenauth/wrong
    retry_on_failure:
      enabled: false
service:
  telemetry:
    logs:
      level: debug
    metrics:
      level: none
  extensions: [bearertokenauth, bearertokenauth/wrong]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp_http]
    traces/wrong:
      receivers: [otlp/wrong]
      exporters: [otlp_http/wrong]
"#
    );
    let mut gw = start_kakehashi(dir.path(), "gateway", &gateway, &[gw_http]);
    let mut agent = start_kakehashi(dir.path(), "agent", &agent, &[right_in, wrong_in]);
    for (port, name) in [(right_in, "with-token"), (wrong_in, "wrong-token")] {
        grpc_export(
            &format!("http://127.0.0.1:{port}"),
            trace_request(name, 1),
            Duration::from_secs(10),
        )
        .unwrap();
    }
    let refused = poll_until(Duration::from_secs(15), || {
        let s = common::strip_ansi(&(agent.stdout() + &agent.stderr()));
        s.lines()
            .find(|l| l.contains("Exporting failed") && l.contains("exporter=otlp_http/wrong"))
            .map(str::to_owned)
    })
    .unwrap_or_else(|| panic!("no export failure logged\n{}", agent.output_tail(4000)));
    assert!(refused.contains("401"), "{refused}");
    let delivered = poll_until(Duration::from_secs(15), || {
        (gw.stdout() + &gw.stderr())
            .contains("with-token-0")
            .then_some(())
    });
    assert!(delivered.is_some(), "{}", gw.output_tail(4000));
    sigterm(agent.pid());
    agent.wait_exit(Duration::from_secs(20));
    sigterm(gw.pid());
    gw.wait_exit(Duration::from_secs(20));
    let gw_out = gw.stdout() + &gw.stderr();
    assert!(
        !gw_out.contains("wrong-token-0"),
        "a refused span got through"
    );
    for (name, p) in [("gateway", &gw), ("agent", &agent)] {
        assert_no_secret(&format!("{name} stdout"), &p.stdout());
        assert_no_secret(&format!("{name} stderr"), &p.stderr());
    }
}

/// Broken configs whose every error sits next to a secret: none of the messages may carry it.
#[test]
fn errors_for_broken_configs_do_not_echo_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        // Unknown key beside an API key; a secret of the wrong type; a list where a header
        // value belongs; a token that is not a valid header value.
        format!(
            r#"
extensions:
  bearertokenauth:
    token: [{GRPC_TOKEN}]
  bearertokenauth/b:
    token: "{HTTP_TOKEN_FILE}\u0001"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:1
        auth:
          authenticator: bearertokenauth/missing
exporters:
  datadog:
    api:
      key: {DD_API_KEY}
      sitee: x
  otlp_http:
    endpoint: http://127.0.0.1:1
    headers: {OTLP_HTTP_HEADER}
  otlp_grpc:
    endpoint: 127.0.0.1:1
    headers:
      authorization: [{OTLP_GRPC_HEADER}]
service:
  extensions: [bearertokenauth, bearertokenauth/b]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [datadog, otlp_http, otlp_grpc]
"#
        ),
        // A malformed API key, and response headers / TLS key PEM that cannot be used.
        format!(
            r#"
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:1
        response_headers: {RESPONSE_HEADER}
        tls:
          key_pem: {TLS_KEY_MARKER}
exporters:
  datadog:
    api:
      key: "{DD_API_KEY}-not-hex"
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [datadog]
"#
        ),
        // YAML that does not parse, with secrets on the broken line.
        format!("exporters:\n  datadog:\n    api: {{key: {DD_API_KEY}, [{GRPC_TOKEN}\n"),
        // A valid config whose start fails (the TLS key is not a key).
        format!(
            r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{port}
        tls:
          cert_pem: "-----BEGIN CERTIFICATE-----\n{TLS_KEY_MARKER}\n-----END CERTIFICATE-----"
          key_pem: "-----BEGIN PRIVATE KEY-----\n{TLS_KEY_MARKER}\n-----END PRIVATE KEY-----"
exporters:
  debug: {{}}
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [debug]
"#,
            port = free_port()
        ),
    ];
    for (i, config) in cases.iter().enumerate() {
        let path = dir.path().join(format!("broken-{i}.yaml"));
        std::fs::write(&path, config).unwrap();
        // Case 3 is valid until the TLS key is loaded at start, which `validate` does not do.
        let modes: &[bool] = if i == 3 { &[false] } else { &[true, false] };
        for &validate in modes {
            let mut cmd = kakehashi_command();
            if validate {
                cmd.arg("validate");
            }
            cmd.arg("--config").arg(&path).env("RUST_LOG", "debug");
            let (status, out, err) = run_bounded(cmd, Duration::from_secs(20));
            assert!(!status.success(), "case {i} was accepted:\n{out}\n{err}");
            assert!(
                !err.is_empty() || !out.is_empty(),
                "case {i}: no error shown"
            );
            assert_no_secret(&format!("case {i} (validate: {validate}) stdout"), &out);
            assert_no_secret(&format!("case {i} (validate: {validate}) stderr"), &err);
        }
    }
}

// === Listeners ===

/// The TCP sockets `pid` listens on, from /proc/<pid>/net/tcp{,6} matched against the socket
/// inodes in /proc/<pid>/fd.
fn listening_addrs(pid: u32) -> Vec<std::net::SocketAddr> {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
    let mut inodes = std::collections::BTreeSet::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
    {
        let Ok(target) = std::fs::read_link(fd.unwrap().path()) else {
            continue;
        };
        let t = target.to_string_lossy();
        if let Some(inode) = t.strip_prefix("socket:[").and_then(|r| r.strip_suffix(']')) {
            inodes.insert(inode.to_owned());
        }
    }
    let mut out = Vec::new();
    for table in ["tcp", "tcp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            if f.len() < 10 || f[3] != "0A" || !inodes.contains(f[9]) {
                continue;
            }
            let (addr, port) = f[1].split_once(':').unwrap();
            let port = u16::from_str_radix(port, 16).unwrap();
            // The kernel prints each 32-bit word of the address in host byte order.
            let words: Vec<[u8; 4]> = (0..addr.len() / 8)
                .map(|i| {
                    u32::from_str_radix(&addr[i * 8..i * 8 + 8], 16)
                        .unwrap()
                        .to_ne_bytes()
                })
                .collect();
            let ip = if words.len() == 1 {
                IpAddr::V4(Ipv4Addr::from(words[0]))
            } else {
                let mut b = [0u8; 16];
                for (i, w) in words.iter().enumerate() {
                    b[i * 4..i * 4 + 4].copy_from_slice(w);
                }
                IpAddr::V6(Ipv6Addr::from(b))
            };
            out.push(SocketAddr::new(ip, port));
        }
    }
    out
}

fn is_loopback(addr: &std::net::SocketAddr) -> bool {
    match addr.ip() {
        std::net::IpAddr::V4(ip) => ip.is_loopback(),
        std::net::IpAddr::V6(ip) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Waits until `process` listens on at least `n` sockets, then asserts they are all loopback.
fn assert_listens_on_loopback_only(process: &mut ProcessGuard, n: usize) {
    let pid = process.pid();
    let found = poll_until(Duration::from_secs(20), || {
        process.assert_running();
        let addrs = listening_addrs(pid);
        (addrs.len() >= n).then_some(addrs)
    });
    let addrs = found.unwrap_or_else(|| {
        panic!(
            "{} listens on {:?}, expected {n} sockets\n{}",
            process.name,
            listening_addrs(pid),
            process.output_tail(4000)
        )
    });
    let public: Vec<_> = addrs.iter().filter(|a| !is_loopback(a)).collect();
    assert!(
        public.is_empty(),
        "{} listens beyond loopback: {public:?} (all: {addrs:?})",
        process.name
    );
}

#[test]
fn proc_net_addresses_decode() {
    let l4 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let l6 = std::net::TcpListener::bind("[::1]:0").ok();
    let addrs = listening_addrs(std::process::id());
    assert!(addrs.contains(&l4.local_addr().unwrap()), "{addrs:?}");
    if let Some(l6) = l6 {
        assert!(addrs.contains(&l6.local_addr().unwrap()), "{addrs:?}");
    }
    assert!(addrs.iter().all(is_loopback));
    let any = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let addrs = listening_addrs(std::process::id());
    let public = addrs
        .iter()
        .find(|a| !is_loopback(a))
        .expect("0.0.0.0 seen");
    assert_eq!(public.port(), any.local_addr().unwrap().port());
}

/// `kakehashi <args>`, in a network namespace of its own when the machine allows it (`unshare -rn`,
/// loopback brought up), so the default ports cannot collide with anything else running here. The
/// process keeps its pid (unshare and sh exec), so /proc/<pid> is the collector's.
fn kakehashi_isolated(args: &[&str]) -> Command {
    const SCRIPT: &str = r#"ip link set lo up && exec "$0" "$@""#;
    let isolated = Command::new("unshare")
        .args(["-rn", "sh", "-c", "ip link set lo up"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let mut cmd = if isolated {
        let mut c = Command::new("unshare");
        c.args(["-rn", "sh", "-c", SCRIPT]).arg(kakehashi_bin());
        c
    } else {
        eprintln!("unshare -rn is not available: using the machine's network namespace");
        kakehashi_command()
    };
    cmd.args(args);
    cmd
}

/// otelcol ≥ 0.104 binds `localhost` by default; so must we, for every listener we open.
#[test]
fn default_endpoints_listen_on_loopback_only() {
    let dir = tempfile::tempdir().unwrap();
    let config = r#"
extensions:
  health_check: {}
  pprof: {}
  zpages: {}
receivers:
  otlp:
    protocols:
      grpc: {}
      http: {}
exporters:
  debug: {}
service:
  extensions: [health_check, pprof, zpages]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [debug]
"#;
    let path = dir.path().join("defaults.yaml");
    std::fs::write(&path, config).unwrap();
    let cmd = kakehashi_isolated(&["--config", path.to_str().unwrap()]);
    let mut collector = ProcessGuard::spawn("collector-defaults", cmd, dir.path());
    // otlp gRPC 4317, otlp HTTP 4318, health_check 13133, pprof 1777, zpages 55679,
    // self-metrics 8888.
    assert_listens_on_loopback_only(&mut collector, 6);
    drop(collector);

    let mut cmd = kakehashi_isolated(&["intake"]);
    cmd.current_dir(dir.path());
    let mut intake = ProcessGuard::spawn("intake-defaults", cmd, dir.path());
    assert_listens_on_loopback_only(&mut intake, 1);
    drop(intake);

    // The demo's ports are chosen (so it can run beside other tests); their address is not.
    let mut cmd = kakehashi_isolated(&["demo", "--data"]);
    cmd.arg(dir.path().join("demo-data"))
        .args(["--intake-port", &free_port().to_string()])
        .args(["--otlp-port", &free_port().to_string()])
        .args(["--app-port", &free_port().to_string()])
        .args(["--metrics-port", &free_port().to_string()]);
    let mut demo = ProcessGuard::spawn("demo", cmd, dir.path());
    // intake, OTLP gRPC, self-metrics, sample app.
    assert_listens_on_loopback_only(&mut demo, 4);
}
