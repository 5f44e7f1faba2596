//! Extensions: components outside the pipelines (`service.extensions`).

pub mod bearertokenauth;
pub mod cmdline;
pub mod file_storage;
pub mod health_check;
pub mod pprof;
pub mod zpages;

pub use bearertokenauth::BearerTokenAuthExtensionFactory;
pub use file_storage::FileStorageExtensionFactory;
pub use health_check::HealthCheckExtensionFactory;
pub use pprof::PprofExtensionFactory;
pub use zpages::ZPagesExtensionFactory;
