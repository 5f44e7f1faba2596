//! The agent's "semantic registry" lookups (§2.0): a concept has an ordered list of candidate keys;
//! for each key in turn, the span's attributes are searched, then the resource's (the agent's
//! `Lookup` over an `OTelSpanAccessor`), so an earlier key on the resource beats a later key on
//! the span. String
//! concepts accept only `Str` values; integer candidates accept `Int` or an integral `Double`;
//! string-typed candidates of an integer concept are parsed. The concepts and their candidates
//! are those of the agent's embedded `semantics/mappings.json` of mid-2026 (registry version
//! `v20260630131934`); a candidate can also be guarded by conditions on other attributes
//! ([`Guarded`]).

use crate::key_filter::KeyFilter;
use crate::normalize::normalize_tag_value_cow;
use crate::value::as_string;
use kakehashi_pdata::proto::common::v1::{any_value::Value, AnyValue, KeyValue};
use std::borrow::Cow;

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
    ("http.response.status_code", Str),
];
pub(crate) const HTTP_ROUTE: Concept = &[("http.route", Str)];
pub(crate) const DB_SYSTEM: Concept = &[("db.system.name", Str), ("db.system", Str)];
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
pub(crate) const DD_MEASURED: Concept = &[("_dd.measured", Int)];
pub(crate) const URL_TEMPLATE: Concept = &[("url.template", Str)];

/// A condition on a candidate of a [`Guarded`] concept, read as a string concept reads (span
/// then resource, `Str` only, non-empty).
#[derive(Clone, Copy, Debug)]
pub(crate) enum When {
    /// The attribute is this value.
    Eq(&'static str, &'static str),
    /// The attribute is empty or absent.
    Absent(&'static str),
}

/// A concept whose candidates count only where all of their conditions hold.
pub(crate) type Guarded = &'static [(&'static str, Typ, &'static [When])];

const RPC_IS_GRPC: &[When] = &[When::Eq("rpc.system.name", "grpc")];
const OLD_RPC_IS_GRPC: &[When] = &[
    When::Eq("rpc.system", "grpc"),
    When::Absent("rpc.system.name"),
];
/// The gRPC status code under any of the names instrumentations have used; the generic RPC
/// response code only on gRPC spans.
pub(crate) const GRPC_STATUS_CODE: Guarded = &[
    ("rpc.grpc.status_code", Str, &[]),
    ("rpc.grpc.status_code", Int, &[]),
    ("grpc.code", Str, &[]),
    ("grpc.code", Int, &[]),
    ("rpc.grpc.status.code", Str, &[]),
    ("rpc.grpc.status.code", Int, &[]),
    ("grpc.status.code", Str, &[]),
    ("grpc.status.code", Int, &[]),
    ("rpc.response.status_code", Str, RPC_IS_GRPC),
    ("rpc.response.status_code", Int, RPC_IS_GRPC),
    ("rpc.response.status_code", Str, OLD_RPC_IS_GRPC),
    ("rpc.response.status_code", Int, OLD_RPC_IS_GRPC),
];

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

/// An attribute list with a Bloom filter of the keys it holds. A span's mapping looks up ~40
/// candidate keys, nearly all absent; the filter answers most of those "absent" without
/// comparing against every attribute. Never a false "absent".
#[derive(Clone, Copy)]
pub(crate) struct KeySet<'a> {
    kvs: &'a [KeyValue],
    keys: KeyFilter,
}

impl<'a> KeySet<'a> {
    pub fn new(kvs: &'a [KeyValue]) -> Self {
        let mut keys = KeyFilter::default();
        for kv in kvs {
            keys.add(&kv.key);
        }
        KeySet { kvs, keys }
    }

    /// Same as [`get_str`] on the list.
    fn get_str(&self, key: &str) -> &'a str {
        if !self.keys.may_contain(key) {
            return "";
        }
        get_str(self.kvs, key)
    }

    /// Same as [`get_int`] on the list.
    fn get_int(&self, key: &str) -> Option<i64> {
        if !self.keys.may_contain(key) {
            return None;
        }
        get_int(self.kvs, key)
    }
}

/// Span and resource attributes of one span, for registry lookups.
#[derive(Clone, Copy)]
pub(crate) struct Attrs<'a> {
    pub span: &'a [KeyValue],
    pub res: &'a [KeyValue],
    span_keys: KeySet<'a>,
    res_keys: KeySet<'a>,
}

impl<'a> Attrs<'a> {
    #[cfg(test)]
    pub fn new(span: &'a [KeyValue], res: &'a [KeyValue]) -> Self {
        Self::with_resource(span, KeySet::new(res))
    }

