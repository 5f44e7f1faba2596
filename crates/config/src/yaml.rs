//! YAML text → [`Node`] tree, keeping `source:line:col` on every node and every map key.
//!
//! We use saphyr's event parser (not a DOM) because only events carry positions. Aliases are
//! resolved by copying the anchored node; `<<` merge keys are applied (explicit keys win).

use crate::error::{ConfigError, ConfigErrors, Location};
use crate::node::{Node, NodeKind, Scalar, ScalarStyle};
use saphyr_parser::{Event, Marker, Parser, ScalarStyle as YamlStyle, Tag};
use std::collections::HashMap;
use std::sync::Arc;

type Entry = (String, Option<Location>, Node);

/// Parses one config source. An empty document is an empty map.
pub(crate) fn parse(source_name: &str, text: &str) -> Result<Node, ConfigErrors> {
    Ok(parse_document(source_name, text)?
        .unwrap_or_else(|| Node::new(NodeKind::Map(Vec::new()), None)))
}

/// Parses the first YAML document of `text` (as Go's `yaml.Unmarshal` does); `None` when the
/// text holds no document at all (empty, or only comments).
pub(crate) fn parse_document(source_name: &str, text: &str) -> Result<Option<Node>, ConfigErrors> {
    let mut b = Builder {
        source: Arc::from(source_name),
        stack: Vec::new(),
        anchors: HashMap::new(),
        root: None,
        errors: ConfigErrors::default(),
    };
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| {
            ConfigError::new("", format!("yaml: {}", e.info())).at(Some(b.loc(e.marker())))
        })?;
        let loc = Some(b.loc(&span.start));
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                b.scalar(&text, style, anchor, tag.as_deref(), loc)
            }
            Event::SequenceStart(anchor, _) => b.stack.push(Frame::Seq {
                anchor,
                loc,
                items: Vec::new(),
            }),
            Event::MappingStart(anchor, _) => b.stack.push(Frame::Map {
                anchor,
                loc,
                entries: Vec::new(),
                key: None,
                merges: Vec::new(),
            }),
            Event::SequenceEnd | Event::MappingEnd => b.end_container(),
            Event::Alias(id) => {
                let node = match b.anchors.get(&id) {
                    Some(n) => Node::new(n.kind.clone(), loc),
                    None => {
                        b.errors
                            .push(ConfigError::new("", "yaml: unknown anchor").at(loc));
                        Node::null()
                    }
                };
                b.complete(node, 0);
            }
            // Like Go's yaml.Unmarshal, only the first document counts.
            Event::DocumentEnd if b.root.is_some() => break,
            _ => {}
        }
    }
    b.errors.into_result(b.root)
}

enum Frame {
    Seq {
        anchor: usize,
        loc: Option<Location>,
        items: Vec<Node>,
    },
    Map {
        anchor: usize,
        loc: Option<Location>,
        entries: Vec<Entry>,
        /// The key whose value comes next; `None` while a key is expected.
        key: Option<(String, Option<Location>)>,
        /// Values of `<<` keys, applied when the map ends.
        merges: Vec<Node>,
    },
}

struct Builder {
    source: Arc<str>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    errors: ConfigErrors,
}

impl Builder {
    fn loc(&self, m: &Marker) -> Location {
        Location {
            source: self.source.clone(),
            line: m.line(),
            column: m.col() + 1,
        }
    }

    fn scalar(
        &mut self,
        text: &str,
        style: YamlStyle,
        anchor: usize,
        tag: Option<&Tag>,
        loc: Option<Location>,
    ) {
        // A scalar in key position keeps its raw text, whatever it would resolve to.
        if let Some(Frame::Map {
            key: key @ None, ..
        }) = self.stack.last_mut()
        {
            *key = Some((text.to_owned(), loc));
            return;
        }
        let explicit_str = tag.is_some_and(|t| t.is_yaml_core_schema() && t.suffix == "str");
        let kind = match style {
            YamlStyle::Plain if explicit_str => NodeKind::Scalar(Scalar {
                text: text.to_owned(),
                style: ScalarStyle::Quoted,
            }),
            YamlStyle::Plain if matches!(text, "" | "~" | "null" | "Null" | "NULL") => {
                NodeKind::Null
            }
            YamlStyle::Plain => NodeKind::Scalar(Scalar {
                text: text.to_owned(),
                style: ScalarStyle::Plain,
            }),
            _ => NodeKind::Scalar(Scalar {
                text: text.to_owned(),
                style: ScalarStyle::Quoted,
            }),
        };
        self.complete(Node::new(kind, loc), anchor);
    }

    fn end_container(&mut self) {
        let (node, anchor) = match self.stack.pop() {
            Some(Frame::Seq { anchor, loc, items }) => {
                (Node::new(NodeKind::Seq(items), loc), anchor)
            }
            Some(Frame::Map {
                anchor,
                loc,
                mut entries,
                merges,
                ..
            }) => {
                apply_merges(&mut entries, merges);
                (Node::new(NodeKind::Map(entries), loc), anchor)
            }
            None => return,
        };
        self.complete(node, anchor);
    }

