//! The collector's own metrics, named exactly as otelcol names them (no `_total` suffix, as
//! otelcol's default Prometheus reader with `without_type_suffix: true`).

use crate::process::{process_cpu_seconds, resident_set_bytes};
use kakehashi_pdata::Signal;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use std::sync::Arc;
use std::time::Instant;

mod handles;

pub use handles::{BatchMetrics, ExporterMetrics, MemoryLimiterMetrics, ReceiverMetrics};

/// A cheap handle to the metrics registry; clone it into every component.
#[derive(Clone)]
pub struct Telemetry {
    inner: Arc<Inner>,
}

/// One counter family per signal, in [`Signal`] order.
type PerSignal<T> = [T; 3];

fn idx(s: Signal) -> usize {
    match s {
        Signal::Traces => 0,
        Signal::Metrics => 1,
        Signal::Logs => 2,
    }
}

struct Inner {
    registry: Registry,
    /// `service::telemetry::metrics::level: detailed`: metrics that cost work per batch.
    detailed: bool,
    started: Instant,
    receiver_accepted: PerSignal<IntCounterVec>,
    receiver_refused: PerSignal<IntCounterVec>,
    receiver_failed: PerSignal<IntCounterVec>,
    exporter_sent: PerSignal<IntCounterVec>,
    exporter_send_failed: PerSignal<IntCounterVec>,
    exporter_enqueue_failed: PerSignal<IntCounterVec>,
    exporter_queue_size: IntGaugeVec,
    exporter_queue_capacity: IntGaugeVec,
    exporter_in_flight: IntGaugeVec,
    exporter_batch_send_size: HistogramVec,
    exporter_batch_send_size_bytes: HistogramVec,
    batch_send_size: HistogramVec,
    batch_size_trigger: IntCounterVec,
    batch_timeout_trigger: IntCounterVec,
    batch_send_size_bytes: HistogramVec,
    batch_metadata_cardinality: IntGaugeVec,
    batch_dropped: IntCounterVec,
    limiter_accepted: PerSignal<IntCounterVec>,
    limiter_refused: PerSignal<IntCounterVec>,
    /// Counters, as otelcol's (monotonic sums): advanced to the current value at each scrape.
    process_uptime: prometheus::Counter,
    process_cpu: prometheus::Counter,
    process_rss: IntGauge,
    /// Families that components define for themselves (see [`Telemetry::counter_vec`]).
    custom_counters: std::sync::Mutex<std::collections::HashMap<String, IntCounterVec>>,
    /// The same for gauges (see [`Telemetry::gauge_vec`]).
    custom_gauges: std::sync::Mutex<std::collections::HashMap<String, IntGaugeVec>>,
    /// `service.telemetry.resource` as labels on every series (see [`crate::resource`]).
    resource: Vec<(String, String)>,
}

/// Adds the resource labels a series does not have itself (its own label wins), keeping the
/// labels sorted by name.
fn add_labels(metric: &mut prometheus::proto::Metric, resource: &[(String, String)]) {
    let mut labels = metric.take_label();
    for (name, value) in resource {
        if !labels.iter().any(|l| l.name() == name) {
            let mut pair = prometheus::proto::LabelPair::default();
            pair.set_name(name.clone());
            pair.set_value(value.clone());
            labels.push(pair);
        }
    }
    labels.sort_by(|a, b| a.name().cmp(b.name()));
    metric.set_label(labels);
}

/// `target_info`: one series whose labels are the resource, as OpenTelemetry's Prometheus
/// exporter writes it.
fn target_info(resource: &[(String, String)]) -> prometheus::proto::MetricFamily {
    let mut metric = prometheus::proto::Metric::default();
    add_labels(&mut metric, resource);
    let mut gauge = prometheus::proto::Gauge::default();
    gauge.set_value(1.0);
    metric.set_gauge(gauge);
    let mut family = prometheus::proto::MetricFamily::default();
    family.set_name("target_info".into());
    family.set_help("Target metadata".into());
    family.set_field_type(prometheus::proto::MetricType::GAUGE);
    family.set_metric(vec![metric]);
    family
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry
        .register(Box::new(c.clone()))
        .expect("unique metric");
    c
}

