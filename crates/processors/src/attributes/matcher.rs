//! include/exclude (`filterconfig.MatchProperties`): which spans, log records and metrics the
//! attributes processor touches. AND across the fields of one block, OR within a list.

use crate::attraction::value::{as_string, from_config};
use kakehashi_component::BuildError;
use kakehashi_config::AnyValue as ConfigValue;
use kakehashi_pdata::proto::common::v1::{
    any_value::Value, AnyValue, InstrumentationScope, KeyValue,
};
use kakehashi_pdata::proto::logs::v1::LogRecord;
use kakehashi_pdata::proto::trace::v1::Span;
use kakehashi_pdata::Signal;
use regex::Regex;
use serde::Deserialize;
use std::borrow::Cow;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MatchProperties {
    pub match_type: String,
    pub regexp: Option<RegexpCacheConfig>,
    pub services: Vec<String>,
    pub span_names: Vec<String>,
    pub span_kinds: Vec<String>,
    pub log_bodies: Vec<String>,
    pub log_severity_texts: Vec<String>,
    pub log_severity_number: Option<SeverityNumberMatch>,
    pub metric_names: Vec<String>,
    pub attributes: Vec<AttributeMatch>,
    pub resources: Vec<AttributeMatch>,
    pub libraries: Vec<LibraryMatch>,
}

/// Accepted for compatibility; the `regex` crate needs no result cache.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegexpCacheConfig {
    pub cacheenabled: bool,
    pub cachemaxnumentries: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttributeMatch {
    pub key: String,
    pub value: Option<ConfigValue>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LibraryMatch {
    pub name: String,
    pub version: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SeverityNumberMatch {
    /// A severity name (`INFO`, `warn2`) or number.
    pub min: Option<ConfigValue>,
    pub match_undefined: bool,
}

/// A list of strings matched exactly or by (unanchored) regex.
#[derive(Debug, Clone)]
enum StrSet {
    Strict(Vec<String>),
    Regexp(Vec<Regex>),
}

impl StrSet {
    fn matches(&self, s: &str) -> bool {
        match self {
            StrSet::Strict(v) => v.iter().any(|x| x == s),
            StrSet::Regexp(v) => v.iter().any(|r| r.is_match(s)),
        }
    }
}

#[derive(Debug, Clone)]
enum ValueMatch {
    Strict(AnyValue),
    Regexp(Regex),
}

#[derive(Debug, Clone)]
pub struct Matcher {
    services: Option<StrSet>,
    span_names: Option<StrSet>,
    span_kinds: Option<StrSet>,
    log_bodies: Option<StrSet>,
    severity_texts: Option<StrSet>,
    severity: Option<(i32, bool)>,
    metric_names: Option<StrSet>,
    attributes: Vec<(String, Option<ValueMatch>)>,
    resources: Vec<(String, Option<ValueMatch>)>,
    libraries: Vec<(StrSet, Option<StrSet>)>,
}

fn severity_number(v: &ConfigValue) -> Option<i32> {
    const NAMES: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
    match v {
        ConfigValue::Int(n) => i32::try_from(*n).ok(),
        ConfigValue::Str(s) => {
            let up = s.to_uppercase();
            NAMES.iter().enumerate().find_map(|(i, name)| {
                let rest = up.strip_prefix(name)?;
                let sub: i32 = if rest.is_empty() {
                    1
                } else {
                    rest.parse().ok()?
                };
                (1..=4).contains(&sub).then_some(i as i32 * 4 + sub)
            })
        }
        _ => None,
    }
}

fn span_kind_name(kind: i32) -> &'static str {
    match kind {
        1 => "SPAN_KIND_INTERNAL",
        2 => "SPAN_KIND_SERVER",
        3 => "SPAN_KIND_CLIENT",
        4 => "SPAN_KIND_PRODUCER",
        5 => "SPAN_KIND_CONSUMER",
        _ => "SPAN_KIND_UNSPECIFIED",
    }
}

fn get<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
}

