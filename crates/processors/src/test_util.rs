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

/// Attributes as (key, value as text) pairs, for comparing.
pub(crate) fn texts(kvs: &[KeyValue]) -> Vec<(String, String)> {
    kvs.iter()
        .map(|kv| {
            (
                kv.key.clone(),
                kakehashi_pdata::go_text::as_string(kv.value.as_ref()),
            )
        })
        .collect()
}

/// Expected (key, value) pairs, owned.
pub(crate) fn owned_pairs(want: &[(&str, &str)]) -> Vec<(String, String)> {
    want.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// An attribute with a value of any type.
pub(crate) fn kv_of(key: &str, v: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}
