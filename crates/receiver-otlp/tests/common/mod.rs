//! Shared helpers for the receiver's socket tests.
#![allow(dead_code)]

use async_trait::async_trait;
use kakehashi_component::{Batch, BuildContext, ConsumeError, Consumer, Receiver, SignalConsumers};
use kakehashi_config::{ComponentId, Optional};
use kakehashi_pdata::proto::common::v1::{any_value, AnyValue, KeyValue};
use kakehashi_pdata::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use kakehashi_pdata::proto::metrics::v1::{
    metric, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use kakehashi_pdata::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
use kakehashi_pdata::{
    ExportLogsServiceRequest, ExportMetricsServiceRequest, ExportTraceServiceRequest,
};
use kakehashi_receiver_otlp::config::{GrpcServerConfig, HttpServerConfig, Protocols};
use kakehashi_receiver_otlp::{OtlpReceiver, OtlpReceiverConfig};
use kakehashi_telemetry::Telemetry;
use std::sync::{Arc, Mutex};

/// Records every batch; answers with `fail` if set.
#[derive(Default)]
pub struct Recorder {
    pub batches: Mutex<Vec<Batch>>,
    pub fail: Option<ConsumeError>,
}

impl Recorder {
    pub fn failing(e: ConsumeError) -> Arc<Recorder> {
        Arc::new(Recorder {
            batches: Mutex::default(),
            fail: Some(e),
        })
    }
    pub fn count(&self) -> usize {
        self.batches.lock().unwrap().len()
    }
    pub fn last(&self) -> Batch {
        self.batches
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("a batch")
    }
}

#[async_trait]
impl Consumer for Recorder {
    async fn consume(&self, batch: Batch) -> Result<(), ConsumeError> {
        self.batches.lock().unwrap().push(batch);
        match &self.fail {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
}

pub fn consumers(
    traces: Option<Arc<Recorder>>,
    metrics: Option<Arc<Recorder>>,
    logs: Option<Arc<Recorder>>,
) -> SignalConsumers {
    SignalConsumers {
        traces: traces.map(|c| c as Arc<dyn Consumer>),
        metrics: metrics.map(|c| c as Arc<dyn Consumer>),
        logs: logs.map(|c| c as Arc<dyn Consumer>),
    }
}

pub async fn start(
    grpc: Option<GrpcServerConfig>,
    http: Option<HttpServerConfig>,
    consumers: SignalConsumers,
) -> OtlpReceiver {
    let cfg = OtlpReceiverConfig {
        protocols: Protocols {
            grpc: Optional(grpc.map(|g| GrpcServerConfig {
                endpoint: "127.0.0.1:0".into(),
                ..g
            })),
            http: Optional(http.map(|h| HttpServerConfig {
                endpoint: "127.0.0.1:0".into(),
                ..h
            })),
        },
    };
    let ctx = BuildContext::new(ComponentId::new("otlp", None), Telemetry::new());
    let mut r = OtlpReceiver::new(&ctx, cfg, consumers);
    r.start().await.expect("receiver starts");
    r
}

pub const TRACE_ID: [u8; 16] = [
    0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c,
];
pub const SPAN_ID: [u8; 8] = [0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74];

pub fn traces(n: usize) -> ExportTraceServiceRequest {
    let spans = (0..n)
        .map(|i| Span {
            trace_id: TRACE_ID.to_vec(),
            span_id: SPAN_ID.to_vec(),
            name: format!("span-{i}"),
            attributes: vec![KeyValue {
                key: "k".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::StringValue("v".into())),
                }),
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

pub fn metrics(n: usize) -> ExportMetricsServiceRequest {
    let points = (0..n)
        .map(|i| NumberDataPoint {
            value: Some(number_data_point::Value::AsInt(i as i64)),
            ..Default::default()
        })
        .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "m".into(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: points,
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

pub fn logs(n: usize) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: (0..n).map(|_| LogRecord::default()).collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}
