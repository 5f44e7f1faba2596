use super::*;
use crate::config::{FieldExtractConfig, K8sAttributesConfig};
use crate::rules::From;
use crate::store::ObjectInfo;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::json;
use std::time::Instant;

fn pod(name: &str, ip: &str, containers: &[(&str, &str, i32)]) -> Pod {
    let specs: Vec<_> = containers
        .iter()
        .map(|(n, _, _)| json!({"name": n, "image": format!("shop/{n}:2.0")}))
        .collect();
    let statuses: Vec<_> = containers
        .iter()
        .map(|(n, id, restarts)| {
            json!({"name": n, "containerID": format!("containerd://{id}"), "restartCount": restarts,
                   "image": "i", "imageID": "", "ready": true})
        })
        .collect();
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "shop", "uid": format!("uid-{name}"),
                     "creationTimestamp": "2026-12-07T03:00:00Z"},
        "spec": {"nodeName": "node-a", "containers": specs},
        "status": {"podIP": ip, "containerStatuses": statuses}
    }))
    .unwrap()
}

/// An `extract::labels` rule copying `key` from objects of kind `from`.
fn label(key: &str, from: &str) -> FieldExtractConfig {
    FieldExtractConfig {
        key: key.into(),
        from: from.into(),
        ..Default::default()
    }
}

fn cfg(metadata: &[&str]) -> K8sAttributesConfig {
    let mut cfg = K8sAttributesConfig::default();
    cfg.extract.metadata = Some(metadata.iter().map(|s| s.to_string()).collect());
    cfg
}

fn store(rules: &Rules, pods: &[Pod]) -> Store {
    let mut s = Store::default();
    for p in pods {
        let info = PodInfo::new(p, rules);
        let ids = info.identifiers(rules);
        s.pods.apply(info, ids);
    }
    let ns = |uid: &str, labels: serde_json::Value| {
        let meta: ObjectMeta =
            serde_json::from_value(json!({"uid": uid, "labels": labels})).unwrap();
        meta
    };
    s.namespaces.apply(
        "shop".into(),
        ObjectInfo::new(
            &ns("ns-uid", json!({"tier": "web"})),
            rules,
            From::Namespace,
        ),
    );
    s.namespaces.apply(
        "kube-system".into(),
        ObjectInfo::new(&ns("cluster-uid", json!({})), rules, From::Namespace),
    );
    s.nodes.apply(
        "node-a".into(),
        ObjectInfo::new(&ns("node-uid", json!({"zone": "z1"})), rules, From::Node),
    );
    s
}

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

fn get<'a>(attrs: &'a [KeyValue], k: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|a| a.key == k)
        .map(|a| str_value(attrs, &a.key))
}

#[test]
fn the_connections_ip_finds_the_pod_and_existing_values_are_kept() {
    let rules = Rules::new(&cfg(&[
        "k8s.pod.name",
        "k8s.namespace.name",
        "k8s.node.name",
    ]));
    let s = store(&rules, &[pod("web-1", "10.0.0.5", &[])]);
    let mut attrs = vec![kv("k8s.node.name", "mine"), kv("k8s.namespace.name", "")];
    annotate(&mut attrs, Some("10.0.0.5"), &rules, Some(&s));
    assert_eq!(get(&attrs, "k8s.pod.name"), Some("web-1"));
    assert_eq!(get(&attrs, "k8s.node.name"), Some("mine"), "never replaced");
    assert_eq!(
        get(&attrs, "k8s.namespace.name"),
        Some("shop"),
        "empty is unset"
    );
    // k8s.pod.ip only when asked for (or in passthrough mode).
    assert_eq!(get(&attrs, "k8s.pod.ip"), None);

    let mut attrs = Vec::new();
    annotate(&mut attrs, Some("10.0.0.9"), &rules, Some(&s));
    assert!(attrs.is_empty(), "unknown IP: nothing added");
}

