//! TLS and mTLS with real handshakes, end to end: certificates made here with `rcgen`, a "gateway"
//! kakehashi whose OTLP receiver (gRPC and HTTP) serves TLS and forwards to the Python sink, and
//! "agent" kakehashi instances whose `otlp` / `otlphttp` exporters dial the gateway over TLS.
//!
//! Every agent has two plaintext OTLP/gRPC receivers: what arrives on `grpc_in` leaves through the
//! `otlp` (gRPC) exporter, what arrives on `http_in` through `otlphttp`, so the sink can tell the
//! two paths apart by span name.

mod common;

use common::*;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// PEM files written into the test's tempdir.
struct Pki {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
    /// A self-signed server certificate (for localhost / 127.0.0.1) that nothing trusts.
    untrusted_cert: PathBuf,
    untrusted_key: PathBuf,
}

fn make_pki(dir: &Path) -> Pki {
    let write = |name: &str, pem: String| {
        let p = dir.join(name);
        std::fs::write(&p, pem).unwrap();
        p
    };

    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "kakehashi test CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);

    let leaf = |names: Vec<String>, cn: &str, eku: ExtendedKeyUsagePurpose| {
        let mut p = CertificateParams::new(names).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![eku];
        p.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = leaf(
        vec!["localhost".into(), "127.0.0.1".into()],
        "localhost",
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (client_cert, client_key) = leaf(
        vec!["kakehashi-agent".into()],
        "kakehashi-agent",
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let untrusted =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();

    Pki {
        ca: write("ca.pem", ca_cert.pem()),
        server_cert: write("server.pem", server_cert),
        server_key: write("server.key", server_key),
        client_cert: write("client.pem", client_cert),
        client_key: write("client.key", client_key),
        untrusted_cert: write("untrusted.pem", untrusted.cert.pem()),
        untrusted_key: write("untrusted.key", untrusted.signing_key.serialize_pem()),
    }
}

/// The gateway: an OTLP receiver with TLS on gRPC and HTTP, forwarding to the sink over plain HTTP.
struct Gateway {
    grpc: u16,
    http: u16,
    process: ProcessGuard,
}

/// `tls_yaml` is the body of both receivers' `tls:` section (already indented by 10 spaces).
fn start_gateway(dir: &Path, name: &str, tls_yaml: &str, sink: &Sink) -> Gateway {
    let (grpc, http) = (free_port(), free_port());
    let config = format!(
        r#"receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
        tls:
{tls_yaml}
      http:
        endpoint: 127.0.0.1:{http}
        tls:
{tls_yaml}
exporters:
  otlphttp:
    endpoint: http://127.0.0.1:{sink_http}
service:
  telemetry:
    logs:
      level: debug
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlphttp]
"#,
        sink_http = sink.http_port
    );
    let process = start_kakehashi(dir, name, &config, &[grpc, http]);
    Gateway {
        grpc,
        http,
        process,
    }
}

fn server_tls(pki: &Pki, client_ca: bool) -> String {
    let mut s = format!(
        "          cert_file: {}\n          key_file: {}\n",
        pki.server_cert.display(),
        pki.server_key.display()
    );
    if client_ca {
        s.push_str(&format!("          client_ca_file: {}\n", pki.ca.display()));
    } else {
        // As in otelcol, a server's `ca_file` is loaded but changes nothing: clients without a
        // certificate still connect.
        s.push_str(&format!("          ca_file: {}\n", pki.ca.display()));
    }
    s
}

/// An agent: two plaintext gRPC receivers, one feeding the `otlp` exporter (to the gateway's gRPC
/// port), the other feeding `otlphttp` (to `https://<http_host>:<gateway http>`). `tls_yaml` is the
/// body of both exporters' `tls:` section (indented by 6 spaces). Retries are off so that a
/// failure is logged at once with its cause.
struct Agent {
    grpc_in: u16,
    http_in: u16,
    process: ProcessGuard,
}

fn start_agent(
    dir: &Path,
    name: &str,
    gateway: &Gateway,
    http_host: &str,
    tls_yaml: &str,
) -> Agent {
    let (grpc_in, http_in) = (free_port(), free_port());
    let config = format!(
        r#"receivers:
  otlp/to_grpc:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc_in}
  otlp/to_http:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{http_in}
exporters:
  otlp:
    endpoint: 127.0.0.1:{gw_grpc}
    timeout: 5s
    retry_on_failure:
      enabled: false
    tls:
{tls_yaml}
  otlphttp:
    endpoint: https://{http_host}:{gw_http}
    timeout: 5s
    retry_on_failure:
      enabled: false
    tls:
{tls_yaml}
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces/grpc:
      receivers: [otlp/to_grpc]
      exporters: [otlp]
    traces/http:
      receivers: [otlp/to_http]
      exporters: [otlphttp]
"#,
        gw_grpc = gateway.grpc,
        gw_http = gateway.http,
    );
    let process = start_kakehashi(dir, name, &config, &[grpc_in, http_in]);
    Agent {
        grpc_in,
        http_in,
        process,
    }
}

/// An empty `tls:` body still has to be valid YAML: `{}` on its own line.
const NO_TLS_KEYS: &str = "      {}";

fn client_tls(pairs: &[(&str, String)]) -> String {
    if pairs.is_empty() {
        return NO_TLS_KEYS.to_string();
    }
    pairs
        .iter()
        .map(|(k, v)| format!("      {k}: {v}\n"))
        .collect()
}

/// Sends `n` spans named `<name>-<i>` into the agent's receiver on `port` (plaintext; the agent's
/// queue accepts them, the export happens afterwards).
fn send(port: u16, name: &str, n: usize) {
    grpc_export(
        &format!("http://127.0.0.1:{port}"),
        trace_request(name, n),
        Duration::from_secs(10),
    )
    .unwrap_or_else(|s| panic!("sending {name} to 127.0.0.1:{port} failed: {s:?}"));
}

/// Span names the sink has received.
fn sink_span_names(sink: &Sink) -> BTreeSet<String> {
    sink_items(sink, "traces")
        .into_iter()
        .filter_map(|i| i.item["name"].as_str().map(str::to_owned))
        .collect()
}

fn names(prefix: &str, n: usize) -> BTreeSet<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// Waits until the sink has every span named `<prefix>-<i>`, i < n.
fn wait_for_spans(sink: &Sink, prefix: &str, n: usize, who: &[&ProcessGuard]) {
    let want = names(prefix, n);
    let got = poll_until(Duration::from_secs(20), || {
        let have = sink_span_names(sink);
        want.is_subset(&have).then_some(())
    });
    if got.is_none() {
        let logs: Vec<String> = who.iter().map(|p| p.output_tail(6000)).collect();
        panic!(
            "the sink did not receive {prefix}-0..{n} within 20 s; it has {:?}\n{}",
            sink_span_names(sink),
            logs.join("\n")
        );
    }
}

/// Waits until `process`'s log has a line containing all of `needles`; returns that line.
fn wait_for_log_line(process: &ProcessGuard, needles: &[&str]) -> String {
    let found = poll_until(Duration::from_secs(20), || {
        let log = common::strip_ansi(&format!("{}{}", process.stdout(), process.stderr()));
        log.lines()
            .find(|l| needles.iter().all(|n| l.contains(n)))
            .map(str::to_owned)
    });
    found.unwrap_or_else(|| {
        panic!(
            "no log line with {needles:?} within 20 s\n{}",
            process.output_tail(8000)
        )
    })
}

fn assert_no_span_with_prefix(sink: &Sink, prefix: &str) {
    let leaked: Vec<_> = sink_span_names(sink)
        .into_iter()
        .filter(|n| n.starts_with(prefix))
        .collect();
    assert!(
        leaked.is_empty(),
        "spans that should have been refused reached the sink: {leaked:?}"
    );
}

fn tempdir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(prefix).tempdir().unwrap()
}

