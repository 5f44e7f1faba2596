//! Clients for the instance metadata services a process running in a cloud asks who it is:
//! EC2's IMDS ([`imds`]), the GCE metadata server ([`gce`]), Azure's IMDS ([`azure`]) and the
//! ECS task metadata endpoint ([`ecs`]), over one deadline-bounded, proxy-free HTTP client
//! ([`client`]). The `resourcedetection` processor's cloud detectors and the datadog
//! exporter's hostname detection both use them, with the timings of the Go SDKs otelcol uses.
//!
//! Every address comes from the same variables the SDKs read (`AWS_EC2_METADATA_SERVICE_ENDPOINT`,
//! `GCE_METADATA_HOST`, `ECS_CONTAINER_METADATA_URI_V4`), plus `KAKEHASHI_AZURE_METADATA_ENDPOINT`
//! for Azure, whose Go client has none. Tests point all of them at 127.0.0.1.

#![deny(unsafe_code)]

pub mod azure;
pub mod client;
pub mod ecs;
pub mod gce;
pub mod imds;
#[cfg(feature = "testing")]
pub mod testing;

pub use client::{FetchError, MetadataClient};

/// Reads one environment variable (the process's, or a test's map).
pub type Env<'a> = &'a (dyn Fn(&str) -> Option<String> + Send + Sync);
/// An [`Env`] to keep.
pub type SharedEnv = std::sync::Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// A variable's value when it is set and not empty.
fn non_empty(env: Env<'_>, key: &str) -> Option<String> {
    env(key).filter(|v| !v.trim().is_empty())
}
