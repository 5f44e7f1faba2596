use super::*;
use kakehashi_config::{decode_yaml, Validate};

fn parse(yaml: &str) -> DatadogConfig {
    decode_yaml::<DatadogConfig>("exporters::datadog", yaml).expect("decodes")
}

fn errors(yaml: &str) -> Vec<String> {
    parse(yaml).validate()
}

const KEY: &str = "api:\n  key: 0123456789abcdef0123456789abcdef\n";

#[test]
fn defaults_match_otelcol() {
    let c = parse(KEY);
    assert_eq!(c.api.site, "datadoghq.com");
    assert!(!c.api.fail_on_invalid_key);
    assert_eq!(c.timeout, Duration::from_secs(15));
    assert!(c.host_metadata.enabled);
    assert_eq!(c.host_metadata.reporter_period, Duration::from_secs(1800));
    assert!(c.traces.compute_stats_by_span_kind);
    assert!(!c.traces.compute_top_level_by_span_kind);
    assert!(c.traces.peer_tags_enabled());
    assert_eq!(c.metrics.delta_ttl, 3600);
    assert_eq!(c.metrics.histograms.mode, "distributions");
    assert_eq!(c.logs.compression_level, 6);
    assert!(c.sending_queue.enabled);
    assert_eq!(c.sending_queue.num_consumers, 10);
    assert!(errors(KEY).is_empty(), "{:?}", errors(KEY));
    assert!(!c.uses_legacy_naming());
}

#[test]
fn every_site_derives_every_endpoint() {
    for site in [
        "datadoghq.com",
        "us3.datadoghq.com",
        "us5.datadoghq.com",
        "datadoghq.eu",
        "ap1.datadoghq.com",
        "ap2.datadoghq.com",
        "ddog-gov.com",
    ] {
        let c = parse(&format!("{KEY}  site: {site}\n"));
        assert_eq!(
            c.endpoints(),
            Endpoints {
                traces: format!("https://trace.agent.{site}"),
                api: format!("https://api.{site}"),
                logs: format!("https://http-intake.logs.{site}"),
            }
        );
    }
}

#[test]
fn explicit_endpoints_override_the_site_and_allow_plain_http() {
    let c = parse(&format!(
        "{KEY}  site: ap1.datadoghq.com\ntraces:\n  endpoint: http://127.0.0.1:8126/\nmetrics:\n  endpoint: http://127.0.0.1:8127\n"
    ));
    let e = c.endpoints();
    assert_eq!(e.traces, "http://127.0.0.1:8126");
    assert_eq!(e.api, "http://127.0.0.1:8127");
    assert_eq!(e.logs, "https://http-intake.logs.ap1.datadoghq.com");
    assert!(c.validate().is_empty());
}

#[test]
fn explicit_empty_endpoint_is_an_error() {
    let errs = errors(&format!("{KEY}traces:\n  endpoint: \"\"\n"));
    assert_eq!(errs, vec!["traces::endpoint: endpoint cannot be empty"]);
}

#[test]
fn api_key_is_trimmed_and_must_be_hex() {
    let c = parse("api:\n  key: \"  abcdef0123  \"\n");
    assert_eq!(c.api_key().expose(), "abcdef0123");
    assert!(c.validate().is_empty());
    assert_eq!(
        errors("api:\n  site: datadoghq.eu\n"),
        vec!["api.key is not set (set it from the environment, e.g. key: ${env:DD_API_KEY})"]
    );
    let errs = errors("api:\n  key: zz-not-hex-secretvalue\n");
    assert_eq!(errs.len(), 1);
    assert!(errs[0].starts_with("api::key contains invalid characters"));
    assert!(!errs[0].contains("secretvalue"), "the key is never echoed");
}

#[test]
fn placeholder_key_says_it_must_be_replaced() {
    let errs = errors("api:\n  key: \"CHANGE_API_KEY\"\n  site: \"ap1.datadoghq.com\"\n");
    assert_eq!(errs.len(), 1);
    assert!(errs[0].contains("placeholder"), "{}", errs[0]);
    assert!(errs[0].contains("${env:DD_API_KEY}"), "{}", errs[0]);
}

#[test]
fn removed_settings_give_otelcol_rename_errors() {
    let errs = errors(&format!(
        "{KEY}tags: [a:b]\nsend_metadata: true\nmetrics:\n  report_quantiles: true\n"
    ));
    assert!(errs.contains(&"\"tags\" was removed in favor of \"host_metadata::tags\". See https://github.com/open-telemetry/opentelemetry-collector-contrib/issues/9099".to_string()), "{errs:?}");
    assert!(errs
        .iter()
        .any(|e| e.starts_with("\"send_metadata\" was removed")));
    assert!(errs
        .iter()
        .any(|e| e.starts_with("\"metrics::report_quantiles\" was removed")));
}

