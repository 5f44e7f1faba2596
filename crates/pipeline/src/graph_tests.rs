use super::*;
use kakehashi_config::PipelineId;

fn id(s: &str) -> ComponentId {
    ComponentId::parse(s).unwrap()
}

/// A pipeline `name` with connectors under `receivers` (`from`) and `exporters` (`to`).
fn pipeline(name: &str, from: &[&str], to: &[&str]) -> Pipeline {
    let pid = PipelineId::parse(name).unwrap();
    Pipeline {
        signal: Signal::parse(&pid.signal).unwrap(),
        id: pid,
        receivers: Vec::new(),
        processors: vec![id("batch")],
        exporters: Vec::new(),
        from_connectors: from.iter().map(|s| id(s)).collect(),
        to_connectors: to.iter().map(|s| id(s)).collect(),
    }
}

/// A factory registry with one connector type that supports `pairs`.
fn factories(pairs: &'static [(Signal, Signal)]) -> Factories {
    use kakehashi_component::{
        AnyConfig, BuildContext, BuildError, Connector, ConnectorFactory, Consumer, FactoryInfo,
    };
    use kakehashi_config::{ConfigErrors, Node};
    use std::sync::Arc;
    struct Pairs(&'static [(Signal, Signal)]);
    impl FactoryInfo for Pairs {
        fn type_name(&self) -> &'static str {
            "conn"
        }
        fn signals(&self) -> &'static [Signal] {
            &Signal::ALL
        }
        fn decode(&self, _: &Node, _: &str) -> Result<AnyConfig, ConfigErrors> {
            Ok(Box::new(()))
        }
    }
    impl ConnectorFactory for Pairs {
        fn pairs(&self) -> &'static [(Signal, Signal)] {
            self.0
        }
        fn build(
            &self,
            _: &BuildContext,
            _: &AnyConfig,
            _: Signal,
            _: Signal,
            _: Arc<dyn Consumer>,
        ) -> Result<Arc<dyn Connector>, BuildError> {
            Err(BuildError("not built in these tests".into()))
        }
    }
    Factories {
        connectors: vec![Arc::new(Pairs(pairs))],
        ..Factories::default()
    }
}

const SAME: &[(Signal, Signal)] = &[
    (Signal::Traces, Signal::Traces),
    (Signal::Metrics, Signal::Metrics),
];
const TRACES_TO_METRICS: &[(Signal, Signal)] = &[(Signal::Traces, Signal::Metrics)];

fn position(order: &[GraphNode], n: GraphNode) -> usize {
    order.iter().position(|x| *x == n).unwrap()
}

#[test]
fn no_connectors_keeps_every_pipeline_in_the_order() {
    let ps = [pipeline("traces", &[], &[]), pipeline("metrics", &[], &[])];
    let g = plan(&ps, &factories(SAME)).unwrap();
    assert!(g.instances.is_empty());
    assert_eq!(g.order.len(), 2);
}

#[test]
fn a_connector_comes_after_its_feeders_and_before_what_it_feeds() {
    // Listed downstream first, to show the order is computed, not taken from the config.
    let ps = [
        pipeline("metrics/out", &["conn"], &[]),
        pipeline("traces/in", &[], &["conn"]),
        pipeline("traces/in2", &[], &["conn"]),
    ];
    let g = plan(&ps, &factories(TRACES_TO_METRICS)).unwrap();
    assert_eq!(
        g.instances,
        vec![ConnectorInstance {
            id: id("conn"),
            from: Signal::Traces,
            to: Signal::Metrics
        }]
    );
    let c = position(&g.order, GraphNode::Connector(0));
    assert!(position(&g.order, GraphNode::Pipeline(1)) < c);
    assert!(position(&g.order, GraphNode::Pipeline(2)) < c);
    assert!(c < position(&g.order, GraphNode::Pipeline(0)));
    assert_eq!(g.fed_by(&ps[1]).collect::<Vec<_>>(), vec![0]);
    assert!(PipelineGraph::feeds(&g.instances[0], &ps[0]));
    assert!(!PipelineGraph::feeds(&g.instances[0], &ps[1]));
}

#[test]
fn one_instance_per_supported_pair() {
    let ps = [
        pipeline("traces/in", &[], &["conn"]),
        pipeline("metrics/in", &[], &["conn"]),
        pipeline("traces/out", &["conn"], &[]),
        pipeline("metrics/out", &["conn"], &[]),
    ];
    let g = plan(&ps, &factories(SAME)).unwrap();
    let pairs: Vec<(Signal, Signal)> = g.instances.iter().map(|c| (c.from, c.to)).collect();
    assert_eq!(
        pairs,
        vec![
            (Signal::Traces, Signal::Traces),
            (Signal::Metrics, Signal::Metrics)
        ]
    );
}

#[test]
fn a_connector_used_on_one_side_only_is_an_error() {
    let ps = [pipeline("traces", &[], &["conn"])];
    assert_eq!(
        plan(&ps, &factories(SAME)).unwrap_err(),
        vec![
            "connector \"conn\" used as exporter in [traces] pipeline but not used in any supported receiver pipeline"
        ]
    );
    let ps = [pipeline("logs", &["conn"], &[])];
    assert_eq!(
        plan(&ps, &factories(SAME)).unwrap_err(),
        vec![
            "connector \"conn\" used as receiver in [logs] pipeline but not used in any supported exporter pipeline"
        ]
    );
}

#[test]
fn an_unsupported_signal_pair_is_an_error_on_both_sides() {
    let ps = [
        pipeline("metrics/in", &[], &["conn"]),
        pipeline("traces/out", &["conn"], &[]),
    ];
    let errs = plan(&ps, &factories(TRACES_TO_METRICS)).unwrap_err();
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(errs[0].contains("used as exporter in [metrics/in] pipeline"));
    assert!(errs[1].contains("used as receiver in [traces/out] pipeline"));
}

#[test]
fn a_cycle_is_an_error_naming_its_path() {
    let ps = [
        pipeline("traces/a", &["conn"], &["conn"]),
        pipeline("traces/b", &[], &[]),
    ];
    assert_eq!(
        plan(&ps, &factories(SAME)).unwrap_err(),
        vec![
            "cycle detected: connector \"conn\" (traces to traces) -> processor \"batch\" in pipeline \"traces/a\" -> connector \"conn\" (traces to traces)"
        ]
    );
    // Without processors the connector still shows at both ends.
    let mut bare = pipeline("traces/a", &["conn"], &["conn"]);
    bare.processors.clear();
    assert_eq!(
        plan(&[bare], &factories(SAME)).unwrap_err(),
        vec!["cycle detected: connector \"conn\" (traces to traces) -> connector \"conn\" (traces to traces)"]
    );
    // A longer one through two pipelines.
    let ps = [
        pipeline("traces/a", &["conn"], &["conn"]),
        pipeline("traces/b", &["conn"], &["conn"]),
    ];
    let errs = plan(&ps, &factories(SAME)).unwrap_err();
    assert!(errs[0].starts_with("cycle detected: "), "{errs:?}");
}
