use super::*;
use crate::{expand, yaml, AnyValue, Duration, Optional, Secret};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
struct Retry {
    enabled: bool,
    initial_interval: Duration,
    max_elapsed_time: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            enabled: true,
            initial_interval: Duration::from_secs(5),
            max_elapsed_time: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
struct Grpc {
    endpoint: String,
    max_recv_msg_size_mib: u32,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
enum Sizer {
    Items,
    Bytes,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
struct Cfg {
    endpoint: String,
    send_batch_size: u32,
    enabled: bool,
    ratio: f64,
    timeout: Duration,
    retry_on_failure: Retry,
    grpc: Optional<Grpc>,
    headers: BTreeMap<String, String>,
    api_key: Secret,
    value: Option<AnyValue>,
    sizer: Option<Sizer>,
    exporters: Vec<String>,
    port: u16,
    small: i8,
}

fn node(text: &str) -> Node {
    yaml::parse("c.yaml", text).unwrap()
}

fn cfg(text: &str) -> Result<Cfg, ConfigErrors> {
    decode(&node(text), "exporters::otlp/2")
}

fn errs(text: &str) -> Vec<ConfigError> {
    cfg(text).unwrap_err().0
}

fn expanded(text: &str, vars: &[(&str, &str)]) -> Result<Cfg, ConfigErrors> {
    let env: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut n = node(text);
    expand(&mut n, &env).unwrap();
    decode(&n, "x")
}

#[test]
fn decodes_values() {
    let c = cfg(concat!(
        "endpoint: localhost:4317\nsend_batch_size: 0x10\nenabled: true\nratio: 1\n",
        "timeout: 200ms\nheaders: {a: b, n: 1}\napi_key: abc\nvalue: 12\nsizer: items\n",
        "exporters: [a, b]\nport: 8080\n",
    ))
    .unwrap();
    assert_eq!(c.endpoint, "localhost:4317");
    assert_eq!(c.send_batch_size, 16);
    assert!(c.enabled);
    assert_eq!(c.ratio, 1.0);
    assert_eq!(c.timeout, Duration::from_millis(200));
    assert_eq!(c.headers.get("n").map(String::as_str), Some("1"));
    assert_eq!(c.api_key.expose(), "abc");
    assert_eq!(c.value, Some(AnyValue::Int(12)));
    assert_eq!(c.sizer, Some(Sizer::Items));
    assert_eq!(c.exporters, ["a", "b"]);
    assert_eq!(c.retry_on_failure, Retry::default());
    assert_eq!(c.grpc, Optional(None));
}

#[test]
fn unknown_keys_all_listed_with_valid_keys() {
    let e = errs("endpoint: x\nfoo: 1\nretry_on_failure:\n  Enabled: true\n  bar: 2\nzap: 3\n");
    let got: Vec<_> = e
        .iter()
        .map(|e| (e.path.as_str(), e.location.as_ref().unwrap().line))
        .collect();
    assert_eq!(
        got,
        [
            ("exporters::otlp/2::foo", 2),
            ("exporters::otlp/2::zap", 6),
            ("exporters::otlp/2::retry_on_failure::Enabled", 4),
            ("exporters::otlp/2::retry_on_failure::bar", 5),
        ]
    );
    assert_eq!(
        e[2].message,
        "unknown key \"Enabled\"; valid keys: enabled, initial_interval, max_elapsed_time"
    );
    assert_eq!(e[2].location.as_ref().unwrap().column, 3);
}

#[test]
fn no_weak_typing() {
    let e = errs("send_batch_size: \"10\"\n");
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].path, "exporters::otlp/2::send_batch_size");
    assert_eq!(
        e[0].message,
        "expected type 'uint32', got unconvertible type 'string'"
    );
    let loc = e[0].location.as_ref().unwrap();
    assert_eq!((loc.line, loc.column), (1, 18));
    assert_eq!(
        errs("enabled: yes\n")[0].message,
        "expected type 'bool', got unconvertible type 'string'"
    );
    assert_eq!(
        errs("send_batch_size: -1\n")[0].message,
        "value overflows type 'uint32'"
    );
    assert_eq!(
        errs("small: 200\n")[0].message,
        "value overflows type 'int8'"
    );
    assert_eq!(errs("send_batch_size: 1.5\n").len(), 1);
}

#[test]
fn string_fields_take_any_scalar_text() {
    let c = cfg("endpoint: 8080\napi_key: 0123\n").unwrap();
    assert_eq!(c.endpoint, "8080");
    assert_eq!(c.api_key.expose(), "0123");
}

#[test]
fn all_value_errors_reported() {
    let e = errs("send_batch_size: \"10\"\nenabled: on\nretry_on_failure:\n  initial_interval: 1d\nbogus: 1\n");
    let paths: Vec<_> = e.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "exporters::otlp/2::bogus",
            "exporters::otlp/2::send_batch_size",
            "exporters::otlp/2::enabled",
            "exporters::otlp/2::retry_on_failure::initial_interval",
        ]
    );
}

