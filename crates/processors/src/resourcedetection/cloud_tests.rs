//! The cloud detectors against fake metadata services on 127.0.0.1 (real HTTP; the answers are
//! the documented services' shapes, the expected attributes otelcol's test vectors). No test
//! lets a detector reach a real metadata address.

use super::tests::{config, sources};
use super::*;
use crate::test_util::texts as attrs;
use axum::http::Method;
use kakehashi_cloud_metadata::testing::{closed_url, Fake};
use std::path::Path;

fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn run(yaml: &str, root: &Path, vars: &[(&str, &str)]) -> Result<Vec<KeyValue>, String> {
    detect(&config(yaml), &sources(root, vars)).await
}

/// `yaml`'s detection against the fake IMDS at `base` (an empty root: no local files).
async fn on_ec2(yaml: &str, base: &str) -> Result<Vec<KeyValue>, String> {
    let root = tempfile::tempdir().unwrap();
    run(
        yaml,
        root.path(),
        &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", base)],
    )
    .await
}

/// `yaml`'s detection with the ECS task metadata endpoint at `<base>/v4/abc`.
async fn on_ecs(yaml: &str, base: &str) -> Result<Vec<KeyValue>, String> {
    let root = tempfile::tempdir().unwrap();
    let uri = format!("{base}/v4/abc");
    run(
        yaml,
        root.path(),
        &[("ECS_CONTAINER_METADATA_URI_V4", &uri)],
    )
    .await
}

const EC2_DOC: &str = r#"{"region":"us-west-2","accountId":"account1234","availabilityZone":"us-west-2a","instanceId":"i-abcd1234","imageId":"abcdef","instanceType":"c4.xlarge","privateIp":"10.0.0.1"}"#;

fn ec2_fake() -> Fake {
    let f = Fake::default();
    f.get("/latest/meta-data/instance-id", "i-abcd1234");
    f.get("/latest/dynamic/instance-identity/document", EC2_DOC);
    f.get("/latest/meta-data/hostname", "example-hostname");
    f
}

const EC2_WANT: &[(&str, &str)] = &[
    ("cloud.provider", "aws"),
    ("cloud.platform", "aws_ec2"),
    ("cloud.region", "us-west-2"),
    ("cloud.account.id", "account1234"),
    ("cloud.availability_zone", "us-west-2a"),
    ("host.id", "i-abcd1234"),
    ("host.image.id", "abcdef"),
    ("host.type", "c4.xlarge"),
    ("host.name", "example-hostname"),
];

#[tokio::test]
async fn ec2_with_an_imdsv2_token() {
    let f = ec2_fake();
    f.route(Method::PUT, "/latest/api/token", 200, "tok-1");
    f.require("x-aws-ec2-metadata-token", "tok-1", 401);
    let base = f.start().await;
    let got = on_ec2("detectors: [ec2]", &base).await.unwrap();
    assert_eq!(attrs(&got), kv(EC2_WANT));
    let seen = f.seen.lock().unwrap();
    let (_, _, token_headers) = seen.iter().find(|(m, _, _)| m == Method::PUT).unwrap();
    assert_eq!(
        token_headers
            .get("x-aws-ec2-metadata-token-ttl-seconds")
            .unwrap(),
        "300"
    );
    // One token for the three reads.
    assert_eq!(seen.iter().filter(|(m, _, _)| m == Method::PUT).count(), 1);
}

#[tokio::test]
async fn ec2_falls_back_to_imdsv1_when_tokens_are_refused_and_toggles_apply() {
    let f = ec2_fake();
    f.route(Method::PUT, "/latest/api/token", 403, "");
    let base = f.start().await;
    let got = on_ec2(
        "detectors: [ec2]\nec2: {resource_attributes: {host.name: {enabled: false}}}",
        &base,
    )
    .await
    .unwrap();
    assert_eq!(attrs(&got), kv(&EC2_WANT[..8]));
}

