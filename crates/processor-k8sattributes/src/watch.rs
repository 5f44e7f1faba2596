//! The Kubernetes side: a client from in-cluster or kubeconfig credentials, and one list +
//! watch per kind (pods; namespaces and nodes when the rules need them) keeping the
//! [`Store`] current. A lost watch lists again (with backoff) and the re-list replaces the
//! table, so deletions missed in between are not kept.

use crate::config::K8sAttributesConfig;
use crate::pod::PodInfo;
use crate::rules::{From, NamespaceWatch, Rules};
use crate::store::{ObjectInfo, Store};
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::watch as signal;
use tokio::task::JoinHandle;

/// Builds the API client `auth_type` asks for. Errors name the cause, never a credential.
pub async fn client(cfg: &K8sAttributesConfig) -> Result<kube::Client, String> {
    let config = match cfg.auth_type.as_str() {
        "kubeConfig" => {
            let options = kube::config::KubeConfigOptions {
                context: (!cfg.context.is_empty()).then(|| cfg.context.clone()),
                ..Default::default()
            };
            kube::Config::from_kubeconfig(&options)
                .await
                .map_err(|e| format!("failed to load the kubeconfig: {e}"))?
        }
        _ => kube::Config::incluster().map_err(|e| {
            format!("failed to read the in-cluster (service account) configuration: {e}")
        })?,
    };
    kube::Client::try_from(config)
        .map_err(|e| format!("failed to create the Kubernetes client: {e}"))
}

/// The running watches. Dropping this stops them.
pub struct Watches {
    pub store: Arc<RwLock<Store>>,
    synced: Vec<signal::Receiver<bool>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Watches {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Watches {
    /// Waits until every watch has listed its objects once.
    pub async fn wait_synced(&self) {
        for s in &self.synced {
            let mut s = s.clone();
            // An Err means the task ended, which only happens when the watches are dropped.
            let _ = s.wait_for(|synced| *synced).await;
        }
    }
}

fn selector(parts: Vec<String>) -> Option<String> {
    (!parts.is_empty()).then(|| parts.join(","))
}

/// The pods' field and label selectors from `filter`.
pub fn pod_selectors(cfg: &K8sAttributesConfig, node: &str) -> (Option<String>, Option<String>) {
    let mut fields = Vec::new();
    if !node.is_empty() {
        fields.push(format!("spec.nodeName={node}"));
    }
    for f in &cfg.filter.fields {
        let op = if f.op == "not-equals" { "!=" } else { "=" };
        fields.push(format!("{}{op}{}", f.key, f.value));
    }
    let labels = cfg
        .filter
        .labels
        .iter()
        .map(|f| match f.op.as_str() {
            "not-equals" => format!("{}!={}", f.key, f.value),
            "exists" => f.key.clone(),
            "does-not-exist" => format!("!{}", f.key),
            _ => format!("{}={}", f.key, f.value),
        })
        .collect();
    (selector(fields), selector(labels))
}

fn watch_config(fields: Option<String>, labels: Option<String>) -> watcher::Config {
    let mut wc = watcher::Config::default();
    if let Some(f) = fields {
        wc = wc.fields(&f);
    }
    if let Some(l) = labels {
        wc = wc.labels(&l);
    }
    wc
}

/// Drives one watch stream: `apply` for every event, the sync signal after the first list.
async fn drive<K, S>(
    kind: &'static str,
    stream: S,
    synced: signal::Sender<bool>,
    mut apply: impl FnMut(Event<K>),
) where
    S: Stream<Item = Result<Event<K>, watcher::Error>>,
{
    let mut stream = std::pin::pin!(stream);
    let mut failing = false;
    while let Some(event) = stream.next().await {
        match event {
            Ok(e) => {
                // `Init` comes before the list is attempted: not yet a sign of recovery.
                if failing && !matches!(e, Event::Init) {
                    tracing::info!(kind, "Kubernetes watch recovered");
                    failing = false;
                }
                let done = matches!(e, Event::InitDone);
                apply(e);
                if done {
                    synced.send_replace(true);
                }
            }
            // Logged once per outage: the watcher retries with backoff on its own.
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(kind, error = %e, "Kubernetes watch failed; retrying with backoff (data passes without these attributes meanwhile)");
            }
            Err(e) => tracing::debug!(kind, error = %e, "Kubernetes watch still failing"),
        }
    }
}

pub fn start(
    client: kube::Client,
    cfg: &K8sAttributesConfig,
    rules: Arc<Rules>,
    node: &str,
) -> Watches {
    let store = Arc::new(RwLock::new(Store::default()));
    let mut synced = Vec::new();
    let mut tasks = Vec::new();
    let ns_filter = cfg.filter.namespace.clone();

    // Pods.
    let pods: Api<Pod> = if ns_filter.is_empty() {
        Api::all(client.clone())
    } else {
        Api::namespaced(client.clone(), &ns_filter)
    };
    let (fields, labels) = pod_selectors(cfg, node);
    let stream = kube::runtime::watcher(pods, watch_config(fields, labels)).default_backoff();
    let (tx, rx) = signal::channel(false);
    synced.push(rx);
    let (st, r) = (store.clone(), rules.clone());
    tasks.push(tokio::spawn(drive("pods", stream, tx, move |e| {
        let now = Instant::now();
        let mut s = st.write().unwrap_or_else(|p| p.into_inner());
        match e {
            Event::Init => s.pods.relist_started(),
            Event::InitDone => s.pods.relist_done(now),
            Event::Apply(p) | Event::InitApply(p) => {
                let info = PodInfo::new(&p, &r);
                let ids = info.identifiers(&r);
                s.pods.apply(info, ids);
            }
            Event::Delete(p) => s.pods.delete(p.metadata.uid.as_deref().unwrap_or(""), now),
        }
    })));

    // Deleted pods leave after the grace period.
    let grace = cfg.pod_delete_grace_period.get();
    let st = store.clone();
    tasks.push(tokio::spawn(async move {
        let every = grace.clamp(Duration::from_millis(100), Duration::from_secs(30));
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let mut s = st.write().unwrap_or_else(|p| p.into_inner());
            s.pods.evict(Instant::now(), grace);
        }
    }));

