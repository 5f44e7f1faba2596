//! Proxies from the environment never apply to loopback, as Go's `ProxyFromEnvironment`: with
//! `HTTP_PROXY`, `HTTPS_PROXY` and `ALL_PROXY` all pointing at a dead port, an `otlphttp`
//! exporter to a sink on 127.0.0.1 still delivers (reqwest alone would send it to the proxy).

mod common;

use common::*;
use std::time::Duration;

#[test]
fn environment_proxies_skip_loopback_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start(dir.path());
    let recv_grpc = free_port();
    let dead_proxy = format!("http://127.0.0.1:{}", free_port());
    let config_path = dir.path().join("kakehashi.yaml");
    let processors = "  batch:\n    timeout: 100ms";
    std::fs::write(
        &config_path,
        otlp_to_sink_config(recv_grpc, &sink, processors, "batch", "traces"),
    )
    .unwrap();
    let mut cmd = kakehashi_command();
    cmd.arg("--config").arg(&config_path);
    for var in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        cmd.env(var, &dead_proxy);
    }
    cmd.env_remove("NO_PROXY").env_remove("no_proxy");
    let mut collector = ProcessGuard::spawn("kakehashi", cmd, dir.path());
    wait_for_port(recv_grpc, Duration::from_secs(20), Some(&mut collector));
    grpc_export(
        &format!("http://127.0.0.1:{recv_grpc}"),
        trace_request("through-no-proxy", 2),
        Duration::from_secs(5),
    )
    .expect("accepted");
    let items = poll_until(Duration::from_secs(15), || {
        let items = sink_items(&sink, "traces");
        (items.len() == 2).then_some(items)
    });
    assert!(items.is_some(), "{}", collector.output_tail(4000));
}
