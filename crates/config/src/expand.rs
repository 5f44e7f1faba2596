//! `${env:VAR}` and `${file:PATH}` expansion with otelcol's rules.

use crate::error::{ConfigError, ConfigErrors, Location};
use crate::node::{Node, NodeKind, Scalar, ScalarStyle};
use crate::yaml;
use regex::Regex;
use std::sync::OnceLock;

/// Where `${env:VAR}` looks variables up (the process environment in production, a map in tests).
pub trait EnvLookup {
    fn get(&self, name: &str) -> Option<String>;

    /// Called for a `${env:VAR}` whose variable is unset and has no default (it expands to
    /// nothing; otelcol logs a warning). The collector records these to warn once logging is up.
    fn unset_without_default(&self, _name: &str) {}
}

/// The process environment, remembering the variables referenced while unset and without a
/// default, so the caller can warn about them.
#[derive(Default)]
pub struct RecordingProcessEnv {
    unset: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl RecordingProcessEnv {
    /// The unset variables referenced without a default, sorted.
    pub fn unset(&self) -> Vec<String> {
        let set = self.unset.lock().unwrap_or_else(|e| e.into_inner());
        set.iter().cloned().collect()
    }
}

impl EnvLookup for RecordingProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn unset_without_default(&self, name: &str) {
        let mut set = self.unset.lock().unwrap_or_else(|e| e.into_inner());
        set.insert(name.to_owned());
    }
}

/// The process environment.
pub struct ProcessEnv;

impl EnvLookup for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl<S: std::hash::BuildHasher> EnvLookup for std::collections::HashMap<String, String, S> {
    fn get(&self, name: &str) -> Option<String> {
        std::collections::HashMap::get(self, name).cloned()
    }
}

/// Expands every string value of the tree in place (keys are never expanded), then turns `$$`
/// into `$`.
pub fn expand(node: &mut Node, env: &dyn EnvLookup) -> Result<(), ConfigErrors> {
    let mut errors = ConfigErrors::default();
    let mut st = State {
        env,
        errors: &mut errors,
        bytes: 0,
        nodes: 0,
        exhausted: false,
    };
    expand_node(node, "", &mut st, 0, 1);
    unescape(node);
    errors.into_result(())
}

/// otelcol gives up after this many rounds of re-expanding retrieved values.
const MAX_ROUNDS: usize = 1000;

/// Bounds on the whole config's expansion, beyond otelcol's per-value [`MAX_ROUNDS`]: a value
/// that expands to a list of references to itself (`A="- ${env:A}\n- ${env:A}"`) doubles with
/// every round, and one that embeds itself with a long suffix grows by that suffix each round.
/// Real configs retrieve a few kilobytes (a CA bundle is ~200 KB).
const MAX_RETRIEVED_BYTES: usize = 4 << 20;
/// Nodes that expansions may add to the tree in total.
const MAX_EXPANDED_NODES: usize = 100_000;

/// What expansion carries through the tree: the lookup, the errors, the total budgets used.
struct State<'a> {
    env: &'a dyn EnvLookup,
    errors: &'a mut ConfigErrors,
    /// Bytes retrieved so far (all references).
    bytes: usize,
    /// Nodes added by collection-valued expansions so far.
    nodes: usize,
    /// A budget ran out: one error is reported and expansion stops everywhere, since a runaway
    /// expansion would otherwise report the same error once per branch.
    exhausted: bool,
}

impl State<'_> {
    fn exhaust(&mut self, e: ConfigError) {
        self.exhausted = true;
        self.errors.push(e);
    }
}

fn join(path: &str, seg: &str) -> String {
    if path.is_empty() {
        seg.to_owned()
    } else {
        format!("{path}::{seg}")
    }
}

/// `rounds` counts expansions already done on the way to this node, so a variable that expands
/// to a map containing itself still stops; `depth` is the node's depth in the tree (root = 1).
fn expand_node(node: &mut Node, path: &str, st: &mut State, rounds: usize, depth: usize) {
    match &mut node.kind {
        NodeKind::Map(entries) => {
            for (k, _, v) in entries {
                expand_node(v, &join(path, k), st, rounds, depth + 1);
            }
        }
        NodeKind::Seq(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                expand_node(v, &join(path, &i.to_string()), st, rounds, depth + 1);
            }
        }
        NodeKind::Scalar(_) => expand_scalar(node, path, st, rounds, depth),
        NodeKind::Null => {}
    }
}

