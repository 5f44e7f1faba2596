//! `_dd.stats_computed`: a tracer that computed its APM stats itself says so with this
//! attribute, and the Datadog components then leave its spans out of their own stats, so they
//! are not counted twice.

use kakehashi_pdata::go_text::as_string;
use kakehashi_pdata::proto::common::v1::KeyValue;
use kakehashi_pdata::proto::trace::v1::ResourceSpans;

pub const STATS_COMPUTED_KEY: &str = "_dd.stats_computed";

fn value(attrs: &[KeyValue]) -> Option<String> {
    attrs
        .iter()
        .find(|kv| kv.key == STATS_COMPUTED_KEY)
        .map(|kv| as_string(kv.value.as_ref()))
}

/// The exporter's rule (the agent's OTLP receiver, `rattr[keyStatsComputed] != ""`): the
/// resource carries the attribute with any non-empty value.
pub fn by_resource(rs: &ResourceSpans) -> bool {
    rs.resource
        .as_ref()
        .and_then(|r| value(&r.attributes))
        .is_some_and(|v| !v.is_empty())
}

/// The connector's rule (the agent's `resourceSpansHasClientComputedStats`): the resource or
/// any of its spans carries the attribute with a value other than empty and `false`.
pub fn by_resource_or_span(rs: &ResourceSpans) -> bool {
    let set = |attrs: &[KeyValue]| {
        value(attrs).is_some_and(|v| !v.is_empty() && !v.eq_ignore_ascii_case("false"))
    };
    rs.resource.as_ref().is_some_and(|r| set(&r.attributes))
        || rs
            .scope_spans
            .iter()
            .flat_map(|ss| &ss.spans)
            .any(|s| set(&s.attributes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kakehashi_pdata::proto::common::v1::{any_value::Value, AnyValue};
    use kakehashi_pdata::proto::resource::v1::Resource;
    use kakehashi_pdata::proto::trace::v1::{ScopeSpans, Span};

    fn kv(v: Value) -> KeyValue {
        KeyValue {
            key: STATS_COMPUTED_KEY.into(),
            value: Some(AnyValue { value: Some(v) }),
            ..Default::default()
        }
    }

    fn rs(resource: Option<Value>, span: Option<Value>) -> ResourceSpans {
        ResourceSpans {
            resource: Some(Resource {
                attributes: resource.into_iter().map(kv).collect(),
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    attributes: span.into_iter().map(kv).collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn the_exporter_reads_the_resource_and_the_connector_spans_too() {
        let s = |v: &str| Some(Value::StringValue(v.into()));
        for (r, want_exporter, want_connector) in [
            (rs(None, None), false, false),
            (rs(s("true"), None), true, true),
            (rs(Some(Value::BoolValue(true)), None), true, true),
            // Any non-empty value for the exporter; not "false" for the connector.
            (rs(s("false"), None), true, false),
            (rs(Some(Value::BoolValue(false)), None), true, false),
            (rs(s(""), None), false, false),
            (rs(None, s("true")), false, true),
        ] {
            assert_eq!(by_resource(&r), want_exporter, "{r:?}");
            assert_eq!(by_resource_or_span(&r), want_connector, "{r:?}");
        }
    }
}
