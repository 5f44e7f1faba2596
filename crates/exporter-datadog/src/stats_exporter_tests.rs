use super::*;
use crate::stats_metric::tests::payload;
use crate::test_server::{Reply, TestServer};
use kakehashi_config::{decode_yaml, ComponentId};
use kakehashi_pdata::proto::metrics::v1::{metric, Gauge, Metric, NumberDataPoint, ScopeMetrics};
use libdd_trace_protobuf::pb;

const KEY: &str = "0123456789abcdef0123456789abcdef";

async fn exporter(base: &str) -> DatadogStatsExporter {
    exporter_with(base, "").await
}

/// `traces_extra`: more keys of the `traces` section.
async fn exporter_with(base: &str, traces_extra: &str) -> DatadogStatsExporter {
    let cfg = decode_yaml::<DatadogConfig>(
        "exporters::datadog",
        &format!(
            "api: {{key: {KEY}}}\nhostname: collector-1\ntraces: {{endpoint: {base}{traces_extra}}}\nmetrics: {{endpoint: {base}}}\nretry_on_failure: {{enabled: false}}"
        ),
    )
    .unwrap();
    let ctx = BuildContext::new(
        ComponentId::parse("datadog").unwrap(),
        kakehashi_telemetry::Telemetry::new(),
    );
    let e = DatadogStatsExporter::new(&ctx, &cfg).unwrap();
    e.start().await.unwrap();
    e
}

fn sent_payload(seen: &crate::test_server::Seen) -> pb::StatsPayload {
    rmp_serde::from_slice(&seen.gunzipped()).unwrap()
}

#[tokio::test]
async fn a_stats_metric_goes_to_the_stats_intake_with_the_versions_filled_in() {
    let srv = TestServer::start(vec![]).await;
    let e = exporter(&srv.base).await;
    e.export(&Batch::new(stats_metric::to_metrics(&payload())))
        .await
        .unwrap();
    let seen = srv.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/api/v0.2/stats");
    assert_eq!(
        seen[0].header("x-datadog-reported-languages"),
        Some("python")
    );
    let sent = sent_payload(&seen[0]);
    // Sent under the exporter's name, as the Go exporter's agent sends client-computed stats.
    let mut want = payload();
    want.agent_hostname = "collector-1".into();
    want.agent_env = "none".into();
    want.agent_version = "datadogexporter-kakehashi-0.1.0".into();
    want.client_computed = true;
    want.stats[0].tracer_version = "kakehashi0.1.0".into();
    assert_eq!(sent, want);
}

#[tokio::test]
async fn the_exporters_ignore_resources_drop_stats_groups_and_the_rest_still_go() {
    let srv = TestServer::start(vec![]).await;
    let e = exporter_with(&srv.base, ", ignore_resources: [\"^GET /health\"]").await;
    let mut p = payload();
    let mut health = p.stats[0].stats[0].stats[0].clone();
    health.resource = "GET /health".into();
    p.stats[0].stats[0].stats.push(health);
    e.export(&Batch::new(stats_metric::to_metrics(&p)))
        .await
        .unwrap();
    let sent = sent_payload(&srv.seen()[0]);
    let resources: Vec<&str> = sent.stats[0].stats[0]
        .stats
        .iter()
        .map(|g| g.resource.as_str())
        .collect();
    assert_eq!(resources, ["GET /"]);
}

#[tokio::test]
async fn other_metrics_are_refused_and_counted_while_the_stats_still_go() {
    let srv = TestServer::start(vec![]).await;
    let e = exporter(&srv.base).await;
    let mut req = stats_metric::to_metrics(&payload());
    req.resource_metrics[0].scope_metrics.push(ScopeMetrics {
        metrics: vec![Metric {
            name: "cpu".into(),
            data: Some(metric::Data::Gauge(Gauge {
                data_points: vec![NumberDataPoint::default(); 2],
            })),
            ..Default::default()
        }],
        ..Default::default()
    });
    let err = e.export(&Batch::new(req)).await.unwrap_err();
    assert!(err.permanent);
    assert_eq!(err.failed_items, Some(2));
    assert!(
        err.message.contains("does not send metrics as series"),
        "{err:?}"
    );
    assert_eq!(srv.seen().len(), 1, "the stats payload was still sent");
}

#[tokio::test]
async fn a_refused_payload_is_a_failed_item_and_the_key_never_shows() {
    let srv = TestServer::start(vec![Reply::status(403)]).await;
    let e = exporter(&srv.base).await;
    let err = e
        .export(&Batch::new(stats_metric::to_metrics(&payload())))
        .await
        .unwrap_err();
    assert_eq!(err.failed_items, Some(1));
    assert!(err.message.contains("403"), "{err:?}");
    assert!(!err.message.contains(KEY));
}
