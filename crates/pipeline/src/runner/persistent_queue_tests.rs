use super::*;
use crate::runner::ExporterRunner;
use async_trait::async_trait;
use kakehashi_component::exporterhelper::{ExporterHelperSettings, QueueSettings, RetrySettings};
use kakehashi_component::{Consumer, Exporter, Signal};
use kakehashi_config::Duration as D;
use kakehashi_extensions::file_storage::{FileStorage, FileStorageConfig};
use kakehashi_pdata::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
use kakehashi_pdata::ExportTraceServiceRequest;
use kakehashi_telemetry::Telemetry;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

/// A batch of `n` spans whose span ids are `first..first + n`.
fn spans(first: u64, n: u64) -> Batch {
    let spans = (first..first + n)
        .map(|id| Span {
            span_id: id.to_be_bytes().to_vec(),
            ..Default::default()
        })
        .collect();
    Batch::new(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

fn span_ids(batch: &Batch) -> Vec<u64> {
    let Payload::Traces(r) = &*batch.payload else {
        panic!("traces expected")
    };
    r.resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .map(|s| u64::from_be_bytes(s.span_id.clone().try_into().unwrap()))
        .collect()
}

/// Records the span ids it receives; fails (retryably, or permanently) while told to.
#[derive(Default)]
struct Downstream {
    down: AtomicBool,
    reject: AtomicBool,
    gate: Option<Arc<Semaphore>>,
    received: Mutex<Vec<u64>>,
}

#[async_trait]
impl Exporter for Downstream {
    async fn export(&self, batch: &Batch) -> Result<(), ExportError> {
        if let Some(g) = &self.gate {
            let _p = g.acquire().await.expect("gate open");
        }
        if self.reject.load(Ordering::SeqCst) {
            return Err(ExportError::permanent("400 bad data"));
        }
        if self.down.load(Ordering::SeqCst) {
            return Err(ExportError::retryable("connection refused"));
        }
        self.received.lock().unwrap().extend(span_ids(batch));
        Ok(())
    }
}

fn file_storage(dir: &std::path::Path) -> Arc<dyn Storage> {
    Arc::new(FileStorage::new(
        ComponentId::parse("file_storage").unwrap(),
        FileStorageConfig {
            directory: dir.to_str().unwrap().into(),
            ..Default::default()
        },
    ))
}

/// How many items the queue file in `dir` holds.
fn pending_items(dir: &std::path::Path) -> usize {
    file_storage(dir)
        .open_queue(
            Kind::Exporter,
            &ComponentId::parse("otlp/test").unwrap(),
            Signal::Traces,
        )
        .unwrap()
        .pending()
        .unwrap()
        .len()
}

fn settings(queue: QueueSettings) -> ExporterHelperSettings {
    ExporterHelperSettings {
        timeout: D::from_secs(5),
        retry: RetrySettings {
            initial_interval: D::from_millis(5),
            max_interval: D::from_millis(20),
            max_elapsed_time: D::ZERO,
            ..Default::default()
        },
        queue: QueueSettings {
            storage: Some("file_storage".into()),
            ..queue
        },
    }
}

fn runner(
    exp: Arc<Downstream>,
    queue: QueueSettings,
    storage: Arc<dyn Storage>,
    t: &Telemetry,
) -> ExporterRunner {
    ExporterRunner::with_storage(
        "otlp/test".into(),
        Signal::Traces,
        exp,
        settings(queue),
        t.exporter("otlp/test", Signal::Traces),
        Some(storage),
    )
}

fn counter(t: &Telemetry, name: &str) -> u64 {
    t.counter_value(name, &[("exporter", "otlp/test")])
        .unwrap_or(0)
}

async fn wait_for(mut f: impl FnMut() -> bool) {
    for _ in 0..500 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached within 5 s");
}

#[tokio::test]
async fn what_is_queued_survives_a_restart_and_is_sent_first_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let t = Telemetry::new();
    let down = Arc::new(Downstream::default());
    down.down.store(true, Ordering::SeqCst);
    let one = QueueSettings {
        num_consumers: 1,
        ..Default::default()
    };
    let r = runner(down.clone(), one.clone(), file_storage(dir.path()), &t);
    r.start().await.unwrap();
    for i in 0..5 {
        r.consume(spans(i * 10, 3)).await.unwrap();
    }
    r.shutdown(Duration::from_secs(1)).await;
    assert!(down.received.lock().unwrap().is_empty());
    // Kept for the next start, not counted as dropped.
    assert_eq!(counter(&t, "otelcol_exporter_send_failed_spans"), 0);

    let up = Arc::new(Downstream::default());
    let r = runner(up.clone(), one, file_storage(dir.path()), &t);
    r.start().await.unwrap();
    r.consume(spans(100, 2)).await.unwrap();
    wait_for(|| up.received.lock().unwrap().len() == 17).await;
    r.shutdown(Duration::from_secs(1)).await;
    assert_eq!(
        *up.received.lock().unwrap(),
        [0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32, 40, 41, 42, 100, 101]
    );
    assert_eq!(counter(&t, "otelcol_exporter_sent_spans"), 17);

    // Everything was deleted once sent: a third run has nothing to send.
    assert_eq!(pending_items(dir.path()), 0);
}

/// A queue of 10 items (sizer `items`, one consumer) filled with 6 and 4 spans while its
/// exporter is down.
async fn full_ten_item_queue(
    dir: &std::path::Path,
) -> (Telemetry, Arc<Downstream>, ExporterRunner) {
    let t = Telemetry::new();
    let down = Arc::new(Downstream::default());
    down.down.store(true, Ordering::SeqCst);
    let queue = QueueSettings {
        num_consumers: 1,
        queue_size: 10,
        sizer: Sizer::Items,
        ..Default::default()
    };
    let r = runner(down.clone(), queue, file_storage(dir), &t);
    r.start().await.unwrap();
    r.consume(spans(0, 6)).await.unwrap();
    r.consume(spans(10, 4)).await.unwrap();
    (t, down, r)
}

#[tokio::test]
async fn a_full_queue_refuses_with_a_retryable_error_in_units_of_the_sizer() {
    let dir = tempfile::tempdir().unwrap();
    let (t, down, r) = full_ten_item_queue(dir.path()).await;
    let err = r.consume(spans(20, 1)).await.unwrap_err();
    assert_eq!(err.message, "sending queue is full");
    assert!(!err.permanent);
    assert_eq!(counter(&t, "otelcol_exporter_enqueue_failed_spans"), 1);
    // Larger than the whole queue: refused for good (it could never fit).
    let err = r.consume(spans(30, 11)).await.unwrap_err();
    assert!(err.permanent, "{err}");
    assert!(
        err.message.contains("larger than the whole sending queue"),
        "{err}"
    );
    down.down.store(false, Ordering::SeqCst);
    wait_for(|| down.received.lock().unwrap().len() == 10).await;
    r.consume(spans(20, 1)).await.unwrap();
    wait_for(|| down.received.lock().unwrap().len() == 11).await;
    r.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_full_queue_says_when_it_has_room() {
    let dir = tempfile::tempdir().unwrap();
    let (_t, down, r) = full_ten_item_queue(dir.path()).await;
    let next = spans(20, 3);
    let early = tokio::time::timeout(Duration::from_millis(200), r.wait_for_room(&next)).await;
    assert!(
        early.is_err(),
        "no room while the exporter is down: {early:?}"
    );
    assert!(
        !r.wait_for_room(&spans(30, 11)).await,
        "larger than the whole queue: no wait"
    );
    down.down.store(false, Ordering::SeqCst);
    let room = tokio::time::timeout(Duration::from_secs(5), r.wait_for_room(&next)).await;
    assert_eq!(room, Ok(true), "room once items are delivered");
    r.consume(next).await.expect("the hand-off fits");
    wait_for(|| down.received.lock().unwrap().len() == 13).await;
    r.shutdown(Duration::from_secs(1)).await;
    assert!(!r.wait_for_room(&spans(40, 1)).await, "shutdown begun");
}

#[tokio::test]
async fn permanent_errors_delete_the_item_and_count_it() {
    let dir = tempfile::tempdir().unwrap();
    let t = Telemetry::new();
    let down = Arc::new(Downstream::default());
    down.reject.store(true, Ordering::SeqCst);
    let r = runner(
        down.clone(),
        QueueSettings::default(),
        file_storage(dir.path()),
        &t,
    );
    r.start().await.unwrap();
    r.consume(spans(0, 4)).await.unwrap();
    wait_for(|| counter(&t, "otelcol_exporter_send_failed_spans") == 4).await;
    r.shutdown(Duration::from_secs(1)).await;
    assert_eq!(pending_items(dir.path()), 0);
}

/// A store holding scripted items: some corrupt, some undecodable, some good.
struct FakeStore {
    items: Mutex<BTreeMap<u64, Result<Vec<u8>, StorageError>>>,
}

impl QueueStore for FakeStore {
    fn push(&self, _: u64, _: u64, data: &[u8]) -> Result<u64, StorageError> {
        let mut items = self.items.lock().unwrap();
        let id = items.keys().last().map_or(1, |k| k + 1);
        items.insert(id, Ok(data.to_vec()));
        Ok(id)
    }
    fn pending(&self) -> Result<Vec<StoredItem>, StorageError> {
        Ok(self
            .items
            .lock()
            .unwrap()
            .keys()
            .map(|&id| StoredItem {
                id,
                units: 1,
                items: 2,
            })
            .collect())
    }
    fn read(&self, id: u64) -> Result<Vec<u8>, StorageError> {
        self.items.lock().unwrap()[&id].clone()
    }
    fn remove(&self, id: u64) -> Result<(), StorageError> {
        self.items.lock().unwrap().remove(&id);
        Ok(())
    }
}

struct FakeStorage(Arc<FakeStore>);

impl Storage for FakeStorage {
    fn open_queue(
        &self,
        _: Kind,
        _: &ComponentId,
        _: Signal,
    ) -> Result<Arc<dyn QueueStore>, String> {
        Ok(self.0.clone())
    }
}

#[tokio::test]
async fn corrupt_and_undecodable_items_are_counted_deleted_and_skipped() {
    let t = Telemetry::new();
    let store = Arc::new(FakeStore {
        items: Mutex::new(BTreeMap::from([
            (1, Ok(spans(1, 2).payload.encode_to_vec())),
            (
                2,
                Err(StorageError::Corrupt("item 2 fails its checksum".into())),
            ),
            (3, Ok(vec![0xff, 0xff, 0xff])),
            (4, Ok(spans(4, 2).payload.encode_to_vec())),
        ])),
    });
    let down = Arc::new(Downstream::default());
    let queue = QueueSettings {
        num_consumers: 1,
        ..Default::default()
    };
    let r = runner(
        down.clone(),
        queue,
        Arc::new(FakeStorage(store.clone())),
        &t,
    );
    r.start().await.unwrap();
    wait_for(|| store.items.lock().unwrap().is_empty()).await;
    r.shutdown(Duration::from_secs(1)).await;
    assert_eq!(*down.received.lock().unwrap(), [1, 2, 4, 5]);
    assert_eq!(counter(&t, "otelcol_exporter_sent_spans"), 4);
    assert_eq!(counter(&t, "otelcol_exporter_send_failed_spans"), 4);
}

#[tokio::test]
async fn shutdown_keeps_the_item_in_flight_and_what_is_queued() {
    let dir = tempfile::tempdir().unwrap();
    let t = Telemetry::new();
    let gate = Arc::new(Semaphore::new(0)); // the backend hangs
    let down = Arc::new(Downstream {
        gate: Some(gate),
        ..Default::default()
    });
    let queue = QueueSettings {
        num_consumers: 1,
        ..Default::default()
    };
    let r = runner(down, queue.clone(), file_storage(dir.path()), &t);
    r.start().await.unwrap();
    for i in 0..3 {
        r.consume(spans(i * 10, 1)).await.unwrap();
    }
    r.shutdown(Duration::from_millis(200)).await;
    assert_eq!(counter(&t, "otelcol_exporter_send_failed_spans"), 0);

    let up = Arc::new(Downstream::default());
    let r = runner(up.clone(), queue, file_storage(dir.path()), &t);
    r.start().await.unwrap();
    wait_for(|| up.received.lock().unwrap().len() == 3).await;
    r.shutdown(Duration::from_secs(1)).await;
    assert_eq!(*up.received.lock().unwrap(), [0, 10, 20]);
}

/// With `sending_queue::batch`: items are merged and cut as from the in-memory queue; an item
/// stays on disk while a batch holding part of it was interrupted by shutdown, and is deleted
/// once every batch holding part of it is delivered.
#[tokio::test]
async fn batched_items_are_deleted_only_once_every_batch_holding_them_is_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let t = Telemetry::new();
    let batching = QueueSettings {
        batch: Some(kakehashi_component::exporterhelper::QueueBatchSettings {
            min_size: 8,
            max_size: 8,
            ..Default::default()
        }),
        ..Default::default()
    };
    let down = Arc::new(Downstream::default());
    down.down.store(true, Ordering::SeqCst);
    let r = runner(down.clone(), batching.clone(), file_storage(dir.path()), &t);
    r.start().await.unwrap();
    for i in 0..3 {
        r.consume(spans(i * 10, 3)).await.unwrap();
    }
    r.shutdown(Duration::from_secs(1)).await;
    assert!(down.received.lock().unwrap().is_empty());
    assert_eq!(
        counter(&t, "otelcol_exporter_send_failed_spans"),
        0,
        "kept, not dropped"
    );
    let pending = || pending_items(dir.path());
    assert_eq!(pending(), 3);

    let up = Arc::new(Downstream::default());
    let r = runner(up.clone(), batching, file_storage(dir.path()), &t);
    r.start().await.unwrap();
    wait_for(|| up.received.lock().unwrap().len() == 9).await;
    r.shutdown(Duration::from_secs(1)).await;
    assert_eq!(
        *up.received.lock().unwrap(),
        [0, 1, 2, 10, 11, 12, 20, 21, 22],
        "one batch of 8, then the last span after flush_timeout"
    );
    assert_eq!(counter(&t, "otelcol_exporter_sent_spans"), 9);
    assert_eq!(pending(), 0, "every item deleted once delivered");
}

/// Shutdown with a backend that hangs: the first interrupted batch stops the rest, which stays on
/// disk without an attempt, instead of one attempt per batch until the drain deadline.
#[tokio::test]
async fn batched_shutdown_stops_at_the_first_interrupted_export() {
    let dir = tempfile::tempdir().unwrap();
    let t = Telemetry::new();
    let batching = QueueSettings {
        num_consumers: 1,
        batch: Some(kakehashi_component::exporterhelper::QueueBatchSettings {
            min_size: 2,
            max_size: 2,
            ..Default::default()
        }),
        ..Default::default()
    };
    let s = ExporterHelperSettings {
        // Each attempt would hang for its whole timeout.
        timeout: D::from_secs(5),
        ..settings(batching)
    };
    let gate = Arc::new(Semaphore::new(0));
    let hanging = Arc::new(Downstream {
        gate: Some(gate),
        ..Default::default()
    });
    let r = ExporterRunner::with_storage(
        "otlp/test".into(),
        Signal::Traces,
        hanging.clone(),
        s,
        t.exporter("otlp/test", Signal::Traces),
        Some(file_storage(dir.path())),
    );
    r.start().await.unwrap();
    for i in 0..4 {
        r.consume(spans(i * 10, 3)).await.unwrap();
    }
    let started = std::time::Instant::now();
    r.shutdown(Duration::from_secs(60)).await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(30),
        "one interrupted export stops the rest: {took:?}"
    );
    assert_eq!(counter(&t, "otelcol_exporter_send_failed_spans"), 0);
    assert_eq!(pending_items(dir.path()), 4, "all kept for the next start");
}
