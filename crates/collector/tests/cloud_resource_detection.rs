//! The `resourcedetection` processor's cloud detectors through the binary, into the Datadog
//! exporter: kakehashi runs as a collector on the applications' host (`resourcedetection` in
//! front of `datadog`) against fake metadata services on 127.0.0.1 (the addresses come from the
//! variables the AWS SDK and ECS define), and the intake double shows what Datadog would get:
//! on EC2 the host is the instance id (Datadog's rule for `cloud.provider: aws`), on ECS Fargate
//! there is no host and the task ARN is a container tag.

mod common;

use common::dd_intake::FakeIntake;
use common::*;
use std::time::Duration;

const API_KEY: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90";

/// A metadata service answering fixed bodies by path; anything else is a 404.
struct FakeMetadata {
    url: String,
    _rt: tokio::runtime::Runtime,
}

impl FakeMetadata {
    fn start(routes: &[(&str, &str)]) -> FakeMetadata {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let routes: Vec<(String, String)> = routes
            .iter()
            .map(|(p, b)| (p.to_string(), b.to_string()))
            .collect();
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
            let found = routes
                .iter()
                .find(|(p, _)| p == uri.path())
                .map(|(_, b)| b.clone());
            async move {
                match found {
                    Some(body) => (axum::http::StatusCode::OK, body),
                    None => (axum::http::StatusCode::NOT_FOUND, String::new()),
                }
            }
        });
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        rt.spawn(async move { axum::serve(listener, app).await });
        FakeMetadata { url, _rt: rt }
    }
}

/// Starts kakehashi with `detectors` and the exporter's `hostname: fallback-host`, the
/// variables `env`, and the Datadog exporter pointed at `intake`; sends 3 spans and stops it.
/// Answers the collector's output.
fn run(detectors: &str, env: &[(&str, &str)], intake: &FakeIntake) -> String {
    let processors =
        format!("processors:\n  resourcedetection:\n    detectors: {detectors}\n    timeout: 2s\n");
    run_with(&processors, "hostname: fallback-host", env, intake)
}

/// [`run`] with `processors` (a top-level `processors:` section, or nothing: the pipeline
/// then has none) and `hostname` (a line of the exporter's section).
fn run_with(processors: &str, hostname: &str, env: &[(&str, &str)], intake: &FakeIntake) -> String {
    let dir = tempfile::tempdir().unwrap();
    let recv = free_port();
    let pipeline_processors = if processors.is_empty() {
        "[]"
    } else {
        "[resourcedetection]"
    };
    let config = format!(
        r#"receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{recv}
{processors}exporters:
  datadog:
    api:
      key: ${{env:DD_API_KEY}}
    {hostname}
    hostname_detection_timeout: 3s
    traces:
      endpoint: {url}
    metrics:
      endpoint: {url}
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      processors: {pipeline_processors}
      exporters: [datadog]
"#,
        url = intake.url()
    );
    let path = dir.path().join("kakehashi.yaml");
    std::fs::write(&path, config).unwrap();
    let mut cmd = kakehashi_command();
    cmd.arg("--config")
        .arg(&path)
        .env("DD_API_KEY", API_KEY)
        .env_remove("AWS_EC2_METADATA_DISABLED");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut collector = ProcessGuard::spawn("kakehashi", cmd, dir.path());
    wait_for_port(recv, Duration::from_secs(20), Some(&mut collector));
    grpc_export(
        &format!("http://127.0.0.1:{recv}"),
        trace_request("cloud", 3),
        Duration::from_secs(10),
    )
    .expect("accepted");
    // The host metadata is sent at start, once the machine is described: wait for it, so
    // that every run has sent it before it stops.
    poll_until(Duration::from_secs(10), || {
        (!intake.requests_to("/intake").is_empty()).then_some(())
    });
    collector.terminate(Duration::from_secs(20))
}

