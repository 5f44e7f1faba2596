//! Building the running graph from a resolved config, starting it, and shutting it down in
//! otelcol's order.

use crate::counted::{counted, Side};
use crate::factories::Factories;
use crate::fanout::Fanout;
use crate::graph::{GraphNode, PipelineGraph};
use crate::resolve::ResolvedConfig;
use crate::runner::ExporterRunner;
use kakehashi_component::exporterhelper::QueueSettings;
use kakehashi_component::{
    BuildContext, BuildError, BuildInfo, Connector, Consumer, Extension, Extensions,
    FeatureGateInfo, PipelineInfo, Processor, Receiver, ServiceInfo, SignalConsumers, Storage,
};
use kakehashi_config::{ComponentId, Kind};
use kakehashi_pdata::Signal;
use kakehashi_telemetry::Telemetry;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

/// The running parts, in the order they are started (reverse) and stopped.
pub struct Topology {
    extensions: Vec<(ComponentId, Arc<dyn Extension>)>,
    receivers: Vec<(ComponentId, Box<dyn Receiver>)>,
    /// Processors and connectors, upstream first: a pipeline's processors in order, a connector
    /// after every pipeline that feeds it.
    stages: Vec<(String, Stage)>,
    exporters: Vec<(String, Arc<ExporterRunner>)>,
}

/// A part between receivers and exporters.
enum Stage {
    Processor(Arc<dyn Processor>),
    Connector(Arc<dyn Connector>),
}

impl Stage {
    fn kind(&self) -> &'static str {
        match self {
            Stage::Processor(_) => "processor",
            Stage::Connector(_) => "connector",
        }
    }
}

/// `--feature-gates`, after applying `+name` / `-name` in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeatureGates {
    pub enabled: BTreeSet<String>,
    /// Switched off explicitly (`-name`): a gate a connector implies stays off.
    pub disabled: BTreeSet<String>,
}

/// Settings that are not part of the YAML.
#[derive(Clone)]
pub struct BuildOptions {
    pub feature_gates: Arc<BTreeSet<String>>,
    /// Gates switched off explicitly (`-name`).
    pub disabled_gates: Arc<BTreeSet<String>>,
    /// How long exporters may take to drain their queues at shutdown.
    pub drain_deadline: Duration,
    /// What the service says it is (zpages' servicez).
    pub build_info: BuildInfo,
    /// The feature gates that change something in this build, with what they do (zpages'
    /// featurez shows each with its state in this run).
    pub known_gates: Vec<(&'static str, &'static str)>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            feature_gates: Arc::default(),
            disabled_gates: Arc::default(),
            drain_deadline: crate::runner::DEFAULT_DRAIN_DEADLINE,
            build_info: BuildInfo::default(),
            known_gates: Vec::new(),
        }
    }
}

/// The storage extension `sending_queue::storage` names, if any (otelcol's errors; the resolver
/// has already checked the reference, so these are only a safety net).
fn queue_storage(
    queue: &QueueSettings,
    extensions: &[(ComponentId, Arc<dyn Extension>)],
) -> Result<Option<Arc<dyn Storage>>, BuildError> {
    let Some(name) = queue.storage.as_deref().filter(|_| queue.enabled) else {
        return Ok(None);
    };
    let id = ComponentId::parse(name).map_err(BuildError)?;
    let ext = extensions
        .iter()
        .find(|(e, _)| *e == id)
        .ok_or_else(|| BuildError(format!("{name:?}: no storage client extension found")))?;
    ext.1.clone().storage().map(Some).ok_or_else(|| {
        BuildError(format!(
            "{name:?}: requested extension is not a storage extension"
        ))
    })
}

