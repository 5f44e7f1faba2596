//! The fallback-host chain against fake metadata services and a fake API server, all real
//! HTTP on 127.0.0.1. No test can reach a real metadata address: every service a test does not
//! fake points at a closed local port.

use super::kubernetes::Credentials;
use super::*;
use axum::http::Method;
use kakehashi_cloud_metadata::testing::{closed_url, Fake};
use std::collections::HashMap;

const IDENTITY: &str = r#"{"instanceId":"i-0abc123","region":"ap-northeast-1"}"#;

/// Sources where nothing answers but `system`, which finds `kernel`; `vars` is the whole
/// environment.
fn sources(vars: &[(&str, &str)], kernel: &str) -> Sources {
    let mut env: HashMap<String, String> = HashMap::from([
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT".into(), closed_url()),
        ("KAKEHASHI_AZURE_METADATA_ENDPOINT".into(), closed_url()),
    ]);
    for (k, v) in vars {
        env.insert(k.to_string(), v.to_string());
    }
    let kernel = kernel.to_string();
    Sources {
        env: Arc::new(move |k| env.get(k).cloned()),
        gce_default_host: closed_url().trim_start_matches("http://").into(),
        kubernetes: Credentials::Given {
            config: Box::new(kube::Config::new(closed_url().parse().unwrap())),
            namespace: "default".into(),
            pod: kernel.clone(),
        },
        hostname_command: "/nonexistent/hostname".into(),
        kernel_hostname: Arc::new(move || Some(kernel.clone())),
    }
}

/// What [`detect`] finds with [`sources`].
async fn found(vars: &[(&str, &str)], kernel: &str) -> Source {
    detect(sources(vars, kernel), TIMEOUT).await
}

async fn ec2_fake() -> String {
    let imds = Fake::default();
    imds.route(Method::PUT, "/latest/api/token", 200, "token-1");
    imds.require("x-aws-ec2-metadata-token", "token-1", 401);
    imds.get("/latest/meta-data/instance-id", "i-0abc123");
    imds.get("/latest/dynamic/instance-identity/document", IDENTITY);
    imds.start().await
}

async fn azure_fake(doc: &str) -> String {
    let azure = Fake::default();
    azure.require("Metadata", "true", 400);
    azure.get(
        "/metadata/instance/compute?api-version=2020-09-01&format=json",
        doc,
    );
    azure.start().await
}

const TIMEOUT: Duration = Duration::from_secs(2);

#[tokio::test]
async fn a_configured_hostname_is_the_source_without_asking_anyone() {
    assert_eq!(
        resolve("collector-7", TIMEOUT).await,
        Source::Host("collector-7".into())
    );
}

#[tokio::test]
async fn off_any_cloud_the_system_hostname_is_the_source() {
    assert_eq!(
        found(&[], "pod-7f9c").await,
        Source::Host("pod-7f9c".into())
    );
}

#[tokio::test]
async fn a_valid_fqdn_is_preferred_to_the_kernel_hostname_and_an_invalid_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let script = |name: &str, out: &str| {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            format!("#!/bin/sh\n[ \"$1\" = -f ] && echo '{out}'\n"),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path.to_string_lossy().into_owned()
    };
    let mut src = sources(&[], "web-1");
    src.hostname_command = script("fqdn", "web-1.example.com");
    assert_eq!(
        detect(src.clone(), TIMEOUT).await,
        Source::Host("web-1.example.com".into())
    );
    src.hostname_command = script("bad", "web_1.local");
    assert_eq!(detect(src, TIMEOUT).await, Source::Host("web-1".into()));
}

#[tokio::test]
async fn on_ec2_the_instance_id_is_the_source() {
    let imds = ec2_fake().await;
    assert_eq!(
        found(
            &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds)],
            "ip-10-0-0-1",
        )
        .await,
        Source::Host("i-0abc123".into())
    );
}

#[tokio::test]
async fn aws_ec2_metadata_disabled_keeps_ec2_out() {
    let imds = ec2_fake().await;
    assert_eq!(
        found(
            &[
                ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds),
                ("AWS_EC2_METADATA_DISABLED", "true"),
            ],
            "ip-10-0-0-1",
        )
        .await,
        Source::Host("ip-10-0-0-1".into())
    );
}

#[tokio::test]
async fn azure_comes_before_ec2_and_names_the_vm_by_its_id() {
    let imds = ec2_fake().await;
    let azure =
        azure_fake(r#"{"vmId":"02aab8a4-74ef-476e-8182-f6d2ba4166a6","name":"vm-1"}"#).await;
    assert_eq!(
        found(
            &[
                ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds),
                ("KAKEHASHI_AZURE_METADATA_ENDPOINT", &azure),
            ],
            "vm-1",
        )
        .await,
        Source::Host("02aab8a4-74ef-476e-8182-f6d2ba4166a6".into())
    );
}

/// A lower provider's answer waits for every provider before it: here Azure's address takes
/// connections and never answers, so EC2 wins only once the deadline has passed.
#[tokio::test]
async fn a_provider_that_never_answers_holds_the_later_ones_until_the_deadline() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let _keep = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = silent.accept().await {
            held.push(conn);
        }
    });
    let imds = ec2_fake().await;
    let src = sources(
        &[
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds),
            ("KAKEHASHI_AZURE_METADATA_ENDPOINT", &silent_url),
        ],
        "host",
    );
    let timeout = Duration::from_millis(800);
    let started = std::time::Instant::now();
    assert_eq!(detect(src, timeout).await, Source::Host("i-0abc123".into()));
    assert!(started.elapsed() >= timeout, "{:?}", started.elapsed());
}

