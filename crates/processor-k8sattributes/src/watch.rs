//! The Kubernetes side: a client from in-cluster or kubeconfig credentials, and one list +
//! watch per kind (pods; namespaces, nodes, ReplicaSets, the workloads and Jobs only when the
//! rules need them) keeping the
//! [`Store`] current. A lost watch lists again (with backoff) and the re-list replaces the
//! table, so deletions missed in between are not kept.

use crate::config::K8sAttributesConfig;
use crate::metrics::{KindEvents, Metrics};
use crate::pod::PodInfo;
use crate::rules::{From, NamespaceWatch, Rules};
use crate::store::{ObjectInfo, Store, Table};
use futures::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use serde::de::DeserializeOwned;
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
    pods_synced: signal::Receiver<bool>,
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
    /// Waits until the pods have been listed once (as otelcol's start waits for its pod
    /// informer only: the other tables are read at lookup time and fill in as they come).
    pub async fn wait_synced(&self) {
        let mut s = self.pods_synced.clone();
        // An Err means the task ended, which only happens when the watches are dropped.
        let _ = s.wait_for(|synced| *synced).await;
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

/// Which table of the [`Store`] a metadata watch fills, and by what key.
#[derive(Clone, Copy)]
enum Slot {
    Namespaces,
    Nodes,
    ReplicaSets,
    Deployments,
    StatefulSets,
    DaemonSets,
    Jobs,
    CronJobs,
}

impl Slot {
    fn table(self, s: &mut Store) -> &mut Table {
        match self {
            Slot::Namespaces => &mut s.namespaces,
            Slot::Nodes => &mut s.nodes,
            Slot::ReplicaSets => &mut s.replicasets,
            Slot::Deployments => &mut s.deployments,
            Slot::StatefulSets => &mut s.statefulsets,
            Slot::DaemonSets => &mut s.daemonsets,
            Slot::Jobs => &mut s.jobs,
            Slot::CronJobs => &mut s.cronjobs,
        }
    }
    /// Namespaces and nodes are looked up by name; workloads by uid (owner references).
    fn key(self, meta: &ObjectMeta) -> String {
        let key = match self {
            Slot::Namespaces | Slot::Nodes => &meta.name,
            _ => &meta.uid,
        };
        key.clone().unwrap_or_default()
    }
}

/// Everything a watch needs besides its API.
struct Ctx {
    store: Arc<RwLock<Store>>,
    rules: Arc<Rules>,
    tasks: Vec<JoinHandle<()>>,
}

impl Ctx {
    /// A metadata-only list + watch of one kind into its table (labels, annotations, uid and
    /// owners are all in the metadata; the specs are never transferred).
    fn watch_meta<K>(
        &mut self,
        kind: &'static str,
        api: Api<PartialObjectMeta<K>>,
        wc: watcher::Config,
        slot: Slot,
        from: From,
        events: Option<KindEvents>,
    ) where
        K: kube::Resource<DynamicType = ()>
            + Clone
            + std::fmt::Debug
            + DeserializeOwned
            + Send
            + Sync
            + 'static,
    {
        let stream = kube::runtime::watcher(api, wc).default_backoff();
        let (tx, _) = signal::channel(false);
        let (st, r) = (self.store.clone(), self.rules.clone());
        self.tasks
            .push(tokio::spawn(drive(kind, stream, tx, move |e| {
                let mut s = st.write().unwrap_or_else(|p| p.into_inner());
                let table = slot.table(&mut s);
                match e {
                    Event::Init => table.relist_started(),
                    Event::InitDone => table.relist_done(),
                    Event::Apply(o) | Event::InitApply(o) => {
                        let known = table.apply(
                            slot.key(&o.metadata),
                            ObjectInfo::new(&o.metadata, &r, from),
                        );
                        if let Some(m) = &events {
                            m.applied(known);
                        }
                    }
                    Event::Delete(o) => {
                        table.delete(&slot.key(&o.metadata));
                        if let Some(m) = &events {
                            m.deleted.inc();
                        }
                    }
                }
            })));
    }
}

/// The API of a namespaced kind: every namespace, or only `filter::namespace`'s.
fn scoped<K>(client: &kube::Client, namespace: &str) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    if namespace.is_empty() {
        Api::all(client.clone())
    } else {
        Api::namespaced(client.clone(), namespace)
    }
}

