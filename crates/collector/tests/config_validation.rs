//! `kakehashi validate` on the shipped examples (must pass) and on a table of broken configs,
//! each a data file under `tests/broken-configs/` whose header says what the error must contain:
//! `# expect: <text>` (every line must appear), `# not-expect: <text>` (must not appear),
//! `# env: NAME=value` (set for that run).

use std::path::{Path, PathBuf};
use std::process::Command;

fn kakehashi() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kakehashi"));
    c.env_remove("RUST_LOG");
    c
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn every_example_config_validates() {
    let dir = workspace().join("config/examples");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let out = kakehashi()
                .arg("validate")
                .arg("--config")
                .arg(&path)
                // Examples take the Datadog API key from the environment, as users should.
                .env("DD_API_KEY", "0123456789abcdef0123456789abcdef")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{} failed:\n{}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(out.stdout.is_empty(), "validate prints nothing on success");
            n += 1;
        }
    }
    assert!(n >= 3, "expected the example configs, found {n}");
}

/// tests/fixtures/seed-collector.yaml: the seed system's config, verbatim (CI has no ../shared).
fn seed_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed-collector.yaml")
}

#[test]
fn seed_fixture_is_the_seed_verbatim() {
    // Where the reference copy exists (a developer machine), the fixture must not drift from it.
    let reference = workspace().join("../shared/examples/seed-collector.yaml");
    if let Ok(seed) = std::fs::read_to_string(&reference) {
        assert_eq!(std::fs::read_to_string(seed_fixture()).unwrap(), seed);
    }
}

#[test]
fn seed_config_runs_once_the_api_key_comes_from_the_environment() {
    let seed = std::fs::read_to_string(seed_fixture()).unwrap();
    let fixed = seed.replace("key: \"CHANGE_API_KEY\"", "key: ${env:DD_API_KEY}");
    assert_ne!(seed, fixed);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seed.yaml");
    std::fs::write(&path, fixed).unwrap();
    let out = kakehashi()
        .arg("validate")
        .arg("--config")
        .arg(&path)
        .env("DD_API_KEY", "0123456789abcdef0123456789abcdef")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn seed_config_with_debug_exporter_validates() {
    let seed = std::fs::read_to_string(seed_fixture()).expect("the seed config fixture");
    let swapped = seed.replace(
        "  datadog:\n    api:\n      key: \"CHANGE_API_KEY\"\n      site: \"ap1.datadoghq.com\"",
        "  debug:",
    );
    let swapped = swapped.replace("exporters: [datadog]", "exporters: [debug]");
    assert_ne!(seed, swapped, "the seed's exporter block changed shape");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seed.yaml");
    std::fs::write(&path, swapped).unwrap();
    let out = kakehashi()
        .arg("validate")
        .arg(format!("--config={}", path.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn broken_configs_fail_with_their_expected_errors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/broken-configs");
    let mut failures = Vec::new();
    let mut n = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let text = std::fs::read_to_string(&path).unwrap();
        let header = |tag: &str| -> Vec<String> {
            text.lines()
                .filter_map(|l| l.strip_prefix(&format!("# {tag}: ")))
                .map(str::to_owned)
                .collect()
        };
        let mut cmd = kakehashi();
        for kv in header("env") {
            let (k, v) = kv.split_once('=').unwrap();
            cmd.env(k, v);
        }
        let out = cmd
            .arg("validate")
            .arg("--config")
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if out.status.code() != Some(1) {
            failures.push(format!(
                "{name}: exit {:?}, stderr:\n{stderr}",
                out.status.code()
            ));
        }
        for e in header("expect") {
            if !stderr.contains(&e) {
                failures.push(format!("{name}: missing {e:?} in:\n{stderr}"));
            }
        }
        for e in header("not-expect") {
            if stderr.contains(&e) {
                failures.push(format!("{name}: must not print {e:?}:\n{stderr}"));
            }
        }
        n += 1;
    }
    assert!(n >= 15, "found only {n} cases");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn no_config_flag_is_an_error() {
    let out = kakehashi().output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("at least one config flag must be provided")
    );
}

#[test]
fn set_overrides_and_multiple_configs_merge() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.yaml");
    let b = dir.path().join("b.yaml");
    std::fs::write(&a, "receivers: {otlp: {protocols: {grpc: }}}\nexporters: {nop: }\nprocessors: {batch: {timeout: 1d}}\nservice: {pipelines: {traces: {receivers: [otlp], processors: [batch], exporters: [nop]}}}\n").unwrap();
    std::fs::write(&b, "exporters: {debug: }\n").unwrap();
    // The bad timeout from a.yaml is fixed by --set; b.yaml adds an exporter.
    let out = kakehashi()
        .args(["validate", "--config"])
        .arg(&a)
        .arg("--config")
        .arg(&b)
        .arg("--set=processors.batch.timeout=2s")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = kakehashi()
        .args(["validate", "--config"])
        .arg(&a)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn components_lists_the_built_ins() {
    let out = kakehashi().arg("components").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for name in [
        "otlp",
        "batch",
        "resource",
        "attributes",
        "memory_limiter",
        "otlp_grpc",
        "otlp_http",
        "datadog",
        "debug",
        "nop",
        "health_check",
        "file_storage",
    ] {
        assert!(
            text.contains(&format!("- name: {name}\n")),
            "{name} missing:\n{text}"
        );
    }
    // The old exporter names are listed as aliases.
    assert!(text.contains("aliases: [otlp]"), "{text}");
    assert!(text.contains("aliases: [otlphttp]"), "{text}");
}
