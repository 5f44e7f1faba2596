//! Topology: validated config → running pipelines.
//!
//! ```text
//! receiver ──► fan-out per signal ──► processors (inline, in order) ──► fan-out
//!          ──► exporter runner (sending_queue → retry → timeout) ──► exporter
//! ```
//! A connector is a pipeline's exporter and other pipelines' receiver (`graph`): the pipelines
//! and connectors are built downstream first and stopped upstream first.
//!
//! Backpressure: every buffer is bounded; a full one answers a retryable error that receivers
//! turn into gRPC `UNAVAILABLE` / HTTP 503.

mod backoff;
mod counted;
mod factories;
mod fanout;
mod graph;
mod resolve;
mod runner;
mod service;
mod topology;

pub use factories::Factories;
pub use fanout::Fanout;
pub use graph::{ConnectorInstance, GraphNode, PipelineGraph};
pub use resolve::{resolve, ComponentConfig, Pipeline, ResolvedConfig};
pub use runner::{ExporterRunner, DEFAULT_DRAIN_DEADLINE};
pub use service::{PipelineConfig, ServiceConfig};
pub use topology::{BuildOptions, FeatureGates, Topology};