fn per_signal(
    registry: &Registry,
    prefix: &str,
    help: &str,
    labels: &[&str],
) -> PerSignal<IntCounterVec> {
    Signal::ALL.map(|s| {
        counter(
            registry,
            &format!("{prefix}_{}", s.item_metric_suffix()),
            &format!("{help} ({})", s.item_metric_suffix().replace('_', " ")),
            labels,
        )
    })
}

fn gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry
        .register(Box::new(g.clone()))
        .expect("unique metric");
    g
}

/// otelcol's buckets for batch sizes in units (items).
const UNIT_BUCKETS: &[f64] = &[
    10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2000.0, 3000.0, 4000.0, 5000.0,
    6000.0, 7000.0, 8000.0, 9000.0, 10000.0, 20000.0, 30000.0, 50000.0, 100000.0,
];

/// otelcol's buckets for batch sizes in bytes.
const BYTE_BUCKETS: &[f64] = &[
    10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2000.0, 3000.0, 4000.0, 5000.0,
    6000.0, 7000.0, 8000.0, 9000.0, 10000.0, 20000.0, 30000.0, 50000.0, 100000.0, 200000.0,
    300000.0, 400000.0, 500000.0, 600000.0, 700000.0, 800000.0, 900000.0, 1000000.0, 2000000.0,
    3000000.0, 4000000.0, 5000000.0, 6000000.0, 7000000.0, 8000000.0, 9000000.0,
];

fn histogram(
    r: &Registry,
    name: &str,
    help: &str,
    buckets: &[f64],
    labels: &[&str],
) -> HistogramVec {
    let h = HistogramVec::new(
        HistogramOpts::new(name, help).buckets(buckets.to_vec()),
        labels,
    )
    .expect("valid metric");
    r.register(Box::new(h.clone())).expect("unique metric");
    h
}

impl Default for Telemetry {
    fn default() -> Self {
        Telemetry::new()
    }
}

impl Telemetry {
    /// The registry for `service::telemetry::metrics::level`: at `detailed`, metrics that cost
    /// work per batch are recorded too (`otelcol_processor_batch_batch_send_size_bytes`).
    pub fn with_level(level: crate::config::MetricsLevel) -> Self {
        let mut t = Telemetry::new();
        Arc::get_mut(&mut t.inner)
            .expect("a new registry is not shared")
            .detailed = level == crate::config::MetricsLevel::Detailed;
        t
    }

    /// The same registry with `labels` (from [`crate::resource::labels`]) on every series of
    /// the text exposition, and a `target_info` series listing them.
    pub fn with_resource(mut self, labels: Vec<(String, String)>) -> Self {
        Arc::get_mut(&mut self.inner)
            .expect("a new registry is not shared")
            .resource = labels;
        self
    }