/// Case 1: A TLS receiver (gRPC and HTTP) and exporters that trust its CA: spans arrive both ways.
#[test]
fn tls_receiver_accepts_exporters_that_trust_the_ca() {
    let dir = tempdir("kakehashi-tls-ca-");
    let pki = make_pki(dir.path());
    let sink = Sink::start(dir.path());
    let gateway = start_gateway(dir.path(), "gateway", &server_tls(&pki, false), &sink);
    // gRPC dials 127.0.0.1 (the certificate's IP SAN), HTTP dials `localhost` (its DNS SAN).
    let agent = start_agent(
        dir.path(),
        "agent",
        &gateway,
        "localhost",
        &client_tls(&[("ca_file", pki.ca.display().to_string())]),
    );

    send(agent.grpc_in, "ca-grpc", 3);
    send(agent.http_in, "ca-http", 3);
    wait_for_spans(&sink, "ca-grpc", 3, &[&agent.process, &gateway.process]);
    wait_for_spans(&sink, "ca-http", 3, &[&agent.process, &gateway.process]);
    sink.assert_no_errors();
    assert_eq!(
        sink_items(&sink, "traces").len(),
        6,
        "each span exactly once"
    );
}

/// Case 2: mTLS: with `client_ca_file`, an exporter without a client certificate is refused (its log
/// says why, nothing reaches the sink); with `cert_file`/`key_file` it gets through.
#[test]
fn mtls_receiver_requires_a_client_certificate() {
    let dir = tempdir("kakehashi-mtls-");
    let pki = make_pki(dir.path());
    let sink = Sink::start(dir.path());
    let gateway = start_gateway(dir.path(), "gateway", &server_tls(&pki, true), &sink);

    let ca = ("ca_file", pki.ca.display().to_string());
    let anonymous = start_agent(
        dir.path(),
        "agent-anonymous",
        &gateway,
        "127.0.0.1",
        &client_tls(std::slice::from_ref(&ca)),
    );
    send(anonymous.grpc_in, "anon-grpc", 2);
    send(anonymous.http_in, "anon-http", 2);
    // gRPC: the export fails. Whether the server's TLS alert (CertificateRequired) reaches the
    // client's error or only "connection closed" does depends on timing under TLS 1.3, so the
    // reason is checked on the receiver's side below.
    wait_for_log_line(
        &anonymous.process,
        &["Exporting failed", "exporter=otlp ", "rpc error"],
    );
    // HTTP: with TLS 1.3 the client finishes its side of the handshake before the server judges
    // the (missing) certificate; hyper's connection pool then sees the connection die before the
    // request is sent and reports only "connection was not ready" (the alert is not kept).
    wait_for_log_line(
        &anonymous.process,
        &[
            "Exporting failed",
            "exporter=otlphttp ",
            "failed to make an HTTP request",
        ],
    );
    // The receiver says why, on both ports (at debug level).
    wait_for_log_line(
        &gateway.process,
        &["TLS handshake failed", "peer sent no certificates"],
    );
    let refusals = poll_until(Duration::from_secs(10), || {
        let log = common::strip_ansi(&gateway.process.stderr());
        let n = log
            .lines()
            .filter(|l| {
                l.contains("TLS handshake failed") && l.contains("peer sent no certificates")
            })
            .count();
        (n >= 2).then_some(n)
    });
    assert!(
        refusals.is_some(),
        "expected a refused handshake on each port\n{}",
        gateway.process.output_tail(6000)
    );

    let identified = start_agent(
        dir.path(),
        "agent-with-cert",
        &gateway,
        "127.0.0.1",
        &client_tls(&[
            ca,
            ("cert_file", pki.client_cert.display().to_string()),
            ("key_file", pki.client_key.display().to_string()),
        ]),
    );
    send(identified.grpc_in, "mtls-grpc", 2);
    send(identified.http_in, "mtls-http", 2);
    let who = [&identified.process, &gateway.process];
    wait_for_spans(&sink, "mtls-grpc", 2, &who);
    wait_for_spans(&sink, "mtls-http", 2, &who);
    // The anonymous agent's data was dropped (retries are off) before the good data arrived.
    assert_no_span_with_prefix(&sink, "anon-");
    sink.assert_no_errors();
}

