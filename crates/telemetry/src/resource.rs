//! `service.telemetry.resource`: attributes that describe the collector itself. As on otelcol's
//! Prometheus endpoint, every series carries them as labels (dots become underscores:
//! `service_name`, `service_version`, `service_instance_id`), and `target_info` lists them.
//! By default they are `service.name` (`kakehashi`), `service.version` and a
//! `service.instance.id` made once per process; a key set in the config replaces a default, and
//! a key set to `null` removes it (otelcol's `map[string]*string`).

use kakehashi_config::AnyValue;
use std::collections::BTreeMap;

/// `service.name` unless configured: this collector's command, as otelcol uses its own
/// (`otelcol-contrib`). Dashboards that filter on otelcol's name can set it in the config.
pub const SERVICE_NAME: &str = "kakehashi";

/// This process's `service.instance.id`: a random UUID made on first use, kept across config
/// reloads (the process is the instance).
pub fn instance_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| uuid::Uuid::new_v4().to_string())
}

/// Config errors: a value must be a scalar or null.
pub fn check(cfg: &BTreeMap<String, AnyValue>) -> Vec<String> {
    cfg.iter()
        .filter(|(_, v)| matches!(v, AnyValue::List(_) | AnyValue::Map(_)))
        .map(|(k, _)| {
            format!("resource::{k}: a resource attribute is a string (or null to remove it)")
        })
        .collect()
}

/// The resource's labels, sorted by label name, with `instance_id` as the default
/// `service.instance.id`.
pub fn labels(cfg: &BTreeMap<String, AnyValue>, instance_id: &str) -> Vec<(String, String)> {
    let mut labels: Vec<(String, String)> = attributes(cfg, instance_id)
        .into_iter()
        .map(|(k, v)| (label_name(&k), v))
        .collect();
    labels.sort();
    labels.dedup_by(|a, b| a.0 == b.0);
    labels
}

/// The resource's attributes by key (sorted), with `instance_id` as the default
/// `service.instance.id`: what every log line carries under `resource`, as otelcol's do.
pub fn attributes(cfg: &BTreeMap<String, AnyValue>, instance_id: &str) -> Vec<(String, String)> {
    let mut attrs: BTreeMap<String, Option<String>> = BTreeMap::from([
        ("service.name".to_owned(), Some(SERVICE_NAME.to_owned())),
        (
            "service.version".to_owned(),
            Some(env!("CARGO_PKG_VERSION").to_owned()),
        ),
        (
            "service.instance.id".to_owned(),
            Some(instance_id.to_owned()),
        ),
    ]);
    for (k, v) in cfg {
        let value = match v {
            AnyValue::Null => None,
            AnyValue::Bool(b) => Some(b.to_string()),
            AnyValue::Int(i) => Some(i.to_string()),
            AnyValue::Float(f) => Some(f.to_string()),
            AnyValue::Str(s) => Some(s.clone()),
            // Refused by `check`.
            AnyValue::List(_) | AnyValue::Map(_) => continue,
        };
        attrs.insert(k.clone(), value);
    }
    attrs
        .into_iter()
        .filter_map(|(k, v)| Some((k, v?)))
        .collect()
}

/// A Prometheus label name for an attribute key, as OpenTelemetry's Prometheus exporter makes
/// it: every character outside `[A-Za-z0-9_]` becomes `_`, and a leading digit gets a `_`.
fn label_name(key: &str) -> String {
    let mut name: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_overrides_removals_and_label_names() {
        let cfg = BTreeMap::from([
            (
                "service.name".to_owned(),
                AnyValue::Str("otelcol-contrib".into()),
            ),
            ("service.version".to_owned(), AnyValue::Null),
            (
                "k8s.pod.name".to_owned(),
                AnyValue::Str("kakehashi-0".into()),
            ),
            ("9lives".to_owned(), AnyValue::Int(9)),
        ]);
        let got = labels(&cfg, "abc");
        let want: Vec<(String, String)> = [
            ("_9lives", "9"),
            ("k8s_pod_name", "kakehashi-0"),
            ("service_instance_id", "abc"),
            ("service_name", "otelcol-contrib"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn defaults_alone() {
        let got = labels(&BTreeMap::new(), "id-1");
        assert_eq!(
            got,
            vec![
                ("service_instance_id".into(), "id-1".into()),
                ("service_name".into(), "kakehashi".into()),
                ("service_version".into(), env!("CARGO_PKG_VERSION").into()),
            ]
        );
    }

    #[test]
    fn only_scalars_and_null() {
        let cfg = BTreeMap::from([
            ("ok".to_owned(), AnyValue::Bool(true)),
            ("bad".to_owned(), AnyValue::List(vec![])),
        ]);
        assert_eq!(
            check(&cfg),
            vec!["resource::bad: a resource attribute is a string (or null to remove it)"]
        );
    }

    #[test]
    fn attributes_keep_their_dotted_keys_for_log_lines() {
        let cfg = BTreeMap::from([
            ("service.version".to_string(), AnyValue::Null),
            (
                "k8s.pod.name".to_string(),
                AnyValue::Str("collector-0".into()),
            ),
        ]);
        assert_eq!(
            attributes(&cfg, "id-1"),
            vec![
                ("k8s.pod.name".to_string(), "collector-0".to_string()),
                ("service.instance.id".to_string(), "id-1".to_string()),
                ("service.name".to_string(), "kakehashi".to_string()),
            ]
        );
    }
}
