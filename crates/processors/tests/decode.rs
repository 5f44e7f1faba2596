//! The configs decode from YAML with otelcol's keys (end to end through kakehashi-config).

use kakehashi_component::{config_as, FactoryInfo};
use kakehashi_config::{load, ConfigSource, ProcessEnv};
use kakehashi_processors::{
    BatchConfig, BatchProcessorFactory, MemoryLimiterProcessorFactory, ResourceConfig,
    ResourceProcessorFactory,
};

const SEED: &str = r#"
processors:
  batch/datadog: {send_batch_size: 10, send_batch_max_size: 100, timeout: 20s}
  resource: {attributes: [{key: service.name, action: insert, value: vote-app}, {key: env, action: insert, value: staging}]}
  memory_limiter: {limit_mib: 100}
"#;

#[test]
fn seed_processors_decode() {
    let src = ConfigSource::Inline {
        name: "seed".into(),
        yaml: SEED.into(),
    };
    let root = load(&[src], &[], &ProcessEnv).expect("load");
    let procs = root.get("processors").expect("processors");

    let node = procs.get("batch/datadog").expect("batch");
    let cfg = BatchProcessorFactory
        .decode(node, "processors::batch/datadog")
        .expect("batch decodes");
    let b = config_as::<BatchConfig>(&cfg);
    assert_eq!((b.send_batch_size, b.send_batch_max_size), (10, 100));
    assert_eq!(b.timeout.get(), std::time::Duration::from_secs(20));
    assert_eq!(b.metadata_cardinality_limit, 1000);

    let node = procs.get("resource").expect("resource");
    let cfg = ResourceProcessorFactory
        .decode(node, "processors::resource")
        .expect("resource decodes");
    assert_eq!(config_as::<ResourceConfig>(&cfg).attributes.len(), 2);

    let node = procs.get("memory_limiter").expect("memory_limiter");
    let err = MemoryLimiterProcessorFactory
        .decode(node, "processors::memory_limiter")
        .expect_err("check_interval missing");
    assert!(
        err.to_string()
            .contains("'check_interval' must be greater than zero"),
        "{err}"
    );
}