#[test]
fn passthrough_only_sets_the_pod_ip() {
    let rules = Rules::new(&cfg(&["k8s.pod.name"]));
    let mut attrs = vec![kv("service.name", "web")];
    annotate(&mut attrs, Some("10.0.0.5"), &rules, None);
    assert_eq!(
        attrs,
        vec![kv("service.name", "web"), kv("k8s.pod.ip", "10.0.0.5")]
    );
    let mut attrs = vec![kv("k8s.pod.ip", "10.0.0.7")];
    annotate(&mut attrs, Some("10.0.0.5"), &rules, None);
    assert_eq!(
        attrs,
        vec![kv("k8s.pod.ip", "10.0.0.7")],
        "the resource's own IP wins"
    );
}

#[test]
fn the_fallback_order_without_association_rules() {
    let rules = Rules::new(&cfg(&["k8s.pod.name", "k8s.pod.ip"]));
    let s = store(
        &rules,
        &[
            pod("a", "10.0.0.1", &[]),
            pod("b", "10.0.0.2", &[]),
            pod("c", "10.0.0.3", &[]),
        ],
    );
    let found = |attrs: Vec<KeyValue>, conn: Option<&str>| {
        let mut attrs = attrs;
        annotate(&mut attrs, conn, &rules, Some(&s));
        get(&attrs, "k8s.pod.name").map(str::to_string)
    };
    assert_eq!(
        found(vec![kv("k8s.pod.ip", "10.0.0.1")], Some("10.0.0.3")).as_deref(),
        Some("a")
    );
    assert_eq!(
        found(vec![kv("ip", "10.0.0.2")], Some("10.0.0.3")).as_deref(),
        Some("b")
    );
    assert_eq!(found(vec![], Some("10.0.0.3")).as_deref(), Some("c"));
    assert_eq!(
        found(vec![kv("host.name", "10.0.0.2")], None).as_deref(),
        Some("b")
    );
    assert_eq!(found(vec![kv("host.name", "web-host")], None), None);
}

#[test]
fn association_rules_in_order_without_falling_through() {
    // service.name (the pod name here) tells which pod was found.
    let mut c = cfg(&["service.name"]);
    c.pod_association = serde_json::from_value(json!([
        {"sources": [{"from": "resource_attribute", "name": "k8s.pod.uid"}]},
        {"sources": [{"from": "resource_attribute", "name": "k8s.pod.name"},
                     {"from": "resource_attribute", "name": "k8s.namespace.name"}]},
        {"sources": [{"from": "connection"}]}
    ]))
    .unwrap();
    let rules = Rules::new(&c);
    let s = store(
        &rules,
        &[pod("a", "10.0.0.1", &[]), pod("b", "10.0.0.2", &[])],
    );
    let found = |attrs: Vec<KeyValue>, conn: Option<&str>| {
        let mut attrs = attrs;
        annotate(&mut attrs, conn, &rules, Some(&s));
        get(&attrs, "service.name").map(str::to_string)
    };
    assert_eq!(
        found(vec![kv("k8s.pod.uid", "uid-a")], Some("10.0.0.2")).as_deref(),
        Some("a")
    );
    assert_eq!(
        found(
            vec![kv("k8s.pod.name", "b"), kv("k8s.namespace.name", "shop")],
            Some("10.0.0.1")
        )
        .as_deref(),
        Some("b")
    );
    // Name without namespace: that rule is incomplete, so the connection decides.
    assert_eq!(
        found(vec![kv("k8s.pod.name", "b")], Some("10.0.0.1")).as_deref(),
        Some("a")
    );
    // The first complete rule decides even when it finds nothing.
    assert_eq!(
        found(vec![kv("k8s.pod.uid", "uid-gone")], Some("10.0.0.1")),
        None
    );
}

