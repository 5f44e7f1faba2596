//! include/exclude matching as contrib's filters do it.

use super::*;

#[test]
fn severity_names() {
    assert_eq!(severity_number(&ConfigValue::Str("info".into())), Some(9));
    assert_eq!(severity_number(&ConfigValue::Str("WARN2".into())), Some(14));
    assert_eq!(
        severity_number(&ConfigValue::Str("FATAL4".into())),
        Some(24)
    );
    assert_eq!(severity_number(&ConfigValue::Int(17)), Some(17));
    assert_eq!(severity_number(&ConfigValue::Str("LOUD".into())), None);
}

#[test]
fn match_type_is_needed_only_where_a_string_filter_is_built() {
    let err = |mp: MatchProperties, s: Signal| Matcher::new(&mp, s).err().map(|e| e.0);
    let unrecognized = "unrecognized match_type: '', valid types are: [regexp strict]";
    assert_eq!(
        err(
            MatchProperties {
                span_names: vec!["a".into()],
                ..Default::default()
            },
            Signal::Traces
        ),
        Some(format!("error creating span name filters: {unrecognized}"))
    );
    assert_eq!(
        err(
            MatchProperties {
                attributes: vec![AttributeMatch {
                    key: "k".into(),
                    value: Some(ConfigValue::Str("v".into())),
                }],
                ..Default::default()
            },
            Signal::Logs
        ),
        Some(format!("error creating attribute filters: {unrecognized}"))
    );
    assert_eq!(
        err(
            MatchProperties {
                metric_names: vec!["m".into()],
                ..Default::default()
            },
            Signal::Metrics
        ),
        Some(unrecognized.to_owned()),
        "metric name errors are not wrapped"
    );
    // Key-only attributes and a severity floor build no string filter.
    let key_only = MatchProperties {
        attributes: vec![AttributeMatch {
            key: "k".into(),
            value: None,
        }],
        ..Default::default()
    };
    assert!(Matcher::new(&key_only, Signal::Traces).is_ok());
    let severity = MatchProperties {
        log_severity_number: Some(SeverityNumberMatch {
            min: Some(ConfigValue::Str("WARN".into())),
            match_undefined: false,
        }),
        ..Default::default()
    };
    assert!(Matcher::new(&severity, Signal::Logs).is_ok());
}

#[test]
fn a_metrics_block_selects_by_name_only() {
    let resources_only = MatchProperties {
        match_type: "strict".into(),
        resources: vec![AttributeMatch {
            key: "k".into(),
            value: None,
        }],
        ..Default::default()
    };
    // No metric_names: no filter at all (contrib's filtermetric reads nothing else).
    assert!(Matcher::new(&resources_only, Signal::Metrics)
        .expect("valid")
        .is_none());
    let named = MatchProperties {
        metric_names: vec!["latency".into()],
        ..resources_only
    };
    let m = Matcher::new(&named, Signal::Metrics)
        .expect("valid")
        .expect("a filter");
    assert!(m.matches_metric("latency"));
    assert!(!m.matches_metric("other"));
}

#[test]
fn regexp_filters_match_the_text_of_bools_and_numbers() {
    let m = Matcher::new(
        &MatchProperties {
            match_type: "regexp".into(),
            attributes: vec![AttributeMatch {
                key: "http.status_code".into(),
                value: Some(ConfigValue::Str("^5..$".into())),
            }],
            ..Default::default()
        },
        Signal::Traces,
    )
    .expect("valid")
    .expect("a filter");
    let span = |v: Value| Span {
        attributes: vec![KeyValue {
            key: "http.status_code".into(),
            value: Some(AnyValue { value: Some(v) }),
            ..Default::default()
        }],
        ..Default::default()
    };
    assert!(m.matches_span(&[], None, &span(Value::IntValue(503))));
    assert!(m.matches_span(&[], None, &span(Value::StringValue("500".into()))));
    assert!(m.matches_span(&[], None, &span(Value::DoubleValue(502.0))));
    assert!(!m.matches_span(&[], None, &span(Value::IntValue(404))));
    assert!(!m.matches_span(&[], None, &span(Value::BytesValue(b"503".to_vec()))));
    assert_eq!(
        regexp_subject(Some(&AnyValue {
            value: Some(Value::DoubleValue(1e21))
        }))
        .as_deref(),
        Some("1000000000000000000000")
    );
    let e = Matcher::new(
        &MatchProperties {
            match_type: "regexp".into(),
            attributes: vec![AttributeMatch {
                key: "k".into(),
                value: Some(ConfigValue::Int(5)),
            }],
            ..Default::default()
        },
        Signal::Traces,
    )
    .err()
    .map(|e| e.0);
    assert_eq!(
        e.as_deref(),
        Some(
            r#"error creating attribute filters: match_type=regexp for "k" only supports Str, but found Int"#
        )
    );
}

