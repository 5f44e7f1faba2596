use super::*;
use kakehashi_component::{BuildInfo, FeatureGateInfo, PipelineInfo};

fn service() -> Arc<ServiceInfo> {
    Arc::new(ServiceInfo {
        build: BuildInfo::default(),
        started: std::time::SystemTime::now(),
        pipelines: vec![
            PipelineInfo {
                id: "metrics".into(),
                signal: "metrics".into(),
                receivers: vec!["datadog/connector (connector)".into()],
                processors: vec![],
                exporters: vec!["datadog".into()],
            },
            PipelineInfo {
                id: "traces".into(),
                signal: "traces".into(),
                receivers: vec!["otlp".into()],
                processors: vec!["resource".into(), "batch/<datadog>".into()],
                exporters: vec!["datadog".into(), "datadog/connector (connector)".into()],
            },
        ],
        extensions: vec!["health_check".into(), "zpages".into()],
        feature_gates: vec![FeatureGateInfo {
            id: "exporter.datadogexporter.DisableAPMStats".into(),
            enabled: false,
            description: "no stats".into(),
        }],
    })
}

async fn started(config: ZPagesConfig) -> ZPages {
    let ext = ZPages::new(
        "zpages".into(),
        ZPagesConfig {
            endpoint: "127.0.0.1:0".into(),
            ..config
        },
        service(),
    );
    ext.start().await.unwrap();
    ext
}

async fn get(ext: &ZPages, path: &str) -> (u16, String, String) {
    let r = reqwest::get(format!("http://{}{path}", ext.local_addr().await.unwrap()))
        .await
        .unwrap();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (r.status().as_u16(), ct, r.text().await.unwrap())
}

#[tokio::test]
async fn servicez_names_the_build_and_links_the_other_pages() {
    let ext = started(ZPagesConfig::default()).await;
    let (status, ct, body) = get(&ext, "/debug/servicez").await;
    assert_eq!(status, 200);
    assert_eq!(ct, "text/html; charset=utf-8");
    assert!(body.contains("<title>Service kakehashi</title>"), "{body}");
    assert!(body.contains(&format!(
        "<td>Version</td><td>{}</td>",
        env!("CARGO_PKG_VERSION")
    )));
    for link in ["pipelinez", "extensionz", "featurez"] {
        assert!(body.contains(&format!("href=\"{link}\"")), "{link}: {body}");
    }
    ext.shutdown().await;
}

#[tokio::test]
async fn pipelinez_lists_each_pipeline_with_its_components() {
    let ext = started(ZPagesConfig::default()).await;
    let (status, _, body) = get(&ext, "/debug/pipelinez").await;
    assert_eq!(status, 200);
    assert!(body.contains("<title>builtPipelines</title>"));
    assert!(
        body.contains(
            "<tr><td>traces</td><td>traces</td><td>otlp</td>\
         <td>→ resource → batch/&lt;datadog&gt; →</td>\
         <td>datadog<br>datadog/connector (connector)</td></tr>"
        ),
        "{body}"
    );
    assert!(
        body.contains(
            "<tr><td>metrics</td><td>metrics</td><td>datadog/connector (connector)</td><td>→</td>"
        ),
        "{body}"
    );
    ext.shutdown().await;
}

#[tokio::test]
async fn extensionz_and_featurez() {
    let ext = started(ZPagesConfig::default()).await;
    let (_, _, body) = get(&ext, "/debug/extensionz").await;
    assert!(
        body.contains("<tr><td>health_check</td></tr>\n<tr><td>zpages</td></tr>"),
        "{body}"
    );
    let (_, _, body) = get(&ext, "/debug/featurez").await;
    assert!(body.contains(
        "<tr><td>exporter.datadogexporter.DisableAPMStats</td><td>false</td><td>no stats</td></tr>"
    ), "{body}");
    ext.shutdown().await;
}

#[tokio::test]
async fn tracez_is_not_served_and_expvarz_only_when_enabled() {
    let ext = started(ZPagesConfig::default()).await;
    assert_eq!(get(&ext, "/debug/tracez").await.0, 404);
    assert_eq!(get(&ext, "/debug/expvarz").await.0, 404);
    assert_eq!(
        get(&ext, "/debug/servicez/").await.0,
        404,
        "exact paths, as Go's mux"
    );
    ext.shutdown().await;

    let ext = started(ZPagesConfig {
        expvar: ExpvarConfig { enabled: true },
        ..Default::default()
    })
    .await;
    let (status, ct, body) = get(&ext, "/debug/expvarz").await;
    assert_eq!(status, 200);
    assert_eq!(ct, "application/json; charset=utf-8");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    // The test harness's arguments carry nothing to redact: they come back as they are.
    let args: Vec<String> = std::env::args().collect();
    assert_eq!(v["cmdline"], serde_json::json!(args));
    ext.shutdown().await;
}

#[test]
fn config_defaults_and_errors() {
    let cfg: ZPagesConfig = kakehashi_config::decode_yaml("extensions::zpages", "{}").unwrap();
    assert_eq!(cfg.endpoint, "localhost:55679");
    assert!(!cfg.expvar.enabled);
    assert!(cfg.validate().is_empty());
    let cfg: ZPagesConfig = kakehashi_config::decode_yaml(
        "extensions::zpages",
        "endpoint: ''\nexpvar: {enabled: true}\ntls: {cert_file: x}\nread_timeout: 5s\n",
    )
    .unwrap();
    assert_eq!(
        cfg.validate(),
        vec![
            r#""endpoint" is required when using the "zpages" extension"#.to_owned(),
            "tls: not supported yet on the zpages endpoint (only endpoint and expvar are)".into(),
            "read_timeout: not supported yet on the zpages endpoint (only endpoint and expvar are)"
                .into(),
        ]
    );
    let err =
        kakehashi_config::decode_yaml::<ZPagesConfig>("extensions::zpages", "expvar: {on: 1}")
            .unwrap_err()
            .to_string();
    assert!(err.contains("on"), "{err}");
}
