//! The debug extensions of otelcol-contrib's default config (`health_check`, `pprof`, `zpages`)
//! on the real binary: a CPU profile of the collector under load in pprof's format, and the
//! zPages describing the pipelines, extensions and feature gates it runs with.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// A GET to 127.0.0.1:`port` returning the status code and the raw body (a profile is binary).
fn get_bytes(port: u16, path: &str, timeout: Duration) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(timeout)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete HTTP response");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head}"));
    (status, raw[split + 4..].to_vec())
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn pprof_profiles_the_running_collector_and_zpages_describes_it() {
    let dir = tempfile::tempdir().unwrap();
    let (grpc, health, pprof, zpages) = (free_port(), free_port(), free_port(), free_port());
    let config = format!(
        r#"
extensions:
  health_check:
    endpoint: 127.0.0.1:{health}
  pprof:
    endpoint: 127.0.0.1:{pprof}
  zpages:
    endpoint: 127.0.0.1:{zpages}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
processors:
  batch:
    timeout: 50ms
connectors:
  forward: {{}}
exporters:
  nop: {{}}
service:
  telemetry:
    metrics:
      level: none
  extensions: [health_check, pprof, zpages]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [forward]
    traces/out:
      receivers: [forward]
      exporters: [nop]
"#
    );
    let mut collector = start_kakehashi(
        dir.path(),
        "debug-extensions",
        &config,
        &[grpc, pprof, zpages],
    );

    // A 2 s CPU profile while the collector takes spans (a bounded number of requests).
    let profile = std::thread::spawn(move || {
        get_bytes(
            pprof,
            "/debug/pprof/profile?seconds=2",
            Duration::from_secs(30),
        )
    });
    let uri = format!("http://127.0.0.1:{grpc}");
    let started = Instant::now();
    let mut sent = 0;
    while !profile.is_finished() && sent < 2_000 && started.elapsed() < Duration::from_secs(20) {
        grpc_export(&uri, trace_request("profiled", 200), Duration::from_secs(5)).unwrap();
        sent += 1;
    }
    let (status, body) = profile.join().unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(body.as_slice())
        .read_to_end(&mut raw)
        .expect("a gzipped profile, as Go serves");
    // The string table of a perftools.profiles.Profile: its sample types, and the functions
    // the samples landed in, kakehashi's own among them.
    for s in ["samples", "cpu", "nanoseconds", "kakehashi_"] {
        assert!(
            contains(&raw, s),
            "{s:?} is not in the profile ({sent} requests sent)"
        );
    }

    let page = |path: &str| {
        let (status, body) = get_bytes(zpages, path, Duration::from_secs(5));
        (status, String::from_utf8(body).unwrap())
    };
    let (status, pipelines) = page("/debug/pipelinez");
    assert_eq!(status, 200);
    assert!(
        pipelines.contains(
            "<tr><td>traces</td><td>traces</td><td>otlp</td><td>→ batch →</td>\
             <td>forward (connector)</td></tr>"
        ),
        "{pipelines}"
    );
    assert!(
        pipelines.contains("<tr><td>traces/out</td><td>traces</td><td>forward (connector)</td>"),
        "{pipelines}"
    );
    let (_, extensions) = page("/debug/extensionz");
    assert!(
        extensions.contains(
            "<tr><td>health_check</td></tr>\n<tr><td>pprof</td></tr>\n<tr><td>zpages</td></tr>"
        ),
        "{extensions}"
    );
    let (_, features) = page("/debug/featurez");
    assert!(
        features.contains("<td>exporter.datadogexporter.DisableAPMStats</td><td>false</td>"),
        "{features}"
    );
    assert!(
        features.contains("<td>datadog.EnableOperationAndResourceNameV2</td><td>true</td>"),
        "{features}"
    );
    assert!(page("/debug/servicez").1.contains("Service kakehashi"));
    assert_eq!(page("/debug/tracez").0, 404);
    assert_eq!(
        get_bytes(pprof, "/debug/pprof/heap", Duration::from_secs(5)).0,
        404
    );

    let output = strip_ansi(&collector.terminate(Duration::from_secs(20)));
    assert!(
        output.contains("/debug/tracez is not served"),
        "the missing tracez is explained:\n{output}"
    );
}
