//! Turning request bodies into payloads: protobuf, or OTLP/JSON with otelcol's leniencies.
//!
//! `opentelemetry-proto`'s serde support already reads hex ids (any case, `""` = empty), int64
//! as strings or numbers, integer enums, and ignores unknown fields. What it lacks, and what the
//! small pre-pass in [`normalize_json`] adds, is what Go's decoder also accepts: snake_case keys
//! (serde would silently drop them as unknown fields, losing data) and enum names. Id lengths are
//! checked after decoding for both encodings, as Go's pdata `TraceID`/`SpanID` unmarshalers do.
//!
//! One more gap: `opentelemetry-proto` reads the metric oneofs (`Metric.data`, a data point's
//! `asInt`/`asDouble`) through `#[serde(flatten)]`, and serde turns *any* error inside a
//! flattened `Option` into `None`. A malformed `sum` or `asInt` would be accepted with its data
//! silently dropped (otelcol answers 400), so [`normalize_json`] checks those values itself.
//! Double fields given as strings, `"NaN"` and `"Infinity"` included, are read as Go reads them
//! (see `json_doubles`).

use crate::json_doubles::Doubles;
use kakehashi_pdata::doubles::is_double_key;
use kakehashi_pdata::proto::logs::v1::SeverityNumber;
use kakehashi_pdata::proto::metrics::v1::AggregationTemporality;
use kakehashi_pdata::proto::trace::v1::{span::SpanKind, status::StatusCode};
use kakehashi_pdata::{
    ExportLogsServiceRequest, ExportMetricsServiceRequest, ExportTraceServiceRequest, OtlpRequest,
    Payload, Signal,
};
use serde::Deserialize;
use serde_json::Value;

/// Decodes a protobuf body of the given signal and checks its ids.
pub fn decode_proto(signal: Signal, body: &[u8]) -> Result<Payload, String> {
    // Invalid UTF-8 in strings is accepted (replaced by U+FFFD), as otelcol accepts it.
    let p = match signal {
        Signal::Traces => Payload::Traces(
            ExportTraceServiceRequest::decode_lenient(body).map_err(|e| e.to_string())?,
        ),
        Signal::Metrics => Payload::Metrics(
            ExportMetricsServiceRequest::decode_lenient(body).map_err(|e| e.to_string())?,
        ),
        Signal::Logs => Payload::Logs(
            ExportLogsServiceRequest::decode_lenient(body).map_err(|e| e.to_string())?,
        ),
    };
    check_ids(&p)?;
    Ok(p)
}

