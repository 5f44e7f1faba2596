//! Warnings otelcol logs while loading a config, which kakehashi logs too once its log output is
//! set up: an unset environment variable referenced without a default, and a component configured
//! under a deprecated alias.

mod common;

use common::*;
use std::time::Duration;

#[test]
fn unset_env_and_deprecated_alias_are_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let (grpc, sink) = (free_port(), free_port());
    let config = format!(
        r#"receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
exporters:
  otlphttp:
    endpoint: http://127.0.0.1:{sink}
    headers:
      x-team: "${{env:KAKEHASHI_TEST_SURELY_UNSET_TEAM}}"
      x-site: "${{env:KAKEHASHI_TEST_SURELY_UNSET_SITE:-ap1}}"
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlphttp]
"#
    );
    let collector = start_kakehashi(dir.path(), "kakehashi", &config, &[grpc]);
    let ready = poll_until(Duration::from_secs(10), || {
        let log = collector.stderr();
        log.contains("Everything is ready").then_some(log)
    })
    .unwrap_or_else(|| panic!("not ready\n{}", collector.output_tail(4000)));
    let warnings: Vec<&str> = ready.lines().filter(|l| l.contains("WARN")).collect();
    assert!(
        warnings.iter().any(
            |l| l.contains("Configuration references unset environment variable")
                && l.contains("KAKEHASHI_TEST_SURELY_UNSET_TEAM")
        ),
        "{ready}"
    );
    // A variable with a default is not warned about.
    assert!(
        !ready.contains("KAKEHASHI_TEST_SURELY_UNSET_SITE"),
        "{ready}"
    );
    assert!(
        warnings
            .iter()
            .any(|l| l.contains(r#""otlphttp" alias is deprecated; use "otlp_http" instead"#)),
        "{ready}"
    );
}