#[test]
fn durations() {
    let e = errs("retry_on_failure:\n  initial_interval: 1d\n");
    assert_eq!(e.len(), 1);
    assert_eq!(
        e[0].path,
        "exporters::otlp/2::retry_on_failure::initial_interval"
    );
    assert_eq!(e[0].message, r#"time: unknown unit "d" in duration "1d""#);
    let loc = e[0].location.as_ref().unwrap();
    assert_eq!((loc.line, loc.column), (2, 21));
    assert_eq!(
        cfg("timeout: 20\n").unwrap().timeout,
        Duration(std::time::Duration::from_nanos(20))
    );
    // `timeout:` (null) leaves the default in place.
    let r = cfg("retry_on_failure:\n  initial_interval:\n")
        .unwrap()
        .retry_on_failure;
    assert_eq!(r.initial_interval, Duration::from_secs(5));
}

#[test]
fn optional_presence() {
    let default = Some(Grpc::default());
    assert_eq!(cfg("grpc:\n").unwrap().grpc.0, default);
    assert_eq!(cfg("endpoint: x\n").unwrap().grpc.0, None);
    assert_eq!(
        cfg("grpc: {enabled: false, endpoint: x}\n").unwrap().grpc.0,
        None
    );
    let g = cfg("grpc: {enabled: true, endpoint: x}\n")
        .unwrap()
        .grpc
        .0
        .unwrap();
    assert_eq!(g.endpoint, "x");
    let e = errs("grpc: {enabled: maybe}\n");
    assert_eq!(e[0].path, "exporters::otlp/2::grpc::enabled");
    assert_eq!(
        e[0].message,
        "unexpected type string for 'enabled': got 'maybe' value expected 'true' or 'false'"
    );
    let e = errs("grpc: {max_recv_msg_size_mib: x, nope: 1}\n");
    assert_eq!(e[0].path, "exporters::otlp/2::grpc::nope");
    assert_eq!(e[1].path, "exporters::otlp/2::grpc::max_recv_msg_size_mib");
}

#[test]
fn nulls_keep_defaults() {
    let c = cfg("endpoint:\nretry_on_failure:\nexporters:\nvalue:\nsend_batch_size: ~\n").unwrap();
    assert_eq!(c, Cfg::default());
    // Null root: an empty section such as `batch:`.
    assert_eq!(decode::<Cfg>(&Node::null(), "p").unwrap(), Cfg::default());
}

#[test]
fn lists() {
    assert_eq!(cfg("exporters: a,b\n").unwrap().exporters, ["a", "b"]);
    assert_eq!(
        cfg("exporters: []\n").unwrap().exporters,
        Vec::<String>::new()
    );
    let e = errs("exporters: [a, [b]]\n");
    assert_eq!(e[0].path, "exporters::otlp/2::exporters::1");
    assert_eq!(
        e[0].message,
        "expected type 'string', got unconvertible type '[]interface {}'"
    );
}

#[test]
fn enums_and_maps() {
    let e = errs("sizer: requests\nheaders: [a]\n");
    assert_eq!(e[0].path, "exporters::otlp/2::sizer");
    assert!(e[0].message.contains("unknown variant"), "{}", e[0].message);
    assert_eq!(e[1].path, "exporters::otlp/2::headers");
    assert_eq!(e[1].message, "expected a map, got '[]interface {}'");
}

#[test]
fn secrets_never_in_errors() {
    let e = errs("api_key: [supersecret]\n");
    assert!(!e[0].to_string().contains("supersecret"));
    let e = errs("send_batch_size: supersecret\n");
    assert!(!e[0].to_string().contains("supersecret"));
}

#[test]
fn expanded_values_are_typed_by_field() {
    let vars = [
        ("PORT", "8080"),
        ("Z", "0123"),
        ("T", "true"),
        ("Q", "\"10\""),
    ];
    let c = expanded(
        "value: ${env:PORT}\nendpoint: ${env:PORT}\nport: ${env:PORT}\n",
        &vars,
    )
    .unwrap();
    assert_eq!(c.value, Some(AnyValue::Int(8080)));
    assert_eq!(c.endpoint, "8080");
    assert_eq!(c.port, 8080);
    let c = expanded(
        "endpoint: \"${env:Z}\"\nenabled: ${env:T}\nvalue: x${env:PORT}\n",
        &vars,
    )
    .unwrap();
    assert_eq!(c.endpoint, "0123");
    assert!(c.enabled);
    assert_eq!(c.value, Some(AnyValue::Str("x8080".into())));
    let c = expanded("value: ${env:Q}\nendpoint: ${env:Q}\n", &vars).unwrap();
    assert_eq!(c.endpoint, "\"10\"");
    // An embedded expansion is a string, so it cannot go into an int field.
    assert!(expanded("port: 80${env:PORT}\n", &vars).is_err());
    // An unset variable leaves the default.
    assert_eq!(expanded("port: ${env:NOPE}\n", &vars).unwrap().port, 0);
}

/// otelcol types a whole-value expansion by its text parsed as YAML, and gives a string field
/// the retrieved text itself: a file's trailing newline or a comment does not make an int a
/// string, and a value that parses as a YAML map or list is still a fine password or header.
#[test]
fn expansions_are_typed_by_their_yaml_and_strings_keep_the_text() {
    let vars = [
        ("N", "20000\n"),
        ("C", "100  # items"),
        ("J", "{\"a\": 1}"),
        ("PW", "[s3cret]"),
        ("Q", "\"10\""),
    ];
    let c = expanded(
        "send_batch_size: ${env:N}\nport: ${env:C}\nendpoint: ${env:J}\napi_key: ${env:PW}\nvalue: ${env:Q}\n",
        &vars,
    )
    .unwrap();
    assert_eq!((c.send_batch_size, c.port), (20000, 100));
    assert_eq!(c.endpoint, "{\"a\": 1}");
    assert_eq!(c.api_key.expose(), "[s3cret]");
    assert_eq!(
        c.value,
        Some(AnyValue::Str("10".into())),
        "a quoted YAML string"
    );
    // A map or list is still a map or list where the field wants one.
    let c = expanded("headers: ${env:J}\nexporters: ${env:PW}\n", &vars).unwrap();
    assert_eq!(c.headers.get("a").map(String::as_str), Some("1"));
    assert_eq!(c.exporters, ["s3cret"]);
    // Embedded in a longer string, the text is used as it is.
    let c = expanded("endpoint: v=${env:J}\n", &vars).unwrap();
    assert_eq!(c.endpoint, "v={\"a\": 1}");
}

#[test]
fn any_values() {
    #[derive(Deserialize)]
    struct A {
        v: AnyValue,
    }
    let a: A = decode(&node("v: {x: [1, 1.5, true, \"s\", ~, yes]}\n"), "").unwrap();
    let list = AnyValue::List(vec![
        AnyValue::Int(1),
        AnyValue::Float(1.5),
        AnyValue::Bool(true),
        AnyValue::Str("s".into()),
        AnyValue::Null,
        AnyValue::Str("yes".into()),
    ]);
    assert_eq!(a.v, AnyValue::Map(vec![("x".into(), list)]));
}

#[test]
fn missing_required_field() {
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct R {
        key: String,
    }
    let e = decode::<R>(&node("other: 1\n"), "exporters::datadog")
        .unwrap_err()
        .0;
    assert_eq!(e.len(), 2);
    assert_eq!(e[0].message, "unknown key \"other\"; valid keys: key");
    assert_eq!(e[1].path, "exporters::datadog");
    assert_eq!(e[1].message, "missing field `key`");
}