#[test]
fn confighttp_keys_the_exporter_cannot_honour_are_errors() {
    let errs = errors(&format!(
        "{KEY}endpoint: http://x\ncompression: gzip\nheaders:\n  a: b\n"
    ));
    assert_eq!(
        errs,
        vec!["these confighttp client configs are currently not respected by Datadog exporter: endpoint, compression, headers"]
    );
}

#[test]
fn unknown_keys_are_errors() {
    let err = decode_yaml::<DatadogConfig>(
        "exporters::datadog",
        &format!("{KEY}traces:\n  ignore_resource: [x]\n"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("exporters::datadog::traces"), "{err}");
    assert!(err.contains("ignore_resource"), "{err}");
    assert!(err.contains("ignore_resources"), "lists valid keys: {err}");
}

#[test]
fn traces_options_are_validated() {
    let errs = errors(&format!(
        "{KEY}traces:\n  ignore_resources: [\"(GET\"]\n  span_name_remappings:\n    a: \"\"\n  trace_buffer: -1\n"
    ));
    assert_eq!(
        errs,
        vec![
            "'(GET' is not valid resource filter regular expression",
            "'' is not valid value for span name remapping",
            "trace buffer must be non-negative",
        ]
    );
    let c = parse(&format!(
        "{KEY}traces:\n  span_name_as_resource_name: true\n"
    ));
    assert!(c.uses_legacy_naming());
}

#[test]
fn hostname_rules() {
    assert!(valid_hostname("collector-1.example.com").is_ok());
    assert!(valid_hostname("localhost").is_err());
    assert!(valid_hostname("bad_host").is_err());
    assert!(valid_hostname("-x").is_err());
    assert!(valid_hostname(&"a".repeat(256)).is_err());
    let errs = errors(&format!("{KEY}hostname: \"my host\"\n"));
    assert_eq!(
        errs,
        vec!["hostname field is invalid: my host is not RFC1123 compliant"]
    );
}

#[test]
fn metrics_and_host_metadata_settings_are_validated_like_otelcol() {
    let errs = errors(&format!(
        "{KEY}metrics:\n  histograms:\n    mode: nobuckets\n  sums:\n    cumulative_monotonic_mode: raw_value\n    initial_cumulative_monotonic_value: keep\nhost_metadata:\n  reporter_period: 1m\n"
    ));
    assert!(
        errs.iter().any(|e| e.contains("'nobuckets' mode")),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.contains("can only be configured when")),
        "{errs:?}"
    );
    assert!(errs.contains(&"reporter_period must be 5 minutes or higher".to_string()));
}

#[test]
fn runner_never_retries_whole_batches() {
    let c = parse(KEY);
    let s = c.helper_settings();
    assert!(!s.retry.enabled);
    assert!(s.timeout.is_zero());
    assert!(
        c.retry_on_failure.enabled,
        "our own per-payload retry uses it"
    );
}

#[test]
fn debug_output_never_shows_the_key() {
    let c = parse(KEY);
    assert!(!format!("{c:?}").contains("0123456789abcdef"));
}

#[test]
fn renamed_settings_work_alone_and_conflict_together() {
    // The deprecated key still decides when it is the only one set, as in otelcol.
    let c = parse(&format!(
        "{KEY}traces:\n  peer_service_aggregation: false\n"
    ));
    assert!(!c.traces.peer_tags_enabled());
    assert!(errors(&format!(
        "{KEY}traces:\n  peer_service_aggregation: false\n"
    ))
    .is_empty());
    let c = parse(&format!("{KEY}traces:\n  peer_tags_aggregation: false\n"));
    assert!(!c.traces.peer_tags_enabled());
    let both =
        format!("{KEY}traces:\n  peer_service_aggregation: true\n  peer_tags_aggregation: true\n");
    assert_eq!(
        errors(&both),
        vec![
            "\"traces::peer_service_aggregation\" and \"traces::peer_tags_aggregation\" can't be both set at the same time: use \"traces::peer_tags_aggregation\" only instead"
        ]
    );

    let c = parse(&format!(
        "{KEY}metrics:\n  histograms:\n    send_count_sum_metrics: true\n"
    ));
    assert!(c.metrics.histograms.aggregation_metrics_enabled());
    let both = format!(
        "{KEY}metrics:\n  histograms:\n    send_count_sum_metrics: true\n    send_aggregation_metrics: true\n"
    );
    assert_eq!(errors(&both).len(), 1, "{:?}", errors(&both));
    assert!(errors(&both)[0].contains("can't be both set"));
}

#[test]
fn the_keepalive_section_is_accepted_and_not_mixed_with_the_flat_keys() {
    let section = format!("{KEY}keepalive:\n  enabled: false\n  idle_conn_timeout: 30s\n");
    assert!(errors(&section).is_empty(), "{:?}", errors(&section));
    assert!(!parse(&section).keepalive.unwrap().enabled);
    let mixed = format!("{KEY}disable_keep_alives: true\nkeepalive:\n  max_idle_conns: 10\n");
    assert_eq!(errors(&mixed).len(), 1);
    assert!(errors(&mixed)[0].contains("alongside the 'keepalive' section"));
}