#[tokio::test]
async fn ec2_tags_from_the_metadata_service() {
    let f = ec2_fake();
    f.get("/latest/meta-data/tags/instance", "Name\nteam\n");
    f.get("/latest/meta-data/tags/instance/team", "payments");
    f.get("/latest/meta-data/tags/instance/Name", "web-1");
    let base = f.start().await;
    let got = on_ec2(
        "detectors: [ec2]\nec2: {tags: ['^team$'], tags_from_imds: true}",
        &base,
    )
    .await
    .unwrap();
    let got = attrs(&got);
    assert_eq!(
        got.last().unwrap(),
        &("ec2.tag.team".into(), "payments".into())
    );
    assert!(!got.iter().any(|(k, _)| k == "ec2.tag.Name"), "{got:?}");
}

#[tokio::test]
async fn ec2_off_ec2_finds_nothing_unless_told_to_fail() {
    let root = tempfile::tempdir().unwrap();
    let closed = closed_url();
    let vars = [("AWS_EC2_METADATA_SERVICE_ENDPOINT", closed.as_str())];
    assert_eq!(
        run("detectors: [ec2]", root.path(), &vars).await.unwrap(),
        []
    );
    let e = run(
        "detectors: [ec2]\nfail_on_missing_metadata: true\ntimeout: 1s",
        root.path(),
        &vars,
    )
    .await
    .unwrap_err();
    assert!(e.starts_with("ec2: "), "{e}");
    // Turned off by the SDK's variable: not even asked.
    let f = ec2_fake();
    let base = f.start().await;
    let off = [
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", base.as_str()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    assert_eq!(
        run("detectors: [ec2]", root.path(), &off).await.unwrap(),
        []
    );
    assert!(f.paths().is_empty());
    // On EC2 but the identity document fails: an error, the start stops.
    let f = Fake::default();
    f.get("/latest/meta-data/instance-id", "i-1");
    f.route(
        Method::GET,
        "/latest/dynamic/instance-identity/document",
        404,
        "",
    );
    let base = f.start().await;
    let e = on_ec2("detectors: [ec2]\ntimeout: 1s", &base)
        .await
        .unwrap_err();
    assert!(e.contains("failed getting identity document"), "{e}");
}

const ECS_TASK: &str = r#"{"Cluster":"my-cluster","TaskARN":"arn:aws:ecs:us-west-2:123456789123:task/123","Family":"family","AvailabilityZone":"us-west-2a","Revision":"26","LaunchType":"EC2","Containers":[
 {"DockerId":"123","Type":"NORMAL","KnownStatus":"RUNNING","LogDriver":"awslogs","LogOptions":{"awslogs-group":"own","awslogs-region":"us-east-1","awslogs-stream":"own"}},
 {"DockerId":"05281997","Type":"NORMAL","KnownStatus":"RUNNING","LogDriver":"awslogs","LogOptions":{"awslogs-group":"group","awslogs-region":"us-east-1","awslogs-stream":"stream"}},
 {"DockerId":"x","Type":"INTERNAL","KnownStatus":"RUNNING","LogDriver":"awslogs","LogOptions":{"awslogs-group":"g2","awslogs-region":"us-east-1","awslogs-stream":"s2"}},
 {"DockerId":"y","Type":"NORMAL","KnownStatus":"STOPPED","LogDriver":"awslogs","LogOptions":{"awslogs-group":"g3","awslogs-region":"us-east-1","awslogs-stream":"s3"}}]}"#;

