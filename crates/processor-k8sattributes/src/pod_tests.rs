use super::*;
use crate::config::{ExcludePodConfig, FieldExtractConfig, K8sAttributesConfig};
use serde_json::json;

/// A pod as the API server returns it: a Deployment's replica with two containers.
fn pod() -> Pod {
    serde_json::from_value(json!({
        "metadata": {
            "name": "checkout-7d4b9c8f6-x2x9z",
            "namespace": "shop",
            "uid": "11111111-2222-3333-4444-555555555555",
            "creationTimestamp": "2026-12-07T03:00:00Z",
            "labels": {
                "app": "checkout",
                "pod-template-hash": "7d4b9c8f6",
                "app.kubernetes.io/name": "checkout-svc",
                "app.kubernetes.io/version": "1.4.2"
            },
            "annotations": {"team": "payments", "resource.opentelemetry.io/service.name": "checkout-api"},
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "checkout-7d4b9c8f6",
                "uid": "rs-uid", "controller": true
            }]
        },
        "spec": {
            "nodeName": "node-a",
            "hostname": "checkout-host",
            "containers": [
                {"name": "app", "image": "registry.example.com:5000/shop/checkout:1.4.2"},
                {"name": "sidecar", "image": "envoyproxy/envoy@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
            ]
        },
        "status": {
            "podIP": "10.1.2.3",
            "startTime": "2026-12-07T03:00:05Z",
            "containerStatuses": [
                {"name": "app", "containerID": "containerd://aaa111", "restartCount": 0,
                 "image": "x", "imageID": "registry.example.com:5000/shop/checkout@sha256:1111111111111111111111111111111111111111111111111111111111111111", "ready": true},
                {"name": "app", "containerID": "containerd://aaa222", "restartCount": 1,
                 "image": "x", "imageID": "", "ready": true},
                {"name": "sidecar", "containerID": "containerd://bbb", "restartCount": 0,
                 "image": "y", "imageID": "", "ready": true}
            ]
        }
    }))
    .unwrap()
}

fn rules(metadata: &[&str]) -> Rules {
    let mut cfg = K8sAttributesConfig::default();
    cfg.extract.metadata = Some(metadata.iter().map(|s| s.to_string()).collect());
    Rules::new(&cfg)
}

fn attrs(info: &PodInfo) -> Vec<(&str, &str)> {
    info.attributes
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

#[test]
fn the_default_metadata_of_a_deployment_pod() {
    let info = PodInfo::new(&pod(), &Rules::new(&K8sAttributesConfig::default()));
    assert_eq!(
        attrs(&info),
        vec![
            ("k8s.deployment.name", "checkout"),
            ("k8s.namespace.name", "shop"),
            ("k8s.node.name", "node-a"),
            ("k8s.pod.name", "checkout-7d4b9c8f6-x2x9z"),
            ("k8s.pod.start_time", "2026-12-07T03:00:00Z"),
            ("k8s.pod.uid", "11111111-2222-3333-4444-555555555555"),
        ]
    );
    let app = &info.containers.by_name["app"];
    assert_eq!(
        (app.image_name.as_str(), app.image_tag.as_str()),
        ("registry.example.com:5000/shop/checkout", "1.4.2")
    );
    let sidecar = &info.containers.by_name["sidecar"];
    assert_eq!(
        (sidecar.image_name.as_str(), sidecar.image_tag.as_str()),
        ("envoyproxy/envoy", "latest")
    );
    assert_eq!(info.ip, "10.1.2.3");
    assert!(!info.ignore);
}

#[test]
fn owners_give_workload_names_and_service_name_follows_otels_precedence() {
    let r = rules(&[
        "k8s.replicaset.name",
        "k8s.replicaset.uid",
        "k8s.pod.hostname",
        "k8s.pod.ip",
        "service.name",
        "service.namespace",
        "service.version",
    ]);
    let mut cfg = K8sAttributesConfig::default();
    cfg.extract.metadata = Some(vec!["service.name".into()]);
    cfg.extract.otel_annotations = true;
    let with_annotations = PodInfo::new(&pod(), &Rules::new(&cfg));
    let info = PodInfo::new(&pod(), &r);
    assert_eq!(
        attrs(&info),
        vec![
            ("k8s.pod.hostname", "checkout-host"),
            ("k8s.pod.ip", "10.1.2.3"),
            ("k8s.replicaset.name", "checkout-7d4b9c8f6"),
            ("k8s.replicaset.uid", "rs-uid"),
            // app.kubernetes.io/name beats the deployment name, which beats the pod name.
            ("service.name", "checkout-svc"),
            ("service.namespace", "shop"),
            ("service.version", "1.4.2"),
        ]
    );
    // The resource.opentelemetry.io annotation beats every label.
    assert_eq!(with_annotations.attributes["service.name"], "checkout-api");
}

#[test]
fn jobs_of_a_cronjob_and_other_owners() {
    let mut p = pod();
    p.metadata.labels = None;
    // 2026-12-07T03:00:00Z is minute 29,943,540 since the epoch.
    p.metadata.owner_references = Some(vec![serde_json::from_value(json!({
        "apiVersion": "batch/v1", "kind": "Job", "name": "nightly-report-29943540", "uid": "job-uid"
    }))
    .unwrap()]);
    let r = rules(&[
        "k8s.job.name",
        "k8s.job.uid",
        "k8s.cronjob.name",
        "k8s.deployment.name",
    ]);
    assert_eq!(
        attrs(&PodInfo::new(&p, &r)),
        vec![
            ("k8s.cronjob.name", "nightly-report"),
            ("k8s.job.name", "nightly-report-29943540"),
            ("k8s.job.uid", "job-uid"),
        ]
    );
    // A suffix far from the pod's creation is not a CronJob's schedule.
    p.metadata.owner_references.as_mut().unwrap()[0].name = "batch-12345678".into();
    assert!(!PodInfo::new(&p, &r)
        .attributes
        .contains_key("k8s.cronjob.name"));

    // A ReplicaSet without the pod's template hash is not a Deployment's.
    let mut p = pod();
    p.metadata
        .labels
        .as_mut()
        .unwrap()
        .remove("pod-template-hash");
    assert!(!PodInfo::new(&p, &rules(&["k8s.deployment.name"]))
        .attributes
        .contains_key("k8s.deployment.name"));

    let mut p = pod();
    p.metadata.owner_references = Some(vec![serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db", "uid": "ss-uid"
    }))
    .unwrap()]);
    assert_eq!(
        attrs(&PodInfo::new(
            &p,
            &rules(&["k8s.statefulset.name", "k8s.statefulset.uid"])
        )),
        vec![
            ("k8s.statefulset.name", "db"),
            ("k8s.statefulset.uid", "ss-uid")
        ]
    );
}