/// The service as extensions see it: the build, the pipelines (connectors suffixed as otelcol
/// shows them), the extensions and the known gates with their state.
fn service_info(
    cfg: &ResolvedConfig,
    opts: &BuildOptions,
    enabled_gates: &BTreeSet<String>,
) -> ServiceInfo {
    let names = |ids: &[ComponentId]| ids.iter().map(ToString::to_string).collect::<Vec<_>>();
    let connectors = |ids: &[ComponentId]| {
        ids.iter()
            .map(|id| format!("{id} (connector)"))
            .collect::<Vec<_>>()
    };
    let mut pipelines: Vec<PipelineInfo> = cfg
        .pipelines
        .iter()
        .map(|p| PipelineInfo {
            id: p.id.to_string(),
            signal: p.signal.to_string(),
            receivers: [names(&p.receivers), connectors(&p.from_connectors)].concat(),
            processors: names(&p.processors),
            exporters: [names(&p.exporters), connectors(&p.to_connectors)].concat(),
        })
        .collect();
    pipelines.sort_by(|a, b| a.id.cmp(&b.id));
    let mut extensions = cfg.service.extensions.clone();
    extensions.sort();
    let mut feature_gates: Vec<FeatureGateInfo> = opts
        .known_gates
        .iter()
        .map(|(id, description)| FeatureGateInfo {
            id: (*id).to_owned(),
            enabled: enabled_gates.contains(*id),
            description: (*description).to_owned(),
        })
        .collect();
    feature_gates.sort_by(|a, b| a.id.cmp(&b.id));
    ServiceInfo {
        build: opts.build_info.clone(),
        started: std::time::SystemTime::now(),
        pipelines,
        extensions,
        feature_gates,
    }
}

/// The enabled feature gates plus those the connectors in use imply, each logged once; a gate
/// the user switched off stays off (with a warning).
fn implied_gates(
    cfg: &ResolvedConfig,
    factories: &Factories,
    opts: &BuildOptions,
) -> Arc<BTreeSet<String>> {
    let mut gates = (*opts.feature_gates).clone();
    for inst in &cfg.graph.instances {
        let Some(factory) = factories.connector(inst.id.type_name()) else {
            continue;
        };
        for gate in factory.implied_gates(inst.from, inst.to) {
            if opts.disabled_gates.contains(*gate) {
                tracing::warn!(
                    "Feature gate {gate} stays disabled as asked, although connector \"{}\" ({} to {}) implies it",
                    inst.id,
                    inst.from,
                    inst.to
                );
                continue;
            }
            if gates.insert((*gate).to_owned()) {
                tracing::info!(
                    "Feature gate {gate} enabled: connector \"{}\" ({} to {}) implies it",
                    inst.id,
                    inst.from,
                    inst.to
                );
            }
        }
    }
    Arc::new(gates)
}

