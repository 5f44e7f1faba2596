//! The `transform` processor: OTTL statements (`set`, `delete_key`, `replace_pattern`, ...) run
//! on resources, scopes, spans, span events, log records, metrics and data points, group by
//! group in configuration order. A statement that fails follows `error_mode`: `propagate` refuses the batch,
//! `ignore` logs and goes on with the next statement, `silent` goes on quietly.

mod config;

pub use config::TransformConfig;

use crate::ottl::groups::{LOG_CONTEXTS, METRIC_CONTEXTS, TRACE_CONTEXTS};
use crate::ottl::{ContextKind, DataPointMut, ErrorMode, MetricShape, MutCtx};
use crate::tree::{ItemOf, ResourceTree, ScopeTree};
use async_trait::async_trait;
use config::{groups, Group};
use kakehashi_component::{Batch, BuildError, ConsumeError, Consumer, Processor};
use kakehashi_pdata::proto::common::v1::InstrumentationScope;
use kakehashi_pdata::proto::logs::v1::ResourceLogs;
use kakehashi_pdata::proto::metrics::v1::{metric::Data, ResourceMetrics};
use kakehashi_pdata::proto::resource::v1::Resource;
use kakehashi_pdata::proto::trace::v1::ResourceSpans;
use kakehashi_pdata::{Payload, Signal};
use std::sync::Arc;

pub struct TransformProcessor {
    traces: Vec<Group>,
    logs: Vec<Group>,
    metrics: Vec<Group>,
    next: Arc<dyn Consumer>,
}

impl Group {
    /// Runs the group on one item: its statements in order if a group condition holds (or
    /// there are none).
    fn run(&self, ctx: &mut MutCtx) -> Result<(), String> {
        if !self.conditions.is_empty() {
            let mut any = false;
            for c in &self.conditions {
                match c.eval(&ctx.view()) {
                    Ok(true) => {
                        any = true;
                        break;
                    }
                    Ok(false) => {}
                    Err(e) => self.failed(c.text(), e)?,
                }
            }
            if !any {
                return Ok(());
            }
        }
        for s in &self.statements {
            if let Err(e) = s.execute(ctx) {
                self.failed(s.text(), e)?;
            }
        }
        Ok(())
    }

    fn failed(&self, what: &str, e: String) -> Result<(), String> {
        match self.error_mode {
            ErrorMode::Propagate => Err(format!("failed to execute statement: {what}, {e}")),
            ErrorMode::Ignore => {
                tracing::warn!(statement = what, error = %e, "failed to execute statement");
                Ok(())
            }
            ErrorMode::Silent => Ok(()),
        }
    }

    /// Runs the group over every item of its context: resources and scopes here, the items
    /// (and what they contain) through `on_item`.
    fn walk<R: ResourceTree>(
        &self,
        resources: &mut [R],
        mut on_item: impl FnMut(
            &mut Option<Resource>,
            &mut Option<InstrumentationScope>,
            &mut ItemOf<R>,
        ) -> Result<(), String>,
    ) -> Result<(), String> {
        for r in resources {
            let (resource, scopes) = r.parts();
            if self.kind == ContextKind::Resource {
                self.run(&mut ctx(resource))?;
                continue;
            }
            for s in scopes {
                let (scope, items) = s.parts();
                if self.kind == ContextKind::Scope {
                    self.run(&mut MutCtx {
                        scope: Some(scope),
                        ..ctx(resource)
                    })?;
                    continue;
                }
                for item in items {
                    on_item(resource, scope, item)?;
                }
            }
        }
        Ok(())
    }

    fn run_traces(&self, resource_spans: &mut [ResourceSpans]) -> Result<(), String> {
        self.walk(resource_spans, |resource, scope, span| {
            if self.kind == ContextKind::Span {
                return self.run(&mut MutCtx {
                    scope: Some(scope),
                    span: Some(span),
                    ..ctx(resource)
                });
            }
            // Span events: taken out so the span and the event can both be reached.
            let mut events = std::mem::take(&mut span.events);
            let result = events.iter_mut().try_for_each(|event| {
                self.run(&mut MutCtx {
                    scope: Some(&mut *scope),
                    span: Some(&mut *span),
                    event: Some(event),
                    ..ctx(&mut *resource)
                })
            });
            span.events = events;
            result
        })
    }

    fn run_logs(&self, resource_logs: &mut [ResourceLogs]) -> Result<(), String> {
        self.walk(resource_logs, |resource, scope, log| {
            self.run(&mut MutCtx {
                scope: Some(scope),
                log: Some(log),
                ..ctx(resource)
            })
        })
    }