fn attrs_match(want: &[(String, Option<ValueMatch>)], attrs: &[KeyValue]) -> bool {
    want.iter().all(|(k, vm)| {
        let Some(v) = attrs.iter().find(|kv| kv.key == *k) else {
            return false;
        };
        match vm {
            None => true,
            Some(ValueMatch::Strict(want)) => v.value.as_ref() == Some(want),
            Some(ValueMatch::Regexp(re)) => {
                regexp_subject(v.value.as_ref()).is_some_and(|s| re.is_match(&s))
            }
        }
    })
}

/// What a regexp attribute filter matches against (filtermatcher's `attributeStringValue`):
/// strings, and bools and numbers in their text form (`503` matches `"5.."`); other types
/// never match.
fn regexp_subject(v: Option<&AnyValue>) -> Option<Cow<'_, str>> {
    Some(match v?.value.as_ref()? {
        Value::StringValue(s) => Cow::Borrowed(s.as_str()),
        Value::BoolValue(b) => Cow::Owned(b.to_string()),
        Value::IntValue(i) => Cow::Owned(i.to_string()),
        // Go's FormatFloat(f, 'f', -1, 64): shortest round-trip digits, never an exponent.
        Value::DoubleValue(f) if f.is_infinite() => {
            Cow::Borrowed(if *f > 0.0 { "+Inf" } else { "-Inf" })
        }
        Value::DoubleValue(f) => Cow::Owned(format!("{f}")),
        _ => return None,
    })
}

/// pcommon's type names, as contrib's filter errors print them.
fn type_name(v: &AnyValue) -> &'static str {
    match v.value {
        None => "Empty",
        Some(Value::StringValue(_)) | Some(Value::StringValueStrindex(_)) => "Str",
        Some(Value::BoolValue(_)) => "Bool",
        Some(Value::IntValue(_)) => "Int",
        Some(Value::DoubleValue(_)) => "Double",
        Some(Value::ArrayValue(_)) => "Slice",
        Some(Value::KvlistValue(_)) => "Map",
        Some(Value::BytesValue(_)) => "Bytes",
    }
}

/// The block's `match_type`, checked only where a string filter is built: like contrib, a block
/// whose fields need no string matching (`log_severity_number`, attribute keys without values)
/// needs no `match_type`.
struct MatchType<'a>(&'a str);

impl MatchType<'_> {
    fn is_regexp(&self) -> Result<bool, BuildError> {
        match self.0 {
            "strict" => Ok(false),
            "regexp" => Ok(true),
            other => Err(BuildError(format!(
                "unrecognized match_type: '{other}', valid types are: [regexp strict]"
            ))),
        }
    }

    /// filterset's `CreateFilterSet`; `None` for an empty list. `what` names the field in the
    /// error, as contrib wraps it (`error creating span name filters: ...`); metric names are
    /// not wrapped (`what` empty).
    fn set(&self, list: &[String], what: &str) -> Result<Option<StrSet>, BuildError> {
        if list.is_empty() {
            return Ok(None);
        }
        let wrap = |e: BuildError| match what {
            "" => e,
            _ => BuildError(format!("error creating {what} filters: {}", e.0)),
        };
        if !self.is_regexp().map_err(wrap)? {
            return Ok(Some(StrSet::Strict(list.to_vec())));
        }
        let res = list
            .iter()
            .map(|p| Regex::new(p).map_err(|e| wrap(regexp_error(&e))))
            .collect::<Result<_, _>>()?;
        Ok(Some(StrSet::Regexp(res)))
    }

    /// filtermatcher's `NewAttributesMatcher`; `what` is "attribute" or "resource".
    fn attributes(
        &self,
        list: &[AttributeMatch],
        what: &str,
    ) -> Result<Vec<(String, Option<ValueMatch>)>, BuildError> {
        let wrap = |e: BuildError| BuildError(format!("error creating {what} filters: {}", e.0));
        list.iter()
            .map(|a| {
                if a.key.is_empty() {
                    return Err(wrap(BuildError(
                        "can't have empty key in the list of attributes".into(),
                    )));
                }
                let Some(v) = a.value.as_ref().filter(|v| **v != ConfigValue::Null) else {
                    return Ok((a.key.clone(), None));
                };
                let value = from_config(v);
                let vm = if !self.is_regexp().map_err(wrap)? {
                    ValueMatch::Strict(value)
                } else if let Some(Value::StringValue(re)) = &value.value {
                    ValueMatch::Regexp(Regex::new(re).map_err(|e| wrap(regexp_error(&e)))?)
                } else {
                    return Err(wrap(BuildError(format!(
                        "match_type=regexp for {:?} only supports Str, but found {}",
                        a.key,
                        type_name(&value)
                    ))));
                };
                Ok((a.key.clone(), Some(vm)))
            })
            .collect()
    }
}

