//! Component and pipeline identifiers: `type[/name]`.

use regex::Regex;
use std::fmt;
use std::sync::OnceLock;

/// The five kinds of top-level component sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Receiver,
    Processor,
    Exporter,
    Extension,
    /// The exporter of one pipeline and the receiver of others (`forward`, `datadog`).
    Connector,
}

impl Kind {
    /// The top-level config key (`receivers`, ...).
    pub fn section(self) -> &'static str {
        match self {
            Kind::Receiver => "receivers",
            Kind::Processor => "processors",
            Kind::Exporter => "exporters",
            Kind::Extension => "extensions",
            Kind::Connector => "connectors",
        }
    }
    /// The singular word used in messages (`references receiver "x" which is not configured`).
    pub fn singular(self) -> &'static str {
        match self {
            Kind::Receiver => "receiver",
            Kind::Processor => "processor",
            Kind::Exporter => "exporter",
            Kind::Extension => "extension",
            Kind::Connector => "connector",
        }
    }
}

/// `type[/name]`, split at the first `/` (so `otlp/a/b` is type `otlp`, name `a/b`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComponentId {
    type_: String,
    name: Option<String>,
}

fn type_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^[a-zA-Z][0-9a-zA-Z_]{0,62}$").expect("valid regex"))
}

fn name_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^[^\pZ\pC\pS]+$").expect("valid regex"))
}

impl ComponentId {
    pub fn new(type_: impl Into<String>, name: Option<&str>) -> Self {
        ComponentId {
            type_: type_.into(),
            name: name.map(str::to_owned),
        }
    }

    /// Parses with otelcol's rules and error texts.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.trim().is_empty() {
            return Err("id must not be empty".into());
        }
        let (type_, name) = match s.split_once('/') {
            Some((t, n)) => {
                let (t, n) = (t.trim(), n.trim());
                if t.is_empty() {
                    return Err(format!(
                        "in {s:?} id: the part before / should not be empty"
                    ));
                }
                if n.is_empty() {
                    return Err(format!("in {s:?} id: the part after / should not be empty"));
                }
                (t, Some(n))
            }
            None => (s.trim(), None),
        };
        if !type_regex().is_match(type_) {
            return Err(format!("invalid character(s) in type {type_:?}"));
        }
        if let Some(n) = name {
            if n.chars().count() > 1024 || !name_regex().is_match(n) {
                return Err(format!("invalid character(s) in name {n:?}"));
            }
        }
        Ok(ComponentId::new(type_, name))
    }

    pub fn type_name(&self) -> &str {
        &self.type_
    }
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => write!(f, "{}/{}", self.type_, n),
            None => f.write_str(&self.type_),
        }
    }
}

/// `signal[/name]` where signal is `traces`, `metrics` or `logs`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PipelineId {
    pub signal: String,
    pub name: Option<String>,
}

impl PipelineId {
    pub fn parse(s: &str) -> Result<Self, String> {
        let id = ComponentId::parse(s)?;
        match id.type_name() {
            "traces" | "metrics" | "logs" => Ok(PipelineId {
                signal: id.type_name().to_owned(),
                name: id.name().map(str::to_owned),
            }),
            other => Err(format!("unknown pipeline signal: {other:?}")),
        }
    }
}

impl fmt::Display for PipelineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => write!(f, "{}/{}", self.signal, n),
            None => f.write_str(&self.signal),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_ids_like_otelcol() {
        let id = ComponentId::parse("otlp/a/b").unwrap();
        assert_eq!((id.type_name(), id.name()), ("otlp", Some("a/b")));
        assert_eq!(
            ComponentId::parse(" batch / x ").unwrap().to_string(),
            "batch/x"
        );
        assert_eq!(ComponentId::parse("").unwrap_err(), "id must not be empty");
        assert_eq!(
            ComponentId::parse("otlp/").unwrap_err(),
            r#"in "otlp/" id: the part after / should not be empty"#
        );
        assert_eq!(
            ComponentId::parse("/x").unwrap_err(),
            r#"in "/x" id: the part before / should not be empty"#
        );
        assert_eq!(
            ComponentId::parse("1otlp").unwrap_err(),
            r#"invalid character(s) in type "1otlp""#
        );
        assert_eq!(
            PipelineId::parse("trace").unwrap_err(),
            r#"unknown pipeline signal: "trace""#
        );
        assert_eq!(
            PipelineId::parse("traces/2").unwrap().to_string(),
            "traces/2"
        );
    }
}
