//! Copying OTLP attributes into Datadog meta/metrics (§2.7 steps 4, 10, 11): the OTel → Datadog
//! HTTP key mapping, the "first writer wins" rule, and the special keys `sampling.priority` and
//! `analytics.event`.

use crate::model::{self, Str};
use crate::value::as_string;
use kakehashi_pdata::proto::common::v1::{any_value::Value, AnyValue, KeyValue};
use std::collections::hash_map::Entry;

/// Metric carrying a user sampling priority.
pub const SAMPLING_PRIORITY_KEY: &str = "_sampling_priority_v1";
/// Metric set from `analytics.event` (the agent's `KeySamplingRateEventExtraction`).
pub const EVENT_EXTRACTION_KEY: &str = "_dd1.sr.eausr";

/// The Datadog key for an OTLP attribute key; `None` for the APM convention keys handled
/// elsewhere (`service.name`, `operation.name`, `resource.name`, `span.type`).
pub(crate) fn dd_key(k: &str) -> Option<std::borrow::Cow<'_, str>> {
    let mapped = match k {
        "client.address" => "http.client_ip",
        "http.response.body.size" => "http.response.content_length",
        "http.response.status_code" => "http.status_code",
        "http.request.body.size" => "http.request.content_length",
        "http.request.header.referrer" => "http.referrer",
        "http.request.method" => "http.method",
        "http.route" => "http.route",
        "network.protocol.version" => "http.version",
        "server.address" => "http.server_name",
        "url.full" => "http.url",
        "user_agent.original" => "http.useragent",
        "service.name" | "operation.name" | "resource.name" | "span.type" => return None,
        _ => {
            return Some(match k.strip_prefix("http.request.header.") {
                Some(rest) => format!("http.request.headers.{rest}").into(),
                None => k.into(),
            })
        }
    };
    Some(mapped.into())
}

/// Go's pcommon `Value.AsString()` as a meta value: a string value is copied straight into
/// the (usually inline) [`Str`] rather than cloned into a `String` first.
pub(crate) fn meta_value(v: Option<&AnyValue>) -> Str {
    match v.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => Str::from(s.as_str()),
        _ => as_string(v).into(),
    }
}

/// Go's `conditionallyMapOTLPAttributeToMeta`: written only if the mapped meta key is still empty.
pub(crate) fn map_to_meta(span: &mut model::Span, k: &str, value: Str) {
    let Some(key) = dd_key(k) else { return };
    set_meta_if_empty(span, Str::from(key), value);
}

/// The write half of [`map_to_meta`], for a key already mapped with [`dd_key`]. One hash per
/// call (the entry API): these maps take most of the translation's time.
fn set_meta_if_empty(span: &mut model::Span, key: Str, value: Str) {
    if key == "analytics.event" {
        if span.meta.get(key.as_str()).is_some_and(|v| !v.is_empty()) {
            return;
        }
        if let Some(b) = parse_go_bool(&value) {
            span.metrics
                .entry(EVENT_EXTRACTION_KEY.into())
                .or_insert(if b { 1.0 } else { 0.0 });
        }
        return;
    }
    match span.meta.entry(key) {
        Entry::Occupied(mut e) => {
            if e.get().is_empty() {
                e.insert(value);
            }
        }
        Entry::Vacant(e) => {
            e.insert(value);
        }
    }
}

/// Go's `conditionallyMapOTLPAttributeToMetric`: written only if the metric is absent.
pub(crate) fn map_to_metric(span: &mut model::Span, k: &str, value: f64) {
    let Some(key) = dd_key(k) else { return };
    if key == "sampling.priority" {
        // Go checks the mapped key, then writes the renamed one.
        if !span.metrics.contains_key("sampling.priority") {
            span.metrics
                .entry(SAMPLING_PRIORITY_KEY.into())
                .or_insert(value);
        }
        return;
    }
    span.metrics.entry(Str::from(key)).or_insert(value);
}