impl Topology {
    /// Instantiates the components the pipelines use (unused ones are not built, as in otelcol).
    /// Errors are otelcol's graph-time errors (`failed to build pipelines: ...`).
    pub fn build(
        cfg: &ResolvedConfig,
        factories: &Factories,
        telemetry: &Telemetry,
        opts: &BuildOptions,
    ) -> Result<Topology, Vec<String>> {
        let mut errs = Vec::new();
        let feature_gates = implied_gates(cfg, factories, opts);
        let service = Arc::new(service_info(cfg, opts, &feature_gates));

        // Extensions first: receivers and exporters look up their authenticators among them.
        let mut extensions = Vec::new();
        for name in &cfg.service.extensions {
            let id = ComponentId::parse(name).expect("resolved id");
            let factory = factories.extension(id.type_name()).expect("resolved type");
            let conf = &cfg
                .component(Kind::Extension, &id)
                .expect("resolved id")
                .config;
            let ext_ctx = BuildContext {
                id: id.clone(),
                telemetry: telemetry.clone(),
                feature_gates: feature_gates.clone(),
                extensions: Extensions::default(),
                service: service.clone(),
            };
            match factory.build(&ext_ctx, conf) {
                Ok(e) => extensions.push((id, e)),
                Err(e) => errs.push(format!("failed to create \"{id}\" extension: {e}")),
            }
        }
        let enabled = Extensions::new(extensions.iter().cloned().collect());
        let ctx = |id: &ComponentId| BuildContext {
            id: id.clone(),
            telemetry: telemetry.clone(),
            feature_gates: feature_gates.clone(),
            extensions: enabled.clone(),
            service: service.clone(),
        };

        // Exporters: one runner per (id, signal), shared by that signal's pipelines.
        let mut runners: BTreeMap<(ComponentId, Signal), Arc<ExporterRunner>> = BTreeMap::new();
        for p in &cfg.pipelines {
            for id in &p.exporters {
                if runners.contains_key(&(id.clone(), p.signal)) {
                    continue;
                }
                let factory = factories.exporter(id.type_name()).expect("resolved type");
                let conf = &cfg
                    .component(Kind::Exporter, id)
                    .expect("resolved id")
                    .config;
                let built = factory.build(&ctx(id), conf, p.signal).and_then(|built| {
                    let storage = queue_storage(&built.settings.queue, &extensions)?;
                    Ok((built, storage))
                });
                match built {
                    Ok((built, storage)) => {
                        let runner = ExporterRunner::with_storage(
                            id.to_string(),
                            p.signal,
                            built.exporter,
                            built.settings,
                            telemetry.exporter(&id.to_string(), p.signal),
                            storage,
                        );
                        runners.insert((id.clone(), p.signal), Arc::new(runner));
                    }
                    Err(e) => errs.push(format!(
                        "failed to create \"{id}\" exporter for data type \"{}\": {e}",
                        p.signal
                    )),
                }
            }
        }

        // Pipelines and connectors, downstream first (the reverse of the graph's order): each
        // pipeline's exporters and connectors fan out, then its processors in reverse; a
        // connector pushes into the heads of the pipelines it feeds.
        let graph = &cfg.graph;
        let mut heads: Vec<Option<Arc<dyn Consumer>>> = vec![None; cfg.pipelines.len()];
        let mut connectors: Vec<Option<Arc<dyn Connector>>> = vec![None; graph.instances.len()];
        let mut stages = Vec::new();
        for node in graph.order.iter().rev() {
            match *node {
                GraphNode::Connector(ci) => {
                    let inst = &graph.instances[ci];
                    let targets: Option<Vec<Arc<dyn Consumer>>> = cfg
                        .pipelines
                        .iter()
                        .zip(&heads)
                        .filter(|(p, _)| PipelineGraph::feeds(inst, p))
                        .map(|(_, h)| h.clone())
                        .collect();
                    let Some(targets) = targets else {
                        continue; // a pipeline it feeds failed to build; already reported
                    };
                    let factory = factories
                        .connector(inst.id.type_name())
                        .expect("resolved type");
                    let conf = &cfg
                        .component(Kind::Connector, &inst.id)
                        .expect("resolved id")
                        .config;
                    let built = factory.build(
                        &ctx(&inst.id),
                        conf,
                        inst.from,
                        inst.to,
                        Fanout::build(targets),
                    );
                    match built {
                        Ok(c) => {
                            connectors[ci] = Some(c.clone());
                            stages.push((inst.id.to_string(), Stage::Connector(c)));
                        }
                        Err(e) => errs.push(format!("failed to create {inst}: {e}",)),
                    }
                }
                GraphNode::Pipeline(pi) => {
                    let p = &cfg.pipelines[pi];
                    let tails: Option<Vec<Arc<dyn Consumer>>> = p
                        .exporters
                        .iter()
                        .map(|id| {
                            runners
                                .get(&(id.clone(), p.signal))
                                .map(|r| r.clone() as Arc<dyn Consumer>)
                        })
                        .chain(
                            graph
                                .fed_by(p)
                                .map(|ci| connectors[ci].clone().map(|c| c as Arc<dyn Consumer>)),
                        )
                        .collect();
                    let Some(tails) = tails else {
                        continue; // an exporter or connector failed to build; already reported
                    };
                    let mut next = Fanout::build(tails);
                    for id in p.processors.iter().rev() {
                        let factory = factories.processor(id.type_name()).expect("resolved type");
                        let conf = &cfg
                            .component(Kind::Processor, id)
                            .expect("resolved id")
                            .config;
                        let out = counted(next.clone(), Side::Outgoing, telemetry, id, p.signal);
                        match factory.build(&ctx(id), conf, p.signal, out) {
                            Ok(proc_) => {
                                next =
                                    counted(proc_.clone(), Side::Incoming, telemetry, id, p.signal);
                                stages.push((
                                    format!("{} in pipeline {}", id, p.id),
                                    Stage::Processor(proc_),
                                ));
                            }
                            Err(e) => errs.push(format!(
                                "failed to create \"{id}\" processor, in pipeline \"{}\": {e}",
                                p.id
                            )),
                        }
                    }
                    heads[pi] = Some(next);
                }
            }
        }
        stages.reverse();

        // Receivers: one instance per id, fanning out to every pipeline that lists it.
        let mut receivers = Vec::new();
        let mut receiver_ids: Vec<&ComponentId> = Vec::new();
        for p in &cfg.pipelines {
            for id in &p.receivers {
                if !receiver_ids.contains(&id) {
                    receiver_ids.push(id);
                }
            }
        }
        for id in receiver_ids {
            let mut consumers = SignalConsumers::default();
            for signal in Signal::ALL {
                let targets: Vec<Arc<dyn Consumer>> = cfg
                    .pipelines
                    .iter()
                    .zip(&heads)
                    .filter(|(p, _)| p.signal == signal && p.receivers.contains(id))
                    .filter_map(|(_, h)| h.clone())
                    .collect();
                if !targets.is_empty() {
                    consumers.set(signal, Fanout::build(targets));
                }
            }
            let factory = factories.receiver(id.type_name()).expect("resolved type");
            let conf = &cfg
                .component(Kind::Receiver, id)
                .expect("resolved id")
                .config;
            match factory.build(&ctx(id), conf, consumers) {
                Ok(r) => receivers.push((id.clone(), r)),
                Err(e) => errs.push(format!("failed to create \"{id}\" receiver: {e}")),
            }
        }

        if !errs.is_empty() {
            return Err(errs);
        }
        Ok(Topology {
            extensions,
            receivers,
            stages,
            exporters: runners
                .into_iter()
                .map(|((id, signal), r)| (format!("{id} ({signal})"), r))
                .collect(),
        })
    }

