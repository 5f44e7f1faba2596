use super::*;

fn traces(json: &str) -> Result<ExportTraceServiceRequest, String> {
    match decode_json(Signal::Traces, json.as_bytes())? {
        Payload::Traces(t) => Ok(t),
        _ => unreachable!(),
    }
}

fn one_span(span: &str) -> String {
    format!(r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{span}]}}]}}]}}"#)
}

#[test]
fn hex_ids_any_case_and_empty() {
    let t = traces(&one_span(
        r#"{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"eee19b7ec3c1b174","parentSpanId":"","name":"x","kind":2,"startTimeUnixNano":"1544712660000000000","endTimeUnixNano":1544712661000000000,"unknownField":{"a":1}}"#,
    ))
    .unwrap();
    let s = &t.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(s.trace_id[0], 0x5b);
    assert_eq!(s.trace_id.len(), 16);
    assert_eq!(s.span_id.len(), 8);
    assert!(s.parent_span_id.is_empty());
    assert_eq!(s.kind, 2);
    assert_eq!(s.start_time_unix_nano, 1544712660000000000);
    assert_eq!(s.end_time_unix_nano, 1544712661000000000);
}

#[test]
fn wrong_id_length_or_non_hex_rejected() {
    assert!(traces(&one_span(
        r#"{"traceId":"5b8efff7","spanId":"eee19b7ec3c1b174"}"#
    ))
    .is_err());
    assert!(traces(&one_span(r#"{"spanId":"eee19b7ec3c1b1"}"#)).is_err());
    assert!(traces(&one_span(r#"{"spanId":"0xeee19b7ec3c1b1"}"#)).is_err());
    assert!(traces(&one_span(r#"{"spanId":"zzzzzzzzzzzzzzzz"}"#)).is_err());
}

#[test]
fn snake_case_and_enum_names() {
    let t = traces(
        r#"{"resource_spans":[{"scope_spans":[{"spans":[{"span_id":"eee19b7ec3c1b174","kind":"SPAN_KIND_SERVER","status":{"code":"STATUS_CODE_ERROR"},"attributes":[{"key":"k","value":{"intValue":"5"}}]}]}]}]}"#,
    )
    .unwrap();
    let s = &t.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(s.span_id.len(), 8);
    assert_eq!(s.kind, 2);
    assert_eq!(s.status.as_ref().unwrap().code, 2);
    assert_eq!(s.attributes[0].key, "k");
}

/// protojson and otelcol's own JSON writer leave empty fields out: an empty list or map
/// value, an empty attribute key, an entity reference's empty strings. Go reads every
/// field as optional; so do we (snake_case spellings included), keeping what is given.
#[test]
fn omitted_empty_fields_are_defaults() {
    let t = traces(&one_span(
        r#"{"attributes":[
            {"key":"list","value":{"arrayValue":{}}},
            {"key":"map","value":{"kvlistValue":{}}},
            {"key":"nested","value":{"kvlistValue":{"values":[{"value":{"stringValue":"no key"}}]}}},
            {"value":{"intValue":"1"}},
            {"key":"snake","value":{"array_value":{"values":[{"string_value":"kept"}]}}}
        ],"events":[{"name":"e","attributes":[{"value":{"boolValue":true}}]}]}"#,
    ))
    .unwrap();
    use kakehashi_pdata::proto::common::v1::any_value::Value as V;
    let s = &t.resource_spans[0].scope_spans[0].spans[0];
    let value = |i: usize| {
        s.attributes[i]
            .value
            .as_ref()
            .unwrap()
            .value
            .clone()
            .unwrap()
    };
    assert!(matches!(value(0), V::ArrayValue(a) if a.values.is_empty()));
    assert!(matches!(value(1), V::KvlistValue(m) if m.values.is_empty()));
    let V::KvlistValue(m) = value(2) else {
        panic!("kvlist")
    };
    assert_eq!(m.values[0].key, "");
    assert_eq!(s.attributes[3].key, "");
    let V::ArrayValue(a) = value(4) else {
        panic!("array")
    };
    assert_eq!(a.values.len(), 1, "the snake_case values are kept");
    assert_eq!(s.events[0].attributes[0].key, "");

    let t = traces(
        r#"{"resourceSpans":[{"resource":{"attributes":[{"value":{"stringValue":"v"}}],
            "entityRefs":[{}, {"type":"service","id_keys":["service.name"]}]},
            "scopeSpans":[{"scope":{"attributes":[{"value":{}}]}}]}]}"#,
    )
    .unwrap();
    let r = t.resource_spans[0].resource.as_ref().unwrap();
    assert_eq!(r.attributes[0].key, "");
    assert_eq!(r.entity_refs[0].r#type, "");
    assert_eq!(r.entity_refs[1].r#type, "service");
    assert_eq!(r.entity_refs[1].id_keys, ["service.name"]);

    let m = decode_json(
        Signal::Metrics,
        br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","metadata":[{"value":{}}],"gauge":{"dataPoints":[{"asInt":"1","attributes":[{"value":{}}],"exemplars":[{"filteredAttributes":[{"value":{}}]}]}]}}]}]}]}"#,
    )
    .unwrap();
    assert_eq!(m.item_count(), 1);
}

#[test]
fn thirty_two_bit_integers_as_strings() {
    let t = traces(&one_span(
        r#"{"flags":"257","droppedAttributesCount":"3","droppedEventsCount":"1","droppedLinksCount":"0"}"#,
    ))
    .unwrap();
    let s = &t.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(
        (s.flags, s.dropped_attributes_count, s.dropped_events_count),
        (257, 3, 1)
    );
    let m = decode_json(
        Signal::Metrics,
        br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","exponentialHistogram":{"dataPoints":[{"scale":"-2","flags":"1","positive":{"offset":"-5","bucketCounts":["1"]}}]}}]}]}]}"#,
    )
    .unwrap();
    assert_eq!(m.item_count(), 1);
    assert!(traces(&one_span(r#"{"flags":"x"}"#)).is_err());
    assert!(traces(&one_span(r#"{"flags":"4294967296"}"#)).is_err());
}

#[test]
fn metrics_and_logs_json() {
    let m = decode_json(
        Signal::Metrics,
        br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","sum":{"aggregationTemporality":2,"isMonotonic":true,"dataPoints":[{"asInt":"7","timeUnixNano":"1"},{"asDouble":1.5}]}}]}]}]}"#,
    )
    .unwrap();
    assert_eq!(m.item_count(), 2);
    let l = decode_json(
        Signal::Logs,
        br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityNumber":9,"body":{"stringValue":"hi"},"traceId":""}]}]}]}"#,
    )
    .unwrap();
    assert_eq!(l.item_count(), 1);
}

#[test]
fn malformed_metric_values_are_errors_not_silently_dropped() {
    let metric = |m: &str| {
        decode_json(
            Signal::Metrics,
            format!(r#"{{"resourceMetrics":[{{"scopeMetrics":[{{"metrics":[{m}]}}]}}]}}"#)
                .as_bytes(),
        )
    };
    for bad in [
        r#"{"name":"m","sum":{"dataPoints":[{"asInt":"99999999999999999999"}]}}"#,
        r#"{"name":"m","gauge":{"dataPoints":[{"asInt":1.5}]}}"#,
        r#"{"name":"m","gauge":{"dataPoints":[{"asDouble":"many"}]}}"#,
        r#"{"name":"m","gauge":{"dataPoints":[{"asDouble":"1e400"}]}}"#,
        r#"{"name":"m","gauge":{"dataPoints":[{"asDouble":true}]}}"#,
        r#"{"name":"m","sum":{"dataPoints":"not a list"}}"#,
        r#"{"name":"m","histogram":{"dataPoints":[{"timeUnixNano":"soon"}]}}"#,
        r#"{"name":"m","gauge":{"dataPoints":[{"exemplars":[{"asInt":"x"}]}]}}"#,
    ] {
        assert!(metric(bad).is_err(), "{bad}");
    }
    let ok = metric(
        r#"{"name":"m","gauge":{"dataPoints":[{"asDouble":"2.5"},{"asInt":-3},{"asInt":"4"}]}}"#,
    )
    .unwrap();
    let Payload::Metrics(r) = ok else {
        unreachable!()
    };
    use kakehashi_pdata::proto::metrics::v1::{metric::Data, number_data_point::Value as V};
    let Some(Data::Gauge(g)) = &r.resource_metrics[0].scope_metrics[0].metrics[0].data else {
        panic!("gauge lost")
    };
    let values: Vec<_> = g.data_points.iter().map(|p| p.value).collect();
    assert_eq!(
        values,
        [
            Some(V::AsDouble(2.5)),
            Some(V::AsInt(-3)),
            Some(V::AsInt(4))
        ]
    );
}

fn metrics(json: &str) -> ExportMetricsServiceRequest {
    match decode_json(Signal::Metrics, json.as_bytes()) {
        Ok(Payload::Metrics(m)) => m,
        other => panic!("{json}: {other:?}"),
    }
}

#[test]
fn non_finite_doubles_as_go_reads_them() {
    use kakehashi_pdata::proto::common::v1::any_value::Value as A;
    use kakehashi_pdata::proto::metrics::v1::{metric::Data, number_data_point::Value as V};
    let m = metrics(
        r#"{"resourceMetrics":[{"resource":{"attributes":[{"key":"r","value":{"doubleValue":"-Infinity"}}]},"scopeMetrics":[{"metrics":[
          {"name":"g","gauge":{"dataPoints":[{"asDouble":"NaN"},{"asDouble":"Infinity"},{"as_double":"-inf"},{"asDouble":"2.5"},{"asDouble":0.5,"exemplars":[{"asDouble":"NaN"}]}]}},
          {"name":"h","histogram":{"dataPoints":[{"sum":"NaN","min":"-Infinity","max":"Infinity","explicitBounds":[1,"Infinity"],"attributes":[{"key":"a","value":{"arrayValue":{"values":[{"doubleValue":"NaN"}]}}}]}]}},
          {"name":"e","exponentialHistogram":{"dataPoints":[{"sum":"Infinity","zeroThreshold":"NaN"}]}},
          {"name":"s","summary":{"dataPoints":[{"sum":"NaN","quantileValues":[{"quantile":1,"value":"Infinity"}]}]}}
        ]}]}]}"#,
    );
    let rm = &m.resource_metrics[0];
    let Some(A::DoubleValue(r)) = rm.resource.as_ref().unwrap().attributes[0]
        .value
        .as_ref()
        .unwrap()
        .value
    else {
        panic!("resource double lost")
    };
    assert_eq!(r, f64::NEG_INFINITY);
    let ms = &rm.scope_metrics[0].metrics;
    let Some(Data::Gauge(g)) = &ms[0].data else {
        panic!("gauge lost")
    };
    let values: Vec<f64> = g
        .data_points
        .iter()
        .map(|p| match p.value {
            Some(V::AsDouble(f)) => f,
            ref other => panic!("{other:?}"),
        })
        .collect();
    assert!(values[0].is_nan());
    assert_eq!(values[1..], [f64::INFINITY, f64::NEG_INFINITY, 2.5, 0.5]);
    use kakehashi_pdata::proto::metrics::v1::exemplar::Value as E;
    assert!(matches!(g.data_points[4].exemplars[0].value, Some(E::AsDouble(f)) if f.is_nan()));
    let Some(Data::Histogram(h)) = &ms[1].data else {
        panic!("histogram lost")
    };
    let p = &h.data_points[0];
    assert!(p.sum.unwrap().is_nan());
    assert_eq!(
        (p.min, p.max),
        (Some(f64::NEG_INFINITY), Some(f64::INFINITY))
    );
    assert_eq!(p.explicit_bounds, [1.0, f64::INFINITY]);
    let Some(A::ArrayValue(a)) = &p.attributes[0].value.as_ref().unwrap().value else {
        panic!("array lost")
    };
    assert!(matches!(a.values[0].value, Some(A::DoubleValue(f)) if f.is_nan()));
    let Some(Data::ExponentialHistogram(e)) = &ms[2].data else {
        panic!("exponential histogram lost")
    };
    assert_eq!(e.data_points[0].sum, Some(f64::INFINITY));
    assert!(e.data_points[0].zero_threshold.is_nan());
    let Some(Data::Summary(s)) = &ms[3].data else {
        panic!("summary lost")
    };
    assert!(s.data_points[0].sum.is_nan());
    assert_eq!(s.data_points[0].quantile_values[0].value, f64::INFINITY);
}

#[test]
fn non_finite_in_traces_and_logs() {
    use kakehashi_pdata::proto::common::v1::any_value::Value as A;
    let t = traces(&one_span(
        r#"{"attributes":[{"key":"x","value":{"doubleValue":"NaN"}}],"events":[{"attributes":[{"key":"y","value":{"doubleValue":"Infinity"}}]}]}"#,
    ))
    .unwrap();
    let s = &t.resource_spans[0].scope_spans[0].spans[0];
    assert!(
        matches!(s.attributes[0].value.as_ref().unwrap().value, Some(A::DoubleValue(f)) if f.is_nan())
    );
    assert_eq!(
        s.events[0].attributes[0].value.as_ref().unwrap().value,
        Some(A::DoubleValue(f64::INFINITY))
    );
    let Ok(Payload::Logs(l)) = decode_json(
        Signal::Logs,
        br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"doubleValue":"-Infinity"}}]}]}]}"#,
    ) else {
        panic!("logs refused")
    };
    let body = &l.resource_logs[0].scope_logs[0].log_records[0].body;
    assert_eq!(
        body.as_ref().unwrap().value,
        Some(A::DoubleValue(f64::NEG_INFINITY))
    );
}

