//! Extensions: components outside the pipelines (`service.extensions`).

pub mod health_check;

pub use health_check::HealthCheckExtensionFactory;
