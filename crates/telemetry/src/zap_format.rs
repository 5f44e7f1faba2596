//! The shape of the collector's own log lines where tools read them: `encoding: json` as zap's
//! production encoder writes it in otelcol, and `initial_fields` on every line.
//!
//! Why zap's JSON keys: log pipelines read otelcol's lines by them — Datadog's, for one, takes
//! `level` and `msg` as the status and the message without configuration — and
//! tracing-subscriber's own JSON nests the message under `fields.message` and upper-cases the
//! level, so such a pipeline would show kakehashi's lines with no message.

use kakehashi_config::AnyValue;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::registry::LookupSpan;

/// `initial_fields` as JSON values, in key order (otelcol's map has none of its own).
pub fn initial_fields(cfg: &BTreeMap<String, AnyValue>) -> Vec<(String, Value)> {
    cfg.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()
}

fn to_json(v: &AnyValue) -> Value {
    match v {
        AnyValue::Null => Value::Null,
        AnyValue::Bool(b) => Value::Bool(*b),
        AnyValue::Int(i) => Value::from(*i),
        AnyValue::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        AnyValue::Str(s) => Value::String(s.clone()),
        AnyValue::List(items) => Value::Array(items.iter().map(to_json).collect()),
        AnyValue::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.clone(), to_json(v)))
                .collect(),
        ),
    }
}

/// One JSON object per line: `level` (lower case, as zap's), `ts` (ISO 8601 in UTC with
/// milliseconds, otelcol's `ISO8601TimeEncoder`), `caller` (unless `disable_caller`), `msg`,
/// then `initial_fields`, then the event's fields, all at the top level.
#[derive(Debug, Clone)]
pub struct ZapJson {
    pub initial: Vec<(String, Value)>,
    pub caller: bool,
}

impl<S, N> FormatEvent<S, N> for ZapJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);

        let mut line: Vec<(&str, Value)> = Vec::with_capacity(4 + self.initial.len());
        line.push(("level", Value::from(level_name(*meta.level()))));
        line.push(("ts", Value::from(timestamp()?)));
        if self.caller {
            if let (Some(file), Some(n)) = (meta.file(), meta.line()) {
                line.push(("caller", Value::from(format!("{}:{n}", short_caller(file)))));
            }
        }
        line.push(("msg", Value::from(fields.message.unwrap_or_default())));
        for (k, v) in &self.initial {
            line.push((k, v.clone()));
        }
        for (k, v) in fields.rest {
            line.push((k, v));
        }

        writer.write_char('{')?;
        for (i, (k, v)) in line.iter().enumerate() {
            if i > 0 {
                writer.write_char(',')?;
            }
            // Both are plain strings/values: serialising them cannot fail.
            let k = serde_json::to_string(k).map_err(|_| fmt::Error)?;
            let v = serde_json::to_string(v).map_err(|_| fmt::Error)?;
            write!(writer, "{k}:{v}")?;
        }
        writer.write_str("}\n")
    }
}

/// zap's level names; tracing's TRACE has none and is written as debug.
fn level_name(level: Level) -> &'static str {
    match level {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG | Level::TRACE => "debug",
    }
}

/// Now as `2026-12-06T23:40:00.123Z`: tracing-subscriber's RFC 3339 clock cut to milliseconds.
fn timestamp() -> Result<String, fmt::Error> {
    let mut micros = String::with_capacity(27);
    SystemTime.format_time(&mut Writer::new(&mut micros))?;
    // `…:SS.ffffffZ` → `…:SS.fffZ`.
    match micros.strip_suffix('Z') {
        Some(rest) if rest.len() > 3 => Ok(format!("{}Z", &rest[..rest.len() - 3])),
        _ => Ok(micros),
    }
}

/// zap's short caller is the file's directory and name; for a Rust source file the useful
/// directory is the crate's, so the path is cut to start at the crate directory before `src/`
/// (`pipeline/src/runner.rs`).
fn short_caller(file: &str) -> &str {
    let Some(src) = file.rfind("/src/") else {
        return file;
    };
    let start = file[..src].rfind('/').map_or(0, |i| i + 1);
    &file[start..]
}

/// An event's message and its other fields in the order they were written.
#[derive(Default)]
struct Fields {
    message: Option<String>,
    rest: Vec<(&'static str, Value)>,
}

impl Fields {
    fn put(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = Some(match value {
                Value::String(s) => s,
                other => other.to_string(),
            });
        } else {
            self.rest.push((field.name(), value));
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::from(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `%x` fields arrive here as Display wrapped in Debug, and the message as
        // `format_args!`: both print as the text the call site wrote.
        self.put(field, Value::from(format!("{value:?}")));
    }
}

/// Any event format with `initial_fields` appended to each line as ` key=value`, as
/// tracing-subscriber writes fields (zap's console encoder writes them as a JSON object at
/// the end of the line; the other fields here are already `key=value`).
#[derive(Debug, Clone)]
pub struct WithInitialFields<F> {
    pub inner: F,
    pub suffix: String,
}

impl<F> WithInitialFields<F> {
    pub fn new(inner: F, initial: &[(String, Value)]) -> Self {
        let suffix = initial
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => format!(" {k}={s}"),
                other => format!(" {k}={other}"),
            })
            .collect();
        WithInitialFields { inner, suffix }
    }
}

