//! Extensions: components outside the pipelines (`service.extensions`).

pub mod bearertokenauth;
pub mod file_storage;
pub mod health_check;

pub use bearertokenauth::BearerTokenAuthExtensionFactory;
pub use file_storage::FileStorageExtensionFactory;
pub use health_check::HealthCheckExtensionFactory;
