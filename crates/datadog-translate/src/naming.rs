//! Service, operation name, resource and span type of a Datadog span (§2.2–§2.6).
//! V2 naming is the default; V1 (legacy) is used when `span_name_as_resource_name` or
//! `span_name_remappings` is configured or the V2 feature gate is off.

use crate::model::Str;
use crate::normalize::{
    normalize_name, normalize_service_in_place, truncate_utf8, MAX_RESOURCE_LEN,
};
use crate::registry::{self, resource_then_span, Attrs};
use compact_str::format_compact;
use kakehashi_pdata::proto::trace::v1::span::SpanKind;
use std::collections::HashMap;

/// The service used when no `service.name` is set.
pub const DEFAULT_OTLP_SERVICE_NAME: &str = "otlpresourcenoservicename";

/// OTLP span kind as an enum (unknown values behave like Unspecified, as in pdata).
pub(crate) fn kind_of(kind: i32) -> SpanKind {
    SpanKind::try_from(kind).unwrap_or(SpanKind::Unspecified)
}

/// Meta `span.kind` value.
pub(crate) fn kind_name(kind: i32) -> &'static str {
    match kind_of(kind) {
        SpanKind::Unspecified => "unspecified",
        SpanKind::Internal => "internal",
        SpanKind::Server => "server",
        SpanKind::Client => "client",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
    }
}

/// pdata's `SpanKind.String()` of the wire value: `""` for a value no kind has (the
/// OTLP decoder keeps those as they are, so Go names them with the empty string).
fn kind_string(kind: i32) -> &'static str {
    match SpanKind::try_from(kind) {
        Ok(SpanKind::Unspecified) => "Unspecified",
        Ok(SpanKind::Internal) => "Internal",
        Ok(SpanKind::Server) => "Server",
        Ok(SpanKind::Client) => "Client",
        Ok(SpanKind::Producer) => "Producer",
        Ok(SpanKind::Consumer) => "Consumer",
        Err(_) => "",
    }
}

/// §2.2: `service.name` (span, then resource), else `otlpresourcenoservicename`; NormalizeService.
pub(crate) fn service(attrs: Attrs<'_>) -> Str {
    let mut svc = Str::from(attrs.str(registry::SERVICE, false));
    if svc.is_empty() {
        svc = DEFAULT_OTLP_SERVICE_NAME.into();
    }
    // In place: a service that is already normal (nearly all) is not copied again.
    normalize_service_in_place(&mut svc, "");
    svc
}

/// §2.3: V2 operation name (before the agent's NormalizeName).
pub(crate) fn operation_name_v2(raw_kind: i32, attrs: Attrs<'_>) -> Str {
    let op = attrs.str(registry::OPERATION, true);
    if !op.is_empty() {
        return op.into();
    }
    let kind = kind_of(raw_kind);
    let is_client = kind == SpanKind::Client;
    let is_server = kind == SpanKind::Server;

    if !attrs.str(registry::HTTP_METHOD, false).is_empty() {
        if is_server {
            return "http.server.request".into();
        }
        if is_client {
            return "http.client.request".into();
        }
    }
    let db = attrs.str(registry::DB_SYSTEM, true);
    if !db.is_empty() && is_client {
        return format_compact!("{db}.query");
    }
    let system = attrs.str(registry::MESSAGING_SYSTEM, true);
    let op = attrs.str(registry::MESSAGING_OPERATION, true);
    if !system.is_empty()
        && !op.is_empty()
        && kind != SpanKind::Internal
        && kind != SpanKind::Unspecified
    {
        return format_compact!("{system}.{op}");
    }
    let rpc = attrs.str(registry::RPC_SYSTEM, true);
    if rpc == "aws-api" && is_client {
        let svc = attrs.str(registry::RPC_SERVICE, true);
        return if svc.is_empty() {
            "aws.client.request".into()
        } else {
            format_compact!("aws.{svc}.request")
        };
    }
    if !rpc.is_empty() && is_client {
        return format_compact!("{rpc}.client.request");
    }
    if !rpc.is_empty() && is_server {
        return format_compact!("{rpc}.server.request");
    }
    let provider = attrs.str(registry::FAAS_INVOKED_PROVIDER, true);
    let invoked = attrs.str(registry::FAAS_INVOKED_NAME, true);
    if !provider.is_empty() && !invoked.is_empty() && is_client {
        return format_compact!("{provider}.{invoked}.invoke");
    }
    let trigger = attrs.str(registry::FAAS_TRIGGER, true);
    if !trigger.is_empty() && is_server {
        return format_compact!("{trigger}.invoke");
    }
    if !attrs.str(registry::GRAPHQL_OPERATION_TYPE, true).is_empty() {
        return "graphql.server.request".into();
    }
    let protocol = attrs.str(registry::NETWORK_PROTOCOL_NAME, true);
    if is_server {
        return if protocol.is_empty() {
            "server.request".into()
        } else {
            format_compact!("{protocol}.server.request")
        };
    }
    if is_client {
        return if protocol.is_empty() {
            "client.request".into()
        } else {
            format_compact!("{protocol}.client.request")
        };
    }
    // Compared with the wire value: an unknown kind is not `Unspecified` here, and its
    // empty name becomes the agent's `unnamed_operation` when normalized.
    if raw_kind == SpanKind::Unspecified as i32 {
        kind_string(SpanKind::Internal as i32).into()
    } else {
        kind_string(raw_kind).into()
    }
}

