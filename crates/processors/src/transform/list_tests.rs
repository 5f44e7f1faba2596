//! The string and list converters (`Split`, `String`, `Trim*`, `Has*`, `Index`,
//! `ContainsValue`, `Keys`, `Values`, `ParseJSON`) and the list editors (`append`,
//! `delete_index`, `flatten`) through the transform processor.

use super::tests::{errors, run, spans, traces};
use kakehashi_pdata::go_text::as_string;
use kakehashi_pdata::proto::trace::v1::Span;

/// An attribute as OTTL's `String` shows it (JSON for lists and maps); `None` when absent.
fn attr(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .map(|kv| as_string(kv.value.as_ref()))
}

#[tokio::test]
async fn converters_split_trim_search_and_parse() {
    let out = run(
        r#"
trace_statements:
  - context: span
    conditions: ['span.kind == SPAN_KIND_SERVER']
    statements:
      - 'set(attributes["parts"], Split(attributes["http.route"], "/"))'
      - 'set(attributes["second"], Split(attributes["http.route"], "/")[1])'
      - 'set(attributes["status"], String(attributes["http.status_code"]))'
      - 'set(attributes["resource"], String(resource.attributes))'
      - 'set(attributes["trimmed"], Trim("  x y  "))'
      - 'set(attributes["cut"], Trim("--x--", "-"))'
      - 'set(attributes["id"], TrimPrefix(attributes["http.route"], "/users/"))'
      - 'set(attributes["path"], TrimSuffix(name, "?debug=1"))'
      - 'set(attributes["is_get"], HasPrefix(name, "GET "))'
      - 'set(attributes["slash"], Index(name, "/"))'
      - 'set(attributes["keys"], Keys(resource.attributes))'
      - 'set(attributes["values"], Values(resource.attributes))'
      - 'set(attributes["parsed"], ParseJSON("{\"b\": 1, \"a\": [true, \"s\"]}"))'
      - 'set(attributes["a0"], ParseJSON("{\"a\": [7]}")["a"][0])'
      - 'set(attributes["listed"], ["x", 2, nil])'
      - 'set(attributes["request"], ExtractPatterns(name, "^(?P<method>[A-Z]+) (?P<path>[^?]+)(?P<fragment>#.*)?"))'
      - 'set(attributes["no_match"], ExtractPatterns(name, "^POST (?P<path>.*)"))'
      - 'set(attributes["kv"], ParseKeyValue("user=ann  note=''a b'' n=1"))'
      - 'set(attributes["kv2"], ParseKeyValue("a:1;b:2", ":", ";"))'
      - 'set(attributes["get_at"], Index(Split(name, " "), "GET"))'
      - 'set(attributes["contains"], "yes") where ContainsValue(Split(name, " "), "GET")'
      - 'set(attributes["contains_not"], "yes") where ContainsValue(Keys(attributes), "nope")'
"#,
        traces(),
    )
    .await
    .unwrap();
    let s = &spans(&out)[0];
    let got = |k: &str| attr(s, k).unwrap_or_else(|| panic!("{k} not set"));
    assert_eq!(got("parts"), r#"["","users","{id}"]"#);
    assert_eq!(got("second"), "users");
    assert_eq!(got("status"), "200");
    assert_eq!(
        got("resource"),
        r#"{"deployment.environment":"prod","service.name":"checkout"}"#,
        "a map's JSON has sorted keys, as Go's"
    );
    assert_eq!(got("trimmed"), "x y");
    assert_eq!(got("cut"), "x");
    assert_eq!(got("id"), "{id}");
    assert_eq!(got("path"), "GET /users/42");
    assert_eq!(got("is_get"), "true");
    assert_eq!(got("slash"), "4");
    assert_eq!(got("keys"), r#"["service.name","deployment.environment"]"#);
    assert_eq!(got("values"), r#"["checkout","prod"]"#);
    // Every number a double (1 prints as 1, its type is double); keys in document order
    // (the JSON rendering here sorts them, as Go's).
    assert_eq!(got("parsed"), r#"{"a":[true,"s"],"b":1}"#);
    let parsed = s.attributes.iter().find(|kv| kv.key == "parsed").unwrap();
    let debug = format!("{parsed:?}");
    assert!(debug.contains("DoubleValue(1.0)"), "{debug}");
    assert!(
        debug.find("\"b\"").unwrap() < debug.find("\"a\"").unwrap(),
        "{debug}"
    );
    assert_eq!(got("a0"), "7");
    assert_eq!(got("listed"), r#"["x",2,null]"#);
    // A group that took no part is "", as Go's FindStringSubmatch; no match, an empty map.
    assert_eq!(
        got("request"),
        r#"{"fragment":"","method":"GET","path":"/users/42"}"#
    );
    assert_eq!(got("no_match"), "{}");
    assert_eq!(got("kv"), r#"{"n":"1","note":"a b","user":"ann"}"#);
    assert_eq!(got("kv2"), r#"{"a":"1","b":"2"}"#);
    assert_eq!(got("get_at"), "0");
    assert_eq!(got("contains"), "yes");
    assert_eq!(attr(s, "contains_not"), None);
    // The span the group's condition left out is untouched.
    assert!(spans(&out)[1].attributes.is_empty());
}

#[tokio::test]
async fn go_split_edge_cases() {
    let out = run(
        r#"
trace_statements:
  - 'set(span.attributes["empty"], Split("", ","))'
  - 'set(span.attributes["chars"], Split("ab", ""))'
  - 'set(span.attributes["none"], Split("", ""))'
  - 'set(span.attributes["trailing"], Split("a,", ","))'
  - 'set(span.attributes["nil_string"], String(span.attributes["absent"]))'
"#,
        traces(),
    )
    .await
    .unwrap();
    let s = &spans(&out)[1];
    assert_eq!(attr(s, "empty").unwrap(), r#"[""]"#);
    assert_eq!(attr(s, "chars").unwrap(), r#"["a","b"]"#);
    assert_eq!(attr(s, "none").unwrap(), "[]");
    assert_eq!(attr(s, "trailing").unwrap(), r#"["a",""]"#);
    assert_eq!(
        attr(s, "nil_string"),
        None,
        "String(nil) is nil: nothing set"
    );
}

#[tokio::test]
async fn append_and_delete_index_build_lists() {
    let out = run(
        r#"
trace_statements:
  - 'append(span.attributes["tags"], value = "a")'
  - 'append(span.attributes["tags"], values = ["b", 1, 2.5])'
  - 'append(span.attributes["tags"], "c", ["d"])'
  - 'append(span.attributes["user.phone"], "556")'
  - 'delete_index(span.attributes["tags"], 1)'
  - 'delete_index(span.attributes["tags"], start_index = 2, endIndex = 4)'
"#,
        traces(),
    )
    .await
    .unwrap();
    let s = &spans(&out)[0];
    // ["a","b",1,2.5,"c","d"] less index 1, then less [2, 4).
    assert_eq!(attr(s, "tags").unwrap(), r#"["a",1,"d"]"#);
    assert_eq!(
        attr(s, "user.phone").unwrap(),
        r#"["555","556"]"#,
        "a scalar becomes the first item"
    );
}

#[tokio::test]
async fn flatten_joins_keys_with_dots() {
    let out = run(
        r#"
trace_statements:
  - 'set(span.attributes["app"], ParseJSON("{\"name\":\"x\",\"tags\":[\"a\",{\"k\":1}]}"))'
  - 'keep_keys(span.attributes, ["app", "note"])'
  - 'flatten(span.attributes, "p")'
"#,
        traces(),
    )
    .await
    .unwrap();
    let keys: Vec<(String, String)> = spans(&out)[0]
        .attributes
        .iter()
        .map(|kv| (kv.key.clone(), as_string(kv.value.as_ref())))
        .collect();
    let want = [
        ("p.note", "héllo wörld"),
        ("p.app.name", "x"),
        ("p.app.tags.0", "a"),
        ("p.app.tags.1.k", "1"),
    ];
    assert_eq!(
        keys,
        want.map(|(k, v)| (k.to_string(), v.to_string())).to_vec()
    );
}

#[tokio::test]
async fn flatten_a_nested_map_in_place() {
    let out = run(
        r#"
trace_statements:
  - 'set(span.attributes["app"], ParseJSON("{\"a\":{\"b\":[\"x\"]}}"))'
  - 'flatten(span.attributes["app"], depth = 1)'
  - 'flatten(span.attributes["note"]) where span.kind == SPAN_KIND_SERVER'
"#,
        traces(),
    )
    .await
    .unwrap();
    let s = &spans(&out)[0];
    // depth 1: one level joined, the list below kept whole.
    assert_eq!(attr(s, "app").unwrap(), r#"{"a.b":["x"]}"#);
    // A string there: the statement fails (logged under the default error_mode), nothing else.
    assert_eq!(attr(s, "note").unwrap(), "héllo wörld");
    let err = run(
        "error_mode: propagate\ntrace_statements: ['flatten(span.name)']",
        traces(),
    )
    .await
    .expect_err("not a map");
    assert!(
        err.to_string()
            .contains("expected pcommon.Map but got string"),
        "{err}"
    );
}

#[tokio::test]
async fn runtime_errors_follow_error_mode() {
    // Out of bounds: the statement fails; under propagate the batch is refused.
    let err = run(
        r#"
error_mode: propagate
trace_statements:
  - 'delete_index(span.attributes["tags"], 0) where span.kind == SPAN_KIND_SERVER'
"#,
        traces(),
    )
    .await
    .expect_err("no list there");
    assert!(
        err.to_string()
            .contains("expected pcommon.Slice but got nil"),
        "{err}"
    );
    let err = run(
        r#"
error_mode: propagate
trace_statements:
  - 'set(span.attributes["x"], ParseJSON("[1"))'
"#,
        traces(),
    )
    .await
    .expect_err("bad JSON");
    assert!(err.to_string().contains("EOF"), "{err}");
    // A converter's result indexed by a key it does not have is an error (a path's is nil).
    let err = run(
        r#"
error_mode: propagate
trace_statements:
  - 'set(span.attributes["x"], ParseJSON("{\"a\": 1}")["missing"])'
"#,
        traces(),
    )
    .await
    .expect_err("no such key");
    assert!(err.to_string().contains("key not found in map"), "{err}");
    // Under the default (ignore) the other statements still run, and a condition that fails
    // is false.
    let out = run(
        r#"
trace_statements:
  - 'set(span.attributes["x"], HasPrefix(span.attributes["absent"], "a"))'
  - 'set(span.attributes["y"], "ran")'
  - 'set(span.attributes["z"], "no level") where ParseJSON("{}")["level"] == nil'
"#,
        traces(),
    )
    .await
    .unwrap();
    assert_eq!(attr(&spans(&out)[0], "x"), None);
    assert_eq!(attr(&spans(&out)[0], "y").as_deref(), Some("ran"));
    assert_eq!(attr(&spans(&out)[0], "z"), None);
}

#[test]
fn argument_mistakes_are_config_errors() {
    for (statement, want) in [
        (
            "append(span.attributes[\"t\"])",
            "at least one of the optional arguments",
        ),
        (
            "append(span.attributes[\"t\"], valuez = 1)",
            "no argument named \"valuez\"",
        ),
        (
            "append(span.attributes[\"t\"], values = \"a\")",
            "values must be a list",
        ),
        (
            "append(span.attributes[\"t\"], value = 1, \"x\")",
            "positional argument cannot follow",
        ),
        (
            "append(span.attributes[\"t\"], 1, [2], 3)",
            "at most 2 arguments",
        ),
        ("flatten(span.attributes, \"p\", 0)", "invalid depth '0'"),
        ("flatten(span.trace_id)", "cannot be assigned"),
        (
            "set(span.name, Trim(span.name, replacement = \"x\"))",
            "Trim: named arguments (replacement = ...) are not supported for converters yet",
        ),
        ("delete_index(span.attributes[\"t\"])", "needs a startIndex"),
        (
            "set(span.name, Split(span.name))",
            "Split takes 2 arguments",
        ),
        (
            "set(span.name, Trim(span.name, 1))",
            "Trim's replacement must be a string literal",
        ),
        (
            "set(span.name, Keys(span.attributes, 1))",
            "Keys takes 1 argument",
        ),
        (
            "set(span.attributes, ParseKeyValue(span.name, \"=\", \"=\"))",
            "cannot be equal to delimiter",
        ),
        (
            "set(span.name, ExtractPatterns(span.name, \"(a)\"))",
            "at least 1 named capture group",
        ),
        (
            "set(span.name, ExtractPatterns(span.name, span.name))",
            "pattern must be a string literal",
        ),
    ] {
        let yaml = format!("trace_statements: ['{statement}']");
        let err = errors(&yaml);
        assert!(err.contains(want), "{statement}: {err}");
    }
}
