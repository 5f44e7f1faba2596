//! The `k8s_attributes` processor end to end through the binary, with the Python SDK as sender
//! and the Python OTLP sink downstream.
//!
//! Without a Kubernetes API (always run): passthrough mode, credentials that cannot work
//! (the start fails and says why), an API server that does not answer (data still flows;
//! `wait_for_metadata` makes it a start error).
//!
//! Against a real kube-apiserver (`api_server_*`, `#[ignore]`d: `scripts/deploy-check.sh`
//! runs them with the kube-apiserver + etcd it starts, through `KAKEHASHI_TEST_KUBECONFIG`, and
//! `KAKEHASHI_TEST_COLLECTOR_KUBECONFIG` for the collector's own, less privileged, identity):
//! a pod created with `kubectl` is found by the sender's IP, and its namespace's label
//! change and its deletion reach the collector through the watch.

mod common;

use common::dd_intake::{Decoded, FakeIntake};
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// otlp → k8sattributes (configured by `processor_yaml`, indented) → the sink, for traces.
fn config(recv_grpc: u16, sink: &Sink, processor_yaml: &str) -> String {
    otlp_to_sink_config(
        recv_grpc,
        sink,
        &format!("  k8sattributes:\n{processor_yaml}"),
        "k8sattributes",
        "traces",
    )
}

fn start(dir: &Path, config: &str, env: &[(&str, &str)]) -> ProcessGuard {
    let path = dir.join("kakehashi.yaml");
    std::fs::write(&path, config).unwrap();
    let mut cmd = kakehashi_command();
    cmd.arg("--config")
        .arg(&path)
        .env_remove("KUBERNETES_SERVICE_HOST");
    for (k, v) in env {
        cmd.env(k, v);
    }
    ProcessGuard::spawn("kakehashi", cmd, dir)
}

/// The resource attributes of the spans the sink received since `skip` spans, once all 3 of
/// one send.py run are there.
fn next_resources(sink: &Sink, skip: usize, collector: &ProcessGuard) -> Vec<Value> {
    let items = poll_until(Duration::from_secs(15), || {
        let items = sink_items(sink, "traces");
        (items.len() >= skip + 3).then_some(items)
    })
    .unwrap_or_else(|| panic!("3 more spans\n{}", collector.output_tail(4000)));
    items[skip..]
        .iter()
        .map(|i| i.resource["attributes"].clone())
        .collect()
}

fn text<'a>(attrs: &'a Value, key: &str) -> Option<&'a str> {
    attr(attrs, key).and_then(|v| v["stringValue"].as_str())
}

#[test]
fn passthrough_adds_only_the_senders_ip() {
    let dir = tempfile::Builder::new()
        .prefix("kakehashi-k8s-pass-")
        .tempdir()
        .unwrap();
    let sink = Sink::start(dir.path());
    let recv = free_port();
    let mut collector = start(
        dir.path(),
        &config(recv, &sink, "    passthrough: true"),
        &[],
    );
    wait_for_port(recv, Duration::from_secs(20), Some(&mut collector));
    send_with_python_sdk(recv, "traces");
    for attrs in next_resources(&sink, 0, &collector) {
        assert_eq!(text(&attrs, "k8s.pod.ip"), Some("127.0.0.1"));
        assert_eq!(text(&attrs, "service.name"), Some("interop-test"));
        assert!(attr(&attrs, "k8s.pod.name").is_none());
    }
}

#[test]
fn credentials_that_cannot_work_stop_the_start_and_say_why() {
    let dir = tempfile::Builder::new()
        .prefix("kakehashi-k8s-creds-")
        .tempdir()
        .unwrap();
    let sink = Sink::start(dir.path());
    // Outside a cluster: no KUBERNETES_SERVICE_HOST, no service account token.
    let mut collector = start(
        dir.path(),
        &config(free_port(), &sink, "    auth_type: serviceAccount"),
        &[],
    );
    let status = collector.wait_exit(Duration::from_secs(20));
    assert!(!status.success());
    let out = strip_ansi(&collector.stderr()) + &strip_ansi(&collector.stdout());
    assert!(
        out.contains("in-cluster (service account) configuration"),
        "{out}"
    );

    // A kubeconfig that does not exist.
    let mut collector = start(
        dir.path(),
        &config(free_port(), &sink, "    auth_type: kubeConfig"),
        &[
            ("KUBECONFIG", "/nonexistent/kubeconfig"),
            ("HOME", "/nonexistent"),
        ],
    );
    assert!(!collector.wait_exit(Duration::from_secs(20)).success());
    let out = strip_ansi(&collector.stderr()) + &strip_ansi(&collector.stdout());
    assert!(out.contains("failed to load the kubeconfig"), "{out}");
}

