//! Combining sources: koanf-style deep merge, `::` key unflattening and `--set` overrides.

use crate::error::{ConfigError, ConfigErrors, Location};
use crate::node::{Node, NodeKind};
use crate::yaml;

/// Merges `over` into `base`: maps merge key by key, everything else (scalars, lists, and an
/// explicit null) replaces what was there.
pub(crate) fn merge(base: &mut Node, over: Node) {
    match (&mut base.kind, over.kind) {
        (NodeKind::Map(base_entries), NodeKind::Map(over_entries)) => {
            for (k, kloc, v) in over_entries {
                match base_entries.iter_mut().find(|(e, _, _)| *e == k) {
                    Some((_, _, slot)) => merge(slot, v),
                    None => base_entries.push((k, kloc, v)),
                }
            }
        }
        (_, kind) => *base = Node::new(kind, over.location),
    }
}

/// confmap treats `::` in a key as a level separator (`a::b: 1` is `a: {b: 1}`), which is how
/// `yaml:processors::batch::timeout: 2s` URIs address nested keys.
pub(crate) fn unflatten(node: &mut Node) {
    match &mut node.kind {
        NodeKind::Seq(items) => items.iter_mut().for_each(unflatten),
        NodeKind::Map(entries) => {
            if !entries.iter().any(|(k, _, _)| k.contains("::")) {
                entries.iter_mut().for_each(|(_, _, v)| unflatten(v));
                return;
            }
            let mut out = Node::new(NodeKind::Map(Vec::new()), node.location.clone());
            for (k, kloc, mut v) in std::mem::take(entries) {
                unflatten(&mut v);
                let parts: Vec<&str> = k.split("::").collect();
                merge(&mut out, nest(&parts, kloc, v));
            }
            *node = out;
        }
        _ => {}
    }
}

/// `["a", "b"]`, v → `{a: {b: v}}`, every level located at `kloc`.
fn nest(parts: &[&str], kloc: Option<Location>, value: Node) -> Node {
    parts.iter().rev().fold(value, |inner, part| {
        let loc = kloc.clone();
        Node::new(
            NodeKind::Map(vec![(part.to_string(), loc.clone(), inner)]),
            loc,
        )
    })
}

/// Turns one `--set key.path=value` into a tree to merge after all config sources.
pub(crate) fn set_to_node(arg: &str) -> Result<Node, ConfigErrors> {
    let Some((key, value)) = arg.split_once('=') else {
        return Err(ConfigError::new("", "missing equal sign").into());
    };
    // otelcol trims both sides: `--set 'processors.batch.timeout = 2s'` works there.
    let (key, value) = (key.trim(), value.trim());
    let value = yaml::parse_document("--set", value)?.unwrap_or_else(Node::null);
    let loc = Some(Location {
        source: "--set".into(),
        line: 1,
        column: 1,
    });
    let parts: Vec<&str> = key.split('.').collect();
    Ok(nest(&parts, loc, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Node {
        yaml::parse("t", text).unwrap()
    }

    #[test]
    fn maps_merge_lists_and_scalars_replace() {
        let mut a = p("r: {x: 1, y: [1, 2], z: keep}\np: {batch: {}}\n");
        merge(&mut a, p("r: {x: 2, y: [3]}\n"));
        let r = a.get("r").unwrap();
        assert_eq!(r.get("x").unwrap().as_str(), Some("2"));
        assert_eq!(r.get("z").unwrap().as_str(), Some("keep"));
        let NodeKind::Seq(items) = &r.get("y").unwrap().kind else {
            panic!()
        };
        assert_eq!(items.len(), 1);
        assert!(a.get("p").unwrap().get("batch").is_some());
    }

    #[test]
    fn explicit_null_wipes() {
        let mut a = p("processors: {batch: {}}\n");
        merge(&mut a, p("processors:\n"));
        assert_eq!(a.get("processors").unwrap().kind, NodeKind::Null);
    }

    #[test]
    fn set_builds_nested_value() {
        let mut a = p("processors: {batch: {send_batch_size: 5}}\n");
        merge(&mut a, set_to_node("processors.batch.timeout=2s").unwrap());
        let batch = a.get("processors").unwrap().get("batch").unwrap();
        assert_eq!(batch.get("timeout").unwrap().as_str(), Some("2s"));
        assert_eq!(batch.get("send_batch_size").unwrap().as_str(), Some("5"));
        let loc = batch.get("timeout").unwrap().location.clone().unwrap();
        assert_eq!(&*loc.source, "--set");
        // Spaces around the key and the value are trimmed, as otelcol does.
        let mut a = p("processors: {batch: {}}\n");
        merge(
            &mut a,
            set_to_node(" processors.batch.timeout = 3s ").unwrap(),
        );
        let batch = a.get("processors").unwrap().get("batch").unwrap();
        assert_eq!(batch.get("timeout").unwrap().as_str(), Some("3s"));
        let list = set_to_node("a.b=[x, y]").unwrap();
        assert!(matches!(
            list.get("a").unwrap().get("b").unwrap().kind,
            NodeKind::Seq(_)
        ));
        assert_eq!(
            set_to_node("a.b=")
                .unwrap()
                .get("a")
                .unwrap()
                .get("b")
                .unwrap()
                .kind,
            NodeKind::Null
        );
    }

    #[test]
    fn set_without_equal_sign() {
        assert_eq!(
            set_to_node("a.b").unwrap_err().0[0].message,
            "missing equal sign"
        );
    }

    #[test]
    fn double_colon_keys_nest() {
        let mut n = p("processors::batch::timeout: 2s\nprocessors::batch::x: 1\n");
        unflatten(&mut n);
        let batch = n.get("processors").unwrap().get("batch").unwrap();
        assert_eq!(batch.get("timeout").unwrap().as_str(), Some("2s"));
        assert_eq!(batch.get("x").unwrap().as_str(), Some("1"));
    }
}
