use super::*;
use kakehashi_component::exporterhelper::{QueueSettings, RetrySettings};
use kakehashi_config::Duration as D;
use kakehashi_pdata::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
use kakehashi_pdata::ExportTraceServiceRequest;
use kakehashi_telemetry::Telemetry;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};

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

/// Answers with scripted results (then Ok), optionally blocking until released.
struct Scripted {
    script: Mutex<VecDeque<Result<(), ExportError>>>,
    attempts: AtomicUsize,
    exported_items: AtomicUsize,
    gate: Option<Arc<tokio::sync::Semaphore>>,
}

impl Scripted {
    fn new(script: Vec<Result<(), ExportError>>) -> Arc<Self> {
        Arc::new(Scripted {
            script: Mutex::new(script.into()),
            attempts: AtomicUsize::new(0),
            exported_items: AtomicUsize::new(0),
            gate: None,
        })
    }
}

#[async_trait]
impl Exporter for Scripted {
    async fn export(&self, batch: &Batch) -> Result<(), ExportError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        if let Some(g) = &self.gate {
            let _p = g.acquire().await.expect("gate open");
        }
        let r = self.script.lock().unwrap().pop_front().unwrap_or(Ok(()));
        if r.is_ok() {
            self.exported_items
                .fetch_add(batch.item_count(), Ordering::SeqCst);
        }
        r
    }
}

fn settings(queue: QueueSettings, retry: RetrySettings) -> ExporterHelperSettings {
    ExporterHelperSettings {
        timeout: D::from_secs(5),
        retry,
        queue,
    }
}

fn runner(exp: Arc<dyn Exporter>, s: ExporterHelperSettings, t: &Telemetry) -> ExporterRunner {
    ExporterRunner::new(
        "test".into(),
        Signal::Traces,
        exp,
        s,
        t.exporter("test", Signal::Traces),
    )
}

fn counter(t: &Telemetry, name: &str) -> u64 {
    t.counter_value(name, &[("exporter", "test")]).unwrap_or(0)
}

#[tokio::test(start_paused = true)]
async fn retryable_errors_are_retried_until_success() {
    let t = Telemetry::new();
    let exp = Scripted::new(vec![
        Err(ExportError::retryable("503")),
        Err(ExportError::retryable("503")),
    ]);
    let r = runner(
        exp.clone(),
        settings(QueueSettings::disabled(), RetrySettings::default()),
        &t,
    );
    r.consume(spans(3)).await.unwrap();
    assert_eq!(exp.attempts.load(Ordering::SeqCst), 3);
    assert_eq!(counter(&t, "otelcol_exporter_sent_spans"), 3);
    assert_eq!(counter(&t, "otelcol_exporter_send_failed_spans"), 0);
}

#[tokio::test(start_paused = true)]
async fn permanent_error_is_not_retried_and_is_counted() {
    let t = Telemetry::new();
    let exp = Scripted::new(vec![Err(ExportError::permanent("400 bad data"))]);
    let r = runner(
        exp.clone(),
        settings(QueueSettings::disabled(), RetrySettings::default()),
        &t,
    );
    let err = r.consume(spans(2)).await.unwrap_err();
    assert!(err.permanent);
    assert_eq!(
        err.message,
        "not retryable error: Permanent error: 400 bad data"
    );
    assert_eq!(exp.attempts.load(Ordering::SeqCst), 1);
    assert_eq!(counter(&t, "otelcol_exporter_send_failed_spans"), 2);
}

#[tokio::test(start_paused = true)]
async fn gives_up_after_max_elapsed_time() {
    let t = Telemetry::new();
    let exp = Scripted::new(
        (0..100)
            .map(|_| Err(ExportError::retryable("down")))
            .collect(),
    );
    let retry = RetrySettings {
        initial_interval: D::from_secs(1),
        max_interval: D::from_secs(2),
        max_elapsed_time: D::from_secs(10),
        ..Default::default()
    };
    let r = runner(exp.clone(), settings(QueueSettings::disabled(), retry), &t);
    let err = r.consume(spans(1)).await.unwrap_err();
    assert!(
        err.message.starts_with("no more retries left: down"),
        "{}",
        err.message
    );
    assert!(!err.permanent);
    assert!(exp.attempts.load(Ordering::SeqCst) >= 4);
    assert_eq!(counter(&t, "otelcol_exporter_send_failed_spans"), 1);
}

