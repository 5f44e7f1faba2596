//! The `filter` processor: drops resources, scopes, spans, span events and log records that
//! match OTTL conditions — `trace_conditions` / `log_conditions` (context inferred from each
//! condition's paths, or given by a group), or the older per-context lists (`traces::resource`,
//! `traces::span`, `traces::spanevent`, `logs::resource`, `logs::log_record`) — or spans by the
//! legacy `spans::include` / `spans::exclude` match. Any condition that holds drops the item;
//! levels are evaluated top down, so a dropped resource's spans are never looked at. Resources
//! and scopes left empty are removed; a batch left with nothing is not sent on, and the sender
//! is told it was accepted, as otelcol does. Dropped items are counted in
//! `otelcol_processor_filter_{spans,logs}_filtered`.

mod config;

pub use crate::ottl::ErrorMode;
pub use config::{FilterConfig, LogFilters, SpanMatchConfig, TraceFilters};

use crate::attributes::Matcher;
use crate::ottl::EvalCtx;
use async_trait::async_trait;
use config::{Conditions, Levels};
use kakehashi_component::{
    config_as, decode_config, AnyConfig, Batch, BuildContext, BuildError, ConsumeError, Consumer,
    FactoryInfo, Processor, ProcessorFactory,
};
use kakehashi_config::{ConfigErrors, Node};
use kakehashi_pdata::proto::common::v1::InstrumentationScope;
use kakehashi_pdata::proto::resource::v1::Resource;
use kakehashi_pdata::proto::trace::v1::Span;
use kakehashi_pdata::{Payload, Signal};
use prometheus::IntCounter;
use std::sync::Arc;

impl Conditions {
    /// Whether to drop the item. With `ignore` and `silent` a failing condition counts as
    /// false and the next one is tried; with `propagate` the error is returned.
    fn any_holds(&self, ctx: &EvalCtx) -> Result<bool, String> {
        for c in &self.list {
            match c.eval(ctx) {
                Ok(true) => return Ok(true),
                Ok(false) => {}
                Err(e) => match self.error_mode {
                    ErrorMode::Propagate => {
                        return Err(format!("failed to eval condition: {}, {e}", c.text()))
                    }
                    ErrorMode::Ignore => tracing::warn!(
                        condition = c.text(),
                        error = %e,
                        "failed to eval condition"
                    ),
                    ErrorMode::Silent => {}
                },
            }
        }
        Ok(false)
    }
}