#[test]
fn namespace_node_and_cluster_attributes() {
    let mut c = cfg(&[
        "k8s.pod.name",
        "k8s.cluster.uid",
        "k8s.node.uid",
        "service.namespace",
    ]);
    c.extract.labels = vec![label("tier", "namespace"), label("zone", "node")];
    let rules = Rules::new(&c);
    let s = store(&rules, &[pod("a", "10.0.0.1", &[])]);
    let mut attrs = Vec::new();
    annotate(&mut attrs, Some("10.0.0.1"), &rules, Some(&s));
    for (k, v) in [
        ("k8s.pod.name", "a"),
        ("k8s.cluster.uid", "cluster-uid"),
        ("k8s.namespace.labels.tier", "web"),
        ("service.namespace", "shop"),
        ("k8s.node.labels.zone", "z1"),
        ("k8s.node.uid", "node-uid"),
    ] {
        assert_eq!(get(&attrs, k), Some(v), "{k}");
    }
    // Without a pod, the resource's own namespace and node names are used.
    let mut attrs = vec![
        kv("k8s.namespace.name", "shop"),
        kv("k8s.node.name", "node-a"),
    ];
    annotate(&mut attrs, None, &rules, Some(&s));
    assert_eq!(get(&attrs, "k8s.namespace.labels.tier"), Some("web"));
    assert_eq!(get(&attrs, "k8s.node.uid"), Some("node-uid"));
    assert_eq!(get(&attrs, "k8s.cluster.uid"), None, "only with a pod");
}

#[test]
fn the_container_is_chosen_by_name_id_or_being_the_only_one() {
    let rules = Rules::new(&cfg(&[
        "container.image.name",
        "container.image.tag",
        "container.id",
        "k8s.container.name",
    ]));
    let s = store(
        &rules,
        &[
            pod("one", "10.0.0.1", &[("app", "id-app", 0)]),
            pod(
                "two",
                "10.0.0.2",
                &[("app", "id-a", 2), ("proxy", "id-p", 0)],
            ),
        ],
    );
    let run = |attrs: Vec<KeyValue>, ip: &str| {
        let mut attrs = attrs;
        annotate(&mut attrs, Some(ip), &rules, Some(&s));
        attrs
    };
    let a = run(vec![], "10.0.0.1");
    assert_eq!(get(&a, "container.image.name"), Some("shop/app"));
    assert_eq!(get(&a, "container.image.tag"), Some("2.0"));
    assert_eq!(get(&a, "container.id"), Some("id-app"));
    assert_eq!(get(&a, "k8s.container.name"), Some("app"));

    assert_eq!(
        get(&run(vec![], "10.0.0.2"), "container.image.name"),
        None,
        "two: ambiguous"
    );
    let a = run(vec![kv("k8s.container.name", "proxy")], "10.0.0.2");
    assert_eq!(get(&a, "container.image.name"), Some("shop/proxy"));
    assert_eq!(get(&a, "container.id"), Some("id-p"));
    let a = run(vec![kv("container.id", "id-a")], "10.0.0.2");
    assert_eq!(get(&a, "k8s.container.name"), Some("app"));

    // The run named by restart_count (int or string); a run not known adds no id.
    let mut restart = kv("k8s.container.restart_count", "");
    restart.value = Some(AnyValue {
        value: Some(any_value::Value::IntValue(2)),
    });
    let a = run(vec![kv("k8s.container.name", "app"), restart], "10.0.0.2");
    assert_eq!(get(&a, "container.id"), Some("id-a"));
    let a = run(
        vec![
            kv("k8s.container.name", "app"),
            kv("k8s.container.restart_count", "7"),
        ],
        "10.0.0.2",
    );
    assert_eq!(get(&a, "container.id"), None);
}

#[test]
fn a_deleted_pod_is_still_found_during_the_grace_period() {
    let rules = Rules::new(&cfg(&["k8s.pod.name"]));
    let mut s = store(&rules, &[pod("a", "10.0.0.1", &[])]);
    s.pods.delete("uid-a", Instant::now());
    let mut attrs = Vec::new();
    annotate(&mut attrs, Some("10.0.0.1"), &rules, Some(&s));
    assert_eq!(get(&attrs, "k8s.pod.name"), Some("a"));
}

/// A pod with one owner reference (kind, name, uid).
fn owned_pod(name: &str, ip: &str, (kind, owner, uid): (&str, &str, &str)) -> Pod {
    let mut p = pod(name, ip, &[]);
    p.metadata.owner_references = Some(vec![serde_json::from_value(
        json!({"apiVersion": "v1", "kind": kind, "name": owner, "uid": uid}),
    )
    .unwrap()]);
    p
}

