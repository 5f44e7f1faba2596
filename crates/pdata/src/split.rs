//! Splitting a request at item granularity, for `send_batch_max_size` and payload size limits.
//!
//! The front part keeps the order of items; resource and scope are copied into each part, and a
//! metric's data points may be split between parts (as otelcol's batch processor does).

use crate::count::ItemCount;
use crate::proto::metrics::v1::{metric::Data, Metric};
use crate::{ExportLogsServiceRequest, ExportMetricsServiceRequest, ExportTraceServiceRequest};

/// Removes the first `max_items` items of `req` and returns them as a new request. When `req` holds
/// `max_items` or fewer, all of it is returned and `req` is left empty.
pub fn split_off_front<R: Splittable>(req: &mut R, max_items: usize) -> R {
    if req.item_count() <= max_items {
        return std::mem::take(req);
    }
    req.split_front(max_items)
}

/// A request type that can give up its first N items.
pub trait Splittable: ItemCount + Default {
    fn split_front(&mut self, n: usize) -> Self;
}

/// Moves up to `budget` leaf items from the front of `src` to a new container, using `count` to
/// size each element and `split` to cut an element that is larger than what is left of the budget.
fn take_front<T>(
    src: &mut Vec<T>,
    budget: &mut usize,
    count: impl Fn(&T) -> usize,
    mut split: impl FnMut(&mut T, usize) -> T,
) -> Vec<T> {
    let mut taken = 0;
    let mut out = Vec::new();
    for item in src.iter_mut() {
        if *budget == 0 {
            break;
        }
        let n = count(item);
        if n <= *budget {
            *budget -= n;
            taken += 1;
        } else {
            out.push(split(item, *budget));
            *budget = 0;
            break;
        }
    }
    let mut front: Vec<T> = src.drain(..taken).collect();
    front.append(&mut out);
    front
}

/// Splits a plain vector of leaf items (spans, records, points).
fn take_leaves<T>(src: &mut Vec<T>, budget: &mut usize) -> Vec<T> {
    let n = (*budget).min(src.len());
    *budget -= n;
    src.drain(..n).collect()
}

impl Splittable for ExportTraceServiceRequest {
    fn split_front(&mut self, n: usize) -> Self {
        let mut budget = n;
        let resource_spans = take_front(
            &mut self.resource_spans,
            &mut budget,
            |rs| rs.scope_spans.iter().map(|s| s.spans.len()).sum(),
            |rs, mut b| {
                let scope_spans = take_front(
                    &mut rs.scope_spans,
                    &mut b,
                    |ss| ss.spans.len(),
                    |ss, mut b| {
                        let spans = take_leaves(&mut ss.spans, &mut b);
                        let mut part = ss.clone_shell();
                        part.spans = spans;
                        part
                    },
                );
                let mut part = rs.clone_shell();
                part.scope_spans = scope_spans;
                part
            },
        );
        ExportTraceServiceRequest { resource_spans }
    }
}

impl Splittable for ExportLogsServiceRequest {
    fn split_front(&mut self, n: usize) -> Self {
        let mut budget = n;
        let resource_logs = take_front(
            &mut self.resource_logs,
            &mut budget,
            |rl| rl.scope_logs.iter().map(|s| s.log_records.len()).sum(),
            |rl, mut b| {
                let scope_logs = take_front(
                    &mut rl.scope_logs,
                    &mut b,
                    |sl| sl.log_records.len(),
                    |sl, mut b| {
                        let log_records = take_leaves(&mut sl.log_records, &mut b);
                        let mut part = sl.clone_shell();
                        part.log_records = log_records;
                        part
                    },
                );
                let mut part = rl.clone_shell();
                part.scope_logs = scope_logs;
                part
            },
        );
        ExportLogsServiceRequest { resource_logs }
    }
}

