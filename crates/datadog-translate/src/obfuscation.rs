//! The obfuscation otelcol-contrib's datadog exporter applies, which is not the Datadog Agent's.
//!
//! The exporter configures its embedded trace-agent with `traceconfig.New()` and never loads an
//! Agent `datadog.yaml`, so its `ObfuscationConfig` is Go's zero value. The Agent's defaults
//! (credit-card scan of every meta value; redis, valkey and memcached commands; MongoDB,
//! Elasticsearch and OpenSearch bodies) are switched on by the Agent's config loading, which
//! libdatadog's `ObfuscationConfig::default()` mirrors. What the exporter does anyway, whatever
//! the configuration: SQL obfuscation of `sql`/`cassandra` resources (and `sql.query`), redis and
//! valkey resources quantized to the command, userinfo removed from `http.url`.
//!
//! Beyond libdatadog, as the current agent: a SQL span's `db.statement` and `db.query.text`
//! are obfuscated with its resource, so the query's literals do not reach Datadog in meta.

use crate::model;
use crate::sql_cache::SqlCache;
use libdd_trace_obfuscation::http::obfuscate_url_string;
use libdd_trace_obfuscation::json::JsonObfuscator;
use libdd_trace_obfuscation::memcached::obfuscate_memcached_string;
use libdd_trace_obfuscation::obfuscate::obfuscate_pb_span;
use libdd_trace_obfuscation::obfuscation_config::{
    CreditCardConfig, JsonObfuscatorConfig, MemcachedConfig, ObfuscationConfig, RedisConfig,
};
use libdd_trace_obfuscation::redis::{
    obfuscate_redis_string, quantize_redis_string, remove_all_redis_args,
};
use libdd_trace_protobuf::pb;

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

/// libdatadog's `obfuscate_pb_span` on our span type, with the SQL step answered by `cache`.
///
/// The steps a span type selects (URL, SQL, Redis/Valkey, Memcached) call the same libdatadog
/// functions `obfuscate_pb_span` calls, on the same meta entries. When a step reads every meta
/// value (credit-card scan, tag replace rules) or the span is one of the JSON-body types, the span
/// goes through `obfuscate_pb_span` itself, converted to `pb::Span` and back: those are off in
/// the exporter's configuration, so the conversion's cost is paid only where someone asked for
/// them. The differential test below holds the two paths to the same output.
pub(crate) fn obfuscate_span(span: &mut model::Span, config: &ObfuscationConfig, cache: &SqlCache) {
    if config.credit_cards.enabled
        || !config.tag_replace_rules.is_empty()
        || matches!(
            span.r#type.as_str(),
            "elasticsearch" | "opensearch" | "mongodb"
        )
    {
        let raw = span.resource.clone();
        let mut whole = pb::Span::from(std::mem::take(span));
        obfuscate_pb_span(&mut whole, config);
        *span = whole.into();
        if is_sql(span) && !raw.is_empty() {
            let obfuscated = span.resource.clone();
            obfuscate_query_attributes(span, &raw, &obfuscated, config, cache);
        }
        return;
    }
    match span.r#type.as_str() {
        "web" | "http" => {
            if let Some(url) = span.meta.get_mut("http.url") {
                *url = obfuscate_url_string(
                    url,
                    config.http.remove_query_string,
                    config.http.remove_path_digits,
                )
                .into();
            }
        }
        "memcached" if config.memcached.enabled => {
            if let Some(cmd) = span.meta.get_mut("memcached.command") {
                *cmd = if config.memcached.keep_command {
                    obfuscate_memcached_string(cmd).into()
                } else {
                    model::Str::default()
                };
            }
        }
        "redis" => redis_like(span, &config.redis, "redis.raw_command"),
        "valkey" => redis_like(span, &config.valkey, "valkey.raw_command"),
        "sql" | "cassandra" if !span.resource.is_empty() => {
            let db_type = span.meta.get("db.type").map(model::Str::as_str);
            let obfuscated: model::Str =
                cache.obfuscate(&span.resource, db_type, &config.sql).into();
            let raw = std::mem::replace(&mut span.resource, obfuscated.clone());
            obfuscate_query_attributes(span, &raw, &obfuscated, config, cache);
            span.meta.insert("sql.query".into(), obfuscated);
        }
        _ => {}
    }
}

