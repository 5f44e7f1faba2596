//! Context inference of flat statement lists through the transform processor: each
//! statement's context from its paths, and a list run as one group in the most specific one.

use super::tests::{resource, run, spans, traces};
use crate::test_util::{owned_pairs as owned, texts as pairs};

/// A flat list runs as one group in the most specific context any statement needs, each
/// statement in turn on each item, as otelcol's does: a resource attribute deleted by a later
/// statement is gone for the next span, and a `spanevent.` statement makes the span statements
/// run per span event (so a span without events is not touched).
#[tokio::test]
async fn a_flat_list_runs_in_one_context_statement_after_statement() {
    let out = run(
        r#"
trace_statements:
  - 'set(span.attributes["svc"], resource.attributes["service.name"])'
  - 'delete_key(resource.attributes, "service.name")'
"#,
        traces(),
    )
    .await
    .unwrap();
    let svc: Vec<Option<String>> = spans(&out)
        .iter()
        .map(|sp| {
            pairs(&sp.attributes)
                .into_iter()
                .find(|(k, _)| k == "svc")
                .map(|(_, v)| v)
        })
        .collect();
    assert_eq!(svc, [Some("checkout".to_string()), None]);

    let out = run(
        r#"
trace_statements:
  - 'set(span.attributes["seen"], "yes")'
  - 'set(spanevent.attributes["seen"], "yes")'
"#,
        traces(),
    )
    .await
    .unwrap();
    let seen: Vec<bool> = spans(&out)
        .iter()
        .map(|sp| pairs(&sp.attributes).iter().any(|(k, _)| k == "seen"))
        .collect();
    assert_eq!(seen, [true, false], "only the span with an event");
}

#[tokio::test]
async fn flat_statements_infer_their_context() {
    let out = run(
        r#"
trace_statements:
  - 'set(resource.attributes["team"], "payments")'
  - 'set(span.attributes["env"], resource.attributes["deployment.environment"])'
  - 'replace_pattern(span.name, "\\?.*", "")'
  - 'set(span.status.code, STATUS_CODE_ERROR) where span.attributes["http.status_code"] >= 200 and span.kind == SPAN_KIND_SERVER'
  - 'set(spanevent.attributes["span"], span.name)'
"#,
        traces(),
    )
    .await
    .unwrap();
    assert_eq!(
        resource(&out),
        owned(&[
            ("service.name", "checkout"),
            ("deployment.environment", "prod"),
            ("team", "payments")
        ])
    );
    let s = spans(&out);
    assert_eq!(s[0].name, "GET /users/42");
    assert_eq!(s[1].name, "SELECT users");
    assert_eq!(
        pairs(&s[0].attributes).last().unwrap(),
        &("env".into(), "prod".into())
    );
    assert_eq!(s[0].status.as_ref().map(|st| st.code), Some(2));
    assert_eq!(s[1].status, None, "where did not hold");
    assert_eq!(
        pairs(&s[0].events[0].attributes),
        owned(&[("detail", "x"), ("span", "GET /users/42")])
    );
}