#[tokio::test(start_paused = true)]
async fn throttle_hint_delays_the_retry() {
    let t = Telemetry::new();
    let exp = Scripted::new(vec![Err(
        ExportError::retryable("429").with_throttle(Some(std::time::Duration::from_secs(60)))
    )]);
    let retry = RetrySettings {
        initial_interval: D::from_millis(10),
        ..Default::default()
    };
    let r = runner(exp.clone(), settings(QueueSettings::disabled(), retry), &t);
    let started = tokio::time::Instant::now();
    r.consume(spans(1)).await.unwrap();
    assert!(started.elapsed() >= std::time::Duration::from_secs(60));
}

/// A throttle hint beyond any budget ends the retries as over budget: adding it to the time
/// already spent saturates instead of overflowing (it comes from the network: `Retry-After`).
#[tokio::test(start_paused = true)]
async fn an_enormous_throttle_hint_is_over_budget_not_a_panic() {
    let t = Telemetry::new();
    let exp = Scripted::new(vec![
        Err(ExportError::retryable("503").with_throttle(Some(std::time::Duration::from_secs(2)))),
        Err(ExportError::retryable("429").with_throttle(Some(std::time::Duration::MAX))),
    ]);
    let r = runner(
        exp.clone(),
        settings(QueueSettings::disabled(), RetrySettings::default()),
        &t,
    );
    let err = r.consume(spans(1)).await.unwrap_err();
    assert!(err.to_string().contains("429"), "{err}");
    assert_eq!(exp.attempts.load(Ordering::SeqCst), 2);
}

/// A runner with one consumer and a queue of 2, both slots taken by 1-span batches: one in
/// flight (blocked in the exporter until `gate` gets permits) plus one waiting.
async fn full_two_slot_queue() -> (
    Telemetry,
    Arc<tokio::sync::Semaphore>,
    Arc<Scripted>,
    ExporterRunner,
) {
    let t = Telemetry::new();
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let exp = Arc::new(Scripted {
        gate: Some(gate.clone()),
        ..Arc::try_unwrap(Scripted::new(vec![])).ok().unwrap()
    });
    let queue = QueueSettings {
        num_consumers: 1,
        queue_size: 2,
        ..Default::default()
    };
    let r = runner(exp.clone(), settings(queue, RetrySettings::default()), &t);
    r.consume(spans(1)).await.unwrap();
    r.consume(spans(1)).await.unwrap();
    (t, gate, exp, r)
}

#[tokio::test(start_paused = true)]
async fn full_queue_refuses_with_a_retryable_error_and_counts() {
    let (t, gate, exp, r) = full_two_slot_queue().await;
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    let err = r.consume(spans(5)).await.unwrap_err();
    assert_eq!(err.message, "sending queue is full");
    assert!(!err.permanent);
    assert_eq!(counter(&t, "otelcol_exporter_enqueue_failed_spans"), 5);
    gate.add_permits(100);
    r.shutdown(std::time::Duration::from_secs(5)).await;
    assert_eq!(exp.exported_items.load(Ordering::SeqCst), 2);
    assert_eq!(counter(&t, "otelcol_exporter_sent_spans"), 2);
}

/// What `fut` gives if it completes within `within_ms` (virtual time: the clock is paused).
async fn within<T>(fut: impl std::future::Future<Output = T>, within_ms: u64) -> Option<T> {
    tokio::time::timeout(std::time::Duration::from_millis(within_ms), fut)
        .await
        .ok()
}

#[tokio::test(start_paused = true)]
async fn room_for_a_batch_comes_when_the_queue_frees_a_slot() {
    let (_t, gate, exp, r) = full_two_slot_queue().await;
    let next = spans(3);
    assert_eq!(
        within(r.wait_for_room(&next), 500).await,
        None,
        "no room while the exporter holds both slots"
    );
    // One export completes: its slot is the room, and the hand-off takes it.
    gate.add_permits(1);
    assert_eq!(within(r.wait_for_room(&next), 10).await, Some(true));
    r.consume(next).await.expect("the hand-off fits");
    gate.add_permits(100);
    r.shutdown(std::time::Duration::from_secs(5)).await;
    assert_eq!(exp.exported_items.load(Ordering::SeqCst), 5);
}

