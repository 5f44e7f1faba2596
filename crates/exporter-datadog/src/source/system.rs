//! `system`: the FQDN (`hostname -f`, within 1 s) when it is a valid hostname, else the
//! kernel's hostname, which in a container is the container's or the pod's name. It always
//! answers, as Go's, even with an empty name.

use super::{Source, Sources};
use crate::config::valid_hostname;
use std::time::Duration;

const FQDN_TIMEOUT: Duration = Duration::from_secs(1);

pub(super) async fn source(src: &Sources) -> Source {
    if let Some(fqdn) = fqdn(&src.hostname_command).await {
        match valid_hostname(&fqdn) {
            Ok(()) => return Source::Host(fqdn),
            Err(e) => tracing::info!(error = %e, "FQDN is not valid"),
        }
    }
    Source::Host((src.kernel_hostname)().unwrap_or_default())
}

/// `<command> -f` within 1 s: the FQDN, or `None` (logged) when it fails.
pub(crate) async fn fqdn(command: &str) -> Option<String> {
    if !std::path::Path::new(command).exists() {
        return None;
    }
    let run = tokio::process::Command::new(command)
        .arg("-f")
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(FQDN_TIMEOUT, run).await {
        Ok(Ok(out)) if out.status.success() => {
            Some(String::from_utf8_lossy(&out.stdout).trim().to_string()).filter(|h| !h.is_empty())
        }
        Ok(Ok(out)) => {
            tracing::warn!(status = %out.status, "Could not get FQDN Hostname");
            None
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "Could not get FQDN Hostname");
            None
        }
        Err(_) => {
            tracing::warn!("Could not get FQDN Hostname: no answer within 1s");
            None
        }
    }
}

/// The kernel's hostname (`os.Hostname()` in Go).
pub(super) fn kernel_hostname() -> Option<String> {
    let from_kernel = std::fs::read_to_string("/proc/sys/kernel/hostname").ok();
    from_kernel
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}