#[tokio::test]
async fn ecs_task_and_log_groups_from_the_task_metadata_endpoint() {
    let f = Fake::default();
    f.get("/v4/abc/task", ECS_TASK);
    f.get(
        "/v4/abc",
        r#"{"DockerId":"123","Type":"NORMAL","KnownStatus":"RUNNING"}"#,
    );
    let base = f.start().await;
    let got = on_ecs("detectors: [ecs]", &base).await.unwrap();
    let strings = |v: &[&str]| {
        any_value::Value::ArrayValue(kakehashi_pdata::proto::common::v1::ArrayValue {
            values: v
                .iter()
                .map(|s| AnyValue {
                    value: Some(any_value::Value::StringValue(s.to_string())),
                })
                .collect(),
        })
    };
    let s = |v: &str| any_value::Value::StringValue(v.into());
    let want: Vec<(&str, any_value::Value)> = vec![
        ("cloud.provider", s("aws")),
        ("cloud.platform", s("aws_ecs")),
        (
            "aws.ecs.task.arn",
            s("arn:aws:ecs:us-west-2:123456789123:task/123"),
        ),
        ("aws.ecs.task.family", s("family")),
        ("aws.ecs.task.revision", s("26")),
        ("cloud.account.id", s("123456789123")),
        ("cloud.region", s("us-west-2")),
        ("aws.ecs.task.id", s("123")),
        (
            "aws.ecs.cluster.arn",
            s("arn:aws:ecs:us-west-2:123456789123:cluster/my-cluster"),
        ),
        ("cloud.availability_zone", s("us-west-2a")),
        ("aws.ecs.launchtype", s("ec2")),
        ("aws.log.group.names", strings(&["group"])),
        (
            "aws.log.group.arns",
            strings(&["arn:aws:logs:us-east-1:123456789123:log-group:group"]),
        ),
        ("aws.log.stream.names", strings(&["stream"])),
        (
            "aws.log.stream.arns",
            strings(&["arn:aws:logs:us-east-1:123456789123:log-group:group:log-stream:stream"]),
        ),
    ];
    let got: Vec<(&str, any_value::Value)> = got
        .iter()
        .map(|kv| (kv.key.as_str(), kv.value.clone().unwrap().value.unwrap()))
        .collect();
    assert_eq!(got, want);
    // Off ECS (no endpoint variable): nothing, nothing asked.
    let root = tempfile::tempdir().unwrap();
    assert_eq!(run("detectors: [ecs]", root.path(), &[]).await.unwrap(), []);
}

const AZURE_COMPUTE: &str = r#"{"location":"location","name":"name","vmId":"vmID","vmSize":"vmSize","subscriptionId":"subscriptionID","resourceGroupName":"resourceGroup","vmScaleSetName":"myScaleset","zone":"","osProfile":{"computerName":"computerName"},"tagsList":[{"name":"tag1key","value":"value1"},{"name":"tag2key","value":"value2"}]}"#;
const AZURE_PATH: &str = "/metadata/instance/compute?api-version=2020-09-01&format=json";

#[tokio::test]
async fn azure_vm_from_the_instance_metadata_service() {
    let f = Fake::default();
    f.get(AZURE_PATH, AZURE_COMPUTE);
    f.require("metadata", "true", 400);
    let base = f.start().await;
    let root = tempfile::tempdir().unwrap();
    let mut src = sources(root.path(), &[]);
    src.azure_endpoint = base;
    let cfg = config(
        "detectors: [azure]\nazure: {tags: ['^tag1key$'], resource_attributes: {cloud.availability_zone: {enabled: true}}}",
    );
    let got = detect(&cfg, &src).await.unwrap();
    // The empty zone is left out even when enabled.
    assert_eq!(
        attrs(&got),
        kv(&[
            ("cloud.provider", "azure"),
            ("cloud.platform", "azure.vm"),
            ("host.name", "computerName"),
            ("cloud.region", "location"),
            ("host.id", "vmID"),
            ("cloud.account.id", "subscriptionID"),
            ("azure.vm.name", "name"),
            ("azure.vm.size", "vmSize"),
            ("azure.vm.scaleset.name", "myScaleset"),
            ("azure.resourcegroup.name", "resourceGroup"),
            ("azure.tag.tag1key", "value1"),
        ])
    );
    // Off Azure (nothing listens, or something else answers): nothing.
    src.azure_endpoint = closed_url();
    assert_eq!(
        detect(&config("detectors: [azure]"), &src).await.unwrap(),
        []
    );
    let other = Fake::default();
    other.get(AZURE_PATH, "<html>not azure</html>");
    src.azure_endpoint = other.start().await;
    assert_eq!(
        detect(&config("detectors: [azure]"), &src).await.unwrap(),
        []
    );
}

