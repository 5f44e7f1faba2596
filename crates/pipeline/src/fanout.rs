//! Fan-out: one consumer feeding several (a receiver shared by pipelines, a pipeline with several
//! exporters).

use async_trait::async_trait;
use kakehashi_component::{Batch, BatchIdentity, ConsumeError, Consumer};
use std::sync::{Arc, Mutex};

/// Sends each batch to every consumer in turn. The batch is cloned (a reference count) for
/// all but the last one. After every consumer has been tried, a refusal is returned: a
/// retryable one if any consumer may take the batch on a retry, else a permanent one. (otelcol
/// combines the errors, permanent if any is, so one consumer's permanent refusal makes the
/// batch processor drop the batch for the others too; here a consumer that refused for good
/// is simply not asked again.)
///
/// A batch that some consumers took and others refused is remembered, so that the batch
/// processor's retry of that same batch (it resends a clone, which shares the batch's
/// identity even when a processor in between modified the payload) reaches only the consumers
/// that refused it: a healthy exporter next to one whose queue is full must not get the batch
/// again on every retry. A client's retry is a new batch and reaches every consumer again, as
/// in otelcol.
pub struct Fanout {
    consumers: Vec<Arc<dyn Consumer>>,
    partial: Mutex<Vec<Delivered>>,
}

/// Which consumers already took a batch that others refused.
struct Delivered {
    batch: BatchIdentity,
    took: Vec<bool>,
}

impl Fanout {
    /// A single consumer is returned as-is, without a fan-out layer.
    pub fn build(mut consumers: Vec<Arc<dyn Consumer>>) -> Arc<dyn Consumer> {
        if consumers.len() == 1 {
            return consumers.pop().expect("one consumer");
        }
        Arc::new(Fanout {
            consumers,
            partial: Mutex::new(Vec::new()),
        })
    }

    /// The consumers that already took this batch (and forgets it), pruning entries of batches
    /// no holder keeps any more (delivered elsewhere or dropped).
    fn take_delivered(&self, batch: &Batch) -> Vec<bool> {
        let mut partial = self.partial.lock().unwrap_or_else(|p| p.into_inner());
        partial.retain(|d| d.batch.alive());
        match partial.iter().position(|d| d.batch.is(batch)) {
            Some(i) => partial.swap_remove(i).took,
            None => vec![false; self.consumers.len()],
        }
    }

    fn remember(&self, batch: BatchIdentity, took: Vec<bool>) {
        let mut partial = self.partial.lock().unwrap_or_else(|p| p.into_inner());
        partial.push(Delivered { batch, took });
    }
}

#[async_trait]
impl Consumer for Fanout {
    async fn consume(&self, batch: Batch) -> Result<(), ConsumeError> {
        let mut took = self.take_delivered(&batch);
        let identity = batch.identity();
        let (mut retryable, mut permanent) = (None, None);
        let last = took.iter().rposition(|t| !t).unwrap_or(0);
        let mut batch = Some(batch);
        for (i, c) in self.consumers.iter().enumerate() {
            if took[i] {
                continue;
            }
            let b = if i == last {
                batch.take().expect("batch kept for the last consumer")
            } else {
                batch.clone().expect("batch kept for the last consumer")
            };
            match c.consume(b).await {
                Ok(()) => took[i] = true,
                Err(e) if e.permanent => {
                    // Done with it: a retry cannot help this consumer (it counted the loss).
                    took[i] = true;
                    permanent.get_or_insert(e);
                }
                Err(e) => {
                    retryable.get_or_insert(e);
                }
            }
        }
        match (retryable, permanent) {
            (None, None) => Ok(()),
            (Some(e), _) => {
                if took.iter().any(|t| *t) {
                    self.remember(identity, took);
                }
                Err(e)
            }
            (None, Some(e)) => Err(e),
        }
    }

    /// Room in every consumer that has not taken the batch yet (a retry reaches only those);
    /// `false` if any of them cannot tell.
    async fn wait_for_room(&self, batch: &Batch) -> bool {
        let took = {
            let partial = self.partial.lock().unwrap_or_else(|p| p.into_inner());
            partial
                .iter()
                .find(|d| d.batch.is(batch))
                .map(|d| d.took.clone())
        };
        let waiting = self
            .consumers
            .iter()
            .enumerate()
            .filter(|(i, _)| !took.as_ref().is_some_and(|t| t[*i]))
            .map(|(_, c)| c.wait_for_room(batch));
        futures::future::join_all(waiting)
            .await
            .into_iter()
            .all(|known| known)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kakehashi_pdata::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use kakehashi_pdata::{ExportTraceServiceRequest, Payload};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts calls; refuses (retryably) while `refuse` is above zero, counting it down. Has
    /// room at once if `room`, else waits for it forever (a queue that never drains).
    #[derive(Default)]
    struct Counter {
        calls: AtomicUsize,
        refuse: AtomicUsize,
        room: bool,
        /// Refuses everything for good.
        broken: bool,
    }

    #[async_trait]
    impl Consumer for Counter {
        async fn consume(&self, _b: Batch) -> Result<(), ConsumeError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.broken {
                return Err(ConsumeError::permanent("cannot take this data"));
            }
            let refused = self
                .refuse
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if refused {
                Err(ConsumeError::retryable("sending queue is full"))
            } else {
                Ok(())
            }
        }

        async fn wait_for_room(&self, _b: &Batch) -> bool {
            if !self.room {
                std::future::pending::<()>().await;
            }
            true
        }
    }

