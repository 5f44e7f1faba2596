use super::*;
use kakehashi_pdata::proto::common::v1::any_value::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

fn act(action: &str, key: &str) -> ActionKeyValue {
    ActionKeyValue {
        action: action.into(),
        key: key.into(),
        ..Default::default()
    }
}

fn with_value(action: &str, key: &str, v: ConfigValue) -> ActionKeyValue {
    ActionKeyValue {
        value: Some(v),
        ..act(action, key)
    }
}

fn s(v: &str) -> AnyValue {
    value::str_value(v)
}

fn attrs(pairs: &[(&str, AnyValue)]) -> Vec<KeyValue> {
    pairs
        .iter()
        .map(|(k, v)| KeyValue {
            key: (*k).into(),
            value: Some(v.clone()),
            ..Default::default()
        })
        .collect()
}

fn run(actions: &[ActionKeyValue], input: &[(&str, AnyValue)]) -> Vec<KeyValue> {
    let p = AttrProc::new(actions).expect("valid actions");
    let mut a = attrs(input);
    p.process(&mut a, &ClientMetadata::default());
    a
}

#[test]
fn insert_update_upsert_delete_table() {
    let str_val = |v: &str| ConfigValue::Str(v.into());
    type Attrs<'a> = Vec<(&'a str, AnyValue)>;
    let cases: Vec<(ActionKeyValue, Attrs, Attrs)> = vec![
        // insert never overwrites an SDK-set service.name (the seed config's case).
        (
            with_value("insert", "service.name", str_val("vote-app")),
            vec![("service.name", s("my-svc"))],
            vec![("service.name", s("my-svc"))],
        ),
        (
            with_value("INSERT", "env", str_val("staging")),
            vec![("service.name", s("my-svc"))],
            vec![("service.name", s("my-svc")), ("env", s("staging"))],
        ),
        (with_value("update", "env", str_val("prod")), vec![], vec![]),
        (
            with_value("update", "env", ConfigValue::Int(3)),
            vec![("env", s("x"))],
            vec![(
                "env",
                AnyValue {
                    value: Some(Value::IntValue(3)),
                },
            )],
        ),
        (
            with_value("upsert", "service.name", str_val("vote-app")),
            vec![("service.name", s("my-svc"))],
            vec![("service.name", s("vote-app"))],
        ),
        (
            with_value("upsert", "b", ConfigValue::Bool(true)),
            vec![],
            vec![(
                "b",
                AnyValue {
                    value: Some(Value::BoolValue(true)),
                },
            )],
        ),
        (
            ActionKeyValue {
                from_attribute: "a".into(),
                ..act("insert", "b")
            },
            vec![("a", s("1"))],
            vec![("a", s("1")), ("b", s("1"))],
        ),
        (
            ActionKeyValue {
                from_attribute: "missing".into(),
                ..act("upsert", "b")
            },
            vec![("a", s("1"))],
            vec![("a", s("1"))],
        ),
        (
            ActionKeyValue {
                from_attribute: "missing".into(),
                default_value: Some(str_val("dflt")),
                ..act("upsert", "b")
            },
            vec![],
            vec![("b", s("dflt"))],
        ),
        (
            ActionKeyValue {
                pattern: "^secret".into(),
                ..act("delete", "x")
            },
            vec![("x", s("1")), ("secret.a", s("2")), ("keep", s("3"))],
            vec![("keep", s("3"))],
        ),
    ];
    for (action, input, want) in cases {
        assert_eq!(
            run(std::slice::from_ref(&action), &input),
            attrs(&want),
            "{action:?}"
        );
    }
}

#[test]
fn actions_run_in_order() {
    let got = run(
        &[
            with_value("insert", "a", ConfigValue::Str("v".into())),
            ActionKeyValue {
                from_attribute: "a".into(),
                ..act("insert", "b")
            },
            act("delete", "a"),
        ],
        &[],
    );
    assert_eq!(got, attrs(&[("b", s("v"))]));
}

#[test]
fn hash_extract_convert() {
    let got = run(
        &[ActionKeyValue {
            pattern: "^pii".into(),
            ..act("hash", "user")
        }],
        &[
            ("user", s("abc")),
            ("pii.mail", s("abc")),
            ("other", s("abc")),
        ],
    );
    let h = s("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_eq!(
        got,
        attrs(&[("user", h.clone()), ("pii.mail", h), ("other", s("abc"))])
    );

    let got = run(
        &[ActionKeyValue {
            pattern: r"^/api/(?P<version>v\d+)/(?P<resource>\w+)".into(),
            ..act("extract", "http.url")
        }],
        &[("http.url", s("/api/v1/users")), ("version", s("old"))],
    );
    assert_eq!(
        got,
        attrs(&[
            ("http.url", s("/api/v1/users")),
            ("version", s("v1")),
            ("resource", s("users"))
        ])
    );

    let got = run(
        &[ActionKeyValue {
            converted_type: "int".into(),
            ..act("convert", "n")
        }],
        &[("n", s("12"))],
    );
    assert_eq!(
        got,
        attrs(&[(
            "n",
            AnyValue {
                value: Some(Value::IntValue(12))
            }
        )])
    );
}

