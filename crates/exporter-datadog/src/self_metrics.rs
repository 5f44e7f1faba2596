//! The exporter's own metrics, beside otelcol's `otelcol_exporter_*` (which the runner keeps):
//! what the Datadog side did with the spans and payloads.

use kakehashi_datadog_translate::Dropped;
use kakehashi_telemetry::Telemetry;
use prometheus::IntCounter;

pub struct DatadogMetrics {
    exporter: String,
    dropped: prometheus::IntCounterVec,
    payloads: prometheus::IntCounterVec,
    bytes: prometheus::IntCounterVec,
    retries: prometheus::IntCounterVec,
    pub stats_buckets: IntCounter,
}

impl DatadogMetrics {
    pub fn new(t: &Telemetry, exporter: &str) -> Self {
        let stats_buckets = t.counter_vec(
            "kakehashi_datadog_stats_buckets_sent",
            "APM stats buckets delivered to the intake",
            &["exporter"],
        );
        DatadogMetrics {
            exporter: exporter.to_string(),
            dropped: t.counter_vec(
                "kakehashi_datadog_spans_dropped",
                "Spans not delivered to Datadog, by reason (invalid_id, ignored_resource, sampled_out: by design, like the trace agent; rejected, retries_exhausted: losses)",
                &["exporter", "reason"],
            ),
            payloads: t.counter_vec(
                "kakehashi_datadog_payloads",
                "Payloads sent to the Datadog intake, by endpoint and outcome",
                &["exporter", "endpoint", "outcome"],
            ),
            bytes: t.counter_vec(
                "kakehashi_datadog_payload_bytes",
                "Compressed bytes delivered to the Datadog intake",
                &["exporter", "endpoint"],
            ),
            retries: t.counter_vec(
                "kakehashi_datadog_retries",
                "Resent requests to the Datadog intake",
                &["exporter", "endpoint"],
            ),
            stats_buckets: stats_buckets.with_label_values(&[exporter]),
        }
    }

    fn drop(&self, reason: &str, n: u64) {
        if n > 0 {
            self.dropped
                .with_label_values(&[self.exporter.as_str(), reason])
                .inc_by(n);
        }
    }

    pub fn count_translation_drops(&self, d: &Dropped) {
        self.drop("invalid_id", d.invalid_id);
        self.drop("ignored_resource", d.ignored_resource);
        self.drop("sampled_out", d.sampled_out);
    }

    pub fn payload_sent(&self, endpoint: &str, bytes: usize, _spans: usize, attempts: u32) {
        let e = self.exporter.as_str();
        self.payloads
            .with_label_values(&[e, endpoint, "sent"])
            .inc();
        self.bytes
            .with_label_values(&[e, endpoint])
            .inc_by(bytes as u64);
        self.retry(endpoint, attempts);
    }

    pub fn payload_failed(&self, endpoint: &str, spans: usize, attempts: u32, permanent: bool) {
        let e = self.exporter.as_str();
        self.payloads
            .with_label_values(&[e, endpoint, "failed"])
            .inc();
        self.retry(endpoint, attempts);
        self.drop(
            if permanent {
                "rejected"
            } else {
                "retries_exhausted"
            },
            spans as u64,
        );
    }

    fn retry(&self, endpoint: &str, attempts: u32) {
        if attempts > 1 {
            self.retries
                .with_label_values(&[self.exporter.as_str(), endpoint])
                .inc_by(u64::from(attempts - 1));
        }
    }
}