#[tokio::test]
async fn on_ecs_fargate_the_task_is_the_source_and_there_is_no_host() {
    let arn = "arn:aws:ecs:us-west-2:111122223333:task/default/158d1c8083dd49d6b527399fd6414f5c";
    let ecs = Fake::default();
    ecs.get(
        "/v4/abc/task",
        &format!(r#"{{"TaskARN":"{arn}","LaunchType":"FARGATE"}}"#),
    );
    let url = format!("{}/v4/abc", ecs.start().await);
    let imds = ec2_fake().await;
    let src = sources(
        &[
            ("ECS_CONTAINER_METADATA_URI_V4", &url),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds),
        ],
        "ip-10-0-0-1",
    );
    let found = detect(src, TIMEOUT).await;
    assert_eq!(found, Source::FargateTask(arn.into()));
    assert_eq!(found.hostname(), "");
}

#[tokio::test]
async fn on_the_ecs_ec2_launch_type_the_instance_is_the_source() {
    let ecs = Fake::default();
    ecs.get("/v4/abc/task", r#"{"TaskARN":"arn:x","LaunchType":"EC2"}"#);
    let url = format!("{}/v4/abc", ecs.start().await);
    let imds = ec2_fake().await;
    assert_eq!(
        found(
            &[
                ("ECS_CONTAINER_METADATA_URI_V4", &url),
                ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds),
            ],
            "ip-10-0-0-1",
        )
        .await,
        Source::Host("i-0abc123".into())
    );
}

fn gce_fake() -> Fake {
    let gce = Fake::default();
    gce.require("Metadata-Flavor", "Google", 403);
    gce.get("/computeMetadata/v1/project/project-id", "my-project\n");
    gce
}

#[tokio::test]
async fn on_gce_the_source_is_the_instance_name_dot_the_project() {
    let gce = gce_fake();
    gce.get(
        "/computeMetadata/v1/instance/machine-type",
        "projects/1/machineTypes/e2-small",
    );
    gce.get(
        "/computeMetadata/v1/instance/name",
        "vm-1.c.my-project.internal",
    );
    let mut src = sources(&[], "vm-1");
    src.gce_default_host = gce.start().await.trim_start_matches("http://").into();
    assert_eq!(
        detect(src, TIMEOUT).await,
        Source::Host("vm-1.my-project".into())
    );
}

#[tokio::test]
async fn cloud_run_is_not_an_instance_of_its_own() {
    let gce = gce_fake();
    gce.get("/computeMetadata/v1/instance/machine-type", "x");
    gce.get("/computeMetadata/v1/instance/name", "vm-1");
    let host = gce.start().await;
    assert_eq!(
        found(
            &[
                ("K_CONFIGURATION", "svc"),
                ("GCE_METADATA_HOST", host.trim_start_matches("http://")),
            ],
            "localhost-ish",
        )
        .await,
        Source::Host("localhost-ish".into())
    );
}

const POD: &str = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"kakehashi-5d8f","namespace":"observability"},"spec":{"nodeName":"node-a","containers":[]}}"#;

async fn api_server() -> String {
    let api = Fake::default();
    api.get("/api/v1/namespaces/observability/pods/kakehashi-5d8f", POD);
    api.start().await
}

fn in_cluster(mut src: Sources, api: &str) -> Sources {
    src.kubernetes = Credentials::Given {
        config: Box::new(kube::Config::new(api.parse().unwrap())),
        namespace: "observability".into(),
        pod: "kakehashi-5d8f".into(),
    };
    src
}

/// On a cluster no cloud answers for (or where pods cannot reach the metadata service), the
/// node the pod runs on is the host; GKE's metadata server adds the cluster's name.
#[tokio::test]
async fn on_kubernetes_the_node_is_the_source_with_the_cluster_when_a_cloud_names_it() {
    let api = api_server().await;
    let vars = [("KUBERNETES_SERVICE_HOST", "10.96.0.1")];
    let src = in_cluster(sources(&vars, "kakehashi-5d8f"), &api);
    assert_eq!(detect(src, TIMEOUT).await, Source::Host("node-a".into()));

    // The metadata server names the cluster but not the instance (gcp itself finds nothing).
    let gce = gce_fake();
    gce.get(
        "/computeMetadata/v1/instance/attributes/cluster-name",
        "prod-1",
    );
    let mut src = in_cluster(sources(&vars, "kakehashi-5d8f"), &api);
    src.gce_default_host = gce.start().await.trim_start_matches("http://").into();
    assert_eq!(
        detect(src, TIMEOUT).await,
        Source::Host("node-a-prod-1".into())
    );
}

#[tokio::test]
async fn aks_names_the_cluster_by_the_node_resource_group() {
    let api = api_server().await;
    // Azure without a VM id (only its resource group): no azure source, but a cluster name.
    let azure = azure_fake(r#"{"resourceGroupName":"MC_rg_aks-prod_japaneast"}"#).await;
    let vars = [
        ("KUBERNETES_SERVICE_HOST", "10.96.0.1"),
        ("KAKEHASHI_AZURE_METADATA_ENDPOINT", azure.as_str()),
    ];
    let src = in_cluster(sources(&vars, "kakehashi-5d8f"), &api);
    assert_eq!(
        detect(src, TIMEOUT).await,
        Source::Host("node-a-aks-prod".into())
    );
}

#[tokio::test]
async fn a_pod_the_api_server_does_not_know_falls_through_to_the_system_hostname() {
    let api = Fake::default().start().await;
    let vars = [("KUBERNETES_SERVICE_HOST", "10.96.0.1")];
    let src = in_cluster(sources(&vars, "kakehashi-5d8f"), &api);
    assert_eq!(
        detect(src, TIMEOUT).await,
        Source::Host("kakehashi-5d8f".into())
    );
}