/// Whether any list of a level holds for the item.
fn any(level: &[Conditions], ctx: &EvalCtx) -> Result<bool, String> {
    for conditions in level {
        if conditions.any_holds(ctx)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// How spans are chosen for dropping.
enum SpanFilter {
    Ottl(Levels),
    /// Legacy: drop what `include` does not match or `exclude` matches.
    Match {
        include: Option<Box<Matcher>>,
        exclude: Option<Box<Matcher>>,
    },
}

pub struct FilterProcessor {
    spans: Option<SpanFilter>,
    logs: Option<Levels>,
    spans_filtered: IntCounter,
    logs_filtered: IntCounter,
    next: Arc<dyn Consumer>,
}

impl FilterProcessor {
    pub fn new(
        cfg: &FilterConfig,
        ctx: &BuildContext,
        next: Arc<dyn Consumer>,
    ) -> Result<Self, BuildError> {
        let (traces, logs) = cfg.levels().map_err(|e| BuildError(e.join("; ")))?;
        let matcher = |m: &Option<_>| -> Result<Option<Box<Matcher>>, BuildError> {
            Ok(m.as_ref()
                .map(|m| Matcher::new(m, Signal::Traces))
                .transpose()?
                .flatten()
                .map(Box::new))
        };
        let (include, exclude) = (matcher(&cfg.spans.include)?, matcher(&cfg.spans.exclude)?);
        let spans = if !traces.is_empty() {
            Some(SpanFilter::Ottl(traces))
        } else if include.is_some() || exclude.is_some() {
            Some(SpanFilter::Match { include, exclude })
        } else {
            None
        };
        let counter = |signal: &str| {
            ctx.telemetry
                .counter_vec(
                    &format!("otelcol_processor_filter_{signal}_filtered"),
                    &format!("Number of {signal} dropped by the filter processor"),
                    &["filter"],
                )
                .with_label_values(&[&ctx.id.to_string()])
        };
        Ok(FilterProcessor {
            spans,
            logs: (!logs.is_empty()).then_some(logs),
            spans_filtered: counter("spans"),
            logs_filtered: counter("logs"),
            next,
        })
    }

    /// Filters in place; the number of items dropped. An evaluation error (with
    /// `error_mode: propagate`) leaves the item in place and fails the whole batch.
    fn filter(&self, payload: &mut Payload) -> Result<usize, String> {
        let before = payload.item_count();
        let mut failure = None;
        match payload {
            Payload::Traces(req) => {
                let Some(filter) = &self.spans else {
                    return Ok(0);
                };
                let levels = match filter {
                    SpanFilter::Ottl(levels) => Some(levels),
                    SpanFilter::Match { .. } => None,
                };
                req.resource_spans.retain_mut(|rs| {
                    let resource = rs.resource.as_ref();
                    let ctx = EvalCtx {
                        resource,
                        ..Default::default()
                    };
                    if levels.is_some_and(|l| drops(&l.resource, &ctx, &mut failure)) {
                        return false;
                    }
                    rs.scope_spans.retain_mut(|ss| {
                        let scope = ss.scope.as_ref();
                        let ctx = EvalCtx { scope, ..ctx };
                        if levels.is_some_and(|l| drops(&l.scope, &ctx, &mut failure)) {
                            return false;
                        }
                        ss.spans.retain_mut(|span| {
                            filter
                                .keep(resource, scope, span)
                                .unwrap_or_else(|e| keep_after(&mut failure, e))
                        });
                        !ss.spans.is_empty()
                    });
                    !rs.scope_spans.is_empty()
                });
            }
            Payload::Logs(req) => {
                let Some(levels) = &self.logs else {
                    return Ok(0);
                };
                req.resource_logs.retain_mut(|rl| {
                    let ctx = EvalCtx {
                        resource: rl.resource.as_ref(),
                        ..Default::default()
                    };
                    if drops(&levels.resource, &ctx, &mut failure) {
                        return false;
                    }
                    rl.scope_logs.retain_mut(|sl| {
                        let ctx = EvalCtx {
                            scope: sl.scope.as_ref(),
                            ..ctx
                        };
                        if drops(&levels.scope, &ctx, &mut failure) {
                            return false;
                        }
                        sl.log_records.retain(|log| {
                            let ctx = EvalCtx {
                                log: Some(log),
                                ..ctx
                            };
                            !drops(&levels.item, &ctx, &mut failure)
                        });
                        !sl.log_records.is_empty()
                    });
                    !rl.scope_logs.is_empty()
                });
            }
            Payload::Metrics(_) => return Ok(0),
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(before - payload.item_count()),
        }
    }
}

/// Whether a level drops the item; a failure keeps it and is remembered for the batch.
fn drops(level: &[Conditions], ctx: &EvalCtx, failure: &mut Option<String>) -> bool {
    any(level, ctx).unwrap_or_else(|e| !keep_after(failure, e))
}

/// An item whose condition failed is kept; the first error is remembered for the batch.
fn keep_after(failure: &mut Option<String>, e: String) -> bool {
    failure.get_or_insert(e);
    true
}

impl SpanFilter {
    /// Whether the span stays; with span event conditions, drops its matching events.
    fn keep(
        &self,
        resource: Option<&Resource>,
        scope: Option<&InstrumentationScope>,
        span: &mut Span,
    ) -> Result<bool, String> {
        match self {
            SpanFilter::Match { include, exclude } => {
                let res = resource.map_or(&[][..], |r| &r.attributes);
                let m = |m: &Matcher| m.matches_span(res, scope, span);
                Ok(include.as_deref().is_none_or(m) && !exclude.as_deref().is_some_and(m))
            }
            SpanFilter::Ottl(levels) => {
                let ctx = EvalCtx {
                    resource,
                    scope,
                    span: Some(&*span),
                    ..Default::default()
                };
                if any(&levels.item, &ctx)? {
                    return Ok(false);
                }
                if !levels.event.is_empty() {
                    // Taken out so the conditions can read the span while its events shrink.
                    let mut events = std::mem::take(&mut span.events);
                    let mut failure = None;
                    events.retain(|ev| {
                        let ctx = EvalCtx {
                            resource,
                            scope,
                            span: Some(&*span),
                            event: Some(ev),
                            log: None,
                        };
                        !drops(&levels.event, &ctx, &mut failure)
                    });
                    span.events = events;
                    if let Some(e) = failure {
                        return Err(e);
                    }
                }
                Ok(true)
            }
        }
    }
}

#[async_trait]
impl Consumer for FilterProcessor {
    async fn consume(&self, mut batch: Batch) -> Result<(), ConsumeError> {
        let active = match batch.signal() {
            Signal::Traces => self.spans.is_some(),
            Signal::Logs => self.logs.is_some(),
            Signal::Metrics => false,
        };
        if !active {
            return self.next.consume(batch).await;
        }
        let dropped = self.filter(batch.payload_mut()).map_err(|e| {
            tracing::error!(error = %e, "failed processing {}", batch.signal().as_str());
            // Evaluating the same data again fails the same way: not worth a retry.
            ConsumeError::permanent(e)
        })?;
        match batch.signal() {
            Signal::Traces => self.spans_filtered.inc_by(dropped as u64),
            _ => self.logs_filtered.inc_by(dropped as u64),
        }
        if batch.item_count() == 0 {
            // Nothing left to send: accepted, as otelcol's ErrSkipProcessingData.
            return Ok(());
        }
        self.next.consume(batch).await
    }

    /// Filtering only shrinks a batch: the downstream's room is ours.
    async fn wait_for_room(&self, batch: &Batch) -> bool {
        self.next.wait_for_room(batch).await
    }
}

impl Processor for FilterProcessor {}

pub struct FilterProcessorFactory;

impl FactoryInfo for FilterProcessorFactory {
    fn type_name(&self) -> &'static str {
        "filter"
    }
    fn signals(&self) -> &'static [Signal] {
        crate::ALL_SIGNALS
    }
    fn decode(&self, node: &Node, path: &str) -> Result<AnyConfig, ConfigErrors> {
        decode_config::<FilterConfig>(node, path)
    }
}

impl ProcessorFactory for FilterProcessorFactory {
    fn build(
        &self,
        ctx: &BuildContext,
        cfg: &AnyConfig,
        _signal: Signal,
        next: Arc<dyn Consumer>,
    ) -> Result<Arc<dyn Processor>, BuildError> {
        let cfg = config_as::<FilterConfig>(cfg);
        Ok(Arc::new(FilterProcessor::new(cfg, ctx, next)?))
    }
}

#[cfg(test)]
mod tests;
