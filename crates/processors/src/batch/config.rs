//! `batch` config with otelcol's keys, defaults and validation messages.

use kakehashi_config::{Duration, Validate};
use serde::Deserialize;
use std::collections::HashSet;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    pub timeout: Duration,
    pub send_batch_size: u32,
    pub send_batch_max_size: u32,
    pub metadata_keys: Vec<String>,
    pub metadata_cardinality_limit: u32,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            timeout: Duration::from_millis(200),
            send_batch_size: 8192,
            send_batch_max_size: 0,
            metadata_keys: Vec::new(),
            metadata_cardinality_limit: 1000,
        }
    }
}

impl Validate for BatchConfig {
    // `timeout must be greater or equal to 0` cannot occur: our Duration is unsigned.
    fn validate(&self) -> Vec<String> {
        let mut errs = Vec::new();
        let mut seen = HashSet::new();
        for k in &self.metadata_keys {
            let l = k.to_lowercase();
            if !seen.insert(l.clone()) {
                errs.push(format!(
                    "duplicate entry in metadata_keys: {l:?} (case-insensitive)"
                ));
                break;
            }
        }
        if self.send_batch_max_size > 0 && self.send_batch_max_size < self.send_batch_size {
            errs.push("send_batch_max_size must be greater or equal to send_batch_size".into());
        }
        errs
    }
}