/// `sum`/`min`/`max` are doubles only in data points; elsewhere an unknown field is ignored.
#[test]
fn double_names_only_where_they_are_doubles() {
    assert!(traces(&one_span(r#"{"name":"x","max":"not a number"}"#)).is_ok());
    let point = |p: &str| {
        decode_json(
            Signal::Metrics,
            format!(r#"{{"resourceMetrics":[{{"scopeMetrics":[{{"metrics":[{{"name":"h","histogram":{{"dataPoints":[{p}]}}}}]}}]}}]}}"#)
                .as_bytes(),
        )
    };
    assert!(point(r#"{"max":"not a number"}"#).is_err());
    assert!(point(r#"{"max":"7"}"#).is_ok());
}

/// A real value equal to a marker stays itself, and a NaN beside it is still NaN.
#[test]
fn real_values_equal_to_markers_are_kept() {
    use kakehashi_pdata::proto::metrics::v1::{metric::Data, number_data_point::Value as V};
    let first_nan_marker = kakehashi_pdata::doubles::Markers::CANDIDATES[0].mark(f64::NAN);
    let json = format!(
        r#"{{"resourceMetrics":[{{"scopeMetrics":[{{"metrics":[{{"name":"g","gauge":{{"dataPoints":[{{"asDouble":{}}},{{"asDouble":"NaN"}}]}}}}]}}]}}]}}"#,
        serde_json::Number::from_f64(first_nan_marker).unwrap()
    );
    let m = metrics(&json);
    let Some(Data::Gauge(g)) = &m.resource_metrics[0].scope_metrics[0].metrics[0].data else {
        panic!("gauge lost")
    };
    assert_eq!(g.data_points[0].value, Some(V::AsDouble(first_nan_marker)));
    assert!(matches!(g.data_points[1].value, Some(V::AsDouble(f)) if f.is_nan()));
}

#[test]
fn garbage_is_an_error() {
    assert!(decode_proto(Signal::Traces, b"\xff\xff\xff garbage").is_err());
    assert!(decode_json(Signal::Traces, b"{not json").is_err());
}