/// A workload object as a metadata watch delivers it.
fn workload(
    uid: &str,
    labels: serde_json::Value,
    controller: Option<(&str, &str, &str)>,
) -> ObjectMeta {
    let owners: Vec<_> = controller
        .into_iter()
        .map(|(kind, name, uid)| {
            json!({"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": uid, "controller": true})
        })
        .collect();
    serde_json::from_value(json!({"uid": uid, "labels": labels, "ownerReferences": owners}))
        .unwrap()
}

#[test]
fn workload_objects_give_uids_names_and_their_labels() {
    let mut c = cfg(&[
        "k8s.deployment.name",
        "k8s.deployment.uid",
        "k8s.cronjob.name",
        "k8s.cronjob.uid",
    ]);
    c.extract.labels = vec![
        label("team", "deployment"),
        label("tier", "statefulset"),
        label("kind", "job"),
    ];
    let rules = Rules::new(&c);
    let owned = |name: &str, kind: &str, owner: &str, uid: &str| {
        owned_pod(name, &format!("10.0.1.{}", name.len()), (kind, owner, uid))
    };
    let mut s = store(
        &rules,
        &[
            // A ReplicaSet whose name is not <deployment>-<hash>: only the object knows.
            owned("web", "ReplicaSet", "odd-rs-name", "rs-1"),
            owned("db-0", "StatefulSet", "db", "ss-1"),
            owned("report-x", "Job", "report-29943540", "job-1"),
        ],
    );
    let rs = workload(
        "rs-1",
        json!({}),
        Some(("Deployment", "web-deploy", "dep-1")),
    );
    s.replicasets
        .apply("rs-1".into(), ObjectInfo::new(&rs, &rules, From::Pod));
    let dep = workload("dep-1", json!({"team": "payments"}), None);
    s.deployments.apply(
        "dep-1".into(),
        ObjectInfo::new(&dep, &rules, From::Deployment),
    );
    let ss = workload("ss-1", json!({"tier": "data"}), None);
    s.statefulsets.apply(
        "ss-1".into(),
        ObjectInfo::new(&ss, &rules, From::StatefulSet),
    );
    let job = workload(
        "job-1",
        json!({"kind": "batch"}),
        Some(("CronJob", "report", "cj-1")),
    );
    s.jobs
        .apply("job-1".into(), ObjectInfo::new(&job, &rules, From::Job));

    let run = |ip: &str| {
        let mut attrs = Vec::new();
        assert_eq!(
            annotate(&mut attrs, Some(ip), &rules, Some(&s)),
            Lookup::Found
        );
        attrs
    };
    let web = run("10.0.1.3");
    assert_eq!(get(&web, "k8s.deployment.name"), Some("web-deploy"));
    assert_eq!(get(&web, "k8s.deployment.uid"), Some("dep-1"));
    assert_eq!(get(&web, "k8s.deployment.label.team"), Some("payments"));
    let db = run("10.0.1.4");
    assert_eq!(get(&db, "k8s.statefulset.label.tier"), Some("data"));
    assert_eq!(get(&db, "k8s.deployment.name"), None);
    let report = run("10.0.1.8");
    assert_eq!(get(&report, "k8s.cronjob.name"), Some("report"));
    assert_eq!(get(&report, "k8s.cronjob.uid"), Some("cj-1"));
    assert_eq!(get(&report, "k8s.job.label.kind"), Some("batch"));

    // Without a pod, the resource's own uid attributes find the workload.
    let mut attrs = vec![kv("k8s.statefulset.uid", "ss-1")];
    assert_eq!(
        annotate(&mut attrs, None, &rules, Some(&s)),
        Lookup::NoIdentifier
    );
    assert_eq!(get(&attrs, "k8s.statefulset.label.tier"), Some("data"));
    let mut attrs = Vec::new();
    assert_eq!(
        annotate(&mut attrs, Some("10.9.9.9"), &rules, Some(&s)),
        Lookup::NotFound
    );
    assert_eq!(
        annotate(&mut attrs, Some("10.9.9.9"), &rules, None),
        Lookup::Skipped
    );
}

