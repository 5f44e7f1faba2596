//! The data-path cost of `k8s_attributes`: finding a resource's pod by the connection's IP in a
//! table of 5,000 pods and adding the default metadata (8 attributes) to a resource that has
//! the OpenTelemetry SDK's usual 6. Building the resource is the baseline to subtract.
//!
//! `cargo bench -p kakehashi-processor-k8sattributes --bench annotate`

use criterion::{criterion_group, criterion_main, Criterion};
use k8s_openapi::api::core::v1::Pod;
use kakehashi_pdata::proto::common::v1::{any_value, AnyValue, KeyValue};
use kakehashi_processor_k8sattributes::pod::PodInfo;
use kakehashi_processor_k8sattributes::processor::annotate;
use kakehashi_processor_k8sattributes::rules::Rules;
use kakehashi_processor_k8sattributes::store::Store;
use kakehashi_processor_k8sattributes::K8sAttributesConfig;
use serde_json::json;
use std::hint::black_box;

const PODS: usize = 5_000;

fn ip(i: usize) -> String {
    format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256)
}

fn store(rules: &Rules) -> Store {
    let mut s = Store::default();
    for i in 0..PODS {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {
                "name": format!("checkout-7d4b9c8f6-{i:05}"), "namespace": "shop",
                "uid": format!("uid-{i}"), "creationTimestamp": "2026-12-07T03:00:00Z",
                "labels": {"app": "checkout", "pod-template-hash": "7d4b9c8f6"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                     "name": "checkout-7d4b9c8f6", "uid": "rs"}]
            },
            "spec": {"nodeName": "node-a", "containers": [{"name": "app", "image": "shop/checkout:1.4.2"}]},
            "status": {"podIP": ip(i), "containerStatuses": [{"name": "app", "containerID": format!("containerd://{i}"),
                       "restartCount": 0, "image": "x", "imageID": "", "ready": true}]}
        }))
        .unwrap();
        let info = PodInfo::new(&pod, rules);
        let ids = info.identifiers(rules);
        s.pods.apply(info, ids);
    }
    s
}

fn sdk_resource() -> Vec<KeyValue> {
    [
        ("service.name", "checkout"),
        ("service.version", "1.4.2"),
        ("telemetry.sdk.name", "opentelemetry"),
        ("telemetry.sdk.language", "python"),
        ("telemetry.sdk.version", "1.38.0"),
        ("deployment.environment.name", "prod"),
    ]
    .into_iter()
    .map(|(k, v)| KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    })
    .collect()
}

fn bench(c: &mut Criterion) {
    let rules = Rules::new(&K8sAttributesConfig::default());
    let s = store(&rules);
    let conn = ip(4_321);
    let mut g = c.benchmark_group("k8sattributes");
    g.bench_function("baseline_build_resource", |b| {
        b.iter(|| black_box(sdk_resource()))
    });
    g.bench_function("annotate_by_connection_ip", |b| {
        b.iter(|| {
            let mut attrs = sdk_resource();
            annotate(&mut attrs, Some(black_box(&conn)), &rules, Some(&s));
            black_box(attrs)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
