//! From the merged config tree to validated components and pipelines, with every error at once.

use crate::factories::Factories;
use crate::graph::{plan, PipelineGraph};
use crate::service::ServiceConfig;
use kakehashi_component::AnyConfig;
use kakehashi_config::{decode, ComponentId, ConfigError, ConfigErrors, Kind, Node, PipelineId};
use kakehashi_pdata::Signal;
use std::collections::{BTreeMap, BTreeSet};

/// A configured component: its id and decoded, validated config.
pub struct ComponentConfig {
    pub id: ComponentId,
    pub config: AnyConfig,
}

/// A validated pipeline.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub id: PipelineId,
    pub signal: Signal,
    pub receivers: Vec<ComponentId>,
    pub processors: Vec<ComponentId>,
    pub exporters: Vec<ComponentId>,
    /// Connectors listed under `receivers`: this pipeline receives what they emit.
    pub from_connectors: Vec<ComponentId>,
    /// Connectors listed under `exporters`: this pipeline feeds them.
    pub to_connectors: Vec<ComponentId>,
}

/// The whole configuration, validated.
pub struct ResolvedConfig {
    pub components: BTreeMap<Kind, Vec<ComponentConfig>>,
    pub pipelines: Vec<Pipeline>,
    /// The connector instances and the order pipelines and connectors are built in.
    pub graph: PipelineGraph,
    pub service: ServiceConfig,
}

impl ResolvedConfig {
    pub fn component(&self, kind: Kind, id: &ComponentId) -> Option<&ComponentConfig> {
        self.components.get(&kind)?.iter().find(|c| &c.id == id)
    }

    /// otelcol's warnings for components configured under a deprecated alias (`otlp` for
    /// `otlp_grpc`, `otlphttp` for `otlp_http`), one per component type.
    pub fn deprecated_alias_warnings(&self, factories: &Factories) -> Vec<String> {
        let mut out = BTreeSet::new();
        for (kind, configs) in &self.components {
            for c in configs {
                let used = c.id.type_name();
                if let Some(f) = factories.info(*kind, used) {
                    if f.type_name() != used {
                        out.insert(format!(
                            "{used:?} alias is deprecated; use {:?} instead",
                            f.type_name()
                        ));
                    }
                }
            }
        }
        out.into_iter().collect()
    }
}

const KINDS: [Kind; 5] = [
    Kind::Receiver,
    Kind::Processor,
    Kind::Exporter,
    Kind::Extension,
    Kind::Connector,
];
const TOP_LEVEL: [&str; 6] = [
    "receivers",
    "processors",
    "exporters",
    "extensions",
    "connectors",
    "service",
];