impl<S, N, F> FormatEvent<S, N> for WithInitialFields<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        if self.suffix.is_empty() {
            return self.inner.format_event(ctx, writer, event);
        }
        let mut line = String::new();
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        let body = line.strip_suffix('\n').unwrap_or(&line);
        writeln!(writer, "{body}{}", self.suffix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_lines::Lines;

    fn initial() -> Vec<(String, Value)> {
        initial_fields(&BTreeMap::from([
            ("cluster".to_string(), AnyValue::Str("ap1-prod".into())),
            ("shard".to_string(), AnyValue::Int(3)),
        ]))
    }

    #[test]
    fn json_lines_have_zaps_keys_in_zaps_order() {
        let out = Lines::default();
        let w = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || w.clone())
            .event_format(ZapJson {
                initial: initial(),
                caller: true,
            })
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let id = "datadog";
            tracing::warn!(exporter = %id, attempts = 3, ok = false, "Exporting failed. Will retry.");
        });
        let text = out.text();
        let line = text.lines().next().expect("one line");
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        // serde_json's map sorts keys; the order on the line is checked on the text.
        assert!(line.starts_with(r#"{"level":"warn","ts":""#), "{line}");
        let order: Vec<usize> = [
            "\"caller\":",
            "\"msg\":",
            "\"cluster\":",
            "\"shard\":",
            "\"exporter\":",
            "\"attempts\":",
            "\"ok\":",
        ]
        .iter()
        .map(|k| {
            line.find(k)
                .unwrap_or_else(|| panic!("{k} missing: {line}"))
        })
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{line}");
        assert_eq!(keys.len(), 9, "{line}");
        assert_eq!(v["msg"], "Exporting failed. Will retry.");
        assert_eq!(v["exporter"], "datadog");
        assert_eq!(v["attempts"], 3);
        assert_eq!(v["ok"], false);
        assert_eq!(v["cluster"], "ap1-prod");
        assert_eq!(v["shard"], 3);
        let caller = v["caller"].as_str().unwrap();
        assert!(
            caller.starts_with("telemetry/src/zap_format.rs:"),
            "{caller}"
        );
        let ts = v["ts"].as_str().unwrap();
        assert_eq!(ts.len(), "2026-12-06T23:40:00.123Z".len(), "{ts}");
        assert!(ts.ends_with('Z') && ts.as_bytes()[19] == b'.', "{ts}");
    }

    #[test]
    fn disable_caller_leaves_it_out() {
        let out = Lines::default();
        let w = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || w.clone())
            .event_format(ZapJson {
                initial: vec![],
                caller: false,
            })
            .finish();
        tracing::subscriber::with_default(subscriber, || tracing::info!("ready"));
        let v: serde_json::Value = serde_json::from_str(out.text().trim()).unwrap();
        assert!(v.get("caller").is_none(), "{v}");
        assert_eq!(v["level"], "info");
        assert_eq!(v["msg"], "ready");
    }

    #[test]
    fn console_lines_end_with_the_initial_fields() {
        let out = Lines::default();
        let w = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || w.clone())
            .with_ansi(false)
            .map_event_format(|f| WithInitialFields::new(f, &initial()))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(exporter = "datadog", "Everything is ready.")
        });
        let text = out.text();
        assert!(
            text.ends_with("Everything is ready. exporter=\"datadog\" cluster=ap1-prod shard=3\n"),
            "{text}"
        );
    }

    #[test]
    fn short_caller_starts_at_the_crate_directory() {
        assert_eq!(
            short_caller("crates/pipeline/src/runner/queue.rs"),
            "pipeline/src/runner/queue.rs"
        );
        assert_eq!(
            short_caller("/root/.cargo/registry/src/index/h2-0.4.20/src/proto/streams.rs"),
            "h2-0.4.20/src/proto/streams.rs"
        );
        assert_eq!(short_caller("src/main.rs"), "src/main.rs");
        assert_eq!(short_caller("build.rs"), "build.rs");
    }

    #[test]
    fn every_config_value_type_becomes_json() {
        let v = to_json(&AnyValue::Map(vec![
            (
                "a".into(),
                AnyValue::List(vec![AnyValue::Bool(true), AnyValue::Null]),
            ),
            ("f".into(), AnyValue::Float(1.5)),
        ]));
        assert_eq!(v, serde_json::json!({"a": [true, null], "f": 1.5}));
    }
}
