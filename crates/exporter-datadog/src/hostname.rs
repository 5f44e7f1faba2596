//! The exporter's fallback hostname: the `hostname` setting, else the system's. Spans whose
//! resource names a host (host.name, k8s.node.name, cloud ids: see the translate crate) keep
//! theirs; this one is used for the rest and for `AgentPayload.hostName`.
//!
//! otelcol also asks cloud metadata endpoints (EC2, GCE, Azure) before the system hostname; we do
//! not, so that start-up never waits on the network (documented in docs/datadog.md).

use crate::config::valid_hostname;

pub fn resolve(configured: &str) -> String {
    if !configured.is_empty() {
        return configured.to_string();
    }
    system_hostname().unwrap_or_default()
}

/// The kernel's hostname (a Pod's name on Kubernetes), if it is a valid Datadog hostname.
fn system_hostname() -> Option<String> {
    let from_kernel = std::fs::read_to_string("/proc/sys/kernel/hostname").ok();
    let raw = from_kernel.or_else(|| std::env::var("HOSTNAME").ok())?;
    let h = raw.trim().to_string();
    valid_hostname(&h).ok().map(|_| h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_name_wins() {
        assert_eq!(resolve("collector-7"), "collector-7");
    }

    #[test]
    fn system_name_is_used_when_valid() {
        let h = resolve("");
        assert!(h.is_empty() || valid_hostname(&h).is_ok(), "{h}");
    }
}