    /// Places a finished node into its parent (or as the root).
    fn complete(&mut self, node: Node, anchor: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                key: key @ None, ..
            }) => {
                // A collection used as a key: Go would reject it when decoding into strings.
                match &node.kind {
                    NodeKind::Scalar(s) => *key = Some((s.text.clone(), node.location)),
                    NodeKind::Null => *key = Some((String::new(), node.location)),
                    _ => {
                        self.errors.push(
                            ConfigError::new("", "yaml: map keys must be scalars")
                                .at(node.location.clone()),
                        );
                        *key = Some((String::new(), node.location));
                    }
                }
            }
            Some(Frame::Map {
                key,
                entries,
                merges,
                ..
            }) => {
                let Some((k, kloc)) = key.take() else { return };
                if k == "<<" && is_mergeable(&node) {
                    merges.push(node);
                } else if let Some((_, prev, _)) = entries.iter().find(|(e, _, _)| *e == k) {
                    let line = prev.as_ref().map_or(0, |l| l.line);
                    self.errors.push(
                        ConfigError::new(
                            "",
                            format!("yaml: mapping key {k:?} already defined at line {line}"),
                        )
                        .at(kloc),
                    );
                } else {
                    entries.push((k, kloc, node));
                }
            }
        }
    }
}

fn is_mergeable(node: &Node) -> bool {
    match &node.kind {
        NodeKind::Map(_) => true,
        NodeKind::Seq(items) => items.iter().all(|n| matches!(n.kind, NodeKind::Map(_))),
        _ => false,
    }
}

/// `<<: *base` (or a list of them): keys not given explicitly are taken from the merged maps,
/// earlier maps winning over later ones.
fn apply_merges(entries: &mut Vec<Entry>, merges: Vec<Node>) {
    for m in merges {
        let maps = match m.kind {
            NodeKind::Seq(items) => items,
            other => vec![Node::new(other, m.location)],
        };
        for map in maps {
            if let NodeKind::Map(src) = map.kind {
                for (k, kl, v) in src {
                    if !entries.iter().any(|(e, _, _)| *e == k) {
                        entries.push((k, kl, v));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(n: &Node) -> (usize, usize) {
        let l = n.location.as_ref().expect("location");
        (l.line, l.column)
    }

    #[test]
    fn positions_are_one_based() {
        let n = parse(
            "c.yaml",
            "receivers:\n  otlp:\n    endpoint: \"0.0.0.0:4317\"\n  x: [1, 2]\n",
        )
        .unwrap();
        let otlp = n.get("receivers").unwrap().get("otlp").unwrap();
        let ep = otlp.get("endpoint").unwrap();
        assert_eq!(pos(ep), (3, 15));
        let (_, kloc, _) = &otlp.entries().unwrap()[0];
        let kloc = kloc.as_ref().unwrap();
        assert_eq!((kloc.line, kloc.column), (3, 5));
        assert_eq!(&*kloc.source, "c.yaml");
        let NodeKind::Seq(items) = &n.get("receivers").unwrap().get("x").unwrap().kind else {
            panic!()
        };
        assert_eq!(pos(&items[1]), (4, 10));
    }

    #[test]
    fn scalar_styles_and_nulls() {
        let n = parse(
            "t",
            "a: 1\nb: \"1\"\nc:\nd: ~\ne: |\n  x\nf: null\ng: !!str 5\n",
        )
        .unwrap();
        let style = |k: &str| match &n.get(k).unwrap().kind {
            NodeKind::Scalar(s) => Some(s.style),
            _ => None,
        };
        assert_eq!(style("a"), Some(ScalarStyle::Plain));
        assert_eq!(style("b"), Some(ScalarStyle::Quoted));
        assert_eq!(style("c"), None);
        assert_eq!(n.get("d").unwrap().kind, NodeKind::Null);
        assert_eq!(style("e"), Some(ScalarStyle::Quoted));
        assert_eq!(n.get("e").unwrap().as_str(), Some("x\n"));
        assert_eq!(n.get("f").unwrap().kind, NodeKind::Null);
        assert_eq!(style("g"), Some(ScalarStyle::Quoted));
    }

    #[test]
    fn empty_document_is_empty_map() {
        assert_eq!(parse("t", "").unwrap().kind, NodeKind::Map(vec![]));
        assert_eq!(
            parse("t", "# only a comment\n").unwrap().kind,
            NodeKind::Map(vec![])
        );
    }

    #[test]
    fn syntax_error_has_location() {
        let e = parse("bad.yaml", "a: b\n  c: [\n").unwrap_err();
        let loc = e.0[0].location.as_ref().unwrap();
        assert_eq!(&*loc.source, "bad.yaml");
        assert!(e.0[0].message.starts_with("yaml: "), "{e}");
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let e = parse("t", "a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(
            e.0[0].message,
            "yaml: mapping key \"a\" already defined at line 1"
        );
        assert_eq!(e.0[0].location.as_ref().unwrap().line, 3);
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let n = parse(
            "t",
            "base: &b {x: 1, y: 2}\ncopy: *b\nm:\n  <<: *b\n  y: 3\n7: seven\n",
        )
        .unwrap();
        assert_eq!(n.get("copy").unwrap().get("x").unwrap().as_str(), Some("1"));
        let m = n.get("m").unwrap();
        assert_eq!(m.get("x").unwrap().as_str(), Some("1"));
        assert_eq!(m.get("y").unwrap().as_str(), Some("3"));
        assert_eq!(n.get("7").unwrap().as_str(), Some("seven"));
    }
}
