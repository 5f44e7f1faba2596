//! otelcol-compatible configuration.
//!
//! Loading goes in stages, each with one job, and every stage reports *all* of its errors:
//! 1. [`yaml`]: each `--config` source is parsed into a [`Node`] tree that remembers `file:line:col`.
//! 2. [`merge`]: sources deep-merge in order (maps merge, scalars and lists replace), then `--set`.
//! 3. [`expand`]: `${env:VAR}`, `${env:VAR:-default}`, `${VAR}` and `$$`, with otelcol's typing.
//! 4. [`decode`]: a component's subtree is decoded into its serde config struct. Unknown keys are
//!    errors (all of them listed), there is no weak typing, and every error carries its path
//!    (`exporters::otlp/2::endpoint`) and position.
//!
//! The types components put in their config structs live here too: [`Duration`] (Go durations; a
//! bare integer means nanoseconds), [`Secret`] (redacted everywhere), [`Optional`] (a section that
//! is switched on by its mere presence), [`AnyValue`] (a YAML value of any type).

mod any_value;
mod de;
mod de_access;
mod decode;
mod duration;
mod error;
mod expand;
mod id;
mod load;
mod map_list;
mod merge;
mod node;
mod optional;
mod resolve;
mod secret;
mod yaml;

pub use any_value::AnyValue;
pub use decode::decode;
pub use duration::{parse_go_duration, Duration};
pub use error::{ConfigError, ConfigErrors, Location};
pub use expand::{expand, EnvLookup, ProcessEnv, RecordingProcessEnv};
pub use id::{ComponentId, Kind, PipelineId};
pub use load::{load, ConfigSource};
pub use map_list::MapList;
pub use node::{Node, NodeKind, Scalar, ScalarStyle};
pub use optional::Optional;
pub use secret::Secret;

/// Semantic checks a config struct runs after decoding (otelcol's `Validate()`).
///
/// Each returned message is reported with the component's path as prefix, e.g.
/// `processors::batch/datadog: send_batch_max_size must be greater or equal to send_batch_size`.
pub trait Validate {
    fn validate(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Decodes one YAML document straight into `T`, as a component's config subtree would be decoded
/// (no env expansion): for components' unit tests.
pub fn decode_yaml<T: serde::de::DeserializeOwned>(
    path: &str,
    text: &str,
) -> Result<T, ConfigErrors> {
    let node = yaml::parse("test.yaml", text)?;
    decode(&node, path)
}
