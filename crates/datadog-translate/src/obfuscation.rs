//! The obfuscation otelcol-contrib's datadog exporter applies, which is not the Datadog Agent's.
//!
//! The exporter configures its embedded trace-agent with `traceconfig.New()` and never loads an
//! Agent `datadog.yaml`, so its `ObfuscationConfig` is Go's zero value. The Agent's defaults
//! (credit-card scan of every meta value; redis, valkey and memcached commands; MongoDB,
//! Elasticsearch and OpenSearch bodies) are switched on by the Agent's config loading, which
//! libdatadog's `ObfuscationConfig::default()` mirrors. What the exporter does anyway, whatever
//! the configuration: SQL obfuscation of `sql`/`cassandra` resources (and `sql.query`), redis and
//! valkey resources quantized to the command, userinfo removed from `http.url`.

use libdd_trace_obfuscation::json::JsonObfuscator;
use libdd_trace_obfuscation::obfuscation_config::{
    CreditCardConfig, JsonObfuscatorConfig, MemcachedConfig, ObfuscationConfig, RedisConfig,
};

/// The exporter's obfuscation: Go's zero `ObfuscationConfig`.
pub fn exporter_obfuscation() -> ObfuscationConfig {
    let off = || JsonObfuscator::new(JsonObfuscatorConfig::disabled());
    let redis_off = RedisConfig {
        enabled: false,
        remove_all_args: false,
    };
    ObfuscationConfig {
        credit_cards: CreditCardConfig {
            enabled: false,
            luhn: false,
            keep_values: Default::default(),
        },
        redis: redis_off.clone(),
        valkey: redis_off,
        memcached: MemcachedConfig {
            enabled: false,
            keep_command: false,
        },
        elasticsearch: off(),
        opensearch: off(),
        mongodb: off(),
        // HTTP: neither option set (the Agent's default too); SQL: no feature flags, as the
        // exporter sets none; no tag replace rules.
        ..ObfuscationConfig::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libdd_trace_obfuscation::obfuscate::obfuscate_pb_span;
    use libdd_trace_protobuf::pb;
    use std::collections::HashMap;

    fn span(kind: &str, resource: &str, meta: &[(&str, &str)]) -> pb::Span {
        pb::Span {
            r#type: kind.into(),
            resource: resource.into(),
            meta: meta
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>(),
            ..Default::default()
        }
    }

    fn obfuscated(mut s: pb::Span) -> pb::Span {
        obfuscate_pb_span(&mut s, &exporter_obfuscation());
        s
    }

    #[test]
    fn what_the_agent_would_redact_is_kept() {
        let cases = [
            ("custom", "card.number", "4111 1111 1111 1111"),
            ("redis", "redis.raw_command", "SET key value"),
            ("valkey", "valkey.raw_command", "SET key value"),
            ("memcached", "memcached.command", "set k 0 60 5\r\nvalue"),
            ("mongodb", "mongodb.query", r#"{"user":"alice"}"#),
            (
                "elasticsearch",
                "elasticsearch.body",
                r#"{"query":{"term":{"user":"alice"}}}"#,
            ),
            (
                "opensearch",
                "opensearch.body",
                r#"{"query":{"term":{"user":"alice"}}}"#,
            ),
        ];
        for (kind, key, value) in cases {
            let out = obfuscated(span(kind, "", &[(key, value)]));
            assert_eq!(out.meta[key], value, "{kind} {key}");
        }
        // The Agent's own defaults would have redacted each of them.
        for (kind, key, value) in cases {
            let mut s = span(kind, "", &[(key, value)]);
            obfuscate_pb_span(&mut s, &ObfuscationConfig::default());
            assert_ne!(s.meta[key], value, "agent default, {kind} {key}");
        }
    }

    #[test]
    fn what_the_exporter_always_does_still_happens() {
        let sql = obfuscated(span("sql", "SELECT * FROM t WHERE id = 42", &[]));
        assert_eq!(sql.resource, "SELECT * FROM t WHERE id = ?");
        assert_eq!(sql.meta["sql.query"], "SELECT * FROM t WHERE id = ?");

        let redis = obfuscated(span("redis", "SET key value", &[]));
        assert_eq!(redis.resource, "SET");

        let http = obfuscated(span(
            "http",
            "",
            &[("http.url", "http://u:p@example.com/a/1?q=2")],
        ));
        assert_eq!(http.meta["http.url"], "http://example.com/a/1?q=2");
    }
}