    // Namespaces: all (for their labels/annotations) or only kube-system (the cluster uid).
    let ns_name = match (rules.namespaces_needed(), ns_filter.is_empty()) {
        (NamespaceWatch::None, _) => None,
        (NamespaceWatch::All, true) => Some(None),
        (NamespaceWatch::All, false) => Some(Some(ns_filter.clone())),
        (NamespaceWatch::KubeSystem, _) => Some(Some("kube-system".to_string())),
    };
    if let Some(only) = ns_name {
        let api: Api<PartialObjectMeta<Namespace>> = Api::all(client.clone());
        let wc = watch_config(only.map(|n| format!("metadata.name={n}")), None);
        let stream = kube::runtime::watcher(api, wc).default_backoff();
        let (tx, rx) = signal::channel(false);
        synced.push(rx);
        let (st, r) = (store.clone(), rules.clone());
        tasks.push(tokio::spawn(drive("namespaces", stream, tx, move |e| {
            let mut s = st.write().unwrap_or_else(|p| p.into_inner());
            match e {
                Event::Init => s.namespaces.relist_started(),
                Event::InitDone => s.namespaces.relist_done(),
                Event::Apply(o) | Event::InitApply(o) => {
                    let name = o.metadata.name.clone().unwrap_or_default();
                    s.namespaces
                        .apply(name, ObjectInfo::new(&o.metadata, &r, From::Namespace));
                }
                Event::Delete(o) => s
                    .namespaces
                    .delete(o.metadata.name.as_deref().unwrap_or("")),
            }
        })));
    }

    // Nodes, for their labels/annotations and uid.
    if rules.nodes_needed() {
        let api: Api<PartialObjectMeta<Node>> = Api::all(client);
        let only = (!node.is_empty()).then(|| format!("metadata.name={node}"));
        let stream = kube::runtime::watcher(api, watch_config(only, None)).default_backoff();
        let (tx, rx) = signal::channel(false);
        synced.push(rx);
        let (st, r) = (store.clone(), rules);
        tasks.push(tokio::spawn(drive("nodes", stream, tx, move |e| {
            let mut s = st.write().unwrap_or_else(|p| p.into_inner());
            match e {
                Event::Init => s.nodes.relist_started(),
                Event::InitDone => s.nodes.relist_done(),
                Event::Apply(o) | Event::InitApply(o) => {
                    let name = o.metadata.name.clone().unwrap_or_default();
                    s.nodes
                        .apply(name, ObjectInfo::new(&o.metadata, &r, From::Node));
                }
                Event::Delete(o) => s.nodes.delete(o.metadata.name.as_deref().unwrap_or("")),
            }
        })));
    }

    Watches {
        store,
        synced,
        tasks,
    }
}
