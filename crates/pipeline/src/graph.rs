//! Connectors in the pipeline graph: the (id, consumed signal, emitted signal) instances the
//! pipelines make of them, otelcol's checks of how they are used, and the order in which
//! pipelines and connectors are built, started and stopped.
//!
//! A connector listed under `exporters` in a pipeline of signal A and under `receivers` in one of
//! signal B is one instance for (A, B) if its factory supports that pair, as in otelcol's graph:
//! every A pipeline exporting to it feeds that instance, and the instance feeds every B pipeline
//! receiving from it.

use crate::factories::Factories;
use crate::resolve::Pipeline;
use kakehashi_config::ComponentId;
use kakehashi_pdata::Signal;
use std::collections::{BTreeMap, BTreeSet};

/// One running connector: what it consumes and what it emits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorInstance {
    pub id: ComponentId,
    pub from: Signal,
    pub to: Signal,
}

impl std::fmt::Display for ConnectorInstance {
    /// otelcol's words: `connector "forward" (traces to metrics)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "connector {:?} ({} to {})",
            self.id.to_string(),
            self.from,
            self.to
        )
    }
}

/// A node of the graph: a pipeline (its processors) or a connector instance, by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphNode {
    Pipeline(usize),
    Connector(usize),
}

/// The connector instances and a topological order of everything.
#[derive(Debug, Clone, Default)]
pub struct PipelineGraph {
    pub instances: Vec<ConnectorInstance>,
    /// Pipelines and connector instances, each after everything that feeds it.
    pub order: Vec<GraphNode>,
}

impl PipelineGraph {
    /// The instances pipeline `p` exports to.
    pub fn fed_by<'a>(&'a self, p: &'a Pipeline) -> impl Iterator<Item = usize> + 'a {
        self.instances
            .iter()
            .enumerate()
            .filter(move |(_, c)| c.from == p.signal && p.to_connectors.contains(&c.id))
            .map(|(i, _)| i)
    }

    /// Whether pipeline `p` receives from instance `c`.
    pub fn feeds(c: &ConnectorInstance, p: &Pipeline) -> bool {
        c.to == p.signal && p.from_connectors.contains(&c.id)
    }
}

/// Which pipeline signals list a connector, and in which pipelines.
#[derive(Default)]
struct Uses {
    as_exporter: BTreeMap<Signal, Vec<String>>,
    as_receiver: BTreeMap<Signal, Vec<String>>,
}

/// otelcol's message (since v0.121 it lists the pipelines of the signal: `[traces/in traces]`).
fn usage_error(id: &ComponentId, role: &str, pipelines: &[String], other: &str) -> String {
    format!(
        "connector {:?} used as {role} in [{}] pipeline but not used in any supported {other} pipeline",
        id.to_string(),
        pipelines.join(" ")
    )
}

/// Builds the graph of `pipelines`, or otelcol's errors: a connector used on one side only or
/// with no signal pair its factory supports, and cycles.
pub fn plan(pipelines: &[Pipeline], factories: &Factories) -> Result<PipelineGraph, Vec<String>> {
    let mut uses: BTreeMap<&ComponentId, Uses> = BTreeMap::new();
    for p in pipelines {
        for id in &p.to_connectors {
            let u = uses.entry(id).or_default();
            u.as_exporter
                .entry(p.signal)
                .or_default()
                .push(p.id.to_string());
        }
        for id in &p.from_connectors {
            let u = uses.entry(id).or_default();
            u.as_receiver
                .entry(p.signal)
                .or_default()
                .push(p.id.to_string());
        }
    }

    let mut errs = Vec::new();
    let mut instances = Vec::new();
    for (id, u) in &uses {
        let Some(factory) = factories.connector(id.type_name()) else {
            errs.push(format!(
                "connector factory not available for: {:?}",
                id.type_name()
            ));
            continue;
        };
        let pairs = factory.pairs();
        let mut exported: BTreeSet<Signal> = BTreeSet::new();
        let mut received: BTreeSet<Signal> = BTreeSet::new();
        for &from in u.as_exporter.keys() {
            for &to in u.as_receiver.keys() {
                if pairs.contains(&(from, to)) {
                    exported.insert(from);
                    received.insert(to);
                    instances.push(ConnectorInstance {
                        id: (*id).clone(),
                        from,
                        to,
                    });
                }
            }
        }
        for (s, ps) in &u.as_exporter {
            if !exported.contains(s) {
                errs.push(usage_error(id, "exporter", ps, "receiver"));
            }
        }
        for (s, ps) in &u.as_receiver {
            if !received.contains(s) {
                errs.push(usage_error(id, "receiver", ps, "exporter"));
            }
        }
    }
    if !errs.is_empty() {
        return Err(errs);
    }

    let graph = PipelineGraph {
        instances,
        order: Vec::new(),
    };
    let order = topological_order(pipelines, &graph)?;
    Ok(PipelineGraph { order, ..graph })
}