#[test]
fn containers_not_started_yet_count_as_otelcol_counts_them() {
    let rules = Rules::new(&cfg(&["container.image.name", "k8s.container.name"]));
    let s = store(
        &rules,
        &[
            pod(
                "running-and-waiting",
                "10.0.2.1",
                &[("app", "id-app", 0), ("sidecar", "", 0)],
            ),
            pod(
                "all-waiting",
                "10.0.2.2",
                &[("app", "", 0), ("sidecar", "", 0)],
            ),
        ],
    );
    let run = |ip: &str| {
        let mut attrs = Vec::new();
        annotate(&mut attrs, Some(ip), &rules, Some(&s));
        attrs
    };
    // Two ids (one empty): not "the only container".
    assert_eq!(get(&run("10.0.2.1"), "container.image.name"), None);
    // One (empty) id: the last container holding it.
    assert_eq!(get(&run("10.0.2.2"), "k8s.container.name"), Some("sidecar"));
}

#[test]
fn node_labels_follow_the_pod_only_when_the_node_name_is_extracted() {
    let mut c = cfg(&["k8s.pod.name"]);
    c.extract.labels = vec![label("zone", "node")];
    let rules = Rules::new(&c);
    let s = store(&rules, &[pod("a", "10.0.0.1", &[])]);
    let mut attrs = Vec::new();
    annotate(&mut attrs, Some("10.0.0.1"), &rules, Some(&s));
    assert_eq!(get(&attrs, "k8s.node.labels.zone"), None);
    let mut attrs = vec![kv("k8s.node.name", "node-a")];
    annotate(&mut attrs, Some("10.0.0.1"), &rules, Some(&s));
    assert_eq!(get(&attrs, "k8s.node.labels.zone"), Some("z1"));
}

#[test]
fn replicaset_and_cronjob_labels_through_the_pods_owners() {
    let mut c = cfg(&[]);
    c.extract.labels = vec![label("rs", "replicaset"), label("cj", "cronjob")];
    let rules = Rules::new(&c);
    let owned = |name: &str, ip: &str, kind: &str, uid: &str| owned_pod(name, ip, (kind, "x", uid));
    let mut s = store(
        &rules,
        &[
            owned("a", "10.0.3.1", "ReplicaSet", "rs-1"),
            owned("b", "10.0.3.2", "Job", "job-1"),
        ],
    );
    let rs = workload("rs-1", json!({"rs": "one"}), None);
    s.replicasets.apply(
        "rs-1".into(),
        ObjectInfo::new(&rs, &rules, From::ReplicaSet),
    );
    let job = workload("job-1", json!({}), Some(("CronJob", "nightly", "cj-1")));
    s.jobs
        .apply("job-1".into(), ObjectInfo::new(&job, &rules, From::Job));
    let cj = workload("cj-1", json!({"cj": "nightly"}), None);
    s.cronjobs
        .apply("cj-1".into(), ObjectInfo::new(&cj, &rules, From::CronJob));
    let mut attrs = Vec::new();
    annotate(&mut attrs, Some("10.0.3.1"), &rules, Some(&s));
    assert_eq!(get(&attrs, "k8s.replicaset.label.rs"), Some("one"));
    let mut attrs = Vec::new();
    annotate(&mut attrs, Some("10.0.3.2"), &rules, Some(&s));
    assert_eq!(get(&attrs, "k8s.cronjob.label.cj"), Some("nightly"));
}

#[test]
fn an_excluded_pod_is_not_a_lookup_miss() {
    let mut c = cfg(&["k8s.pod.name"]);
    c.exclude.pods = vec![crate::config::ExcludePodConfig {
        name: "^istio".into(),
    }];
    let rules = Rules::new(&c);
    let s = store(&rules, &[pod("istio-gw", "10.0.4.1", &[])]);
    let mut attrs = Vec::new();
    assert_eq!(
        annotate(&mut attrs, Some("10.0.4.1"), &rules, Some(&s)),
        Lookup::Excluded
    );
    assert!(attrs.is_empty());
}
