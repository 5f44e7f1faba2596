use super::super::ExporterRunner;
use async_trait::async_trait;
use kakehashi_component::exporterhelper::{
    ExporterHelperSettings, QueueBatchSettings, QueueSettings, RetrySettings, Sizer,
};
use kakehashi_component::{Batch, ClientMetadata, Consumer, ExportError, Exporter};
use kakehashi_config::Duration as D;
use kakehashi_pdata::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
use kakehashi_pdata::{ExportTraceServiceRequest, Signal};
use kakehashi_telemetry::Telemetry;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `n` spans named `first`, `first + 1`, …, so that the order of what is exported shows.
fn spans(first: usize, n: usize) -> Batch {
    Batch::new(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: (first..first + n)
                    .map(|i| Span {
                        name: i.to_string(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

fn names(batch: &Batch) -> Vec<usize> {
    let kakehashi_component::Payload::Traces(req) = batch.payload.as_ref() else {
        panic!("traces")
    };
    req.resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .map(|s| s.name.parse().unwrap())
        .collect()
}

/// Records every exported batch's span names; answers with scripted results, then Ok.
#[derive(Default)]
struct Recorder {
    batches: Mutex<Vec<Vec<usize>>>,
    metadata: Mutex<Vec<ClientMetadata>>,
    /// Panics in `export` (an exporter bug).
    panics: bool,
    /// The encoded size of each exported batch.
    bytes: Mutex<Vec<usize>>,
    script: Mutex<VecDeque<Result<(), ExportError>>>,
}

#[async_trait]
impl Exporter for Recorder {
    async fn export(&self, batch: &Batch) -> Result<(), ExportError> {
        assert!(!self.panics, "an exporter bug");
        self.metadata.lock().unwrap().push(batch.metadata.clone());
        let r = self.script.lock().unwrap().pop_front().unwrap_or(Ok(()));
        if r.is_ok() {
            self.batches.lock().unwrap().push(names(batch));
            self.bytes.lock().unwrap().push(batch.payload.encoded_len());
        }
        r
    }
}

impl Recorder {
    fn sizes(&self) -> Vec<usize> {
        self.batches.lock().unwrap().iter().map(Vec::len).collect()
    }
}

fn runner(
    exp: Arc<Recorder>,
    batch: QueueBatchSettings,
    queue: QueueSettings,
    t: &Telemetry,
) -> ExporterRunner {
    let settings = ExporterHelperSettings {
        timeout: D::from_secs(5),
        retry: RetrySettings {
            enabled: false,
            ..Default::default()
        },
        queue: QueueSettings {
            batch: Some(batch),
            ..queue
        },
    };
    ExporterRunner::new(
        "test".into(),
        Signal::Traces,
        exp,
        settings,
        t.exporter("test", Signal::Traces),
    )
}

fn items(min: i64, max: i64) -> QueueBatchSettings {
    QueueBatchSettings {
        min_size: min,
        max_size: max,
        ..Default::default()
    }
}

fn counter(t: &Telemetry, name: &str) -> u64 {
    t.counter_value(name, &[("exporter", "test")]).unwrap_or(0)
}

async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

#[tokio::test(start_paused = true)]
async fn requests_are_merged_in_order_until_min_size() {
    let t = Telemetry::new();
    let exp = Arc::new(Recorder::default());
    let r = runner(exp.clone(), items(10, 0), QueueSettings::default(), &t);
    for i in 0..4 {
        r.consume(spans(i * 3, 3)).await.unwrap();
    }
    settle().await;
    assert_eq!(
        *exp.batches.lock().unwrap(),
        vec![(0..12).collect::<Vec<_>>()],
        "3 + 3 + 3 is below 10; the fourth request makes one batch of 12"
    );
    r.shutdown(Duration::from_secs(5)).await;
    assert_eq!(counter(&t, "otelcol_exporter_sent_spans"), 12);
}

#[tokio::test(start_paused = true)]
async fn batch_sizes_are_recorded_at_the_detailed_level_only() {
    for (level, recorded) in [
        (kakehashi_telemetry::config::MetricsLevel::Normal, false),
        (kakehashi_telemetry::config::MetricsLevel::Detailed, true),
    ] {
        let t = Telemetry::with_level(level);
        let exp = Arc::new(Recorder::default());
        let r = runner(exp.clone(), items(5, 0), QueueSettings::default(), &t);
        r.consume(spans(0, 6)).await.unwrap();
        r.shutdown(Duration::from_secs(5)).await;
        let text = t.encode_text();
        let count = "otelcol_exporter_queue_batch_send_size_count{exporter=\"test\"} 1";
        let bytes = format!(
            "otelcol_exporter_queue_batch_send_size_bytes_sum{{exporter=\"test\"}} {}",
            spans(0, 6).payload.encoded_len()
        );
        assert_eq!(text.contains(count), recorded, "{level:?}\n{text}");
        assert_eq!(text.contains(&bytes), recorded, "{level:?}\n{text}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_batch_below_min_size_goes_after_flush_timeout() {
    let t = Telemetry::new();
    let exp = Arc::new(Recorder::default());
    let r = runner(exp.clone(), items(100, 0), QueueSettings::default(), &t);
    r.consume(spans(0, 2)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    r.consume(spans(2, 2)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(40)).await;
    assert!(exp.sizes().is_empty(), "190 ms after the first request");
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        exp.sizes(),
        vec![4],
        "the default flush_timeout (200ms) counts from the batch's first request"
    );
    r.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn max_size_cuts_a_request_across_batches() {
    let t = Telemetry::new();
    let exp = Arc::new(Recorder::default());
    let r = runner(exp.clone(), items(5, 5), QueueSettings::default(), &t);
    r.consume(spans(0, 3)).await.unwrap();
    r.consume(spans(3, 9)).await.unwrap();
    settle().await;
    assert_eq!(
        *exp.batches.lock().unwrap(),
        vec![vec![0, 1, 2, 3, 4], vec![5, 6, 7, 8, 9]]
    );
    r.shutdown(Duration::from_secs(5)).await;
    assert_eq!(exp.sizes(), vec![5, 5, 2], "shutdown sends the open batch");
    assert_eq!(counter(&t, "otelcol_exporter_sent_spans"), 12);
}

#[tokio::test(start_paused = true)]
async fn bytes_sizer_keeps_every_batch_within_max_size() {
    let t = Telemetry::new();
    let exp = Arc::new(Recorder::default());
    let max = spans(0, 4).payload.encoded_len();
    let batch = QueueBatchSettings {
        sizer: Some(Sizer::Bytes),
        ..items(0, max as i64)
    };
    let r = runner(exp.clone(), batch, QueueSettings::default(), &t);
    r.consume(spans(10, 30)).await.unwrap();
    r.shutdown(Duration::from_secs(5)).await;
    let batches = exp.batches.lock().unwrap().clone();
    assert_eq!(
        batches.concat(),
        (10..40).collect::<Vec<_>>(),
        "in order, none lost"
    );
    let bytes = exp.bytes.lock().unwrap().clone();
    assert!(bytes.iter().all(|&b| b <= max), "{bytes:?} within {max}");
    assert!(
        bytes[..bytes.len() - 1].iter().all(|&b| b > max / 2),
        "cut close to {max}, not far below: {bytes:?}"
    );
    assert!(batches.len() >= 30 / 4, "{batches:?}");
}

#[tokio::test(start_paused = true)]
async fn a_caller_waiting_for_the_result_gets_the_error_of_any_batch_holding_its_data() {
    let t = Telemetry::new();
    let exp = Arc::new(Recorder::default());
    exp.script
        .lock()
        .unwrap()
        .extend([Ok(()), Err(ExportError::permanent("400 bad data"))]);
    let queue = QueueSettings {
        wait_for_result: true,
        num_consumers: 1,
        ..Default::default()
    };
    let r = Arc::new(runner(exp.clone(), items(4, 4), queue, &t));
    // Six spans: the first batch (4) is delivered, the second (the last 2 and 2 of the next
    // request) is refused.
    let first = tokio::spawn({
        let r = r.clone();
        async move { r.consume(spans(0, 6)).await }
    });
    settle().await;
    let second = tokio::spawn({
        let r = r.clone();
        async move { r.consume(spans(6, 2)).await }
    });
    let err = first.await.unwrap().unwrap_err();
    assert!(err.permanent);
    assert!(err.message.contains("400 bad data"), "{}", err.message);
    assert!(
        second.await.unwrap().is_err(),
        "its two spans were in the refused batch"
    );
    assert_eq!(exp.sizes(), vec![4]);
    assert_eq!(counter(&t, "otelcol_exporter_sent_spans"), 4);
    assert_eq!(counter(&t, "otelcol_exporter_send_failed_spans"), 4);
    r.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn queue_capacity_is_held_until_the_batch_holding_a_request_is_done() {
    let t = Telemetry::new();
    let exp = Arc::new(Recorder::default());
    let queue = QueueSettings {
        queue_size: 2,
        ..Default::default()
    };
    let r = runner(exp.clone(), items(100, 0), queue, &t);
    r.consume(spans(0, 1)).await.unwrap();
    r.consume(spans(1, 1)).await.unwrap();
    let err = r.consume(spans(2, 1)).await.unwrap_err();
    assert_eq!(
        err.message, "sending queue is full",
        "both requests wait in the open batch"
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(exp.sizes(), vec![2]);
    r.consume(spans(2, 1))
        .await
        .expect("room again once the batch was sent");
    r.shutdown(Duration::from_secs(5)).await;
    assert_eq!(counter(&t, "otelcol_exporter_sent_spans"), 3);
}

#[tokio::test(start_paused = true)]
async fn a_caller_is_not_told_ok_when_the_export_of_its_batch_died() {
    let t = Telemetry::new();
    let exp = Arc::new(Recorder {
        panics: true,
        ..Default::default()
    });
    let queue = QueueSettings {
        wait_for_result: true,
        ..Default::default()
    };
    let r = runner(exp, items(1, 0), queue, &t);
    let err = r.consume(spans(0, 2)).await.unwrap_err();
    assert!(!err.permanent);
    assert_eq!(err.message, "the export of a batch did not complete");
    r.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn a_merged_batch_keeps_client_metadata_only_when_every_request_had_the_same() {
    let t = Telemetry::new();
    let exp = Arc::new(Recorder::default());
    let r = runner(exp.clone(), items(4, 0), QueueSettings::default(), &t);
    let from = |tenant: &str, first: usize| {
        let mut b = spans(first, 2);
        b.metadata = ClientMetadata {
            headers: Arc::new([("x-tenant".to_string(), vec![tenant.to_string()])].into()),
            ..Default::default()
        };
        b
    };
    r.consume(from("a", 0)).await.unwrap();
    r.consume(from("a", 2)).await.unwrap();
    r.consume(from("a", 4)).await.unwrap();
    r.consume(from("b", 6)).await.unwrap();
    r.shutdown(Duration::from_secs(5)).await;
    let metadata = exp.metadata.lock().unwrap().clone();
    assert_eq!(metadata.len(), 2);
    assert_eq!(metadata[0], from("a", 0).metadata, "both from tenant a");
    assert_eq!(
        metadata[1],
        ClientMetadata::default(),
        "tenants a and b merged"
    );
}