fn is_sql(span: &model::Span) -> bool {
    matches!(span.r#type.as_str(), "sql" | "cassandra")
}

/// The OpenTelemetry attributes that carry a SQL span's query (semconv's old and new name).
const QUERY_ATTRIBUTES: [&str; 2] = ["db.statement", "db.query.text"];

/// The agent's step for the query attributes of a SQL span whose resource `raw` became
/// `obfuscated`: one equal to the resource takes its result, another is obfuscated on its own
/// (`Non-parsable SQL query` when that fails), so no raw query is kept.
fn obfuscate_query_attributes(
    span: &mut model::Span,
    raw: &str,
    obfuscated: &model::Str,
    config: &ObfuscationConfig,
    cache: &SqlCache,
) {
    for key in QUERY_ATTRIBUTES {
        let Some(value) = span.meta.get(key).filter(|v| !v.is_empty()) else {
            continue;
        };
        let replaced = if value == raw {
            obfuscated.clone()
        } else {
            let db_type = span.meta.get("db.type").map(model::Str::as_str);
            cache.obfuscate(value, db_type, &config.sql).into()
        };
        span.meta.insert(key.into(), replaced);
    }
}

/// The Redis and Valkey steps: resource quantized to the command, raw command obfuscated.
fn redis_like(span: &mut model::Span, config: &RedisConfig, raw_command_key: &str) {
    span.resource = quantize_redis_string(&span.resource).into();
    if config.enabled {
        if let Some(cmd) = span.meta.get_mut(raw_command_key) {
            *cmd = if config.remove_all_args {
                remove_all_redis_args(cmd).into()
            } else {
                obfuscate_redis_string(cmd).into()
            };
        }
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

    /// The query attributes of a SQL span leave with the resource's obfuscation, or their own,
    /// on both of our paths; other span types keep them.
    #[test]
    fn the_query_attributes_of_sql_spans_are_obfuscated() {
        let raw = "SELECT * FROM t WHERE id = 42";
        let meta = [
            ("db.statement", raw),
            ("db.query.text", "SELECT name FROM u WHERE email = 'a@b.c'"),
            ("db.type", "postgresql"),
        ];
        let mut with_scan = exporter_obfuscation();
        with_scan.credit_cards.enabled = true;
        let cache = SqlCache::default();
        for config in [&exporter_obfuscation(), &with_scan] {
            let mut sql = model::Span::from(span("sql", raw, &meta));
            obfuscate_span(&mut sql, config, &cache);
            assert_eq!(sql.resource, "SELECT * FROM t WHERE id = ?");
            assert_eq!(sql.meta["db.statement"], "SELECT * FROM t WHERE id = ?");
            assert_eq!(sql.meta["sql.query"], "SELECT * FROM t WHERE id = ?");
            assert_eq!(
                sql.meta["db.query.text"],
                "SELECT name FROM u WHERE email = ?"
            );
            let mut custom = model::Span::from(span("custom", raw, &meta));
            obfuscate_span(&mut custom, config, &cache);
            assert_eq!(custom.meta["db.statement"], raw);
        }
        // What cannot be obfuscated is not kept as sent either: an attribute of its own, or
        // one equal to a resource that fails (Go's released code keeps those as sent).
        let mut sql = model::Span::from(span("cassandra", "SELECT 1", &[("db.statement", " ")]));
        obfuscate_span(&mut sql, &exporter_obfuscation(), &cache);
        assert_eq!(sql.meta["db.statement"], "Non-parsable SQL query");
        let comment = "/* no query */";
        let mut sql = model::Span::from(span("sql", comment, &[("db.query.text", comment)]));
        obfuscate_span(&mut sql, &exporter_obfuscation(), &cache);
        assert_eq!(sql.resource, "Non-parsable SQL query");
        assert_eq!(sql.meta["db.query.text"], "Non-parsable SQL query");
    }

    /// Our dispatch against libdatadog's `obfuscate_pb_span` over every span type it treats,
    /// the exporter's configuration and the Agent's (which switches on every step).
    #[test]
    fn obfuscate_span_gives_libdatadogs_span() {
        use libdd_trace_obfuscation::replacer::parse_rules_from_string;
        let meta = [
            ("http.url", "http://u:p@example.com/users/42?token=abc"),
            ("redis.raw_command", "SET key value\nGET key"),
            ("valkey.raw_command", "AUTH secret"),
            ("memcached.command", "set k 0 60 5\r\nvalue"),
            ("mongodb.query", r#"{"user":"alice"}"#),
            (
                "elasticsearch.body",
                r#"{"query":{"term":{"user":"alice"}}}"#,
            ),
            ("opensearch.body", r#"{"query":{"term":{"user":"alice"}}}"#),
            ("db.type", "postgresql"),
            ("card", "4111 1111 1111 1111"),
        ];
        let kinds = [
            "web",
            "http",
            "sql",
            "cassandra",
            "redis",
            "valkey",
            "memcached",
            "mongodb",
            "elasticsearch",
            "opensearch",
            "custom",
            "",
        ];
        let resources = ["SELECT * FROM t WHERE id = 42", "SET key value", ""];
        // The Agent's defaults scan for credit cards, so they take the `pb::Span` path; the same
        // without the scan takes ours with every step on.
        let agent = ObfuscationConfig::default();
        let mut every_step = ObfuscationConfig::default();
        every_step.credit_cards.enabled = false;
        every_step.http.remove_query_string = true;
        every_step.http.remove_path_digits = true;
        let mut remove_all = ObfuscationConfig::default();
        remove_all.redis.remove_all_args = true;
        remove_all.valkey.remove_all_args = true;
        remove_all.memcached.keep_command = true;
        remove_all.credit_cards.enabled = false;
        let mut rules = exporter_obfuscation();
        rules.tag_replace_rules =
            parse_rules_from_string(r#"[{"name": "*", "pattern": "a", "repl": "A"}]"#)
                .expect("rules");
        let cache = SqlCache::default();
        for config in [
            &exporter_obfuscation(),
            &agent,
            &every_step,
            &remove_all,
            &rules,
        ] {
            for kind in kinds {
                for resource in resources {
                    for with_meta in [true, false] {
                        let pairs: &[(&str, &str)] = if with_meta { &meta } else { &[] };
                        let mut theirs = span(kind, resource, pairs);
                        let mut ours = model::Span::from(theirs.clone());
                        obfuscate_span(&mut ours, config, &cache);
                        obfuscate_pb_span(&mut theirs, config);
                        assert_eq!(pb::Span::from(ours), theirs, "{kind} {resource:?}");
                    }
                }
            }
        }
    }
}