    /// Starts extensions, then exporters, processors and receivers (downstream first, so nothing
    /// is received before it can be handled), then tells extensions the pipelines are ready.
    pub async fn start(&mut self) -> Result<(), String> {
        tracing::info!("Starting extensions...");
        for (id, e) in &self.extensions {
            tracing::info!(kind = "extension", name = %id, "Extension is starting...");
            e.start()
                .await
                .map_err(|err| format!("failed to start \"{id}\" extension: {err}"))?;
            tracing::info!(kind = "extension", name = %id, "Extension started.");
        }
        for (id, r) in &self.exporters {
            r.start()
                .await
                .map_err(|err| format!("failed to start \"{id}\" exporter: {err}"))?;
        }
        for (id, stage) in self.stages.iter().rev() {
            let started = match stage {
                Stage::Processor(p) => p.start().await,
                Stage::Connector(c) => c.start().await,
            };
            started.map_err(|err| format!("failed to start \"{id}\" {}: {err}", stage.kind()))?;
        }
        for (id, r) in &mut self.receivers {
            r.start()
                .await
                .map_err(|err| format!("failed to start \"{id}\" receiver: {err}"))?;
        }
        for (_, e) in &self.extensions {
            e.pipelines_ready();
        }
        Ok(())
    }

    /// otelcol's order: extensions report not-ready; receivers stop and drain in-flight requests;
    /// processors and connectors flush, upstream first (batch flushes everything); exporters drain their queues within
    /// `drain_deadline`; extensions stop, last started first.
    pub async fn shutdown(mut self, drain_deadline: Duration) {
        for (_, e) in &self.extensions {
            e.pipelines_not_ready();
        }
        for (id, r) in &mut self.receivers {
            tracing::debug!(component = %id, "Shutting down receiver");
            r.shutdown().await;
        }
        for (id, stage) in &self.stages {
            tracing::debug!(component = %id, "Shutting down {}", stage.kind());
            match stage {
                Stage::Processor(p) => p.shutdown().await,
                Stage::Connector(c) => c.shutdown().await,
            }
        }
        let exporters = self.exporters.iter().map(|(id, r)| async move {
            tracing::debug!(component = %id, "Shutting down exporter");
            r.shutdown(drain_deadline).await;
        });
        futures::future::join_all(exporters).await;
        // In reverse start order, as otelcol: an extension others depend on stops last.
        tracing::info!("Stopping extensions...");
        for (_, e) in self.extensions.iter().rev() {
            e.shutdown().await;
        }
    }

    /// The extensions, for callers that need to reach one (tests).
    pub fn extensions(&self) -> impl Iterator<Item = &Arc<dyn Extension>> {
        self.extensions.iter().map(|(_, e)| e)
    }
}
