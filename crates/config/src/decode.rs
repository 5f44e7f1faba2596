//! Decoding a subtree into a component's config struct.

use crate::error::ConfigErrors;
use crate::node::Node;
use serde::de::DeserializeOwned;

/// Decodes `node` into `T`. `path` is the otelcol path of `node` (e.g. `exporters::otlp/2`), used
/// as the prefix of every error. Unknown keys (all of them), type errors and bad values are
/// reported with path and location.
pub fn decode<T: DeserializeOwned>(node: &Node, path: &str) -> Result<T, ConfigErrors> {
    let _ = (node, path);
    todo!("config helper implements")
}
