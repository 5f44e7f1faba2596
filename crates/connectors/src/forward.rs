//! The `forward` connector: what one pipeline exports, the pipelines that receive from it get,
//! unchanged. Used to run shared processing once and then branch, or to merge pipelines.

use async_trait::async_trait;
use kakehashi_component::{
    decode_config, AnyConfig, Batch, BuildContext, BuildError, Connector, ConnectorFactory,
    ConsumeError, Consumer, FactoryInfo,
};
use kakehashi_config::{ConfigErrors, Node, Validate};
use kakehashi_pdata::Signal;
use serde::Deserialize;
use std::sync::Arc;

/// `forward` has no keys; any key is an error.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardConfig {}

impl Validate for ForwardConfig {}

pub struct ForwardConnector {
    next: Arc<dyn Consumer>,
}

impl ForwardConnector {
    /// Passes what it consumes to `next` (also the Datadog connector's traces-to-traces half).
    pub fn new(next: Arc<dyn Consumer>) -> Self {
        ForwardConnector { next }
    }
}

#[async_trait]
impl Consumer for ForwardConnector {
    async fn consume(&self, batch: Batch) -> Result<(), ConsumeError> {
        self.next.consume(batch).await
    }
    /// A full sending queue behind the receiving pipelines is waited on as if it were ours.
    async fn wait_for_room(&self, batch: &Batch) -> bool {
        self.next.wait_for_room(batch).await
    }
}

impl Connector for ForwardConnector {}

pub struct ForwardConnectorFactory;

impl FactoryInfo for ForwardConnectorFactory {
    fn type_name(&self) -> &'static str {
        "forward"
    }
    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }
    fn decode(&self, node: &Node, path: &str) -> Result<AnyConfig, ConfigErrors> {
        decode_config::<ForwardConfig>(node, path)
    }
}

impl ConnectorFactory for ForwardConnectorFactory {
    fn pairs(&self) -> &'static [(Signal, Signal)] {
        &[
            (Signal::Traces, Signal::Traces),
            (Signal::Metrics, Signal::Metrics),
            (Signal::Logs, Signal::Logs),
        ]
    }
    fn build(
        &self,
        _ctx: &BuildContext,
        _cfg: &AnyConfig,
        _from: Signal,
        _to: Signal,
        next: Arc<dyn Consumer>,
    ) -> Result<Arc<dyn Connector>, BuildError> {
        Ok(Arc::new(ForwardConnector::new(next)))
    }
}
