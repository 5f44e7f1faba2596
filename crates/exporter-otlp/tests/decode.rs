//! The configs decode from YAML through the factories (otelcol key names and defaults).

use kakehashi_component::{config_as, FactoryInfo};
use kakehashi_config::{load, ConfigSource, ProcessEnv};
use kakehashi_exporter_otlp::{
    OtlpGrpcConfig, OtlpGrpcExporterFactory, OtlpHttpConfig, OtlpHttpExporterFactory,
};

fn node(yaml: &str) -> kakehashi_config::Node {
    let src = ConfigSource::Inline {
        name: "test".into(),
        yaml: yaml.into(),
    };
    load(&[src], &[], &ProcessEnv).expect("valid yaml")
}

#[test]
fn grpc_yaml() {
    let n = node(
        "endpoint: dns:///collector:4317\ntls:\n  insecure: true\ncompression: zstd\n\
         headers:\n  api-key: abc\nkeepalive:\n  time: 20s\nbalancer_name: pick_first\n\
         timeout: 2s\nretry_on_failure:\n  enabled: false\nsending_queue:\n  queue_size: 10\n",
    );
    let f = OtlpGrpcExporterFactory;
    assert_eq!((f.type_name(), f.aliases()), ("otlp_grpc", &["otlp"][..]));
    let any = f.decode(&n, "exporters::otlp").unwrap();
    let cfg = config_as::<OtlpGrpcConfig>(&any);
    assert!(cfg.tls.insecure);
    assert_eq!(cfg.headers["api-key"].expose(), "abc");
    assert_eq!(cfg.keepalive.as_ref().unwrap().timeout.get().as_secs(), 10);
    // otelcol's newer list form of the same pairs (configopaque.MapList).
    let list = node(
        "endpoint: collector:4317
headers:
  - name: api-key
    value: abc
  - name: x-team
    value: shop
",
    );
    let any = f.decode(&list, "exporters::otlp").unwrap();
    let cfg_list = config_as::<OtlpGrpcConfig>(&any);
    assert_eq!(cfg_list.headers["api-key"].expose(), "abc");
    assert_eq!(cfg_list.headers["x-team"].expose(), "shop");
    let dup = node(
        "endpoint: collector:4317
headers:
  - name: a
    value: '1'
  - name: a
    value: '2'
",
    );
    let err = f.decode(&dup, "exporters::otlp").err().unwrap();
    assert!(
        err.to_string()
            .contains("duplicate keys in map-style list: [a]"),
        "{err}"
    );
    // The values are secrets even in error messages.
    assert!(!err.to_string().contains("s3cr3t"), "{err}");
    assert_eq!(cfg.sending_queue.queue_size, 10);
    assert!(!cfg.retry_on_failure.enabled);

    let err = f
        .decode(&node("compression: gzip\n"), "exporters::otlp")
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .contains("requires a non-empty \"endpoint\""),
        "{err}"
    );
}

#[test]
fn http_yaml() {
    let n = node("endpoint: http://x:4318\nencoding: json\ncompression_params:\n  level: 9\n");
    let f = OtlpHttpExporterFactory;
    assert_eq!(
        (f.type_name(), f.aliases()),
        ("otlp_http", &["otlphttp"][..])
    );
    let any = f.decode(&n, "exporters::otlphttp").unwrap();
    let cfg = config_as::<OtlpHttpConfig>(&any);
    assert_eq!(cfg.encoding, "json");
    assert_eq!(cfg.compression_params.level, 9);
    let err = f
        .decode(&node("encoding: xml\n"), "exporters::otlphttp")
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(
        text.contains("at least one endpoint must be specified"),
        "{text}"
    );
    assert!(text.contains("invalid encoding type: xml"), "{text}");
}

/// TLS versions the gRPC channel cannot narrow to are an error, not a silent difference.
#[test]
fn grpc_tls_versions_it_cannot_honour_are_errors() {
    let f = OtlpGrpcExporterFactory;
    let errors = |tls: &str| {
        let yaml = format!("endpoint: collector:4317\ntls:\n{tls}");
        match f.decode(&node(&yaml), "exporters::otlp") {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    };
    assert_eq!(
        errors("  min_version: \"1.2\"\n  max_version: \"1.3\"\n"),
        ""
    );
    for tls in ["  min_version: \"1.3\"\n", "  max_version: \"1.2\"\n"] {
        assert!(
            errors(tls).contains("narrowing that is not supported yet"),
            "{tls}"
        );
    }
}
