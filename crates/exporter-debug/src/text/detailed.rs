//! The `detailed` dump of traces and logs, laid out as otelcol's `textTracesMarshaler` and
//! `textLogsMarshaler`; metrics are in [`super::detailed_metrics`].

use super::value::{attribute_lines, format_timestamp, render_value};
use kakehashi_pdata::proto::common::v1::InstrumentationScope;
use kakehashi_pdata::proto::resource::v1::Resource;
use kakehashi_pdata::Payload;
use std::fmt::Write;

pub fn detailed(p: &Payload) -> String {
    match p {
        Payload::Traces(r) => traces(r),
        Payload::Metrics(r) => super::detailed_metrics::metrics(r),
        Payload::Logs(r) => logs(r),
    }
}

pub(super) fn resource(
    out: &mut String,
    kind: &str,
    i: usize,
    res: Option<&Resource>,
    schema: &str,
) {
    let _ = writeln!(out, "{kind} #{i}");
    let _ = writeln!(out, "Resource SchemaURL: {schema}");
    if let Some(r) = res {
        if !r.attributes.is_empty() {
            out.push_str("Resource attributes:\n");
            attribute_lines(out, &r.attributes, 5);
        }
        entity_refs(out, r);
    }
}

/// otelcol's `logEntityRefs`.
fn entity_refs(out: &mut String, r: &Resource) {
    if r.entity_refs.is_empty() {
        return;
    }
    out.push_str("Resource entity refs:\n");
    for (i, e) in r.entity_refs.iter().enumerate() {
        let _ = writeln!(out, "     -> Entity ref #{i}:");
        let _ = writeln!(out, "          -> Type: {}", e.r#type);
        if !e.schema_url.is_empty() {
            let _ = writeln!(out, "          -> Schema URL: {}", e.schema_url);
        }
        for (title, keys) in [
            ("ID keys", &e.id_keys),
            ("Description keys", &e.description_keys),
        ] {
            if !keys.is_empty() {
                let _ = writeln!(out, "          -> {title}:");
                for k in keys {
                    let _ = writeln!(out, "               -> {k}");
                }
            }
        }
    }
}

pub(super) fn scope(
    out: &mut String,
    kind: &str,
    i: usize,
    s: Option<&InstrumentationScope>,
    schema: &str,
) {
    let _ = writeln!(out, "{kind} #{i}");
    let _ = writeln!(out, "{kind} SchemaURL: {schema}");
    let (name, version) = s
        .map(|s| (s.name.as_str(), s.version.as_str()))
        .unwrap_or_default();
    let _ = writeln!(out, "InstrumentationScope {name} {version}");
    if let Some(s) = s {
        if !s.attributes.is_empty() {
            out.push_str("InstrumentationScope attributes:\n");
            attribute_lines(out, &s.attributes, 5);
        }
    }
}

fn span_kind(k: i32) -> &'static str {
    match k {
        1 => "Internal",
        2 => "Server",
        3 => "Client",
        4 => "Producer",
        5 => "Consumer",
        _ => "Unspecified",
    }
}

fn status_code(c: i32) -> &'static str {
    match c {
        1 => "Ok",
        2 => "Error",
        _ => "Unset",
    }
}