    /// The registry at the default level (`normal`).
    pub fn new() -> Self {
        let r = Registry::new();
        let rl = &["receiver", "transport"];
        let el = &["exporter"];
        let ql = &["exporter", "data_type"];
        let pl = &["processor"];
        let batch_send_size = HistogramVec::new(
            HistogramOpts::new(
                "otelcol_processor_batch_batch_send_size",
                "Number of units in the batch",
            )
            .buckets(UNIT_BUCKETS.to_vec()),
            pl,
        )
        .expect("valid metric");
        r.register(Box::new(batch_send_size.clone()))
            .expect("unique metric");
        let batch_send_size_bytes = HistogramVec::new(
            HistogramOpts::new(
                "otelcol_processor_batch_batch_send_size_bytes",
                "Number of bytes in batch that was sent",
            )
            .buckets(BYTE_BUCKETS.to_vec()),
            pl,
        )
        .expect("valid metric");
        r.register(Box::new(batch_send_size_bytes.clone()))
            .expect("unique metric");
        let exporter_batch_send_size = histogram(
            &r,
            "otelcol_exporter_queue_batch_send_size",
            "Number of units in the batch",
            UNIT_BUCKETS,
            el,
        );
        let exporter_batch_send_size_bytes = histogram(
            &r,
            "otelcol_exporter_queue_batch_send_size_bytes",
            "Number of bytes in batch that was sent",
            BYTE_BUCKETS,
            el,
        );
        let process_uptime =
            prometheus::Counter::new("otelcol_process_uptime", "Uptime of the process in seconds")
                .expect("valid metric");
        r.register(Box::new(process_uptime.clone()))
            .expect("unique metric");
        let process_cpu = prometheus::Counter::new(
            "otelcol_process_cpu_seconds",
            "Total CPU user and system time in seconds",
        )
        .expect("valid metric");
        r.register(Box::new(process_cpu.clone()))
            .expect("unique metric");
        let process_rss = IntGauge::new(
            "otelcol_process_memory_rss",
            "Total physical memory (resident set size) in bytes",
        )
        .expect("valid metric");
        r.register(Box::new(process_rss.clone()))
            .expect("unique metric");
        let inner = Inner {
            receiver_accepted: per_signal(
                &r,
                "otelcol_receiver_accepted",
                "Items successfully pushed into the pipeline",
                rl,
            ),
            receiver_refused: per_signal(
                &r,
                "otelcol_receiver_refused",
                "Items that could not be pushed into the pipeline",
                rl,
            ),
            receiver_failed: per_signal(
                &r,
                "otelcol_receiver_failed",
                "Items that failed to be processed by the receiver",
                rl,
            ),
            exporter_sent: per_signal(
                &r,
                "otelcol_exporter_sent",
                "Items successfully sent to the destination",
                el,
            ),
            exporter_send_failed: per_signal(
                &r,
                "otelcol_exporter_send_failed",
                "Items that failed to be sent to the destination (dropped)",
                el,
            ),
            exporter_enqueue_failed: per_signal(
                &r,
                "otelcol_exporter_enqueue_failed",
                "Items that failed to be added to the sending queue (dropped)",
                el,
            ),
            exporter_queue_size: gauge(
                &r,
                "otelcol_exporter_queue_size",
                "Current size of the retry queue (in batches)",
                ql,
            ),
            exporter_queue_capacity: gauge(
                &r,
                "otelcol_exporter_queue_capacity",
                "Fixed capacity of the retry queue (in batches)",
                ql,
            ),
            exporter_in_flight: gauge(
                &r,
                "otelcol_exporter_in_flight_requests",
                "Export requests in flight",
                ql,
            ),
            exporter_batch_send_size,
            exporter_batch_send_size_bytes,
            batch_send_size,
            batch_send_size_bytes,
            batch_metadata_cardinality: gauge(
                &r,
                "otelcol_processor_batch_metadata_cardinality",
                "Number of distinct metadata value combinations being processed",
                pl,
            ),
            // otelcol drops these with a log line only; we count them too.
            batch_dropped: counter(
                &r,
                "kakehashi_processor_batch_dropped_items",
                "Items the batch processor dropped: a permanent downstream error, or still failing at shutdown",
                pl,
            ),
            batch_size_trigger: counter(
                &r,
                "otelcol_processor_batch_batch_size_trigger_send",
                "Number of times the batch was sent due to a size trigger",
                pl,
            ),
            batch_timeout_trigger: counter(
                &r,
                "otelcol_processor_batch_timeout_trigger_send",
                "Number of times the batch was sent due to a timeout trigger",
                pl,
            ),
            limiter_accepted: per_signal(
                &r,
                "otelcol_processor_memory_limiter_accepted",
                "Items accepted by the memory limiter",
                pl,
            ),
            limiter_refused: per_signal(
                &r,
                "otelcol_processor_memory_limiter_refused",
                "Items refused by the memory limiter",
                pl,
            ),
            process_uptime,
            process_cpu,
            process_rss,
            custom_counters: Default::default(),
            custom_gauges: Default::default(),
            started: Instant::now(),
            detailed: false,
            resource: Vec::new(),
            registry: r,
        };
        Telemetry {
            inner: Arc::new(inner),
        }
    }

    /// A counter family that one component type defines for itself (e.g. the datadog exporter's
    /// drops by reason). Registered on first use; later calls with the same name share it, so
    /// several instances of a component label their series instead of colliding.
    pub fn counter_vec(&self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        let mut custom = self.inner.custom_counters.lock().expect("not poisoned");
        custom
            .entry(name.to_string())
            .or_insert_with(|| counter(&self.inner.registry, name, help, labels))
            .clone()
    }