/// A kubeconfig whose API server is a closed loopback port, with a bearer token that must never
/// be printed.
fn unreachable_kubeconfig(dir: &Path) -> PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: \"https://127.0.0.1:{}\", insecure-skip-tls-verify: true}}}}]\nusers: [{{name: u, user: {{token: sekrit-token-do-not-print}}}}]\ncontexts: [{{name: x, context: {{cluster: c, user: u}}}}]\ncurrent-context: x\n",
            free_port()
        ),
    )
    .unwrap();
    path
}

#[test]
fn an_api_server_that_does_not_answer_delays_nothing_unless_asked_to_wait() {
    let dir = tempfile::Builder::new()
        .prefix("kakehashi-k8s-dead-")
        .tempdir()
        .unwrap();
    let sink = Sink::start(dir.path());
    let kubeconfig = unreachable_kubeconfig(dir.path());
    let kc = kubeconfig.to_str().unwrap();

    let recv = free_port();
    let mut collector = start(
        dir.path(),
        &config(
            recv,
            &sink,
            "    auth_type: kubeConfig\n    extract: {metadata: [k8s.pod.name, k8s.pod.ip]}",
        ),
        &[("KUBECONFIG", kc)],
    );
    wait_for_port(recv, Duration::from_secs(20), Some(&mut collector));
    send_with_python_sdk(recv, "traces");
    for attrs in next_resources(&sink, 0, &collector) {
        assert_eq!(text(&attrs, "service.name"), Some("interop-test"));
        // k8s.pod.ip is asked for: it comes from the connection, the API is not needed.
        assert_eq!(text(&attrs, "k8s.pod.ip"), Some("127.0.0.1"));
        assert!(attr(&attrs, "k8s.pod.name").is_none());
    }
    let out = collector.stdout() + &collector.stderr();
    assert!(out.contains("Kubernetes watch failed"), "{out}");
    assert!(!out.contains("sekrit"), "the token was printed:\n{out}");
    drop(collector);

    let mut collector = start(
        dir.path(),
        &config(
            free_port(),
            &sink,
            "    auth_type: kubeConfig\n    wait_for_metadata: true\n    wait_for_metadata_timeout: 1s",
        ),
        &[("KUBECONFIG", kc)],
    );
    assert!(!collector.wait_exit(Duration::from_secs(20)).success());
    let out = strip_ansi(&collector.stderr()) + &strip_ansi(&collector.stdout());
    assert!(out.contains("failed to wait for caches to sync"), "{out}");
    assert!(!out.contains("sekrit"), "the token was printed:\n{out}");
}

// ---------------------------------------------------------------------------------------------
// Against a real API server.
// ---------------------------------------------------------------------------------------------

fn kubeconfig() -> String {
    std::env::var("KAKEHASHI_TEST_KUBECONFIG")
        .expect("KAKEHASHI_TEST_KUBECONFIG: a kubeconfig for a kube-apiserver to create objects in")
}

fn kubectl(args: &[&str]) -> String {
    let mut cmd = Command::new("kubectl");
    cmd.arg("--kubeconfig").arg(kubeconfig()).args(args);
    let (status, out, err) = run_bounded(cmd, Duration::from_secs(60));
    assert!(status.success(), "kubectl {args:?}: {err}");
    out
}

fn apply(dir: &Path, name: &str, yaml: &str) {
    let path = dir.join(name);
    std::fs::write(&path, yaml).unwrap();
    kubectl(&["apply", "-f", path.to_str().unwrap()]);
}

