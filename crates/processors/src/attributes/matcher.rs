//! include/exclude (`filterconfig.MatchProperties`): which spans, log records and metrics the
//! attributes processor touches. AND across the fields of one block, OR within a list.

use crate::attraction::value::from_config;
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

fn as_str(v: Option<&AnyValue>) -> Option<&str> {
    match v.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => Some(s),
        _ => None,
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
                as_str(v.value.as_ref()).is_some_and(|s| re.is_match(s))
            }
        }
    })
}

impl Matcher {
    /// Compiles one include/exclude block for `signal`, with filterconfig's checks.
    pub fn new(mp: &MatchProperties, signal: Signal) -> Result<Matcher, BuildError> {
        let regexp = match mp.match_type.as_str() {
            "strict" => false,
            "regexp" => true,
            other => {
                return Err(BuildError(format!(
                    "unrecognized match_type: '{other}', valid types are: [regexp strict]"
                )))
            }
        };
        check_fields(mp, signal)?;
        let set = |list: &[String]| -> Result<Option<StrSet>, BuildError> {
            if list.is_empty() {
                return Ok(None);
            }
            if !regexp {
                return Ok(Some(StrSet::Strict(list.to_vec())));
            }
            let res = list
                .iter()
                .map(|p| {
                    Regex::new(p).map_err(|e| BuildError(format!("error parsing regexp: {e}")))
                })
                .collect::<Result<_, _>>()?;
            Ok(Some(StrSet::Regexp(res)))
        };
        let attrs =
            |list: &[AttributeMatch]| -> Result<Vec<(String, Option<ValueMatch>)>, BuildError> {
                list.iter()
                .map(|a| {
                    if a.key.is_empty() {
                        return Err(BuildError("can't have empty key in the list of attributes".into()));
                    }
                    let vm = match a.value.as_ref().filter(|v| **v != ConfigValue::Null) {
                        None => None,
                        Some(v) if !regexp => Some(ValueMatch::Strict(from_config(v))),
                        Some(ConfigValue::Str(s)) => Some(ValueMatch::Regexp(
                            Regex::new(s).map_err(|e| BuildError(format!("error parsing regexp: {e}")))?,
                        )),
                        Some(_) => {
                            return Err(BuildError(format!(
                                "{}=... for {} is not a string, match_type=regexp only supports string values",
                                a.key, a.key
                            )))
                        }
                    };
                    Ok((a.key.clone(), vm))
                })
                .collect()
            };
        let mut libraries = Vec::new();
        for lib in &mp.libraries {
            let name = set(std::slice::from_ref(&lib.name))?.unwrap_or(StrSet::Strict(Vec::new()));
            let version = match &lib.version {
                Some(v) => set(std::slice::from_ref(v))?,
                None => None,
            };
            libraries.push((name, version));
        }
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
        Ok(Matcher {
            services: set(&mp.services)?,
            span_names: set(&mp.span_names)?,
            span_kinds: set(&mp.span_kinds)?,
            log_bodies: set(&mp.log_bodies)?,
            severity_texts: set(&mp.log_severity_texts)?,
            severity,
            metric_names: set(&mp.metric_names)?,
            attributes: attrs(&mp.attributes)?,
            resources: attrs(&mp.resources)?,
            libraries,
        })
    }

    fn common(
        &self,
        resource: &[KeyValue],
        scope: Option<&InstrumentationScope>,
        attrs: &[KeyValue],
    ) -> bool {
        if !attrs_match(&self.resources, resource) || !attrs_match(&self.attributes, attrs) {
            return false;
        }
        if self.libraries.is_empty() {
            return true;
        }
        let (name, version) = scope.map_or(("", ""), |s| (s.name.as_str(), s.version.as_str()));
        self.libraries
            .iter()
            .any(|(n, v)| n.matches(name) && v.as_ref().is_none_or(|v| v.matches(version)))
    }

    pub fn matches_span(
        &self,
        resource: &[KeyValue],
        scope: Option<&InstrumentationScope>,
        span: &Span,
    ) -> bool {
        if let Some(s) = &self.services {
            if !s.matches(as_str(get(resource, "service.name")).unwrap_or("")) {
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
            // Only string bodies can match.
            if !as_str(log.body.as_ref()).is_some_and(|s| b.matches(s)) {
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

    pub fn matches_metric(&self, resource: &[KeyValue], name: &str) -> bool {
        if self.metric_names.as_ref().is_some_and(|s| !s.matches(name)) {
            return false;
        }
        attrs_match(&self.resources, resource)
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
        Signal::Metrics => {
            if mp.metric_names.is_empty() && mp.resources.is_empty() {
                return e(
                    r#"at least one of "metric_names" or "resources" field must be specified"#,
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_names() {
        assert_eq!(severity_number(&ConfigValue::Str("info".into())), Some(9));
        assert_eq!(severity_number(&ConfigValue::Str("WARN2".into())), Some(14));
        assert_eq!(
            severity_number(&ConfigValue::Str("FATAL4".into())),
            Some(24)
        );
        assert_eq!(severity_number(&ConfigValue::Int(17)), Some(17));
        assert_eq!(severity_number(&ConfigValue::Str("LOUD".into())), None);
    }

    #[test]
    fn match_type_is_required() {
        let e = Matcher::new(&MatchProperties::default(), Signal::Traces).err();
        assert_eq!(
            e.map(|e| e.0),
            Some("unrecognized match_type: '', valid types are: [regexp strict]".into())
        );
    }

    /// The texts of contrib's filterconfig validation (checked against its source).
    #[test]
    fn field_checks_have_contribs_texts() {
        let strict = |f: &dyn Fn(&mut MatchProperties)| {
            let mut mp = MatchProperties {
                match_type: "strict".into(),
                ..MatchProperties::default()
            };
            f(&mut mp);
            mp
        };
        let err = |mp: &MatchProperties, s: Signal| check_fields(mp, s).err().map(|e| e.0);
        assert_eq!(
            err(&strict(&|_| {}), Signal::Traces).as_deref(),
            Some(
                r#"at least one of "attributes", "libraries",  or "resources" field must be specified"#
            )
        );
        assert_eq!(
            err(&strict(&|m| m.span_kinds = vec!["server".into()]), Signal::Traces).as_deref(),
            Some("span_kinds string must match one of the standard span kinds when match_type=strict: [SPAN_KIND_CLIENT SPAN_KIND_CONSUMER SPAN_KIND_INTERNAL SPAN_KIND_PRODUCER SPAN_KIND_SERVER]")
        );
        assert_eq!(
            err(
                &strict(&|m| m.span_kinds = vec!["SPAN_KIND_SERVER".into()]),
                Signal::Traces
            ),
            None
        );
        assert_eq!(
            err(&strict(&|m| m.services = vec!["a".into()]), Signal::Logs).as_deref(),
            Some("services, span_names, and span_kinds are not valid for log records")
        );
    }
}
