//! The `filter` processor: drops resources, scopes, spans, span events, log records, metrics
//! and data points that match OTTL conditions — `trace_conditions` / `log_conditions` /
//! `metric_conditions` (context inferred from each condition's paths, or given by a group), or
//! the older per-context lists (`traces::span`, `logs::log_record`, `metrics::datapoint`, ...)
//! — or spans and metrics by the legacy `spans::*` / `metrics::*` include/exclude match. Any condition that holds drops the item;
//! levels are evaluated top down, so a dropped resource's spans are never looked at. Resources
//! and scopes left empty are removed; a batch left with nothing is not sent on, and the sender
//! is told it was accepted, as otelcol does; a metric left without data points goes too.
//! Dropped items are counted in `otelcol_processor_filter_{spans,logs,datapoints}_filtered`.

mod config;

pub use crate::ottl::ErrorMode;
pub use config::{FilterConfig, LogFilters, SpanMatchConfig, TraceFilters};

use crate::attributes::Matcher;
use crate::ottl::{datapoints, EvalCtx};
use crate::tree::{ItemOf, ResourceTree, ScopeTree};
use async_trait::async_trait;
use config::{Conditions, Levels, MetricMatcher};
use kakehashi_component::{Batch, BuildContext, BuildError, ConsumeError, Consumer, Processor};
use kakehashi_pdata::proto::common::v1::InstrumentationScope;
use kakehashi_pdata::proto::metrics::v1::Metric;
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

/// How metrics are chosen for dropping.
enum MetricFilter {
    Ottl(Levels),
    /// Legacy: drop what `include` does not match or `exclude` matches.
    Match {
        include: Option<MetricMatcher>,
        exclude: Option<MetricMatcher>,
    },
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
    metrics: Option<MetricFilter>,
    spans_filtered: IntCounter,
    logs_filtered: IntCounter,
    datapoints_filtered: IntCounter,
    next: Arc<dyn Consumer>,
}

impl FilterProcessor {
    pub fn new(
        cfg: &FilterConfig,
        ctx: &BuildContext,
        next: Arc<dyn Consumer>,
    ) -> Result<Self, BuildError> {
        let [traces, logs, metric_levels] = cfg.levels().map_err(|e| BuildError(e.join("; ")))?;
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
        let metric_matcher = |m: &Option<config::MetricMatchProperties>| {
            m.as_ref()
                .map(MetricMatcher::new)
                .transpose()
                .map_err(BuildError)
        };
        let (m_include, m_exclude) = (
            metric_matcher(&cfg.metrics.include)?,
            metric_matcher(&cfg.metrics.exclude)?,
        );
        let metrics = if !metric_levels.is_empty() {
            Some(MetricFilter::Ottl(metric_levels))
        } else if m_include.is_some() || m_exclude.is_some() {
            Some(MetricFilter::Match {
                include: m_include,
                exclude: m_exclude,
            })
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
            metrics,
            spans_filtered: counter("spans"),
            logs_filtered: counter("logs"),
            datapoints_filtered: counter("datapoints"),
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
                walk(
                    &mut req.resource_spans,
                    levels,
                    &mut failure,
                    |r, s, span| filter.keep(r, s, span),
                );
            }
            Payload::Logs(req) => {
                let Some(levels) = &self.logs else {
                    return Ok(0);
                };
                walk(
                    &mut req.resource_logs,
                    Some(levels),
                    &mut failure,
                    |r, s, log| {
                        let ctx = EvalCtx {
                            resource: r,
                            scope: s,
                            log: Some(&*log),
                            ..Default::default()
                        };
                        any(&levels.item, &ctx).map(|drop| !drop)
                    },
                );
            }
            Payload::Metrics(req) => {
                let Some(filter) = &self.metrics else {
                    return Ok(0);
                };
                let levels = match filter {
                    MetricFilter::Ottl(levels) => Some(levels),
                    MetricFilter::Match { .. } => None,
                };
                if let MetricFilter::Match { include, exclude } = filter {
                    // The legacy match drops whole resources by their attributes.
                    req.resource_metrics.retain(|rm| {
                        let attrs = rm.resource.as_ref().map_or(&[][..], |r| &r.attributes);
                        let m = |m: &Option<MetricMatcher>| {
                            m.as_ref().and_then(|m| m.resource_matches(attrs))
                        };
                        m(include) != Some(false) && m(exclude) != Some(true)
                    });
                }
                walk(
                    &mut req.resource_metrics,
                    levels,
                    &mut failure,
                    |r, s, metric| filter.keep(r, s, metric),
                );
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(before - payload.item_count()),
        }
    }
}

