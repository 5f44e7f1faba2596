//! Every double of a payload that OTLP/JSON writes as a JSON number: attribute and log-body
//! `doubleValue`s (nested arrays and maps included), data point and exemplar `asDouble`s, and
//! the histogram/summary `sum`, `min`, `max`, `zeroThreshold` and `explicitBounds`.
//!
//! JSON numbers cannot be NaN or infinite; protojson writes those as the strings `"NaN"`,
//! `"Infinity"` and `"-Infinity"`. The OTLP/JSON reader and writer use these walks to carry such
//! values through `serde_json`. `ValueAtQuantile`'s `quantile` and `value` are not visited:
//! opentelemetry-proto reads and writes their strings itself.

use crate::proto::common::v1::{any_value::Value as Any, InstrumentationScope, KeyValue};
use crate::proto::metrics::v1::{exemplar, metric::Data, number_data_point, Exemplar, Metric};
use crate::proto::resource::v1::Resource;
use crate::Payload;

/// Whether JSON key `key` holds a double (or, `explicitBounds`, a list of them), given the key
/// under which its object sits: `doubleValue` and `asDouble` are names of their own; `sum`,
/// `min`, `max`, `zeroThreshold` and `explicitBounds` only in a data point (elsewhere they are
/// unknown fields, or the metric's `sum` object).
pub fn is_double_key(key: &str, parent: Option<&str>) -> bool {
    match key {
        "doubleValue" | "asDouble" => true,
        "sum" | "min" | "max" | "zeroThreshold" | "explicitBounds" => parent == Some("dataPoints"),
        _ => false,
    }
}