fn gce_fake() -> Fake {
    let f = Fake::default();
    let md = |p: &str, v: &str| f.get(&format!("/computeMetadata/v1/{p}"), v);
    md("project/project-id", "my-project\n");
    md("instance/id", "1234567891");
    md("instance/name", "my-instance");
    md(
        "instance/hostname",
        "my-instance.us-central1-a.c.my-project.internal",
    );
    md(
        "instance/machine-type",
        "projects/1234567890/machineTypes/n1-standard1",
    );
    md("instance/zone", "projects/1234567890/zones/us-central1-a");
    md("instance/region", "projects/1234567890/regions/us-central1");
    md(
        "instance/attributes/created-by",
        "projects/1234567890/zones/us-central1-a/instanceGroupManagers/igm-web",
    );
    f.require("metadata-flavor", "Google", 403);
    f
}

#[tokio::test]
async fn gcp_compute_engine() {
    let f = gce_fake();
    let base = f.start().await;
    let host = base.trim_start_matches("http://").to_string();
    let root = tempfile::tempdir().unwrap();
    let got = run(
        "detectors: [gcp]\ngcp: {resource_attributes: {gcp.gce.instance.hostname: {enabled: true}}}",
        root.path(),
        &[("GCE_METADATA_HOST", &host)],
    )
    .await
    .unwrap();
    assert_eq!(
        attrs(&got),
        kv(&[
            ("cloud.provider", "gcp"),
            ("cloud.account.id", "my-project"),
            ("cloud.platform", "gcp_compute_engine"),
            ("cloud.availability_zone", "us-central1-a"),
            ("cloud.region", "us-central1"),
            ("host.type", "projects/1234567890/machineTypes/n1-standard1"),
            ("host.id", "1234567891"),
            ("host.name", "my-instance"),
            (
                "gcp.gce.instance.hostname",
                "my-instance.us-central1-a.c.my-project.internal"
            ),
            ("gcp.gce.instance_group_manager.name", "igm-web"),
            ("gcp.gce.instance_group_manager.zone", "us-central1-a"),
        ])
    );
}