fn traces(r: &kakehashi_pdata::ExportTraceServiceRequest) -> String {
    let mut out = String::new();
    for (i, rs) in r.resource_spans.iter().enumerate() {
        resource(
            &mut out,
            "ResourceSpans",
            i,
            rs.resource.as_ref(),
            &rs.schema_url,
        );
        for (j, ss) in rs.scope_spans.iter().enumerate() {
            scope(&mut out, "ScopeSpans", j, ss.scope.as_ref(), &ss.schema_url);
            for (k, s) in ss.spans.iter().enumerate() {
                let o = &mut out;
                let _ = writeln!(o, "Span #{k}");
                let _ = writeln!(o, "    Trace ID       : {}", hex::encode(&s.trace_id));
                let _ = writeln!(o, "    Parent ID      : {}", hex::encode(&s.parent_span_id));
                let _ = writeln!(o, "    ID             : {}", hex::encode(&s.span_id));
                let _ = writeln!(o, "    Name           : {}", s.name);
                let _ = writeln!(o, "    Kind           : {}", span_kind(s.kind));
                if !s.trace_state.is_empty() {
                    let _ = writeln!(o, "    TraceState     : {}", s.trace_state);
                }
                let _ = writeln!(
                    o,
                    "    Start time     : {}",
                    format_timestamp(s.start_time_unix_nano)
                );
                let _ = writeln!(
                    o,
                    "    End time       : {}",
                    format_timestamp(s.end_time_unix_nano)
                );
                let (code, msg) = s
                    .status
                    .as_ref()
                    .map(|st| (st.code, st.message.as_str()))
                    .unwrap_or((0, ""));
                let _ = writeln!(o, "    Status code    : {}", status_code(code));
                let _ = writeln!(o, "    Status message : {msg}");
                // Longer than the 15-column label field, so not padded (Go's `%-15s`).
                let _ = writeln!(
                    o,
                    "    DroppedAttributesCount: {}",
                    s.dropped_attributes_count
                );
                let _ = writeln!(o, "    DroppedEventsCount: {}", s.dropped_events_count);
                let _ = writeln!(o, "    DroppedLinksCount: {}", s.dropped_links_count);
                if !s.attributes.is_empty() {
                    o.push_str("Attributes:\n");
                    attribute_lines(o, &s.attributes, 5);
                }
                if !s.events.is_empty() {
                    o.push_str("Events:\n");
                    for (e, ev) in s.events.iter().enumerate() {
                        let _ = writeln!(o, "SpanEvent #{e}");
                        let _ = writeln!(o, "     -> Name: {}", ev.name);
                        let _ = writeln!(
                            o,
                            "     -> Timestamp: {}",
                            format_timestamp(ev.time_unix_nano)
                        );
                        let _ = writeln!(
                            o,
                            "     -> DroppedAttributesCount: {}",
                            ev.dropped_attributes_count
                        );
                        if !ev.attributes.is_empty() {
                            o.push_str("     -> Attributes::\n");
                            attribute_lines(o, &ev.attributes, 10);
                        }
                    }
                }
                if !s.links.is_empty() {
                    o.push_str("Links:\n");
                    for (l, link) in s.links.iter().enumerate() {
                        let _ = writeln!(o, "SpanLink #{l}");
                        let _ = writeln!(o, "     -> Trace ID: {}", hex::encode(&link.trace_id));
                        let _ = writeln!(o, "     -> ID: {}", hex::encode(&link.span_id));
                        let _ = writeln!(o, "     -> TraceState: {}", link.trace_state);
                        let _ = writeln!(
                            o,
                            "     -> DroppedAttributesCount: {}",
                            link.dropped_attributes_count
                        );
                        if !link.attributes.is_empty() {
                            o.push_str("     -> Attributes::\n");
                            attribute_lines(o, &link.attributes, 10);
                        }
                    }
                }
            }
        }
    }
    out
}

fn severity(n: i32) -> String {
    const NAMES: [&str; 6] = ["Trace", "Debug", "Info", "Warn", "Error", "Fatal"];
    if (1..=24).contains(&n) {
        let base = NAMES[((n - 1) / 4) as usize];
        let step = (n - 1) % 4;
        if step == 0 {
            format!("{base}({n})")
        } else {
            format!("{base}{}({n})", step + 1)
        }
    } else {
        format!("Unspecified({n})")
    }
}

fn logs(r: &kakehashi_pdata::ExportLogsServiceRequest) -> String {
    let mut out = String::new();
    for (i, rl) in r.resource_logs.iter().enumerate() {
        resource(
            &mut out,
            "ResourceLog",
            i,
            rl.resource.as_ref(),
            &rl.schema_url,
        );
        for (j, sl) in rl.scope_logs.iter().enumerate() {
            scope(&mut out, "ScopeLogs", j, sl.scope.as_ref(), &sl.schema_url);
            for (k, lr) in sl.log_records.iter().enumerate() {
                let o = &mut out;
                let _ = writeln!(o, "LogRecord #{k}");
                let _ = writeln!(
                    o,
                    "ObservedTimestamp: {}",
                    format_timestamp(lr.observed_time_unix_nano)
                );
                let _ = writeln!(o, "Timestamp: {}", format_timestamp(lr.time_unix_nano));
                let _ = writeln!(o, "SeverityText: {}", lr.severity_text);
                let _ = writeln!(o, "SeverityNumber: {}", severity(lr.severity_number));
                if !lr.event_name.is_empty() {
                    let _ = writeln!(o, "EventName: {}", lr.event_name);
                }
                let _ = writeln!(o, "Body: {}", render_value(lr.body.as_ref()));
                if !lr.attributes.is_empty() {
                    o.push_str("Attributes:\n");
                    attribute_lines(o, &lr.attributes, 5);
                }
                let _ = writeln!(o, "Trace ID: {}", hex::encode(&lr.trace_id));
                let _ = writeln!(o, "Span ID: {}", hex::encode(&lr.span_id));
                let _ = writeln!(o, "Flags: {}", lr.flags);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn severities() {
        assert_eq!(super::severity(9), "Info(9)");
        assert_eq!(super::severity(10), "Info2(10)");
        assert_eq!(super::severity(0), "Unspecified(0)");
    }
}