/// Decodes an OTLP/JSON body of the given signal and checks its ids.
pub fn decode_json(signal: Signal, body: &[u8]) -> Result<Payload, String> {
    // Invalid UTF-8 and lone surrogate escapes become U+FFFD, as Go's reader takes them.
    let body = crate::json_text::lenient(body);
    for mut doubles in Doubles::attempts() {
        // Parsed again only in the (practically unseen) case of a marker collision.
        let mut v: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        normalize_json(&mut v, None, &mut doubles)?;
        if doubles.collided() {
            continue;
        }
        let mut p = match signal {
            Signal::Traces => {
                Payload::Traces(serde_json::from_value(v).map_err(|e| e.to_string())?)
            }
            Signal::Metrics => {
                Payload::Metrics(serde_json::from_value(v).map_err(|e| e.to_string())?)
            }
            Signal::Logs => Payload::Logs(serde_json::from_value(v).map_err(|e| e.to_string())?),
        };
        doubles.restore(&mut p);
        check_ids(&p)?;
        return Ok(p);
    }
    Err("request carries every marker value this decoder uses for non-finite doubles".into())
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
/// Double fields given as strings become numbers ([`Doubles`]).
fn normalize_json(
    v: &mut Value,
    parent: Option<&str>,
    doubles: &mut Doubles,
) -> Result<(), String> {
    match v {
        Value::Array(items) => {
            for i in items {
                normalize_json(i, parent, doubles)?;
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
            if let Some(v) = map.get("asInt") {
                check_as_int(v)?;
            }
            for (k, val) in map.iter_mut() {
                if is_double_key(k, parent) {
                    doubles.rewrite(k, val)?;
                }
                if let Value::String(s) = val {
                    let number = match k.as_str() {
                        "kind" => SpanKind::from_str_name(s).map(|e| e as i64),
                        "code" if parent == Some("status") => {
                            StatusCode::from_str_name(s).map(|e| e as i64)
                        }
                        "severityNumber" => SeverityNumber::from_str_name(s).map(|e| e as i64),
                        "aggregationTemporality" => {
                            AggregationTemporality::from_str_name(s).map(|e| e as i64)
                        }
                        // 32-bit integers as decimal strings, which proto3 JSON allows and
                        // Go reads (serde reads them only for 64-bit fields).
                        "droppedAttributesCount"
                        | "droppedEventsCount"
                        | "droppedLinksCount"
                        | "flags"
                        | "scale"
                        | "offset" => s.parse::<i64>().ok(),
                        "traceId" | "spanId" | "parentSpanId" => {
                            if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                                return Err(format!("invalid {k}: {s:?} is not a hex string"));
                            }
                            None
                        }
                        _ => None,
                    };
                    if let Some(n) = number {
                        *val = Value::from(n);
                    }
                } else {
                    normalize_json(val, Some(k.as_str()), doubles)?;
                    // After the child's keys are camelCase, so a default never shadows a
                    // snake_case value.
                    fill_omitted(k, val);
                    if parent == Some("metrics") {
                        check_metric_data(k, val)?;
                    }
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Puts back the fields protojson and otelcol's JSON writer omit when empty, where
/// `opentelemetry-proto`'s serde requires them (its `ArrayValue`, `KeyValueList`, `KeyValue` and
/// `EntityRef` have no `#[serde(default)]`): `{"arrayValue":{}}` is an empty list to Go, and a
/// "missing field" 400 for the whole request without this. `key` is the field `v` sits under.
fn fill_omitted(key: &str, v: &mut Value) {
    fn keys_of(list: &mut Value) {
        for item in list.as_array_mut().into_iter().flatten() {
            if let Value::Object(kv) = item {
                kv.entry("key").or_insert_with(|| Value::from(""));
            }
        }
    }
    match (key, v) {
        ("arrayValue", Value::Object(o)) => {
            o.entry("values")
                .or_insert_with(|| Value::Array(Vec::new()));
        }
        ("kvlistValue", Value::Object(o)) => {
            keys_of(
                o.entry("values")
                    .or_insert_with(|| Value::Array(Vec::new())),
            );
        }
        // Every repeated KeyValue field of OTLP's traces, metrics and logs.
        ("attributes" | "filteredAttributes" | "metadata", list) => keys_of(list),
        ("entityRefs", Value::Array(refs)) => {
            for r in refs {
                if let Value::Object(r) = r {
                    for (field, empty) in [
                        ("schemaUrl", Value::from("")),
                        ("type", Value::from("")),
                        ("idKeys", Value::Array(Vec::new())),
                        ("descriptionKeys", Value::Array(Vec::new())),
                    ] {
                        r.entry(field).or_insert(empty);
                    }
                }
            }
        }
        _ => {}
    }
}

/// `asInt`: an int64 as a JSON integer or a decimal string (the decoder accepts both).
fn check_as_int(v: &Value) -> Result<(), String> {
    let ok = match v {
        Value::Number(n) => n.is_i64(),
        Value::String(s) => s.parse::<i64>().is_ok(),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("invalid asInt: {v} is not an int64"))
    }
}

/// Decodes a metric's data (already normalised) on its own, so its errors are reported instead of
/// being swallowed by the flattened `Metric.data`.
fn check_metric_data(key: &str, v: &Value) -> Result<(), String> {
    use kakehashi_pdata::proto::metrics::v1 as m;
    let result = match key {
        "gauge" => m::Gauge::deserialize(v).map(drop),
        "sum" => m::Sum::deserialize(v).map(drop),
        "histogram" => m::Histogram::deserialize(v).map(drop),
        "exponentialHistogram" => m::ExponentialHistogram::deserialize(v).map(drop),
        "summary" => m::Summary::deserialize(v).map(drop),
        _ => Ok(()),
    };
    result.map_err(|e| format!("invalid {key}: {e}"))
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
mod tests;
