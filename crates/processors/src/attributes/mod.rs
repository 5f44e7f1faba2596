//! The `attributes` processor: attribute actions on span attributes, data point attributes (all
//! point types) and log record attributes — never resource attributes — filtered by
//! include/exclude.

mod matcher;

pub use matcher::{AttributeMatch, LibraryMatch, MatchProperties, Matcher, SeverityNumberMatch};

use crate::attraction::{ActionKeyValue, AttrProc};
use async_trait::async_trait;
use kakehashi_component::{Batch, BuildError, ClientMetadata, ConsumeError, Consumer, Processor};
use kakehashi_config::Validate;
use kakehashi_pdata::proto::common::v1::KeyValue;
use kakehashi_pdata::proto::metrics::v1::{metric::Data, Metric};
use kakehashi_pdata::proto::resource::v1::Resource;
use kakehashi_pdata::{Payload, Signal};
use serde::Deserialize;
use std::sync::Arc;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttributesConfig {
    pub actions: Vec<ActionKeyValue>,
    pub include: Option<MatchProperties>,
    pub exclude: Option<MatchProperties>,
}

impl Validate for AttributesConfig {
    fn validate(&self) -> Vec<String> {
        if self.actions.is_empty() {
            vec![r#"missing required field "actions""#.into()]
        } else {
            Vec::new()
        }
    }
}

pub struct AttributesProcessor {
    actions: AttrProc,
    include: Option<Matcher>,
    exclude: Option<Matcher>,
    next: Arc<dyn Consumer>,
}

fn resource_attrs(r: &Option<Resource>) -> &[KeyValue] {
    r.as_ref().map_or(&[], |r| r.attributes.as_slice())
}

impl AttributesProcessor {
    pub fn new(
        cfg: &AttributesConfig,
        signal: Signal,
        next: Arc<dyn Consumer>,
    ) -> Result<Self, BuildError> {
        let compile = |m: &Option<MatchProperties>| -> Result<Option<Matcher>, BuildError> {
            Ok(m.as_ref()
                .map(|m| Matcher::new(m, signal))
                .transpose()?
                .flatten())
        };
        Ok(AttributesProcessor {
            actions: AttrProc::new(&cfg.actions)?,
            include: compile(&cfg.include)?,
            exclude: compile(&cfg.exclude)?,
            next,
        })
    }

    /// include is checked before exclude: process only what include matches and exclude does not.
    fn wanted(&self, matches: impl Fn(&Matcher) -> bool) -> bool {
        self.include.as_ref().is_none_or(&matches) && !self.exclude.as_ref().is_some_and(&matches)
    }

    fn process(&self, payload: &mut Payload, meta: &ClientMetadata) {
        match payload {
            Payload::Traces(r) => {
                for rs in &mut r.resource_spans {
                    let res = resource_attrs(&rs.resource);
                    for ss in &mut rs.scope_spans {
                        for span in &mut ss.spans {
                            if self.wanted(|m| m.matches_span(res, ss.scope.as_ref(), span)) {
                                self.actions.process(&mut span.attributes, meta);
                            }
                        }
                    }
                }
            }
            Payload::Logs(r) => {
                for rl in &mut r.resource_logs {
                    let res = resource_attrs(&rl.resource);
                    for sl in &mut rl.scope_logs {
                        for log in &mut sl.log_records {
                            if self.wanted(|m| m.matches_log(res, sl.scope.as_ref(), log)) {
                                self.actions.process(&mut log.attributes, meta);
                            }
                        }
                    }
                }
            }
            Payload::Metrics(r) => {
                for rm in &mut r.resource_metrics {
                    for sm in &mut rm.scope_metrics {
                        for metric in &mut sm.metrics {
                            if self.wanted(|m| m.matches_metric(&metric.name)) {
                                self.process_points(metric, meta);
                            }
                        }
                    }
                }
            }
        }
    }

    fn process_points(&self, metric: &mut Metric, meta: &ClientMetadata) {
        let p = |attrs: &mut Vec<KeyValue>| self.actions.process(attrs, meta);
        match &mut metric.data {
            Some(Data::Gauge(g)) => g.data_points.iter_mut().for_each(|d| p(&mut d.attributes)),
            Some(Data::Sum(s)) => s.data_points.iter_mut().for_each(|d| p(&mut d.attributes)),
            Some(Data::Histogram(h)) => h.data_points.iter_mut().for_each(|d| p(&mut d.attributes)),
            Some(Data::ExponentialHistogram(h)) => {
                h.data_points.iter_mut().for_each(|d| p(&mut d.attributes))
            }
            Some(Data::Summary(s)) => s.data_points.iter_mut().for_each(|d| p(&mut d.attributes)),
            None => {}
        }
    }
}

#[async_trait]
impl Consumer for AttributesProcessor {
    async fn consume(&self, mut batch: Batch) -> Result<(), ConsumeError> {
        let Batch {
            payload, metadata, ..
        } = &mut batch;
        self.process(std::sync::Arc::make_mut(payload), metadata);
        self.next.consume(batch).await
    }

    /// Processing keeps a batch's size close enough: the downstream's room is ours.
    async fn wait_for_room(&self, batch: &Batch) -> bool {
        self.next.wait_for_room(batch).await
    }
}

impl Processor for AttributesProcessor {}

crate::processor_factory!(
    AttributesProcessorFactory,
    "attributes",
    AttributesConfig,
    |_ctx, cfg, signal, next| { Ok(Arc::new(AttributesProcessor::new(cfg, signal, next)?)) }
);

#[cfg(test)]
mod tests;