/// Decodes and validates every component (used or not, as otelcol does) and the service section.
pub fn resolve(root: &Node, factories: &Factories) -> Result<ResolvedConfig, ConfigErrors> {
    let mut errs = ConfigErrors::default();
    let Some(entries) = root.entries() else {
        return Err(ConfigError::new("", "the configuration must be a map")
            .at(root.location.clone())
            .into());
    };
    if entries.is_empty() {
        return Err(ConfigError::new("", "empty configuration file").into());
    }
    for (key, loc, _) in entries {
        if !TOP_LEVEL.contains(&key.as_str()) {
            errs.push(
                ConfigError::new(
                    "",
                    format!(
                        "unknown top-level key {key:?}; valid keys: {}",
                        TOP_LEVEL.join(", ")
                    ),
                )
                .at(loc.clone()),
            );
        }
    }
    // `defined` holds every well-formed id, decoded or not, so that one invalid component gives
    // one error and not follow-on "not configured" errors wherever it is referenced.
    let mut components = BTreeMap::new();
    let mut defined = BTreeMap::new();
    for kind in KINDS {
        let (ok, ids) = resolve_section(root, kind, factories, &mut errs);
        components.insert(kind, ok);
        defined.insert(kind, ids);
    }
    check_ambiguous_connectors(root, &defined, &mut errs);
    if defined[&Kind::Receiver].is_empty() {
        errs.push(ConfigError::new(
            "",
            "no receiver configuration specified in config",
        ));
    }
    if defined[&Kind::Exporter].is_empty() {
        errs.push(ConfigError::new(
            "",
            "no exporter configuration specified in config",
        ));
    }

    let service_node = root.get("service").cloned().unwrap_or_else(Node::null);
    let service: Option<ServiceConfig> = match decode(&service_node, "service") {
        Ok(s) => Some(s),
        Err(e) => {
            errs.extend(e);
            None
        }
    };
    let mut pipelines = Vec::new();
    let mut graph = PipelineGraph::default();
    if let Some(service) = &service {
        use kakehashi_config::Validate;
        for m in service.telemetry.validate() {
            errs.push(ConfigError::new("service::telemetry", m));
        }
        pipelines = resolve_pipelines(service, &service_node, &defined, factories, &mut errs);
        check_only_from_connectors(&pipelines, &service_node, factories, &mut errs);
        match plan(&pipelines, factories) {
            Ok(g) => graph = g,
            Err(e) => {
                let loc = service_node
                    .get("pipelines")
                    .and_then(|n| n.location.clone());
                for m in e {
                    errs.push(ConfigError::new("service::pipelines", m).at(loc.clone()));
                }
            }
        }
        for ext in &service.extensions {
            let known = ComponentId::parse(ext)
                .ok()
                .is_some_and(|id| defined[&Kind::Extension].contains(&id));
            if !known {
                errs.push(
                    ConfigError::new(
                        "service::extensions",
                        format!("references extension {ext:?} which is not configured"),
                    )
                    .at(service_node
                        .get("extensions")
                        .and_then(|n| n.location.clone())),
                );
            }
        }
        check_extension_refs(root, &components, &pipelines, service, factories, &mut errs);
        check_queue_storage(root, &pipelines, service, factories, &mut errs);
    }
    match service {
        Some(service) if errs.is_empty() => Ok(ResolvedConfig {
            components,
            pipelines,
            graph,
            service,
        }),
        _ => Err(errs),
    }
}

/// An exporter that takes a signal only from some connectors (`only_from_connectors`) must not
/// be fed that signal by a pipeline with other sources.
fn check_only_from_connectors(
    pipelines: &[Pipeline],
    service_node: &Node,
    factories: &Factories,
    errs: &mut ConfigErrors,
) {
    for p in pipelines {
        for id in &p.exporters {
            let Some(allowed) = factories
                .exporter(id.type_name())
                .and_then(|f| f.only_from_connectors(p.signal))
            else {
                continue;
            };
            let others: Vec<String> = p
                .receivers
                .iter()
                .map(|r| format!("receiver {:?}", r.to_string()))
                .chain(
                    p.from_connectors
                        .iter()
                        .filter(|c| !allowed.contains(&c.type_name()))
                        .map(|c| format!("connector {:?}", c.to_string())),
                )
                .collect();
            if others.is_empty() {
                continue;
            }
            let loc = service_node
                .get("pipelines")
                .and_then(|n| n.get(&p.id.to_string()))
                .and_then(|n| n.location.clone());
            errs.push(
                ConfigError::new(
                    format!("service::pipelines::{}", p.id),
                    format!(
                        "exporter {:?} takes {} only from the {} connector so far, not from {}",
                        id.to_string(),
                        p.signal,
                        allowed.join(" or "),
                        others.join(", ")
                    ),
                )
                .at(loc),
            );
        }
    }
}

/// A pipeline names receivers, exporters and connectors alike, so a connector id must not also
/// be a receiver's or an exporter's (otelcol's "ambiguous ID" error).
fn check_ambiguous_connectors(
    root: &Node,
    defined: &BTreeMap<Kind, BTreeSet<ComponentId>>,
    errs: &mut ConfigErrors,
) {
    for id in &defined[&Kind::Connector] {
        for kind in [Kind::Exporter, Kind::Receiver] {
            if !defined[&kind].contains(id) {
                continue;
            }
            let loc = root
                .get("connectors")
                .and_then(|n| n.get(&id.to_string()))
                .and_then(|n| n.location.clone());
            errs.push(
                ConfigError::new(
                    format!("connectors::{id}"),
                    format!(
                        "ambiguous ID: Found both {id:?} {} and {id:?} connector. Change one of the components' IDs to eliminate ambiguity (e.g. rename {id:?} connector to \"{id}/connector\")",
                        kind.singular(),
                        id = id.to_string()
                    ),
                )
                .at(loc),
            );
        }
    }
}