#[test]
fn from_context_reads_metadata_and_address() {
    let mut headers = BTreeMap::new();
    headers.insert("tenant".to_string(), vec!["a".to_string(), "b".to_string()]);
    let meta = ClientMetadata {
        addr: Some("10.1.2.3:5555".parse().expect("addr")),
        headers: Arc::new(headers),
    };
    let ctx = |k: &str, from: &str| ActionKeyValue {
        from_context: from.into(),
        ..act("upsert", k)
    };
    let p = AttrProc::new(&[
        ctx("t1", "metadata.tenant"),
        ctx("t2", "Tenant"),
        ctx("ip", "client.address"),
        ctx("none", "metadata.missing"),
    ])
    .expect("valid");
    let mut a = Vec::new();
    p.process(&mut a, &meta);
    assert_eq!(
        a,
        attrs(&[("t1", s("a;b")), ("t2", s("a;b")), ("ip", s("10.1.2.3"))])
    );
    // No peer address (data that went through a batch processor): contrib writes "".
    let mut a = Vec::new();
    AttrProc::new(&[ctx("ip", "client.address")])
        .expect("valid")
        .process(&mut a, &ClientMetadata::default());
    assert_eq!(a, attrs(&[("ip", s(""))]));
}

#[test]
fn default_value_alone_is_a_source() {
    let default = |action: &str| ActionKeyValue {
        default_value: Some(ConfigValue::Str("d".into())),
        ..act(action, "k")
    };
    assert_eq!(run(&[default("insert")], &[]), attrs(&[("k", s("d"))]));
    assert_eq!(
        run(&[default("insert")], &[("k", s("x"))]),
        attrs(&[("k", s("x"))])
    );
    assert_eq!(run(&[default("update")], &[]), attrs(&[]));
    assert_eq!(
        run(&[default("update")], &[("k", s("x"))]),
        attrs(&[("k", s("d"))])
    );
    assert_eq!(
        run(&[default("upsert")], &[("k", s("x"))]),
        attrs(&[("k", s("d"))])
    );
    // Next to a value it is not a second source; the value wins.
    let both = ActionKeyValue {
        value: Some(ConfigValue::Str("v".into())),
        ..default("upsert")
    };
    assert_eq!(run(&[both], &[]), attrs(&[("k", s("v"))]));
}

#[test]
fn hash_of_a_key_that_the_pattern_also_matches_is_applied_twice() {
    let got = run(
        &[ActionKeyValue {
            pattern: "^user$".into(),
            ..act("hash", "user")
        }],
        &[("user", s("abc"))],
    );
    // sha256 of the lowercase hex sha256 of "abc", as contrib hashes the key, then each match.
    let once = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    let mut twice = AnyValue {
        value: Some(Value::StringValue(once.into())),
    };
    crate::attraction::value::hash(&mut twice);
    assert_eq!(
        got,
        vec![KeyValue {
            key: "user".into(),
            value: Some(twice),
            ..Default::default()
        }]
    );
}

#[test]
fn build_errors_have_otelcol_texts() {
    let cases = vec![
        (
            vec![with_value("insert", "a", ConfigValue::Int(1)), act("insert", "")],
            "error creating AttrProc due to missing required field \"key\" at the 1-th actions",
        ),
        (
            vec![act("insert", "a")],
            // The text of contrib since `default_value` (its TestInvalidConfig).
            "error with key \"a\" (0-th action): error creating AttrProc. Either field \"value\", \"from_attribute\", \"from_context\", or \"default_value\" must be specified",
        ),
        (
            vec![ActionKeyValue {
                from_attribute: "x".into(),
                ..with_value("upsert", "a", ConfigValue::Int(1))
            }],
            "error creating AttrProc due to multiple value sources being set at the 0-th actions",
        ),
        (
            vec![act("frobnicate", "a")],
            "error creating AttrProc due to unsupported action \"frobnicate\" at the 0-th actions",
        ),
        (
            vec![ActionKeyValue {
                pattern: "(a)".into(),
                ..act("extract", "a")
            }],
            "error creating AttrProc. Field \"pattern\" contains at least one unnamed matcher group at the 0-th actions",
        ),
        (
            vec![ActionKeyValue {
                pattern: "abc".into(),
                ..act("extract", "a")
            }],
            "error creating AttrProc. Field \"pattern\" contains no named matcher groups at the 0-th actions",
        ),
        (
            vec![ActionKeyValue {
                converted_type: "bool".into(),
                ..act("convert", "a")
            }],
            "error creating AttrProc due to invalid value \"bool\" in field \"converted_type\" for action \"convert\" at the 0-th action",
        ),
        (
            vec![act("delete", "")],
            "error creating AttrProc due to missing required field (at least one of \"key\" and \"pattern\" have to be used) at the 0-th actions",
        ),
    ];
    for (actions, want) in cases {
        assert_eq!(AttrProc::new(&actions).err(), Some(BuildError(want.into())));
    }
}