/// One walk, written once for shared and once for mutable access (`$($m)?` is `mut` or empty).
macro_rules! walk {
    ($name:ident $(, $m:tt)?) => {
        /// Calls `f` on every double listed in the module documentation.
        pub fn $name(p: &$($m)? Payload, f: &mut impl FnMut(&$($m)? f64)) {
            fn attrs(kvs: &$($m)? [KeyValue], f: &mut impl FnMut(&$($m)? f64)) {
                for kv in kvs {
                    if let Some(v) = &$($m)? kv.value {
                        any(&$($m)? v.value, f);
                    }
                }
            }
            fn any(v: &$($m)? Option<Any>, f: &mut impl FnMut(&$($m)? f64)) {
                match v {
                    Some(Any::DoubleValue(x)) => f(x),
                    Some(Any::ArrayValue(a)) => {
                        for e in &$($m)? a.values {
                            any(&$($m)? e.value, f);
                        }
                    }
                    Some(Any::KvlistValue(kvs)) => attrs(&$($m)? kvs.values, f),
                    _ => {}
                }
            }
            fn resource(r: &$($m)? Option<Resource>, f: &mut impl FnMut(&$($m)? f64)) {
                if let Some(r) = r {
                    attrs(&$($m)? r.attributes, f);
                }
            }
            fn scope(s: &$($m)? Option<InstrumentationScope>, f: &mut impl FnMut(&$($m)? f64)) {
                if let Some(s) = s {
                    attrs(&$($m)? s.attributes, f);
                }
            }
            fn exemplars(es: &$($m)? [Exemplar], f: &mut impl FnMut(&$($m)? f64)) {
                for e in es {
                    attrs(&$($m)? e.filtered_attributes, f);
                    if let Some(exemplar::Value::AsDouble(x)) = &$($m)? e.value {
                        f(x);
                    }
                }
            }
            fn optional(xs: [&$($m)? Option<f64>; 3], f: &mut impl FnMut(&$($m)? f64)) {
                for x in xs.into_iter().flatten() {
                    f(x);
                }
            }
            fn metric(m: &$($m)? Metric, f: &mut impl FnMut(&$($m)? f64)) {
                attrs(&$($m)? m.metadata, f);
                match &$($m)? m.data {
                    Some(Data::Gauge(g)) => number_points(&$($m)? g.data_points, f),
                    Some(Data::Sum(s)) => number_points(&$($m)? s.data_points, f),
                    Some(Data::Histogram(h)) => {
                        for p in &$($m)? h.data_points {
                            attrs(&$($m)? p.attributes, f);
                            exemplars(&$($m)? p.exemplars, f);
                            optional([&$($m)? p.sum, &$($m)? p.min, &$($m)? p.max], f);
                            for x in &$($m)? p.explicit_bounds {
                                f(x);
                            }
                        }
                    }
                    Some(Data::ExponentialHistogram(h)) => {
                        for p in &$($m)? h.data_points {
                            attrs(&$($m)? p.attributes, f);
                            exemplars(&$($m)? p.exemplars, f);
                            optional([&$($m)? p.sum, &$($m)? p.min, &$($m)? p.max], f);
                            f(&$($m)? p.zero_threshold);
                        }
                    }
                    Some(Data::Summary(s)) => {
                        for p in &$($m)? s.data_points {
                            attrs(&$($m)? p.attributes, f);
                            f(&$($m)? p.sum);
                        }
                    }
                    None => {}
                }
            }
            fn number_points(
                points: &$($m)? [crate::proto::metrics::v1::NumberDataPoint],
                f: &mut impl FnMut(&$($m)? f64),
            ) {
                for p in points {
                    attrs(&$($m)? p.attributes, f);
                    exemplars(&$($m)? p.exemplars, f);
                    if let Some(number_data_point::Value::AsDouble(x)) = &$($m)? p.value {
                        f(x);
                    }
                }
            }

            match p {
                Payload::Traces(r) => {
                    for rs in &$($m)? r.resource_spans {
                        resource(&$($m)? rs.resource, f);
                        for ss in &$($m)? rs.scope_spans {
                            scope(&$($m)? ss.scope, f);
                            for span in &$($m)? ss.spans {
                                attrs(&$($m)? span.attributes, f);
                                for e in &$($m)? span.events {
                                    attrs(&$($m)? e.attributes, f);
                                }
                                for l in &$($m)? span.links {
                                    attrs(&$($m)? l.attributes, f);
                                }
                            }
                        }
                    }
                }
                Payload::Logs(r) => {
                    for rl in &$($m)? r.resource_logs {
                        resource(&$($m)? rl.resource, f);
                        for sl in &$($m)? rl.scope_logs {
                            scope(&$($m)? sl.scope, f);
                            for lr in &$($m)? sl.log_records {
                                if let Some(body) = &$($m)? lr.body {
                                    any(&$($m)? body.value, f);
                                }
                                attrs(&$($m)? lr.attributes, f);
                            }
                        }
                    }
                }
                Payload::Metrics(r) => {
                    for rm in &$($m)? r.resource_metrics {
                        resource(&$($m)? rm.resource, f);
                        for sm in &$($m)? rm.scope_metrics {
                            scope(&$($m)? sm.scope, f);
                            for m in &$($m)? sm.metrics {
                                metric(m, f);
                            }
                        }
                    }
                }
            }
        }
    };
}

walk!(for_each_double);
walk!(for_each_double_mut, mut);

/// Three finite stand-ins for NaN, +Inf and -Inf, to carry them through `serde_json::Value`
/// (which holds finite numbers only). The candidates are subnormal numbers no client writes in
/// practice; a user of the markers checks that the data holds none of the set it picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Markers([u64; 3]);

impl Markers {
    /// The sets to try, in order.
    pub const CANDIDATES: [Markers; 3] = [
        Markers([
            0x000d_ead0_0000_0001,
            0x000d_ead0_0000_0002,
            0x800d_ead0_0000_0003,
        ]),
        Markers([
            0x000b_eef0_0000_0001,
            0x000b_eef0_0000_0002,
            0x800b_eef0_0000_0003,
        ]),
        Markers([
            0x000f_ace0_0000_0001,
            0x000f_ace0_0000_0002,
            0x800f_ace0_0000_0003,
        ]),
    ];

    /// The marker of a non-finite `x`; a finite `x` unchanged.
    pub fn mark(&self, x: f64) -> f64 {
        let bits = if x.is_nan() {
            self.0[0]
        } else if x == f64::INFINITY {
            self.0[1]
        } else if x == f64::NEG_INFINITY {
            self.0[2]
        } else {
            return x;
        };
        f64::from_bits(bits)
    }