/// Expands one scalar until nothing changes: each round resolves the innermost (first-closing)
/// `${...}`, so `${env:A:-${env:B}}` resolves B first.
fn expand_scalar(node: &mut Node, path: &str, st: &mut State, mut rounds: usize, depth: usize) {
    loop {
        if st.exhausted {
            return;
        }
        let NodeKind::Scalar(s) = &node.kind else {
            // A whole-value expansion produced a map or list: expand inside it.
            return expand_node(node, path, st, rounds, depth);
        };
        let Some((start, end)) = find_reference(&s.text) else {
            return;
        };
        rounds += 1;
        if rounds > MAX_ROUNDS {
            let e = ConfigError::new(path, "too many recursive expansions");
            st.errors.push(e.at(node.location.clone()));
            return;
        }
        let reference = &s.text[start..end];
        let fail = |msg: String| ConfigError::new(path, msg).at(node.location.clone());
        let retrieved = match resolve(reference, st.env) {
            Ok(v) => v,
            Err(msg) => return st.errors.push(fail(msg)),
        };
        st.bytes += retrieved.len();
        if st.bytes > MAX_RETRIEVED_BYTES {
            return st.exhaust(fail(format!(
                "expanding {reference}: the configuration's expansions retrieve more than \
                 {MAX_RETRIEVED_BYTES} bytes in total (recursive expansion?)"
            )));
        }
        // Like confmap.NewRetrievedFromYAML: text that is not valid YAML is just a string.
        let parsed = yaml::parse_document("env", &retrieved).ok().flatten();
        let is_collection = parsed
            .as_ref()
            .is_some_and(|n| matches!(n.kind, NodeKind::Map(_) | NodeKind::Seq(_)));
        if start == 0 && end == s.text.len() {
            node.kind = match parsed {
                Some(mut sub) if is_collection => {
                    let (size, sub_depth) = yaml::size_and_depth(&sub);
                    st.nodes += size;
                    if st.nodes > MAX_EXPANDED_NODES {
                        return st.exhaust(fail(format!(
                            "expanding {reference}: the configuration's expansions add more \
                             than {MAX_EXPANDED_NODES} values in total (recursive expansion?)"
                        )));
                    }
                    if depth - 1 + sub_depth > yaml::MAX_DEPTH {
                        return st.exhaust(fail(format!(
                            "expanding {reference}: the result nests deeper than {} levels \
                             (recursive expansion?)",
                            yaml::MAX_DEPTH
                        )));
                    }
                    relocate(&mut sub, &node.location);
                    node.original = Some(retrieved);
                    sub.kind
                }
                parsed => {
                    let parsed = match parsed.map(|n| n.kind) {
                        Some(NodeKind::Scalar(p)) => Some(Box::new(p)),
                        _ => None,
                    };
                    NodeKind::Scalar(Scalar {
                        text: retrieved,
                        style: ScalarStyle::Expanded,
                        parsed,
                    })
                }
            };
        } else {
            // Embedded in a longer string, the retrieved text is used as it is, even when it
            // would parse as a YAML map or list (otelcol's `AsString`).
            let text = format!("{}{retrieved}{}", &s.text[..start], &s.text[end..]);
            node.kind = NodeKind::Scalar(Scalar::new(text, ScalarStyle::Quoted));
        }
    }
}

/// Finds the first `${...}` to expand: the first `}` and the last `${` before it, skipping
/// references escaped by an odd number of `$` in front (`$${env:X}` is literal).
fn find_reference(s: &str) -> Option<(usize, usize)> {
    let mut from = 0;
    loop {
        let close = from + s[from..].find('}')?;
        if let Some(open) = s[from..close].rfind("${").map(|o| o + from) {
            let dollars = s[..open].bytes().rev().take_while(|&b| b == b'$').count();
            if dollars % 2 == 0 {
                return Some((open, close + 1));
            }
        }
        from = close + 1;
    }
}

fn uri_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"(?s)^([A-Za-z][A-Za-z0-9+.-]+):(.*)$").expect("valid regex"))
}

fn env_name_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^[a-zA-Z_][a-zA-Z0-9_]*$").expect("valid regex"))
}

/// Retrieves the text of one `${scheme:opaque}` reference (`${VAR}` means `${env:VAR}`).
fn resolve(reference: &str, env: &dyn EnvLookup) -> Result<String, String> {
    let inner = &reference[2..reference.len() - 1];
    let uri = if inner.contains(':') {
        inner.to_owned()
    } else {
        format!("env:{inner}")
    };
    let caps = uri_regex()
        .captures(&uri)
        .ok_or_else(|| format!("invalid uri: {uri:?}"))?;
    let (scheme, opaque) = (&caps[1], &caps[2]);
    if opaque.contains('$') {
        return Err(format!(
            "the uri {uri:?} contains unsupported characters ('$')"
        ));
    }
    if scheme == "file" {
        // otelcol's fileprovider: the file's content, parsed as YAML where it is a whole value
        // (so a key file's trailing newline goes), inserted as text inside a longer string.
        return std::fs::read_to_string(opaque)
            .map_err(|e| format!("unable to read the file {uri}: {e}"));
    }
    if scheme != "env" {
        return Err(format!(
            "scheme {scheme:?} is not supported for uri {uri:?} (only \"env\" and \"file\" are supported in ${{...}})"
        ));
    }
    let (name, default) = match opaque.split_once(":-") {
        Some((n, d)) => (n, Some(d)),
        None => (opaque, None),
    };
    if !env_name_regex().is_match(name) {
        return Err(format!(
            "environment variable {name:?} has invalid name: must match regex ^[a-zA-Z_][a-zA-Z0-9_]*$"
        ));
    }
    // The default applies only when the variable is unset; set-but-empty stays empty. Unset
    // without default is "" (otelcol only logs a warning).
    match (env.get(name), default) {
        (Some(v), _) => Ok(v),
        (None, Some(d)) => Ok(d.to_owned()),
        (None, None) => {
            env.unset_without_default(name);
            Ok(String::new())
        }
    }
}

/// Retrieved subtrees take the position of the `${...}` they replaced.
fn relocate(node: &mut Node, loc: &Option<Location>) {
    node.location.clone_from(loc);
    match &mut node.kind {
        NodeKind::Map(entries) => entries.iter_mut().for_each(|(_, kl, v)| {
            kl.clone_from(loc);
            relocate(v, loc);
        }),
        NodeKind::Seq(items) => items.iter_mut().for_each(|v| relocate(v, loc)),
        _ => {}
    }
}

fn unescape(node: &mut Node) {
    match &mut node.kind {
        NodeKind::Map(entries) => entries.iter_mut().for_each(|(_, _, v)| unescape(v)),
        NodeKind::Seq(items) => items.iter_mut().for_each(unescape),
        NodeKind::Scalar(s) if s.text.contains("$$") => s.text = s.text.replace("$$", "$"),
        _ => {}
    }
}

#[cfg(test)]
mod tests;
