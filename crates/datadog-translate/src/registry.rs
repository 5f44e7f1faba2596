//! The agent's "semantic registry" lookups (§2.0): a concept has an ordered list of candidate keys;
//! span attributes are searched first (every candidate), then resource attributes. String
//! concepts accept only `Str` values; integer candidates accept `Int` or an integral `Double`;
//! string-typed candidates of an integer concept are parsed.

use crate::normalize::normalize_tag_value;
use crate::value::as_string;
use kakehashi_pdata::proto::common::v1::{any_value::Value, AnyValue, KeyValue};

/// How a candidate key is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Typ {
    Str,
    Int,
}

/// A semantic concept: its candidate keys in precedence order.
pub(crate) type Concept = &'static [(&'static str, Typ)];

use Typ::{Int, Str};

pub(crate) const SERVICE: Concept = &[("service.name", Str)];
pub(crate) const OPERATION: Concept = &[("operation.name", Str)];
pub(crate) const RESOURCE: Concept = &[("resource.name", Str)];
pub(crate) const SPAN_TYPE: Concept = &[("span.type", Str)];
pub(crate) const ENV: Concept = &[
    ("deployment.environment.name", Str),
    ("deployment.environment", Str),
];
pub(crate) const VERSION: Concept = &[("service.version", Str)];
pub(crate) const HTTP_METHOD: Concept = &[("http.request.method", Str), ("http.method", Str)];
pub(crate) const HTTP_STATUS_CODE: Concept = &[
    ("http.status_code", Int),
    ("http.status_code", Str),
    ("http.response.status_code", Int),
];
pub(crate) const HTTP_ROUTE: Concept = &[("http.route", Str)];
pub(crate) const DB_SYSTEM: Concept = &[("db.system", Str)];
pub(crate) const DB_STATEMENT: Concept = &[("db.statement", Str), ("db.query.text", Str)];
pub(crate) const DB_NAMESPACE: Concept = &[("db.namespace", Str)];
pub(crate) const MESSAGING_SYSTEM: Concept = &[("messaging.system", Str)];
pub(crate) const MESSAGING_OPERATION: Concept = &[("messaging.operation", Str)];
pub(crate) const MESSAGING_DESTINATION: Concept = &[
    ("messaging.destination", Str),
    ("messaging.destination.name", Str),
];
pub(crate) const RPC_SYSTEM: Concept = &[("rpc.system", Str)];
pub(crate) const RPC_SERVICE: Concept = &[("rpc.service", Str)];
pub(crate) const RPC_METHOD: Concept = &[("rpc.method", Str)];
pub(crate) const GRAPHQL_OPERATION_TYPE: Concept = &[("graphql.operation.type", Str)];
pub(crate) const GRAPHQL_OPERATION_NAME: Concept = &[("graphql.operation.name", Str)];
pub(crate) const FAAS_INVOKED_PROVIDER: Concept = &[("faas.invoked_provider", Str)];
pub(crate) const FAAS_INVOKED_NAME: Concept = &[("faas.invoked_name", Str)];
pub(crate) const FAAS_TRIGGER: Concept = &[("faas.trigger", Str)];
pub(crate) const NETWORK_PROTOCOL_NAME: Concept = &[("network.protocol.name", Str)];
pub(crate) const DD_MEASURED: Concept = &[("_dd.measured", Str)];

/// The first attribute with this key (pcommon `Map.Get`).
pub(crate) fn get<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs.iter().find(|kv| kv.key == key).map(|kv| {
        static EMPTY: AnyValue = AnyValue { value: None };
        kv.value.as_ref().unwrap_or(&EMPTY)
    })
}

/// The value if it is a `Str`, else `""` (the registry's typed string access).
pub(crate) fn get_str<'a>(attrs: &'a [KeyValue], key: &str) -> &'a str {
    match get(attrs, key).and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s,
        _ => "",
    }
}

fn get_int(attrs: &[KeyValue], key: &str) -> Option<i64> {
    match get(attrs, key).and_then(|v| v.value.as_ref()) {
        Some(Value::IntValue(i)) => Some(*i),
        Some(Value::DoubleValue(f)) => integral(*f),
        _ => None,
    }
}

fn integral(f: f64) -> Option<i64> {
    // Go: `i := int64(f); float64(i) == f`.
    let i = f as i64;
    (i as f64 == f).then_some(i)
}

/// Go's `strconv.ParseInt(s, 10, 64)`, then `ParseFloat` when integral.
pub(crate) fn parse_int(s: &str) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    s.parse::<i64>()
        .ok()
        .or_else(|| s.parse::<f64>().ok().and_then(integral))
}

