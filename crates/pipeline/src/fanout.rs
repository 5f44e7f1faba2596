//! Fan-out: one consumer feeding several (a receiver shared by pipelines, a pipeline with several
//! exporters).

use async_trait::async_trait;
use kakehashi_component::{Batch, ConsumeError, Consumer};
use std::sync::Arc;

/// Sends each batch to every consumer in turn. The batch is cloned for all but the last one.
/// Any error is returned (the first one), after every consumer has been tried, as otelcol's
/// fan-out does: a client retry may then duplicate data in the consumers that succeeded.
pub struct Fanout {
    consumers: Vec<Arc<dyn Consumer>>,
}

impl Fanout {
    /// A single consumer is returned as-is, without a fan-out layer.
    pub fn build(mut consumers: Vec<Arc<dyn Consumer>>) -> Arc<dyn Consumer> {
        if consumers.len() == 1 {
            return consumers.pop().expect("one consumer");
        }
        Arc::new(Fanout { consumers })
    }
}

#[async_trait]
impl Consumer for Fanout {
    async fn consume(&self, batch: Batch) -> Result<(), ConsumeError> {
        let mut first_err = None;
        let last = self.consumers.len().saturating_sub(1);
        let mut batch = Some(batch);
        for (i, c) in self.consumers.iter().enumerate() {
            let b = if i == last {
                batch.take().expect("batch kept for the last consumer")
            } else {
                batch.clone().expect("batch kept for the last consumer")
            };
            if let Err(e) = c.consume(b).await {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}
