//! The tables the watches keep current and the processor reads: pods by every identifier,
//! namespaces and nodes by name. A deleted pod stays findable for the grace period, so data
//! that was in flight when it went away is still attributed.

use crate::pod::{PodId, PodInfo};
use crate::rules::{From, Rules};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An object's controller (a ReplicaSet's Deployment, a Job's CronJob).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Owner {
    pub kind: String,
    pub name: String,
    pub uid: String,
}

/// A namespace, node or workload: its uid, the attributes its labels/annotations give, and its
/// controller.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectInfo {
    pub uid: String,
    pub attributes: BTreeMap<String, String>,
    pub controller: Option<Owner>,
}

impl ObjectInfo {
    pub fn new(meta: &ObjectMeta, rules: &Rules, from: From) -> ObjectInfo {
        let labels = meta.labels.clone().unwrap_or_default();
        let annotations = meta.annotations.clone().unwrap_or_default();
        let mut attributes = BTreeMap::new();
        for (rule, is_label) in rules.rules_for(from) {
            rule.extract(
                if is_label { &labels } else { &annotations },
                &mut attributes,
            );
        }
        let controller = meta
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true))
            .map(|o| Owner {
                kind: o.kind.clone(),
                name: o.name.clone(),
                uid: o.uid.clone(),
            });
        ObjectInfo {
            uid: meta.uid.clone().unwrap_or_default(),
            attributes,
            controller,
        }
    }
}

/// Objects by name (namespaces, nodes) or uid (workloads), replaced wholesale after a re-list.
#[derive(Debug, Default)]
pub struct Table {
    live: HashMap<String, Arc<ObjectInfo>>,
    relisting: Option<HashSet<String>>,
}

impl Table {
    pub fn get(&self, name: &str) -> Option<&Arc<ObjectInfo>> {
        self.live.get(name)
    }
    /// Adds or replaces an object; whether it was known already.
    pub fn apply(&mut self, name: String, info: ObjectInfo) -> bool {
        if let Some(seen) = &mut self.relisting {
            seen.insert(name.clone());
        }
        self.live.insert(name, Arc::new(info)).is_some()
    }
    pub fn delete(&mut self, name: &str) {
        self.live.remove(name);
    }
    pub fn relist_started(&mut self) {
        self.relisting = Some(HashSet::new());
    }
    /// Drops what the re-list did not see (deleted while no watch was running).
    pub fn relist_done(&mut self) {
        if let Some(seen) = self.relisting.take() {
            self.live.retain(|name, _| seen.contains(name));
        }
    }
}

#[derive(Debug, Default)]
pub struct Pods {
    by_id: HashMap<PodId, Arc<PodInfo>>,
    /// Pods that exist now, by uid, with the identifiers they were filed under.
    live: HashMap<String, (Arc<PodInfo>, Vec<PodId>)>,
    /// Deleted pods waiting out the grace period: when deleted, the pod, its identifiers.
    deleted: VecDeque<(Instant, Arc<PodInfo>, Vec<PodId>)>,
    relisting: Option<HashSet<String>>,
}

impl Pods {
    pub fn get(&self, id: &PodId) -> Option<&Arc<PodInfo>> {
        self.by_id.get(id).filter(|p| !p.ignore)
    }

    /// Whether a pod holds this identifier, attributed or not (an excluded pod).
    pub fn holds(&self, id: &PodId) -> bool {
        self.by_id.contains_key(id)
    }

    /// Entries of the lookup table: identifiers, deleted pods' included until evicted
    /// (otelcol's `otelcol_otelsvc_k8s_pod_table_size`).
    pub fn table_size(&self) -> usize {
        self.by_id.len()
    }

    /// Pods that exist now (deleted ones in their grace period not counted).
    pub fn live_count(&self) -> usize {
        self.live.len()
    }

    /// Files a new or changed pod under its identifiers; whether it was known already. Where
    /// another pod holds an identifier (a reused IP), the later-started pod keeps it.
    pub fn apply(&mut self, info: PodInfo, ids: Vec<PodId>) -> bool {
        let info = Arc::new(info);
        if let Some(seen) = &mut self.relisting {
            seen.insert(info.uid.clone());
        }
        let old = self.live.remove(&info.uid);
        let known = old.is_some();
        if let Some((_, old_ids)) = old {
            for id in old_ids.iter().filter(|id| !ids.contains(id)) {
                self.remove_if_owned(id, &info.uid);
            }
        }
        for id in &ids {
            match self.by_id.get(id) {
                Some(other)
                    if other.uid != info.uid
                        && matches!((info.start_time, other.start_time), (Some(a), Some(b)) if a < b) =>
                    {}
                _ => {
                    self.by_id.insert(id.clone(), info.clone());
                }
            }
        }
        self.live.insert(info.uid.clone(), (info, ids));
        known
    }

    /// The pod is gone: it stays findable until [`Pods::evict`] runs after the grace period.
    pub fn delete(&mut self, uid: &str, now: Instant) {
        if let Some((info, ids)) = self.live.remove(uid) {
            self.deleted.push_back((now, info, ids));
        }
    }

    /// Removes pods deleted at least `grace` before `now`.
    pub fn evict(&mut self, now: Instant, grace: Duration) {
        while let Some((at, _, _)) = self.deleted.front() {
            if now.duration_since(*at) < grace {
                break;
            }
            let (_, info, ids) = self.deleted.pop_front().expect("checked");
            if self.live.contains_key(&info.uid) {
                continue; // came back under the same uid
            }
            for id in &ids {
                self.remove_if_owned(id, &info.uid);
            }
        }
    }

