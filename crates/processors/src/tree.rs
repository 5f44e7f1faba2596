//! The resource → scope → item shape every signal's request shares, so a processor can walk
//! spans, log records and metrics with one function.

use kakehashi_pdata::proto::common::v1::InstrumentationScope;
use kakehashi_pdata::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use kakehashi_pdata::proto::metrics::v1::{Metric, ResourceMetrics, ScopeMetrics};
use kakehashi_pdata::proto::resource::v1::Resource;
use kakehashi_pdata::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};

/// `ResourceSpans`, `ResourceLogs`, `ResourceMetrics`.
pub(crate) trait ResourceTree {
    type Scope: ScopeTree;
    fn parts(&mut self) -> (&mut Option<Resource>, &mut Vec<Self::Scope>);
}

/// `ScopeSpans`, `ScopeLogs`, `ScopeMetrics`.
pub(crate) trait ScopeTree {
    type Item;
    fn parts(&mut self) -> (&mut Option<InstrumentationScope>, &mut Vec<Self::Item>);
}

/// The item type under a resource.
pub(crate) type ItemOf<R> = <<R as ResourceTree>::Scope as ScopeTree>::Item;

macro_rules! tree {
    ($resource:ty, $scopes:ident, $scope:ty, $items:ident, $item:ty) => {
        impl ResourceTree for $resource {
            type Scope = $scope;
            fn parts(&mut self) -> (&mut Option<Resource>, &mut Vec<$scope>) {
                (&mut self.resource, &mut self.$scopes)
            }
        }
        impl ScopeTree for $scope {
            type Item = $item;
            fn parts(&mut self) -> (&mut Option<InstrumentationScope>, &mut Vec<$item>) {
                (&mut self.scope, &mut self.$items)
            }
        }
    };
}

tree!(ResourceSpans, scope_spans, ScopeSpans, spans, Span);
tree!(ResourceLogs, scope_logs, ScopeLogs, log_records, LogRecord);
tree!(
    ResourceMetrics,
    scope_metrics,
    ScopeMetrics,
    metrics,
    Metric
);
