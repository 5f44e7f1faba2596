//! OTLP/JSON doubles written as strings, the non-finite ones included.
//!
//! Go's pdata reads every double field with `strconv.ParseFloat` when it holds a string, so
//! `"NaN"`, `"Infinity"` and `"-Infinity"` (what protojson writes for non-finite values, e.g. an
//! otelcol `otlphttp` exporter with `encoding: json` forwarding a NaN gauge) are accepted, as is
//! `"2.5"`. `serde_json::Value` holds only finite numbers and opentelemetry-proto's serde reads
//! numbers only, so the JSON pre-pass rewrites each such string to a number: a finite value as
//! itself, a non-finite one as one of three marker values that [`Doubles::restore`] turns back
//! into NaN / ±Inf after the typed decode. The markers are subnormal numbers no client writes in
//! practice; if a request does carry one as a real value, the decode is redone with the next
//! candidate set, so a real value is never mistaken for a marker.

use kakehashi_pdata::proto::common::v1::{
    any_value::Value as Any, AnyValue, InstrumentationScope, KeyValue,
};
use kakehashi_pdata::proto::metrics::v1::{
    exemplar, metric::Data, number_data_point, Exemplar, Metric,
};
use kakehashi_pdata::proto::resource::v1::Resource;
use kakehashi_pdata::Payload;
use serde_json::{Number, Value};

/// Marker bit patterns for (NaN, +Inf, -Inf), tried in order.
const CANDIDATES: [[u64; 3]; 3] = [
    [
        0x000d_ead0_0000_0001,
        0x000d_ead0_0000_0002,
        0x800d_ead0_0000_0003,
    ],
    [
        0x000b_eef0_0000_0001,
        0x000b_eef0_0000_0002,
        0x800b_eef0_0000_0003,
    ],
    [
        0x000f_ace0_0000_0001,
        0x000f_ace0_0000_0002,
        0x800f_ace0_0000_0003,
    ],
];

/// The double fields of OTLP/JSON (camelCase), by the key under which their object sits:
/// `doubleValue` and `asDouble` are names of their own; `sum`, `min`, `max`, `zeroThreshold` and
/// `explicitBounds` only in a data point (elsewhere they are unknown fields, which the decoder
/// ignores, or the metric's `sum` object). `ValueAtQuantile`'s `quantile` and `value` are left
/// out: opentelemetry-proto already reads their strings.
pub(crate) fn is_double_key(key: &str, parent: Option<&str>) -> bool {
    match key {
        "doubleValue" | "asDouble" => true,
        "sum" | "min" | "max" | "zeroThreshold" | "explicitBounds" => parent == Some("dataPoints"),
        _ => false,
    }
}

/// One attempt's markers, and what the pre-pass saw.
pub(crate) struct Doubles {
    markers: [u64; 3],
    /// A marker was written: [`Doubles::restore`] must run.
    used: bool,
    /// A real value equals a marker: this attempt cannot tell them apart.
    collided: bool,
}

impl Doubles {
    /// The marker sets to try, in order.
    pub(crate) fn attempts() -> impl Iterator<Item = Doubles> {
        CANDIDATES.into_iter().map(|markers| Doubles {
            markers,
            used: false,
            collided: false,
        })
    }

    /// Whether this attempt's result is ambiguous and the next marker set must be tried.
    pub(crate) fn collided(&self) -> bool {
        self.used && self.collided
    }

    /// Rewrites the value of double field `key` (see [`is_double_key`]) in place. Objects (the
    /// metric's `sum`) and other types are left to the typed decode, except for `asDouble`,
    /// whose errors that decode would swallow (it is read through a flattened oneof).
    pub(crate) fn rewrite(&mut self, key: &str, v: &mut Value) -> Result<(), String> {
        match v {
            Value::Array(items) if key == "explicitBounds" => {
                for item in items {
                    self.rewrite_scalar(key, item)?;
                }
                Ok(())
            }
            Value::String(_) | Value::Number(_) => self.rewrite_scalar(key, v),
            _ if key == "asDouble" => Err(format!("invalid asDouble: {v} is not a number")),
            _ => Ok(()),
        }
    }

    fn rewrite_scalar(&mut self, key: &str, v: &mut Value) -> Result<(), String> {
        let f = match v {
            Value::Number(n) => {
                let bits = n.as_f64().map(f64::to_bits);
                self.collided |= bits.is_some_and(|b| self.markers.contains(&b));
                return Ok(());
            }
            Value::String(s) => {
                parse_go_float(s).ok_or_else(|| format!("invalid {key}: {s:?} is not a number"))?
            }
            // Anything else is the typed decode's to report.
            _ => return Ok(()),
        };
        let stored = if f.is_nan() {
            self.markers[0]
        } else if f == f64::INFINITY {
            self.markers[1]
        } else if f == f64::NEG_INFINITY {
            self.markers[2]
        } else {
            self.collided |= self.markers.contains(&f.to_bits());
            f.to_bits()
        };
        self.used |= stored != f.to_bits();
        // Every marker and every finite f64 is a valid JSON number.
        if let Some(n) = Number::from_f64(f64::from_bits(stored)) {
            *v = Value::Number(n);
        }
        Ok(())
    }

