use super::*;
use kakehashi_pdata::proto::common::v1::{
    any_value::Value, AnyValue, ArrayValue, KeyValue, KeyValueList,
};
use kakehashi_pdata::proto::trace::v1::Status;

use crate::test_util::kv_of as kv;

fn s(v: &str) -> Value {
    Value::StringValue(v.into())
}

struct Fixture {
    resource: Resource,
    scope: InstrumentationScope,
    span: Span,
    log: LogRecord,
}

fn fixture() -> Fixture {
    let event = Event {
        name: "exception".into(),
        time_unix_nano: 5,
        attributes: vec![kv("exception.type", s("IOError"))],
        dropped_attributes_count: 0,
    };
    Fixture {
        resource: Resource {
            attributes: vec![
                kv("service.name", s("vote-app")),
                kv("host.name", s("localhost")),
            ],
            ..Default::default()
        },
        scope: InstrumentationScope {
            name: "io.opentelemetry.http".into(),
            version: "1.2.3".into(),
            ..Default::default()
        },
        span: Span {
            trace_id: vec![0xab; 16],
            span_id: vec![1, 2, 3, 4, 5, 6, 7, 8],
            name: "GET /health".into(),
            kind: 2,
            start_time_unix_nano: 1_000,
            end_time_unix_nano: 251_000,
            attributes: vec![
                kv("http.target", s("/health")),
                kv("http.status_code", Value::IntValue(200)),
                kv("ratio", Value::DoubleValue(0.5)),
                kv("sampled", Value::BoolValue(true)),
                kv("raw", Value::BytesValue(vec![0xca, 0xfe])),
                kv(
                    "nested",
                    Value::KvlistValue(KeyValueList {
                        values: vec![kv("inner", s("x"))],
                    }),
                ),
                kv(
                    "list",
                    Value::ArrayValue(ArrayValue {
                        values: vec![AnyValue {
                            value: Some(s("first")),
                        }],
                    }),
                ),
                KeyValue {
                    key: "empty".into(),
                    value: Some(AnyValue { value: None }),
                    ..Default::default()
                },
            ],
            events: vec![event],
            status: Some(Status {
                code: 2,
                message: "boom".into(),
            }),
            ..Default::default()
        },
        log: LogRecord {
            severity_number: 13,
            severity_text: "WARN".into(),
            body: Some(AnyValue {
                value: Some(s("disk almost full")),
            }),
            attributes: vec![kv("component", s("db"))],
            ..Default::default()
        },
    }
}

fn span_ctx(f: &Fixture) -> EvalCtx<'_> {
    EvalCtx {
        resource: Some(&f.resource),
        scope: Some(&f.scope),
        span: Some(&f.span),
        ..Default::default()
    }
}

fn on_span(cond: &str) -> bool {
    let f = fixture();
    Condition::parse(cond, ContextKind::Span)
        .unwrap_or_else(|e| panic!("{e}"))
        .eval(&span_ctx(&f))
        .unwrap_or_else(|e| panic!("{cond}: {e}"))
}