/// Every extension a pipeline component refers to (`auth::authenticator`) must be configured and
/// enabled in `service::extensions`. otelcol finds this only when the component starts; here it
/// is a config error, so `kakehashi validate` reports it. Unused components are not built, so
/// their references are not checked (as in otelcol).
fn check_extension_refs(
    root: &Node,
    components: &BTreeMap<Kind, Vec<ComponentConfig>>,
    pipelines: &[Pipeline],
    service: &ServiceConfig,
    factories: &Factories,
    errs: &mut ConfigErrors,
) {
    let enabled: BTreeSet<ComponentId> = service
        .extensions
        .iter()
        .filter_map(|e| ComponentId::parse(e).ok())
        .collect();
    for kind in [Kind::Receiver, Kind::Exporter] {
        let used: BTreeSet<&ComponentId> = pipelines
            .iter()
            .flat_map(|p| match kind {
                Kind::Receiver => &p.receivers,
                _ => &p.exporters,
            })
            .collect();
        for c in components.get(&kind).into_iter().flatten() {
            let Some(f) = factories.info(kind, c.id.type_name()) else {
                continue;
            };
            if !used.contains(&c.id) {
                continue;
            }
            for (key, ext) in f.extension_refs(&c.config) {
                let known = ComponentId::parse(&ext).is_ok_and(|id| enabled.contains(&id));
                if !known {
                    let path = format!("{}::{}::{key}", kind.section(), c.id);
                    let loc = root
                        .get(kind.section())
                        .and_then(|n| n.get(&c.id.to_string()))
                        .and_then(|n| n.location.clone());
                    errs.push(
                        ConfigError::new(
                            &path,
                            format!("references extension {ext:?} which is not configured and enabled in service::extensions"),
                        )
                        .at(loc),
                    );
                }
            }
        }
    }
}

/// `sending_queue::storage` of every exporter a pipeline uses must name a storage extension that
/// is configured and enabled in `service::extensions` (otelcol's "no storage client extension
/// found" / "requested extension is not a storage extension", found here at validation time).
/// Every exporter embeds the same `sending_queue` settings, so this reads the config tree.
fn check_queue_storage(
    root: &Node,
    pipelines: &[Pipeline],
    service: &ServiceConfig,
    factories: &Factories,
    errs: &mut ConfigErrors,
) {
    let used: BTreeSet<&ComponentId> = pipelines.iter().flat_map(|p| &p.exporters).collect();
    for id in used {
        let queue = root
            .get(Kind::Exporter.section())
            .and_then(|n| n.get(&id.to_string()))
            .and_then(|n| n.get("sending_queue"));
        let Some(queue) = queue else { continue };
        let queue_enabled = queue.get("enabled").and_then(Node::as_str);
        if queue_enabled.is_some_and(|e| e.eq_ignore_ascii_case("false")) {
            continue;
        }
        let Some(node) = queue.get("storage") else {
            continue;
        };
        let Some(name) = node.as_str() else { continue }; // a type error, reported by decoding
        let enabled = service.extensions.iter().any(|e| {
            ComponentId::parse(e)
                .ok()
                .zip(ComponentId::parse(name).ok())
                .is_some_and(|(a, b)| a == b)
        });
        let message = if !enabled {
            format!(
                "references storage extension {name:?} which is not configured and enabled in service::extensions"
            )
        } else if !ComponentId::parse(name).is_ok_and(|ext| {
            factories
                .extension(ext.type_name())
                .is_some_and(|f| f.provides_storage())
        }) {
            format!("{name:?}: requested extension is not a storage extension")
        } else {
            continue;
        };
        errs.push(
            ConfigError::new(format!("exporters::{id}::sending_queue::storage"), message)
                .at(node.location.clone()),
        );
    }
}