#[test]
fn labels_annotations_and_exclusions() {
    let mut cfg = K8sAttributesConfig::default();
    cfg.extract.metadata = Some(vec![]);
    cfg.extract.labels = vec![FieldExtractConfig {
        key: "app".into(),
        ..Default::default()
    }];
    cfg.extract.annotations = vec![FieldExtractConfig {
        tag_name: "owner.team".into(),
        key: "team".into(),
        ..Default::default()
    }];
    let info = PodInfo::new(&pod(), &Rules::new(&cfg));
    assert_eq!(
        attrs(&info),
        vec![
            ("k8s.pod.labels.app", "checkout"),
            ("owner.team", "payments")
        ]
    );

    cfg.exclude.pods = vec![ExcludePodConfig {
        name: "^checkout-".into(),
    }];
    assert!(PodInfo::new(&pod(), &Rules::new(&cfg)).ignore);
    let mut p = pod();
    p.metadata.annotations.as_mut().unwrap().insert(
        "opentelemetry.io/k8s-processor/ignore".into(),
        " True ".into(),
    );
    assert!(PodInfo::new(&p, &rules(&[])).ignore);
}

#[test]
fn containers_and_their_runs() {
    let r = rules(&[
        "k8s.container.name",
        "container.id",
        "container.image.repo_digests",
        "service.instance.id",
        "service.version",
    ]);
    let info = PodInfo::new(&pod(), &r);
    let app = &info.containers.by_name["app"];
    assert_eq!(app.name, "app");
    assert_eq!(app.service_instance_id, "shop.checkout-7d4b9c8f6-x2x9z.app");
    assert_eq!(app.service_version, "1.4.2");
    assert_eq!(
        app.statuses[&0],
        (
            "aaa111".to_string(),
            "registry.example.com:5000/shop/checkout@sha256:1111111111111111111111111111111111111111111111111111111111111111".to_string()
        )
    );
    assert_eq!(app.statuses[&1], ("aaa222".to_string(), String::new()));
    assert_eq!(
        info.containers.by_name["sidecar"].service_version,
        "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    );
    assert_eq!(info.containers.by_id["bbb"], "sidecar");
}

#[test]
fn identifiers_follow_the_association_rules() {
    let mut cfg = K8sAttributesConfig {
        pod_association: serde_json::from_value(json!([
            {"sources": [{"from": "resource_attribute", "name": "k8s.pod.name"},
                         {"from": "resource_attribute", "name": "k8s.namespace.name"}]},
            {"sources": [{"from": "resource_attribute", "name": "container.id"}]},
            {"sources": [{"from": "connection"}]}
        ]))
        .unwrap(),
        ..Default::default()
    };
    cfg.extract.metadata = Some(vec!["container.id".into()]);
    let r = Rules::new(&cfg);
    let info = PodInfo::new(&pod(), &r);
    let res = |n: &str, v: &str| (Source::Resource(n.into()), v.to_string());
    let ids = info.identifiers(&r);
    for want in [
        vec![
            res("k8s.pod.name", "checkout-7d4b9c8f6-x2x9z"),
            res("k8s.namespace.name", "shop"),
        ],
        vec![res("container.id", "aaa111")],
        vec![res("container.id", "aaa222")],
        vec![res("container.id", "bbb")],
        vec![(Source::Connection, "10.1.2.3".into())],
        vec![res("k8s.pod.uid", "11111111-2222-3333-4444-555555555555")],
        vec![res("k8s.pod.ip", "10.1.2.3")],
    ] {
        assert!(ids.contains(&want), "{want:?} missing from {ids:?}");
    }
    assert_eq!(ids.len(), 7);

    // A pod on the host's network shares the node's IP: never found by it.
    let mut host = pod();
    host.spec.as_mut().unwrap().host_network = Some(true);
    let ids = PodInfo::new(&host, &r).identifiers(&r);
    assert!(!ids.iter().any(|id| id[0].0 == Source::Connection));
}
