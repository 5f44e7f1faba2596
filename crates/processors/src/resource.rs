//! The `resource` processor: attribute actions on each Resource of every signal.

use crate::attraction::{ActionKeyValue, AttrProc};
use async_trait::async_trait;
use kakehashi_component::{Batch, BuildError, ConsumeError, Consumer, Processor};
use kakehashi_config::Validate;
use serde::Deserialize;
use std::sync::Arc;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResourceConfig {
    pub attributes: Vec<ActionKeyValue>,
}

impl Validate for ResourceConfig {
    fn validate(&self) -> Vec<String> {
        if self.attributes.is_empty() {
            vec![r#"missing required field "attributes""#.into()]
        } else {
            Vec::new()
        }
    }
}

pub struct ResourceProcessor {
    actions: AttrProc,
    next: Arc<dyn Consumer>,
}

impl ResourceProcessor {
    pub fn new(cfg: &ResourceConfig, next: Arc<dyn Consumer>) -> Result<Self, BuildError> {
        Ok(ResourceProcessor {
            actions: AttrProc::new(&cfg.attributes)?,
            next,
        })
    }
}

#[async_trait]
impl Consumer for ResourceProcessor {
    async fn consume(&self, mut batch: Batch) -> Result<(), ConsumeError> {
        let Batch {
            payload, metadata, ..
        } = &mut batch;
        std::sync::Arc::make_mut(payload)
            .for_each_resource(|r| self.actions.process(&mut r.attributes, metadata));
        self.next.consume(batch).await
    }

    /// Processing keeps a batch's size close enough: the downstream's room is ours.
    async fn wait_for_room(&self, batch: &Batch) -> bool {
        self.next.wait_for_room(batch).await
    }
}

impl Processor for ResourceProcessor {}

crate::processor_factory!(
    ResourceProcessorFactory,
    "resource",
    ResourceConfig,
    |_ctx, cfg, _signal, next| { Ok(Arc::new(ResourceProcessor::new(cfg, next)?)) }
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attraction::value::str_value;
    use crate::test_util::Sink;
    use kakehashi_config::AnyValue as ConfigValue;
    use kakehashi_pdata::proto::common::v1::KeyValue;
    use kakehashi_pdata::proto::resource::v1::Resource;
    use kakehashi_pdata::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use kakehashi_pdata::ExportTraceServiceRequest;
    use kakehashi_pdata::Payload;

    fn kv(k: &str, v: &str) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(str_value(v)),
            ..Default::default()
        }
    }

    fn action(kind: &str, key: &str, v: &str) -> ActionKeyValue {
        ActionKeyValue {
            action: kind.into(),
            key: key.into(),
            value: Some(ConfigValue::Str(v.into())),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn seed_config_insert_keeps_sdk_service_name() {
        let sink = Arc::new(Sink::default());
        let cfg = ResourceConfig {
            attributes: vec![
                action("insert", "service.name", "vote-app"),
                action("insert", "env", "staging"),
            ],
        };
        let p = ResourceProcessor::new(&cfg, sink.clone()).expect("build");
        let req = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", "my-svc")],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span::default()],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        p.consume(Batch::new(req)).await.expect("consume");
        let got = sink.0.lock().expect("lock");
        let Payload::Traces(t) = got[0].payload.as_ref() else {
            panic!("traces expected")
        };
        let attrs = &t.resource_spans[0]
            .resource
            .as_ref()
            .expect("resource")
            .attributes;
        assert_eq!(
            attrs,
            &vec![kv("service.name", "my-svc"), kv("env", "staging")]
        );
    }

    #[test]
    fn validation_and_build_errors() {
        assert_eq!(
            ResourceConfig::default().validate(),
            vec![r#"missing required field "attributes""#.to_string()]
        );
        let cfg = ResourceConfig {
            attributes: vec![action("bogus", "k", "v")],
        };
        let e = ResourceProcessor::new(&cfg, Arc::new(Sink::default())).err();
        assert_eq!(
            e.map(|e| e.0),
            Some(
                r#"error creating AttrProc due to unsupported action "bogus" at the 0-th actions"#
                    .into()
            )
        );
    }
}