fn resolve_section(
    root: &Node,
    kind: Kind,
    factories: &Factories,
    errs: &mut ConfigErrors,
) -> (Vec<ComponentConfig>, BTreeSet<ComponentId>) {
    let section = kind.section();
    let Some(node) = root.get(section) else {
        return Default::default();
    };
    let Some(entries) = node.entries() else {
        errs.push(
            ConfigError::new(section, "must be a map of component id to settings")
                .at(node.location.clone()),
        );
        return Default::default();
    };
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (key, loc, value) in entries {
        let path = format!("{section}::{key}");
        let id = match ComponentId::parse(key) {
            Ok(id) => id,
            Err(m) => {
                errs.push(ConfigError::new(&path, m).at(loc.clone()));
                continue;
            }
        };
        if !seen.insert(id.clone()) {
            errs.push(
                ConfigError::new(
                    section,
                    format!("duplicate name {:?} after unmarshaling", id.to_string()),
                )
                .at(loc.clone()),
            );
            continue;
        }
        let Some(factory) = factories.info(kind, id.type_name()) else {
            let message = if kind == Kind::Exporter && id.type_name() == "logging" {
                "the logging exporter has been deprecated, use the debug exporter instead"
                    .to_owned()
            } else {
                format!(
                    "unknown type: {:?} for id: {:?} (valid values: [{}])",
                    id.type_name(),
                    id.to_string(),
                    factories.type_names(kind).join(" ")
                )
            };
            errs.push(ConfigError::new(section, message).at(loc.clone()));
            continue;
        };
        match factory.decode(value, &path) {
            Ok(config) => out.push(ComponentConfig { id, config }),
            Err(e) => errs.extend(e),
        }
    }
    (out, seen)
}

fn resolve_pipelines(
    service: &ServiceConfig,
    service_node: &Node,
    defined: &BTreeMap<Kind, BTreeSet<ComponentId>>,
    factories: &Factories,
    errs: &mut ConfigErrors,
) -> Vec<Pipeline> {
    let pipelines_node = service_node.get("pipelines");
    if service.pipelines.is_empty() {
        errs.push(
            ConfigError::new(
                "service::pipelines",
                "service must have at least one pipeline",
            )
            .at(pipelines_node
                .and_then(|n| n.location.clone())
                .or(service_node.location.clone())),
        );
        return Vec::new();
    }
    let mut out = Vec::new();
    for (key, p) in &service.pipelines {
        let path = format!("service::pipelines::{key}");
        let loc = pipelines_node
            .and_then(|n| n.get(key))
            .and_then(|n| n.location.clone());
        let mut err = |m: String| errs.push(ConfigError::new(&path, m).at(loc.clone()));
        let id = match PipelineId::parse(key) {
            Ok(id) => id,
            Err(m) => {
                err(m);
                continue;
            }
        };
        let signal = Signal::parse(&id.signal).expect("PipelineId only parses known signals");
        if p.receivers.is_empty() {
            err("must have at least one receiver".into());
        }
        if p.exporters.is_empty() {
            err("must have at least one exporter".into());
        }
        // Receivers and exporters may be connectors; their signals are checked by `plan`.
        let mut refs = |kind: Kind, names: &[String]| -> (Vec<ComponentId>, Vec<ComponentId>) {
            let (mut ids, mut connectors) = (Vec::new(), Vec::new());
            for name in names {
                let parsed = ComponentId::parse(name).ok();
                let found = parsed.clone().filter(|id| defined[&kind].contains(id));
                let Some(id) = found else {
                    let connector = parsed.filter(|id| {
                        kind != Kind::Processor && defined[&Kind::Connector].contains(id)
                    });
                    match connector {
                        Some(id) if !connectors.contains(&id) => connectors.push(id),
                        Some(_) => {}
                        None => err(format!(
                            "references {} {name:?} which is not configured",
                            kind.singular()
                        )),
                    }
                    continue;
                };
                if ids.contains(&id) {
                    // otelcol refuses a processor listed twice (the chain would run it twice);
                    // a receiver or exporter listed twice is one node of its graph.
                    if kind == Kind::Processor {
                        err(format!(
                            "references {} {name:?} multiple times",
                            kind.singular()
                        ));
                    }
                    continue;
                }
                // An unknown type was reported where the component is defined; a second
                // error here would blame the pipeline for it.
                let Some(factory) = factories.info(kind, id.type_name()) else {
                    continue;
                };
                if !factory.signals().contains(&signal) {
                    err(format!(
                        "{} {name:?} does not support {signal} (telemetry type is not supported)",
                        kind.singular()
                    ));
                    continue;
                }
                ids.push(id);
            }
            (ids, connectors)
        };
        let (receivers, from_connectors) = refs(Kind::Receiver, &p.receivers);
        let (processors, _) = refs(Kind::Processor, &p.processors);
        let (exporters, to_connectors) = refs(Kind::Exporter, &p.exporters);
        out.push(Pipeline {
            id,
            signal,
            receivers,
            processors,
            exporters,
            from_connectors,
            to_connectors,
        });
    }
    out
}