/// Drops, top down, the resources and scopes `levels` match and the items `keep` refuses;
/// removes resources and scopes left empty. A failed evaluation keeps what it was about and
/// leaves its error in `failure`.
fn walk<R: ResourceTree>(
    resources: &mut Vec<R>,
    levels: Option<&Levels>,
    failure: &mut Option<String>,
    mut keep: impl FnMut(
        Option<&Resource>,
        Option<&InstrumentationScope>,
        &mut ItemOf<R>,
    ) -> Result<bool, String>,
) {
    resources.retain_mut(|r| {
        let (resource, scopes) = r.parts();
        let resource = resource.as_ref();
        let ctx = EvalCtx {
            resource,
            ..Default::default()
        };
        if levels.is_some_and(|l| drops(&l.resource, &ctx, failure)) {
            return false;
        }
        scopes.retain_mut(|s| {
            let (scope, items) = s.parts();
            let scope = scope.as_ref();
            let ctx = EvalCtx { scope, ..ctx };
            if levels.is_some_and(|l| drops(&l.scope, &ctx, failure)) {
                return false;
            }
            items.retain_mut(|item| {
                keep(resource, scope, item).unwrap_or_else(|e| keep_after(failure, e))
            });
            !items.is_empty()
        });
        !scopes.is_empty()
    });
}

/// Whether nothing is left to send (otelcol checks the resources, not the items: a metric
/// without data points still goes on).
fn is_empty(payload: &Payload) -> bool {
    match payload {
        Payload::Traces(r) => r.resource_spans.is_empty(),
        Payload::Logs(r) => r.resource_logs.is_empty(),
        Payload::Metrics(r) => r.resource_metrics.is_empty(),
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

impl MetricFilter {
    /// Whether the metric stays; with data point conditions, drops its matching points (and
    /// the metric when none is left).
    fn keep(
        &self,
        resource: Option<&Resource>,
        scope: Option<&InstrumentationScope>,
        metric: &mut Metric,
    ) -> Result<bool, String> {
        let levels = match self {
            // Resources were decided before (`keep_resource`); names decide here.
            MetricFilter::Match { include, exclude } => {
                let name = &metric.name;
                let included = include.as_ref().and_then(|m| m.name_matches(name)) != Some(false);
                let excluded = exclude.as_ref().and_then(|m| m.name_matches(name)) == Some(true);
                return Ok(included && !excluded);
            }
            MetricFilter::Ottl(levels) => levels,
        };
        let ctx = EvalCtx {
            resource,
            scope,
            metric: Some(&*metric),
            ..Default::default()
        };
        if any(&levels.item, &ctx)? {
            return Ok(false);
        }
        // A metric without data has no points to decide on; otelcol keeps it.
        if levels.event.is_empty() || metric.data.is_none() {
            return Ok(true);
        }
        // Decided with the whole metric readable (`metric.type` in a data point condition),
        // then applied.
        let mut failure = None;
        let keep: Vec<bool> = datapoints(metric)
            .into_iter()
            .map(|dp| {
                let ctx = EvalCtx {
                    datapoint: Some(dp),
                    ..ctx
                };
                !drops(&levels.event, &ctx, &mut failure)
            })
            .collect();
        if let Some(e) = failure {
            return Err(e);
        }
        let remaining = retain_points(metric, &keep);
        Ok(remaining > 0)
    }
}

/// Keeps the data points whose flag is set; how many are left.
fn retain_points(metric: &mut Metric, keep: &[bool]) -> usize {
    use kakehashi_pdata::proto::metrics::v1::metric::Data;
    fn retain<T>(points: &mut Vec<T>, keep: &[bool]) -> usize {
        let mut flags = keep.iter();
        points.retain(|_| *flags.next().unwrap_or(&true));
        points.len()
    }
    match &mut metric.data {
        None => 0,
        Some(Data::Gauge(g)) => retain(&mut g.data_points, keep),
        Some(Data::Sum(s)) => retain(&mut s.data_points, keep),
        Some(Data::Histogram(h)) => retain(&mut h.data_points, keep),
        Some(Data::ExponentialHistogram(h)) => retain(&mut h.data_points, keep),
        Some(Data::Summary(s)) => retain(&mut s.data_points, keep),
    }
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
                            ..Default::default()
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
            Signal::Metrics => self.metrics.is_some(),
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
            Signal::Logs => self.logs_filtered.inc_by(dropped as u64),
            Signal::Metrics => self.datapoints_filtered.inc_by(dropped as u64),
        }
        if is_empty(&batch.payload) {
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

crate::processor_factory!(
    FilterProcessorFactory,
    "filter",
    FilterConfig,
    |ctx, cfg, _signal, next| { Ok(Arc::new(FilterProcessor::new(cfg, ctx, next)?)) }
);

#[cfg(test)]
mod metric_tests;
#[cfg(test)]
mod tests;