fn regexp_error(e: &regex::Error) -> BuildError {
    BuildError(format!("error parsing regexp: {e}"))
}

impl Matcher {
    /// Compiles one include/exclude block for `signal`, with filterconfig's checks. `None`: the
    /// block selects nothing and is left out, as contrib does for a metrics block without
    /// `metric_names` (its metric filter reads nothing else, `resources` included).
    pub fn new(mp: &MatchProperties, signal: Signal) -> Result<Option<Matcher>, BuildError> {
        check_fields(mp, signal)?;
        let mt = MatchType(&mp.match_type);
        let none = Matcher {
            services: None,
            span_names: None,
            span_kinds: None,
            log_bodies: None,
            severity_texts: None,
            severity: None,
            metric_names: None,
            attributes: Vec::new(),
            resources: Vec::new(),
            libraries: Vec::new(),
        };
        if signal == Signal::Metrics {
            return Ok(mt.set(&mp.metric_names, "")?.map(|names| Matcher {
                metric_names: Some(names),
                ..none
            }));
        }
        // filtermatcher's `NewMatcher` first (libraries, attributes, resources), then the
        // signal's own fields, in contrib's order, so the first error is the same one.
        let mut libraries = Vec::new();
        for lib in &mp.libraries {
            let name = mt
                .set(std::slice::from_ref(&lib.name), "library name")?
                .expect("one name");
            let version = match &lib.version {
                Some(v) => mt.set(std::slice::from_ref(v), "library version")?,
                None => None,
            };
            libraries.push((name, version));
        }
        let attributes = mt.attributes(&mp.attributes, "attribute")?;
        let resources = mt.attributes(&mp.resources, "resource")?;
        let severity = match &mp.log_severity_number {
            None => None,
            Some(s) => {
                let min = match &s.min {
                    None => 0,
                    Some(v) => severity_number(v)
                        .ok_or_else(|| BuildError(format!("invalid log severity: {v:?}")))?,
                };
                Some((min, s.match_undefined))
            }
        };
        Ok(Some(Matcher {
            services: mt.set(&mp.services, "service name")?,
            span_names: mt.set(&mp.span_names, "span name")?,
            span_kinds: mt.set(&mp.span_kinds, "span kind")?,
            log_bodies: mt.set(&mp.log_bodies, "log record body")?,
            severity_texts: mt.set(&mp.log_severity_texts, "log record severity text")?,
            severity,
            attributes,
            resources,
            libraries,
            ..none
        }))
    }

    fn common(
        &self,
        resource: &[KeyValue],
        scope: Option<&InstrumentationScope>,
        attrs: &[KeyValue],
    ) -> bool {
        // Every library entry must match (contrib's `PropertiesMatcher.Match` returns false at
        // the first that does not).
        let (name, version) = scope.map_or(("", ""), |s| (s.name.as_str(), s.version.as_str()));
        let libraries = self
            .libraries
            .iter()
            .all(|(n, v)| n.matches(name) && v.as_ref().is_none_or(|v| v.matches(version)));
        libraries && attrs_match(&self.resources, resource) && attrs_match(&self.attributes, attrs)
    }