impl Splittable for ExportMetricsServiceRequest {
    fn split_front(&mut self, n: usize) -> Self {
        let mut budget = n;
        let resource_metrics = take_front(
            &mut self.resource_metrics,
            &mut budget,
            |rm| {
                rm.scope_metrics
                    .iter()
                    .flat_map(|s| &s.metrics)
                    .map(Metric::item_count)
                    .sum()
            },
            |rm, mut b| {
                let scope_metrics = take_front(
                    &mut rm.scope_metrics,
                    &mut b,
                    |sm| sm.metrics.iter().map(Metric::item_count).sum(),
                    |sm, mut b| {
                        let metrics =
                            take_front(&mut sm.metrics, &mut b, Metric::item_count, split_metric);
                        let mut part = sm.clone_shell();
                        part.metrics = metrics;
                        part
                    },
                );
                let mut part = rm.clone_shell();
                part.scope_metrics = scope_metrics;
                part
            },
        );
        ExportMetricsServiceRequest { resource_metrics }
    }
}

/// Cuts the first `n` data points off a metric into a copy that keeps name, unit, metadata and
/// temporality.
fn split_metric(m: &mut Metric, n: usize) -> Metric {
    let mut b = n;
    let data = m.data.as_mut().map(|d| match d {
        Data::Gauge(g) => {
            let mut p = g.clone_shell();
            p.data_points = take_leaves(&mut g.data_points, &mut b);
            Data::Gauge(p)
        }
        Data::Sum(s) => {
            let mut p = s.clone_shell();
            p.data_points = take_leaves(&mut s.data_points, &mut b);
            Data::Sum(p)
        }
        Data::Histogram(h) => {
            let mut p = h.clone_shell();
            p.data_points = take_leaves(&mut h.data_points, &mut b);
            Data::Histogram(p)
        }
        Data::ExponentialHistogram(h) => {
            let mut p = h.clone_shell();
            p.data_points = take_leaves(&mut h.data_points, &mut b);
            Data::ExponentialHistogram(p)
        }
        Data::Summary(s) => {
            let mut p = s.clone_shell();
            p.data_points = take_leaves(&mut s.data_points, &mut b);
            Data::Summary(p)
        }
    });
    Metric {
        name: m.name.clone(),
        description: m.description.clone(),
        unit: m.unit.clone(),
        metadata: m.metadata.clone(),
        data,
    }
}

/// A copy of a container without its children (the children are moved separately).
trait CloneShell {
    fn clone_shell(&self) -> Self;
}

/// Implements [`CloneShell`] by cloning the listed fields; every other field (the children) is
/// left at its default, empty value.
macro_rules! clone_shell {
    ($t:ty { $($field:ident),* }) => {
        impl CloneShell for $t {
            fn clone_shell(&self) -> Self {
                Self { $($field: self.$field.clone(),)* ..Default::default() }
            }
        }
    };
}

use crate::proto::logs::v1::{ResourceLogs, ScopeLogs};
use crate::proto::metrics::v1::{
    ExponentialHistogram, Gauge, Histogram, ResourceMetrics, ScopeMetrics, Sum, Summary,
};
use crate::proto::trace::v1::{ResourceSpans, ScopeSpans};

clone_shell!(ResourceSpans {
    resource,
    schema_url
});
clone_shell!(ScopeSpans { scope, schema_url });
clone_shell!(ResourceLogs {
    resource,
    schema_url
});
clone_shell!(ScopeLogs { scope, schema_url });
clone_shell!(ResourceMetrics {
    resource,
    schema_url
});
clone_shell!(ScopeMetrics { scope, schema_url });
clone_shell!(Gauge {});
clone_shell!(Sum {
    aggregation_temporality,
    is_monotonic
});
clone_shell!(Histogram {
    aggregation_temporality
});
clone_shell!(ExponentialHistogram {
    aggregation_temporality
});
clone_shell!(Summary {});

#[cfg(test)]
#[path = "split_tests.rs"]
mod tests;