/// The nodes each node feeds.
fn edges(pipelines: &[Pipeline], graph: &PipelineGraph, node: GraphNode) -> Vec<GraphNode> {
    match node {
        GraphNode::Pipeline(pi) => graph
            .fed_by(&pipelines[pi])
            .map(GraphNode::Connector)
            .collect(),
        GraphNode::Connector(ci) => pipelines
            .iter()
            .enumerate()
            .filter(|(_, p)| PipelineGraph::feeds(&graph.instances[ci], p))
            .map(|(pi, _)| GraphNode::Pipeline(pi))
            .collect(),
    }
}

/// Depth-first post-order, reversed: upstream first. A back edge is a cycle, reported as otelcol
/// does (`cycle detected: connector "forward" (traces to traces) -> processor "batch" in pipeline
/// "traces/b" -> connector "forward" (traces to traces)`).
fn topological_order(
    pipelines: &[Pipeline],
    graph: &PipelineGraph,
) -> Result<Vec<GraphNode>, Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let all: Vec<GraphNode> = (0..pipelines.len())
        .map(GraphNode::Pipeline)
        .chain((0..graph.instances.len()).map(GraphNode::Connector))
        .collect();
    let index = |n: GraphNode| match n {
        GraphNode::Pipeline(i) => i,
        GraphNode::Connector(i) => pipelines.len() + i,
    };
    let mut marks = vec![Mark::New; all.len()];
    let mut post = Vec::with_capacity(all.len());
    for &start in &all {
        if marks[index(start)] != Mark::New {
            continue;
        }
        // An explicit stack of (node, its successors, next successor) keeps the open path.
        let mut stack = vec![(start, edges(pipelines, graph, start), 0usize)];
        marks[index(start)] = Mark::Open;
        while let Some((node, next, i)) = stack.last_mut() {
            let Some(&succ) = next.get(*i) else {
                marks[index(*node)] = Mark::Done;
                post.push(*node);
                stack.pop();
                continue;
            };
            *i += 1;
            match marks[index(succ)] {
                Mark::Done => {}
                Mark::Open => {
                    let from = stack.iter().position(|(n, _, _)| *n == succ).unwrap_or(0);
                    let cycle: Vec<GraphNode> = stack[from..].iter().map(|(n, _, _)| *n).collect();
                    return Err(vec![cycle_error(pipelines, graph, &cycle)]);
                }
                Mark::New => {
                    marks[index(succ)] = Mark::Open;
                    stack.push((succ, edges(pipelines, graph, succ), 0));
                }
            }
        }
    }
    post.reverse();
    Ok(post)
}

/// The cycle's nodes in order, from a connector back to the same connector, as otelcol prints
/// it (a pipeline contributes its processors, and nothing when it has none).
fn cycle_error(pipelines: &[Pipeline], graph: &PipelineGraph, cycle: &[GraphNode]) -> String {
    let start = cycle
        .iter()
        .position(|n| matches!(n, GraphNode::Connector(_)))
        .unwrap_or(0);
    let path = cycle[start..]
        .iter()
        .chain(&cycle[..start])
        .chain(cycle.get(start));
    let mut parts = Vec::new();
    for node in path {
        match *node {
            GraphNode::Connector(ci) => parts.push(graph.instances[ci].to_string()),
            GraphNode::Pipeline(pi) => {
                let p = &pipelines[pi];
                parts.extend(p.processors.iter().map(|id| {
                    format!(
                        "processor {:?} in pipeline {:?}",
                        id.to_string(),
                        p.id.to_string()
                    )
                }));
            }
        }
    }
    format!("cycle detected: {}", parts.join(" -> "))
}

#[cfg(test)]
#[path = "graph_tests.rs"]
mod tests;