    pub fn matches_span(
        &self,
        resource: &[KeyValue],
        scope: Option<&InstrumentationScope>,
        span: &Span,
    ) -> bool {
        if let Some(s) = &self.services {
            // contrib's `serviceNameForResource`: the value's text form, or a marker when absent.
            let service = get(resource, "service.name")
                .map_or_else(|| "<nil-service-name>".to_owned(), as_string);
            if !s.matches(&service) {
                return false;
            }
        }
        if self
            .span_names
            .as_ref()
            .is_some_and(|s| !s.matches(&span.name))
        {
            return false;
        }
        if self
            .span_kinds
            .as_ref()
            .is_some_and(|s| !s.matches(span_kind_name(span.kind)))
        {
            return false;
        }
        self.common(resource, scope, &span.attributes)
    }

    pub fn matches_log(
        &self,
        resource: &[KeyValue],
        scope: Option<&InstrumentationScope>,
        log: &LogRecord,
    ) -> bool {
        if let Some(b) = &self.log_bodies {
            // The body's text form (`Body().AsString()`): an absent body is "".
            let body = log.body.as_ref().map(as_string).unwrap_or_default();
            if !b.matches(&body) {
                return false;
            }
        }
        if self
            .severity_texts
            .as_ref()
            .is_some_and(|s| !s.matches(&log.severity_text))
        {
            return false;
        }
        if let Some((min, undefined)) = self.severity {
            let ok = if log.severity_number == 0 {
                undefined
            } else {
                log.severity_number >= min
            };
            if !ok {
                return false;
            }
        }
        self.common(resource, scope, &log.attributes)
    }

    /// Metrics are selected by name only (see [`Matcher::new`]).
    pub fn matches_metric(&self, name: &str) -> bool {
        self.metric_names.as_ref().is_none_or(|s| s.matches(name))
    }
}

/// filterconfig's `ValidateForSpans` / `ValidateForLogs` / metrics checks.
fn check_fields(mp: &MatchProperties, signal: Signal) -> Result<(), BuildError> {
    let e = |m: &str| Err(BuildError(m.to_owned()));
    match signal {
        Signal::Traces => {
            if !mp.log_bodies.is_empty() {
                return e("log_bodies should not be specified for trace spans");
            }
            if !mp.log_severity_texts.is_empty() {
                return e("log_severity_texts should not be specified for trace spans");
            }
            if mp.log_severity_number.is_some() {
                return e("log_severity_number should not be specified for trace spans");
            }
            if mp.services.is_empty()
                && mp.span_names.is_empty()
                && mp.attributes.is_empty()
                && mp.libraries.is_empty()
                && mp.resources.is_empty()
                && mp.span_kinds.is_empty()
            {
                // contrib's text, double space included (filterconfig.ErrMissingRequiredField).
                return e(
                    r#"at least one of "attributes", "libraries",  or "resources" field must be specified"#,
                );
            }
            const KINDS: [&str; 5] = [
                "SPAN_KIND_CLIENT",
                "SPAN_KIND_CONSUMER",
                "SPAN_KIND_INTERNAL",
                "SPAN_KIND_PRODUCER",
                "SPAN_KIND_SERVER",
            ];
            if mp.match_type == "strict"
                && mp.span_kinds.iter().any(|k| !KINDS.contains(&k.as_str()))
            {
                return e(&format!(
                    "span_kinds string must match one of the standard span kinds when match_type=strict: [{}]",
                    KINDS.join(" ")
                ));
            }
        }
        Signal::Logs => {
            if !mp.services.is_empty() || !mp.span_names.is_empty() || !mp.span_kinds.is_empty() {
                return e("services, span_names, and span_kinds are not valid for log records");
            }
            if mp.attributes.is_empty()
                && mp.libraries.is_empty()
                && mp.resources.is_empty()
                && mp.log_bodies.is_empty()
                && mp.log_severity_texts.is_empty()
                && mp.log_severity_number.is_none()
            {
                return e(
                    r#"at least one of "attributes", "libraries", "span_kinds", "resources", "log_bodies", "log_severity_texts" or "log_severity_number" field must be specified"#,
                );
            }
        }
        // contrib checks nothing for metrics.
        Signal::Metrics => {}
    }
    Ok(())
}

#[cfg(test)]
#[path = "matcher_tests.rs"]
mod tests;
