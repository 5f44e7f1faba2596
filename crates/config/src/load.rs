//! Putting the stages together: sources → merged, expanded tree.

use crate::error::{ConfigError, ConfigErrors};
use crate::expand::{expand, EnvLookup};
use crate::merge::{merge, set_to_node, unflatten};
use crate::node::{Node, NodeKind};
use crate::yaml;
use regex::Regex;
use std::sync::OnceLock;

/// One `--config` value: a file path, or `yaml:<inline yaml>` / `env:VAR` / `file:PATH` URIs.
#[derive(Debug, Clone)]
pub enum ConfigSource {
    /// A file read from disk; the path is the source name in locations.
    File(String),
    /// Inline YAML with a display name (used by tests and `yaml:` URIs).
    Inline { name: String, yaml: String },
    /// A `--config` URI whose scheme we do not support; reported by [`load`].
    Unsupported { uri: String },
}

fn scheme_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^[A-Za-z][A-Za-z0-9+.-]+$").expect("valid regex"))
}

impl ConfigSource {
    /// Interprets a `--config` value: `yaml:<inline>`, `file:<path>`, `env:VAR` (read now from
    /// the process environment), a plain path (no `scheme:` prefix), or an unsupported URI.
    pub fn parse_arg(arg: &str) -> ConfigSource {
        let Some((scheme, rest)) = arg
            .split_once(':')
            .filter(|(s, _)| scheme_regex().is_match(s))
        else {
            return ConfigSource::File(arg.to_owned());
        };
        match scheme {
            "file" => ConfigSource::File(rest.to_owned()),
            "yaml" => ConfigSource::Inline {
                name: arg.to_owned(),
                yaml: rest.to_owned(),
            },
            "env" => ConfigSource::Inline {
                name: arg.to_owned(),
                yaml: std::env::var(rest).unwrap_or_default(),
            },
            _ => ConfigSource::Unsupported {
                uri: arg.to_owned(),
            },
        }
    }

    /// Reads and parses the source into a tree (an empty source is an empty map).
    fn read(&self) -> Result<Node, ConfigErrors> {
        let node = match self {
            ConfigSource::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError::new("", format!("cannot read config file {path:?}: {e}"))
                })?;
                yaml::parse(path, &text)?
            }
            ConfigSource::Inline { name, yaml } => yaml::parse(name, yaml)?,
            ConfigSource::Unsupported { uri } => {
                return Err(
                    ConfigError::new("", format!("unsupported scheme on URI {uri:?}")).into(),
                )
            }
        };
        match node.kind {
            NodeKind::Map(_) => Ok(node),
            NodeKind::Null => Ok(Node::new(NodeKind::Map(Vec::new()), node.location)),
            _ => Err(
                ConfigError::new("", "the configuration must be a map at the top level")
                    .at(node.location)
                    .into(),
            ),
        }
    }
}

/// Loads every source, deep-merges them in order, applies `--set key=value` overrides (merged
/// after all sources, `.` meaning `::`), expands `${...}` references and unescapes `$$`.
/// Returns the full tree or every error found.
pub fn load(
    sources: &[ConfigSource],
    sets: &[String],
    env: &dyn EnvLookup,
) -> Result<Node, ConfigErrors> {
    let mut errors = ConfigErrors::default();
    let mut root = Node::new(NodeKind::Map(Vec::new()), None);
    for source in sources {
        match source.read() {
            Ok(mut node) => {
                unflatten(&mut node);
                merge(&mut root, node);
            }
            Err(e) => errors.extend(e),
        }
    }
    for set in sets {
        match set_to_node(set) {
            // otelcol turns `--set` into a `yaml:` URI, so `::` nests there too.
            Ok(mut node) => {
                unflatten(&mut node);
                merge(&mut root, node)
            }
            Err(e) => errors.extend(e),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    expand(&mut root, env)?;
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn inline(name: &str, yaml: &str) -> ConfigSource {
        ConfigSource::Inline {
            name: name.into(),
            yaml: yaml.into(),
        }
    }

    #[test]
    fn parse_arg_schemes() {
        assert!(
            matches!(ConfigSource::parse_arg("c.yaml"), ConfigSource::File(p) if p == "c.yaml")
        );
        assert!(
            matches!(ConfigSource::parse_arg("./a:b.yaml"), ConfigSource::File(p) if p == "./a:b.yaml")
        );
        assert!(
            matches!(ConfigSource::parse_arg("file:/x.yaml"), ConfigSource::File(p) if p == "/x.yaml")
        );
        assert!(
            matches!(ConfigSource::parse_arg("yaml:a::b: 1"), ConfigSource::Inline { yaml, .. } if yaml == "a::b: 1")
        );
        assert!(matches!(
            ConfigSource::parse_arg("http://x/c.yaml"),
            ConfigSource::Unsupported { .. }
        ));
    }

    #[test]
    fn merges_sets_and_expands() {
        let env: HashMap<String, String> = [("T".to_string(), "5s".to_string())].into();
        let sources = [
            inline(
                "a.yaml",
                "processors: {batch: {timeout: 1s}}\nexporters: {debug: {}}\n",
            ),
            ConfigSource::parse_arg("yaml:processors::batch::send_batch_size: 10"),
        ];
        let sets = [
            "processors.batch.timeout=${env:T}".to_string(),
            "processors::batch::send_batch_max_size=20".to_string(),
        ];
        let root = load(&sources, &sets, &env).unwrap();
        let batch = root.get("processors").unwrap().get("batch").unwrap();
        assert_eq!(batch.get("timeout").unwrap().as_str(), Some("5s"));
        assert_eq!(batch.get("send_batch_size").unwrap().as_str(), Some("10"));
        assert_eq!(
            batch.get("send_batch_max_size").unwrap().as_str(),
            Some("20")
        );
        assert!(root.get("exporters").is_some());
    }

    #[test]
    fn collects_errors_from_all_sources() {
        let env: HashMap<String, String> = HashMap::new();
        let sources = [
            ConfigSource::File("/nonexistent/kakehashi.yaml".into()),
            inline("bad.yaml", "a: [\n"),
            ConfigSource::parse_arg("s3:bucket/c.yaml"),
        ];
        let e = load(&sources, &["nokey".into()], &env).unwrap_err();
        assert_eq!(e.0.len(), 4, "{e}");
        assert!(e.0[0]
            .message
            .starts_with("cannot read config file \"/nonexistent/kakehashi.yaml\": "));
        assert_eq!(
            e.0[2].message,
            "unsupported scheme on URI \"s3:bucket/c.yaml\""
        );
        assert_eq!(e.0[3].message, "missing equal sign");
    }
}
