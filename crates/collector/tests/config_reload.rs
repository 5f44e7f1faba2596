//! SIGHUP reloads the configuration, as otelcol does: the running service is shut down and a new
//! one built from the config sources read again. A config that no longer builds ends the process
//! with otelcol's error. Without a handler, SIGHUP would kill the collector with no drain.

mod common;

use common::*;
use std::net::TcpStream;
use std::time::Duration;

fn config(port: u16) -> String {
    format!(
        r#"receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{port}
exporters:
  nop:
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [nop]
"#
    )
}

fn hangup(p: &ProcessGuard) {
    let ok = std::process::Command::new("kill")
        .args(["-HUP", &p.pid().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -HUP");
}

fn count(p: &ProcessGuard, line: &str) -> usize {
    p.stderr().matches(line).count()
}

const READY: &str = "Everything is ready. Begin running and processing data.";

#[test]
fn sighup_rebuilds_from_the_edited_config_and_a_broken_one_ends_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (free_port(), free_port());
    let mut collector = start_kakehashi(dir.path(), "reload", &config(first), &[first]);
    poll_until(Duration::from_secs(10), || {
        (count(&collector, READY) == 1).then_some(())
    })
    .unwrap_or_else(|| panic!("not ready\n{}", collector.output_tail(4000)));

    // The receiver moves to another port.
    std::fs::write(dir.path().join("reload.yaml"), config(second)).unwrap();
    hangup(&collector);
    wait_for_port(second, Duration::from_secs(20), Some(&mut collector));
    poll_until(Duration::from_secs(10), || {
        (count(&collector, READY) == 2).then_some(())
    })
    .unwrap_or_else(|| panic!("not ready again\n{}", collector.output_tail(4000)));
    let log = collector.stderr();
    assert!(log.contains("Config updated, restart service"), "{log}");
    assert!(!log.contains("Shutdown complete."), "{log}");
    assert!(
        TcpStream::connect(("127.0.0.1", first)).is_err(),
        "the old receiver is closed"
    );
    collector.assert_running();

    // A config that no longer builds: otelcol's error, exit code 1.
    std::fs::write(dir.path().join("reload.yaml"), "receivers: [\n").unwrap();
    hangup(&collector);
    let status = collector.wait_exit(Duration::from_secs(20));
    assert_eq!(status.code(), Some(1), "{}", collector.output_tail(4000));
    let log = collector.stderr();
    assert!(
        log.contains("failed to setup configuration components"),
        "{log}"
    );
}
