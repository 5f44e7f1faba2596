//! Decoding a subtree into a component's config struct.
//!
//! serde stops a struct at its first error, but users want every error at once. So decoding runs
//! in passes: each failed pass records its error and marks the failing path as skipped (as if
//! the key were absent, so the field's default applies), then decodes again. Unknown keys never
//! stop a pass: the deserializer records them and hides them from serde.

use crate::de::{Ctx, De, ErrKind};
use crate::error::{ConfigError, ConfigErrors};
use crate::node::Node;
use serde::de::DeserializeOwned;

/// A bound on passes; each pass skips one more path, so real configs never get close.
const MAX_PASSES: usize = 1000;

/// Decodes `node` into `T`. `path` is the otelcol path of `node` (e.g. `exporters::otlp/2`), used
/// as the prefix of every error. Unknown keys (all of them), type errors and bad values are
/// reported with path and location.
pub fn decode<T: DeserializeOwned>(node: &Node, path: &str) -> Result<T, ConfigErrors> {
    let mut ctx = Ctx::default();
    let mut value_errors: Vec<ConfigError> = Vec::new();
    for _ in 0..MAX_PASSES {
        let err = match T::deserialize(De::root(node, path, &ctx)) {
            Ok(v) => {
                let mut all = ctx.errors.take();
                all.extend(value_errors);
                return ConfigErrors(all).into_result(v);
            }
            Err(e) => e,
        };
        let err_path = err.path.clone().unwrap_or_else(|| path.to_owned());
        let last_chance = err_path == path || ctx.skip.contains(&err_path);
        // A null value for a field is not an error (the default stays), unless it cannot be
        // skipped. An error at a path above an earlier error is usually its consequence
        // (e.g. `missing field` after we skipped the bad value), so it is not reported again.
        let is_consequence = value_errors
            .iter()
            .any(|e| is_at_or_below(&e.path, &err_path, path));
        if (err.kind != ErrKind::NullSkip || last_chance) && !is_consequence {
            let location = err.location.or_else(|| node.location.clone());
            value_errors.push(ConfigError::new(err_path.clone(), err.message).at(location));
        }
        if last_chance {
            break;
        }
        ctx.skip.insert(err_path);
    }
    let mut all = ctx.errors.take();
    all.extend(value_errors);
    Err(ConfigErrors(all))
}

/// Whether `path` is `ancestor` or lies below it (`root` is the path every error starts with).
fn is_at_or_below(path: &str, ancestor: &str, root: &str) -> bool {
    ancestor == root
        || path == ancestor
        || path
            .strip_prefix(ancestor)
            .is_some_and(|rest| rest.starts_with("::"))
}

#[cfg(test)]
mod tests;
