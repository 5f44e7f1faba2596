//! OTLP/JSON request bodies that otelcol's reader accepts.
//!
//! opentelemetry-proto's serde writes an unset optional double (a histogram's `sum`, `min`,
//! `max`) as `null`, and serde_json writes a NaN or infinite double as `null` too. otelcol's
//! pdata reader refuses `null` for a double ("unsupported value type") and answers 400 for the
//! whole request. Its writer (protojson) leaves unset fields out and writes non-finite doubles as
//! `"NaN"`, `"Infinity"` and `"-Infinity"`; so does this one. Requests with neither (every trace
//! and log request without a non-finite attribute) take serde's direct path.

use kakehashi_pdata::doubles::{for_each_double, for_each_double_mut, is_double_key, Markers};
use kakehashi_pdata::Payload;
use serde_json::Value;

pub fn encode(payload: &Payload) -> Result<Vec<u8>, String> {
    let mut non_finite = false;
    for_each_double(payload, &mut |x| non_finite |= !x.is_finite());
    let err = |e: serde_json::Error| e.to_string();
    if !non_finite && !matches!(payload, Payload::Metrics(_)) {
        return to_vec(payload).map_err(err);
    }
    let (mut value, markers) = if non_finite {
        let markers = Markers::CANDIDATES
            .into_iter()
            .find(|m| {
                let mut taken = false;
                for_each_double(payload, &mut |x| taken |= m.is_marker(*x));
                !taken
            })
            .ok_or("the request holds every value this encoder uses to write NaN and ±Infinity")?;
        let mut marked = payload.clone();
        for_each_double_mut(&mut marked, &mut |x| *x = markers.mark(*x));
        (to_value(&marked).map_err(err)?, Some(markers))
    } else {
        (to_value(payload).map_err(err)?, None)
    };
    rewrite(&mut value, None, markers);
    serde_json::to_vec(&value).map_err(err)
}

fn to_vec(p: &Payload) -> serde_json::Result<Vec<u8>> {
    match p {
        Payload::Traces(r) => serde_json::to_vec(r),
        Payload::Metrics(r) => serde_json::to_vec(r),
        Payload::Logs(r) => serde_json::to_vec(r),
    }
}

fn to_value(p: &Payload) -> serde_json::Result<Value> {
    match p {
        Payload::Traces(r) => serde_json::to_value(r),
        Payload::Metrics(r) => serde_json::to_value(r),
        Payload::Logs(r) => serde_json::to_value(r),
    }
}

/// Drops the `null` doubles of data points and turns markers back into protojson's strings.
/// `parent` is the key under which `v` sits.
fn rewrite(v: &mut Value, parent: Option<&str>, markers: Option<Markers>) {
    match v {
        Value::Array(items) => {
            for item in items {
                rewrite(item, parent, markers);
            }
        }
        Value::Object(map) => {
            if parent == Some("dataPoints") {
                map.retain(|k, v| !(v.is_null() && is_double_key(k, parent)));
            }
            for (k, val) in map.iter_mut() {
                if is_double_key(k, parent) {
                    if let Some(m) = markers {
                        unmark(val, m);
                    }
                } else {
                    rewrite(val, Some(k.as_str()), markers);
                }
            }
        }
        _ => {}
    }
}

fn unmark(v: &mut Value, markers: Markers) {
    match v {
        Value::Array(items) => items.iter_mut().for_each(|i| unmark(i, markers)),
        Value::Number(n) => {
            let word = match n.as_f64().and_then(|x| markers.unmark(x)) {
                Some(x) if x.is_nan() => "NaN",
                Some(x) if x > 0.0 => "Infinity",
                Some(_) => "-Infinity",
                None => return,
            };
            *v = Value::String(word.into());
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kakehashi_pdata::proto::common::v1::{any_value, AnyValue, KeyValue};
    use kakehashi_pdata::proto::metrics::v1::{
        metric::Data, number_data_point, Gauge, Histogram, HistogramDataPoint, Metric,
        NumberDataPoint, ResourceMetrics, ScopeMetrics,
    };
    use kakehashi_pdata::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use kakehashi_pdata::{ExportMetricsServiceRequest, ExportTraceServiceRequest};

    fn metrics(data: Vec<Data>) -> Payload {
        Payload::Metrics(ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    metrics: data
                        .into_iter()
                        .map(|d| Metric {
                            name: "m".into(),
                            data: Some(d),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        })
    }

    fn json(p: &Payload) -> Value {
        serde_json::from_slice(&encode(p).unwrap()).unwrap()
    }

    #[test]
    fn non_finite_as_protojson_strings_and_unset_doubles_left_out() {
        let p = metrics(vec![
            Data::Gauge(Gauge {
                data_points: [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1.5]
                    .map(|x| NumberDataPoint {
                        value: Some(number_data_point::Value::AsDouble(x)),
                        ..Default::default()
                    })
                    .to_vec(),
            }),
            Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    count: 1,
                    sum: None,
                    min: Some(f64::NEG_INFINITY),
                    max: None,
                    explicit_bounds: vec![1.0, f64::INFINITY],
                    ..Default::default()
                }],
                ..Default::default()
            }),
        ]);
        let v = json(&p);
        let ms = &v["resourceMetrics"][0]["scopeMetrics"][0]["metrics"];
        let doubles: Vec<&Value> = (0..4)
            .map(|i| &ms[0]["gauge"]["dataPoints"][i]["asDouble"])
            .collect();
        assert_eq!(
            doubles,
            ["NaN", "Infinity", "-Infinity"]
                .map(Value::from)
                .iter()
                .chain([&Value::from(1.5)])
                .collect::<Vec<_>>()
        );
        let h = &ms[1]["histogram"]["dataPoints"][0];
        assert!(h.get("sum").is_none() && h.get("max").is_none(), "{h}");
        assert_eq!(h["min"], "-Infinity");
        assert_eq!(h["explicitBounds"], serde_json::json!([1.0, "Infinity"]));
    }

    #[test]
    fn finite_histogram_without_sum_leaves_it_out() {
        let p = metrics(vec![Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                count: 2,
                sum: None,
                min: Some(0.5),
                max: None,
                ..Default::default()
            }],
            ..Default::default()
        })]);
        let v = json(&p);
        let h =
            &v["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]["histogram"]["dataPoints"][0];
        assert_eq!(h["min"], 0.5);
        assert!(h.get("sum").is_none() && h.get("max").is_none(), "{h}");
    }

    #[test]
    fn traces_without_non_finite_take_serdes_path_unchanged() {
        let span = |x: f64| Span {
            name: "s".into(),
            attributes: vec![KeyValue {
                key: "ratio".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::DoubleValue(x)),
                }),
                ..Default::default()
            }],
            ..Default::default()
        };
        let traces = |x: f64| {
            Payload::Traces(ExportTraceServiceRequest {
                resource_spans: vec![ResourceSpans {
                    scope_spans: vec![ScopeSpans {
                        spans: vec![span(x)],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            })
        };
        let Payload::Traces(r) = traces(0.25) else {
            unreachable!()
        };
        assert_eq!(
            encode(&traces(0.25)).unwrap(),
            serde_json::to_vec(&r).unwrap()
        );
        let v = json(&traces(f64::NAN));
        assert_eq!(
            v["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"][0]["value"]
                ["doubleValue"],
            "NaN"
        );
    }
}