/// §2.4: legacy operation name, already NormalizeName'd.
pub(crate) fn operation_name_v1(
    kind: i32,
    span_name: &str,
    scope_name: &str,
    attrs: Attrs<'_>,
    span_name_as_resource_name: bool,
    remappings: &HashMap<String, String>,
) -> String {
    let mut name = resource_then_span(attrs, &["operation.name"]);
    if name.is_empty() {
        name = if span_name_as_resource_name {
            span_name.to_string()
        } else {
            let kind = kind_string(kind).to_lowercase();
            let prefix = if scope_name.is_empty() {
                "opentelemetry"
            } else {
                scope_name
            };
            format!("{prefix}.{kind}")
        };
    }
    if let Some(mapped) = remappings.get(&name) {
        name = mapped.clone();
    }
    normalize_name(&name)
}

/// §2.5: V2 resource, truncated to 5000 bytes.
pub(crate) fn resource_v2(kind: i32, span_name: &str, attrs: Attrs<'_>) -> Str {
    let mut res = resource_v2_untruncated(kind, span_name, attrs);
    truncate_in_place(&mut res, MAX_RESOURCE_LEN);
    res
}

/// [`truncate_utf8`] without copying what is kept.
fn truncate_in_place(s: &mut Str, limit: usize) {
    let len = truncate_utf8(s, limit).len();
    s.truncate(len);
}

fn resource_v2_untruncated(kind: i32, span_name: &str, attrs: Attrs<'_>) -> Str {
    let r = attrs.str(registry::RESOURCE, false);
    if !r.is_empty() {
        return r.into();
    }
    let method = attrs.str(registry::HTTP_METHOD, false);
    if !method.is_empty() {
        let method = if method == "_OTHER" {
            "HTTP".into()
        } else {
            method
        };
        // A server names the route; a client the template of the URL it asked for.
        let path = match kind_of(kind) {
            SpanKind::Server => attrs.str(registry::HTTP_ROUTE, false),
            SpanKind::Client => attrs.str(registry::URL_TEMPLATE, false),
            _ => "".into(),
        };
        return if path.is_empty() {
            method.into()
        } else {
            format_compact!("{method} {path}")
        };
    }
    let pairs = [
        (
            registry::MESSAGING_OPERATION,
            registry::MESSAGING_DESTINATION,
        ),
        (registry::RPC_METHOD, registry::RPC_SERVICE),
        (
            registry::GRAPHQL_OPERATION_TYPE,
            registry::GRAPHQL_OPERATION_NAME,
        ),
    ];
    for (first, second) in pairs {
        let m = attrs.str(first, false);
        if !m.is_empty() {
            let s = attrs.str(second, false);
            return if s.is_empty() {
                m.into()
            } else {
                format_compact!("{m} {s}")
            };
        }
    }
    if !attrs.str(registry::DB_SYSTEM, false).is_empty() {
        let statement = attrs.str(registry::DB_STATEMENT, false);
        if !statement.is_empty() {
            return statement.into();
        }
    }
    span_name.into()
}

/// §2.4: legacy resource (resource attributes first, any value type), truncated to 5000 bytes.
pub(crate) fn resource_v1(span_name: &str, attrs: Attrs<'_>) -> Str {
    let get = |keys: &[&str]| resource_then_span(attrs, keys);
    let mut res = get(&["resource.name"]);
    if res.is_empty() {
        let joined = |m: String, second: String| {
            if second.is_empty() {
                m
            } else {
                format!("{m} {second}")
            }
        };
        let method = get(&["http.request.method", "http.method"]);
        let messaging = get(&["messaging.operation"]);
        let rpc = get(&["rpc.method"]);
        let graphql = get(&["graphql.operation.type"]);
        res = if !method.is_empty() {
            joined(method, get(&["http.route"]))
        } else if !messaging.is_empty() {
            joined(
                messaging,
                get(&["messaging.destination", "messaging.destination.name"]),
            )
        } else if !rpc.is_empty() {
            joined(rpc, get(&["rpc.service"]))
        } else if !graphql.is_empty() {
            joined(graphql, get(&["graphql.operation.name"]))
        } else {
            span_name.to_string()
        };
    }
    let mut res = Str::from(res);
    truncate_in_place(&mut res, MAX_RESOURCE_LEN);
    res
}

/// §2.6: V2 span type. A span with any of its own attributes under `gen_ai.` is an LLM call,
/// whatever `span.type` says (the agent's rule; resource attributes do not count).
pub(crate) fn span_type(kind: i32, attrs: Attrs<'_>) -> Str {
    if attrs.span.iter().any(|kv| kv.key.starts_with("gen_ai.")) {
        return "llm".into();
    }
    let t = attrs.str(registry::SPAN_TYPE, false);
    if !t.is_empty() {
        return t.into();
    }
    match kind_of(kind) {
        SpanKind::Server => "web".into(),
        SpanKind::Client => {
            let db = attrs.str(registry::DB_SYSTEM, true);
            if db.is_empty() {
                "http".into()
            } else {
                db_type(&db).into()
            }
        }
        _ => "custom".into(),
    }
}