pub fn start(
    client: kube::Client,
    cfg: &K8sAttributesConfig,
    rules: Arc<Rules>,
    node: &str,
    metrics: Metrics,
) -> Watches {
    let store = Arc::new(RwLock::new(Store::default()));
    let mut ctx = Ctx {
        store: store.clone(),
        rules: rules.clone(),
        tasks: Vec::new(),
    };
    let ns_filter = cfg.filter.namespace.clone();
    // Pods.
    let pods: Api<Pod> = scoped(&client, &ns_filter);
    let (fields, labels) = pod_selectors(cfg, node);
    let stream = kube::runtime::watcher(pods, watch_config(fields, labels)).default_backoff();
    let (tx, pods_synced) = signal::channel(false);
    let (st, r, m) = (store.clone(), rules.clone(), metrics.clone());
    ctx.tasks
        .push(tokio::spawn(drive("pods", stream, tx, move |e| {
            let now = Instant::now();
            let mut s = st.write().unwrap_or_else(|p| p.into_inner());
            match e {
                Event::Init => s.pods.relist_started(),
                Event::InitDone => s.pods.relist_done(now),
                Event::Apply(p) | Event::InitApply(p) => {
                    let info = PodInfo::new(&p, &r);
                    let ids = info.identifiers(&r);
                    m.pods.applied(s.pods.apply(info, ids));
                }
                Event::Delete(p) => {
                    s.pods.delete(p.metadata.uid.as_deref().unwrap_or(""), now);
                    m.pods.deleted.inc();
                }
            }
            m.pod_table_size.set(s.pods.table_size() as i64);
        })));

    // Deleted pods leave after the grace period.
    let grace = cfg.pod_delete_grace_period.get();
    let (st, table_size) = (store.clone(), metrics.pod_table_size.clone());
    ctx.tasks.push(tokio::spawn(async move {
        let every = grace.clamp(Duration::from_millis(100), Duration::from_secs(30));
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let mut s = st.write().unwrap_or_else(|p| p.into_inner());
            s.pods.evict(Instant::now(), grace);
            table_size.set(s.pods.table_size() as i64);
        }
    }));

    // Namespaces: all (for their labels/annotations; `filter::namespace` does not narrow this,
    // as in otelcol) or only kube-system (the cluster uid).
    let ns_name = match rules.namespaces_needed() {
        NamespaceWatch::None => None,
        NamespaceWatch::All => Some(None),
        NamespaceWatch::KubeSystem => Some(Some("kube-system".to_string())),
    };
    if let Some(only) = ns_name {
        let wc = watch_config(only.map(|n| format!("metadata.name={n}")), None);
        let api: Api<PartialObjectMeta<Namespace>> = Api::all(client.clone());
        ctx.watch_meta(
            "namespaces",
            api,
            wc,
            Slot::Namespaces,
            From::Namespace,
            Some(metrics.namespaces.clone()),
        );
    }

    // Nodes, for their labels/annotations and uid.
    if rules.nodes_needed() {
        let only = (!node.is_empty()).then(|| format!("metadata.name={node}"));
        let api: Api<PartialObjectMeta<Node>> = Api::all(client.clone());
        ctx.watch_meta(
            "nodes",
            api,
            watch_config(only, None),
            Slot::Nodes,
            From::Node,
            Some(metrics.nodes.clone()),
        );
    }

    // Workloads: ReplicaSets for their Deployment, the workloads' own labels/annotations.
    let wc = || watcher::Config::default();
    if rules.replicasets_needed() {
        let api: Api<PartialObjectMeta<ReplicaSet>> = scoped(&client, &ns_filter);
        ctx.watch_meta(
            "replicasets",
            api,
            wc(),
            Slot::ReplicaSets,
            From::ReplicaSet,
            Some(metrics.replicasets.clone()),
        );
    }
    if rules.reads(From::Deployment) {
        let api: Api<PartialObjectMeta<Deployment>> = scoped(&client, &ns_filter);
        ctx.watch_meta(
            "deployments",
            api,
            wc(),
            Slot::Deployments,
            From::Deployment,
            None,
        );
    }
    if rules.reads(From::StatefulSet) {
        let api: Api<PartialObjectMeta<StatefulSet>> = scoped(&client, &ns_filter);
        ctx.watch_meta(
            "statefulsets",
            api,
            wc(),
            Slot::StatefulSets,
            From::StatefulSet,
            None,
        );
    }
    if rules.reads(From::DaemonSet) {
        let api: Api<PartialObjectMeta<DaemonSet>> = scoped(&client, &ns_filter);
        ctx.watch_meta(
            "daemonsets",
            api,
            wc(),
            Slot::DaemonSets,
            From::DaemonSet,
            None,
        );
    }
    if rules.jobs_needed() {
        let api: Api<PartialObjectMeta<Job>> = scoped(&client, &ns_filter);
        ctx.watch_meta("jobs", api, wc(), Slot::Jobs, From::Job, None);
    }
    if rules.reads(From::CronJob) {
        let api: Api<PartialObjectMeta<CronJob>> = scoped(&client, &ns_filter);
        ctx.watch_meta("cronjobs", api, wc(), Slot::CronJobs, From::CronJob, None);
    }

    Watches {
        store,
        pods_synced,
        tasks: ctx.tasks,
    }
}
