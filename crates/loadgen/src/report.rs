//! The reports: one JSON object on stdout with `--json`, a human summary on stderr always.

use serde::Serialize;
use std::collections::BTreeMap;

/// `loadgen send` report. Field names and meaning are a contract with the benchmark harness.
#[derive(Debug, Clone, Serialize)]
pub struct SendReport {
    pub mode: &'static str,
    pub protocol: &'static str,
    pub endpoint: String,
    pub seed: u64,
    pub batch_size: u64,
    pub connections: u64,
    /// Spans per second; 0 when sending as fast as accepted.
    pub offered_rate: u64,
    /// From the first request until the last answer (or the end of the grace period).
    pub duration_s: f64,
    pub sent_spans: u64,
    pub accepted_spans: u64,
    pub refused_spans: u64,
    pub failed_spans: u64,
    pub requests: u64,
    pub ok_requests: u64,
    pub refused_requests: u64,
    pub failed_requests: u64,
    /// Requests resent at least once.
    pub retried_requests: u64,
    /// Accepted spans per second of `duration_s`.
    pub achieved_rate: f64,
    pub latency_ms: Latency,
    /// Sequence of the first and last span sent (0 and 0 when nothing was sent); span ids are
    /// `(seed << 40) | sequence`.
    pub first_span_seq: u64,
    pub last_span_seq: u64,
    /// Count of every refused or failed attempt (retried ones included) by status or cause.
    pub errors: BTreeMap<String, u64>,
    pub loadgen_cpu_s: f64,
    /// Encoded size of a full request (before compression); summary only.
    #[serde(skip)]
    pub request_bytes: u64,
}

/// Latency of the accepted attempt of ok requests, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

/// `loadgen decode` report.
#[derive(Debug, Clone, Serialize)]
pub struct DecodeReport {
    pub mode: &'static str,
    pub batch_size: u64,
    pub spans: u64,
    pub cpu_s: f64,
    pub wall_s: f64,
    pub spans_per_cpu_s: f64,
    pub ns_per_span: f64,
}

/// Rounds to `digits` decimals (keeps the JSON readable).
pub fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

impl SendReport {
    pub fn summary(&self) -> String {
        let offered = if self.offered_rate == 0 {
            "max".to_string()
        } else {
            format!("{} spans/s", self.offered_rate)
        };
        let mut s = format!(
            "loadgen send: {} {} seed={} batch={} connections={} offered={} duration={:.2}s\n\
             spans:    sent {}  accepted {}  refused {}  failed {}\n\
             requests: {}  ok {}  refused {}  failed {}  retried {}\n\
             achieved: {:.0} spans/s accepted\n\
             latency:  p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms\n\
             span seq: {}..={}\n\
             request:  {} bytes encoded ({} bytes/span)\n\
             loadgen cpu: {:.2} s ({:.2} µs/span sent)",
            self.protocol,
            self.endpoint,
            self.seed,
            self.batch_size,
            self.connections,
            offered,
            self.duration_s,
            self.sent_spans,
            self.accepted_spans,
            self.refused_spans,
            self.failed_spans,
            self.requests,
            self.ok_requests,
            self.refused_requests,
            self.failed_requests,
            self.retried_requests,
            self.achieved_rate,
            self.latency_ms.p50,
            self.latency_ms.p90,
            self.latency_ms.p99,
            self.latency_ms.max,
            self.first_span_seq,
            self.last_span_seq,
            self.request_bytes,
            self.request_bytes / self.batch_size.max(1),
            self.loadgen_cpu_s,
            if self.sent_spans > 0 {
                self.loadgen_cpu_s * 1e6 / self.sent_spans as f64
            } else {
                0.0
            },
        );
        for (k, v) in &self.errors {
            s.push_str(&format!("\nerror:    {k}: {v}"));
        }
        s
    }
}

impl DecodeReport {
    pub fn summary(&self) -> String {
        let wall_rate = if self.wall_s > 0.0 {
            self.spans as f64 / self.wall_s
        } else {
            0.0
        };
        format!(
            "loadgen decode: batch={} spans={} cpu={:.2}s wall={:.2}s\n\
             {:.0} spans per CPU-second, {:.0} ns/span, {:.0} spans/s wall",
            self.batch_size,
            self.spans,
            self.cpu_s,
            self.wall_s,
            self.spans_per_cpu_s,
            self.ns_per_span,
            wall_rate
        )
    }
}
