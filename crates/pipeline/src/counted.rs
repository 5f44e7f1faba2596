//! otelcol's processor item counts (`otelcol_processor_incoming_items` and
//! `otelcol_processor_outgoing_items`, by `processor` and `otel_signal`): a consumer in front of
//! each processor counts what it is given, one in front of its next consumer what it passes on.
//! Their difference is what the processor dropped or filtered.

use async_trait::async_trait;
use kakehashi_component::{Batch, ConsumeError, Consumer};
use kakehashi_config::ComponentId;
use kakehashi_pdata::Signal;
use kakehashi_telemetry::Telemetry;
use prometheus::IntCounter;
use std::sync::Arc;

pub(crate) struct Counted {
    inner: Arc<dyn Consumer>,
    items: IntCounter,
}

#[async_trait]
impl Consumer for Counted {
    async fn consume(&self, batch: Batch) -> Result<(), ConsumeError> {
        self.items.inc_by(batch.item_count() as u64);
        self.inner.consume(batch).await
    }

    async fn wait_for_room(&self, batch: &Batch) -> bool {
        self.inner.wait_for_room(batch).await
    }
}

/// Which side of a processor a [`Counted`] sits on.
pub(crate) enum Side {
    /// In front of the processor: `otelcol_processor_incoming_items`.
    Incoming,
    /// In front of its next consumer: `otelcol_processor_outgoing_items`.
    Outgoing,
}

/// `inner`, counting the items passing on `side` of processor `id`.
pub(crate) fn counted(
    inner: Arc<dyn Consumer>,
    side: Side,
    telemetry: &Telemetry,
    id: &ComponentId,
    signal: Signal,
) -> Arc<dyn Consumer> {
    let (name, help) = match side {
        Side::Incoming => (
            "otelcol_processor_incoming_items",
            "Number of items passed to the processor.",
        ),
        Side::Outgoing => (
            "otelcol_processor_outgoing_items",
            "Number of items emitted from the processor.",
        ),
    };
    let items = telemetry
        .counter_vec(name, help, &["processor", "otel_signal"])
        .with_label_values(&[id.to_string().as_str(), signal.as_str()]);
    Arc::new(Counted { inner, items })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kakehashi_pdata::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use kakehashi_pdata::ExportTraceServiceRequest;

    struct Keep;
    #[async_trait]
    impl Consumer for Keep {
        async fn consume(&self, _batch: Batch) -> Result<(), ConsumeError> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn counts_items_by_processor_and_signal() {
        let t = Telemetry::new();
        let id = ComponentId::new("filter", Some("drop"));
        let c = counted(Arc::new(Keep), Side::Incoming, &t, &id, Signal::Traces);
        let spans = |n| {
            Batch::new(ExportTraceServiceRequest {
                resource_spans: vec![ResourceSpans {
                    scope_spans: vec![ScopeSpans {
                        spans: vec![Span::default(); n],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            })
        };
        c.consume(spans(3)).await.unwrap();
        c.consume(spans(2)).await.unwrap();
        assert_eq!(
            t.counter_value(
                "otelcol_processor_incoming_items",
                &[("processor", "filter/drop"), ("otel_signal", "traces")]
            ),
            Some(5)
        );
    }
}