/// Span and resource attributes of one span, for registry lookups.
#[derive(Clone, Copy)]
pub(crate) struct Attrs<'a> {
    pub span: &'a [KeyValue],
    pub res: &'a [KeyValue],
}

impl<'a> Attrs<'a> {
    /// String lookup, span attributes first; `normalize` applies NormalizeTagValue.
    pub fn string(&self, concept: Concept, normalize: bool) -> String {
        lookup_string([self.span, self.res], concept, normalize)
    }

    /// String lookup, resource attributes first (used for `db.namespace`).
    pub fn string_resource_first(&self, concept: Concept) -> String {
        lookup_string([self.res, self.span], concept, false)
    }

    /// Integer lookup, span attributes first.
    pub fn int(&self, concept: Concept) -> Option<i64> {
        for attrs in [self.span, self.res] {
            for &(key, typ) in concept {
                let v = match typ {
                    Int => get_int(attrs, key),
                    Str => parse_int(get_str(attrs, key)),
                };
                if v.is_some() {
                    return v;
                }
            }
        }
        None
    }
}

fn lookup_string(order: [&[KeyValue]; 2], concept: Concept, normalize: bool) -> String {
    for attrs in order {
        for &(key, typ) in concept {
            let v = match typ {
                Str => get_str(attrs, key).to_string(),
                Int => get_int(attrs, key)
                    .map(|i| i.to_string())
                    .unwrap_or_default(),
            };
            if !v.is_empty() {
                return if normalize {
                    normalize_tag_value(&v)
                } else {
                    v
                };
            }
        }
    }
    String::new()
}

/// Go's `GetOTelAttrVal`: the first of `keys` that exists (whatever its type, even empty),
/// rendered with AsString; used by the legacy lookups and the TracerPayload fields.
pub(crate) fn first_as_string(attrs: &[KeyValue], keys: &[&str]) -> String {
    keys.iter()
        .find_map(|k| get(attrs, k))
        .map(|v| as_string(Some(v)))
        .unwrap_or_default()
}

/// Go's `GetOTelAttrValInResAndSpanAttrs`: resource first, then span (legacy V1 naming).
pub(crate) fn resource_then_span(attrs: Attrs<'_>, keys: &[&str]) -> String {
    let v = first_as_string(attrs.res, keys);
    if v.is_empty() {
        first_as_string(attrs.span, keys)
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{kv, s};

    #[test]
    fn span_beats_resource_for_any_candidate() {
        let span = [s("deployment.environment", "span-env-117")];
        let res = [s("deployment.environment.name", "res-env-127")];
        assert_eq!(
            Attrs {
                span: &span,
                res: &res
            }
            .string(ENV, true),
            "span-env-117"
        );
    }

    #[test]
    fn strings_must_be_str() {
        let span = [kv("service.name", Value::IntValue(3))];
        assert_eq!(
            Attrs {
                span: &span,
                res: &[]
            }
            .string(SERVICE, false),
            ""
        );
    }

    #[test]
    fn status_code_candidates() {
        let span = [kv("http.response.status_code", Value::IntValue(201))];
        let res = [s("http.status_code", "500")];
        assert_eq!(
            Attrs {
                span: &span,
                res: &res
            }
            .int(HTTP_STATUS_CODE),
            Some(201)
        );
        let span = [s("http.response.status_code", "200")];
        assert_eq!(
            Attrs {
                span: &span,
                res: &[]
            }
            .int(HTTP_STATUS_CODE),
            None
        );
        let span = [kv("http.status_code", Value::DoubleValue(404.0))];
        assert_eq!(
            Attrs {
                span: &span,
                res: &[]
            }
            .int(HTTP_STATUS_CODE),
            Some(404)
        );
        let span = [kv("http.status_code", Value::DoubleValue(404.5))];
        assert_eq!(
            Attrs {
                span: &span,
                res: &[]
            }
            .int(HTTP_STATUS_CODE),
            None
        );
    }

    #[test]
    fn measured_parses_strings() {
        let span = [s("_dd.measured", "1")];
        assert_eq!(
            Attrs {
                span: &span,
                res: &[]
            }
            .int(DD_MEASURED),
            Some(1)
        );
        let span = [kv("_dd.measured", Value::IntValue(1))];
        assert_eq!(
            Attrs {
                span: &span,
                res: &[]
            }
            .int(DD_MEASURED),
            None
        );
    }

    #[test]
    fn resource_first_namespace() {
        let span = [s("db.namespace", "span-db")];
        let res = [s("db.namespace", "resource-db")];
        let a = Attrs {
            span: &span,
            res: &res,
        };
        assert_eq!(a.string_resource_first(DB_NAMESPACE), "resource-db");
    }
}