/// Span attributes (§2.7 step 4): numbers ⇒ metrics, everything else ⇒ meta via AsString.
/// With `keep`, meta entries only under those (mapped) keys; numbers always become metrics.
pub(crate) fn copy_span_attributes(
    span: &mut model::Span,
    attrs: &[KeyValue],
    keep: Option<&crate::StatsKeys>,
) {
    for kv in attrs {
        match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(Value::DoubleValue(f)) => map_to_metric(span, &kv.key, *f),
            Some(Value::IntValue(i)) => map_to_metric(span, &kv.key, *i as f64),
            _ => match keep {
                None => map_to_meta(span, &kv.key, meta_value(kv.value.as_ref())),
                Some(keep) => {
                    if let Some(key) = dd_key(&kv.key).filter(|k| keep.contains(k.as_ref())) {
                        set_meta_if_empty(span, Str::from(key), meta_value(kv.value.as_ref()));
                    }
                }
            },
        }
    }
}

/// Resource attributes (§2.7 step 10), mapped once per ResourceSpans: the Datadog key and the
/// AsString value of each attribute that maps to meta, in order. All types become meta strings.
pub(crate) fn resource_meta(attrs: &[KeyValue]) -> Vec<(Str, Str)> {
    attrs
        .iter()
        .filter_map(|kv| Some((Str::from(dd_key(&kv.key)?), meta_value(kv.value.as_ref()))))
        .collect()
}

/// Copies mapped resource entries into a span's meta; span values win.
pub(crate) fn copy_resource_meta(span: &mut model::Span, entries: &[(Str, Str)]) {
    for (key, value) in entries {
        set_meta_if_empty(span, key.clone(), value.clone());
    }
}

/// Scope attributes (§2.7 step 11): meta, overwriting.
pub(crate) fn copy_scope_attributes(span: &mut model::Span, attrs: &[KeyValue]) {
    for kv in attrs {
        span.meta
            .insert(Str::from(kv.key.as_str()), meta_value(kv.value.as_ref()));
    }
}

/// Go's `strconv.ParseBool`.
pub(crate) fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::kv;

    #[test]
    fn first_writer_wins_and_keys_are_mapped() {
        let mut span = model::Span::default();
        copy_span_attributes(
            &mut span,
            &[
                kv("http.request.method", Value::StringValue("GET".into())),
                kv("http.method", Value::StringValue("POST".into())),
                kv("http.request.header.x-id", Value::StringValue("7".into())),
                kv("service.name", Value::StringValue("x".into())),
                kv("sampling.priority", Value::IntValue(2)),
                kv("analytics.event", Value::BoolValue(true)),
                kv("flag", Value::BoolValue(false)),
            ],
            None,
        );
        assert_eq!(span.meta["http.method"], "GET");
        assert!(!span.meta.contains_key("http.request.method"));
        assert_eq!(span.meta["http.request.headers.x-id"], "7");
        assert!(!span.meta.contains_key("service.name"));
        assert_eq!(span.metrics[SAMPLING_PRIORITY_KEY], 2.0);
        assert_eq!(span.metrics[EVENT_EXTRACTION_KEY], 1.0);
        assert_eq!(span.meta["flag"], "false");
        assert!(!span.meta.contains_key("analytics.event"));
    }

    #[test]
    fn resource_numbers_are_meta() {
        let mut span = model::Span::default();
        span.meta.insert("k".into(), "span".into());
        let entries = resource_meta(&[
            kv("k", Value::StringValue("res".into())),
            kv("n", Value::IntValue(5)),
            kv("service.name", Value::StringValue("svc".into())),
        ]);
        copy_resource_meta(&mut span, &entries);
        assert_eq!(span.meta["k"], "span");
        assert_eq!(span.meta["n"], "5");
        assert!(!span.meta.contains_key("service.name"));
    }
}
