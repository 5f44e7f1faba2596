//! YAML text → [`Node`] tree, keeping `source:line:col` on every node and every map key.
//!
//! We use saphyr's event parser (not a DOM) because only events carry positions. Aliases are
//! resolved by copying the anchored node; `<<` merge keys are applied (explicit keys win).
//!
//! Hostile input is bounded: nesting deeper than [`MAX_DEPTH`] and aliases that would copy more
//! than [`MAX_ALIAS_NODES`] nodes ("billion laughs") are errors, not a stack overflow or OOM.

use crate::error::{ConfigError, ConfigErrors, Location};
use crate::node::{Node, NodeKind, Scalar, ScalarStyle};
use saphyr_parser::{Event, Marker, Parser, ScalarStyle as YamlStyle, Tag};
use std::collections::HashMap;
use std::sync::Arc;

type Entry = (String, Option<Location>, Node);

/// The deepest nesting of maps and lists a config may have. Every later stage (merge, expansion,
/// decoding, even dropping the tree) recurses over it, so `[[[[...` a million deep would overflow
/// the stack; real configs nest less than 20 levels.
pub(crate) const MAX_DEPTH: usize = 100;

/// How many nodes aliases may copy in one document. An alias copies its anchored subtree, so
/// anchors of aliases of anchors grow exponentially (`a: &a [x,x,...]`, `b: &b [*a,*a,...]`, …);
/// go-yaml refuses such documents too ("excessive aliasing").
pub(crate) const MAX_ALIAS_NODES: usize = 100_000;

/// A node's size in nodes and its depth (a scalar is 1 deep).
pub(crate) fn size_and_depth(node: &Node) -> (usize, usize) {
    let children: Box<dyn Iterator<Item = &Node>> = match &node.kind {
        NodeKind::Map(entries) => Box::new(entries.iter().map(|(_, _, v)| v)),
        NodeKind::Seq(items) => Box::new(items.iter()),
        _ => return (1, 1),
    };
    children.fold((1, 1), |(size, depth), c| {
        let (s, d) = size_and_depth(c);
        (size + s, depth.max(d + 1))
    })
}

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
        alias_nodes: 0,
        root: None,
        errors: ConfigErrors::default(),
    };
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| {
            ConfigError::new("", format!("yaml: {}", e.info())).at(Some(b.loc(e.marker())))
        })?;
        let loc = Some(b.loc(&span.start));
        if matches!(event, Event::SequenceStart(..) | Event::MappingStart(..))
            && b.stack.len() >= MAX_DEPTH
        {
            let msg = format!("yaml: exceeded max depth of {MAX_DEPTH}");
            return Err(ConfigError::new("", msg).at(loc).into());
        }
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
                    Some((n, size, depth)) => {
                        b.alias_nodes += size;
                        if b.alias_nodes > MAX_ALIAS_NODES {
                            let msg = "yaml: document contains excessive aliasing";
                            return Err(ConfigError::new("", msg).at(loc).into());
                        }
                        if b.stack.len() + depth > MAX_DEPTH {
                            let msg = format!("yaml: exceeded max depth of {MAX_DEPTH}");
                            return Err(ConfigError::new("", msg).at(loc).into());
                        }
                        Node::new(n.kind.clone(), loc)
                    }
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
    /// Anchored nodes with their size and depth.
    anchors: HashMap<usize, (Node, usize, usize)>,
    /// Nodes copied by aliases so far.
    alias_nodes: usize,
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
            YamlStyle::Plain if explicit_str => {
                NodeKind::Scalar(Scalar::new(text.to_owned(), ScalarStyle::Quoted))
            }
            YamlStyle::Plain if matches!(text, "" | "~" | "null" | "Null" | "NULL") => {
                NodeKind::Null
            }
            YamlStyle::Plain => NodeKind::Scalar(Scalar::new(text.to_owned(), ScalarStyle::Plain)),
            _ => NodeKind::Scalar(Scalar::new(text.to_owned(), ScalarStyle::Quoted)),
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
            let (size, depth) = size_and_depth(&node);
            self.anchors.insert(anchor, (node.clone(), size, depth));
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
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse("t", &ok).is_ok());
        let deep = "[".repeat(1_000_000);
        // saphyr's scanner has its own limit for flow nesting; either error is fine.
        let e = parse("t", &deep).unwrap_err();
        let msg = &e.0[0].message;
        assert!(
            msg.contains("max depth") || msg.contains("recursion limit"),
            "{e}"
        );
        let e = parse("t", &format!("{}x", "[".repeat(MAX_DEPTH + 1))).unwrap_err();
        assert_eq!(e.0[0].message, "yaml: exceeded max depth of 100", "{e}");
        // Block style nests too.
        let block: String = (0..MAX_DEPTH + 1)
            .map(|i| format!("{}k:\n", " ".repeat(i)))
            .collect();
        assert!(parse("t", &block).is_err());
    }

    #[test]
    fn billion_laughs_is_refused() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for (prev, name) in ["a", "b", "c", "d", "e", "f", "g", "h"]
            .windows(2)
            .map(|w| (w[0], w[1]))
        {
            let refs = vec![format!("*{prev}"); 10].join(", ");
            text.push_str(&format!("{name}: &{name} [{refs}]\n"));
        }
        let e = parse("t", &text).unwrap_err();
        assert_eq!(e.0[0].message, "yaml: document contains excessive aliasing");
        // Nested aliases may not sneak past the depth limit either.
        let mut text = format!("a: &a {}x{}\n", "[".repeat(60), "]".repeat(60));
        text.push_str("b: &b [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[*a]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n");
        let e = parse("t", &text).unwrap_err();
        assert_eq!(e.0[0].message, "yaml: exceeded max depth of 100");
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