#[test]
fn on_ec2_the_datadog_host_is_the_instance_id() {
    let imds = FakeMetadata::start(&[
        ("/latest/meta-data/instance-id", "i-0abc1234"),
        (
            "/latest/dynamic/instance-identity/document",
            r#"{"region":"ap-northeast-1","accountId":"123456789012","availabilityZone":"ap-northeast-1a","instanceId":"i-0abc1234","imageId":"ami-1","instanceType":"m7g.large"}"#,
        ),
        (
            "/latest/meta-data/hostname",
            "ip-10-0-0-7.ap-northeast-1.compute.internal",
        ),
    ]);
    let intake = FakeIntake::start();
    let output = run(
        "[ecs, ec2]",
        &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds.url)],
        &intake,
    );
    let payloads = intake.accepted_traces();
    assert!(!payloads.is_empty(), "{output}");
    for (_, p) in &payloads {
        for tp in &p.tracer_payloads {
            assert_eq!(tp.hostname, "i-0abc1234", "{output}");
        }
    }
    let spans = intake.accepted_spans();
    assert_eq!(spans.len(), 3);
    let meta = &spans[0].meta;
    for (k, v) in [
        ("cloud.provider", "aws"),
        ("cloud.platform", "aws_ec2"),
        ("cloud.region", "ap-northeast-1"),
        ("host.type", "m7g.large"),
    ] {
        assert_eq!(meta.get(k).map(String::as_str), Some(v), "{k}: {meta:?}");
    }
}

#[test]
fn on_ecs_fargate_there_is_no_host_and_the_task_is_a_container_tag() {
    const ARN: &str = "arn:aws:ecs:us-west-2:123456789012:task/web/0123abcd";
    let task = format!(
        r#"{{"Cluster":"web","TaskARN":"{ARN}","Family":"web","Revision":"7","AvailabilityZone":"us-west-2b","LaunchType":"FARGATE","Containers":[]}}"#
    );
    let ecs = FakeMetadata::start(&[
        ("/v4/cid/task", &task),
        ("/v4/cid", r#"{"DockerId":"cid","Type":"NORMAL"}"#),
    ]);
    let intake = FakeIntake::start();
    let uri = format!("{}/v4/cid", ecs.url);
    let output = run(
        "[ecs, ec2]",
        &[("ECS_CONTAINER_METADATA_URI_V4", &uri)],
        &intake,
    );
    let payloads = intake.accepted_traces();
    assert!(!payloads.is_empty(), "{output}");
    for (_, p) in &payloads {
        for tp in &p.tracer_payloads {
            assert_eq!(tp.hostname, "", "{output}");
            let tags = tp
                .tags
                .get("_dd.tags.container")
                .cloned()
                .unwrap_or_default();
            assert!(tags.contains(&format!("task_arn:{ARN}")), "{tags}");
        }
    }
    let meta = &intake.accepted_spans()[0].meta;
    assert_eq!(
        meta.get("aws.ecs.launchtype").map(String::as_str),
        Some("fargate")
    );
    assert_eq!(
        meta.get("aws.ecs.task.id").map(String::as_str),
        Some("0123abcd")
    );
}

/// Without `hostname`, the exporter finds its host as Go's does: on EC2 the instance id, for
/// the spans whose resource names no host, the payloads and the APM stats.
#[test]
fn without_a_hostname_setting_the_exporter_is_named_after_the_ec2_instance() {
    let imds = FakeMetadata::start(&[
        ("/latest/meta-data/instance-id", "i-0abc1234"),
        (
            "/latest/dynamic/instance-identity/document",
            r#"{"region":"ap-northeast-1","instanceId":"i-0abc1234"}"#,
        ),
        ("/latest/meta-data/hostname", "ip-10-0-0-7.ec2.internal"),
    ]);
    let intake = FakeIntake::start();
    let output = run_with(
        "",
        "",
        &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds.url)],
        &intake,
    );
    assert!(
        output.contains("Resolved source") && output.contains("provider=\"ec2\""),
        "{output}"
    );
    let payloads = intake.accepted_traces();
    assert!(!payloads.is_empty(), "{output}");
    for (_, p) in &payloads {
        assert_eq!(p.host_name, "i-0abc1234", "{output}");
        for tp in &p.tracer_payloads {
            assert_eq!(tp.hostname, "i-0abc1234", "{output}");
        }
    }
    let stats = intake.accepted_stats();
    assert!(!stats.is_empty(), "{output}");
    for s in &stats {
        let host = common::dd_intake::get(s, "AgentHostname").and_then(|v| v.as_str());
        assert_eq!(host, Some("i-0abc1234"), "{s}");
    }
    // The host metadata carries the EC2 identity too, as Go's (Datadog links the host to the
    // AWS integration's instance by it).
    let metadata = intake.requests_to("/intake");
    let Some(common::dd_intake::Decoded::Json(v)) = metadata.first().map(|r| &r.decoded) else {
        panic!("no host metadata: {output}");
    };
    assert_eq!(v["meta"]["hostname"], "i-0abc1234");
    assert_eq!(v["meta"]["instance-id"], "i-0abc1234");
    assert_eq!(v["meta"]["ec2-hostname"], "ip-10-0-0-7.ec2.internal");
}