    /// Turns the markers in the decoded payload back into NaN / ±Inf.
    pub(crate) fn restore(&self, p: &mut Payload) {
        if !self.used {
            return;
        }
        let fix = |x: &mut f64| {
            let bits = x.to_bits();
            if bits == self.markers[0] {
                *x = f64::NAN;
            } else if bits == self.markers[1] {
                *x = f64::INFINITY;
            } else if bits == self.markers[2] {
                *x = f64::NEG_INFINITY;
            }
        };
        match p {
            Payload::Traces(r) => {
                for rs in &mut r.resource_spans {
                    resource(&mut rs.resource, &fix);
                    for ss in &mut rs.scope_spans {
                        scope(&mut ss.scope, &fix);
                        for span in &mut ss.spans {
                            attrs(&mut span.attributes, &fix);
                            for e in &mut span.events {
                                attrs(&mut e.attributes, &fix);
                            }
                            for l in &mut span.links {
                                attrs(&mut l.attributes, &fix);
                            }
                        }
                    }
                }
            }
            Payload::Logs(r) => {
                for rl in &mut r.resource_logs {
                    resource(&mut rl.resource, &fix);
                    for sl in &mut rl.scope_logs {
                        scope(&mut sl.scope, &fix);
                        for lr in &mut sl.log_records {
                            if let Some(body) = &mut lr.body {
                                any(body, &fix);
                            }
                            attrs(&mut lr.attributes, &fix);
                        }
                    }
                }
            }
            Payload::Metrics(r) => {
                for rm in &mut r.resource_metrics {
                    resource(&mut rm.resource, &fix);
                    for sm in &mut rm.scope_metrics {
                        scope(&mut sm.scope, &fix);
                        for m in &mut sm.metrics {
                            metric(m, &fix);
                        }
                    }
                }
            }
        }
    }
}

/// Go's `strconv.ParseFloat(s, 64)` for the forms JSON clients write: decimal numbers and
/// (any case, optional sign) `NaN`, `Inf`, `Infinity`. Like Go, a finite number too large for
/// a float64 is an error, not an infinity.
fn parse_go_float(s: &str) -> Option<f64> {
    let f: f64 = s.parse().ok()?;
    if f.is_infinite() {
        let word = s.trim_start_matches(['+', '-']).to_ascii_lowercase();
        if word != "inf" && word != "infinity" {
            return None;
        }
    }
    Some(f)
}

fn resource(r: &mut Option<Resource>, fix: &impl Fn(&mut f64)) {
    if let Some(r) = r {
        attrs(&mut r.attributes, fix);
    }
}

fn scope(s: &mut Option<InstrumentationScope>, fix: &impl Fn(&mut f64)) {
    if let Some(s) = s {
        attrs(&mut s.attributes, fix);
    }
}

fn attrs(kvs: &mut [KeyValue], fix: &impl Fn(&mut f64)) {
    for kv in kvs {
        if let Some(v) = &mut kv.value {
            any(v, fix);
        }
    }
}

fn any(v: &mut AnyValue, fix: &impl Fn(&mut f64)) {
    match &mut v.value {
        Some(Any::DoubleValue(f)) => fix(f),
        Some(Any::ArrayValue(a)) => {
            for e in &mut a.values {
                any(e, fix);
            }
        }
        Some(Any::KvlistValue(kvs)) => attrs(&mut kvs.values, fix),
        _ => {}
    }
}

fn exemplars(es: &mut [Exemplar], fix: &impl Fn(&mut f64)) {
    for e in es {
        attrs(&mut e.filtered_attributes, fix);
        if let Some(exemplar::Value::AsDouble(f)) = &mut e.value {
            fix(f);
        }
    }
}

fn metric(m: &mut Metric, fix: &impl Fn(&mut f64)) {
    attrs(&mut m.metadata, fix);
    let number_points = match &mut m.data {
        Some(Data::Gauge(g)) => g.data_points.as_mut_slice(),
        Some(Data::Sum(s)) => s.data_points.as_mut_slice(),
        Some(Data::Histogram(h)) => {
            for p in &mut h.data_points {
                attrs(&mut p.attributes, fix);
                exemplars(&mut p.exemplars, fix);
                p.sum
                    .iter_mut()
                    .chain(&mut p.min)
                    .chain(&mut p.max)
                    .for_each(fix);
                p.explicit_bounds.iter_mut().for_each(fix);
            }
            &mut []
        }
        Some(Data::ExponentialHistogram(h)) => {
            for p in &mut h.data_points {
                attrs(&mut p.attributes, fix);
                exemplars(&mut p.exemplars, fix);
                p.sum
                    .iter_mut()
                    .chain(&mut p.min)
                    .chain(&mut p.max)
                    .for_each(fix);
                fix(&mut p.zero_threshold);
            }
            &mut []
        }
        Some(Data::Summary(s)) => {
            for p in &mut s.data_points {
                attrs(&mut p.attributes, fix);
                fix(&mut p.sum);
            }
            &mut []
        }
        None => &mut [],
    };
    for p in number_points {
        attrs(&mut p.attributes, fix);
        exemplars(&mut p.exemplars, fix);
        if let Some(number_data_point::Value::AsDouble(f)) = &mut p.value {
            fix(f);
        }
    }
}
