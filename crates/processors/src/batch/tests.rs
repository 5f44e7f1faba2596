use super::*;
use kakehashi_config::Validate;
use kakehashi_pdata::proto::metrics::v1::{
    metric::Data, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use kakehashi_pdata::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
use kakehashi_pdata::{ExportMetricsServiceRequest, ExportTraceServiceRequest, Payload};
use kakehashi_telemetry::config::MetricsLevel;
use kakehashi_telemetry::Telemetry;
use std::sync::atomic::AtomicUsize;
use tokio::time::Instant;

/// Records (items, elapsed since creation, metadata) per delivered batch; fails the first
/// `fail_first` calls with a retryable error, or blocks forever when `block` is set. `room`
/// says when it has room (`wait_for_room`).
struct Recorder {
    start: Instant,
    got: Mutex<Vec<(usize, Duration, ClientMetadata)>>,
    fail_first: AtomicUsize,
    block: bool,
    calls: AtomicUsize,
    room: Room,
}

enum Room {
    /// The default: cannot tell.
    Never,
    /// At once while no refusal is left, else when notified (a queue that drains).
    WhenNotified(Arc<tokio::sync::Notify>),
    /// At once, even though the next call is refused again (a wrong signal).
    Always,
}

impl Recorder {
    fn new() -> Arc<Self> {
        Arc::new(Self::with_room(Room::Never))
    }
    fn with_room(room: Room) -> Self {
        Recorder {
            start: Instant::now(),
            got: Mutex::default(),
            fail_first: AtomicUsize::new(0),
            block: false,
            calls: AtomicUsize::new(0),
            room,
        }
    }
    fn sizes(&self) -> Vec<usize> {
        self.got.lock().expect("lock").iter().map(|g| g.0).collect()
    }
    fn times(&self) -> Vec<Duration> {
        self.got.lock().expect("lock").iter().map(|g| g.1).collect()
    }
}

#[async_trait]
impl Consumer for Recorder {
    async fn consume(&self, b: Batch) -> Result<(), ConsumeError> {
        if self.block {
            std::future::pending::<()>().await;
        }
        self.calls.fetch_add(1, Ordering::SeqCst);
        let left = self.fail_first.load(Ordering::SeqCst);
        if left > 0 {
            self.fail_first.store(left - 1, Ordering::SeqCst);
            return Err(ConsumeError::retryable("backend down"));
        }
        self.got
            .lock()
            .expect("lock")
            .push((b.item_count(), self.start.elapsed(), b.metadata));
        Ok(())
    }

    async fn wait_for_room(&self, _batch: &Batch) -> bool {
        match &self.room {
            Room::Never => false,
            Room::WhenNotified(n) => {
                if self.fail_first.load(Ordering::SeqCst) > 0 {
                    n.notified().await;
                }
                true
            }
            Room::Always => true,
        }
    }
}

fn spans(n: usize) -> Batch {
    Batch::new(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span::default(); n],
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

fn cfg(size: u32, max: u32, timeout_s: u64) -> BatchConfig {
    BatchConfig {
        send_batch_size: size,
        send_batch_max_size: max,
        timeout: kakehashi_config::Duration::from_secs(timeout_s),
        ..Default::default()
    }
}

fn processor(c: &BatchConfig, next: Arc<Recorder>) -> (BatchProcessor, Telemetry) {
    processor_at(c, next, MetricsLevel::Detailed)
}

fn processor_at(
    c: &BatchConfig,
    next: Arc<Recorder>,
    level: MetricsLevel,
) -> (BatchProcessor, Telemetry) {
    let t = Telemetry::with_level(level);
    let p = BatchProcessor::new(c, Signal::Traces, next, t.batch_processor("batch"));
    (p, t)
}

/// Lets the shard task run without advancing time.
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn seed_config_250_spans_leave_as_100_100_50() {
    let rec = Recorder::new();
    let (p, t) = processor(&cfg(10, 100, 20), rec.clone());
    p.consume(spans(250)).await.expect("consume");
    settle().await;
    assert_eq!(rec.sizes(), vec![100, 100, 50]);
    assert_eq!(rec.times(), vec![Duration::ZERO; 3]);
    let m = t.batch_processor("batch");
    assert_eq!(m.size_trigger.get(), 3);
    assert_eq!(m.send_size.get_sample_count(), 3);
    assert_eq!(m.send_size.get_sample_sum(), 250.0);
    let bytes = m.send_size_bytes.expect("recorded at the detailed level");
    assert_eq!(bytes.get_sample_count(), 3);
    assert!(bytes.get_sample_sum() > 250.0);
}

#[tokio::test(start_paused = true)]
async fn batch_bytes_are_measured_only_at_the_detailed_level() {
    let rec = Recorder::new();
    let (p, t) = processor_at(&cfg(10, 100, 20), rec.clone(), MetricsLevel::Normal);
    p.consume(spans(250)).await.expect("consume");
    settle().await;
    assert_eq!(rec.sizes(), vec![100, 100, 50]);
    let m = t.batch_processor("batch");
    assert_eq!(m.send_size.get_sample_count(), 3);
    assert!(m.send_size_bytes.is_none());
    let text = t.encode_text();
    assert!(
        !text.contains("otelcol_processor_batch_batch_send_size_bytes_count"),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn few_spans_wait_for_the_timeout() {
    let rec = Recorder::new();
    let (p, t) = processor(&cfg(10, 100, 20), rec.clone());
    p.consume(spans(3)).await.expect("consume");
    tokio::time::sleep(Duration::from_millis(19_999)).await;
    assert!(rec.sizes().is_empty());
    tokio::time::sleep(Duration::from_millis(2)).await;
    assert_eq!(rec.sizes(), vec![3]);
    assert_eq!(rec.times(), vec![Duration::from_secs(20)]);
    assert_eq!(t.batch_processor("batch").timeout_trigger.get(), 1);
}

#[tokio::test(start_paused = true)]
async fn timer_counts_from_the_last_send() {
    let rec = Recorder::new();
    let (p, _t) = processor(&cfg(10, 100, 20), rec.clone());
    tokio::time::sleep(Duration::from_secs(1)).await;
    p.consume(spans(15)).await.expect("consume"); // shard starts at 1s, sends 15 at once
    tokio::time::sleep(Duration::from_secs(5)).await;
    p.consume(spans(3)).await.expect("consume"); // arrives at 6s
    tokio::time::sleep(Duration::from_secs(30)).await;
    // The timer was reset by the size-triggered send at 1s, so the 3 spans leave at 21s,
    // i.e. 15s after they arrived.
    let times = rec.times();
    assert_eq!(rec.sizes(), vec![15, 3]);
    assert_eq!(times[1] - times[0], Duration::from_secs(20));
}

#[tokio::test(start_paused = true)]
async fn timer_fire_sends_one_chunk_only() {
    let rec = Recorder::new();
    // size 1000 keeps 250 pending (a pair otelcol's validation rejects, built directly here);
    // each fire sends one chunk of <= 100 and restarts the timer.
    let (p, t) = processor(&cfg(1000, 100, 1), rec.clone());
    p.consume(spans(250)).await.expect("consume");
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(rec.sizes(), vec![100, 100, 50]);
    let secs = |s| Duration::from_secs(s);
    assert_eq!(rec.times(), vec![secs(1), secs(2), secs(3)]);
    assert_eq!(t.batch_processor("batch").timeout_trigger.get(), 3);
}

#[tokio::test(start_paused = true)]
async fn no_timer_sends_immediately_split_by_max() {
    let rec = Recorder::new();
    let (p, _t) = processor(&cfg(0, 100, 20), rec.clone());
    p.consume(spans(3)).await.expect("consume");
    p.consume(spans(230)).await.expect("consume");
    settle().await;
    assert_eq!(rec.sizes(), vec![3, 100, 100, 30]);
}

#[tokio::test(start_paused = true)]
async fn shutdown_flushes_everything() {
    let rec = Recorder::new();
    let (p, _t) = processor(&cfg(1000, 0, 20), rec.clone());
    p.consume(spans(250)).await.expect("consume");
    settle().await;
    assert!(rec.sizes().is_empty());
    p.shutdown().await;
    assert_eq!(rec.sizes(), vec![250]);
    assert_eq!(rec.times(), vec![Duration::ZERO]);
}

#[tokio::test(start_paused = true)]
async fn shutdown_flushes_all_max_size_chunks() {
    let rec = Recorder::new();
    // Bypass validation to get pending > max without a size trigger (size 1000, max 100).
    let (p, t) = processor(&cfg(1000, 100, 20), rec.clone());
    p.consume(spans(250)).await.expect("consume");
    settle().await;
    assert!(rec.sizes().is_empty());
    p.shutdown().await;
    assert_eq!(rec.sizes(), vec![100, 100, 50]);
    // otelcol counts the shutdown flush as timeout-triggered sends.
    assert_eq!(t.batch_processor("batch").timeout_trigger.get(), 3);
    assert!(p.consume(spans(1)).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn metrics_count_data_points() {
    let rec = Recorder::new();
    let t = Telemetry::new();
    let p = BatchProcessor::new(
        &cfg(10, 0, 20),
        Signal::Metrics,
        rec.clone(),
        t.batch_processor("b"),
    );
    let metric = Metric {
        data: Some(Data::Gauge(Gauge {
            data_points: vec![NumberDataPoint::default(); 6],
        })),
        ..Default::default()
    };
    let req = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![metric],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    p.consume(Batch::new(req.clone())).await.expect("consume");
    settle().await;
    assert!(rec.sizes().is_empty(), "6 points < 10");
    p.consume(Batch::new(req)).await.expect("consume");
    settle().await;
    assert_eq!(rec.sizes(), vec![12]);
    assert!(matches!(
        Payload::empty(Signal::Metrics),
        Payload::Metrics(_)
    ));
}

#[tokio::test(start_paused = true)]
async fn retryable_downstream_errors_lose_nothing() {
    let rec = Recorder::new();
    rec.fail_first.store(5, Ordering::SeqCst);
    let (p, _t) = processor(&cfg(10, 100, 20), rec.clone());
    p.consume(spans(250)).await.expect("consume");
    p.consume(spans(10)).await.expect("consume");
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(rec.sizes(), vec![100, 100, 50, 10]);
    assert_eq!(p.dropped_items(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_chunk_waits_for_room_downstream_instead_of_being_refused() {
    let room = Arc::new(tokio::sync::Notify::new());
    let rec = Arc::new(Recorder::with_room(Room::WhenNotified(room.clone())));
    rec.fail_first.store(1, Ordering::SeqCst); // full
    let (p, _t) = processor(&cfg(10, 100, 20), rec.clone());
    p.consume(spans(10)).await.expect("consume");
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(
        rec.calls.load(Ordering::SeqCst),
        0,
        "not offered while full"
    );
    rec.fail_first.store(0, Ordering::SeqCst);
    room.notify_one();
    settle().await;
    assert_eq!(rec.sizes(), vec![10]);
    assert_eq!(rec.calls.load(Ordering::SeqCst), 1, "never refused");
    // Sent when the room came (10 ms), not after a backoff.
    assert!(
        rec.times()[0] < Duration::from_millis(20),
        "{:?}",
        rec.times()
    );
}

#[tokio::test(start_paused = true)]
async fn a_wrong_room_signal_costs_short_waits_not_a_spin() {
    let rec = Arc::new(Recorder::with_room(Room::Always));
    rec.fail_first.store(1_000, Ordering::SeqCst);
    let (p, _t) = processor(&cfg(10, 100, 20), rec.clone());
    p.consume(spans(10)).await.expect("consume");
    tokio::time::sleep(Duration::from_secs(10)).await;
    // Waits of 0, 1, 2, 4, ... ms up to 1 s: about 20 attempts in 10 s (a spin would use up all
    // 1,000 refusals at once and deliver).
    let calls = rec.calls.load(Ordering::SeqCst);
    assert!((10..=30).contains(&calls), "{calls} attempts");
    assert!(rec.sizes().is_empty());
}

#[tokio::test(start_paused = true)]
async fn full_channel_answers_retryable() {
    let rec = Arc::new(Recorder {
        block: true,
        ..Arc::into_inner(Recorder::new()).expect("sole owner")
    });
    let (p, _t) = processor(&cfg(1, 0, 20), rec);
    let mut refused = None;
    for i in 0..100 {
        if let Err(e) = p.consume(spans(1)).await {
            refused = Some((i, e));
            break;
        }
    }
    let (i, e) = refused.expect("a full channel refuses");
    assert!(!e.permanent, "{e}");
    assert!(i <= channel_capacity() + 2, "refused after {i}");
}

#[tokio::test(start_paused = true)]
async fn metadata_keys_shard_and_limit() {
    let rec = Recorder::new();
    let mut c = cfg(2, 0, 20);
    c.metadata_keys = vec!["Tenant".into()];
    c.metadata_cardinality_limit = 2;
    let (p, t) = processor(&c, rec.clone());
    let with = |tenant: Option<&str>, n| {
        let mut b = spans(n);
        let mut h = BTreeMap::new();
        h.insert("other".to_string(), vec!["x".to_string()]);
        if let Some(t) = tenant {
            h.insert("tenant".to_string(), vec![t.to_string()]);
        }
        b.metadata.headers = Arc::new(h);
        b
    };
    p.consume(with(Some("a"), 1)).await.expect("a");
    p.consume(with(None, 1)).await.expect("missing");
    let e = p
        .consume(with(Some(""), 1))
        .await
        .expect_err("third combination");
    assert!(e.permanent);
    assert_eq!(e.message, "too many batcher metadata-value combinations");
    p.consume(with(Some("a"), 1)).await.expect("a again");
    settle().await;
    let got = rec.got.lock().expect("lock").clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, 2);
    assert_eq!(got[0].2.get("tenant"), Some(&["a".to_string()][..]));
    assert_eq!(got[0].2.get("other"), None);
    assert_eq!(t.batch_processor("batch").metadata_cardinality.get(), 2);
}

#[tokio::test(start_paused = true)]
async fn metadata_cardinality_limit_zero_means_no_limit() {
    let rec = Recorder::new();
    let mut c = cfg(1, 0, 20);
    c.metadata_keys = vec!["tenant".into()];
    c.metadata_cardinality_limit = 0;
    let (p, t) = processor(&c, rec.clone());
    for i in 0..5 {
        let mut b = spans(1);
        let mut h = BTreeMap::new();
        h.insert("tenant".to_string(), vec![format!("t{i}")]);
        b.metadata.headers = Arc::new(h);
        p.consume(b).await.expect("no limit");
    }
    settle().await;
    assert_eq!(rec.got.lock().expect("lock").len(), 5);
    assert_eq!(t.batch_processor("batch").metadata_cardinality.get(), 5);
}

/// Fails every call permanently.
struct Refuser;

#[async_trait]
impl Consumer for Refuser {
    async fn consume(&self, _b: Batch) -> Result<(), ConsumeError> {
        Err(ConsumeError::permanent("malformed for the backend"))
    }
}

#[tokio::test(start_paused = true)]
async fn permanent_downstream_errors_are_counted_as_dropped() {
    let c = cfg(10, 100, 20);
    let t = Telemetry::new();
    let p = BatchProcessor::new(
        &c,
        Signal::Traces,
        Arc::new(Refuser),
        t.batch_processor("batch"),
    );
    p.consume(spans(25)).await.expect("consume");
    settle().await;
    assert_eq!(p.dropped_items(), 25);
    let m = t.batch_processor("batch");
    assert_eq!(m.dropped_items.get(), 25);
    // otelcol records a batch's size and trigger only once it is sent.
    assert_eq!(m.size_trigger.get(), 0);
    assert_eq!(m.send_size.get_sample_count(), 0);
}

#[test]
fn validation_messages() {
    assert!(BatchConfig::default().validate().is_empty());
    let mut c = cfg(10, 5, 1);
    c.metadata_keys = vec!["A".into(), "a".into()];
    assert_eq!(
        c.validate(),
        vec![
            r#"duplicate entry in metadata_keys: "a" (case-insensitive)"#.to_string(),
            "send_batch_max_size must be greater or equal to send_batch_size".to_string(),
        ]
    );
}
