//! The config tree: YAML parsed into nodes that remember where they came from.

use crate::error::Location;

/// A value in the config tree, with the position of its first character.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub location: Option<Location>,
    /// For a map or list that a whole-value `${...}` expansion produced: the retrieved text,
    /// which a string field gets instead (otelcol's `Original`: `${env:PW}` with `PW={s3cret}`
    /// is a password, not a YAML map).
    pub original: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// `~`, `null`, or an empty value (`grpc:`).
    Null,
    Scalar(Scalar),
    Seq(Vec<Node>),
    /// Keys in document order; each key keeps its own position (for unknown-key errors).
    Map(Vec<(String, Option<Location>, Node)>),
}

/// A scalar keeps its source text; its type is decided when a field asks for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    pub text: String,
    pub style: ScalarStyle,
    /// For [`ScalarStyle::Expanded`]: the retrieved text parsed as YAML, when it is a scalar
    /// (`20000\n` from a file is the plain scalar `20000`, `"5"` the quoted `5`). It types the
    /// value for non-string fields; `text`, the retrieved text itself, is what a string field
    /// gets, as otelcol's `Original`.
    pub parsed: Option<Box<Scalar>>,
}

impl Scalar {
    pub fn new(text: impl Into<String>, style: ScalarStyle) -> Scalar {
        Scalar {
            text: text.into(),
            style,
            parsed: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarStyle {
    /// Unquoted YAML: resolved with the YAML 1.2 core schema (int, float, `true`/`false`, null);
    /// a string field gets the text as-is.
    Plain,
    /// Quoted or block scalar: always a string (`send_batch_size: "10"` is an error).
    Quoted,
    /// The result of a whole-value `${...}` expansion: the text parsed as YAML decides the type
    /// for int/bool/float/any fields, while a string field gets the original text (`"0123"`).
    Expanded,
}

impl Node {
    pub fn new(kind: NodeKind, location: Option<Location>) -> Self {
        Node {
            kind,
            location,
            original: None,
        }
    }
    pub fn null() -> Self {
        Node::new(NodeKind::Null, None)
    }
    /// Looks up a key of a map node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            NodeKind::Map(entries) => entries.iter().find(|(k, _, _)| k == key).map(|(_, _, v)| v),
            _ => None,
        }
    }
    /// The entries of a map node (empty for null, None for other kinds).
    pub fn entries(&self) -> Option<&[(String, Option<Location>, Node)]> {
        match &self.kind {
            NodeKind::Map(e) => Some(e),
            NodeKind::Null => Some(&[]),
            _ => None,
        }
    }
    /// The text of a scalar node.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar(s) => Some(&s.text),
            _ => None,
        }
    }
}