/// A request larger than the whole queue can never be taken: refused for good (so the batch
/// processor drops it instead of retrying it forever), counted, and the queue still works.
#[tokio::test]
async fn a_request_larger_than_the_whole_queue_is_refused_for_good() {
    let t = Telemetry::new();
    let items = QueueSettings {
        queue_size: 10,
        sizer: Sizer::Items,
        ..Default::default()
    };
    let exp = Scripted::new(vec![]);
    let r = runner(exp.clone(), settings(items, RetrySettings::default()), &t);
    let err = r.consume(spans(11)).await.unwrap_err();
    assert!(err.permanent, "{err}");
    assert!(
        err.to_string()
            .contains("(11 items) is larger than the whole sending queue (queue_size 10)"),
        "{err}"
    );
    r.consume(spans(10)).await.unwrap();
    r.shutdown(std::time::Duration::from_secs(5)).await;
    assert_eq!(exp.exported_items.load(Ordering::SeqCst), 10);
}

#[tokio::test(start_paused = true)]
async fn no_room_to_wait_for_where_a_hand_off_would_be_refused_anyway() {
    let t = Telemetry::new();
    let items = QueueSettings {
        queue_size: 10,
        sizer: Sizer::Items,
        ..Default::default()
    };
    let r = runner(
        Scripted::new(vec![]),
        settings(items, RetrySettings::default()),
        &t,
    );
    assert_eq!(within(r.wait_for_room(&spans(10)), 0).await, Some(true));
    assert_eq!(
        within(r.wait_for_room(&spans(11)), 0).await,
        Some(false),
        "larger than the whole queue"
    );
    r.shutdown(std::time::Duration::from_secs(5)).await;
    assert_eq!(
        within(r.wait_for_room(&spans(1)), 0).await,
        Some(false),
        "shutdown begun"
    );
    let direct = runner(
        Scripted::new(vec![]),
        settings(QueueSettings::disabled(), RetrySettings::default()),
        &t,
    );
    assert_eq!(
        within(direct.wait_for_room(&spans(1)), 0).await,
        Some(false),
        "no queue"
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_drains_the_queue() {
    let t = Telemetry::new();
    let exp = Scripted::new(vec![]);
    let r = runner(
        exp.clone(),
        settings(QueueSettings::default(), RetrySettings::default()),
        &t,
    );
    for _ in 0..50 {
        r.consume(spans(2)).await.unwrap();
    }
    r.shutdown(std::time::Duration::from_secs(5)).await;
    assert_eq!(exp.exported_items.load(Ordering::SeqCst), 100);
    assert_eq!(counter(&t, "otelcol_exporter_sent_spans"), 100);
    let err = r.consume(spans(1)).await.unwrap_err();
    assert!(!err.permanent, "after shutdown: retryable refusal");
}

#[tokio::test(start_paused = true)]
async fn drain_deadline_drops_and_counts_what_is_left() {
    let t = Telemetry::new();
    let gate = Arc::new(tokio::sync::Semaphore::new(0)); // backend hangs forever
    let exp = Arc::new(Scripted {
        gate: Some(gate),
        ..Arc::try_unwrap(Scripted::new(vec![])).ok().unwrap()
    });
    let s = ExporterHelperSettings {
        timeout: D::ZERO,
        ..settings(
            QueueSettings {
                num_consumers: 1,
                ..Default::default()
            },
            RetrySettings::default(),
        )
    };
    let r = runner(exp, s, &t);
    for _ in 0..3 {
        r.consume(spans(4)).await.unwrap();
    }
    r.shutdown(std::time::Duration::from_secs(2)).await;
    assert_eq!(counter(&t, "otelcol_exporter_send_failed_spans"), 12);
    assert_eq!(counter(&t, "otelcol_exporter_sent_spans"), 0);
}