    /// The non-finite value `x` is the marker of, if it is one.
    pub fn unmark(&self, x: f64) -> Option<f64> {
        match self.0.iter().position(|m| *m == x.to_bits())? {
            0 => Some(f64::NAN),
            1 => Some(f64::INFINITY),
            _ => Some(f64::NEG_INFINITY),
        }
    }

    /// Whether `x` is one of these markers.
    pub fn is_marker(&self, x: f64) -> bool {
        self.0.contains(&x.to_bits())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::common::v1::{AnyValue, ArrayValue, KeyValueList};
    use crate::proto::metrics::v1::{
        Exemplar, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram,
        HistogramDataPoint, NumberDataPoint, ResourceMetrics, ScopeMetrics, Summary,
        SummaryDataPoint,
    };
    use crate::ExportMetricsServiceRequest;

    fn double(x: f64) -> KeyValue {
        KeyValue {
            key: "k".into(),
            value: Some(AnyValue {
                value: Some(Any::DoubleValue(x)),
            }),
            ..Default::default()
        }
    }

    /// Each double of a metrics payload is visited once, in both walks, and the mutable walk
    /// writes where it is given to.
    #[test]
    fn every_double_once() {
        let nested = KeyValue {
            key: "n".into(),
            value: Some(AnyValue {
                value: Some(Any::KvlistValue(KeyValueList {
                    values: vec![KeyValue {
                        key: "a".into(),
                        value: Some(AnyValue {
                            value: Some(Any::ArrayValue(ArrayValue {
                                values: vec![AnyValue {
                                    value: Some(Any::DoubleValue(1.0)),
                                }],
                            })),
                        }),
                        ..Default::default()
                    }],
                })),
            }),
            ..Default::default()
        };
        let metric = |data| Metric {
            name: "m".into(),
            metadata: vec![double(2.0)],
            data: Some(data),
            ..Default::default()
        };
        let mut p = Payload::Metrics(ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(Resource {
                    attributes: vec![nested, double(3.0)],
                    ..Default::default()
                }),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope {
                        attributes: vec![double(4.0)],
                        ..Default::default()
                    }),
                    metrics: vec![
                        metric(Data::Gauge(Gauge {
                            data_points: vec![NumberDataPoint {
                                value: Some(number_data_point::Value::AsDouble(5.0)),
                                exemplars: vec![Exemplar {
                                    value: Some(exemplar::Value::AsDouble(6.0)),
                                    ..Default::default()
                                }],
                                ..Default::default()
                            }],
                        })),
                        metric(Data::Histogram(Histogram {
                            data_points: vec![HistogramDataPoint {
                                sum: Some(7.0),
                                min: None,
                                max: Some(8.0),
                                explicit_bounds: vec![9.0, 10.0],
                                ..Default::default()
                            }],
                            ..Default::default()
                        })),
                        metric(Data::ExponentialHistogram(ExponentialHistogram {
                            data_points: vec![ExponentialHistogramDataPoint {
                                zero_threshold: 11.0,
                                ..Default::default()
                            }],
                            ..Default::default()
                        })),
                        metric(Data::Summary(Summary {
                            data_points: vec![SummaryDataPoint {
                                sum: 12.0,
                                ..Default::default()
                            }],
                        })),
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        });
        let mut seen = Vec::new();
        for_each_double(&p, &mut |x| seen.push(*x));
        seen.sort_by(f64::total_cmp);
        let want = [
            1.0, 2.0, 2.0, 2.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0,
        ];
        assert_eq!(seen, want);
        for_each_double_mut(&mut p, &mut |x| *x += 100.0);
        let mut after = Vec::new();
        for_each_double(&p, &mut |x| after.push(*x - 100.0));
        after.sort_by(f64::total_cmp);
        assert_eq!(after, want);
    }

    #[test]
    fn markers_round_trip() {
        for m in Markers::CANDIDATES {
            for x in [f64::INFINITY, f64::NEG_INFINITY] {
                assert!(m.mark(x).is_finite() && m.is_marker(m.mark(x)));
                assert_eq!(m.unmark(m.mark(x)), Some(x));
            }
            assert!(m.unmark(m.mark(f64::NAN)).unwrap().is_nan());
            assert_eq!(m.mark(2.5), 2.5);
            assert_eq!(m.unmark(2.5), None);
        }
    }
}