#[test]
#[ignore = "needs a kube-apiserver: scripts/deploy-check.sh runs it with KAKEHASHI_TEST_KUBECONFIG"]
fn api_server_pod_found_by_the_senders_ip_and_kept_current_by_the_watch() {
    let dir = tempfile::Builder::new()
        .prefix("kakehashi-k8s-api-")
        .tempdir()
        .unwrap();
    let ns = format!("kk-attr-{}", std::process::id());
    apply(
        dir.path(),
        "ns.yaml",
        // No controller manager runs: the namespace's default service account is made here.
        &format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}, labels: {{team: payments}}}}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: default, namespace: {ns}}}\n"
        ),
    );
    // A Deployment, its ReplicaSet and a replica, as the controllers would have made them (none
    // run here); the pod placed on a node and given the loopback address the sender connects from.
    apply(
        dir.path(),
        "deployment.yaml",
        &format!(
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {{name: checkout, namespace: {ns}, labels: {{owner: payments-team}}}}
spec:
  selector: {{matchLabels: {{app: checkout}}}}
  template:
    metadata: {{labels: {{app: checkout}}}}
    spec: {{containers: [{{name: app, image: "registry.example.com/shop/checkout:1.4.2"}}]}}
"#
        ),
    );
    let uid_of = |kind: &str, name: &str| {
        kubectl(&[
            "get",
            kind,
            name,
            "-n",
            &ns,
            "-o",
            "jsonpath={.metadata.uid}",
        ])
    };
    let deployment_uid = uid_of("deployment", "checkout");
    apply(
        dir.path(),
        "replicaset.yaml",
        &format!(
            r#"apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: checkout-5f7b8c9d4
  namespace: {ns}
  ownerReferences:
  - {{apiVersion: apps/v1, kind: Deployment, name: checkout, uid: {deployment_uid}, controller: true}}
spec:
  selector: {{matchLabels: {{app: checkout, pod-template-hash: 5f7b8c9d4}}}}
  template:
    metadata: {{labels: {{app: checkout, pod-template-hash: 5f7b8c9d4}}}}
    spec: {{containers: [{{name: app, image: "registry.example.com/shop/checkout:1.4.2"}}]}}
"#
        ),
    );
    let replicaset_uid = uid_of("replicaset", "checkout-5f7b8c9d4");
    apply(
        dir.path(),
        "pod.yaml",
        &format!(
            r#"apiVersion: v1
kind: Pod
metadata:
  name: checkout-5f7b8c9d4-q8x2p
  namespace: {ns}
  labels: {{app: checkout, pod-template-hash: 5f7b8c9d4}}
  ownerReferences:
  - {{apiVersion: apps/v1, kind: ReplicaSet, name: checkout-5f7b8c9d4, uid: {replicaset_uid}, controller: true}}
spec:
  nodeName: node-a
  automountServiceAccountToken: false
  containers:
  - {{name: app, image: "registry.example.com/shop/checkout:1.4.2"}}
"#
        ),
    );
    kubectl(&[
        "patch",
        "pod",
        "checkout-5f7b8c9d4-q8x2p",
        "-n",
        &ns,
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status": {"podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}], "startTime": "2026-12-07T03:00:05Z",
            "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0, "image": "registry.example.com/shop/checkout:1.4.2",
              "imageID": "", "containerID": "containerd://0f1e2d3c4b5a"}]}}"#,
    ]);

    let sink = Sink::start(dir.path());
    let recv = free_port();
    let processor = format!(
        r#"    auth_type: kubeConfig
    wait_for_metadata: true
    pod_delete_grace_period: 1s
    filter:
      namespace: {ns}
    extract:
      metadata: [k8s.namespace.name, k8s.pod.name, k8s.pod.uid, k8s.deployment.name, k8s.deployment.uid, k8s.node.name, container.image.name, container.image.tag, container.id]
      labels:
        - key: app
        - key: team
          from: namespace
        - key: owner
          from: deployment"#
    );
    // The collector's own identity when given (deploy-check: the shipped ServiceAccount's).
    let kc = std::env::var("KAKEHASHI_TEST_COLLECTOR_KUBECONFIG").unwrap_or_else(|_| kubeconfig());
    let metrics = free_port();
    // The same spans to the Datadog exporter too: the metadata becomes Datadog's container tags.
    let intake = FakeIntake::start();
    let yaml = config(recv, &sink, &processor)
        .replace(
            "      level: none\n",
            &format!("      readers:\n        - pull:\n            exporter:\n              prometheus:\n                host: 127.0.0.1\n                port: {metrics}\n"),
        )
        .replace(
            "exporters:\n",
            &format!("exporters:\n  datadog:\n    api:\n      key: ${{env:DD_API_KEY}}\n    traces:\n      endpoint: {url}\n    metrics:\n      endpoint: {url}\n    host_metadata:\n      enabled: false\n", url = intake.url()),
        )
        .replace("exporters: [otlphttp]", "exporters: [otlphttp, datadog]");
    let mut collector = start(
        dir.path(),
        &yaml,
        &[
            ("KUBECONFIG", &kc),
            ("DD_API_KEY", "a1b2c3d4e5f60718293a4b5c6d7e8f90"),
        ],
    );
    wait_for_port(recv, Duration::from_secs(30), Some(&mut collector));

    send_with_python_sdk(recv, "traces");
    let uid = kubectl(&[
        "get",
        "pod",
        "checkout-5f7b8c9d4-q8x2p",
        "-n",
        &ns,
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    for attrs in next_resources(&sink, 0, &collector) {
        for (k, v) in [
            ("service.name", "interop-test"),
            ("k8s.namespace.name", ns.as_str()),
            ("k8s.pod.name", "checkout-5f7b8c9d4-q8x2p"),
            ("k8s.pod.uid", uid.as_str()),
            ("k8s.deployment.name", "checkout"),
            ("k8s.node.name", "node-a"),
            ("container.image.name", "registry.example.com/shop/checkout"),
            ("container.image.tag", "1.4.2"),
            ("container.id", "0f1e2d3c4b5a"),
            ("k8s.pod.labels.app", "checkout"),
            ("k8s.namespace.labels.team", "payments"),
            ("k8s.deployment.uid", deployment_uid.as_str()),
            ("k8s.deployment.label.owner", "payments-team"),
        ] {
            assert_eq!(text(&attrs, k), Some(v), "{k} in {attrs}");
        }
    }

    let container_tags = poll_until(Duration::from_secs(15), || {
        intake
            .requests_to("/api/v0.2/traces")
            .iter()
            .find_map(|r| match &r.decoded {
                Decoded::Traces(p) => p
                    .tracer_payloads
                    .first()
                    .and_then(|tp| tp.tags.get("_dd.tags.container").cloned()),
                _ => None,
            })
    })
    .unwrap_or_else(|| {
        panic!(
            "no trace payload at the intake\n{}",
            collector.output_tail(4000)
        )
    });
    for tag in [
        format!("kube_namespace:{ns}"),
        "kube_deployment:checkout".into(),
        "pod_name:checkout-5f7b8c9d4-q8x2p".into(),
        "image_name:registry.example.com/shop/checkout".into(),
        "image_tag:1.4.2".into(),
        "container_id:0f1e2d3c4b5a".into(),
    ] {
        assert!(
            container_tags.split(',').any(|t| t == tag),
            "{tag} not in {container_tags}"
        );
    }

    // otelcol's self-metrics of the watches and the lookups.
    use common::fault::metric_sum;
    assert_eq!(metric_sum(metrics, "otelcol_otelsvc_k8s_pod_added"), 1);
    // Entries of the lookup table: the pod by uid, by connection IP and by k8s.pod.ip.
    assert_eq!(metric_sum(metrics, "otelcol_otelsvc_k8s_pod_table_size"), 3);
    assert_eq!(
        metric_sum(metrics, "otelcol_otelsvc_k8s_replicaset_added"),
        1
    );
    // Every namespace of the cluster (`filter::namespace` narrows the pods only).
    assert!(metric_sum(metrics, "otelcol_otelsvc_k8s_namespace_added") >= 2);
    assert_eq!(metric_sum(metrics, "otelcol_otelsvc_k8s_ip_lookup_miss"), 0);

    // A label change arrives through the namespace watch.
    kubectl(&["label", "namespace", &ns, "team=checkout", "--overwrite"]);
    let mut seen = 3;
    let changed = poll_until(Duration::from_secs(30), || {
        send_with_python_sdk(recv, "traces");
        let attrs = next_resources(&sink, seen, &collector);
        seen += 3;
        (text(&attrs[0], "k8s.namespace.labels.team") == Some("checkout")).then_some(())
    });
    assert!(
        changed.is_some(),
        "the new label never arrived\n{}",
        collector.output_tail(4000)
    );

    // A deleted pod is forgotten after its grace period (1 s here).
    kubectl(&[
        "delete",
        "pod",
        "checkout-5f7b8c9d4-q8x2p",
        "-n",
        &ns,
        "--grace-period=0",
        "--force",
    ]);
    let forgotten = poll_until(Duration::from_secs(30), || {
        send_with_python_sdk(recv, "traces");
        let attrs = next_resources(&sink, seen, &collector);
        seen += 3;
        attr(&attrs[0], "k8s.pod.name").is_none().then_some(())
    });
    assert!(
        forgotten.is_some(),
        "the deleted pod was still attributed\n{}",
        collector.output_tail(4000)
    );
    assert_eq!(metric_sum(metrics, "otelcol_otelsvc_k8s_pod_deleted"), 1);
    assert_eq!(metric_sum(metrics, "otelcol_otelsvc_k8s_pod_table_size"), 0);
    assert!(metric_sum(metrics, "otelcol_otelsvc_k8s_ip_lookup_miss") >= 1);
    kubectl(&["delete", "namespace", &ns, "--wait=false"]);
}
