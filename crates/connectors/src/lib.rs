//! Connectors: components that are the exporter of one pipeline and the receiver of others.
//!
//! * [`forward`]: passes each signal on unchanged, to join or split pipelines of one signal.

#![deny(unsafe_code)]

pub mod forward;

pub use forward::ForwardConnectorFactory;
