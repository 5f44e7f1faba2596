//! The exporter's fallback host ("source"), found as otelcol's datadog exporter finds it: the
//! `hostname` setting, else the first of these providers, in this order, that knows one:
//!
//! | provider | answers | source |
//! |---|---|---|
//! | `azure` | Azure IMDS's compute document | the VM id |
//! | `ecs` | the ECS task metadata endpoint, on Fargate | the task ARN (no host) |
//! | `ec2` | EC2 IMDS's identity document | the instance id |
//! | `gcp` | the GCE metadata server, on GCE or GKE | `<instance name>.<project id>` |
//! | `kubernetes` | the API server, for this pod | `<node>-<cluster>`, or `<node>` |
//! | `system` | `hostname -f` when a valid name, else the kernel's | (always answers) |
//!
//! As in Go, the providers all start at once and the first in that order to answer wins, so a
//! later one waits until every earlier one has given up; `hostname_detection_timeout` (0: none)
//! is one deadline for all of them. Unlike Go, no provider outlives it (Go's `ecs` and `gcp`
//! ignore it), and a configured `hostname` starts none (Go starts and cancels them). The
//! detection runs once per process, when the first datadog exporter without `hostname`
//! starts; the others share its result (Go also shares the first exporter's `hostname`).

mod azure;
pub(crate) mod ec2;
mod ecs;
mod gcp;
mod kubernetes;
mod system;
#[cfg(test)]
mod tests;

pub(crate) use system::fqdn;

use kakehashi_cloud_metadata::{gce, SharedEnv};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;
use tokio::time::Instant;

/// Where unattributed spans, the stats and the host metadata are said to come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Host(String),
    /// An ECS Fargate task (its ARN): no host, as Fargate hides it.
    FargateTask(String),
}

impl Source {
    /// The fallback hostname: empty for a Fargate task.
    pub fn hostname(&self) -> &str {
        match self {
            Source::Host(h) => h,
            Source::FargateTask(_) => "",
        }
    }
}

/// What the providers read: the environment (and through it the SDKs' address variables),
/// the default GCE metadata address and the Kubernetes credentials. Tests replace them.
#[derive(Clone)]
pub(crate) struct Sources {
    pub env: SharedEnv,
    pub gce_default_host: String,
    pub kubernetes: kubernetes::Credentials,
    /// `/bin/hostname`, asked for the FQDN.
    pub hostname_command: String,
    pub kernel_hostname: Arc<dyn Fn() -> Option<String> + Send + Sync>,
}

impl Default for Sources {
    fn default() -> Self {
        Sources {
            env: Arc::new(|k| std::env::var(k).ok()),
            gce_default_host: gce::DEFAULT_HOST.into(),
            kubernetes: kubernetes::Credentials::InCluster,
            hostname_command: "/bin/hostname".into(),
            kernel_hostname: Arc::new(system::kernel_hostname),
        }
    }
}

/// The source for `configured` (the `hostname` setting), detecting it when empty. The
/// detection runs once per process: every datadog exporter shares the first one's result, as
/// Go's share one provider per factory.
pub async fn resolve(configured: &str, timeout: Duration) -> Source {
    static DETECTED: OnceCell<Source> = OnceCell::const_new();
    if !configured.is_empty() {
        return Source::Host(configured.to_string());
    }
    DETECTED
        .get_or_init(|| detect(Sources::default(), timeout))
        .await
        .clone()
}

type Found = Result<Source, String>;

/// How long past the deadline a provider's answer is still awaited.
const GRACE: Duration = Duration::from_millis(500);

const PROVIDERS: [&str; 6] = ["azure", "ecs", "ec2", "gcp", "kubernetes", "system"];

/// Runs the providers concurrently and takes the first, in [`PROVIDERS`] order, that answers.
pub(crate) async fn detect(src: Sources, timeout: Duration) -> Source {
    let deadline = (!timeout.is_zero()).then(|| Instant::now() + timeout);
    let running: Vec<(&str, tokio::task::JoinHandle<Found>)> = PROVIDERS
        .iter()
        .map(|&name| {
            tracing::debug!(provider = name, "Trying out source provider");
            (name, tokio::spawn(run(name, src.clone(), deadline)))
        })
        .collect();
    let mut found = None;
    for (name, mut handle) in running {
        if found.is_some() {
            handle.abort();
            continue;
        }
        // `system` always answers, within its own bound; the others end their requests by
        // the deadline, and get a moment past it to say so (or what they found before it).
        let answer = match deadline.filter(|_| name != "system") {
            Some(d) => match tokio::time::timeout_at(d + GRACE, &mut handle).await {
                Ok(joined) => joined,
                Err(_) => {
                    handle.abort();
                    Ok(Err(format!("no answer within {timeout:?}")))
                }
            },
            None => handle.await,
        };
        match answer.unwrap_or_else(|e| Err(format!("the provider failed: {e}"))) {
            Ok(source) => {
                tracing::info!(provider = name, source = ?source, "Resolved source");
                found = Some(source);
            }
            Err(e) => tracing::debug!(provider = name, error = %e, "Unavailable source provider"),
        }
    }
    // Unreachable in practice: `system` answers even with an empty name, as Go's.
    found.unwrap_or_else(|| Source::Host(String::new()))
}

async fn run(name: &str, src: Sources, deadline: Option<Instant>) -> Found {
    match name {
        "azure" => azure::source(&src, deadline).await,
        "ecs" => ecs::source(&src, deadline).await,
        "ec2" => ec2::source(&src, deadline).await,
        "gcp" => gcp::source(&src, deadline).await,
        "kubernetes" => kubernetes::source(&src, deadline).await,
        _ => Ok(system::source(&src).await),
    }
}
