//! The debug and nop configs decode from YAML through their factories.

use kakehashi_component::{config_as, FactoryInfo};
use kakehashi_config::{load, ConfigSource, ProcessEnv};
use kakehashi_exporter_debug::{DebugConfig, DebugExporterFactory, NopExporterFactory};

fn node(yaml: &str) -> kakehashi_config::Node {
    let src = ConfigSource::Inline {
        name: "test".into(),
        yaml: yaml.into(),
    };
    load(&[src], &[], &ProcessEnv).expect("valid yaml")
}

#[test]
fn debug_yaml() {
    let f = DebugExporterFactory;
    let any = f
        .decode(
            &node("verbosity: detailed\nsampling_initial: 5\n"),
            "exporters::debug",
        )
        .unwrap();
    let cfg = config_as::<DebugConfig>(&any);
    assert_eq!(cfg.sampling_initial, 5);
    assert_eq!(cfg.sampling_thereafter, 1);
    let err = f
        .decode(&node("verbosity: loud\n"), "exporters::debug")
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .contains("verbosity level \"loud\" is not supported"),
        "{err}"
    );
}

#[test]
fn nop_has_no_keys() {
    let f = NopExporterFactory;
    assert!(f.decode(&node(""), "exporters::nop").is_ok());
    assert!(f.decode(&node("foo: 1\n"), "exporters::nop").is_err());
}
