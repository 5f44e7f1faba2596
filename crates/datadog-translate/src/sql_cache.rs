//! SQL obfuscation results kept across requests: a service sends the same few statements again
//! and again, and obfuscating one (libdatadog's SQL tokenizer) costs ~30,000 instructions, a
//! third of translating the `datadog` bench's request. The Datadog Agent keeps such a cache too
//! (`apm_config.obfuscation.cache`); the result is a function of the statement, its `db.type`
//! and the SQL settings, so a cached one is exactly what obfuscating again would give.

use libdd_trace_obfuscation::obfuscation_config::{DbmsKind, SqlConfig};
use libdd_trace_obfuscation::sql::obfuscate_sql_resource;
use std::collections::HashMap;
use std::sync::Mutex;

/// Bytes of statements and results kept before the cache starts over.
const MAX_BYTES: usize = 4 << 20;
/// Longer statements are not kept (one would push out many common ones).
const MAX_ENTRY_BYTES: usize = 64 << 10;
/// What an entry costs besides its strings (the map's slot, the vector, three `String`s), so
/// that many short statements stay within [`MAX_BYTES`] too.
const ENTRY_OVERHEAD: usize = 128;

/// Obfuscated SQL by statement and `db.type`, shared by the translations of one exporter.
#[derive(Default)]
pub struct SqlCache {
    inner: Mutex<Inner>,
}

/// Sizes only: the statements are the application's queries as sent, literals and all, and
/// have no place in a configuration dump or a log line.
impl std::fmt::Debug for SqlCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f.debug_struct("SqlCache")
            .field("statements", &inner.by_statement.len())
            .field("bytes", &inner.bytes)
            .finish()
    }
}

#[derive(Default)]
struct Inner {
    /// The settings the results were made with.
    config: SqlConfig,
    /// Statement → (`db.type`, result).
    by_statement: HashMap<String, Vec<(Option<String>, String)>>,
    bytes: usize,
}

impl Inner {
    fn get(&self, statement: &str, db_type: Option<&str>) -> Option<String> {
        self.by_statement
            .get(statement)?
            .iter()
            .find(|(t, _)| t.as_deref() == db_type)
            .map(|(_, result)| result.clone())
    }
}