#[tokio::test]
async fn gcp_kubernetes_engine_and_cloud_run() {
    let f = gce_fake();
    f.get(
        "/computeMetadata/v1/instance/attributes/cluster-location",
        "us-central1-c",
    );
    f.get(
        "/computeMetadata/v1/instance/attributes/cluster-name",
        "my-cluster",
    );
    let base = f.start().await;
    let host = base.trim_start_matches("http://").to_string();
    let root = tempfile::tempdir().unwrap();
    let got = run(
        "detectors: [gcp]",
        root.path(),
        &[
            ("GCE_METADATA_HOST", &host),
            ("KUBERNETES_SERVICE_HOST", "10.0.0.1"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        attrs(&got),
        kv(&[
            ("cloud.provider", "gcp"),
            ("cloud.account.id", "my-project"),
            ("cloud.platform", "gcp_kubernetes_engine"),
            ("cloud.availability_zone", "us-central1-c"),
            ("k8s.cluster.name", "my-cluster"),
            ("host.id", "1234567891"),
            ("host.name", "my-instance"),
        ])
    );
    let got = run(
        "detectors: [gcp]",
        root.path(),
        &[
            ("GCE_METADATA_HOST", &host),
            ("K_CONFIGURATION", "svc"),
            ("K_SERVICE", "my-service"),
            ("K_REVISION", "123456"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        attrs(&got),
        kv(&[
            ("cloud.provider", "gcp"),
            ("cloud.account.id", "my-project"),
            ("cloud.platform", "gcp_cloud_run"),
            ("faas.name", "my-service"),
            ("faas.version", "123456"),
            ("faas.instance", "1234567891"),
            ("cloud.region", "us-central1"),
        ])
    );
    // Bare Metal Solution: from the environment alone.
    let got = run(
        "detectors: [gcp]",
        root.path(),
        &[
            ("BMS_PROJECT_ID", "my-project"),
            ("BMS_REGION", "us-central1"),
            ("BMS_INSTANCE_ID", "bms-1"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        attrs(&got),
        kv(&[
            ("cloud.provider", "gcp"),
            ("cloud.platform", "gcp_bare_metal_solution"),
            ("cloud.account.id", "my-project"),
            ("cloud.region", "us-central1"),
            ("host.name", "bms-1"),
        ])
    );
}

#[tokio::test]
async fn the_documented_cloud_list_on_one_cloud_keeps_the_first_detectors_values() {
    // Datadog's example list, here on EC2.
    let f = ec2_fake();
    let base = f.start().await;
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("proc/sys/kernel")).unwrap();
    std::fs::write(root.path().join("proc/sys/kernel/hostname"), "node-1\n").unwrap();
    std::fs::write(root.path().join("proc/sys/kernel/ostype"), "Linux\n").unwrap();
    let got = run(
        "detectors: [gcp, ecs, ec2, azure, system]\nsystem: {hostname_sources: [os]}",
        root.path(),
        &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &base)],
    )
    .await
    .unwrap();
    let got = attrs(&got);
    assert_eq!(got[..9], kv(EC2_WANT)[..]);
    // The system detector's host.name loses to ec2's; its os.type is added.
    assert_eq!(got[9..], kv(&[("os.type", "linux")])[..]);
}

#[tokio::test]
async fn gcp_is_recognised_by_its_metadata_server_and_only_by_it() {
    let root = tempfile::tempdir().unwrap();
    let cfg = config("detectors: [gcp]");
    // Nothing answers at the metadata address: not on GCP.
    let mut src = sources(root.path(), &[]);
    assert_eq!(detect(&cfg, &src).await.unwrap(), []);
    // Something answers there, but not as Google's server does.
    let other = gce_fake();
    src.gcp_metadata_host = other.start().await.trim_start_matches("http://").into();
    assert_eq!(detect(&cfg, &src).await.unwrap(), []);
    // Google's server (every answer says `Metadata-Flavor: Google`), at the default address.
    let google = gce_fake();
    google.answer_header("Metadata-Flavor", "Google");
    src.gcp_metadata_host = google.start().await.trim_start_matches("http://").into();
    let got = attrs(&detect(&cfg, &src).await.unwrap());
    assert_eq!(
        got[2],
        ("cloud.platform".into(), "gcp_compute_engine".into())
    );
    assert_eq!(google.paths()[0], (Method::GET, "/".to_string()));
}

#[tokio::test]
async fn gcp_keeps_what_it_could_read_unless_told_to_fail() {
    let f = gce_fake();
    // The instance's hostname is not readable (any status that is not retried).
    f.fail_first("/computeMetadata/v1/instance/hostname", 100, 403);
    let base = f.start().await;
    let host = base.trim_start_matches("http://").to_string();
    let root = tempfile::tempdir().unwrap();
    let vars = [("GCE_METADATA_HOST", host.as_str())];
    let yaml = "detectors: [gcp]\ngcp: {resource_attributes: {gcp.gce.instance.hostname: {enabled: true}}}\ntimeout: 1s";
    let got = attrs(&run(yaml, root.path(), &vars).await.unwrap());
    assert!(
        got.contains(&("host.id".into(), "1234567891".into())),
        "{got:?}"
    );
    assert!(!got.iter().any(|(k, _)| k == "gcp.gce.instance.hostname"));
    let e = run(
        &format!("{yaml}\nfail_on_missing_metadata: true"),
        root.path(),
        &vars,
    )
    .await
    .unwrap_err();
    assert!(e.contains("instance/hostname"), "{e}");
}

#[tokio::test]
async fn the_ec2_sections_deprecated_flag_fails_every_cloud_detector() {
    let root = tempfile::tempdir().unwrap();
    let e = run(
        "detectors: [ecs]\nec2: {fail_on_missing_metadata: true}\ntimeout: 1s",
        root.path(),
        &[],
    )
    .await
    .unwrap_err();
    assert!(e.contains("no ECS task metadata endpoint"), "{e}");
}

#[tokio::test]
async fn a_detector_that_fails_is_retried_within_the_timeout() {
    // The ECS agent is not ready at the first request.
    let f = Fake::default();
    f.get("/v4/abc/task", ECS_TASK);
    f.get("/v4/abc", r#"{"DockerId":"123"}"#);
    f.fail_first("/v4/abc/task", 1, 503);
    let base = f.start().await;
    let got = on_ecs("detectors: [ecs]\ntimeout: 3s", &base)
        .await
        .unwrap();
    assert_eq!(attrs(&got)[1], ("cloud.platform".into(), "aws_ecs".into()));
    let tasks = f
        .paths()
        .iter()
        .filter(|(_, p)| p == "/v4/abc/task")
        .count();
    assert_eq!(tasks, 2);
}

#[tokio::test]
async fn no_timeout_means_no_deadline() {
    let f = ec2_fake();
    let base = f.start().await;
    let got = on_ec2("detectors: [ec2]\ntimeout: 0s", &base)
        .await
        .unwrap();
    assert_eq!(attrs(&got), kv(EC2_WANT));
}

#[tokio::test]
async fn ec2_asks_for_a_new_token_when_a_read_is_refused_as_unauthorized() {
    // The first token request fails (IMDSv1 is tried), the read without a token gets a 401, and
    // the detector asks for a token again and reads with it.
    let f = ec2_fake();
    f.route(Method::PUT, "/latest/api/token", 200, "tok-2");
    f.fail_first("/latest/api/token", 1, 500);
    f.require("x-aws-ec2-metadata-token", "tok-2", 401);
    let base = f.start().await;
    let got = on_ec2("detectors: [ec2]", &base).await.unwrap();
    assert_eq!(attrs(&got), kv(EC2_WANT));
    let puts = f.paths().iter().filter(|(m, _)| m == Method::PUT).count();
    assert_eq!(puts, 2);
}

/// One component in several pipelines detects once; the next build (a reload) detects again.
#[tokio::test]
async fn pipelines_sharing_a_component_share_its_detection() {
    let imds = ec2_fake();
    let base = imds.start().await;
    let root = tempfile::tempdir().unwrap();
    let src = || sources(root.path(), &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &base)]);
    let cfg = config("detectors: [ec2]\nrefresh_interval: 1h");
    let sink = Arc::new(crate::test_util::Sink::default());
    let build = |detections: &shared::ByComponent| -> Vec<ResourceDetectionProcessor> {
        (0..3)
            .map(|_| {
                let d = detections.get("resourcedetection", src, &cfg);
                ResourceDetectionProcessor::with(d, &cfg, sink.clone())
            })
            .collect()
    };
    let probes = |f: &Fake| {
        f.paths()
            .iter()
            .filter(|(_, p)| p == "/latest/meta-data/instance-id")
            .count()
    };
    let first = shared::ByComponent::default();
    let processors = build(&first);
    for p in &processors {
        p.start().await.unwrap();
        p.start().await.unwrap();
    }
    assert_eq!(probes(&imds), 1);
    for p in &processors {
        assert_eq!(attrs(&p.detection.snapshot()), kv(EC2_WANT));
    }
    // The refresher runs until the last pipeline stops (a repeated start counted once).
    let refreshing = |p: &ResourceDetectionProcessor| p.detection.refreshing();
    processors[0].shutdown().await;
    processors[1].shutdown().await;
    assert!(refreshing(&processors[2]));
    processors[2].shutdown().await;
    assert!(!refreshing(&processors[2]));

    let reloaded = build(&shared::ByComponent::default());
    reloaded[0].start().await.unwrap();
    assert_eq!(probes(&imds), 2);
}
