//! pdata: the OTLP protobuf types used end to end, plus the operations that every component needs
//! on them (which signal, how many items, splitting into chunks).
//!
//! We do not define an event model of our own: a batch is an `Export*ServiceRequest` exactly as it
//! arrived on the wire, so a request can be forwarded without conversion.

pub use opentelemetry_proto::tonic as proto;
pub use proto::collector::logs::v1::ExportLogsServiceRequest;
pub use proto::collector::metrics::v1::ExportMetricsServiceRequest;
pub use proto::collector::trace::v1::ExportTraceServiceRequest;

pub mod attrs;
mod count;
pub mod doubles;
pub mod go_text;
pub mod sampling;
mod split;
mod utf8_repair;

pub use count::ItemCount;
pub use split::split_off_front;
pub use utf8_repair::{repair_invalid_utf8, OtlpRequest};

use std::fmt;

/// The three telemetry signals a pipeline can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Signal {
    Traces,
    Metrics,
    Logs,
}

impl Signal {
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }

    /// The otelcol metric suffix for items of this signal (`otelcol_receiver_accepted_<suffix>`).
    pub fn item_metric_suffix(self) -> &'static str {
        match self {
            Signal::Traces => "spans",
            Signal::Metrics => "metric_points",
            Signal::Logs => "log_records",
        }
    }

    pub fn parse(s: &str) -> Option<Signal> {
        match s {
            "traces" => Some(Signal::Traces),
            "metrics" => Some(Signal::Metrics),
            "logs" => Some(Signal::Logs),
            _ => None,
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One request's worth of telemetry of a single signal.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    Traces(ExportTraceServiceRequest),
    Metrics(ExportMetricsServiceRequest),
    Logs(ExportLogsServiceRequest),
}

impl Payload {
    pub fn signal(&self) -> Signal {
        match self {
            Payload::Traces(_) => Signal::Traces,
            Payload::Metrics(_) => Signal::Metrics,
            Payload::Logs(_) => Signal::Logs,
        }
    }

    /// Items as otelcol counts them: spans, data points, log records.
    pub fn item_count(&self) -> usize {
        match self {
            Payload::Traces(r) => r.item_count(),
            Payload::Metrics(r) => r.item_count(),
            Payload::Logs(r) => r.item_count(),
        }
    }

    /// Calls `f` with every resource (an absent one is created empty first).
    pub fn for_each_resource(&mut self, mut f: impl FnMut(&mut proto::resource::v1::Resource)) {
        use proto::resource::v1::Resource;
        match self {
            Payload::Traces(r) => r
                .resource_spans
                .iter_mut()
                .for_each(|rs| f(rs.resource.get_or_insert_with(Resource::default))),
            Payload::Metrics(r) => r
                .resource_metrics
                .iter_mut()
                .for_each(|rm| f(rm.resource.get_or_insert_with(Resource::default))),
            Payload::Logs(r) => r
                .resource_logs
                .iter_mut()
                .for_each(|rl| f(rl.resource.get_or_insert_with(Resource::default))),
        }
    }

    /// An empty payload of the given signal.
    pub fn empty(signal: Signal) -> Payload {
        match signal {
            Signal::Traces => Payload::Traces(Default::default()),
            Signal::Metrics => Payload::Metrics(Default::default()),
            Signal::Logs => Payload::Logs(Default::default()),
        }
    }

    /// Appends `other` (which must be of the same signal) without merging identical resources,
    /// as otelcol's batch processor does.
    pub fn append(&mut self, other: Payload) {
        match (self, other) {
            (Payload::Traces(a), Payload::Traces(b)) => a.resource_spans.extend(b.resource_spans),
            (Payload::Metrics(a), Payload::Metrics(b)) => {
                a.resource_metrics.extend(b.resource_metrics)
            }
            (Payload::Logs(a), Payload::Logs(b)) => a.resource_logs.extend(b.resource_logs),
            (a, b) => panic!(
                "append of {} to {}: pipelines never mix signals",
                b.signal(),
                a.signal()
            ),
        }
    }

    /// Removes and returns the first `max_items` items (see [`split_off_front`]).
    pub fn split_front(&mut self, max_items: usize) -> Payload {
        match self {
            Payload::Traces(r) => Payload::Traces(split_off_front(r, max_items)),
            Payload::Metrics(r) => Payload::Metrics(split_off_front(r, max_items)),
            Payload::Logs(r) => Payload::Logs(split_off_front(r, max_items)),
        }
    }

    /// Encoded protobuf size, for byte-based accounting.
    pub fn encoded_len(&self) -> usize {
        use prost::Message;
        match self {
            Payload::Traces(r) => r.encoded_len(),
            Payload::Metrics(r) => r.encoded_len(),
            Payload::Logs(r) => r.encoded_len(),
        }
    }

    /// The OTLP protobuf encoding (the `Export*ServiceRequest` message), as the persistent
    /// sending queue stores it.
    pub fn encode_to_vec(&self) -> Vec<u8> {
        use prost::Message;
        match self {
            Payload::Traces(r) => r.encode_to_vec(),
            Payload::Metrics(r) => r.encode_to_vec(),
            Payload::Logs(r) => r.encode_to_vec(),
        }
    }

    /// Decodes what [`Payload::encode_to_vec`] produced for `signal`.
    pub fn decode(signal: Signal, bytes: &[u8]) -> Result<Payload, prost::DecodeError> {
        use prost::Message;
        Ok(match signal {
            Signal::Traces => Payload::Traces(ExportTraceServiceRequest::decode(bytes)?),
            Signal::Metrics => Payload::Metrics(ExportMetricsServiceRequest::decode(bytes)?),
            Signal::Logs => Payload::Logs(ExportLogsServiceRequest::decode(bytes)?),
        })
    }
}

impl From<ExportTraceServiceRequest> for Payload {
    fn from(r: ExportTraceServiceRequest) -> Self {
        Payload::Traces(r)
    }
}
impl From<ExportMetricsServiceRequest> for Payload {
    fn from(r: ExportMetricsServiceRequest) -> Self {
        Payload::Metrics(r)
    }
}
impl From<ExportLogsServiceRequest> for Payload {
    fn from(r: ExportLogsServiceRequest) -> Self {
        Payload::Logs(r)
    }
}