    fn remove_if_owned(&mut self, id: &PodId, uid: &str) {
        if self.by_id.get(id).is_some_and(|p| p.uid == uid) {
            self.by_id.remove(id);
        }
    }

    pub fn relist_started(&mut self) {
        self.relisting = Some(HashSet::new());
    }

    /// Pods the re-list did not see were deleted while no watch ran.
    pub fn relist_done(&mut self, now: Instant) {
        if let Some(seen) = self.relisting.take() {
            let gone: Vec<String> = self
                .live
                .keys()
                .filter(|uid| !seen.contains(*uid))
                .cloned()
                .collect();
            for uid in gone {
                self.delete(&uid, now);
            }
        }
    }
}

/// Everything the watches know.
#[derive(Debug, Default)]
pub struct Store {
    pub pods: Pods,
    /// By name.
    pub namespaces: Table,
    pub nodes: Table,
    /// By uid.
    pub replicasets: Table,
    pub deployments: Table,
    pub statefulsets: Table,
    pub daemonsets: Table,
    pub jobs: Table,
    pub cronjobs: Table,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Source;

    fn pod(uid: &str, ip: &str, started: i64) -> (PodInfo, Vec<PodId>) {
        let info = PodInfo {
            uid: uid.into(),
            name: format!("pod-{uid}"),
            ip: ip.into(),
            start_time: Some(k8s_openapi::jiff::Timestamp::from_second(started).unwrap()),
            ..Default::default()
        };
        let ids = vec![
            vec![(Source::Connection, ip.to_string())],
            vec![(Source::Resource("k8s.pod.uid".into()), uid.to_string())],
        ];
        (info, ids)
    }

    fn by_ip<'a>(p: &'a Pods, ip: &str) -> Option<&'a str> {
        p.get(&vec![(Source::Connection, ip.to_string())])
            .map(|i| i.uid.as_str())
    }

    #[test]
    fn a_reused_ip_belongs_to_the_later_started_pod_whatever_the_event_order() {
        let mut p = Pods::default();
        let (old, old_ids) = pod("a", "10.0.0.1", 100);
        let (new, new_ids) = pod("b", "10.0.0.1", 200);
        assert!(!p.apply(new.clone(), new_ids.clone()));
        assert!(!p.apply(old.clone(), old_ids.clone())); // a late update of the old pod
        assert_eq!(by_ip(&p, "10.0.0.1"), Some("b"));
        let mut p = Pods::default();
        p.apply(old, old_ids);
        p.apply(new, new_ids);
        assert_eq!(by_ip(&p, "10.0.0.1"), Some("b"));
    }

    #[test]
    fn deleted_pods_stay_findable_for_the_grace_period_only() {
        let mut p = Pods::default();
        let (a, ids) = pod("a", "10.0.0.1", 100);
        p.apply(a, ids);
        let t0 = Instant::now();
        p.delete("a", t0);
        p.evict(t0 + Duration::from_secs(60), Duration::from_secs(120));
        assert_eq!(by_ip(&p, "10.0.0.1"), Some("a"));
        p.evict(t0 + Duration::from_secs(121), Duration::from_secs(120));
        assert_eq!(by_ip(&p, "10.0.0.1"), None);
        assert_eq!(p.live_count(), 0);
    }

    #[test]
    fn evicting_a_deleted_pod_keeps_the_new_owner_of_its_ip() {
        let mut p = Pods::default();
        let (a, a_ids) = pod("a", "10.0.0.1", 100);
        let (b, b_ids) = pod("b", "10.0.0.1", 200);
        p.apply(a, a_ids);
        let t0 = Instant::now();
        p.delete("a", t0);
        p.apply(b, b_ids);
        p.evict(t0 + Duration::from_secs(300), Duration::from_secs(120));
        assert_eq!(by_ip(&p, "10.0.0.1"), Some("b"));
    }

    #[test]
    fn a_changed_pod_loses_identifiers_it_no_longer_has() {
        let mut p = Pods::default();
        let (a, ids) = pod("a", "10.0.0.1", 100);
        p.apply(a, ids);
        let (a2, ids2) = pod("a", "10.0.0.2", 100);
        assert!(p.apply(a2, ids2), "an update");
        assert_eq!(by_ip(&p, "10.0.0.1"), None);
        assert_eq!(by_ip(&p, "10.0.0.2"), Some("a"));
    }

    #[test]
    fn a_relist_deletes_what_it_did_not_see() {
        let mut p = Pods::default();
        for (uid, ip) in [("a", "10.0.0.1"), ("b", "10.0.0.2")] {
            let (i, ids) = pod(uid, ip, 100);
            p.apply(i, ids);
        }
        p.relist_started();
        let (b, ids) = pod("b", "10.0.0.2", 100);
        p.apply(b, ids);
        let t0 = Instant::now();
        p.relist_done(t0);
        assert_eq!(p.live_count(), 1);
        p.evict(t0 + Duration::from_secs(1), Duration::ZERO);
        assert_eq!(by_ip(&p, "10.0.0.1"), None);
        assert_eq!(by_ip(&p, "10.0.0.2"), Some("b"));

        let mut t = Table::default();
        t.apply("x".into(), ObjectInfo::default());
        t.relist_started();
        t.apply("y".into(), ObjectInfo::default());
        t.relist_done();
        assert!(t.get("x").is_none() && t.get("y").is_some());
    }

    #[test]
    fn ignored_pods_are_known_but_not_found() {
        let mut p = Pods::default();
        let (mut a, ids) = pod("a", "10.0.0.1", 100);
        a.ignore = true;
        p.apply(a, ids);
        assert_eq!(p.live_count(), 1);
        assert_eq!(by_ip(&p, "10.0.0.1"), None);
    }
}
