//! otelcol's self-metrics of the processor, by its names: the watches' events
//! (`otelcol_otelsvc_k8s_<kind>_{added,updated,deleted}`), the pod table's size, lookups by IP
//! that found no pod.

use kakehashi_telemetry::Telemetry;
use prometheus::{IntCounter, IntGauge};

/// One kind's event counters.
#[derive(Clone)]
pub struct KindEvents {
    pub added: IntCounter,
    pub updated: IntCounter,
    pub deleted: IntCounter,
}

impl KindEvents {
    fn new(t: &Telemetry, kind: &str, what: &str) -> KindEvents {
        let c = |event: &str| {
            t.counter_vec(
                &format!("otelcol_otelsvc_k8s_{kind}_{event}"),
                &format!("Number of {what} {event} events received"),
                &[],
            )
            .with_label_values(&[] as &[&str])
        };
        KindEvents {
            added: c("added"),
            updated: c("updated"),
            deleted: c("deleted"),
        }
    }

    /// Counts an apply: `known` tells an update from an add.
    pub fn applied(&self, known: bool) {
        if known {
            self.updated.inc()
        } else {
            self.added.inc()
        }
    }
}

#[derive(Clone)]
pub struct Metrics {
    pub pods: KindEvents,
    pub namespaces: KindEvents,
    pub nodes: KindEvents,
    pub replicasets: KindEvents,
    pub pod_table_size: IntGauge,
    pub ip_lookup_miss: IntCounter,
}

impl Metrics {
    pub fn new(t: &Telemetry) -> Metrics {
        Metrics {
            pods: KindEvents::new(t, "pod", "pod"),
            namespaces: KindEvents::new(t, "namespace", "namespace"),
            nodes: KindEvents::new(t, "node", "node"),
            replicasets: KindEvents::new(t, "replicaset", "ReplicaSet"),
            pod_table_size: t
                .gauge_vec(
                    "otelcol_otelsvc_k8s_pod_table_size",
                    "Size of table containing pod info",
                    &[],
                )
                .with_label_values(&[] as &[&str]),
            ip_lookup_miss: t
                .counter_vec(
                    "otelcol_otelsvc_k8s_ip_lookup_miss",
                    "Number of times pod by IP lookup failed.",
                    &[],
                )
                .with_label_values(&[] as &[&str]),
        }
    }
}