/// Case 3: Plaintext clients against a TLS receiver fail promptly (no hang, no 200), and the receiver
/// keeps serving TLS clients afterwards.
#[test]
fn plaintext_client_to_tls_receiver_fails_cleanly() {
    let dir = tempdir("kakehashi-tls-plain-");
    let pki = make_pki(dir.path());
    let sink = Sink::start(dir.path());
    let mut gateway = start_gateway(dir.path(), "gateway", &server_tls(&pki, false), &sink);

    // Plain HTTP/1.1 to both TLS ports: the server answers with a TLS alert or closes, never
    // with an HTTP response, and within the read timeout.
    let body = prost::Message::encode_to_vec(&trace_request("plain-http", 1));
    for port in [gateway.http, gateway.grpc] {
        let started = Instant::now();
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut req = format!(
            "POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(&body);
        // The server may close before it has read everything: a write error is a clean refusal.
        let _ = s.write_all(&req);
        let mut answer = Vec::new();
        match s.read_to_end(&mut answer) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!(
                "plaintext request to TLS port {port}: no close after {:?}: {e}",
                started.elapsed()
            ),
        }
        assert!(
            !answer.starts_with(b"HTTP/"),
            "a TLS port answered plaintext HTTP: {:?}",
            String::from_utf8_lossy(&answer)
        );
        // Anything it sent is a TLS record (content type 0x15 = alert).
        if let Some(&first) = answer.first() {
            assert_eq!(first, 0x15, "expected a TLS alert, got {answer:?}");
        }
    }

    // Plaintext gRPC (h2c) to the TLS gRPC port: a prompt transport error, not a deadline.
    let started = Instant::now();
    let err = grpc_export(
        &format!("http://127.0.0.1:{}", gateway.grpc),
        trace_request("plain-grpc", 1),
        Duration::from_secs(5),
    )
    .expect_err("a plaintext gRPC call to a TLS port must fail");
    assert_ne!(
        err.code(),
        tonic::Code::DeadlineExceeded,
        "the TLS port hung instead of refusing: {err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );

    // A kakehashi exporter told to use plaintext (`insecure: true`) fails and logs it.
    let plain_agent = start_agent(
        dir.path(),
        "agent-plaintext",
        &gateway,
        "127.0.0.1",
        &client_tls(&[("insecure", "true".into())]),
    );
    send(plain_agent.grpc_in, "plain-agent", 1);
    wait_for_log_line(
        &plain_agent.process,
        &["Exporting failed", "exporter=otlp "],
    );

    // The receiver is still up and serves a TLS client.
    gateway.process.assert_running();
    let agent = start_agent(
        dir.path(),
        "agent",
        &gateway,
        "127.0.0.1",
        &client_tls(&[("ca_file", pki.ca.display().to_string())]),
    );
    send(agent.grpc_in, "after-grpc", 2);
    send(agent.http_in, "after-http", 2);
    wait_for_spans(&sink, "after-grpc", 2, &[&agent.process, &gateway.process]);
    wait_for_spans(&sink, "after-http", 2, &[&agent.process, &gateway.process]);
    assert_no_span_with_prefix(&sink, "plain-");
    sink.assert_no_errors();
}

/// Case 4: A server whose certificate nothing trusts: `insecure_skip_verify: true` connects anyway;
/// without it (and without `ca_file`) the export fails with a certificate error in the log.
#[test]
fn insecure_skip_verify_accepts_an_untrusted_certificate() {
    let dir = tempdir("kakehashi-tls-skip-");
    let pki = make_pki(dir.path());
    let sink = Sink::start(dir.path());
    let tls = format!(
        "          cert_file: {}\n          key_file: {}\n",
        pki.untrusted_cert.display(),
        pki.untrusted_key.display()
    );
    let gateway = start_gateway(dir.path(), "gateway", &tls, &sink);

    let strict = start_agent(
        dir.path(),
        "agent-strict",
        &gateway,
        "localhost",
        NO_TLS_KEYS,
    );
    send(strict.grpc_in, "strict-grpc", 2);
    send(strict.http_in, "strict-http", 2);
    for exporter in ["otlp", "otlphttp"] {
        // rustls' verdict on the server certificate, as otelcol's log says
        // "x509: certificate signed by unknown authority".
        wait_for_log_line(
            &strict.process,
            &[
                "Exporting failed",
                &format!("exporter={exporter} "),
                "invalid peer certificate: UnknownIssuer",
            ],
        );
    }

    let lenient = start_agent(
        dir.path(),
        "agent-skip-verify",
        &gateway,
        "localhost",
        &client_tls(&[("insecure_skip_verify", "true".into())]),
    );
    send(lenient.grpc_in, "skip-grpc", 2);
    send(lenient.http_in, "skip-http", 2);
    let who = [&lenient.process, &gateway.process];
    wait_for_spans(&sink, "skip-grpc", 2, &who);
    wait_for_spans(&sink, "skip-http", 2, &who);
    assert_no_span_with_prefix(&sink, "strict-");
    sink.assert_no_errors();
}

/// Case 5: bearer tokens on top of TLS, gRPC both ways: the gateway's receiver requires
/// `bearertokenauth`, the agent's `otlp` exporter sends it through its own `bearertokenauth`
/// (otelcol sends per-RPC credentials only over TLS). A wrong token is refused UNAUTHENTICATED and
/// nothing reaches the sink.
#[test]
fn bearer_token_over_tls_grpc() {
    let dir = tempdir("kakehashi-tls-bearer-");
    let pki = make_pki(dir.path());
    let sink = Sink::start(dir.path());
    let gw_grpc = free_port();
    let gateway = format!(
        r#"extensions:
  bearertokenauth:
    token: gateway-token-1
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{gw_grpc}
        auth:
          authenticator: bearertokenauth
        tls:
{tls}
exporters:
  otlphttp:
    endpoint: http://127.0.0.1:{sink_http}
service:
  telemetry:
    metrics:
      level: none
  extensions: [bearertokenauth]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlphttp]
"#,
        tls = server_tls(&pki, false),
        sink_http = sink.http_port
    );
    let gateway = start_kakehashi(dir.path(), "gateway", &gateway, &[gw_grpc]);
    let (right_in, wrong_in) = (free_port(), free_port());
    let agent = format!(
        r#"extensions:
  bearertokenauth:
    token: gateway-token-1
  bearertokenauth/wrong:
    token: not-the-token
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
  otlp:
    endpoint: 127.0.0.1:{gw_grpc}
    retry_on_failure:
      enabled: false
    tls:
      ca_file: {ca}
    auth:
      authenticator: bearertokenauth
  otlp/wrong:
    endpoint: 127.0.0.1:{gw_grpc}
    retry_on_failure:
      enabled: false
    tls:
      ca_file: {ca}
    auth:
      authenticator: bearertokenauth/wrong
service:
  telemetry:
    metrics:
      level: none
  extensions: [bearertokenauth, bearertokenauth/wrong]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp]
    traces/wrong:
      receivers: [otlp/wrong]
      exporters: [otlp/wrong]
"#,
        ca = pki.ca.display()
    );
    let agent = start_kakehashi(dir.path(), "agent", &agent, &[right_in, wrong_in]);

    send(right_in, "bearer-ok", 2);
    send(wrong_in, "bearer-wrong", 2);
    wait_for_spans(&sink, "bearer-ok", 2, &[&agent, &gateway]);
    let line = wait_for_log_line(&agent, &["Exporting failed", "otlp/wrong"]);
    assert!(line.contains("Unauthenticated"), "{line}");
    assert_no_span_with_prefix(&sink, "bearer-wrong");
    sink.assert_no_errors();
}