#[test]
fn every_library_entry_must_match() {
    let lib = |name: &str| LibraryMatch {
        name: name.into(),
        version: None,
    };
    let m = Matcher::new(
        &MatchProperties {
            match_type: "regexp".into(),
            libraries: vec![lib("^io\\."), lib("http$")],
            ..Default::default()
        },
        Signal::Traces,
    )
    .expect("valid")
    .expect("a filter");
    let scope = |name: &str| InstrumentationScope {
        name: name.into(),
        ..Default::default()
    };
    assert!(m.matches_span(&[], Some(&scope("io.otel.http")), &Span::default()));
    assert!(!m.matches_span(&[], Some(&scope("io.otel.grpc")), &Span::default()));
}

#[test]
fn services_and_bodies_match_their_text_form() {
    let services = Matcher::new(
        &MatchProperties {
            match_type: "strict".into(),
            services: vec!["<nil-service-name>".into(), "42".into()],
            ..Default::default()
        },
        Signal::Traces,
    )
    .expect("valid")
    .expect("a filter");
    let int_service = [KeyValue {
        key: "service.name".into(),
        value: Some(AnyValue {
            value: Some(Value::IntValue(42)),
        }),
        ..Default::default()
    }];
    assert!(services.matches_span(&[], None, &Span::default()));
    assert!(services.matches_span(&int_service, None, &Span::default()));
    let bodies = Matcher::new(
        &MatchProperties {
            match_type: "regexp".into(),
            log_bodies: vec!["^$|^7$".into()],
            ..Default::default()
        },
        Signal::Logs,
    )
    .expect("valid")
    .expect("a filter");
    let log = |body: Option<Value>| LogRecord {
        body: body.map(|v| AnyValue { value: Some(v) }),
        ..Default::default()
    };
    assert!(bodies.matches_log(&[], None, &log(None)));
    assert!(bodies.matches_log(&[], None, &log(Some(Value::IntValue(7)))));
    assert!(!bodies.matches_log(&[], None, &log(Some(Value::IntValue(8)))));
}

/// The texts of contrib's filterconfig validation (checked against its source).
#[test]
fn field_checks_have_contribs_texts() {
    let strict = |f: &dyn Fn(&mut MatchProperties)| {
        let mut mp = MatchProperties {
            match_type: "strict".into(),
            ..MatchProperties::default()
        };
        f(&mut mp);
        mp
    };
    let err = |mp: &MatchProperties, s: Signal| check_fields(mp, s).err().map(|e| e.0);
    assert_eq!(
        err(&strict(&|_| {}), Signal::Traces).as_deref(),
        Some(
            r#"at least one of "attributes", "libraries",  or "resources" field must be specified"#
        )
    );
    assert_eq!(
        err(&strict(&|m| m.span_kinds = vec!["server".into()]), Signal::Traces).as_deref(),
        Some("span_kinds string must match one of the standard span kinds when match_type=strict: [SPAN_KIND_CLIENT SPAN_KIND_CONSUMER SPAN_KIND_INTERNAL SPAN_KIND_PRODUCER SPAN_KIND_SERVER]")
    );
    assert_eq!(
        err(
            &strict(&|m| m.span_kinds = vec!["SPAN_KIND_SERVER".into()]),
            Signal::Traces
        ),
        None
    );
    assert_eq!(
        err(&strict(&|m| m.services = vec!["a".into()]), Signal::Logs).as_deref(),
        Some("services, span_names, and span_kinds are not valid for log records")
    );
}
