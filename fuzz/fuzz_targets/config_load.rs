//! Config text → `kakehashi_config::load` (YAML with positions, merge, `${env:...}` expansion)
//! → `kakehashi_pipeline::resolve` with every built-in component, as `kakehashi validate` does.
//! The environment is a fixed map whose values themselves contain references, so expansion
//! paths (recursion, collections, defaults) are reachable.
#![no_main]

use kakehashi_config::{load, ConfigSource};
use kakehashi_pipeline::{resolve, Factories};
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;
use std::sync::OnceLock;

/// The collector's own component list (the binary crate's module, included rather than copied
/// so that a component added there is fuzzed here too).
#[path = "../../crates/collector/src/components.rs"]
#[allow(dead_code)]
mod components;

fn factories() -> &'static Factories {
    static F: OnceLock<Factories> = OnceLock::new();
    F.get_or_init(components::factories)
}

fn env() -> HashMap<String, String> {
    [
        ("A", "${env:A}"),
        ("B", "${env:C}${env:C}"),
        ("C", "- ${env:B}\n- x"),
        ("M", "k: ${env:M}"),
        ("EP", "127.0.0.1:4317"),
        ("KEY", "0123456789abcdef0123456789abcdef"),
        ("E", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let source = ConfigSource::Inline {
        name: "fuzz.yaml".into(),
        yaml: text.to_owned(),
    };
    if let Ok(root) = load(&[source], &[], &env()) {
        let _ = resolve(&root, factories());
    }
});