#[test]
fn span_fields_and_attributes() {
    for cond in [
        r#"name == "GET /health""#,
        r#"span.name == "GET /health""#,
        r#"attributes["http.target"] == "/health""#,
        r#"attributes["http.status_code"] == 200"#,
        r#"attributes["http.status_code"] >= 200 and attributes["http.status_code"] < 300"#,
        "kind == SPAN_KIND_SERVER",
        "status.code == STATUS_CODE_ERROR",
        r#"status.message == "boom""#,
        r#"resource.attributes["service.name"] == "vote-app""#,
        r#"instrumentation_scope.name == "io.opentelemetry.http""#,
        r#"scope.version == "1.2.3""#,
        r#"trace_id.string == "abababababababababababababababab""#,
        r#"span_id.string == "0102030405060708""#,
        r#"parent_span_id.string == "0000000000000000""#,
        "end_time_unix_nano - start_time_unix_nano > 200000",
        "(end_time_unix_nano - start_time_unix_nano) / 1000 == 250",
        r#"attributes["nested"]["inner"] == "x""#,
        r#"attributes["list"][0] == "first""#,
        r#"attributes["raw"] == 0xcafe"#,
        "attributes[\"sampled\"] == true",
        "attributes[\"ratio\"] < 1",
        "attributes[\"missing\"] == nil",
        "attributes[\"empty\"] == nil",
        "resource.attributes[\"nope\"] == nil",
        r#"IsMatch(attributes["http.target"], "^/heal")"#,
        r#"IsMatch(name, "health")"#,
        r#"IsMatch(attributes["http.status_code"], "^2")"#,
        r#"IsString(attributes["http.target"])"#,
        r#"IsInt(attributes["http.status_code"])"#,
        r#"IsDouble(attributes["ratio"])"#,
        r#"IsBool(attributes["sampled"])"#,
        r#"IsMap(attributes["nested"])"#,
        r#"IsList(attributes["list"])"#,
        r#"ToUpperCase(name) == "GET /HEALTH""#,
        r#"ToLowerCase(resource.attributes["host.name"]) == "localhost""#,
        r#"not name == "other""#,
        r#"name == "other" or kind == SPAN_KIND_SERVER"#,
        r#"(name == "other" or kind == 2) and not (status.code == 0)"#,
        "true",
        "not false",
        "1 + 2 * 3 == 7",
        "-1 < 0",
        "1.5 > 1",
        "1 + 0.5 == 1.5",
        "7 / 2 == 3",
        "nil == nil",
        "nil <= nil",
        "IsRootSpan()",
        "parent_span_id == SpanID(0x0000000000000000)",
        "span_id == SpanID(0x0102030405060708)",
        "trace_id == TraceID(0xabababababababababababababababab)",
        "Len(name) == 11",
        r#"Len(attributes["list"]) == 1"#,
        r#"Len(attributes["nested"]) == 1"#,
    ] {
        assert!(on_span(cond), "{cond} should hold");
    }
    for cond in [
        r#"name == "GET /other""#,
        r#"attributes["http.status_code"] == "200""#,
        r#"attributes["missing"] == "x""#,
        r#"attributes["missing"] < 1"#,
        "attributes[\"sampled\"] == 1",
        r#"IsMatch(attributes["missing"], ".*")"#,
        r#"IsString(attributes["http.status_code"])"#,
        "kind == SPAN_KIND_CLIENT and name == \"GET /health\"",
        "false",
        "nil < nil",
        r#""a" < 1"#,
        "not IsRootSpan()",
        "span_id == SpanID(0x0000000000000000)",
        "trace_id == nil",
    ] {
        assert!(!on_span(cond), "{cond} should not hold");
    }
}

