//! Turning request bodies into payloads: protobuf, or OTLP/JSON with otelcol's leniencies.
//!
//! `opentelemetry-proto`'s serde support already reads hex ids (any case, `""` = empty), int64
//! as strings or numbers, integer enums, and ignores unknown fields. What it lacks, and what the
//! small pre-pass in [`normalize_json`] adds, is what Go's decoder also accepts: snake_case keys
//! (serde would silently drop them as unknown fields, losing data) and enum names. Id lengths are
//! checked after decoding for both encodings, as Go's pdata `TraceID`/`SpanID` unmarshalers do.

use kakehashi_pdata::proto::logs::v1::SeverityNumber;
use kakehashi_pdata::proto::metrics::v1::AggregationTemporality;
use kakehashi_pdata::proto::trace::v1::{span::SpanKind, status::StatusCode};
use kakehashi_pdata::{
    ExportLogsServiceRequest, ExportMetricsServiceRequest, ExportTraceServiceRequest, Payload,
    Signal,
};
use prost::Message;
use serde_json::Value;

/// Decodes a protobuf body of the given signal and checks its ids.
pub fn decode_proto(signal: Signal, body: &[u8]) -> Result<Payload, String> {
    let p = match signal {
        Signal::Traces => {
            Payload::Traces(ExportTraceServiceRequest::decode(body).map_err(|e| e.to_string())?)
        }
        Signal::Metrics => {
            Payload::Metrics(ExportMetricsServiceRequest::decode(body).map_err(|e| e.to_string())?)
        }
        Signal::Logs => {
            Payload::Logs(ExportLogsServiceRequest::decode(body).map_err(|e| e.to_string())?)
        }
    };
    check_ids(&p)?;
    Ok(p)
}

/// Decodes an OTLP/JSON body of the given signal and checks its ids.
pub fn decode_json(signal: Signal, body: &[u8]) -> Result<Payload, String> {
    let mut v: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    normalize_json(&mut v, None)?;
    let p = match signal {
        Signal::Traces => Payload::Traces(serde_json::from_value(v).map_err(|e| e.to_string())?),
        Signal::Metrics => Payload::Metrics(serde_json::from_value(v).map_err(|e| e.to_string())?),
        Signal::Logs => Payload::Logs(serde_json::from_value(v).map_err(|e| e.to_string())?),
    };
    check_ids(&p)?;
    Ok(p)
}

/// `trace_id` → `traceId`.
fn lower_camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Rewrites snake_case keys to lowerCamelCase, enum names to their numbers, and rejects id
/// strings that are not plain hex (the hex crate would accept a `0x` prefix; Go does not).
/// `parent` is the key under which this value sits, for the context-dependent `code`.
fn normalize_json(v: &mut Value, parent: Option<&str>) -> Result<(), String> {
    match v {
        Value::Array(items) => {
            for i in items {
                normalize_json(i, parent)?;
            }
        }
        Value::Object(map) => {
            if map.keys().any(|k| k.contains('_')) {
                let old = std::mem::take(map);
                for (k, val) in old {
                    let k = if k.contains('_') { lower_camel(&k) } else { k };
                    // A camelCase key wins over its snake_case twin, as in protojson.
                    map.entry(k).or_insert(val);
                }
            }
            for (k, val) in map.iter_mut() {
                if let Value::String(s) = val {
                    let enum_num = match k.as_str() {
                        "kind" => SpanKind::from_str_name(s).map(|e| e as i32),
                        "code" if parent == Some("status") => {
                            StatusCode::from_str_name(s).map(|e| e as i32)
                        }
                        "severityNumber" => SeverityNumber::from_str_name(s).map(|e| e as i32),
                        "aggregationTemporality" => {
                            AggregationTemporality::from_str_name(s).map(|e| e as i32)
                        }
                        "traceId" | "spanId" | "parentSpanId" => {
                            if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                                return Err(format!("invalid {k}: {s:?} is not a hex string"));
                            }
                            None
                        }
                        _ => None,
                    };
                    if let Some(n) = enum_num {
                        *val = Value::from(n);
                    }
                } else {
                    normalize_json(val, Some(k.as_str()))?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

fn check_len(id: &[u8], want: usize, what: &str) -> Result<(), String> {
    if id.is_empty() || id.len() == want {
        Ok(())
    } else {
        Err(format!(
            "invalid length for {what}: {} (length mismatch)",
            id.len()
        ))
    }
}

/// Trace ids must be 16 bytes and span ids 8 (or empty), everywhere ids occur.
pub(crate) fn check_ids(p: &Payload) -> Result<(), String> {
    match p {
        Payload::Traces(r) => {
            for span in r
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .flat_map(|s| &s.spans)
            {
                check_len(&span.trace_id, 16, "TraceID")?;
                check_len(&span.span_id, 8, "SpanID")?;
                check_len(&span.parent_span_id, 8, "SpanID")?;
                for l in &span.links {
                    check_len(&l.trace_id, 16, "TraceID")?;
                    check_len(&l.span_id, 8, "SpanID")?;
                }
            }
        }
        Payload::Logs(r) => {
            for lr in r
                .resource_logs
                .iter()
                .flat_map(|rl| &rl.scope_logs)
                .flat_map(|s| &s.log_records)
            {
                check_len(&lr.trace_id, 16, "TraceID")?;
                check_len(&lr.span_id, 8, "SpanID")?;
            }
        }
        Payload::Metrics(r) => {
            use kakehashi_pdata::proto::metrics::v1::metric::Data;
            for m in r
                .resource_metrics
                .iter()
                .flat_map(|rm| &rm.scope_metrics)
                .flat_map(|s| &s.metrics)
            {
                let exemplars: Vec<_> = match &m.data {
                    Some(Data::Gauge(g)) => {
                        g.data_points.iter().flat_map(|d| &d.exemplars).collect()
                    }
                    Some(Data::Sum(s)) => s.data_points.iter().flat_map(|d| &d.exemplars).collect(),
                    Some(Data::Histogram(h)) => {
                        h.data_points.iter().flat_map(|d| &d.exemplars).collect()
                    }
                    Some(Data::ExponentialHistogram(h)) => {
                        h.data_points.iter().flat_map(|d| &d.exemplars).collect()
                    }
                    Some(Data::Summary(_)) | None => Vec::new(),
                };
                for e in exemplars {
                    check_len(&e.trace_id, 16, "TraceID")?;
                    check_len(&e.span_id, 8, "SpanID")?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
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
    fn garbage_is_an_error() {
        assert!(decode_proto(Signal::Traces, b"\xff\xff\xff garbage").is_err());
        assert!(decode_json(Signal::Traces, b"{not json").is_err());
    }
}