    fn run_metrics(&self, resource_metrics: &mut [ResourceMetrics]) -> Result<(), String> {
        self.walk(resource_metrics, |resource, scope, metric| {
            if self.kind == ContextKind::Metric {
                return self.run(&mut MutCtx {
                    scope: Some(scope),
                    metric: Some(metric),
                    ..ctx(resource)
                });
            }
            // Data points: the data is taken out so the metric and a point can both be
            // reached; what it said about the metric (type, ...) travels alongside.
            let shape = MetricShape::of(metric);
            let mut data = metric.data.take();
            let result = each_point(&mut data, |point| {
                self.run(&mut MutCtx {
                    scope: Some(&mut *scope),
                    metric: Some(&mut *metric),
                    datapoint: Some(point),
                    metric_shape: Some(shape),
                    ..ctx(&mut *resource)
                })
            });
            metric.data = data;
            result
        })
    }
}

/// Runs `f` on every data point of a metric's data, stopping at the first error.
fn each_point(
    data: &mut Option<Data>,
    mut f: impl FnMut(DataPointMut) -> Result<(), String>,
) -> Result<(), String> {
    match data {
        None => Ok(()),
        Some(Data::Gauge(g)) => g
            .data_points
            .iter_mut()
            .try_for_each(|p| f(DataPointMut::Number(p))),
        Some(Data::Sum(s)) => s
            .data_points
            .iter_mut()
            .try_for_each(|p| f(DataPointMut::Number(p))),
        Some(Data::Histogram(h)) => h
            .data_points
            .iter_mut()
            .try_for_each(|p| f(DataPointMut::Histogram(p))),
        Some(Data::ExponentialHistogram(h)) => h
            .data_points
            .iter_mut()
            .try_for_each(|p| f(DataPointMut::ExponentialHistogram(p))),
        Some(Data::Summary(s)) => s
            .data_points
            .iter_mut()
            .try_for_each(|p| f(DataPointMut::Summary(p))),
    }
}

/// A context with only the resource; the struct-update base for the others.
fn ctx(resource: &mut Option<kakehashi_pdata::proto::resource::v1::Resource>) -> MutCtx<'_> {
    MutCtx {
        resource,
        scope: None,
        span: None,
        event: None,
        log: None,
        metric: None,
        datapoint: None,
        metric_shape: None,
    }
}

impl TransformProcessor {
    pub fn new(cfg: &TransformConfig, next: Arc<dyn Consumer>) -> Result<Self, BuildError> {
        let build = |items, allowed, key| {
            groups(items, allowed, key, cfg.error_mode).map_err(|e| BuildError(e.join("; ")))
        };
        Ok(TransformProcessor {
            traces: build(&cfg.trace_statements, TRACE_CONTEXTS, "trace_statements")?,
            logs: build(&cfg.log_statements, LOG_CONTEXTS, "log_statements")?,
            metrics: build(&cfg.metric_statements, METRIC_CONTEXTS, "metric_statements")?,
            next,
        })
    }
}

#[async_trait]
impl Consumer for TransformProcessor {
    async fn consume(&self, mut batch: Batch) -> Result<(), ConsumeError> {
        let groups = match batch.signal() {
            Signal::Traces => &self.traces,
            Signal::Logs => &self.logs,
            Signal::Metrics => &self.metrics,
        };
        if !groups.is_empty() {
            let result = match batch.payload_mut() {
                Payload::Traces(r) => groups
                    .iter()
                    .try_for_each(|g| g.run_traces(&mut r.resource_spans)),
                Payload::Logs(r) => groups
                    .iter()
                    .try_for_each(|g| g.run_logs(&mut r.resource_logs)),
                Payload::Metrics(r) => groups
                    .iter()
                    .try_for_each(|g| g.run_metrics(&mut r.resource_metrics)),
            };
            if let Err(e) = result {
                tracing::error!(error = %e, "failed processing {}", batch.signal().as_str());
                // The same data fails the same statement again: not worth a retry.
                return Err(ConsumeError::permanent(e));
            }
        }
        self.next.consume(batch).await
    }

    /// Statements change items, never their number: the downstream's room is ours.
    async fn wait_for_room(&self, batch: &Batch) -> bool {
        self.next.wait_for_room(batch).await
    }
}

impl Processor for TransformProcessor {}

crate::processor_factory!(
    TransformProcessorFactory,
    "transform",
    TransformConfig,
    |_ctx, cfg, _signal, next| { Ok(Arc::new(TransformProcessor::new(cfg, next)?)) }
);

#[cfg(test)]
#[path = "hash_tests.rs"]
mod hash_tests;
#[cfg(test)]
#[path = "inference_tests.rs"]
mod inference_tests;
#[cfg(test)]
#[path = "list_tests.rs"]
mod list_tests;
#[cfg(test)]
mod tests;