impl SqlCache {
    /// libdatadog's `obfuscate_sql_resource` for `statement`, from the cache when it has been
    /// obfuscated before with the same `db.type` and settings.
    pub(crate) fn obfuscate(
        &self,
        statement: &str,
        db_type: Option<&str>,
        config: &SqlConfig,
    ) -> String {
        {
            let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            if inner.config == *config {
                if let Some(result) = inner.get(statement, db_type) {
                    return result;
                }
            }
        }
        let dbms = db_type
            .and_then(|t| DbmsKind::try_from(t).ok())
            .unwrap_or_default();
        let result = obfuscate_sql_resource(statement, config, dbms);
        let size = ENTRY_OVERHEAD + statement.len() + result.len() + db_type.map_or(0, str::len);
        if size <= MAX_ENTRY_BYTES {
            let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            if inner.config != *config || inner.bytes + size > MAX_BYTES {
                *inner = Inner {
                    config: config.clone(),
                    ..Inner::default()
                };
            }
            if inner.get(statement, db_type).is_none() {
                inner.bytes += size;
                inner
                    .by_statement
                    .entry(statement.to_string())
                    .or_default()
                    .push((db_type.map(str::to_string), result.clone()));
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model;
    use crate::obfuscation::{exporter_obfuscation, obfuscate_span};
    use libdd_trace_obfuscation::obfuscate::obfuscate_pb_span;
    use libdd_trace_obfuscation::obfuscation_config::ObfuscationConfig;
    use libdd_trace_obfuscation::replacer::parse_rules_from_string;
    use libdd_trace_protobuf::pb;

    fn span(kind: &str, resource: &str, db_type: Option<&str>) -> pb::Span {
        let mut meta: HashMap<String, String> = [("span.kind", "client"), ("peer.service", "db")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if let Some(t) = db_type {
            meta.insert("db.type".into(), t.into());
        }
        pb::Span {
            r#type: kind.into(),
            resource: resource.into(),
            meta,
            ..Default::default()
        }
    }

    /// `obfuscate_span` on the span as ours, and libdatadog's `obfuscate_pb_span` on it.
    fn both(
        theirs: pb::Span,
        config: &ObfuscationConfig,
        cache: &SqlCache,
    ) -> (pb::Span, pb::Span) {
        let mut ours = model::Span::from(theirs.clone());
        obfuscate_span(&mut ours, config, cache);
        let mut theirs = theirs;
        obfuscate_pb_span(&mut theirs, config);
        (ours.into(), theirs)
    }

    #[test]
    fn the_same_spans_as_libdatadog_first_time_and_from_the_cache() {
        let statements = [
            "SELECT * FROM t WHERE id = 42",
            "select name from users where email = 'a@b.c' and age > 30",
            "SELECT \"Id\" FROM [dbo].[T] WHERE x = @p1",
            "SELECT $1, $$quoted$$ FROM t",
            "   ",
            "UPDATE t SET a = 1; -- trailing",
            "",
            "not sql at all ((",
        ];
        let kinds = ["sql", "cassandra", "web", "redis"];
        let db_types = [
            None,
            Some("postgresql"),
            Some("MSSQL"),
            Some("mysql"),
            Some("unknown"),
        ];
        let mut sql_config = exporter_obfuscation();
        let mut other = exporter_obfuscation();
        other.sql.replace_digits = true;
        other.sql.keep_sql_alias = true;
        let cache = SqlCache::default();
        let mut hits = 0;
        for config in [&mut sql_config, &mut other] {
            for round in 0..2 {
                for statement in statements {
                    for kind in kinds {
                        for db_type in db_types {
                            let (ours, theirs) =
                                both(span(kind, statement, db_type), config, &cache);
                            assert_eq!(ours, theirs, "{kind} {statement:?} {db_type:?}");
                            hits += round;
                        }
                    }
                }
            }
        }
        assert!(hits > 0);
        assert!(!cache.inner.lock().unwrap().by_statement.is_empty());
    }

    #[test]
    fn steps_that_read_every_value_keep_libdatadogs_order() {
        let mut config = exporter_obfuscation();
        config.tag_replace_rules =
            parse_rules_from_string(r#"[{"name": "*", "pattern": "\\?", "repl": "Q"}]"#)
                .expect("rules");
        let cache = SqlCache::default();
        let (ours, theirs) = both(
            span("sql", "SELECT * FROM t WHERE id = 42", None),
            &config,
            &cache,
        );
        assert_eq!(ours, theirs);
        assert!(cache.inner.lock().unwrap().by_statement.is_empty());
    }

    #[test]
    fn debug_output_shows_no_statement() {
        let cache = SqlCache::default();
        cache.obfuscate(
            "SELECT * FROM users WHERE email = 'jane@example.com'",
            None,
            &SqlConfig::default(),
        );
        let shown = format!("{cache:?}");
        assert!(
            !shown.contains("jane") && !shown.contains("SELECT"),
            "{shown}"
        );
        assert!(shown.contains("statements: 1"), "{shown}");
    }

    #[test]
    fn the_cache_starts_over_when_full_or_for_other_settings() {
        let cache = SqlCache::default();
        let config = SqlConfig::default();
        let long = format!("SELECT {} FROM t", "c, ".repeat(MAX_ENTRY_BYTES / 3));
        cache.obfuscate(&long, None, &config);
        assert_eq!(cache.inner.lock().unwrap().bytes, 0, "too long to keep");
        for i in 0..MAX_BYTES / 1000 {
            cache.obfuscate(
                &format!("SELECT {i} FROM t {}", "x".repeat(500)),
                None,
                &config,
            );
        }
        assert!(cache.inner.lock().unwrap().bytes <= MAX_BYTES);
        let other = SqlConfig {
            replace_digits: true,
            ..SqlConfig::default()
        };
        cache.obfuscate("SELECT 1", None, &other);
        let inner = cache.inner.lock().unwrap();
        assert_eq!(inner.config, other);
        assert_eq!(inner.by_statement.len(), 1);
        assert!(
            inner.bytes > ENTRY_OVERHEAD,
            "an entry's overhead is counted"
        );
    }
}