/// The agent's `DBTypes` map (current): SQL systems ⇒ `sql`, a few stores keep their name,
/// anything else ⇒ `db`.
fn db_type(system: &str) -> &'static str {
    const SQL: &[&str] = &[
        "other_sql",
        "mssql",
        "mysql",
        "oracle",
        "db2",
        "postgresql",
        "redshift",
        "cloudscape",
        "hsqldb",
        "maxdb",
        "ingres",
        "firstsql",
        "edb",
        "cache",
        "firebird",
        "derby",
        "informix",
        "mariadb",
        "sqlite",
        "sybase",
        "teradata",
        "vertica",
        "h2",
        "coldfusion",
        "cockroachdb",
        "progress",
        "hanadb",
        "adabas",
        "filemaker",
        "instantdb",
        "interbase",
        "netezza",
        "pervasive",
        "pointbase",
        "clickhouse",
    ];
    if SQL.contains(&system) {
        return "sql";
    }
    match system {
        "cassandra" => "cassandra",
        "redis" => "redis",
        "memcached" => "memcached",
        "mongodb" => "mongodb",
        "elasticsearch" => "elasticsearch",
        "opensearch" => "opensearch",
        _ => "db",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::s;
    use kakehashi_pdata::proto::common::v1::KeyValue;

    const CLIENT: i32 = SpanKind::Client as i32;
    const SERVER: i32 = SpanKind::Server as i32;

    #[test]
    fn operation_v2_table() {
        let a = |span: &[KeyValue], res: &[KeyValue], kind| {
            operation_name_v2(kind, Attrs::new(span, res))
        };
        assert_eq!(
            a(&[s("http.request.method", "GET")], &[], SERVER),
            "http.server.request"
        );
        assert_eq!(
            a(&[s("http.method", "POST")], &[], CLIENT),
            "http.client.request"
        );
        assert_eq!(
            a(&[], &[s("db.system", "postgresql")], CLIENT),
            "postgresql.query"
        );
        assert_eq!(
            a(&[s("db.system", "postgresql")], &[], SERVER),
            "server.request"
        );
        assert_eq!(
            a(
                &[s("db.system", "postgresql")],
                &[s("db.system", "mysql")],
                CLIENT
            ),
            "postgresql.query"
        );
        assert_eq!(a(&[], &[], 0), "Internal");
        // A kind no enum value has: pdata names it "", which the agent then normalizes to
        // `unnamed_operation`; it is neither unspecified (→ Internal) nor a known kind.
        assert_eq!(a(&[], &[], 9), "");
        assert_eq!(
            a(&[s("network.protocol.name", "amqp")], &[], 9),
            "",
            "not a client"
        );
        assert_eq!(a(&[], &[], SpanKind::Producer as i32), "Producer");
        assert_eq!(
            a(
                &[s("rpc.system", "aws-api"), s("rpc.service", "S3")],
                &[],
                CLIENT
            ),
            "aws.s3.request"
        );
        assert_eq!(
            a(&[s("rpc.system", "grpc")], &[], SERVER),
            "grpc.server.request"
        );
        assert_eq!(
            a(
                &[
                    s("messaging.system", "kafka"),
                    s("messaging.operation", "publish")
                ],
                &[],
                4
            ),
            "kafka.publish"
        );
        assert_eq!(a(&[s("faas.trigger", "http")], &[], SERVER), "http.invoke");
        assert_eq!(
            a(&[s("network.protocol.name", "amqp")], &[], CLIENT),
            "amqp.client.request"
        );
        assert_eq!(a(&[s("operation.name", "My Op")], &[], CLIENT), "my_op");
    }

    #[test]
    fn operation_v1_of_an_unknown_kind_is_the_prefix_alone() {
        let v1 = |kind, scope| {
            operation_name_v1(
                kind,
                "span",
                scope,
                Attrs::new(&[], &[]),
                false,
                &HashMap::new(),
            )
        };
        assert_eq!(v1(0, ""), "opentelemetry.unspecified");
        assert_eq!(v1(CLIENT, "lib"), "lib.client");
        // Go: `"opentelemetry." + strings.ToLower("")`, then NormalizeName.
        assert_eq!(v1(9, ""), normalize_name("opentelemetry."));
    }

    #[test]
    fn types() {
        let t = |span: &[KeyValue], kind| span_type(kind, Attrs::new(span, &[]));
        assert_eq!(t(&[s("db.system", "redis")], CLIENT), "redis");
        assert_eq!(t(&[s("db.system", "postgresql")], CLIENT), "sql");
        assert_eq!(t(&[s("db.system", "couchdb")], CLIENT), "db");
        assert_eq!(t(&[], CLIENT), "http");
        assert_eq!(t(&[], 1), "custom");
    }
}