    fn batch() -> Batch {
        Batch::new(ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span::default()],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        })
    }

    fn calls(c: &Counter) -> usize {
        c.calls.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn a_retried_batch_reaches_only_the_consumers_that_refused_it() {
        let healthy = Arc::new(Counter::default());
        let full = Arc::new(Counter::default());
        full.refuse.store(2, Ordering::SeqCst);
        let fanout = Fanout::build(vec![healthy.clone(), full.clone()]);
        let b = batch();
        fanout.consume(b.clone()).await.expect_err("first refusal");
        fanout.consume(b.clone()).await.expect_err("second refusal");
        fanout.consume(b.clone()).await.expect("third attempt");
        assert_eq!(calls(&healthy), 1, "the healthy consumer took it once");
        assert_eq!(calls(&full), 3);
        // Delivered everywhere: the same payload sent again is a new delivery.
        fanout.consume(b).await.expect("again");
        assert_eq!((calls(&healthy), calls(&full)), (2, 4));
    }

    /// A processor between the batch processor and the fan-out (resourcedetection,
    /// transform, ...) modifies each attempt's copy of the payload: the retry is still that
    /// batch, and the consumer that took it does not get it again.
    #[tokio::test]
    async fn a_retried_batch_modified_on_the_way_is_still_recognised() {
        let healthy = Arc::new(Counter::default());
        let full = Arc::new(Counter::default());
        full.refuse.store(1, Ordering::SeqCst);
        let fanout = Fanout::build(vec![healthy.clone(), full.clone()]);
        let kept = batch(); // the batch processor's copy, resent on retry
        for attempt in 0..2 {
            let mut b = kept.clone();
            let Payload::Traces(t) = b.payload_mut() else {
                unreachable!()
            };
            t.resource_spans[0].schema_url = format!("attempt {attempt}");
            assert!(!Arc::ptr_eq(&b.payload, &kept.payload), "a new payload");
            let _ = fanout.consume(b).await;
        }
        assert_eq!((calls(&healthy), calls(&full)), (1, 2));
    }

    /// One consumer refusing for good, another for now: the batch is retried (a retryable
    /// error), and the retry reaches only the one that may take it, whatever their order.
    #[tokio::test]
    async fn a_permanent_refusal_does_not_cost_the_others_their_retry() {
        for broken_first in [true, false] {
            let broken = Arc::new(Counter {
                broken: true,
                ..Default::default()
            });
            let full = Arc::new(Counter::default());
            full.refuse.store(1, Ordering::SeqCst);
            let healthy = Arc::new(Counter::default());
            let consumers: Vec<Arc<dyn Consumer>> = if broken_first {
                vec![broken.clone(), full.clone(), healthy.clone()]
            } else {
                vec![full.clone(), healthy.clone(), broken.clone()]
            };
            let fanout = Fanout::build(consumers);
            let b = batch();
            let err = fanout.consume(b.clone()).await.unwrap_err();
            assert!(!err.permanent, "{err}");
            fanout.consume(b.clone()).await.expect("the retry");
            assert_eq!((calls(&broken), calls(&full), calls(&healthy)), (1, 2, 1));
            // Refused for good by its only refuser: permanent.
            let only_broken = Fanout::build(vec![healthy.clone(), broken.clone()]);
            assert!(only_broken.consume(batch()).await.unwrap_err().permanent);
        }
    }

    #[tokio::test]
    async fn another_payload_reaches_every_consumer() {
        let healthy = Arc::new(Counter::default());
        let full = Arc::new(Counter::default());
        full.refuse.store(1, Ordering::SeqCst);
        let fanout = Fanout::build(vec![full.clone(), healthy.clone()]);
        fanout.consume(batch()).await.expect_err("refused");
        // A client's retry: equal data, a new payload.
        fanout.consume(batch()).await.expect("delivered");
        assert_eq!((calls(&healthy), calls(&full)), (2, 2));
    }

    #[tokio::test]
    async fn a_forgotten_payload_is_pruned() {
        let healthy = Arc::new(Counter::default());
        let full = Arc::new(Counter::default());
        full.refuse.store(1, Ordering::SeqCst);
        let fanout = Fanout {
            consumers: vec![healthy.clone(), full.clone()],
            partial: Mutex::new(Vec::new()),
        };
        fanout.consume(batch()).await.expect_err("refused");
        assert_eq!(fanout.partial.lock().expect("lock").len(), 1);
        // The refused batch was dropped by its sender; the next call forgets it.
        fanout.consume(batch()).await.expect("delivered");
        assert!(fanout.partial.lock().expect("lock").is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn room_is_awaited_only_in_the_consumers_that_refused() {
        let took_it = Arc::new(Counter::default()); // its room never comes
        let full = Arc::new(Counter {
            room: true,
            ..Default::default()
        });
        full.refuse.store(1, Ordering::SeqCst);
        let fanout = Fanout::build(vec![took_it.clone(), full.clone()]);
        let b = batch();
        let never = std::time::Duration::from_secs(60);
        // Before any delivery every consumer counts.
        assert!(tokio::time::timeout(never, fanout.wait_for_room(&b))
            .await
            .is_err());
        fanout.consume(b.clone()).await.expect_err("refused by one");
        let room = tokio::time::timeout(never, fanout.wait_for_room(&b)).await;
        assert_eq!(room, Ok(true), "only the refusing consumer's room counts");
    }
}