    /// With the resource's key set computed once for all of its spans (reading every key of
    /// the resource for each span was most of `convert`'s own time: cold cache lines).
    pub fn with_resource(span: &'a [KeyValue], res_keys: KeySet<'a>) -> Self {
        Attrs {
            span,
            res: res_keys.kvs,
            span_keys: KeySet::new(span),
            res_keys,
        }
    }

    /// String lookup, span before resource for each key; `normalize` applies NormalizeTagValue.
    /// Borrowed from the attribute where the value is a string that normalizing leaves as it
    /// is: no copy for a value that is only tested or copied on.
    pub fn str(&self, concept: &[(&'static str, Typ)], normalize: bool) -> Cow<'a, str> {
        lookup([self.span_keys, self.res_keys], concept, normalize)
    }

    /// Integer lookup, span before resource for each key. A string candidate is the first
    /// non-empty string (the span's, else the resource's), then parsed: a span's unparsable
    /// string hides the resource's, as the agent's combined accessor reads it.
    pub fn int(&self, concept: &[(&'static str, Typ)]) -> Option<i64> {
        concept.iter().find_map(|&(key, typ)| match typ {
            Int => self
                .span_keys
                .get_int(key)
                .or_else(|| self.res_keys.get_int(key)),
            Str => parse_int(&self.str(&[(key, Str)], false)),
        })
    }

    /// String lookup of a [`Guarded`] concept, span before resource for each key.
    pub fn guarded_str(&self, concept: Guarded) -> Cow<'a, str> {
        let holds = |when: &When| match *when {
            When::Eq(key, value) => self.str(&[(key, Str)], false) == value,
            When::Absent(key) => self.str(&[(key, Str)], false).is_empty(),
        };
        for (key, typ, conditions) in concept {
            if !conditions.iter().all(holds) {
                continue;
            }
            let v = lookup([self.span_keys, self.res_keys], &[(key, *typ)], false);
            if !v.is_empty() {
                return v;
            }
        }
        Cow::Borrowed("")
    }
}

/// Borrows the attribute's string: only an integer rendered as text or a value normalizing
/// changes is a new string.
fn lookup<'a>(
    order: [KeySet<'a>; 2],
    concept: &[(&'static str, Typ)],
    normalize: bool,
) -> Cow<'a, str> {
    for &(key, typ) in concept {
        for attrs in order {
            let v: Cow<'a, str> = match typ {
                Str => Cow::Borrowed(attrs.get_str(key)),
                Int => attrs
                    .get_int(key)
                    .map_or(Cow::Borrowed(""), |i| Cow::Owned(i.to_string())),
            };
            if !v.is_empty() {
                return if normalize {
                    normalize_tag_value_cow(v)
                } else {
                    v
                };
            }
        }
    }
    Cow::Borrowed("")
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

    /// The filter only skips lists that cannot hold the key: for every subset of a key pool
    /// (registry candidates, near-misses of them, and the loadgen's keys), every lookup through
    /// a `KeySet` answers what a plain scan answers.
    #[test]
    fn key_set_never_hides_a_key() {
        let pool = [
            "service.name",
            "http.request.method",
            "http.method",
            "http.status_code",
            "http.response.status_code",
            "db.system",
            "db.system.name",
            "url.template",
            "rpc.grpc.status_code",
            "grpc.code",
            "rpc.response.status_code",
            "db.statement",
            "db.namespace",
            "deployment.environment",
            "deployment.environment.name",
            "messaging.destination",
            "rpc.service",
            "_dd.measured",
            "http.route",
            "url.full",
            "server.address",
            "net.peer.name",
            "user_agent.original",
            "",
            "x",
            "é",
        ];
        for mask in 0u32..(1 << 12) {
            // 12 bits choose a subset of the first 12 keys; the rest are always present in turn.
            let kvs: Vec<KeyValue> = pool
                .iter()
                .enumerate()
                .filter(|(i, _)| *i >= 12 || mask & (1 << i) != 0)
                .filter(|(i, _)| *i < 12 || (mask as usize) % (pool.len() - 12) == i - 12)
                .map(|(i, k)| match i % 2 {
                    0 => kv(k, Value::IntValue(i as i64)),
                    _ => s(k, &format!("v{i}")),
                })
                .collect();
            let set = KeySet::new(&kvs);
            for key in pool {
                assert_eq!(set.get_int(key), get_int(&kvs, key), "{key} in {mask:#x}");
                assert_eq!(set.get_str(key), get_str(&kvs, key), "{key} in {mask:#x}");
            }
        }
    }

    #[test]
    fn each_key_is_looked_up_on_the_span_then_the_resource() {
        // An earlier candidate on the resource beats a later one on the span.
        let span = [s("deployment.environment", "span-env-117")];
        let res = [s("deployment.environment.name", "res-env-127")];
        assert_eq!(Attrs::new(&span, &res).str(ENV, true), "res-env-127");
        // For the same key, the span wins.
        let span = [s("deployment.environment.name", "span-env")];
        assert_eq!(Attrs::new(&span, &res).str(ENV, true), "span-env");
    }

    #[test]
    fn strings_must_be_str() {
        let span = [kv("service.name", Value::IntValue(3))];
        assert_eq!(Attrs::new(&span, &[]).str(SERVICE, false), "");
    }

    #[test]
    fn status_code_candidates() {
        let span = [kv("http.response.status_code", Value::IntValue(201))];
        let res = [s("http.status_code", "500")];
        assert_eq!(Attrs::new(&span, &res).int(HTTP_STATUS_CODE), Some(500));
        assert_eq!(Attrs::new(&span, &[]).int(HTTP_STATUS_CODE), Some(201));
        // The last candidate: the new name as a string.
        let span = [s("http.response.status_code", "503")];
        assert_eq!(Attrs::new(&span, &[]).int(HTTP_STATUS_CODE), Some(503));
        let span = [kv("http.status_code", Value::DoubleValue(404.0))];
        assert_eq!(Attrs::new(&span, &[]).int(HTTP_STATUS_CODE), Some(404));
        let span = [kv("http.status_code", Value::DoubleValue(404.5))];
        assert_eq!(Attrs::new(&span, &[]).int(HTTP_STATUS_CODE), None);
    }

    #[test]
    fn a_string_candidate_is_the_spans_string_when_it_has_one() {
        // The span's unparsable string hides the resource's number under the same key.
        let span = [s("http.status_code", "OK")];
        let res = [s("http.status_code", "500")];
        assert_eq!(Attrs::new(&span, &res).int(HTTP_STATUS_CODE), None);
        assert_eq!(Attrs::new(&[], &res).int(HTTP_STATUS_CODE), Some(500));
        // An empty string is no string: the resource's is read.
        let span = [s("http.status_code", "")];
        assert_eq!(Attrs::new(&span, &res).int(HTTP_STATUS_CODE), Some(500));
    }

    #[test]
    fn measured_is_an_integer() {
        let span = [kv("_dd.measured", Value::IntValue(1))];
        assert_eq!(Attrs::new(&span, &[]).int(DD_MEASURED), Some(1));
        let res = [kv("_dd.measured", Value::DoubleValue(1.0))];
        assert_eq!(Attrs::new(&[], &res).int(DD_MEASURED), Some(1));
        let span = [s("_dd.measured", "1")];
        assert_eq!(Attrs::new(&span, &[]).int(DD_MEASURED), None);
    }

    #[test]
    fn db_system_name_before_db_system() {
        let span = [s("db.system", "mysql"), s("db.system.name", "redis")];
        assert_eq!(Attrs::new(&span, &[]).str(DB_SYSTEM, false), "redis");
        // An earlier key on the resource beats a later one on the span.
        let res = [s("db.system.name", "postgresql")];
        let span = [s("db.system", "mysql")];
        assert_eq!(Attrs::new(&span, &res).str(DB_SYSTEM, false), "postgresql");
    }

    #[test]
    fn grpc_status_code_candidates_and_their_conditions() {
        let g = |span: &[KeyValue], res: &[KeyValue]| {
            Attrs::new(span, res)
                .guarded_str(GRPC_STATUS_CODE)
                .into_owned()
        };
        assert_eq!(
            g(&[kv("rpc.grpc.status_code", Value::IntValue(0))], &[]),
            "0"
        );
        // The string candidate, span then resource, comes before the integer one.
        assert_eq!(
            g(
                &[kv("rpc.grpc.status_code", Value::IntValue(2))],
                &[s("rpc.grpc.status_code", "7")]
            ),
            "7"
        );
        assert_eq!(g(&[kv("grpc.code", Value::IntValue(5))], &[]), "5");
        assert_eq!(
            g(&[kv("rpc.grpc.status_code", Value::DoubleValue(2.5))], &[]),
            ""
        );
        // The generic RPC code counts on gRPC spans only.
        let code = s("rpc.response.status_code", "UNAVAILABLE");
        assert_eq!(g(std::slice::from_ref(&code), &[]), "");
        assert_eq!(
            g(&[code.clone(), s("rpc.system.name", "grpc")], &[]),
            "UNAVAILABLE"
        );
        assert_eq!(
            g(std::slice::from_ref(&code), &[s("rpc.system", "grpc")]),
            "UNAVAILABLE",
            "conditions read the resource too"
        );
        assert_eq!(
            g(
                &[
                    code.clone(),
                    s("rpc.system", "grpc"),
                    s("rpc.system.name", "connect_rpc")
                ],
                &[]
            ),
            ""
        );
        assert_eq!(
            g(
                &[
                    kv("rpc.response.status_code", Value::IntValue(14)),
                    s("rpc.system", "grpc")
                ],
                &[]
            ),
            "14"
        );
    }
}
