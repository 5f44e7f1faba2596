//! Span events and links as the JSON strings the agent stores in meta `events` and
//! `_dd.span_links` (§2.7 steps 6–7). Both are hand-built in Go, so keys are omitted when empty,
//! there are no spaces, and link attributes are inserted without any JSON escaping (a quirk the
//! backend lives with; reproduced on purpose).

use crate::value::{as_string, write_json_string, write_json_value};
use kakehashi_pdata::proto::trace::v1::span::{Event, Link};
use std::fmt::Write as _;

/// Meta `events`: `[{"time_unix_nano":…,"name":…,"attributes":{…},"dropped_attributes_count":…}]`.
pub(crate) fn marshal_events(events: &[Event]) -> String {
    let mut out = String::from("[");
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('{');
        let mut wrote = false;
        if e.time_unix_nano != 0 {
            let _ = write!(out, "\"time_unix_nano\":{}", e.time_unix_nano);
            wrote = true;
        }
        if !e.name.is_empty() {
            if wrote {
                out.push(',');
            }
            out.push_str("\"name\":");
            write_json_string(&mut out, &e.name);
            wrote = true;
        }
        if !e.attributes.is_empty() {
            if wrote {
                out.push(',');
            }
            out.push_str("\"attributes\":{");
            for (j, kv) in e.attributes.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                write_json_string(&mut out, &kv.key);
                out.push(':');
                // Go writes "redacted" when the value cannot be marshalled (NaN, ±Inf).
                let mut value = String::new();
                match write_json_value(&mut value, kv.value.as_ref()) {
                    Ok(()) => out.push_str(&value),
                    Err(_) => out.push_str("\"redacted\""),
                }
            }
            out.push('}');
            wrote = true;
        }
        if e.dropped_attributes_count != 0 {
            if wrote {
                out.push(',');
            }
            let _ = write!(
                out,
                "\"dropped_attributes_count\":{}",
                e.dropped_attributes_count
            );
        }
        out.push('}');
    }
    out.push(']');
    out
}

/// Meta `_dd.span_links`.
pub(crate) fn marshal_links(links: &[Link]) -> String {
    let mut out = String::from("[");
    for (i, l) in links.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "{{\"trace_id\":\"{}\",\"span_id\":\"{}\"",
            hex_fixed(&l.trace_id, 16),
            hex_fixed(&l.span_id, 8)
        );
        if !l.trace_state.is_empty() {
            let _ = write!(out, ",\"tracestate\":\"{}\"", l.trace_state);
        }
        if !l.attributes.is_empty() {
            out.push_str(",\"attributes\":{");
            for (j, kv) in l.attributes.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                let _ = write!(out, "\"{}\":\"{}\"", kv.key, as_string(kv.value.as_ref()));
            }
            out.push('}');
        }
        if l.dropped_attributes_count > 0 {
            let _ = write!(
                out,
                ",\"dropped_attributes_count\":{}",
                l.dropped_attributes_count
            );
        }
        out.push('}');
    }
    out.push(']');
    out
}

/// Lowercase hex of an id. Go's ids are fixed-size arrays, so a short or missing OTLP id is
/// rendered zero-padded to its full width (16 bytes for traces, 8 for spans).
pub(crate) fn hex_fixed(b: &[u8], width: usize) -> String {
    let mut fixed = vec![0u8; width];
    let n = b.len().min(width);
    fixed[..n].copy_from_slice(&b[..n]);
    hex(&fixed)
}

/// Lower-case hex. By table rather than `write!("{:02x}")`: every span carries a 32-digit
/// `otel.trace_id`, and the formatter machinery was 4% of the translation.
fn hex(b: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for byte in b {
        s.push(DIGITS[usize::from(byte >> 4)] as char);
        s.push(DIGITS[usize::from(byte & 0xf)] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::kv;
    use kakehashi_pdata::proto::common::v1::any_value::Value;

    #[test]
    fn events_json() {
        let events = vec![
            Event {
                time_unix_nano: 123,
                name: "boom".into(),
                attributes: vec![
                    kv("key", Value::StringValue("Out of memory".into())),
                    kv("accuracy", Value::DoubleValue(2.4)),
                ],
                dropped_attributes_count: 2,
            },
            Event {
                time_unix_nano: 0,
                name: String::new(),
                attributes: vec![],
                dropped_attributes_count: 0,
            },
            Event {
                time_unix_nano: 0,
                name: "a\"b".into(),
                attributes: vec![kv("n", Value::DoubleValue(f64::NAN))],
                dropped_attributes_count: 0,
            },
        ];
        assert_eq!(
            marshal_events(&events),
            r#"[{"time_unix_nano":123,"name":"boom","attributes":{"key":"Out of memory","accuracy":2.4},"dropped_attributes_count":2},{},{"name":"a\"b","attributes":{"n":"redacted"}}]"#
        );
    }

    #[test]
    fn links_are_not_escaped() {
        let links = vec![Link {
            trace_id: vec![0xab; 16],
            span_id: vec![0xcd; 8],
            trace_state: String::new(),
            attributes: vec![kv("q", Value::StringValue("a\"b".into()))],
            dropped_attributes_count: 0,
            flags: 0,
        }];
        assert_eq!(
            marshal_links(&links),
            format!(
                "[{{\"trace_id\":\"{}\",\"span_id\":\"{}\",\"attributes\":{{\"q\":\"a\"b\"}}}}]",
                "ab".repeat(16),
                "cd".repeat(8)
            )
        );
    }
}