#[test]
fn comparison_rules() {
    // Mismatched types: only != holds.
    assert!(on_span(r#"attributes["http.status_code"] != "200""#));
    assert!(on_span(r#"attributes["missing"] != "x""#));
    // Ints and doubles compare numerically.
    assert!(on_span("2 == 2.0"));
    assert!(on_span(r#"attributes["ratio"] == 0.5"#));
    // Strings byte-wise, bools false < true.
    assert!(on_span(r#""Z" < "a""#));
    assert!(on_span("false < true"));
    // Maps only for equality, order-insensitive.
    assert!(on_span(r#"attributes["nested"] == attributes["nested"]"#));
    assert!(!on_span(r#"attributes["nested"] < attributes["nested"]"#));
    assert!(on_span(r#"attributes["nested"] != attributes["list"]"#));
}

#[test]
fn span_event_and_log_contexts() {
    let f = fixture();
    let ev = EvalCtx {
        resource: Some(&f.resource),
        scope: Some(&f.scope),
        span: Some(&f.span),
        event: Some(&f.span.events[0]),
        ..Default::default()
    };
    for cond in [
        r#"name == "exception""#,
        r#"spanevent.name == "exception""#,
        r#"attributes["exception.type"] == "IOError""#,
        r#"span.name == "GET /health""#,
        r#"span.attributes["http.target"] == "/health""#,
        "time_unix_nano == 5",
        "span.kind == SPAN_KIND_SERVER",
    ] {
        let c = Condition::parse(cond, ContextKind::SpanEvent).unwrap();
        assert!(c.eval(&ev).unwrap(), "{cond}");
    }
    let lg = EvalCtx {
        resource: Some(&f.resource),
        log: Some(&f.log),
        ..Default::default()
    };
    for cond in [
        r#"body == "disk almost full""#,
        r#"IsMatch(body, "full$")"#,
        "severity_number >= SEVERITY_NUMBER_WARN",
        "severity_number < SEVERITY_NUMBER_ERROR",
        r#"log.severity_text == "WARN""#,
        r#"attributes["component"] == "db""#,
        r#"resource.attributes["host.name"] == "localhost""#,
        r#"instrumentation_scope.name == """#,
    ] {
        let c = Condition::parse(cond, ContextKind::Log).unwrap();
        assert!(c.eval(&lg).unwrap(), "{cond}");
    }
}

#[test]
fn evaluation_errors() {
    let f = fixture();
    for (cond, want) in [
        ("1 / 0 == 1", "divide by 0"),
        ("1.5 / 0 == 1", "divide by 0"),
        ("1 + name == 2", "must be int64"),
        (r#"name + 1 == 2"#, "must be int64 or float64"),
        (r#"attributes["list"][3] == nil"#, "out of bounds"),
        (
            r#"attributes["http.target"]["x"] == nil"#,
            "does not support string indexing",
        ),
        (
            r#"ToLowerCase(attributes["http.status_code"]) == "x""#,
            "expected string but got int64",
        ),
        (
            r#"Len(attributes["http.status_code"]) > 1"#,
            "unsupported type int64 for Len",
        ),
    ] {
        let c = Condition::parse(cond, ContextKind::Span).unwrap();
        let err = c.eval(&span_ctx(&f)).unwrap_err();
        assert!(err.contains(want), "{cond}: {err}");
    }
}

#[test]
fn parse_errors_say_what_is_wrong() {
    for (cond, kind, want) in [
        ("", ContextKind::Span, "empty condition"),
        (
            "name",
            ContextKind::Span,
            "a value alone is not a condition",
        ),
        (r#"name = "x""#, ContextKind::Span, "use =="),
        (
            r#"name == "x" ; 1"#,
            ContextKind::Span,
            "unexpected character ';'",
        ),
        (
            r#"nam == "x""#,
            ContextKind::Span,
            r#"path "nam" is not supported in the span context"#,
        ),
        (
            "body == nil",
            ContextKind::Span,
            "not supported in the span context",
        ),
        (
            "severity_number == 1",
            ContextKind::SpanEvent,
            "not supported in the spanevent context",
        ),
        (
            "kind == SPAN_KIND_SERVER",
            ContextKind::Log,
            "not supported in the log context",
        ),
        (
            "severity_number == SPAN_KIND_SERVER",
            ContextKind::Log,
            "enum symbol SPAN_KIND_SERVER not found",
        ),
        (
            "kind == SPAN_KIND_NOPE",
            ContextKind::Span,
            "enum symbol SPAN_KIND_NOPE not found",
        ),
        (
            r#"name["x"] == nil"#,
            ContextKind::Span,
            "does not take keys",
        ),
        (
            r#"Murmur3Hash(name) == nil"#,
            ContextKind::Span,
            r#"undefined function "Murmur3Hash""#,
        ),
        (
            "span_id == SpanID(0x01)",
            ContextKind::Span,
            "SpanID needs exactly 8 bytes, got 1",
        ),
        (
            "trace_id == TraceID(name)",
            ContextKind::Span,
            "TraceID takes a bytes literal",
        ),
        (
            "IsRootSpan()",
            ContextKind::SpanEvent,
            "only available in the span context",
        ),
        (
            "IsRootSpan(name)",
            ContextKind::Span,
            "IsRootSpan takes 0 arguments, got 1",
        ),
        (
            r#"IsMatch(name, "(")"#,
            ContextKind::Span,
            "not a valid regexp",
        ),
        (
            r#"IsMatch(name, attributes["p"])"#,
            ContextKind::Span,
            "must be a string literal",
        ),
        (
            r#"IsString(name, name)"#,
            ContextKind::Span,
            "IsString takes 1 argument, got 2",
        ),
        (
            r#"ToLowerCase(name)"#,
            ContextKind::Span,
            "does not return a boolean",
        ),
        (r#"set(name, "x")"#, ContextKind::Span, "is an editor"),
        (r#"name == "x" and"#, ContextKind::Span, "expected a value"),
        (r#"(name == "x""#, ContextKind::Span, "expected \")\""),
        (
            r#"name == "x" name"#,
            ContextKind::Span,
            "after a complete condition",
        ),
        (
            r#"trace_state["k"] == nil"#,
            ContextKind::Span,
            "does not take keys",
        ),
    ] {
        let err = Condition::parse(cond, kind).unwrap_err();
        assert!(err.contains(want), "{cond}: {err}");
        assert!(err.contains("unable to parse OTTL condition"), "{err}");
    }
}

#[test]
fn pathological_nesting_is_an_error_not_a_stack_overflow() {
    let deep = format!("{}true{}", "(".repeat(100), ")".repeat(100));
    let e = Condition::parse(&deep, ContextKind::Span).unwrap_err();
    assert!(e.contains("nested more than 64 levels"), "{e}");
    let long = format!("1{} == 1", " + 1".repeat(5_000));
    let e = Condition::parse(&long, ContextKind::Span).unwrap_err();
    assert!(e.contains("more than 4096 tokens"), "{e}");
    let fine = format!("{}true{}", "(".repeat(20), ")".repeat(20));
    assert!(Condition::parse(&fine, ContextKind::Span).is_ok());
    // Any text at all: an error or a condition, never a panic.
    for text in [
        "\u{e9}",
        "\"\u{e9}",
        "a.\u{e9}",
        "0x",
        "1e",
        "\\",
        "[",
        "IsMatch(",
        "-",
        "a[",
        "a[1",
        "\"\\u12",
        "set(",
        "set(name",
        "limit(attributes, 1, [",
        "Concat([",
        "SpanID(",
    ] {
        let _ = Condition::parse(text, ContextKind::Span);
        let _ = crate::ottl::Statement::parse(text, ContextKind::Span);
    }
}

#[test]
fn metric_and_data_point_paths() {
    use kakehashi_pdata::proto::metrics::v1::{
        metric::Data, number_data_point, Gauge, Metric, NumberDataPoint, Summary, SummaryDataPoint,
    };
    let gauge = Metric {
        name: "queue.depth".into(),
        description: "items waiting".into(),
        unit: "{item}".into(),
        data: Some(Data::Gauge(Gauge {
            data_points: vec![NumberDataPoint {
                value: Some(number_data_point::Value::AsInt(7)),
                time_unix_nano: 42,
                flags: 1,
                ..Default::default()
            }],
        })),
        ..Default::default()
    };
    let summary = Metric {
        name: "latency".into(),
        data: Some(Data::Summary(Summary {
            data_points: vec![SummaryDataPoint {
                count: 4,
                sum: 2.5,
                ..Default::default()
            }],
        })),
        ..Default::default()
    };
    let holds = |m: &Metric, kind: ContextKind, cond: &str| -> bool {
        let dp = datapoints(m)[0];
        let ctx = EvalCtx {
            metric: Some(m),
            datapoint: (kind == ContextKind::DataPoint).then_some(dp),
            ..Default::default()
        };
        Condition::parse(cond, kind)
            .unwrap_or_else(|e| panic!("{e}"))
            .eval(&ctx)
            .unwrap_or_else(|e| panic!("{cond}: {e}"))
    };
    for cond in [
        r#"name == "queue.depth" and unit == "{item}" and description == "items waiting""#,
        "type == METRIC_DATA_TYPE_GAUGE",
        // A gauge has neither: nil, as OTTL.
        "aggregation_temporality == nil",
        "is_monotonic == nil",
        r#"not HasAttrKeyOnDatapoint("env")"#,
    ] {
        assert!(holds(&gauge, ContextKind::Metric, cond), "{cond}");
    }
    for cond in [
        "value_int == 7",
        "value_double == 0.0",
        "time_unix_nano == 42 and flags == 1",
        "count == nil and sum == nil",
        r#"metric.name == "queue.depth""#,
    ] {
        assert!(holds(&gauge, ContextKind::DataPoint, cond), "{cond}");
    }
    for cond in [
        "count == 4 and sum == 2.5",
        "value_int == nil",
        "metric.type == METRIC_DATA_TYPE_SUMMARY",
    ] {
        assert!(holds(&summary, ContextKind::DataPoint, cond), "{cond}");
    }
}

#[test]
fn conversion_and_hashing_converters() {
    for cond in [
        r#"SHA256("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad""#,
        r#"Int("42") == 42"#,
        "Int(2.9) == 2 and Int(-2.9) == -2",
        "Int(true) == 1",
        r#"Int("4x") == nil"#,
        r#"Double("1.5") == 1.5"#,
        "Double(3) == 3.0",
        r#"Int(attributes["http.status_code"]) == 200"#,
        r#"Double(attributes["missing"]) == nil"#,
    ] {
        assert!(on_span(cond), "{cond}");
    }
    let f = fixture();
    let e = Condition::parse("SHA256(1) == nil", ContextKind::Span)
        .unwrap()
        .eval(&span_ctx(&f))
        .unwrap_err();
    assert!(e.contains("expected string but got int64"), "{e}");
}
