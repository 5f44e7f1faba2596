//! Helpers shared by the processors' unit tests.

use async_trait::async_trait;
use kakehashi_component::{Batch, ConsumeError, Consumer};
use kakehashi_pdata::proto::common::v1::{any_value::Value, AnyValue, KeyValue};
use std::sync::Mutex;

/// The next consumer: records every batch it is given and accepts it.
#[derive(Default)]
pub(crate) struct Sink(pub Mutex<Vec<Batch>>);

#[async_trait]
impl Consumer for Sink {
    async fn consume(&self, b: Batch) -> Result<(), ConsumeError> {
        self.0.lock().expect("lock").push(b);
        Ok(())
    }
}

impl Sink {
    /// The batches received so far, leaving none.
    pub(crate) fn taken(&self) -> Vec<Batch> {
        std::mem::take(&mut *self.0.lock().expect("lock"))
    }
}

/// An attribute with a value of any type.
pub(crate) fn kv_of(key: &str, v: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}
