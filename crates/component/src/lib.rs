//! The contracts between the topology and the components.
//!
//! * [`Consumer`]: anything data can be pushed into (a processor, a fan-out, an exporter runner).
//! * [`Receiver`], [`Processor`], [`Exporter`], [`Connector`], [`Extension`]: the running parts.
//! * [`factory`]: one factory per component type — type name, supported signals, config decoding
//!   and validation, and build. The binary lists its factories explicitly (`components.rs`).
//! * [`auth`]: authenticator extensions as receivers and exporters see them.
//! * [`exporterhelper`]: the `timeout`, `retry_on_failure` and `sending_queue` settings that every
//!   exporter embeds; the pipeline crate runs them.
//! * [`service_info`]: what the service tells extensions about itself (zpages).
//! * [`storage`]: storage extensions (`file_storage`) as the persistent sending queue sees them.

pub mod auth;
pub mod consumer;
pub mod error;
pub mod exporterhelper;
pub mod factory;
pub mod service_info;
pub mod storage;

pub use auth::{AuthConfig, ClientAuthenticator, Extensions, ServerAuthenticator};
pub use consumer::{Batch, BatchIdentity, ClientMetadata, Consumer, SignalConsumers};
pub use error::{BuildError, ConsumeError, ExportError};
pub use factory::{
    config_as, decode_config, AnyConfig, BuildContext, BuiltExporter, Connector, ConnectorFactory,
    Exporter, ExporterFactory, Extension, ExtensionFactory, FactoryInfo, Processor,
    ProcessorFactory, Receiver, ReceiverFactory,
};
pub use kakehashi_pdata::{Payload, Signal};
pub use service_info::{BuildInfo, FeatureGateInfo, PipelineInfo, ServiceInfo};
pub use storage::{QueueStore, Storage, StorageError, StoredItem};