    /// A gauge family that one component type defines for itself, shared as
    /// [`Telemetry::counter_vec`].
    pub fn gauge_vec(&self, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
        let mut custom = self.inner.custom_gauges.lock().expect("not poisoned");
        custom
            .entry(name.to_string())
            .or_insert_with(|| gauge(&self.inner.registry, name, help, labels))
            .clone()
    }

    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// The Prometheus text exposition of every metric, with process metrics refreshed.
    pub fn encode_text(&self) -> String {
        advance_to(
            &self.inner.process_uptime,
            self.inner.started.elapsed().as_secs_f64(),
        );
        advance_to(&self.inner.process_cpu, process_cpu_seconds());
        if let Some(rss) = resident_set_bytes() {
            self.inner.process_rss.set(rss as i64);
        }
        let mut families = self.inner.registry.gather();
        let resource = &self.inner.resource;
        if !resource.is_empty() {
            for metric in families.iter_mut().flat_map(|f| f.mut_metric().iter_mut()) {
                add_labels(metric, resource);
            }
            families.push(target_info(resource));
        }
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&families, &mut buf)
            .expect("text encoding to memory cannot fail");
        String::from_utf8(buf).expect("prometheus text is utf-8")
    }

    /// Reads one counter's current value, for tests and logs.
    pub fn counter_value(&self, name: &str, labels: &[(&str, &str)]) -> Option<u64> {
        self.inner
            .registry
            .gather()
            .into_iter()
            .find(|f| f.name() == name)?
            .get_metric()
            .iter()
            .find(|m| {
                labels.iter().all(|(k, v)| {
                    m.get_label()
                        .iter()
                        .any(|l| l.name() == *k && l.value() == *v)
                })
            })
            .map(|m| m.get_counter().get_value() as u64)
    }

    pub fn receiver(&self, receiver: &str, transport: &str) -> ReceiverMetrics {
        let i = &self.inner;
        let l = [receiver, transport];
        ReceiverMetrics {
            accepted: i
                .receiver_accepted
                .each_ref()
                .map(|c| c.with_label_values(&l)),
            refused: i
                .receiver_refused
                .each_ref()
                .map(|c| c.with_label_values(&l)),
            failed: i
                .receiver_failed
                .each_ref()
                .map(|c| c.with_label_values(&l)),
        }
    }

    pub fn exporter(&self, exporter: &str, signal: Signal) -> ExporterMetrics {
        let i = &self.inner;
        let l = [exporter];
        let ql = [exporter, signal.as_str()];
        let s = idx(signal);
        ExporterMetrics {
            sent: i.exporter_sent[s].with_label_values(&l),
            send_failed: i.exporter_send_failed[s].with_label_values(&l),
            enqueue_failed: i.exporter_enqueue_failed[s].with_label_values(&l),
            queue_size: i.exporter_queue_size.with_label_values(&ql),
            queue_capacity: i.exporter_queue_capacity.with_label_values(&ql),
            in_flight: i.exporter_in_flight.with_label_values(&ql),
            batch_send_size: i
                .detailed
                .then(|| i.exporter_batch_send_size.with_label_values(&l)),
            batch_send_size_bytes: i
                .detailed
                .then(|| i.exporter_batch_send_size_bytes.with_label_values(&l)),
            queue_families: (
                i.exporter_queue_size.clone(),
                i.exporter_queue_capacity.clone(),
                [exporter.to_string(), signal.as_str().to_string()],
            ),
        }
    }

    pub fn batch_processor(&self, processor: &str) -> BatchMetrics {
        let i = &self.inner;
        let l = [processor];
        BatchMetrics {
            send_size: i.batch_send_size.with_label_values(&l),
            size_trigger: i.batch_size_trigger.with_label_values(&l),
            timeout_trigger: i.batch_timeout_trigger.with_label_values(&l),
            send_size_bytes: i
                .detailed
                .then(|| i.batch_send_size_bytes.with_label_values(&l)),
            metadata_cardinality: i.batch_metadata_cardinality.with_label_values(&l),
            dropped_items: i.batch_dropped.with_label_values(&l),
        }
    }

    pub fn memory_limiter(&self, processor: &str) -> MemoryLimiterMetrics {
        let i = &self.inner;
        let l = [processor];
        MemoryLimiterMetrics {
            accepted: i
                .limiter_accepted
                .each_ref()
                .map(|c| c.with_label_values(&l)),
            refused: i
                .limiter_refused
                .each_ref()
                .map(|c| c.with_label_values(&l)),
        }
    }
}

/// Moves a counter up to `value` (a counter has no `set`; concurrent scrapes may both add, so
/// the counter can run ahead by one scrape's delta, never backwards).
fn advance_to(counter: &prometheus::Counter, value: f64) {
    let delta = value - counter.get();
    if delta > 0.0 {
        counter.inc_by(delta);
    }
}

#[cfg(test)]
mod tests;
